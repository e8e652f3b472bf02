"""M8 regime reaction: closures, recalls, tighter screening and surveillance.

After a flight attempt at a site (escaped, stopped or foiled) Pyongyang shuts
the site with probability ``closure_after_escape`` or ``closure_after_attempt``
(at least two restaurants in China were shut after attempts, in 2000 and
2007, Corrado and Moore 2016; F8), recalling everyone still posted there.
Whatever happens to the site, control tightens network-wide: surveillance
rises by ``surveillance_jump`` (and as much again at the site) and recruits'
mean loyalty by ``screening_jump``; all relax back with time constant
``control_relax_days``.  Restaurants in arrears are shut at rate
``failure_closure_rate_per_year`` x arrears index^2; a shut site's reserve
goes to Pyongyang.  Shut restaurant sites reopen (new openings, a Poisson
number a day, at ``opening_rate_per_year`` x (1 - max(Chinese sanctions, UN
worker provisions in force))) once ``reopen_delay_days`` have passed, chosen
uniformly among the eligible sites.

Under the UN worker provisions a host orders North Korean restaurants shut
(``closure_order_rate_per_year`` x provision x the host's enforcement, M9).
Evasion adapts: a site shut on an order reopens under a local nominee at rate
``nominee_rate_per_year`` x the nominee networks' reach (``nominee_capacity_initial``,
growing by ``nominee_capacity_step`` with each ban); a nominee restaurant pays its
nominee (M1) and is found out and shut at rate ``nominee_detection_per_year`` x
enforcement.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba.typed import List

from .bounds import clip
from .events import Kind, Outcome, Sector, log_event
from .jit import compiled


@compiled
def initial_nominees(net: Any, rp: Any) -> None:
    """Day 0: the reach of nominee networks before any ban."""
    net.nominee_capacity = rp.nominee_capacity_initial


@compiled
def after_attempt(g: Any, net: Any, site: Any, escaped: bool, rg: Any) -> bool:
    """Tighten control after an attempt at ``site``; return whether the site is shut."""
    net.control = min(net.control + rg.surveillance_jump, 1.0)
    net.screening = min(net.screening + rg.screening_jump, 1.0)
    site.watch = min(site.watch + rg.surveillance_jump, 1.0)
    p_close = rg.closure_after_escape if escaped else rg.closure_after_attempt
    return g.random() < p_close


@compiled(inline="always")
def closure_order(
    g: Any,
    t: int,
    s: int,
    site: Any,
    today: Any,
    host: Any,
    policy: Any,
    layout: Any,
    rp: Any,
    log: List,
    out: Any,
) -> None:
    """An open restaurant may be ordered shut by its host (UN worker provisions, a found-out
    nominee)."""
    enforced = policy.un_workers_provision * host.enforcement
    if site.nominee:
        rate = rp.nominee_detection_per_year * host.enforcement
    else:
        rate = rp.closure_order_rate_per_year * enforced
    if rate > 0 and g.random() < rate / 365.0:
        today.closing = True
        site.ordered_shut = True
        out.closure_orders += 1
        log_event(
            log,
            t,
            Kind.CLOSURE,
            site=s,
            sector=Sector.RESTAURANT,
            country=layout.country[s] + 1,
            outcome=Outcome.CLOSURE_ORDER,
        )


@compiled
def failure_closures(
    g: Any,
    t: int,
    sites: np.ndarray,
    site_day: np.ndarray,
    layout: Any,
    rp: Any,
    any_closing: bool,
    log: List,
) -> bool:
    """Mark restaurants shut today for chronic arrears; return whether any site closes.

    ``any_closing``: whether a site is already marked (shut after an attempt).
    """
    failure_rate = rp.failure_closure_rate_per_year / 365.0
    for s in range(layout.n_restaurants):
        today = site_day[s]
        if not sites[s].open or today.closing:
            continue
        p_fail = failure_rate * today.arrears_index**2
        if p_fail > 0 and g.random() < p_fail:
            today.closing = True
            any_closing = True
            log_event(
                log,
                t,
                Kind.CLOSURE,
                site=s,
                sector=Sector.RESTAURANT,
                country=layout.country[s] + 1,
                outcome=Outcome.ARREARS,
            )
    return any_closing


@compiled
def close_sites(
    t: int, sites: np.ndarray, site_day: np.ndarray, layout: Any, posts: Any, rg: Any, out: Any
) -> tuple[float, float]:
    """Shut the sites marked today: recall their staff, seize their reserves.

    Returns the seized reserves of restaurants and labour sites (USD), which
    count as remittances; adds the recalls and closures to ``out``.
    """
    seized_rest = seized_lab = 0.0
    closures = 0
    for s in range(layout.posts.shape[0]):
        today = site_day[s]
        if not today.closing:
            continue
        today.closing = False
        site = sites[s]
        first = layout.start[s]
        for post in range(first, first + layout.posts[s]):
            if posts.in_post[post]:
                out.recalls += 1
                posts.in_post[post] = False
        site.staff = 0
        if s < layout.n_restaurants:
            seized_rest += site.reserve
            closures += 1
        else:
            seized_lab += site.reserve
        site.reserve = 0.0
        site.arrears = 0.0
        site.margin = 0.0
        site.pay_level = 1.0
        site.hours = 1.0
        site.open = False
        site.nominee = False
        site.reopen_day = t + int(rg.reopen_delay_days)
    out.restaurant_closures = closures
    return seized_rest, seized_lab


@compiled(inline="always")
def reopen(site: Any, nominee: bool) -> None:
    """A shut restaurant site opens again: a fresh reserve, the full quota, maybe a nominee."""
    site.open = True
    site.reserve = 0.0
    site.quota_factor = 1.0
    site.arrears_ema = 0.0
    site.nominee = nominee
    site.ordered_shut = False


@compiled
def openings(
    g: Any,
    t: int,
    sites: np.ndarray,
    layout: Any,
    rp: Any,
    net: Any,
    slowdown: float,
    log: List,
    out: Any,
) -> None:
    """Today's openings: nominee reopenings of ordered-shut sites, then a Poisson number of
    new restaurants among the other shut sites past their delay."""
    nominees = 0
    p_nominee = rp.nominee_rate_per_year / 365.0 * net.nominee_capacity
    for s in range(layout.n_restaurants):
        site = sites[s]
        if site.open or not site.ordered_shut or site.reopen_day > t or p_nominee <= 0:
            continue
        if g.random() < p_nominee:
            reopen(site, True)
            nominees += 1
            log_event(
                log,
                t,
                Kind.OPENING,
                site=s,
                sector=Sector.RESTAURANT,
                country=layout.country[s] + 1,
                outcome=Outcome.NOMINEE,
            )
    out.nominee_openings = nominees
    opening_rate = rp.opening_rate_per_year / 365.0 * clip(1.0 - slowdown, 0.0, 1.0)
    n_new = g.poisson(opening_rate) if opening_rate > 0 else 0
    opened = 0
    if n_new > 0:
        n_eligible = 0
        for s in range(layout.n_restaurants):
            if not sites[s].open and not sites[s].ordered_shut and sites[s].reopen_day <= t:
                n_eligible += 1
        # uniform choice without replacement among the eligible sites
        for _ in range(min(n_new, n_eligible)):
            pick = g.integers(0, n_eligible)
            for s in range(layout.n_restaurants):
                site = sites[s]
                if not site.open and not site.ordered_shut and site.reopen_day <= t:
                    if pick == 0:
                        reopen(site, False)
                        opened += 1
                        n_eligible -= 1
                        log_event(
                            log,
                            t,
                            Kind.OPENING,
                            site=s,
                            sector=Sector.RESTAURANT,
                            country=layout.country[s] + 1,
                        )
                        break
                    pick -= 1
    out.restaurant_openings = opened + nominees


@compiled
def relax_control(net: Any, sites: np.ndarray, rg: Any) -> None:
    """Tightened control fades (network-wide and per site)."""
    decay = np.exp(-1.0 / rg.control_relax_days)
    net.control *= decay
    net.screening *= decay
    for s in range(sites.shape[0]):
        sites[s].watch *= decay
