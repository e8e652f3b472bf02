"""The day loop: one replicate's days, M1-M10 in order, as one compiled call.

Each mechanism's equations live in its module (``m01_revenue`` ...
``m10_wider_flow``); this module only calls them in the order of a day:

  M9 Beijing's effective levers, each host's UN enforcement, Pyongyang's tests,
     envoys, talks, resolutions; M5 the perceived exit checks
  M2 demand by host; M1 each host's contracted labour force; per site: M1
     accounts and quota review, M3 manager, M4 stress and surveillance, M1 wanted
     headcount, M5 manager initiation and perceived opportunity, M8 closure orders
  M5 post transitions (flight thinning, rotations, recalls, hires with M4 traits)
  M5 plots -> M6 routes -> M7 capture and detention -> M8 reaction
  M8 closures, shut sites, nominee reopenings and openings, control relaxes
  M10 wider flow (three stocks), M7 detention and handovers
  M9 economy index, Beijing's guards, relations
  outcomes of the day into the monthly sums

Before all of it, a scenario's conditional policies (``conditional``) move the
day's dated levers.

``start_replicate`` is day 0 (initial posts and recruits, Beijing's day-0
policy, the warm-started pipelines) with the same functions.  Random draws
come from the replicate's own ``numpy.random.Generator`` (Numba drives its
bit generator), always in the same order, so runs are reproducible and
independent of batching and executors.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from llvmlite import ir as llvm_ir
from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.typed import List

from . import conditional
from . import m01_revenue as m01
from . import m02_demand as m02
from . import m03_manager as m03
from . import m04_workers as m04
from . import m05_defection as m05
from . import m06_routes as m06
from . import m07_enforcement as m07
from . import m08_regime as m08
from . import m09_strategic as m09
from . import m10_wider_flow as m10
from .events import Kind, Outcome, Route, Sector, log_event
from .jit import compiled
from .outcomes import OUTCOME_DTYPE, OUTCOME_NAMES
from .records import LEVER_DTYPE
from .state import CHINA, SITE_DAY_DTYPE

N_OUTCOMES = len(OUTCOME_NAMES)

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


class DelayTables(NamedTuple):
    """Delay distributions of the pipelines (M7 detention, M10 transit), in sampling form."""

    transit_keep: np.ndarray
    transit_alias: np.ndarray
    transit_left: np.ndarray  # P(delay > k), for the warm start
    detention_keep: np.ndarray
    detention_alias: np.ndarray
    detention_left: np.ndarray


class RunInputs(NamedTuple):
    """What every replicate of one run shares, in the kernel's form."""

    params: np.ndarray  # (1,) records.PARAM_DTYPE
    levers: np.ndarray  # (days,) records.LEVER_DTYPE: the dated levers of each day
    lever_values: np.ndarray  # (days, levers) the same as floats; (0, levers) without rules
    rules: np.ndarray  # (rules,) conditional.RULE_DTYPE: conditional policies, in order
    actions: np.ndarray  # (actions,) conditional.ACTION_DTYPE: what they do to the levers
    forced_nuclear: np.ndarray  # (days,) int64
    forced_missile: np.ndarray  # (days,) int64
    forced_resolution: np.ndarray  # (days, 5) float64, NaN = none
    endogenous_from: int
    month_index: np.ndarray  # (days,) int64
    year_index: np.ndarray  # (days,) int64: calendar year from the first (M10 route years)
    kind_stock: np.ndarray  # (outcomes,) bool
    layout: Any  # state.SiteLayout
    delays: DelayTables


@compiled
def delay_tables(params: np.ndarray, length: int) -> DelayTables:
    """The transit (M10) and detention (M7) delay tables of length ``length`` days."""
    p = params[0]
    wf, en = p.wider_flow, p.enforcement
    transit = m07.delay_pmf(wf.transit_days, wf.transit_delay_shape, length)
    detention = m07.delay_pmf(en.detention_days, en.detention_delay_shape, length)
    transit_keep, transit_alias = m07.alias_table(transit)
    detention_keep, detention_alias = m07.alias_table(detention)
    return DelayTables(
        transit_keep,
        transit_alias,
        m07.remaining(transit),
        detention_keep,
        detention_alias,
        m07.remaining(detention),
    )


