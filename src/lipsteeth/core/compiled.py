"""The compiled engine: one replicate's whole day loop, M1-M10, as one Numba function.

The NumPy engine (``step``) spends about 0.44 ms of Python and NumPy call
overhead on every simulated day whatever the population (BENCHMARKS.md,
session 2): about 390 calls on arrays of a few hundred sites.  That fixed
cost is what kept it at 54x the Mesa reference at 50,000 workers and made
the cost per agent-step 35 times higher at 2,600 workers than at 500,000.
Here the same model runs inside one compiled call per replicate, so a day
costs only what its sites, events and sampled posts cost.

It is the same model, not a copy of its numbers: the same equations, in the
same order within a day, as ``step`` and the mechanism modules it calls (the
docstrings there cite the mechanisms M1-M10 and the sources).  Random draws
come from the replicate's own ``numpy.random.Generator`` (Numba drives its
bit generator), so runs are reproducible and independent of batching and
executors, but the streams differ from the NumPy engine's: the two engines
agree in distribution, which ``tests/test_reference_agreement.py`` checks, not
draw for draw.  Initial state and the warm-started pipelines are built by the
NumPy code (``init_state``, ``m10.warm_start_pipelines``) for both engines.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from . import events as ev
from .m05_defection import flight_bound
from .outcomes import KIND_STOCK, OUTCOME_INDEX, OUTCOME_NAMES
from .params import LEVER_NAMES, PARAM_GROUPS, Params
from .state import COUNTRY_NAMES, Layout, State, site_starts
from .timeline import UN_PROVISIONS, Timeline

# ----------------------------------------------------------------------------- codes

# Parameters reach the kernel as a one-element NumPy record with one nested
# record per parameter group, so the kernel reads
# ``p.restaurants.gross_sales_per_day`` like the NumPy code reads the frozen
# dataclasses.  (A record is typed by Numba's fast path for arrays; a nested
# namedtuple of the same values took about 0.1 ms to type on every call.)
PARAM_DTYPE = np.dtype(
    [
        (group, [(f.name, np.float64) for f in dataclasses.fields(cls)])
        for group, cls in PARAM_GROUPS.items()
    ]
)


def param_record(params: Params) -> np.ndarray:
    """``params`` as a (1,) record array of ``PARAM_DTYPE``, the form the kernel takes."""
    values = tuple(
        tuple(float(getattr(getattr(params, group), f.name)) for f in dataclasses.fields(cls))
        for group, cls in PARAM_GROUPS.items()
    )
    return np.array([values], dtype=PARAM_DTYPE)


# lever columns of the (days, levers) schedule
_L = {name: i for i, name in enumerate(LEVER_NAMES)}
L_STRINGENCY = _L["china_border_stringency"]
L_EXIT = _L["china_exit_strictness"]
L_SANCTIONS = _L["china_sanctions"]
L_UN_WORKERS = _L["un_workers"]
L_UN_FIRST = _L[UN_PROVISIONS[0]]
L_FOOD_AID = _L["food_aid"]
L_SIGNAL = _L["diplomatic_signal"]
L_ADVISORY = _L["seoul_travel_advisory"]
L_ANTI_EXTRAVAGANCE = _L["anti_extravagance"]
L_QUOTA = _L["restaurant_quota_usd"]
L_QUOTA_SHARE = _L["labour_quota_share"]
L_SCREENING = _L["screening_strictness"]
L_NK_BORDER = _L["nk_border_control"]
L_BROKER_ACCESS = _L["broker_access"]
L_UN_COMPLIANCE = _L["un_compliance"]
L_WEAPONS_DRIVE = _L["weapons_drive"]
L_BORDER_CLOSURE = _L["border_closure"]
L_DISCRETION = _L["beijing_discretion"]
# the kernel reads UN provisions as five consecutive lever columns
assert [_L[name] for name in UN_PROVISIONS] == list(range(L_UN_FIRST, L_UN_FIRST + 5))

# event columns written by the kernel; strings are coded as indices into these tuples
EVENT_KINDS: tuple[str, ...] = (
    ev.DEFECTION_GROUP,
    ev.CLOSURE,
    ev.OPENING,
    ev.NUCLEAR_TEST,
    ev.MISSILE_TEST,
    ev.UN_RESOLUTION,
    ev.ADVISORY,
    ev.ENVOY,
    ev.POLICY_CHANGE,
)
K_GROUP, K_CLOSURE, K_OPENING, K_NUCLEAR, K_MISSILE, K_RESOLUTION, K_ADVISORY, K_ENVOY, K_POLICY = (
    range(9)
)
SECTORS: tuple[str, ...] = ("", "restaurant", "labour")
COUNTRIES: tuple[str, ...] = ("", *COUNTRY_NAMES)  # code = country index + 1
ROUTES: tuple[str, ...] = ("", "legal", "clandestine", "none")
R_LEGAL, R_CLANDESTINE, R_NONE = 1, 2, 3
EVENT_OUTCOMES: tuple[str, ...] = (
    "",
    "forced",
    "endogenous",
    "foiled",
    "escaped",
    "stopped_at_exit",
    "caught_in_transit",
    "after_attempt",
    "arrears",
    "exit_laxity",
    "collapse_guard",
    "exodus_guard",
)
E_FORCED, E_ENDOGENOUS, E_FOILED, E_ESCAPED, E_STOPPED, E_CAUGHT = 1, 2, 3, 4, 5, 6
E_AFTER_ATTEMPT, E_ARREARS, E_LAXITY, E_COLLAPSE, E_EXODUS = 7, 8, 9, 10, 11
# integer event columns: day kind site sector country size manager_led helpers route
# outcome arrival_day
EV_INT_COLUMNS = 11

# outcome slots (OUTCOME_NAMES order)
_O = OUTCOME_INDEX
O_REVENUE = _O["revenue_to_state_usd"]
O_REMIT_REST = _O["remittance_restaurants_usd"]
O_REMIT_LAB = _O["remittance_labour_usd"]
O_REST_SALES = _O["restaurant_sales_usd"]
O_REST_COSTS = _O["restaurant_costs_usd"]
O_REST_WAGES = _O["restaurant_wages_usd"]
O_REST_RETAINED = _O["restaurant_retained_usd"]
O_LAB_FEES = _O["labour_fees_usd"]
O_LAB_COSTS = _O["labour_costs_usd"]
O_LAB_WAGES = _O["labour_wages_usd"]
O_LAB_RETAINED = _O["labour_retained_usd"]
O_ARREARS = _O["restaurant_arrears_usd"]
O_PAY = _O["pay_level_restaurant"]
O_HOURS = _O["hours_restaurant"]
O_SUSPENDED = _O["salary_suspended_restaurants"]
O_STRESS_REST = _O["stress_restaurant"]
O_STRESS_LAB = _O["stress_labour"]
O_WORKERS = _O["workers_abroad"]
O_WORKERS_REST = _O["workers_restaurant"]
O_WORKERS_LAB = _O["workers_labour"]
O_OPEN = _O["restaurants_open"]
O_HIRES = _O["hires"]
O_ROTATIONS = _O["rotations_home"]
O_RECALLS = _O["recalls"]
O_OPENINGS = _O["restaurant_openings"]
O_CLOSURES = _O["restaurant_closures"]
O_CLOSURES_ATTEMPT = _O["closures_after_attempts"]
O_SURVEILLANCE = _O["surveillance_level"]
O_SCREENING = _O["screening_level"]
O_ATTEMPTS_REST = _O["attempts_restaurant"]
O_ATTEMPTS_LAB = _O["attempts_labour"]
O_DEFECTORS_REST = _O["restaurant_defectors"]
O_DEFECTORS_LAB = _O["labour_defectors"]
O_GROUPS_REST = _O["defection_groups_restaurant"]
O_GROUPS_LAB = _O["defection_groups_labour"]
O_MANAGER_LED = _O["manager_led_groups"]
O_FOILED = _O["foiled_at_site"]
O_STOPPED = _O["stopped_at_exit"]
O_CAUGHT = _O["caught_in_transit"]
O_ESC_LEGAL = _O["escapes_legal_route"]
O_ESC_CLANDESTINE = _O["escapes_clandestine_route"]
O_BROKER_FEES = _O["broker_fees_usd"]
O_ARRIVALS = _O["arrivals_south_korea"]
O_ARRIVALS_POSTINGS = _O["arrivals_from_postings"]
O_CROSSINGS = _O["border_crossings"]
O_HIDDEN = _O["hidden_in_china"]
O_ARRESTS_CHINA = _O["arrests_china"]
O_ARRESTS_HIDDEN = _O["arrests_hidden"]
O_INTERCEPTED = _O["brokered_intercepted"]
O_REPAT_CHINA = _O["repatriations_from_china"]
O_REPAT_OTHER = _O["repatriations_other_hosts"]
O_SEVERE = _O["repatriated_severe_punishment"]
O_DEPARTURES = _O["broker_departures"]
O_RETURNS = _O["returns_home"]
O_MISSILES = _O["missile_tests"]
O_NUCLEAR = _O["nuclear_tests"]
O_PROVOCATIONS = _O["provocations"]
O_RESOLUTIONS = _O["un_resolutions"]
O_ENVOYS = _O["envoys"]
O_RELATIONS = _O["relations_index"]
O_DISPLEASURE = _O["displeasure"]
O_ECONOMY = _O["economy_index"]
O_EXIT = _O["exit_strictness"]
O_STRINGENCY = _O["border_stringency"]
O_SANCTIONS = _O["china_sanctions"]
O_AID = _O["food_aid"]
O_ADVISORY = _O["travel_advisory"]
O_UN_WORKERS = _O["un_workers_level"]
O_TRADE_LOSS = _O["trade_loss"]
N_OUTCOMES = len(OUTCOME_NAMES)

DAYS_PER_MONTH = 30.4375  # as m01_revenue


# ----------------------------------------------------------------------------- helpers

#: parts of the day, in order, timed by the kernel's cycle counter (``section_cycles``)
SECTIONS: tuple[str, ...] = (
    "M9 Beijing's levers, tests, envoys, resolutions",
    "M2 demand, M1 accounts, M3 managers, M4 stress (site loop)",
    "M5 post transitions: flight thinning, rotations, recalls, hires",
    "M5-M8 plots, routes, capture, reaction",
    "M8 closures and openings, control relaxes",
    "M10 wider flow, M7 repatriation pipelines",
    "M9 economy index and Beijing's guards",
    "outcomes of the day, monthly sums",
)


def _read_cycle_counter(typingctx: Any) -> Any:
    """The CPU's time-stamp counter (LLVM ``readcyclecounter``): a few cycles to read."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        counter = cgutils.get_or_insert_function(
            builder.module, llvm_ir.FunctionType(llvm_ir.IntType(64), []), "llvm.readcyclecounter"
        )
        return builder.call(counter, [])

    return types.uint64(), codegen


