"""Simulation state: the static layout, and each replicate's records and arrays.

Workers are *posts* (slots): each post belongs to one site for the whole run;
a post is either held by a worker (``in_post``) or vacant.  A departing
worker frees the post and a new recruit may later fill it, so the worker
arrays keep a fixed shape while the population turns over (M1, M4).

Per post (structure of arrays, ``Posts``): in_post (bool, 1 B), hire_day
(i32) and stress_at_hire (f32) (stress has a closed form from these and the
site's pressure average, M4), loyalty (f32) and log_base (f32: the log of
the worker's own defection hazard at zero stress, fixed at hiring from
loyalty and family deterrent, M4/M5): 17 bytes per post and replicate.

Per site: one ``SiteState`` record (sites are few; a record keeps a site's
accounts together).  Per host country: one ``HostState`` record (its UN
enforcement, contracted labour force, relabelling, perceived exit check and
today's demand level).  Network-wide: one ``NetworkState`` record (M1-M10
scalars and the ledger).  The static layout (site of each post) is shared by
all replicates.  Replicates are on the leading axis of every array; the
kernel runs one replicate at a time on row views (``replicate``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .params import Params, Population
from .records import record_dtype, slot

CHINA, RUSSIA, OTHER = 0, 1, 2
COUNTRY_NAMES: tuple[str, ...] = ("China", "Russia", "other")
GOLDEN = 0.6180339887498949
PIPELINE_PAD = 730  # days of scheduled arrivals/repatriations beyond the horizon


@dataclass(frozen=True)
class NetworkState:
    """Network-wide state of one replicate (M1-M10) and its ledger (one record)."""

    demand_dip: float = slot(np.float64, "share of demand lost after the last tests (M2)")
    control: float = slot(np.float64, "surveillance added network-wide after attempts (M8)")
    screening: float = slot(np.float64, "loyalty added to recruits after attempts (M8)")
    displeasure: float = slot(np.float64, "Beijing's displeasure (M9)")
    talks_left: float = slot(np.float64, "days left of talks with Beijing (M9)")
    defiance_left: float = slot(np.float64, "days left of a defiance episode (M9)")
    programme_progress: float = slot(np.float64, "weapons-programme progress (M9)")
    milestone_pause_left: float = slot(np.float64, "days left of the pause after a milestone (M9)")
    sanctions_ema: float = slot(np.float64, "recent average of effective Chinese sanctions (M9)")
    relations: float = slot(np.float64, "China-North Korea relations index, yesterday (M9)")
    last_un_workers: float = slot(np.float64, "highest UN worker provision so far (M1, M8)")
    relabel_capacity_extra: float = slot(np.float64, "relabelling capacity learnt from bans (M1)")
    nominee_capacity: float = slot(np.float64, "reach of nominee networks (M8)")
    advisory: float = slot(np.float64, "effect of Seoul's last advisory (M2, M9)")
    economy: float = slot(np.float64, "North Korea's hard-currency economy index (M9)")
    remit_ema: float = slot(np.float64, "smoothed daily revenue to the state, USD (M9)")
    remit_ref: float = slot(np.float64, "revenue of the first day, USD (M9)")
    resolution_day: int = slot(np.int64, "day a pending UN resolution passes, -1 none (M9)")
    crossing_ema: float = slot(np.float64, "smoothed yearly crossing rate (M9, M10)")
    laxity_on: bool = slot(np.bool_, "Beijing relaxes exit checks as a signal (M9)")
    collapse_guard: bool = slot(np.bool_, "Beijing's no-collapse limit binds (M9)")
    exodus_guard: bool = slot(np.bool_, "Beijing's no-exodus limit binds (M9)")
    recent_crossers: int = slot(np.int64, "hidden in China, crossed recently (M10)")
    long_term_residents: int = slot(np.int64, "hidden in China for years (M10)")
    third_country: int = slot(np.int64, "North Koreans in third countries (M10)")
    arrivals_cumulative: float = slot(
        np.float64, "arrivals in South Korea, kin of the hidden (M10)"
    )
    route_factor: float = slot(np.float64, "this year's factor on brokered departures (M10)")
    detained: int = slot(np.int64, "held in China's detention centres (M7)")
    awaiting_handover: int = slot(np.int64, "processed detainees awaiting handover (M7)")
    long_detention: int = slot(np.int64, "held in Chinese prisons, detention full (M7)")
    initial_in_post: int = slot(np.int64, "ledger: workers in post on day 0")
    hired: int = slot(np.int64, "ledger: recruits hired")
    exits_escaped: int = slot(np.int64, "ledger: workers who got out")
    exits_caught: int = slot(np.int64, "ledger: workers foiled, stopped or caught")
    exits_recalled: int = slot(np.int64, "ledger: workers recalled")
    exits_other: int = slot(np.int64, "ledger: postings ended normally")


@dataclass(frozen=True)
class SiteState:
    """State of one site (restaurant or labour site), one record per site."""

    staff: int = slot(np.int64, "workers in post (M1)")
    stress: float = slot(np.float64, "exponential average of the site's pressure (M4)")
    open: bool = slot(np.bool_, "operating (M8)")
    reopen_day: int = slot(np.int64, "first day a shut site may reopen (M8)")
    pay_level: float = slot(np.float64, "pay as a share of normal pay (M3)")
    hours: float = slot(np.float64, "working hours relative to normal (M3)")
    reserve: float = slot(np.float64, "manager's cash reserve, USD (M1)")
    arrears: float = slot(np.float64, "quota owed and not yet paid, USD (M1)")
    margin: float = slot(np.float64, "smoothed daily margin at full pay, USD (M3)")
    demand_noise: float = slot(np.float64, "log-demand noise (M2)")
    watch: float = slot(np.float64, "surveillance added at this site after attempts (M8)")
    quota_factor: float = slot(np.float64, "share of the quota lever this restaurant owes (M1)")
    arrears_ema: float = slot(np.float64, "average arrears index, for quota reviews (M1)")
    nominee: bool = slot(np.bool_, "run under a local nominee (M8)")
    ordered_shut: bool = slot(np.bool_, "shut on a host's order (M8)")


@dataclass(frozen=True)
class SiteDay:
    """What the day's site loop leaves for the rest of the day (scratch, per site)."""

    surveillance: float = slot(np.float64, "surveillance today, in [0, 1] (M4)")
    wanted: int = slot(np.int64, "wanted headcount today (M1)")
    manager_pressure: float = slot(np.float64, "pressure on the manager, in [0, 1] (M5)")
    arrears_index: float = slot(np.float64, "arrears in days of quota, in [0, 1] (M1)")
    manager_start: bool = slot(np.bool_, "the manager starts a flight today (M5)")
    closing: bool = slot(np.bool_, "the site is shut today (M8)")
    plot: bool = slot(np.bool_, "a plot forms at the site today (M5)")
    opportunity: float = slot(np.float64, "perceived opportunity to flee, in [0, 1] (M5)")


