"""M5 defection decision: individual hazard, contagion, manager-led groups, helpers.

Individual daily chance that a worker in post starts a plot:

  h = min(exp(log_base + beta_stress * stress - beta_surveillance * surveillance
              + beta_opportunity * opportunity), flight_probability_cap)

where log_base holds the sector's base rate, loyalty and the family deterrent
(M4), and opportunity is what the worker perceives makes flight possible
(Corrado and Moore 2016: "opportunity (a passport in hand, a complicit
manager, outside helpers)"):

  opportunity = opportunity_exit_weight x (1 - perceived exit strictness of the host)
              + opportunity_helper_weight x the sector's chance of finding helpers
              + opportunity_manager_weight x the pressure on the site's manager

The perceived exit strictness follows the host's effective strictness (for
China, Beijing's, M9) with time constant ``perception_days``: a lax exit check
draws attempts only once word of it spreads.

Managers initiate with a hazard proportional to their own pressure: the larger
of the site's arrears index and the pay cut they have imposed (a manager
answers to Pyongyang for the quota and faces staff who are no longer paid).

A plot grows into a group (F4): a manager may take the lead (chance
``manager_join`` x the manager's pressure); under a manager each co-worker
follows with chance ``manager_follow`` x (1 - ``manager_follow_loyalty_weight``
x loyalty) (he holds the passports: Ningbo, April 2016, Corrado and Moore
2016); otherwise each co-worker joins with chance ``contagion`` x stress.
The bigger the plot the likelier the minders notice: each extra member
exposes it with chance ``detection_per_member`` x surveillance (times
``manager_detection_factor`` under a manager).

Each post also faces the end of its posting (rotation home, mean
``contract_years``), a recall when it is above its site's wanted headcount
(mean ``recall_days``, sanctions, M1), or, if vacant and wanted, the arrival
of a recruit (mean ``hiring_days``); a border closure stops rotations and
hiring, a UN hiring ban stops postings to labour sites.  All are drawn per
post without touching every post every day (DESIGN.md "What is fast here"):
flight by thinning (candidates at the sector's bound of the day, accepted with
probability hazard / bound), the rest by geometric skips through the posts
where they can apply; both are exact in law.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .bounds import clip
from .jit import compiled
from .m04_workers import hire, recruit_log_base, recruit_loyalty, worker_stress
from .state import CHINA, RUSSIA

# what a post does today (PostMoves.mark)
NO_MOVE, FLIGHT, ROTATION, RECALL = 0, 1, 2, 3


class PostMoves(NamedTuple):
    """Scratch of the day's post transitions: a mark per post and index buffers."""

    mark: np.ndarray  # (N,) int8: NO_MOVE, FLIGHT, ROTATION or RECALL
    initiators: np.ndarray
    ends: np.ndarray
    recalled: np.ndarray
    hires: np.ndarray
    members: np.ndarray
    counts: np.ndarray  # (4,) int64: initiators, ends, recalled, hires


@compiled
def new_post_moves(n_posts: int) -> PostMoves:
    """Empty scratch for ``n_posts`` posts (buffers grow as needed)."""
    return PostMoves(
        np.zeros(n_posts, dtype=np.int8),
        np.empty(16, dtype=np.int64),
        np.empty(16, dtype=np.int64),
        np.empty(16, dtype=np.int64),
        np.empty(16, dtype=np.int64),
        np.empty(16, dtype=np.int64),
        np.zeros(4, dtype=np.int64),
    )


@compiled(inline="always")
def push(buffer: np.ndarray, n: int, post: int) -> np.ndarray:
    """``buffer`` with ``post`` at index ``n``, doubled first if full."""
    if n == buffer.shape[0]:
        buffer = np.concatenate((buffer, np.empty_like(buffer)))
    buffer[n] = post
    return buffer