@compiled
def start_replicate(g: Any, run: RunInputs, rep: Any) -> None:
    """Day 0: the network as it stands when the run starts (M1, M4, M9, M10).

    Restaurants open and labour posts filled to the initial workforce, every
    post's recruit traits, Beijing's day-0 policy and the people already in
    transit or detention, with the levers of day 0.
    """
    p = run.params[0]
    lever = run.levers[0]
    net = rep.network[0]
    m01.open_initial_sites(rep.sites, rep.hosts, rep.posts, run.layout, p, lever, net)
    m04.initial_recruits(g, rep.posts, run.layout, p, lever)
    m09.initial_strategic_state(net)
    m08.initial_nominees(net, p.restaurants)
    policy = np.zeros(1, m09.POLICY_DTYPE)[0]
    m09.beijing_policy(policy, net, lever, rep.un_levels, p.strategic)
    m09.initial_sanctions_memory(net, policy)
    m09.host_enforcement(rep.hosts, net, lever, policy, p, run.layout.host_labour_posts, True)
    m05.perceive_exit_checks(rep.hosts, policy.exit_strictness, p, True)
    m10.new_route_year(g, net, p.wider_flow)
    m10.warm_start(g, net, lever, policy, p, rep.pipelines, run.delays)


def _read_cycle_counter(typingctx: Any) -> Any:
    """The CPU's time-stamp counter (LLVM ``readcyclecounter``): a few cycles to read."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        counter = cgutils.get_or_insert_function(
            builder.module, llvm_ir.FunctionType(llvm_ir.IntType(64), []), "llvm.readcyclecounter"
        )
        return builder.call(counter, [])

    return types.uint64(), codegen


_cycles: Any = intrinsic(_read_cycle_counter)


@compiled
def cycle_counter() -> int:
    """The counter ``section_cycles`` is read from (to convert cycles to seconds)."""
    return _cycles()


@compiled(inline="always")
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


@compiled
def run_days(
    g: Any,
    run: RunInputs,
    rep: Any,
    first_day: int,
    end_day: int,
    monthly: np.ndarray,
    section_cycles: np.ndarray,
    log: List,
) -> None:
    """Simulate days [first_day, end_day) of one replicate (``rep``, updated in place).

    ``monthly`` (outcomes x months) receives flows and means summed by month
    and stocks on the month's last day; ``log`` the day's events;
    ``section_cycles`` the CPU cycles spent in each part of the day
    (``SECTIONS``; empty: not profiled).
    """
    p = run.params[0]
    lay = run.layout
    net = rep.network[0]
    sites, posts, hosts = rep.sites, rep.posts, rep.hosts
    n_days = run.levers.shape[0]
    n_sites = lay.posts.shape[0]
    decay = m04.decay_table(p.workers, n_days)
    demand_constants = m02.demand_constants(p.demand)
    bounds = m05.flight_bounds(p)
    site_day = np.zeros(n_sites, dtype=SITE_DAY_DTYPE)
    policy = np.zeros(1, dtype=m09.POLICY_DTYPE)[0]
    moves = m05.new_post_moves(lay.post_site.shape[0])
    values = np.zeros(N_OUTCOMES)
    out = values.view(OUTCOME_DTYPE)[0]
    n_rules = run.rules.shape[0]
    levers_today = np.zeros(run.lever_values.shape[1])
    moved_levers = levers_today.view(LEVER_DTYPE)

    for t in range(first_day, end_day):
        c0 = _cycles() if section_cycles.shape[0] else 0
        lever = run.levers[t]
        if n_rules:  # conditional policies move the dated levers
            conditional.levers_in_force(
                t,
                run.lever_values,
                levers_today,
                run.rules,
                run.actions,
                rep.rule_state,
                rep.triggers,
                log,
            )
            lever = moved_levers[0]
        closure = lever.border_closure
        values[:] = 0.0
        m09.beijing_policy(policy, net, lever, rep.un_levels, p.strategic)
        m09.host_enforcement(hosts, net, lever, policy, p, lay.host_labour_posts, False)
        m05.perceive_exit_checks(hosts, policy.exit_strictness, p, False)
        m09.strategic_events(
            g,
            t,
            t >= run.endogenous_from,
            net,
            lever,
            policy,
            rep.un_levels,
            p.strategic,
            run.forced_nuclear[t],
            run.forced_missile[t],
            run.forced_resolution[t],
            log,
            out,
        )
        c0 = _lap(section_cycles, 0, c0)

        m02.step_demand(
            g,
            net,
            sites,
            lay.n_restaurants,
            p.demand,
            demand_constants,
            hosts,
            out.nuclear_tests,
            policy.travel_advisory,
            lever.anti_extravagance,
            policy.china_sanctions,
            lever.pandemic,
        )
        m01.step_labour_forces(hosts, p, closure)
        for s in range(n_sites):
            site, today, is_rest = sites[s], site_day[s], lay.is_restaurant[s]
            host = hosts[lay.country[s]]
            sales, costs, full_wages, quota, owed = m01.site_accounts(
                site, host, is_rest, lay.posts[s], p, lever, demand_constants, out
            )
            m03.manager_response(site, sales, costs, full_wages, quota, owed, p.restaurants)
            today.arrears_index = m01.arrears_index(owed, quota, p.restaurants)
            if is_rest and site.open:
                m01.review_quota(g, site, today.arrears_index, p.restaurants, out)
            m04.step_site_stress(site, today.arrears_index, p)
            today.surveillance = m04.surveillance(is_rest, net.control, site.watch, p.workers)
            today.wanted = m01.wanted_headcount(host.fill, lay.posts[s], lay.offset[s], is_rest)
            m05.manager_initiation(site, today)
            today.opportunity = m05.opportunity(host, is_rest, today.manager_pressure, p.defection)
            if is_rest and site.open:
                m08.closure_order(g, t, s, site, today, host, policy, lay, p.restaurants, log, out)
        m05.manager_starts(g, sites, site_day, p.defection)
        c0 = _lap(section_cycles, 1, c0)

        moves = m05.draw_post_transitions(
            g, t, closure, hosts, p, posts, sites, site_day, lay, decay, bounds, moves
        )
        m05.apply_post_transitions(g, t, lever, net, p, posts, sites, lay, moves, out)
        c0 = _lap(section_cycles, 2, c0)

        moves = flight_attempts(
            g, t, p, net, policy, rep, site_day, lay, run.delays, decay, moves, log, out
        )
        c0 = _lap(section_cycles, 3, c0)

        marked = out.closures_after_attempts + out.closure_orders > 0
        any_closing = m08.failure_closures(g, t, sites, site_day, lay, p.restaurants, marked, log)
        seized_rest = seized_lab = 0.0
        if any_closing:
            seized_rest, seized_lab = m08.close_sites(t, sites, site_day, lay, posts, p.regime, out)
        net.exits_recalled += int(out.recalls)
        slowdown = max(policy.china_sanctions, policy.un_workers_mean)
        m08.openings(g, t, sites, lay, p.restaurants, net, slowdown, log, out)
        m08.relax_control(net, sites, p.regime)
        # seized reserves go to Pyongyang with the day's remittances
        out.remittance_restaurants_usd += seized_rest
        out.revenue_to_state_usd = (
            out.remittance_restaurants_usd + out.remittance_labour_usd + seized_lab
        )
        out.remittance_labour_usd += seized_lab
        out.restaurant_retained_usd -= seized_rest
        out.labour_retained_usd -= seized_lab
        c0 = _lap(section_cycles, 4, c0)

        if t > 0 and run.year_index[t] != run.year_index[t - 1]:
            m10.new_route_year(g, net, p.wider_flow)
        m10.step_wider_flow(g, t, net, lever, policy, p, rep.pipelines, run.delays, out)
        m07.hand_over(g, t, closure, net, rep.pipelines, p.enforcement, out)
        arrivals_postings = rep.pipelines.arrivals_workers[t]
        out.arrivals_from_postings = arrivals_postings
        out.arrivals_south_korea = (
            arrivals_postings + rep.pipelines.arrivals_wider[t] + out.onward_from_third_countries
        )
        net.arrivals_cumulative += out.arrivals_south_korea
        c0 = _lap(section_cycles, 5, c0)

        m09.economy_and_guards(
            t,
            net,
            lever,
            policy,
            hosts,
            p.strategic,
            out.revenue_to_state_usd,
            out.border_crossings,
            log,
            out,
        )
        c0 = _lap(section_cycles, 6, c0)

        record_day(
            t, n_days, run, net, policy, posts, sites, hosts, lay, decay, values, out, monthly
        )
        if n_rules:
            conditional.record_triggers(t, run.rules, rep.triggers, values)
        _lap(section_cycles, 7, c0)


@compiled
def flight_attempts(
    g: Any,
    t: int,
    p: Any,
    net: Any,
    policy: Any,
    rep: Any,
    site_day: np.ndarray,
    lay: Any,
    delays: DelayTables,
    decay: np.ndarray,
    moves: Any,
    log: List,
    out: Any,
) -> Any:
    """Today's plots: M5 groups form, M6 routes and capture, M7 detention, M8 reaction."""
    sites, posts, pipelines = rep.sites, rep.posts, rep.pipelines
    n_init = moves.counts[0]
    any_plot = n_init > 0
    for i in range(n_init):
        site_day[lay.post_site[moves.initiators[i]]].plot = True
    for s in range(lay.posts.shape[0]):
        if site_day[s].manager_start:
            site_day[s].plot = True
            any_plot = True
    if any_plot:
        for s in range(lay.posts.shape[0]):
            today = site_day[s]
            if not today.plot:
                continue
            today.plot = False
            if not sites[s].open:
                continue
            plot = m05.form_plot(g, t, s, p, posts, sites, today, lay, decay, moves)
            if plot.n_members == 0 and not plot.manager_led:
                continue
            moves = m05.PostMoves(
                moves.mark,
                moves.initiators,
                moves.ends,
                moves.recalled,
                moves.hires,
                plot.members,
                moves.counts,
            )
            if attempt(
                g, t, s, p, net, policy, sites, posts, pipelines, lay, delays, plot, log, out
            ):
                today.closing = True  # shut with the day's other closures (M8)
                out.closures_after_attempts += 1
                log_event(
                    log,
                    t,
                    Kind.CLOSURE,
                    site=s,
                    sector=Sector.RESTAURANT if lay.is_restaurant[s] else Sector.LABOUR,
                    country=lay.country[s] + 1,
                    outcome=Outcome.AFTER_ATTEMPT,
                )
    for i in range(n_init):
        moves.mark[moves.initiators[i]] = m05.NO_MOVE
    return moves