@dataclass(frozen=True)
class HostState:
    """State of one host country (China, Russia, other), one record per host."""

    chosen_enforcement: float = slot(np.float64, "enforcement of UN measures the host chooses (M9)")
    enforcement: float = slot(np.float64, "enforcement of UN measures in force, in [0, 1] (M9)")
    labour_scale: float = slot(np.float64, "contracted labour force relative to the start (M1)")
    relabel: float = slot(np.float64, "share of labourers shielded by relabelling (M1)")
    perceived_exit: float = slot(np.float64, "exit strictness as workers perceive it (M5)")
    workers_provision: float = slot(np.float64, "UN worker provisions acting today (M1)")
    fill: float = slot(np.float64, "share of labour-site capacity wanted today (M1)")
    segment: float = slot(np.float64, "restaurant demand level today (M2)")


NETWORK_DTYPE = record_dtype(NetworkState)
SITE_DTYPE = record_dtype(SiteState)
SITE_DAY_DTYPE = record_dtype(SiteDay)
HOST_DTYPE = record_dtype(HostState)
N_HOSTS = len(COUNTRY_NAMES)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (cache key)
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


class SiteLayout(NamedTuple):
    """The layout in the kernel's form (restaurants first, posts of a site contiguous)."""

    n_restaurants: int
    n_restaurant_posts: int
    is_restaurant: np.ndarray  # (S,) bool
    country: np.ndarray  # (S,) int64
    posts: np.ndarray  # (S,) int64
    offset: np.ndarray  # (S,) float64
    start: np.ndarray  # (S,) int64: index of the site's first post
    post_site: np.ndarray  # (N,) int32
    host_labour_posts: np.ndarray  # (hosts,) float64: labour-site posts in each host


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