@compiled(inline="always")
def skip_scale(p: float) -> float:
    """1 / log(1 - p), the constant of ``skip`` for success probability 0 < p (0 if p >= 1)."""
    return 1.0 / np.log1p(-p) if p < 1.0 else 0.0


#: longest skip: far past any population, yet a post index plus it stays inside int64
SKIP_MAX = 2**62


@compiled(inline="always")
def skip(g: Any, scale: float) -> int:
    """Distance to the next success of an iid Bernoulli(p) sequence: geometric(p), >= 1.

    By inversion, 1 + floor(log(U) / log(1 - p)) with U uniform on (0, 1]:
    one uniform and one log, with log(1 - p) computed once (``skip_scale``).
    Saturated at ``SKIP_MAX``: for a tiny p (a hazard of 1e-19 a year, a closure
    of 1 - 1e-16) the product exceeds int64 (or is inf, or 0 x inf = NaN), and the
    conversion would wrap to a negative index (issue 17, item 4: a SIGSEGV).
    """
    gap = np.log(1.0 - g.random()) * scale
    if not gap < SKIP_MAX - 1:  # also NaN
        return SKIP_MAX
    return 1 + int(gap)


@compiled
def flight_bounds(p: Any) -> np.ndarray:
    """Upper bound of any worker's daily flight chance, restaurants and labour (thinning).

    Stress cannot exceed the sum of the pressure weights (M4); loyalty, family
    and surveillance are non-negative and only lower the hazard.
    """
    d, w = p.defection, p.workers
    stress_max = w.stress_weight_pay + w.stress_weight_hours + w.stress_weight_arrears
    opportunity_max = (
        d.opportunity_exit_weight + d.opportunity_helper_weight + d.opportunity_manager_weight
    )
    log_max = d.beta_stress * stress_max + d.beta_opportunity * opportunity_max
    bounds = np.empty(2)
    for sector in range(2):
        base = (d.restaurant_hazard_per_year if sector == 0 else d.labour_hazard_per_year) / 365.0
        bounds[sector] = min(base * np.exp(log_max), d.flight_probability_cap)
    return bounds


#: relative margin on today's bound: posts hold log_base in float32 (M4), whose rounding
#: can lift a hazard above the float64 bound by about 1e-7 of itself
_BOUND_MARGIN = 1e-5


@compiled
def daily_flight_bounds(
    p: Any, sites: np.ndarray, site_day: np.ndarray, layout: Any, caps: np.ndarray
) -> np.ndarray:
    """Today's bound of any worker's daily flight chance, per sector: the thinning rate.

    A worker's hazard at site s is at most
    exp(log(sector base / 365) + beta_stress x E_s - beta_surveillance x surveillance_s
    + beta_opportunity x opportunity_s): loyalty and family only lower it (M4), and a
    worker's stress E_s(t) - decay x E_s(hired) never exceeds the site's average of
    pressure E_s (pressure is non-negative: pay at most full, hours at least normal,
    arrears at least 0, M3).  The largest over the sector's sites, capped by
    ``caps`` (``flight_bounds``), is exact for thinning on the day, and far tighter
    than the static bound, which assumes the worst stress and opportunity at the
    weakest watch at every site at once: at ``baseline-2016``'s point values it draws
    about 8 candidates a day instead of about 870 (BENCHMARKS.md, "Issue 16: the
    what-if time").
    """
    d = p.defection
    n_restaurants, n_sites = layout.n_restaurants, layout.posts.shape[0]
    bounds = np.empty(2)
    for sector in range(2):
        lo = 0 if sector == 0 else n_restaurants
        hi = n_restaurants if sector == 0 else n_sites
        base = (d.restaurant_hazard_per_year if sector == 0 else d.labour_hazard_per_year) / 365.0
        worst = -np.inf  # the largest log excess over the base rate (one exp a sector)
        for s in range(lo, hi):
            today = site_day[s]
            worst = max(
                worst,
                d.beta_stress * max(sites[s].stress, 0.0)
                - d.beta_surveillance * today.surveillance
                + d.beta_opportunity * today.opportunity,
            )
        bounds[sector] = (
            min(base * np.exp(worst) * (1.0 + _BOUND_MARGIN), caps[sector]) if hi > lo else 0.0
        )
    return bounds