_cycles: Any = intrinsic(_read_cycle_counter)


@njit(cache=True)
def cycle_counter() -> int:
    """The counter ``section_cycles`` is read from (to convert cycles to seconds)."""
    return _cycles()


@njit(cache=True, inline="always")
def _lap(section_cycles: np.ndarray, section: int, since: int) -> int:
    """Add the cycles since ``since`` to ``section``; return the counter now.

    An empty ``section_cycles`` turns profiling off: reading the counter costs
    some 25 cycles, about 2 % of a day at 2,600 workers for eight reads.
    """
    if section_cycles.shape[0] == 0:
        return since
    now = _cycles()
    section_cycles[section] += now - since
    return now


@njit(cache=True, inline="always")
def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


# one explicit signature: callers pass ints and bools of several widths, and
# each combination would otherwise compile (and cache) its own copy
_LOG_EVENT_SIGNATURE = (
    "Tuple((int64[:, ::1], float64[::1], int64))"
    "(int64[:, ::1], float64[::1], int64, " + ", ".join(["int64"] * EV_INT_COLUMNS) + ", float64)"
)


@njit(_LOG_EVENT_SIGNATURE, cache=True)
def _log_event(
    ev_int: np.ndarray,
    ev_value: np.ndarray,
    n: int,
    day: int,
    kind: int,
    site: int,
    sector: int,
    country: int,
    size: int,
    manager_led: int,
    helpers: int,
    route: int,
    outcome: int,
    arrival_day: int,
    value: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Append one event row, doubling the buffers when full."""
    if n == ev_int.shape[0]:
        grown_int = np.empty((2 * n, EV_INT_COLUMNS), dtype=np.int64)
        grown_int[:n] = ev_int
        grown_value = np.empty(2 * n)
        grown_value[:n] = ev_value
        ev_int, ev_value = grown_int, grown_value
    row = ev_int[n]
    row[0] = day
    row[1] = kind
    row[2] = site
    row[3] = sector
    row[4] = country
    row[5] = size
    row[6] = manager_led
    row[7] = helpers
    row[8] = route
    row[9] = outcome
    row[10] = arrival_day
    ev_value[n] = value
    return ev_int, ev_value, n + 1


@njit(cache=True, inline="always")
def _log_national(
    ev_int: np.ndarray,
    ev_value: np.ndarray,
    n: int,
    day: int,
    kind: int,
    size: int,
    outcome: int,
    value: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Log an event of no particular site (tests, envoys, resolutions, advisories, policy)."""
    return _log_event(ev_int, ev_value, n, day, kind, -1, 0, 0, size, 0, 0, 0, outcome, -1, value)


@njit(cache=True, inline="always")
def _log_site(
    ev_int: np.ndarray,
    ev_value: np.ndarray,
    n: int,
    day: int,
    kind: int,
    site: int,
    sector: int,
    country: int,
    outcome: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Log a closure or an opening of ``site`` (sector and country codes)."""
    return _log_event(
        ev_int, ev_value, n, day, kind, site, sector, country, 0, 0, 0, 0, outcome, -1, np.nan
    )


@njit(cache=True)
def alias_table(pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table of a delay distribution: O(1) draws instead of a search.

    Returns (keep, alias): a draw picks column i uniformly, keeps delay i + 1
    with probability keep[i], else takes delay alias[i] + 1 (Vose's method).
    """
    n = pmf.shape[0]
    scaled = pmf / pmf.sum() * n
    keep = np.ones(n)
    alias = np.arange(n)
    small = np.empty(n, dtype=np.int64)  # two stacks of column indices
    large = np.empty(n, dtype=np.int64)
    n_small = n_large = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[n_small] = i
            n_small += 1
        else:
            large[n_large] = i
            n_large += 1
    while n_small and n_large:
        n_small -= 1
        n_large -= 1
        lo, hi = small[n_small], large[n_large]
        keep[lo] = scaled[lo]
        alias[lo] = hi
        scaled[hi] -= 1.0 - scaled[lo]
        if scaled[hi] < 1.0:
            small[n_small] = hi
            n_small += 1
        else:
            large[n_large] = hi
            n_large += 1
    return keep, alias


@njit(cache=True)
def _schedule(
    g: Any, pipeline: np.ndarray, day: int, count: int, keep: np.ndarray, alias: np.ndarray
) -> None:
    """M7: spread ``count`` people over the days after ``day`` by the delay distribution.

    Each person's delay is drawn on its own from the alias table, which is the
    multinomial of ``m07.schedule`` drawn person by person; beyond the
    pipeline's end nobody is observed.
    """
    n = keep.shape[0]
    for _ in range(count):
        x = g.random() * n
        column = min(int(x), n - 1)
        index = column if x - column < keep[column] else alias[column]
        if day + index + 1 < pipeline.shape[0]:
            pipeline[day + index + 1] += 1


@njit(cache=True, inline="always")
def _skip_scale(p: float) -> float:
    """1 / log(1 - p), the constant of ``_skip`` for success probability 0 < p (0 if p >= 1)."""
    return 1.0 / np.log1p(-p) if p < 1.0 else 0.0


@njit(cache=True, inline="always")
def _skip(g: Any, scale: float) -> int:
    """Distance to the next success of an iid Bernoulli(p) sequence: geometric(p), >= 1.

    By inversion, 1 + floor(log(U) / log(1 - p)) with U uniform on (0, 1]:
    one uniform and one log, with log(1 - p) computed once per day
    (``_skip_scale``) instead of on every draw.
    """
    return 1 + int(np.log(1.0 - g.random()) * scale)


@njit(cache=True)
def _worker_stress(
    post: int,
    t: int,
    hire_day: np.ndarray,
    stress_at_hire: np.ndarray,
    site_stress_now: float,
    decay: np.ndarray,
) -> float:
    """M4 closed form: site average now minus the decayed average at hiring."""
    return site_stress_now - decay[t - hire_day[post]] * stress_at_hire[post]


@njit(cache=True)
def _choose_route(
    g: Any,
    p: Any,
    manager_led: bool,
    is_restaurant: bool,
    country: int,
    exit_strictness: float,
    stringency: float,
) -> tuple[int, bool, bool, int]:
    """M6 route, helpers, capture and delay of an undetected group (``m06.choose_route``)."""
    d, rt = p.defection, p.routes
    u_helpers = g.random()
    u_passport = g.random()
    u_caught = g.random()
    helpers = u_helpers < (d.helper_restaurant if is_restaurant else d.helper_labour)
    documents = manager_led or (helpers and u_passport < rt.passport_reclaim_with_helper)
    if documents:
        if country == 0:
            stop = exit_strictness
        elif country == 1:
            stop = rt.russia_exit_strictness
        else:
            stop = rt.other_exit_strictness
        delay = 1 + int(g.exponential(max(rt.legal_delay_days, 1e-9)))
        return R_LEGAL, helpers, u_caught < stop, delay
    if country == 0:
        catch = rt.clandestine_interception_per_transit * stringency
    elif country == 1:
        catch = rt.russia_interception
    else:
        catch = rt.other_interception
    if helpers:
        catch *= 0.5
    transit = g.gamma(4.0, rt.clandestine_transit_days / 4.0)
    processing = g.exponential(max(rt.clandestine_processing_days, 1e-9))
    return R_CLANDESTINE, helpers, u_caught < catch, 1 + int(transit + processing)


# ----------------------------------------------------------------------------- the kernel


@njit(cache=True)
def run_replicate(  # noqa: C901, PLR0912, PLR0913, PLR0915 - one day loop, in step's order
    g: Any,
    params: np.ndarray,
    lever_days: np.ndarray,
    forced_nuclear: np.ndarray,
    forced_missile: np.ndarray,
    forced_resolution: np.ndarray,
    endogenous_from: int,
    month_index: np.ndarray,
    kind_stock: np.ndarray,
    # layout
    n_restaurants: int,
    site_is_restaurant: np.ndarray,
    site_country: np.ndarray,
    site_posts: np.ndarray,
    site_offset: np.ndarray,
    site_start: np.ndarray,
    post_site: np.ndarray,
    flight_bounds: np.ndarray,
    transit_keep: np.ndarray,
    transit_alias: np.ndarray,
    detention_keep: np.ndarray,
    detention_alias: np.ndarray,
    # this replicate's state, updated in place
    in_post: np.ndarray,
    hire_day: np.ndarray,
    stress_at_hire: np.ndarray,
    loyalty: np.ndarray,
    log_base: np.ndarray,
    staff: np.ndarray,
    site_stress: np.ndarray,
    site_open: np.ndarray,
    reopen_day: np.ndarray,
    pay_level: np.ndarray,
    hours: np.ndarray,
    reserve: np.ndarray,
    arrears: np.ndarray,
    margin: np.ndarray,
    demand_noise: np.ndarray,
    site_watch: np.ndarray,
    un_levels: np.ndarray,
    arrivals_workers: np.ndarray,
    arrivals_wider: np.ndarray,
    repatriations_china: np.ndarray,
    repatriations_other: np.ndarray,
    scalars: np.ndarray,
    counters: np.ndarray,
    monthly: np.ndarray,
    section_cycles: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one replicate over every day of ``lever_days``; return its events.

    ``scalars`` holds the network-wide state (see ``SCALAR_NAMES``) and
    ``counters`` the ledger (see ``COUNTER_NAMES``); both are updated in
    place.  ``monthly`` (outcomes x months) receives flows and means summed
    by month and stocks on the month's last day; ``section_cycles`` adds the
    CPU cycles spent in each part of the day (``SECTIONS``).
    """
    p = params[0]
    rp = p.restaurants
    lp = p.labour
    dp = p.demand
    wp = p.workers
    d = p.defection
    rt = p.routes
    en = p.enforcement
    rg = p.regime
    sp = p.strategic
    wf = p.wider_flow
    pop = p.population

    n_days = lever_days.shape[0]
    n_sites = site_posts.shape[0]
    n_posts = post_site.shape[0]
    n_rest_posts = 0
    for s in range(n_restaurants):
        n_rest_posts += site_posts[s]

    labour_scale = scalars[0]
    demand_dip = scalars[1]
    control = scalars[2]
    screening = scalars[3]
    displeasure = scalars[4]
    conciliation_left = scalars[5]
    advisory = scalars[6]
    economy = scalars[7]
    remit_ema = scalars[8]
    remit_ref = scalars[9]
    resolution_day = int(scalars[10])
    crossing_ema = scalars[11]
    laxity_on = scalars[12] > 0.5
    collapse_guard = scalars[13] > 0.5
    exodus_guard = scalars[14] > 0.5
    hidden = int(scalars[15])
    hired_total = int(counters[0])
    exits_escaped = int(counters[1])
    exits_caught = int(counters[2])
    exits_recalled = int(counters[3])
    exits_other = int(counters[4])

    # constants of the run
    a_stress = 1.0 / wp.stress_days
    decay = np.exp(np.arange(n_days + 1) * np.log1p(-a_stress))  # (1 - a)^elapsed, M4
    hours_span = max(rp.hours_max - 1.0, 1e-9)
    rho = np.exp(-1.0 / dp.noise_days)
    innovation_sd = dp.noise_sd * np.sqrt(1.0 - rho * rho)
    noise_mean_shift = 0.5 * dp.noise_sd**2
    share_public = max(0.0, 1.0 - dp.share_south_korean - dp.share_officials)
    capacity_total = pop.labour_sites_max * pop.labour_site_capacity
    control_decay = np.exp(-1.0 / rg.control_relax_days)
    displeasure_decay = np.exp(-1.0 / sp.displeasure_days)
    advisory_decay = np.exp(-1.0 / sp.advisory_days)
    dip_decay = np.exp(-1.0 / dp.provocation_recovery_days)
    p_return = 1.0 - np.exp(-wf.return_rate_per_year / 365.0)
    p_recall = 1.0 / 90.0  # M5: a held post above its site's wanted headcount
    recall_scale = _skip_scale(p_recall)
    flight_scales = np.array([_skip_scale(b) if b > 0.0 else 0.0 for b in flight_bounds])
    scales_closure = np.nan  # the closure lever the rotation and hiring scales were set for
    p_end = p_hire = end_scale = hire_scale = 0.0

    # scratch, per site and per post
    surveillance = np.empty(n_sites)
    wanted = np.empty(n_sites, dtype=np.int64)
    manager_pressure = np.empty(n_sites)
    arrears_idx = np.empty(n_sites)
    remittance = np.empty(n_sites)
    manager_start = np.zeros(n_sites, dtype=np.bool_)
    closing = np.zeros(n_sites, dtype=np.bool_)
    plot_site = np.zeros(n_sites, dtype=np.bool_)
    mark = np.zeros(n_posts, dtype=np.int8)  # 1 initiator, 2 rotation, 3 recall
    out = np.zeros(N_OUTCOMES)
    initiators = np.empty(16, dtype=np.int64)
    ends = np.empty(16, dtype=np.int64)
    recalled = np.empty(16, dtype=np.int64)
    hires = np.empty(16, dtype=np.int64)
    members = np.empty(16, dtype=np.int64)
    ev_int = np.empty((64, EV_INT_COLUMNS), dtype=np.int64)
    ev_value = np.empty(64)
    n_ev = 0

    for t in range(n_days):
        c0 = _cycles() if section_cycles.shape[0] else 0
        lev = lever_days[t]
        endogenous = t >= endogenous_from
        month_end = t == n_days - 1 or month_index[t + 1] != month_index[t]
        closure = lev[L_BORDER_CLOSURE]

        # ---- M9 Beijing's effective levers (m09.beijing_policy)
        discretion = lev[L_DISCRETION]
        lax = 1.0 if displeasure > sp.laxity_threshold else 0.0
        exit_eff = lev[L_EXIT] * (1.0 - discretion * sp.laxity_depth * lax)
        sanctions = _clip(
            lev[L_SANCTIONS] + discretion * sp.sanctions_response * displeasure, 0.0, 1.0
        )
        conciliating = 1.0 if conciliation_left > 0 else 0.0
        aid = lev[L_FOOD_AID] + discretion * sp.aid_response * conciliating
        if collapse_guard:
            sanctions = min(lev[L_SANCTIONS], 1.0)
        aid = _clip(aid + discretion * sp.aid_response * (1.0 if collapse_guard else 0.0), 0.0, 1.0)
        stringency = 1.0 if exodus_guard else lev[L_STRINGENCY]
        signal = _clip(lev[L_SIGNAL] + discretion * (conciliating - lax), -1.0, 1.0)
        un0 = max(un_levels[0], lev[L_UN_FIRST])
        un1 = max(un_levels[1], lev[L_UN_FIRST + 1])
        un3 = max(un_levels[3], lev[L_UN_FIRST + 3])
        un4 = max(un_levels[4], lev[L_UN_FIRST + 4])
        advisory_eff = max(advisory, lev[L_ADVISORY])
        pressure = sanctions + 0.5 * max(-signal, 0.0)
        un_workers = un0 * lev[L_UN_COMPLIANCE]

        # ---- M9 tests, envoys, resolutions, advisories (m09.step_strategic)
        squeeze = max(0.0, 1.0 - economy)
        log_mult = (
            -sp.beta_pressure * pressure
            - sp.beta_aid * aid
            + sp.beta_squeeze * squeeze
            + sp.beta_drive * lev[L_WEAPONS_DRIVE]
        )
        mult = np.exp(log_mult) * ((1.0 - sp.conciliation_effect) if conciliation_left > 0 else 1.0)
        missile_rate = sp.missile_rate_per_year / 365.0 * mult
        nuclear_rate = sp.nuclear_rate_per_year / 365.0 * mult
        missiles = (g.poisson(missile_rate) if missile_rate > 0 else 0) + forced_missile[t]
        # uniforms are drawn only where they decide something (m09 draws all five daily)
        nuclear = forced_nuclear[t] + (1 if endogenous and g.random() < nuclear_rate else 0)
        envoys = 0
        resolutions = 0
        if conciliation_left <= 0 and g.random() < 1.0 - np.exp(
            -sp.envoy_rate_per_year / 365.0 * _clip(pressure, 0.0, 1.0)
        ):
            envoys = 1
            conciliation_left = sp.conciliation_days
            ev_int, ev_value, n_ev = _log_national(
                ev_int, ev_value, n_ev, t, K_ENVOY, 0, 0, pressure
            )
        if nuclear > 0:
            ev_int, ev_value, n_ev = _log_national(
                ev_int,
                ev_value,
                n_ev,
                t,
                K_NUCLEAR,
                nuclear,
                E_FORCED if forced_nuclear[t] else E_ENDOGENOUS,
                np.nan,
            )
            if endogenous and resolution_day < 0 and g.random() < sp.un_resolution_prob:
                resolution_day = t + 1 + int(g.exponential(max(sp.un_delay_days, 1e-9)))
            if endogenous and g.random() < sp.advisory_prob:
                advisory = 1.0
                ev_int, ev_value, n_ev = _log_national(
                    ev_int, ev_value, n_ev, t, K_ADVISORY, 0, 0, 1.0
                )
        if missiles > 0:
            ev_int, ev_value, n_ev = _log_national(
                ev_int,
                ev_value,
                n_ev,
                t,
                K_MISSILE,
                missiles,
                E_FORCED if forced_missile[t] else E_ENDOGENOUS,
                np.nan,
            )
        if resolution_day == t:
            for k in range(5):
                un_levels[k] = min(un_levels[k] + sp.un_step, 1.0)
            resolution_day = -1
            resolutions += 1
            ev_int, ev_value, n_ev = _log_national(
                ev_int, ev_value, n_ev, t, K_RESOLUTION, 0, E_ENDOGENOUS, un_levels.mean()
            )
        forced_floor = False
        for k in range(5):
            if not np.isnan(forced_resolution[t, k]):
                forced_floor = True
        if forced_floor:
            for k in range(5):
                floor = forced_resolution[t, k]
                if not np.isnan(floor):
                    un_levels[k] = max(un_levels[k], floor)
                else:
                    un_levels[k] = max(un_levels[k], 0.0)
            resolutions += 1
            ev_int, ev_value, n_ev = _log_national(
                ev_int, ev_value, n_ev, t, K_RESOLUTION, 0, E_FORCED, un_levels.mean()
            )
        displeasure = (
            displeasure * displeasure_decay
            + sp.displeasure_nuclear * nuclear
            + sp.displeasure_missile * missiles
        )
        conciliation_left = max(conciliation_left - 1, 0.0)
        advisory = max(advisory * advisory_decay, lev[L_ADVISORY])

        c0 = _lap(section_cycles, 0, c0)
        # ---- M2 demand (m02.step_demand)
        demand_dip = 1.0 - (1.0 - demand_dip * dip_decay) * (
            1.0 - dp.provocation_loss * min(nuclear, 1)
        )
        segment = (
            (1.0 - dp.share_south_korean * dp.advisory_compliance * advisory_eff)
            * (1.0 - dp.share_officials * dp.anti_extravagance_loss * lev[L_ANTI_EXTRAVAGANCE])
            * (1.0 - share_public * dp.sanctions_loss * sanctions)
            * (1.0 - demand_dip)
        )
        for s in range(n_restaurants):
            demand_noise[s] = rho * demand_noise[s] + innovation_sd * g.standard_normal()

        # ---- M1 accounts, M3 manager, M4 site stress and surveillance, M1 wanted headcount
        labour_rate = lp.dispatch_growth_per_year / 365.0
        if un_workers >= 0.9:
            labour_rate = -1.0 / 365.0
        elif un_workers >= 0.3:
            labour_rate = 0.0
        labour_scale = labour_scale * np.exp(labour_rate * (1.0 - closure))
        fill = _clip(pop.labour_workers_initial * labour_scale / max(capacity_total, 1.0), 0.0, 1.0)
        manager_rate = d.manager_hazard_per_year / 365.0
        adjust = 1.0 / rp.adjustment_days
        rest_sales = rest_costs = rest_wages = rest_retained = rest_remit = 0.0
        lab_fees = lab_costs = lab_wages = lab_retained = lab_remit = 0.0
        for s in range(n_sites):
            is_rest = site_is_restaurant[s]
            n_staff = staff[s]
            sales = costs = full_wages = quota = 0.0
            if site_open[s]:
                if is_rest:
                    staffing = min(1.0, n_staff / max(site_posts[s], 1))
                    demand = segment * np.exp(demand_noise[s] - noise_mean_shift)
                    sales = (
                        rp.gross_sales_per_day
                        * demand
                        * (1.0 + rp.sales_hours_elasticity * (hours[s] - 1.0))
                        * np.sqrt(staffing)
                    )
                    costs = rp.variable_cost_share * sales + rp.fixed_cost_per_day
                    full_wages = rp.base_pay_per_month / DAYS_PER_MONTH * n_staff
                    quota = lev[L_QUOTA] / 365.0
                else:
                    sales = lp.contract_fee_per_month / DAYS_PER_MONTH * n_staff
                    costs = lp.living_cost_per_month / DAYS_PER_MONTH * n_staff
                    full_wages = lp.pay_per_month / DAYS_PER_MONTH * n_staff
                    quota = lev[L_QUOTA_SHARE] * sales
            wages = full_wages * pay_level[s]
            due = quota + arrears[s]
            cash = reserve[s] + sales - costs - wages
            remit = _clip(cash, 0.0, due)
            cash -= remit
            surplus = max(cash - rp.reserve_cap_days * quota, 0.0)
            remit += surplus
            cash -= surplus
            owed = max(due - remit, 0.0) if site_open[s] else 0.0
            retained = cash - reserve[s]
            reserve[s] = cash
            arrears[s] = owed
            remittance[s] = remit
            if is_rest:
                rest_sales += sales
                rest_costs += costs
                rest_wages += wages
                rest_retained += retained
                rest_remit += remit
            else:
                lab_fees += sales
                lab_costs += costs
                lab_wages += wages
                lab_retained += retained
                lab_remit += remit
            # M3: pay and hours follow the margin at full pay
            margin[s] += adjust * (sales - costs - full_wages - quota - margin[s])
            gap = max(-margin[s], 0.0) + owed / 90.0
            relative_gap = _clip(gap / max(full_wages, 1e-9), 0.0, 1.0) if full_wages > 0 else 0.0
            pay_level[s] += adjust * ((1.0 - relative_gap) - pay_level[s])
            hours[s] += adjust * ((1.0 + (rp.hours_max - 1.0) * relative_gap) - hours[s])
            arrears_idx[s] = _clip(owed / max(90.0 * quota, 1e-9), 0.0, 1.0)
            # M4: site pressure and its exponential average
            site_pressure = (
                wp.stress_weight_pay * (1.0 - pay_level[s])
                + wp.stress_weight_hours * (hours[s] - 1.0) / hours_span
                + wp.stress_weight_arrears * arrears_idx[s]
            )
            site_stress[s] = (1.0 - a_stress) * site_stress[s] + a_stress * site_pressure
            base_watch = wp.restaurant_surveillance if is_rest else wp.labour_surveillance
            surveillance[s] = _clip(base_watch + control + site_watch[s], 0.0, 1.0)
            if is_rest:
                wanted[s] = site_posts[s]
            else:
                wanted[s] = min(int(np.floor(fill * site_posts[s] + site_offset[s])), site_posts[s])
            # M5 manager pressure and initiation
            manager_pressure[s] = _clip(max(arrears_idx[s], 1.0 - pay_level[s]), 0.0, 1.0)
            p_manager = manager_rate * manager_pressure[s] if site_open[s] else 0.0
            manager_start[s] = p_manager > 0 and g.random() < p_manager

        c0 = _lap(section_cycles, 1, c0)
        # ---- M5 post transitions (m05.post_transitions): thinning and geometric skips
        if closure != scales_closure:  # the rates move only with the border closure lever
            scales_closure = closure
            p_end = (1.0 / (lp.contract_years * 365.0)) * (1.0 - closure)
            p_hire = (1.0 / lp.hiring_days) * (1.0 - closure)
            end_scale = _skip_scale(p_end) if p_end > 0.0 else 0.0
            hire_scale = _skip_scale(p_hire) if p_hire > 0.0 else 0.0
        labour_ban = un_workers >= 0.6
        n_init = 0
        for sector in range(2):
            lo = 0 if sector == 0 else n_rest_posts
            hi = n_rest_posts if sector == 0 else n_posts
            bound = flight_bounds[sector]
            if bound <= 0.0 or hi <= lo:
                continue
            bound_scale = flight_scales[sector]
            post = lo - 1
            while True:
                post += _skip(g, bound_scale)
                if post >= hi:
                    break
                if not in_post[post]:
                    continue
                s = post_site[post]
                accept_u = g.random()
                log_h = (
                    log_base[post]
                    + d.beta_stress
                    * _worker_stress(post, t, hire_day, stress_at_hire, site_stress[s], decay)
                    - d.beta_surveillance * surveillance[s]
                )
                p_flight = min(np.exp(log_h), 0.5)
                if accept_u < p_flight / bound:
                    if n_init == initiators.shape[0]:
                        initiators = np.concatenate((initiators, np.empty_like(initiators)))
                    initiators[n_init] = post
                    n_init += 1
                    mark[post] = 1
        n_end = 0
        if p_end > 0.0:
            post = -1
            while True:
                post += _skip(g, end_scale)
                if post >= n_posts:
                    break
                if in_post[post] and mark[post] == 0:
                    if n_end == ends.shape[0]:
                        ends = np.concatenate((ends, np.empty_like(ends)))
                    ends[n_end] = post
                    n_end += 1
                    mark[post] = 2
        # Recalls and hires are Bernoulli per post and day, but only some posts can
        # be recalled (held, ranked at or above the site's wanted headcount: labour
        # sites only; shut sites hold nobody) or hired into (vacant, below it, at an
        # open site).  Skipping runs through those ranges only, carrying the gap
        # to the next success from one range to the next (the geometric gaps are
        # memoryless), so the draws are the same in law as over all posts.
        n_recall = 0
        gap = _skip(g, recall_scale) - 1
        for s in range(n_restaurants, n_sites):
            end = site_start[s] + site_posts[s]
            post = site_start[s] + wanted[s] + gap
            while post < end:
                if in_post[post] and mark[post] == 0:
                    if n_recall == recalled.shape[0]:
                        recalled = np.concatenate((recalled, np.empty_like(recalled)))
                    recalled[n_recall] = post
                    n_recall += 1
                    mark[post] = 3
                post += _skip(g, recall_scale)
            gap = post - end
        n_hire = 0
        if p_hire > 0.0:
            gap = _skip(g, hire_scale) - 1
            # a labour ban (UN worker provisions) stops new postings to labour sites
            for s in range(n_restaurants if labour_ban else n_sites):
                if not site_open[s]:
                    continue
                end = site_start[s] + wanted[s]
                post = site_start[s] + gap
                while post < end:
                    if not in_post[post]:
                        if n_hire == hires.shape[0]:
                            hires = np.concatenate((hires, np.empty_like(hires)))
                        hires[n_hire] = post
                        n_hire += 1
                    post += _skip(g, hire_scale)
                gap = post - end
        for i in range(n_end):
            post = ends[i]
            in_post[post] = False
            staff[post_site[post]] -= 1
            mark[post] = 0
        for i in range(n_recall):
            post = recalled[i]
            in_post[post] = False
            staff[post_site[post]] -= 1
            mark[post] = 0
        # M4 recruits (state.recruit_traits): screened loyalty and family deterrent
        for i in range(n_hire):
            post = hires[i]
            s = post_site[post]
            is_rest = site_is_restaurant[s]
            mean = (
                (wp.restaurant_loyalty_mean if is_rest else wp.labour_loyalty_mean)
                + 0.2 * lev[L_SCREENING]
                + screening
            )
            new_loyalty = _clip(mean + wp.loyalty_sd * g.standard_normal(), 0.0, 1.0)
            family = _clip(wp.family_deterrent_mean + 0.25 * (g.random() - 0.5) * 2.0, 0.0, 1.0)
            base = (d.restaurant_hazard_per_year if is_rest else d.labour_hazard_per_year) / 365.0
            loyalty[post] = new_loyalty
            log_base[post] = (
                np.log(max(base, 1e-30)) - d.beta_loyalty * new_loyalty - d.beta_family * family
            )
            hire_day[post] = t
            stress_at_hire[post] = site_stress[s]
            in_post[post] = True
            staff[s] += 1
        exits_other += n_end
        hired_total += n_hire
        recalls_today = n_recall

        c0 = _lap(section_cycles, 2, c0)
        # ---- M5 plots -> M6 routes -> M7 capture -> M8 reaction
        attempts_rest = attempts_lab = defectors_rest = defectors_lab = 0
        groups_rest = groups_lab = 0
        manager_led_groups = 0
        foiled = stopped = caught_transit = esc_legal = esc_clandestine = 0
        broker_fees = 0.0
        closures_attempt = 0
        worker_arrests_china = 0
        any_plot = n_init > 0
        for i in range(n_init):
            plot_site[post_site[initiators[i]]] = True
        for s in range(n_sites):
            if manager_start[s]:
                plot_site[s] = True
                any_plot = True
        if any_plot:
            for s in range(n_sites):
                if not plot_site[s]:
                    continue
                plot_site[s] = False
                if not site_open[s]:
                    continue
                is_rest = site_is_restaurant[s]
                sector_code = 1 if is_rest else 2
                country = site_country[s]
                first, last = site_start[s], site_start[s] + site_posts[s]
                n_members = 0
                for i in range(n_init):
                    post = initiators[i]
                    if post_site[post] == s and in_post[post]:
                        if n_members == members.shape[0]:
                            members = np.concatenate((members, np.empty_like(members)))
                        members[n_members] = post
                        n_members += 1
                if n_members == 0 and not manager_start[s]:
                    continue
                # m05.form_plot
                manager_led = manager_start[s] or (
                    g.random() < d.manager_join * manager_pressure[s]
                )
                for post in range(first, last):
                    if not in_post[post] or mark[post] == 1:
                        continue
                    if manager_led:
                        p_join = d.manager_follow * (1.0 - 0.5 * loyalty[post])
                    else:
                        stress = _worker_stress(
                            post, t, hire_day, stress_at_hire, site_stress[s], decay
                        )
                        p_join = d.contagion * _clip(stress, 0.0, 1.0)
                    if g.random() < p_join:
                        if n_members == members.shape[0]:
                            members = np.concatenate((members, np.empty_like(members)))
                        members[n_members] = post
                        n_members += 1
                extra = max(n_members + (1 if manager_led else 0) - 1, 0)
                p_each = d.detection_per_member * surveillance[s] * (0.5 if manager_led else 1.0)
                detected = g.random() < 1.0 - (1.0 - p_each) ** extra
                size = n_members + (1 if manager_led else 0)
                for i in range(n_members):
                    post = members[i]
                    in_post[post] = False
                    staff[s] -= 1
                if is_rest:
                    attempts_rest += size
                    groups_rest += 1
                else:
                    attempts_lab += size
                    groups_lab += 1
                manager_led_groups += 1 if manager_led else 0
                helpers = False
                arrival = -1
                if detected:
                    exits_caught += n_members
                    foiled += size
                    route = R_NONE
                    outcome = E_FOILED
                    escaped = False
                else:
                    route, helpers, caught, delay = _choose_route(
                        g, p, manager_led, is_rest, country, exit_eff, stringency
                    )
                    escaped = not caught
                    if escaped:
                        exits_escaped += n_members
                        if is_rest:
                            defectors_rest += size
                        else:
                            defectors_lab += size
                        if route == R_LEGAL:
                            esc_legal += size
                        else:
                            esc_clandestine += size
                        arrival = t + delay
                        if arrival < arrivals_workers.shape[0]:
                            arrivals_workers[arrival] += size
                        outcome = E_ESCAPED
                    else:
                        exits_caught += n_members
                        if route == R_LEGAL:
                            outcome = E_STOPPED
                            stopped += size
                        else:
                            outcome = E_CAUGHT
                            caught_transit += size
                        if country == 0:
                            worker_arrests_china += size
                            _schedule(
                                g, repatriations_china, t, size, detention_keep, detention_alias
                            )
                        else:
                            _schedule(
                                g, repatriations_other, t, size, detention_keep, detention_alias
                            )
                    if route == R_CLANDESTINE:
                        broker_fees += size * rt.broker_cost_usd
                ev_int, ev_value, n_ev = _log_event(
                    ev_int,
                    ev_value,
                    n_ev,
                    t,
                    K_GROUP,
                    s,
                    sector_code,
                    country + 1,
                    size,
                    1 if manager_led else 0,
                    1 if helpers else 0,
                    route,
                    outcome,
                    arrival,
                    np.nan,
                )
                # m08.after_attempt: control tightens network-wide; the site may be shut
                control = min(control + rg.surveillance_jump, 1.0)
                screening = min(screening + rg.screening_jump, 1.0)
                site_watch[s] = min(site_watch[s] + rg.surveillance_jump, 1.0)
                p_close = rg.closure_after_escape if escaped else rg.closure_after_attempt
                if g.random() < p_close:
                    closing[s] = True
                    closures_attempt += 1
                    ev_int, ev_value, n_ev = _log_site(
                        ev_int,
                        ev_value,
                        n_ev,
                        t,
                        K_CLOSURE,
                        s,
                        sector_code,
                        country + 1,
                        E_AFTER_ATTEMPT,
                    )
        for i in range(n_init):
            mark[initiators[i]] = 0

        c0 = _lap(section_cycles, 3, c0)
        # ---- M8 closures for chronic arrears, then shut sites, then openings
        failure_rate = rp.failure_closure_rate_per_year / 365.0
        any_closing = closures_attempt > 0
        for s in range(n_restaurants):
            if not site_open[s] or closing[s]:
                continue
            p_fail = failure_rate * arrears_idx[s] ** 2
            if p_fail > 0 and g.random() < p_fail:
                closing[s] = True
                any_closing = True
                ev_int, ev_value, n_ev = _log_site(
                    ev_int, ev_value, n_ev, t, K_CLOSURE, s, 1, site_country[s] + 1, E_ARREARS
                )
        seized_rest = seized_lab = 0.0
        closures_rest = 0
        if any_closing:
            for s in range(n_sites):
                if not closing[s]:
                    continue
                closing[s] = False
                for post in range(site_start[s], site_start[s] + site_posts[s]):
                    if in_post[post]:
                        recalls_today += 1
                        in_post[post] = False
                staff[s] = 0
                if site_is_restaurant[s]:
                    seized_rest += reserve[s]
                    closures_rest += 1
                else:
                    seized_lab += reserve[s]
                reserve[s] = 0.0
                arrears[s] = 0.0
                margin[s] = 0.0
                pay_level[s] = 1.0
                hours[s] = 1.0
                site_open[s] = False
                reopen_day[s] = t + int(rg.reopen_delay_days)
        exits_recalled += recalls_today
        slowdown = max(sanctions, un_workers)
        opening_rate = rp.opening_rate_per_year / 365.0 * _clip(1.0 - slowdown, 0.0, 1.0)
        n_new = g.poisson(opening_rate) if opening_rate > 0 else 0
        openings = 0
        if n_new > 0:
            n_eligible = 0
            for s in range(n_restaurants):
                if not site_open[s] and reopen_day[s] <= t:
                    n_eligible += 1
            # uniform choice without replacement among eligible sites (m08.openings)
            for _ in range(min(n_new, n_eligible)):
                pick = g.integers(0, n_eligible)
                for s in range(n_restaurants):
                    if not site_open[s] and reopen_day[s] <= t:
                        if pick == 0:
                            site_open[s] = True
                            reserve[s] = 0.0
                            openings += 1
                            n_eligible -= 1
                            ev_int, ev_value, n_ev = _log_site(
                                ev_int, ev_value, n_ev, t, K_OPENING, s, 1, site_country[s] + 1, 0
                            )
                            break
                        pick -= 1
        # m08.relax_control
        control *= control_decay
        screening *= control_decay
        for s in range(n_sites):
            site_watch[s] *= control_decay

        c0 = _lap(section_cycles, 4, c0)
        # ---- M10 wider flow (m10.step_wider_flow) and M7 repatriations
        rate = (
            wf.crossing_rate_per_year
            / 365.0
            * np.exp(wf.beta_economy * squeeze - wf.beta_aid * aid)
            * (1.0 - wf.nk_border_effect * lev[L_NK_BORDER])
            * (1.0 - closure)
        )
        broker_rate = (
            wf.broker_rate_per_year
            * lev[L_BROKER_ACCESS]
            * (1.0 - wf.broker_border_effect * lev[L_NK_BORDER])
        )
        p_arrest = 1.0 - np.exp(-en.arrest_rate_per_year * stringency / 365.0)
        p_depart = (1.0 - np.exp(-broker_rate / 365.0)) * (1.0 - closure)
        p_caught = _clip(wf.transit_interception * stringency, 0.0, 1.0)
        crossings = g.poisson(rate) if rate > 0 else 0
        arrests = g.binomial(hidden, p_arrest) if hidden > 0 and p_arrest > 0 else 0
        rest = hidden - arrests
        departures = g.binomial(rest, p_depart) if rest > 0 and p_depart > 0 else 0
        staying = rest - departures
        returns = g.binomial(staying, p_return) if staying > 0 and p_return > 0 else 0
        intercepted = g.binomial(departures, p_caught) if departures > 0 and p_caught > 0 else 0
        hidden = hidden + crossings - arrests - departures - returns
        _schedule(g, repatriations_china, t, arrests + intercepted, detention_keep, detention_alias)
        _schedule(g, arrivals_wider, t, departures - intercepted, transit_keep, transit_alias)
        if closure >= 0.5:
            # M7: with the border shut to people, detainees wait for the reopening
            repatriations_china[t + 1] += repatriations_china[t]
            repatriations_china[t] = 0
            repatriations_other[t + 1] += repatriations_other[t]
            repatriations_other[t] = 0
        repatriated_china = repatriations_china[t]
        severe = (
            g.binomial(repatriated_china, en.share_severe_punishment)
            if repatriated_china > 0
            else 0
        )
        arrivals_postings = arrivals_workers[t]
        revenue = rest_remit + seized_rest + lab_remit + seized_lab

        c0 = _lap(section_cycles, 5, c0)
        # ---- M9 economy index, Beijing's guards, relations (m09.update_economy_and_guards)
        if np.isnan(remit_ema):
            remit_ema = revenue
            remit_ref = max(revenue, 1e-9)
            crossing_ema = crossings * 365.0
        else:
            remit_ema += (revenue - remit_ema) / 90.0
            crossing_ema += (crossings * 365.0 - crossing_ema) / 90.0
        trade_loss = _clip(
            un1 * sp.trade_loss_coal
            + un4 * sp.trade_loss_textiles
            + un3 * sp.trade_loss_seafood
            + sanctions * sp.trade_loss_china_sanctions,
            0.0,
            1.0,
        )
        economy = (
            1.0
            + sp.economy_weight_overseas * (remit_ema / remit_ref - 1.0)
            - sp.economy_weight_trade * trade_loss
            + 0.05 * aid
        )
        discretion_on = discretion > 0
        new_laxity = displeasure > sp.laxity_threshold and discretion_on
        new_collapse = economy < sp.collapse_threshold and discretion_on
        new_exodus = crossing_ema > sp.exodus_threshold_per_year and discretion_on
        if new_laxity != laxity_on:
            ev_int, ev_value, n_ev = _log_national(
                ev_int, ev_value, n_ev, t, K_POLICY, 0, E_LAXITY, 1.0 if new_laxity else 0.0
            )
        if new_collapse != collapse_guard:
            ev_int, ev_value, n_ev = _log_national(
                ev_int, ev_value, n_ev, t, K_POLICY, 0, E_COLLAPSE, 1.0 if new_collapse else 0.0
            )
        if new_exodus != exodus_guard:
            ev_int, ev_value, n_ev = _log_national(
                ev_int, ev_value, n_ev, t, K_POLICY, 0, E_EXODUS, 1.0 if new_exodus else 0.0
            )
        laxity_on, collapse_guard, exodus_guard = new_laxity, new_collapse, new_exodus
        relations = np.tanh(
            aid + max(signal, 0.0) - sanctions - displeasure / max(sp.laxity_threshold, 1e-9) + 0.5
        )

        c0 = _lap(section_cycles, 6, c0)
        # ---- stocks after the day, and the day's outcomes
        staff_rest = staff_lab = 0
        pay_sum = hours_sum = weight_sum = 0.0
        suspended = 0
        open_rest = 0
        for s in range(n_sites):
            if site_is_restaurant[s]:
                staff_rest += staff[s]
                if site_open[s]:
                    open_rest += 1
                    pay_sum += staff[s] * pay_level[s]
                    hours_sum += staff[s] * hours[s]
                    weight_sum += staff[s]
                    if pay_level[s] < 0.05:
                        suspended += 1
            else:
                staff_lab += staff[s]
        weight_sum = max(weight_sum, 1e-9)
        stress_rest = stress_lab = 0.0
        if month_end:  # stocks keep only the month's last day (m04.mean_stress)
            for sector in range(2):
                lo = 0 if sector == 0 else n_rest_posts
                hi = n_rest_posts if sector == 0 else n_posts
                total = 0.0
                held = 0
                for post in range(lo, hi):
                    if in_post[post]:
                        total += _worker_stress(
                            post, t, hire_day, stress_at_hire, site_stress[post_site[post]], decay
                        )
                        held += 1
                mean_stress = total / held if held else 0.0
                if sector == 0:
                    stress_rest = mean_stress
                else:
                    stress_lab = mean_stress

        out[O_REVENUE] = revenue
        out[O_REMIT_REST] = rest_remit + seized_rest
        out[O_REMIT_LAB] = lab_remit + seized_lab
        out[O_REST_SALES] = rest_sales
        out[O_REST_COSTS] = rest_costs
        out[O_REST_WAGES] = rest_wages
        out[O_REST_RETAINED] = rest_retained - seized_rest
        out[O_LAB_FEES] = lab_fees
        out[O_LAB_COSTS] = lab_costs
        out[O_LAB_WAGES] = lab_wages
        out[O_LAB_RETAINED] = lab_retained - seized_lab
        # arrears of sites shut today were written off with them
        out[O_ARREARS] = 0.0
        for s in range(n_restaurants):
            out[O_ARREARS] += arrears[s]
        out[O_PAY] = pay_sum / weight_sum
        out[O_HOURS] = hours_sum / weight_sum
        out[O_SUSPENDED] = suspended
        out[O_STRESS_REST] = stress_rest
        out[O_STRESS_LAB] = stress_lab
        out[O_WORKERS] = staff_rest + staff_lab
        out[O_WORKERS_REST] = staff_rest
        out[O_WORKERS_LAB] = staff_lab
        out[O_OPEN] = open_rest
        out[O_HIRES] = n_hire
        out[O_ROTATIONS] = n_end
        out[O_RECALLS] = recalls_today
        out[O_OPENINGS] = openings
        out[O_CLOSURES] = closures_rest
        out[O_CLOSURES_ATTEMPT] = closures_attempt
        out[O_SURVEILLANCE] = control
        out[O_SCREENING] = screening
        out[O_ATTEMPTS_REST] = attempts_rest
        out[O_ATTEMPTS_LAB] = attempts_lab
        out[O_DEFECTORS_REST] = defectors_rest
        out[O_DEFECTORS_LAB] = defectors_lab
        out[O_GROUPS_REST] = groups_rest
        out[O_GROUPS_LAB] = groups_lab
        out[O_MANAGER_LED] = manager_led_groups
        out[O_FOILED] = foiled
        out[O_STOPPED] = stopped
        out[O_CAUGHT] = caught_transit
        out[O_ESC_LEGAL] = esc_legal
        out[O_ESC_CLANDESTINE] = esc_clandestine
        out[O_BROKER_FEES] = broker_fees
        out[O_ARRIVALS] = arrivals_postings + arrivals_wider[t]
        out[O_ARRIVALS_POSTINGS] = arrivals_postings
        out[O_CROSSINGS] = crossings
        out[O_HIDDEN] = hidden
        out[O_ARRESTS_CHINA] = arrests + intercepted + worker_arrests_china
        out[O_ARRESTS_HIDDEN] = arrests
        out[O_INTERCEPTED] = intercepted
        out[O_REPAT_CHINA] = repatriated_china
        out[O_REPAT_OTHER] = repatriations_other[t]
        out[O_SEVERE] = severe
        out[O_DEPARTURES] = departures
        out[O_RETURNS] = returns
        out[O_MISSILES] = missiles
        out[O_NUCLEAR] = nuclear
        out[O_PROVOCATIONS] = missiles + nuclear
        out[O_RESOLUTIONS] = resolutions
        out[O_ENVOYS] = envoys
        out[O_RELATIONS] = relations
        out[O_DISPLEASURE] = displeasure
        out[O_ECONOMY] = economy
        out[O_EXIT] = exit_eff
        out[O_STRINGENCY] = stringency
        out[O_SANCTIONS] = sanctions
        out[O_AID] = aid
        out[O_ADVISORY] = advisory_eff
        out[O_UN_WORKERS] = un_workers
        out[O_TRADE_LOSS] = trade_loss
        m = month_index[t]
        for v in range(N_OUTCOMES):
            if kind_stock[v]:
                monthly[v, m] = out[v]
            else:
                monthly[v, m] += out[v]
        _lap(section_cycles, 7, c0)

    scalars[0] = labour_scale
    scalars[1] = demand_dip
    scalars[2] = control
    scalars[3] = screening
    scalars[4] = displeasure
    scalars[5] = conciliation_left
    scalars[6] = advisory
    scalars[7] = economy
    scalars[8] = remit_ema
    scalars[9] = remit_ref
    scalars[10] = resolution_day
    scalars[11] = crossing_ema
    scalars[12] = 1.0 if laxity_on else 0.0
    scalars[13] = 1.0 if collapse_guard else 0.0
    scalars[14] = 1.0 if exodus_guard else 0.0
    scalars[15] = hidden
    counters[0] = hired_total
    counters[1] = exits_escaped
    counters[2] = exits_caught
    counters[3] = exits_recalled
    counters[4] = exits_other
    return ev_int[:n_ev].copy(), ev_value[:n_ev].copy()


# ----------------------------------------------------------------------------- adapters

SCALAR_NAMES: tuple[str, ...] = (
    "labour_scale",
    "demand_dip",
    "control",
    "screening",
    "displeasure",
    "conciliation_left",
    "advisory",
    "economy",
    "remit_ema",
    "remit_ref",
    "resolution_day",
    "crossing_ema",
    "laxity_on",
    "collapse_guard",
    "exodus_guard",
    "hidden",
)
COUNTER_NAMES: tuple[str, ...] = (
    "hired",
    "exits_escaped",
    "exits_caught",
    "exits_recalled",
    "exits_other",
)


_NOT_PROFILING = np.zeros(0, dtype=np.uint64)


class RunInputs(NamedTuple):
    """What every replicate of one run shares, in the kernel's form."""

    params: np.ndarray
    lever_days: np.ndarray
    forced_nuclear: np.ndarray
    forced_missile: np.ndarray
    forced_resolution: np.ndarray
    endogenous_from: int
    month_index: np.ndarray
    site_country: np.ndarray
    site_posts: np.ndarray
    site_offset: np.ndarray
    site_start: np.ndarray
    flight_bounds: np.ndarray
    transit_keep: np.ndarray
    transit_alias: np.ndarray
    detention_keep: np.ndarray
    detention_alias: np.ndarray


@functools.lru_cache(maxsize=64)
def _param_inputs(params: Params) -> tuple[np.ndarray, np.ndarray]:
    """The parameter record and the sectors' flight bounds (cached: ensembles reuse them)."""
    return param_record(params), np.array([flight_bound(params, True), flight_bound(params, False)])


def run_inputs(
    params: Params,
    lever_days: np.ndarray,
    timeline: Timeline,
    month_index: np.ndarray,
    layout: Layout,
    transit_pmf: np.ndarray,
    detention_pmf: np.ndarray,
) -> RunInputs:
    """Convert one run's inputs to the kernel's arrays (once per run, for all replicates).

    ``lever_days`` is ``simulate.lever_matrix``: the levers in force on each day.
    """
    record, flight_bounds = _param_inputs(params)
    transit_keep, transit_alias = alias_table(transit_pmf)
    detention_keep, detention_alias = alias_table(detention_pmf)
    return RunInputs(
        params=record,
        lever_days=lever_days,
        forced_nuclear=np.ascontiguousarray(timeline.nuclear(), dtype=np.int64),
        forced_missile=np.ascontiguousarray(timeline.missile(), dtype=np.int64),
        forced_resolution=np.ascontiguousarray(timeline.resolution(), dtype=np.float64),
        endogenous_from=int(timeline.endogenous_from),
        # a writable copy: Numba compiles read-only arrays as a separate signature
        month_index=np.array(month_index, dtype=np.int64),
        site_country=layout.site_country.astype(np.int64),
        site_posts=layout.site_posts.astype(np.int64),
        site_offset=layout.site_offset.astype(np.float64),
        site_start=site_starts(layout),
        flight_bounds=flight_bounds,
        transit_keep=transit_keep,
        transit_alias=transit_alias,
        detention_keep=detention_keep,
        detention_alias=detention_alias,
    )


def simulate_replicate(
    g: np.random.Generator,
    inputs: RunInputs,
    layout: Layout,
    state: State,
    r: int,
    monthly: np.ndarray,
    section_cycles: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Run replicate ``r`` of ``state`` (updated in place) through the kernel.

    ``monthly`` (outcomes x months) receives its monthly flows, sums of means
    and stocks; the returned dict holds its events in ``EventLog`` columns.
    ``section_cycles`` ((len(SECTIONS),) uint64), if given, accumulates the
    CPU cycles of each part of the day (the benchmarks' profile).
    """
    if section_cycles is None:
        section_cycles = _NOT_PROFILING
    scalars = np.array([float(np.asarray(getattr(state, n))[r]) for n in SCALAR_NAMES])
    counters = np.array([int(getattr(state, n)[r]) for n in COUNTER_NAMES], dtype=np.int64)
    ev_int, ev_value = run_replicate(
        g,
        inputs.params,
        inputs.lever_days,
        inputs.forced_nuclear,
        inputs.forced_missile,
        inputs.forced_resolution,
        inputs.endogenous_from,
        inputs.month_index,
        KIND_STOCK,
        layout.n_restaurants,
        layout.site_is_restaurant,
        inputs.site_country,
        inputs.site_posts,
        inputs.site_offset,
        inputs.site_start,
        layout.post_site,
        inputs.flight_bounds,
        inputs.transit_keep,
        inputs.transit_alias,
        inputs.detention_keep,
        inputs.detention_alias,
        state.in_post[r],
        state.hire_day[r],
        state.stress_at_hire[r],
        state.loyalty[r],
        state.log_base[r],
        state.staff[r],
        state.site_stress[r],
        state.site_open[r],
        state.reopen_day[r],
        state.pay_level[r],
        state.hours[r],
        state.reserve[r],
        state.arrears[r],
        state.margin[r],
        state.demand_noise[r],
        state.site_watch[r],
        state.un_levels[r],
        state.arrivals_workers[r],
        state.arrivals_wider[r],
        state.repatriations_china[r],
        state.repatriations_other[r],
        scalars,
        counters,
        monthly,
        section_cycles,
    )
    for name, value in zip(SCALAR_NAMES, scalars, strict=True):
        field = getattr(state, name)
        field[r] = value
    for name, value in zip(COUNTER_NAMES, counters, strict=True):
        getattr(state, name)[r] = value
    return event_columns(r, ev_int, ev_value)


def event_columns(r: int, ev_int: np.ndarray, ev_value: np.ndarray) -> dict[str, np.ndarray]:
    """Decode the kernel's event rows into ``EventLog.to_arrays`` columns."""

    def decode(names: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
        return np.asarray(names)[codes] if codes.size else np.asarray([], dtype="<U1")

    n = ev_int.shape[0]
    return {
        "replicate": np.full(n, r, dtype=np.int64),
        "day": ev_int[:, 0].copy(),
        "kind": decode(EVENT_KINDS, ev_int[:, 1]),
        "site": ev_int[:, 2].copy(),
        "sector": decode(SECTORS, ev_int[:, 3]),
        "country": decode(COUNTRIES, ev_int[:, 4]),
        "size": ev_int[:, 5].copy(),
        "manager_led": ev_int[:, 6].astype(bool),
        "helpers": ev_int[:, 7].astype(bool),
        "route": decode(ROUTES, ev_int[:, 8]),
        "outcome": decode(EVENT_OUTCOMES, ev_int[:, 9]),
        "arrival_day": ev_int[:, 10].copy(),
        "value": ev_value.copy(),
    }
