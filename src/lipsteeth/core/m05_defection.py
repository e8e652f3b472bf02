"""M5 defection decision: individual hazard, contagion, manager-led groups, helpers.

Individual hazard of a worker in post (per day):

  h = exp(log_base + beta_stress * stress - beta_surveillance * surveillance)

where log_base holds the sector's base rate, loyalty and the family deterrent
(M4).  A worker whose hazard fires initiates a plot.  Managers initiate with a
hazard proportional to their own pressure: the larger of the site's arrears
index and the pay cut they have imposed (a manager answers to Pyongyang for
the quota and faces staff who are no longer paid).

A plot grows into a group (F4): a manager may take the lead (chance
``manager_join`` x the manager's pressure); under a manager each co-worker
follows with chance ``manager_follow`` x (1 - loyalty / 2) (he holds the
passports, seed article: Ningbo, April 2016); otherwise each co-worker joins
with chance ``contagion`` x stress.  The bigger the plot the likelier the
minders notice: each extra member exposes it with chance
``detection_per_member`` x surveillance (halved under a manager).

Each post also faces the end of its posting (rotation home), a recall when
the site's wanted headcount falls (sanctions), or, if vacant and wanted, the
arrival of a recruit.  All are drawn per post without touching every post
every day (geometric skipping and thinning, DESIGN.md "What is fast here").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import m04_workers as m4
from .bounds import clip
from .m09_strategic import Conditions
from .params import Params
from .state import Layout, State


@dataclass(frozen=True)
class PostTransitions:
    """Per replicate, sorted post indices of what happens to them today."""

    initiators: list[np.ndarray]
    contract_end: list[np.ndarray]
    recall: list[np.ndarray]
    hire: list[np.ndarray]


def bernoulli_indices(g: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Indices i < n of independent Bernoulli(p) successes, drawn by geometric skips.

    Exact and O(number of successes): the gaps between successes of an iid
    Bernoulli(p) sequence are geometric(p).
    """
    if p <= 0.0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(n, dtype=np.int64)
    expected = n * p
    batch = int(expected + 6.0 * np.sqrt(expected) + 16)
    positions = np.cumsum(g.geometric(p, size=batch)) - 1
    while positions[-1] < n:
        more = np.cumsum(g.geometric(p, size=batch)) + positions[-1]
        positions = np.concatenate([positions, more])
    return positions[positions < n]


def flight_bound(params: Params, is_restaurant: bool) -> float:
    """Upper bound of any worker's daily flight probability in a sector (for thinning).

    Stress cannot exceed the sum of the pressure weights (M4), loyalty, family
    and surveillance are non-negative and only lower the hazard.
    """
    d, w = params.defection, params.workers
    base = (d.restaurant_hazard_per_year if is_restaurant else d.labour_hazard_per_year) / 365.0
    stress_max = w.stress_weight_pay + w.stress_weight_hours + w.stress_weight_arrears
    return float(min(base * np.exp(d.beta_stress * stress_max), 0.5))


def _wanted(
    layout: Layout, site_wanted: np.ndarray, site_open: np.ndarray, posts: np.ndarray
) -> np.ndarray:
    """Whether each of ``posts`` is wanted: below its open site's wanted headcount."""
    sites = layout.post_site[posts]
    return (layout.post_rank[posts] < site_wanted[sites]) & site_open[sites]