@compiled
def attempt(
    g: Any,
    t: int,
    s: int,
    p: Any,
    net: Any,
    policy: Any,
    sites: np.ndarray,
    posts: Any,
    pipelines: Any,
    lay: Any,
    delays: DelayTables,
    plot: Any,
    log: List,
    out: Any,
) -> bool:
    """One group's attempt from site ``s``: leave, route (M6), capture (M7), reaction (M8).

    Returns whether Pyongyang shuts the site after it (M8).
    """
    site = sites[s]
    is_rest = lay.is_restaurant[s]
    country = lay.country[s]
    n_members = plot.n_members
    size = n_members + (1 if plot.manager_led else 0)
    for i in range(n_members):
        posts.in_post[plot.members[i]] = False
    site.staff -= n_members
    if is_rest:
        out.attempts_restaurant += size
        out.defection_groups_restaurant += 1
    else:
        out.attempts_labour += size
        out.defection_groups_labour += 1
    out.manager_led_groups += 1 if plot.manager_led else 0
    helpers = False
    arrival = -1
    if plot.detected:
        net.exits_caught += n_members
        out.foiled_at_site += size
        route = Route.NONE
        outcome = Outcome.FOILED
        escaped = False
    else:
        route, helpers, caught, delay = m06.choose_route(
            g,
            p,
            plot.manager_led,
            is_rest,
            country,
            policy.exit_strictness,
            policy.border_stringency,
        )
        escaped = not caught
        if escaped:
            net.exits_escaped += n_members
            if is_rest:
                out.restaurant_defectors += size
            else:
                out.labour_defectors += size
            if route == Route.LEGAL:
                out.escapes_legal_route += size
            else:
                out.escapes_clandestine_route += size
            arrival = t + delay
            if arrival < pipelines.arrivals_workers.shape[0]:
                pipelines.arrivals_workers[arrival] += size
            outcome = Outcome.ESCAPED
        else:
            net.exits_caught += n_members
            if route == Route.LEGAL:
                outcome = Outcome.STOPPED_AT_EXIT
                out.stopped_at_exit += size
            else:
                outcome = Outcome.CAUGHT_IN_TRANSIT
                out.caught_in_transit += size
            if country == CHINA:  # into Chinese detention; those turned away and released hide
                out.arrests_china += size
                net.recent_crossers += m07.admit(
                    g, t, size, net, pipelines, delays, p.enforcement, out
                )
            else:
                m07.schedule(
                    g,
                    pipelines.repatriations_other,
                    t,
                    size,
                    delays.detention_keep,
                    delays.detention_alias,
                )
        if route == Route.CLANDESTINE:
            out.broker_fees_usd += size * p.routes.broker_cost_usd
    sector = Sector.RESTAURANT if is_rest else Sector.LABOUR
    log_event(
        log,
        t,
        Kind.DEFECTION_GROUP,
        site=s,
        sector=sector,
        country=country + 1,
        size=size,
        manager_led=plot.manager_led,
        helpers=helpers,
        route=route,
        outcome=outcome,
        arrival_day=arrival,
    )
    return m08.after_attempt(g, net, site, escaped, p.regime)


