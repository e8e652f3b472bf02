"""M8 regime reaction: closures, recalls, tighter screening and surveillance.

After a flight attempt at a site (escaped, stopped or foiled) Pyongyang shuts
the site with probability ``closure_after_escape`` or ``closure_after_attempt``
(at least two restaurants in China were shut after attempts, in 2000 and 2007,
seed article; F8), recalling everyone still posted there.  Whatever happens to
the site, control tightens network-wide: surveillance rises by
``surveillance_jump`` and recruits' mean loyalty by ``screening_jump``; both
relax back with time constant ``control_relax_days``.  Restaurants that stay
fully in arrears are shut at rate ``failure_closure_rate_per_year``; shut
restaurant sites reopen (new openings) at ``opening_rate_per_year`` once
``reopen_delay_days`` have passed, slowed by sanctions.
"""

from __future__ import annotations

import numpy as np

from .bounds import clip
from .params import Params
from .state import Layout, State


def after_attempt(
    g: np.random.Generator, r: int, site: int, escaped: bool, state: State, params: Params
) -> bool:
    """Tighten control after an attempt at ``site``; return whether the site is shut."""
    rg = params.regime
    state.control[r] = min(state.control[r] + rg.surveillance_jump, 1.0)
    state.screening[r] = min(state.screening[r] + rg.screening_jump, 1.0)
    state.site_watch[r, site] = min(state.site_watch[r, site] + rg.surveillance_jump, 1.0)
    p_close = rg.closure_after_escape if escaped else rg.closure_after_attempt
    return bool(g.random() < p_close)


def relax_control(state: State, params: Params) -> None:
    """Tightened control fades (in place)."""
    decay = np.exp(-1.0 / params.regime.control_relax_days)
    state.control *= decay
    state.screening *= decay
    state.site_watch *= decay


def failure_closures(
    rngs: list[np.random.Generator],
    state: State,
    layout: Layout,
    params: Params,
    arrears_idx: np.ndarray,
) -> np.ndarray:
    """Restaurants (R, S) shut today for chronic arrears."""
    p = params.restaurants.failure_closure_rate_per_year / 365.0 * arrears_idx**2
    p = np.where(layout.site_is_restaurant[None, :] & state.site_open, p, 0.0)
    out = np.zeros(p.shape, dtype=bool)
    for r, g in enumerate(rngs):
        out[r] = g.random(p.shape[1]) < p[r]
    return out


def openings(
    rngs: list[np.random.Generator],
    state: State,
    layout: Layout,
    params: Params,
    slowdown: np.ndarray,
) -> list[np.ndarray]:
    """Restaurant sites that open today, per replicate (indices)."""
    rate = params.restaurants.opening_rate_per_year / 365.0 * clip(1.0 - slowdown, 0.0, 1.0)
    eligible = (
        (~state.site_open) & (state.reopen_day <= state.day) & layout.site_is_restaurant[None, :]
    )
    out: list[np.ndarray] = []
    for r, g in enumerate(rngs):
        n = int(g.poisson(rate[r]))
        candidates = np.flatnonzero(eligible[r])
        if n == 0 or candidates.size == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        out.append(g.choice(candidates, size=min(n, candidates.size), replace=False))
    return out
