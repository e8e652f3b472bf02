"""Simulation state as structure-of-arrays, replicates on the leading axis.

Workers are *posts* (slots): each post belongs to one site for the whole run;
a post is either held by a worker (``in_post``) or vacant.  A departing
worker frees the post and a new recruit may later fill it, so the worker
arrays keep a fixed shape while the population turns over (M1, M4).

Per worker: in_post (bool, 1 B), hire_day (i32) and stress_at_hire (f32)
(stress has a closed form from these and the site's pressure average,
M4),
loyalty (f32) and log_base (f32: the log of the worker's own defection
hazard at zero stress, fixed at hiring from loyalty and family deterrent,
M4/M5): 17 bytes per post and replicate.  Static layout (site of each
post) is shared by all replicates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .bounds import clip
from .params import Levers, Params, Population

CHINA, RUSSIA, OTHER = 0, 1, 2
COUNTRY_NAMES: tuple[str, ...] = ("China", "Russia", "other")
GOLDEN = 0.6180339887498949
PIPELINE_PAD = 730  # days of scheduled arrivals/repatriations beyond the horizon


@dataclass(frozen=True)
class Layout:
    """Static structure shared by all replicates: sites and the posts they hold."""

    n_restaurants: int
    n_labour_sites: int
    site_is_restaurant: np.ndarray  # (S,) bool
    site_country: np.ndarray  # (S,) int8
    site_posts: np.ndarray  # (S,) int32
    site_offset: np.ndarray  # (S,) float32 in [0, 1): fair rounding of labour targets
    post_site: np.ndarray  # (N,) int32
    post_rank: np.ndarray  # (N,) int32: 0..posts-1 within its site
    post_is_restaurant: np.ndarray  # (N,) bool

    @property
    def n_sites(self) -> int:
        return self.n_restaurants + self.n_labour_sites

    @property
    def n_posts(self) -> int:
        return int(self.post_site.shape[0])

    @property
    def n_restaurant_posts(self) -> int:
        """Posts at restaurants: they come first (posts [0, n_restaurant_posts))."""
        return int(self.site_posts[: self.n_restaurants].sum())


def _countries(n: int, share_china: float, share_russia: float) -> np.ndarray:
    """Deterministic, well-mixed country assignment (golden-ratio sequence)."""
    u = (np.arange(n) * GOLDEN) % 1.0
    country = np.full(n, OTHER, dtype=np.int8)
    country[u < share_china + share_russia] = RUSSIA
    country[u < share_china] = CHINA
    return country


def build_layout(params: Params) -> Layout:
    """The sites and posts of ``params.population`` (cached: many runs share one layout)."""
    return _layout_of(params.population)


@functools.lru_cache(maxsize=32)
def _layout_of(pop: Population) -> Layout:
    """A layout depends only on the population sizes and shares; nothing writes to it."""
    n_r, n_l = pop.restaurant_sites_max, pop.labour_sites_max
    posts = np.concatenate(
        [
            np.full(n_r, pop.staff_per_restaurant, dtype=np.int32),
            np.full(n_l, pop.labour_site_capacity, dtype=np.int32),
        ]
    )
    is_rest = np.zeros(n_r + n_l, dtype=bool)
    is_rest[:n_r] = True
    country = np.concatenate(
        [
            _countries(n_r, pop.restaurant_share_china, pop.restaurant_share_russia),
            _countries(n_l, pop.labour_share_china, pop.labour_share_russia),
        ]
    )
    offset = ((np.arange(n_r + n_l) * GOLDEN * 7.0) % 1.0).astype(np.float32)
    post_site = np.repeat(np.arange(n_r + n_l, dtype=np.int32), posts)
    starts = np.concatenate([[0], np.cumsum(posts)[:-1]])
    post_rank = (np.arange(post_site.shape[0]) - starts[post_site]).astype(np.int32)
    return Layout(
        n_restaurants=n_r,
        n_labour_sites=n_l,
        site_is_restaurant=is_rest,
        site_country=country,
        site_posts=posts,
        site_offset=offset,
        post_site=post_site,
        post_rank=post_rank,
        post_is_restaurant=is_rest[post_site],
    )


@dataclass
class State:
    """Mutable per-run state; only ``step`` assigns its fields."""

    day: int
    # workers (R, N)
    in_post: np.ndarray
    hire_day: np.ndarray
    stress_at_hire: np.ndarray
    loyalty: np.ndarray
    log_base: np.ndarray
    # sites (R, S)
    staff: np.ndarray
    site_stress: np.ndarray
    site_open: np.ndarray
    reopen_day: np.ndarray
    pay_level: np.ndarray
    hours: np.ndarray
    reserve: np.ndarray
    arrears: np.ndarray
    margin: np.ndarray
    demand_noise: np.ndarray
    site_watch: np.ndarray
    # network-wide (R,)
    labour_scale: np.ndarray
    demand_dip: np.ndarray
    control: np.ndarray
    screening: np.ndarray
    # strategic (R,) and (R, 5)
    displeasure: np.ndarray
    conciliation_left: np.ndarray
    un_levels: np.ndarray
    advisory: np.ndarray
    economy: np.ndarray
    remit_ema: np.ndarray
    remit_ref: np.ndarray
    resolution_day: np.ndarray
    crossing_ema: np.ndarray
    laxity_on: np.ndarray
    collapse_guard: np.ndarray
    exodus_guard: np.ndarray
    # wider flow (R,)
    hidden: np.ndarray
    # scheduled arrivals and repatriations (R, T + pad)
    arrivals_workers: np.ndarray
    arrivals_wider: np.ndarray
    repatriations_china: np.ndarray
    repatriations_other: np.ndarray
    # accounting counters (R,)
    initial_in_post: np.ndarray
    hired: np.ndarray
    exits_escaped: np.ndarray
    exits_caught: np.ndarray
    exits_recalled: np.ndarray
    exits_other: np.ndarray

    @property
    def n_replicates(self) -> int:
        return int(self.in_post.shape[0])


def site_starts(layout: Layout) -> np.ndarray:
    """Index of each site's first post (posts of a site are contiguous)."""
    return np.concatenate([[0], np.cumsum(layout.site_posts)[:-1]]).astype(np.int64)