@compiled
def perceive_exit_checks(hosts: np.ndarray, exit_strictness: float, p: Any, first: bool) -> None:
    """Workers' perception of each host's exit check follows its effective strictness."""
    rt, d = p.routes, p.defection
    for h in range(hosts.shape[0]):
        strictness = exit_strictness
        if h == RUSSIA:
            strictness = rt.russia_exit_strictness
        elif h != CHINA:
            strictness = rt.other_exit_strictness
        host = hosts[h]
        if first:
            host.perceived_exit = strictness
        else:
            host.perceived_exit += (strictness - host.perceived_exit) / d.perception_days


@compiled(inline="always")
def opportunity(host: Any, is_restaurant: bool, manager_pressure: float, d: Any) -> float:
    """What a worker at a site perceives makes flight possible, in [0, 1] (weights summing to 1)."""
    helpers = d.helper_restaurant if is_restaurant else d.helper_labour
    return (
        d.opportunity_exit_weight * (1.0 - host.perceived_exit)
        + d.opportunity_helper_weight * helpers
        + d.opportunity_manager_weight * manager_pressure
    )


@compiled(inline="always")
def manager_initiation(site: Any, today: Any) -> None:
    """The pressure on the site's manager (``manager_starts`` draws who acts on it)."""
    today.manager_pressure = clip(max(today.arrears_index, 1.0 - site.pay_level), 0.0, 1.0)
    today.manager_start = False


@compiled
def manager_starts(g: Any, sites: np.ndarray, site_day: np.ndarray, d: Any) -> None:
    """Which managers start a flight today: at an open site, chance
    ``manager_hazard_per_year`` / 365 x the manager's pressure.

    Drawn by thinning over the sites (candidates at the chance under full
    pressure, accepted with probability pressure): exact in law, with about one
    draw a day instead of one per site.
    """
    bound = min(d.manager_hazard_per_year / 365.0, 1.0)
    if bound <= 0.0:
        return
    scale = skip_scale(bound)
    n_sites = sites.shape[0]
    s = -1
    while True:
        s += skip(g, scale)
        if s >= n_sites:
            return
        chance = min(d.manager_hazard_per_year / 365.0 * site_day[s].manager_pressure, 1.0)
        if sites[s].open and g.random() * bound < chance:
            site_day[s].manager_start = True


@compiled(inline="always")
def wanted_vacancies(
    in_post: np.ndarray, start: int, wanted: int, site_posts: int, staff: int
) -> int:
    """Vacant posts ranked below the site's wanted headcount (where recruits go).

    Counted over the shorter side: the wanted posts themselves, or the posts
    above them, whose holders (awaiting recall) are the site's staff not in the
    wanted posts.
    """
    if site_posts - wanted < wanted:
        held_above = 0
        for post in range(start + wanted, start + site_posts):
            held_above += in_post[post]
        return wanted - (staff - held_above)
    held = 0
    for post in range(start, start + wanted):
        held += in_post[post]
    return wanted - held


