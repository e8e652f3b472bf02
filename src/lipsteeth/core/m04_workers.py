"""M4 worker state: screening loyalty, grievance and stress, family deterrent, surveillance.

Recruits (screened on family and personal history, Corrado and Moore 2016):

  loyalty  = clip(sector mean + screening_loyalty_gain x screening lever
                  + added screening (M8) + loyalty_sd x N(0, 1), 0, 1)
  family   = clip(family_deterrent_mean + family_deterrent_spread x U(-1, 1), 0, 1)
  log_base = log(sector hazard / 365) - beta_loyalty x loyalty - beta_family x family

are fixed at hiring (``log_base`` is the worker's own log hazard at zero
stress, M5).  Stress follows the conditions of the worker's site with time
constant ``stress_days``:

  pressure = w_pay (1 - pay level) + w_hours (hours - 1) / (hours_max - 1)
             + w_arrears * arrears index

New recruits start without stress.  Because every worker at a site follows
the same pressure, a worker's stress has an exact closed form: with
a = 1/stress_days and E_s(t) the site's exponential average of pressure
(E_s(t) = (1 - a) E_s(t-1) + a p_s(t), from 0),

  stress_i(t) = E_s(t) - (1 - a)^(t - hired_i) * E_s(hired_i)

so the model keeps E_s per site and (hire day, E_s at hire) per worker and
evaluates stress only where it is needed, instead of updating every worker
every day.  Surveillance (minders, undercover police, confiscated passports)
is the sector's baseline plus the network-wide control the regime adds after
flight attempts (M8) plus any extra watch on the site, clipped to [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bounds import clip
from .jit import compiled


@compiled
def decay_table(wp: Any, n_days: int) -> np.ndarray:
    """(1 - a)^elapsed for elapsed = 0 .. n_days: the closed form's decay, tabulated once.

    At ``stress_days = 1`` (its lower bound, a = 1: stress is the day's pressure)
    the table is 1 then 0; exp(elapsed x log1p(-1)) would give 0 x -inf = NaN at 0
    (issue 17, item 5).
    """
    if wp.stress_days <= 1.0:
        table = np.zeros(n_days + 1)
        table[0] = 1.0
        return table
    return np.exp(np.arange(n_days + 1) * np.log1p(-1.0 / wp.stress_days))


@compiled(inline="always")
def step_site_stress(site: Any, arrears_index: float, p: Any) -> None:
    """Advance the site's exponential average of pressure by one day (in place)."""
    wp = p.workers
    a = 1.0 / wp.stress_days
    hours_span = max(p.restaurants.hours_max - 1.0, 1e-9)
    pressure = (
        wp.stress_weight_pay * (1.0 - site.pay_level)
        + wp.stress_weight_hours * (site.hours - 1.0) / hours_span
        + wp.stress_weight_arrears * arrears_index
    )
    site.stress = (1.0 - a) * site.stress + a * pressure


@compiled(inline="always")
def surveillance(is_restaurant: bool, control: float, watch: float, wp: Any) -> float:
    """Surveillance at a site, in [0, 1]."""
    base = wp.restaurant_surveillance if is_restaurant else wp.labour_surveillance
    return clip(base + control + watch, 0.0, 1.0)


@compiled(inline="always")
def worker_stress(post: int, t: int, posts: Any, site_stress: float, decay: np.ndarray) -> float:
    """Stress of the worker holding ``post`` on day ``t`` (the closed form above).

    In exact arithmetic never negative (it follows non-negative pressure from 0); in
    floating point about -1e-9 when the site's pressure has fallen to 0 since the
    hire.  The hazard (M5) takes it as it is, exp(-1e-9 x beta) being 1 to the last
    digits; the recorded outcome floors it (``mean_stress``).
    """
    return site_stress - decay[t - posts.hire_day[post]] * posts.stress_at_hire[post]


@compiled(inline="always")
def recruit_loyalty(
    normal: float, is_restaurant: bool, screening_lever: float, screening: float, wp: Any
) -> float:
    """A recruit's loyalty from one standard normal draw."""
    mean = (
        (wp.restaurant_loyalty_mean if is_restaurant else wp.labour_loyalty_mean)
        + wp.screening_loyalty_gain * screening_lever
        + screening
    )
    return clip(mean + wp.loyalty_sd * normal, 0.0, 1.0)


@compiled(inline="always")
def recruit_log_base(uniform: float, loyalty: float, is_restaurant: bool, p: Any) -> float:
    """A recruit's log hazard at zero stress from its loyalty and one uniform draw (family)."""
    wp, d = p.workers, p.defection
    family = clip(
        wp.family_deterrent_mean + wp.family_deterrent_spread * (uniform - 0.5) * 2.0, 0.0, 1.0
    )
    base = (d.restaurant_hazard_per_year if is_restaurant else d.labour_hazard_per_year) / 365.0
    return np.log(max(base, 1e-30)) - d.beta_loyalty * loyalty - d.beta_family * family


@compiled
def initial_recruits(g: Any, posts: Any, layout: Any, p: Any, lever: Any) -> None:
    """Day 0: every post gets a recruit's traits (vacant ones are redrawn when filled).

    All normal draws (loyalty) come first, then all uniform draws (family).
    """
    n_posts = layout.post_site.shape[0]
    loyalty = np.empty(n_posts)
    for post in range(n_posts):
        is_rest = layout.is_restaurant[layout.post_site[post]]
        loyalty[post] = recruit_loyalty(
            g.standard_normal(), is_rest, lever.screening_strictness, 0.0, p.workers
        )
    for post in range(n_posts):
        is_rest = layout.is_restaurant[layout.post_site[post]]
        posts.loyalty[post] = loyalty[post]
        posts.log_base[post] = recruit_log_base(g.random(), loyalty[post], is_rest, p)


@compiled(inline="always")
def hire(post: int, t: int, loyalty: float, log_base: float, site: Any, posts: Any) -> None:
    """A recruit takes ``post`` at ``site`` on day ``t``: traits, hire day, stress baseline."""
    posts.loyalty[post] = loyalty
    posts.log_base[post] = log_base
    posts.hire_day[post] = t
    posts.stress_at_hire[post] = site.stress
    posts.in_post[post] = True
    site.staff += 1


@compiled
def mean_stress(
    t: int,
    first: int,
    last: int,
    posts: Any,
    sites: np.ndarray,
    post_site: np.ndarray,
    decay: np.ndarray,
) -> float:
    """Mean stress of the workers in post among posts [first, last) (0 if none)."""
    total = 0.0
    held = 0
    for post in range(first, last):
        if posts.in_post[post]:
            # floored: the closed form's rounding must not make a stock negative (issue 17,
            # item 4: -1.5e-9 found by the kernel fuzz)
            total += max(worker_stress(post, t, posts, sites[post_site[post]].stress, decay), 0.0)
            held += 1
    return total / held if held else 0.0