def post_transitions(
    rngs: list[np.random.Generator],
    state: State,
    layout: Layout,
    params: Params,
    cond: Conditions,
    surveillance: np.ndarray,
    wanted: np.ndarray,
) -> PostTransitions:
    """Draw today's initiations, rotations, recalls and hires for every post.

    Each risk is an independent per-post Bernoulli draw, sampled exactly by
    geometric skipping over all posts and kept only where it applies (held
    post, vacant wanted post, ...).  Flight is thinned: candidates are drawn at
    the sector bound and accepted with probability hazard / bound.  A post
    that initiates flight does not also rotate home or get recalled that day.
    """
    d = params.defection
    closure = cond.levers.border_closure
    n_rest_posts = layout.n_restaurant_posts
    n_posts = layout.n_posts
    bounds = (flight_bound(params, True), flight_bound(params, False))
    p_end = (1.0 / (params.labour.contract_years * 365.0)) * (1.0 - closure)
    p_hire = (1.0 / params.labour.hiring_days) * (1.0 - closure)
    p_recall = 1.0 / 90.0
    # A labour ban (UN worker provisions at or above 0.6) stops new postings.
    labour_ban = cond.un_workers >= 0.6
    out: dict[str, list[np.ndarray]] = {
        "initiators": [],
        "contract_end": [],
        "recall": [],
        "hire": [],
    }
    for r, g in enumerate(rngs):
        held = state.in_post[r]

        initiators = []
        for offset, n, bound in (
            (0, n_rest_posts, bounds[0]),
            (n_rest_posts, n_posts - n_rest_posts, bounds[1]),
        ):
            cand = bernoulli_indices(g, n, bound) + offset
            cand = cand[held[cand]]
            if cand.size:
                accept_u = g.random(cand.shape[0])
                log_h = (
                    state.log_base[r, cand]
                    + d.beta_stress * m4.worker_stress(state, layout, params, r, cand)
                    - d.beta_surveillance * surveillance[r, layout.post_site[cand]]
                )
                p_flight = np.minimum(np.exp(log_h.astype(np.float64)), 0.5)
                cand = cand[accept_u < p_flight / bound]
            initiators.append(cand)
        flight = np.concatenate(initiators)
        ends = bernoulli_indices(g, n_posts, p_end)
        ends = ends[held[ends]]
        if flight.size:
            ends = np.setdiff1d(ends, flight, assume_unique=True)
        # a held post above its site's wanted rank is recalled (even if the site has vacancies)
        recalls = bernoulli_indices(g, n_posts, p_recall)
        recalls = recalls[held[recalls]]
        recalls = recalls[~_wanted(layout, wanted[r], state.site_open[r], recalls)]
        if recalls.size and (flight.size or ends.size):
            recalls = np.setdiff1d(recalls, np.concatenate([flight, ends]), assume_unique=True)
        hires = bernoulli_indices(g, n_posts, p_hire)
        hires = hires[~held[hires]]
        hires = hires[_wanted(layout, wanted[r], state.site_open[r], hires)]
        if labour_ban[r]:
            hires = hires[layout.post_is_restaurant[hires]]
        out["initiators"].append(flight)
        out["contract_end"].append(ends)
        out["recall"].append(recalls)
        out["hire"].append(hires)
    return PostTransitions(**out)


def manager_pressure(arrears_idx: np.ndarray, pay_level: np.ndarray) -> np.ndarray:
    """Pressure on each site's manager (R, S) in [0, 1]: arrears or the pay cut passed on."""
    return clip(np.maximum(arrears_idx, 1.0 - pay_level), 0.0, 1.0)


def manager_initiations(
    rngs: list[np.random.Generator],
    state: State,
    params: Params,
    pressure: np.ndarray,
) -> np.ndarray:
    """Sites (R, S) whose manager starts a flight today (hazard x manager pressure)."""
    p = params.defection.manager_hazard_per_year / 365.0 * pressure * state.site_open
    out = np.zeros(p.shape, dtype=bool)
    for r, g in enumerate(rngs):
        out[r] = g.random(p.shape[1]) < p[r]
    return out


@dataclass(frozen=True)
class Plot:
    """A group that has decided to leave one site together."""

    members: np.ndarray  # post indices of the workers in the group
    manager_led: bool
    detected: bool

    @property
    def size(self) -> int:
        return int(self.members.shape[0]) + int(self.manager_led)


def form_plot(
    g: np.random.Generator,
    r: int,
    site: int,
    initiators: np.ndarray,
    manager_started: bool,
    state: State,
    layout: Layout,
    params: Params,
    manager_pressure: float,
    surveillance: float,
) -> Plot:
    """Grow a plot at ``site`` of replicate ``r`` from its initiators (post indices)."""
    d = params.defection
    # a scalar of the array's dtype: searchsorted does not copy the array to cast it
    start = int(np.searchsorted(layout.post_site, layout.post_site.dtype.type(site)))
    posts = np.arange(start, start + int(layout.site_posts[site]))
    posts = posts[state.in_post[r, posts]]
    others = np.setdiff1d(posts, initiators, assume_unique=True)
    manager_led = manager_started or (g.random() < d.manager_join * manager_pressure)
    if manager_led:
        p_join = d.manager_follow * (1.0 - 0.5 * state.loyalty[r, others])
    else:
        stress = m4.worker_stress(state, layout, params, r, others)
        p_join = d.contagion * clip(stress, 0.0, 1.0)
    joiners = others[g.random(others.shape[0]) < p_join]
    members = np.concatenate([initiators, joiners]).astype(np.int64)
    extra = max(members.shape[0] + int(manager_led) - 1, 0)
    p_each = d.detection_per_member * surveillance * (0.5 if manager_led else 1.0)
    detected = bool(g.random() < 1.0 - (1.0 - p_each) ** extra)
    return Plot(members=members, manager_led=bool(manager_led), detected=detected)