@compiled
def draw_post_transitions(  # noqa: C901 - one pass per kind of move, kept together (hot loop)
    g: Any,
    t: int,
    closure: float,
    hosts: np.ndarray,
    p: Any,
    posts: Any,
    sites: np.ndarray,
    site_day: np.ndarray,
    layout: Any,
    decay: np.ndarray,
    bounds: np.ndarray,
    moves: PostMoves,
) -> PostMoves:
    """Draw today's flight initiations, rotations, recalls and hires; mark the posts.

    A post that initiates flight does not also rotate home or get recalled
    that day.  Recalls and hires are Bernoulli per post and day, but only
    some posts can be recalled (held, ranked at or above the site's wanted
    headcount: labour sites only; shut sites hold nobody) or hired into
    (vacant, below it, at an open site).  Skipping runs through those posts
    only (recalls through the ranges above the wanted headcount, hires through
    the wanted vacancies, counted by ``wanted_vacancies``), carrying the gap to
    the next success from one site to the next (the geometric gaps are
    memoryless), so the draws are the same in law as over all posts.  Flight
    candidates come at the day's bound (``daily_flight_bounds``).
    """
    d, lp = p.defection, p.labour
    mark = moves.mark
    initiators, ends, recalled, hires = moves.initiators, moves.ends, moves.recalled, moves.hires
    n_restaurants, post_site = layout.n_restaurants, layout.post_site
    n_sites, n_posts = layout.posts.shape[0], post_site.shape[0]
    n_rest_posts = layout.n_restaurant_posts
    n_init = 0
    today_bounds = daily_flight_bounds(p, sites, site_day, layout, bounds)
    for sector in range(2):
        lo = 0 if sector == 0 else n_rest_posts
        hi = n_rest_posts if sector == 0 else n_posts
        bound = today_bounds[sector]
        if bound <= 0.0 or hi <= lo:
            continue
        bound_scale = skip_scale(bound)
        post = lo - 1
        while True:
            post += skip(g, bound_scale)
            if post >= hi:
                break
            if not posts.in_post[post]:
                continue
            s = post_site[post]
            accept_u = g.random()
            log_h = (
                posts.log_base[post]
                + d.beta_stress * worker_stress(post, t, posts, sites[s].stress, decay)
                - d.beta_surveillance * site_day[s].surveillance
                + d.beta_opportunity * site_day[s].opportunity
            )
            p_flight = min(np.exp(log_h), d.flight_probability_cap)
            if accept_u < p_flight / bound:
                initiators = push(initiators, n_init, post)
                n_init += 1
                mark[post] = FLIGHT
    p_end = (1.0 / (lp.contract_years * 365.0)) * (1.0 - closure)
    n_end = 0
    if p_end > 0.0:
        end_scale = skip_scale(p_end)
        post = -1
        while True:
            post += skip(g, end_scale)
            if post >= n_posts:
                break
            if posts.in_post[post] and mark[post] == NO_MOVE:
                ends = push(ends, n_end, post)
                n_end += 1
                mark[post] = ROTATION
    recall_scale = skip_scale(1.0 / lp.recall_days)
    n_recall = 0
    gap = skip(g, recall_scale) - 1
    for s in range(n_restaurants, n_sites):
        end = layout.start[s] + layout.posts[s]
        post = layout.start[s] + site_day[s].wanted + gap
        while post < end:
            if posts.in_post[post] and mark[post] == NO_MOVE:
                recalled = push(recalled, n_recall, post)
                n_recall += 1
                mark[post] = RECALL
            post += skip(g, recall_scale)
        gap = post - end
    p_hire = (1.0 / lp.hiring_days) * (1.0 - closure)
    n_hire = 0
    if p_hire > 0.0:
        hire_scale = skip_scale(p_hire)
        gap = skip(g, hire_scale) - 1
        for s in range(n_sites):
            if not sites[s].open:
                continue
            # a hiring ban (UN worker provisions acting in the host) stops new labour postings
            banned = hosts[layout.country[s]].workers_provision >= lp.un_hiring_ban_level
            if s >= n_restaurants and banned:
                continue
            start, wanted = layout.start[s], site_day[s].wanted
            vacant = wanted_vacancies(posts.in_post, start, wanted, layout.posts[s], sites[s].staff)
            # the trials run through the wanted vacancies only (a held post cannot be
            # hired into); each hit is found in post order by counting vacant posts
            hit, seen, post, end = gap, -1, start - 1, start + wanted
            while hit < vacant:
                while seen < hit and post + 1 < end:
                    post += 1
                    if not posts.in_post[post]:
                        seen += 1
                if seen < hit:  # staff miscounted: never read past the site's wanted posts
                    hit = vacant
                    break
                hires = push(hires, n_hire, post)
                n_hire += 1
                hit += skip(g, hire_scale)
            gap = hit - vacant
    moves.counts[0] = n_init
    moves.counts[1] = n_end
    moves.counts[2] = n_recall
    moves.counts[3] = n_hire
    return PostMoves(mark, initiators, ends, recalled, hires, moves.members, moves.counts)