def recruit_traits(
    rng: np.random.Generator,
    n: int,
    is_restaurant: np.ndarray,
    params: Params,
    screening: float,
    levers: Levers,
) -> tuple[np.ndarray, np.ndarray]:
    """Loyalty and log base hazard of ``n`` new recruits (M4 screening, M8 tightening).

    Loyalty: the sector's screened mean, raised by the screening lever and by
    the regime's post-defection tightening, plus normal spread, clipped to
    [0, 1].  Family deterrent: uniform around its mean (every posted worker
    leaves family at home; its strength varies).
    """
    w, d = params.workers, params.defection
    mean = np.where(is_restaurant, w.restaurant_loyalty_mean, w.labour_loyalty_mean)
    mean = mean + 0.2 * levers.screening_strictness + screening
    loyalty = clip(mean + w.loyalty_sd * rng.standard_normal(n), 0.0, 1.0)
    family = clip(w.family_deterrent_mean + 0.25 * (rng.random(n) - 0.5) * 2.0, 0.0, 1.0)
    base = np.where(is_restaurant, d.restaurant_hazard_per_year, d.labour_hazard_per_year) / 365.0
    log_base = np.log(np.maximum(base, 1e-30)) - d.beta_loyalty * loyalty - d.beta_family * family
    return loyalty.astype(np.float32), log_base.astype(np.float32)