def site_starts(layout: Layout) -> np.ndarray:
    """Index of each site's first post (posts of a site are contiguous)."""
    return np.concatenate([[0], np.cumsum(layout.site_posts)[:-1]]).astype(np.int64)


@functools.lru_cache(maxsize=32)
def kernel_layout(layout: Layout) -> SiteLayout:
    """``layout`` in the kernel's dtypes (converted once per layout, read-only)."""
    return SiteLayout(
        n_restaurants=layout.n_restaurants,
        n_restaurant_posts=layout.n_restaurant_posts,
        is_restaurant=layout.site_is_restaurant,
        country=layout.site_country.astype(np.int64),
        posts=layout.site_posts.astype(np.int64),
        offset=layout.site_offset.astype(np.float64),
        start=site_starts(layout),
        post_site=layout.post_site,
        host_labour_posts=np.bincount(
            layout.site_country[layout.n_restaurants :],
            weights=layout.site_posts[layout.n_restaurants :],
            minlength=len(COUNTRY_NAMES),
        ).astype(np.float64),
    )


class Posts(NamedTuple):
    """Per-post arrays (structure of arrays), (R, N) or one replicate's (N,) rows."""

    in_post: np.ndarray
    hire_day: np.ndarray
    stress_at_hire: np.ndarray
    loyalty: np.ndarray
    log_base: np.ndarray


class Pipelines(NamedTuple):
    """People scheduled to arrive in South Korea or to be handed over, by day (M6, M7, M10)."""

    arrivals_workers: np.ndarray
    arrivals_wider: np.ndarray
    processing_china: np.ndarray  # detainees whose processing in China completes that day (M7)
    repatriations_other: np.ndarray


#: each conditional policy's state (core.conditional)
RULE_STATE_DTYPE = np.dtype(
    [
        ("in_force_until", np.int64),  # first day not in force (after the last spell)
        ("idle_until", np.int64),  # first day the rule may fire again
        ("activations", np.int64),
    ]
)


class ReplicateState(NamedTuple):
    """Every mutable array of a run: replicates on the leading axis, or one replicate's rows."""

    posts: Posts
    sites: np.ndarray  # SITE_DTYPE records
    hosts: np.ndarray  # HOST_DTYPE records, one per host country
    network: np.ndarray  # NETWORK_DTYPE record(s)
    un_levels: np.ndarray  # UN provision levels in UN_PROVISIONS order (M9)
    pipelines: Pipelines
    rule_state: np.ndarray  # RULE_STATE_DTYPE, one per conditional policy
    triggers: np.ndarray  # (days + 1, rules): cumulative sums of each rule's outcome


def allocate_state(
    layout: Layout, n_replicates: int, n_days: int, n_rules: int = 0
) -> ReplicateState:
    """Zeroed state of ``n_replicates`` replicates; the kernel's day 0 fills it."""
    R, N, S = n_replicates, layout.n_posts, layout.n_sites
    T = n_days + PIPELINE_PAD
    return ReplicateState(
        posts=Posts(
            in_post=np.zeros((R, N), dtype=np.bool_),
            hire_day=np.zeros((R, N), dtype=np.int32),
            stress_at_hire=np.zeros((R, N), dtype=np.float32),
            loyalty=np.zeros((R, N), dtype=np.float32),
            log_base=np.zeros((R, N), dtype=np.float32),
        ),
        sites=np.zeros((R, S), dtype=SITE_DTYPE),
        hosts=np.zeros((R, N_HOSTS), dtype=HOST_DTYPE),
        network=np.zeros((R, 1), dtype=NETWORK_DTYPE),
        un_levels=np.zeros((R, 5)),
        pipelines=Pipelines(*(np.zeros((R, T), dtype=np.int64) for _ in range(4))),
        rule_state=np.zeros((R, n_rules), dtype=RULE_STATE_DTYPE),
        triggers=np.zeros((R, n_days + 1, n_rules)),
    )


def replicate(state: ReplicateState, r: int) -> ReplicateState:
    """Views of replicate ``r``'s rows (what the kernel runs on)."""
    return ReplicateState(
        posts=Posts(*(a[r] for a in state.posts)),
        sites=state.sites[r],
        hosts=state.hosts[r],
        network=state.network[r],
        un_levels=state.un_levels[r],
        pipelines=Pipelines(*(a[r] for a in state.pipelines)),
        rule_state=state.rule_state[r],
        triggers=state.triggers[r],
    )
