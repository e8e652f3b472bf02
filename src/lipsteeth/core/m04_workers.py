"""M4 worker state: screening loyalty, grievance and stress, family deterrent, surveillance.

Loyalty and the family-at-home deterrent are fixed when a worker is recruited
(``state.recruit_traits``: screening on family and personal history, seed
article) and enter the worker's own base hazard.  Stress follows the
conditions of the worker's site with time constant ``stress_days``:

  pressure = w_pay (1 - pay level) + w_hours (hours - 1) / (hours_max - 1)
             + w_arrears * arrears index

New recruits start without stress.  Because every worker at a site follows
the same pressure, a worker's stress has an exact closed form: with
a = 1/stress_days and E_s(t) the site's exponential average of pressure
(E_s(t) = (1 - a) E_s(t-1) + a p_s(t), from 0),

  stress_i(t) = E_s(t) - (1 - a)^(t - hired_i) * E_s(hired_i)

so the model keeps E_s per site and (hire day, E_s at hire) per worker and
evaluates stress only where it is needed, instead of updating every worker
every day.  Surveillance (minders, undercover police,
confiscated passports) is the sector's baseline plus the network-wide control
the regime adds after flight attempts (M8) plus any extra watch on the site.
"""

from __future__ import annotations

import numpy as np

from .bounds import clip
from .m01_revenue import SiteAccounts, arrears_index
from .params import Params
from .state import Layout, State


def site_pressure(state: State, params: Params, accounts: SiteAccounts) -> np.ndarray:
    """Stress each site's conditions push its workers toward (R, S)."""
    w = params.workers
    hours_span = max(params.restaurants.hours_max - 1.0, 1e-9)
    return (
        w.stress_weight_pay * (1.0 - state.pay_level)
        + w.stress_weight_hours * (state.hours - 1.0) / hours_span
        + w.stress_weight_arrears * arrears_index(accounts.arrears, accounts.quota)
    )


def surveillance(state: State, layout: Layout, params: Params) -> np.ndarray:
    """Surveillance per site (R, S), in [0, 1]."""
    w = params.workers
    base = np.where(layout.site_is_restaurant, w.restaurant_surveillance, w.labour_surveillance)
    return clip(base[None, :] + state.control[:, None] + state.site_watch, 0.0, 1.0)


def step_site_stress(state: State, params: Params, pressure: np.ndarray) -> None:
    """Advance each site's exponential average of pressure by one day (in place)."""
    a = 1.0 / params.workers.stress_days
    state.site_stress = (1.0 - a) * state.site_stress + a * pressure


def worker_stress(
    state: State, layout: Layout, params: Params, r: int, posts: np.ndarray
) -> np.ndarray:
    """Stress of the workers holding ``posts`` in replicate ``r`` (closed form above)."""
    a = 1.0 / params.workers.stress_days
    elapsed = state.day - state.hire_day[r, posts].astype(np.float64)
    decay = np.exp(elapsed * np.log1p(-a))
    return state.site_stress[r, layout.post_site[posts]] - decay * state.stress_at_hire[r, posts]


def mean_stress(state: State, layout: Layout, params: Params, start: int, stop: int) -> np.ndarray:
    """Mean stress of workers in post among posts [start, stop), per replicate (R,).

    Same closed form as ``worker_stress``; the decay factor depends only on
    days since hiring, so it is tabulated once (t + 1 values) and looked up
    instead of taking one ``exp`` per worker.
    """
    a = 1.0 / params.workers.stress_days
    decay_by_elapsed = np.exp(np.arange(state.day + 1, dtype=np.float64) * np.log1p(-a))
    out = np.zeros(state.n_replicates)
    for r in range(state.n_replicates):
        held = np.flatnonzero(state.in_post[r, start:stop]) + start
        if held.size:
            decay = decay_by_elapsed[state.day - state.hire_day[r, held]]
            stress = (
                state.site_stress[r, layout.post_site[held]] - decay * state.stress_at_hire[r, held]
            )
            out[r] = stress.mean()
    return out