@compiled
def record_day(
    t: int,
    n_days: int,
    run: RunInputs,
    net: Any,
    policy: Any,
    posts: Any,
    sites: np.ndarray,
    hosts: np.ndarray,
    lay: Any,
    decay: np.ndarray,
    values: np.ndarray,
    out: Any,
    monthly: np.ndarray,
) -> None:
    """The day's stocks and Beijing's effective levers into ``out``; ``out`` into the month."""
    m01.workforce_stocks(sites, hosts, lay, out)
    m = run.month_index[t]
    if t == n_days - 1 or run.month_index[t + 1] != m:  # stocks keep only the month's last day
        n_rest_posts = lay.n_restaurant_posts
        n_posts = lay.post_site.shape[0]
        out.stress_restaurant = m04.mean_stress(
            t, 0, n_rest_posts, posts, sites, lay.post_site, decay
        )
        out.stress_labour = m04.mean_stress(
            t, n_rest_posts, n_posts, posts, sites, lay.post_site, decay
        )
    out.surveillance_level = net.control
    out.screening_level = net.screening
    out.exit_strictness = policy.exit_strictness
    out.border_stringency = policy.border_stringency
    out.china_sanctions = policy.china_sanctions
    out.food_aid = policy.food_aid
    out.travel_advisory = policy.travel_advisory
    out.un_workers_level = policy.un_workers
    out.diplomatic_signal_effective = policy.signal
    for v in range(values.shape[0]):
        if run.kind_stock[v]:
            monthly[v, m] = values[v]
        else:
            monthly[v, m] += values[v]