@compiled
def apply_post_transitions(
    g: Any,
    t: int,
    lever: Any,
    net: Any,
    p: Any,
    posts: Any,
    sites: np.ndarray,
    layout: Any,
    moves: PostMoves,
    out: Any,
) -> None:
    """Rotations and recalls leave their posts; recruits take theirs (M4 traits)."""
    n_end, n_recall, n_hire = moves.counts[1], moves.counts[2], moves.counts[3]
    for i in range(n_end):
        post = moves.ends[i]
        posts.in_post[post] = False
        sites[layout.post_site[post]].staff -= 1
        moves.mark[post] = NO_MOVE
    for i in range(n_recall):
        post = moves.recalled[i]
        posts.in_post[post] = False
        sites[layout.post_site[post]].staff -= 1
        moves.mark[post] = NO_MOVE
    for i in range(n_hire):
        post = moves.hires[i]
        s = layout.post_site[post]
        is_rest = layout.is_restaurant[s]
        loyalty = recruit_loyalty(
            g.standard_normal(), is_rest, lever.screening_strictness, net.screening, p.workers
        )
        hire(post, t, loyalty, recruit_log_base(g.random(), loyalty, is_rest, p), sites[s], posts)
    net.exits_other += n_end
    net.hired += n_hire
    out.hires = n_hire
    out.rotations_home = n_end
    out.recalls = n_recall


class Plot(NamedTuple):
    """A group that has decided to leave one site together (members in ``moves.members``)."""

    members: np.ndarray
    n_members: int
    manager_led: bool
    detected: bool


@compiled
def form_plot(
    g: Any,
    t: int,
    s: int,
    p: Any,
    posts: Any,
    sites: np.ndarray,
    today: Any,
    layout: Any,
    decay: np.ndarray,
    moves: PostMoves,
) -> Plot:
    """Grow the plot at site ``s`` from today's initiators there (and its manager).

    ``n_members`` is 0 and ``manager_led`` False when nobody at the site plots
    after all (its initiators have left for another reason).
    """
    d = p.defection
    members = moves.members
    n_members = 0
    for i in range(moves.counts[0]):
        post = moves.initiators[i]
        if layout.post_site[post] == s and posts.in_post[post]:
            members = push(members, n_members, post)
            n_members += 1
    if n_members == 0 and not today.manager_start:
        return Plot(members, 0, False, False)
    manager_led = today.manager_start or (g.random() < d.manager_join * today.manager_pressure)
    first = layout.start[s]
    for post in range(first, first + layout.posts[s]):
        if not posts.in_post[post] or moves.mark[post] == FLIGHT:
            continue
        if manager_led:
            p_join = d.manager_follow * (
                1.0 - d.manager_follow_loyalty_weight * posts.loyalty[post]
            )
        else:
            stress = worker_stress(post, t, posts, sites[s].stress, decay)
            p_join = d.contagion * clip(stress, 0.0, 1.0)
        if g.random() < p_join:
            members = push(members, n_members, post)
            n_members += 1
    extra = max(n_members + (1 if manager_led else 0) - 1, 0)
    p_each = (
        d.detection_per_member
        * today.surveillance
        * (d.manager_detection_factor if manager_led else 1.0)
    )
    detected = g.random() < 1.0 - (1.0 - p_each) ** extra
    return Plot(members, n_members, manager_led, detected)