def labour_target(layout: Layout, labour_scale: np.ndarray, params: Params) -> np.ndarray:
    """Wanted headcount per site (R, S): full staff at restaurants, scaled at labour sites."""
    pop = params.population
    capacity_total = pop.labour_sites_max * pop.labour_site_capacity
    fill = clip(pop.labour_workers_initial * labour_scale / max(capacity_total, 1), 0.0, 1.0)
    posts = layout.site_posts[None, :].astype(np.float64)
    labour = np.floor(fill[:, None] * posts + layout.site_offset[None, :])
    return np.where(layout.site_is_restaurant[None, :], posts, np.minimum(labour, posts)).astype(
        np.int32
    )


def init_state(
    params: Params,
    levers: Levers,
    layout: Layout,
    n_days: int,
    rngs: list[np.random.Generator],
) -> State:
    """Initial state: restaurants open, labour posts filled to the initial workforce."""
    R, N, S = len(rngs), layout.n_posts, layout.n_sites
    r = params.restaurants
    site_open = np.zeros((R, S), dtype=bool)
    site_open[:, : params.population.restaurants_initial] = True
    site_open[:, layout.n_restaurants :] = True
    labour_scale = np.ones(R)
    target = labour_target(layout, labour_scale, params)
    in_post = (layout.post_rank[None, :] < target[:, layout.post_site]) & site_open[
        :, layout.post_site
    ]
    loyalty = np.zeros((R, N), dtype=np.float32)
    log_base = np.zeros((R, N), dtype=np.float32)
    for i, g in enumerate(rngs):
        lo, lb = recruit_traits(g, N, layout.post_is_restaurant, params, 0.0, levers)
        loyalty[i], log_base[i] = lo, lb
    quota_day = np.where(layout.site_is_restaurant, levers.restaurant_quota_usd / 365.0, 0.0)
    reserve = np.where(site_open, quota_day[None, :] * r.reserve_initial_days, 0.0)
    T = n_days + PIPELINE_PAD
    zeros = np.zeros(R)
    return State(
        day=0,
        in_post=in_post,
        hire_day=np.zeros((R, N), dtype=np.int32),
        stress_at_hire=np.zeros((R, N), dtype=np.float32),
        loyalty=loyalty,
        log_base=log_base,
        staff=np.add.reduceat(in_post, site_starts(layout), axis=1, dtype=np.int64),
        site_stress=np.zeros((R, S)),
        site_open=site_open,
        reopen_day=np.zeros((R, S), dtype=np.int64),
        pay_level=np.ones((R, S)),
        hours=np.ones((R, S)),
        reserve=reserve,
        arrears=np.zeros((R, S)),
        margin=np.zeros((R, S)),
        demand_noise=np.zeros((R, S)),
        site_watch=np.zeros((R, S)),
        labour_scale=labour_scale,
        demand_dip=zeros.copy(),
        control=zeros.copy(),
        screening=zeros.copy(),
        displeasure=zeros.copy(),
        conciliation_left=zeros.copy(),
        un_levels=np.zeros((R, 5)),
        advisory=zeros.copy(),
        economy=np.ones(R),
        remit_ema=np.full(R, np.nan),
        remit_ref=np.full(R, np.nan),
        resolution_day=np.full(R, -1, dtype=np.int64),
        crossing_ema=np.full(R, np.nan),
        laxity_on=np.zeros(R, dtype=bool),
        collapse_guard=np.zeros(R, dtype=bool),
        exodus_guard=np.zeros(R, dtype=bool),
        hidden=np.full(R, int(round(params.wider_flow.hidden_initial)), dtype=np.int64),
        arrivals_workers=np.zeros((R, T), dtype=np.int64),
        arrivals_wider=np.zeros((R, T), dtype=np.int64),
        repatriations_china=np.zeros((R, T), dtype=np.int64),
        repatriations_other=np.zeros((R, T), dtype=np.int64),
        initial_in_post=in_post.sum(axis=1).astype(np.int64),
        hired=np.zeros(R, dtype=np.int64),
        exits_escaped=np.zeros(R, dtype=np.int64),
        exits_caught=np.zeros(R, dtype=np.int64),
        exits_recalled=np.zeros(R, dtype=np.int64),
        exits_other=np.zeros(R, dtype=np.int64),
    )
