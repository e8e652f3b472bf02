"""One day of the model: M9 -> M2 -> M1/M3 -> M4 -> M5/M6/M8 -> M10/M7 -> accounting.

``step`` is the only function that assigns state fields; each mechanism
module computes its part.  Randomness comes from one generator per
replicate, always drawn in the same order, so a replicate's path does not
depend on which other replicates run beside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from . import events as ev
from . import m01_revenue as m1
from . import m02_demand as m2
from . import m03_manager as m3
from . import m04_workers as m4
from . import m05_defection as m5
from . import m06_routes as m6
from . import m07_enforcement as m7
from . import m08_regime as m8
from . import m09_strategic as m9
from . import m10_wider_flow as m10
from .params import Levers, Params
from .state import (
    CHINA,
    COUNTRY_NAMES,
    Layout,
    State,
    labour_target,
    recruit_traits,
    site_starts,
)


@dataclass(frozen=True)
class DayInputs:
    """Timeline inputs of one day."""

    levers: Levers
    forced_nuclear: int
    forced_missile: int
    forced_resolution: np.ndarray
    endogenous: bool
    month_end: bool


@dataclass(frozen=True)
class DelayTables:
    """Delay distributions used to schedule arrivals and repatriations (M7, M10)."""

    transit: np.ndarray
    detention: np.ndarray

    @classmethod
    def build(cls, params: Params, length: int) -> DelayTables:
        return _delay_tables(
            params.wider_flow.transit_days, params.enforcement.detention_days, length
        )


@functools.lru_cache(maxsize=64)
def _delay_tables(transit_days: float, detention_days: float, length: int) -> DelayTables:
    """Delay tables by their means (cached: many runs share them; nothing writes to them)."""
    return DelayTables(
        transit=m7.delay_pmf(transit_days, 3.0, length),
        detention=m7.delay_pmf(detention_days, 2.0, length),
    )


def _leave(state: State, layout: Layout, r: int, posts: np.ndarray) -> None:
    """Workers at ``posts`` of replicate ``r`` leave their posts (keeps staff counts in step)."""
    if posts.size:
        state.in_post[r, posts] = False
        np.subtract.at(state.staff[r], layout.post_site[posts], 1)


def _labour_scale(state: State, params: Params, cond: m9.Conditions) -> np.ndarray:
    """Contracted labour force relative to the start (M1 with UN worker provisions, M9).

    Grows at ``dispatch_growth_per_year`` until a UN freeze (provision >= 0.3);
    decays with a one-year time constant under full repatriation orders
    (provision >= 0.9, UNSCR 2397 gave 24 months); frozen in a border closure.
    """
    growth = params.labour.dispatch_growth_per_year / 365.0
    w = cond.un_workers
    rate = np.where(w >= 0.9, -1.0 / 365.0, np.where(w >= 0.3, 0.0, growth))
    rate = rate * (1.0 - cond.levers.border_closure)
    return state.labour_scale * np.exp(rate)


def step(
    rngs: list[np.random.Generator],
    state: State,
    layout: Layout,
    params: Params,
    day_inputs: DayInputs,
    delays: DelayTables,
    log: ev.EventLog,
) -> dict[str, np.ndarray]:
    """Advance ``state`` by one day in place; return the day's outcomes (R,) by name."""
    t = state.day
    R = state.n_replicates
    levers = day_inputs.levers
    is_rest_site = layout.site_is_restaurant

    # M9: Beijing's effective levers, then Pyongyang's tests, envoys, resolutions
    cond = m9.beijing_policy(state, params, levers)
    strategic = m9.step_strategic(
        rngs,
        state,
        params,
        cond,
        day_inputs.forced_nuclear,
        day_inputs.forced_missile,
        day_inputs.forced_resolution,
        day_inputs.endogenous,
        log,
    )
    # M2 demand, M1 accounts, M3 manager response
    demand = m2.step_demand(rngs, state, layout, params, cond, strategic["nuclear_tests"])
    accounts = m1.site_accounts(state, layout, params, cond, demand)
    state.reserve = accounts.reserve
    state.arrears = accounts.arrears
    m3.step_manager(state, params, accounts)
    arrears_idx = m1.arrears_index(accounts.arrears, accounts.quota)

    # M4 worker state
    pressure = m4.site_pressure(state, params, accounts)
    m4.step_site_stress(state, params, pressure)
    surveillance = m4.surveillance(state, layout, params)

    # M1 wanted headcount; M5 post transitions
    state.labour_scale = _labour_scale(state, params, cond)
    wanted = labour_target(layout, state.labour_scale, params)
    moves = m5.post_transitions(rngs, state, layout, params, cond, surveillance, wanted)
    manager_pressure = m5.manager_pressure(arrears_idx, state.pay_level)
    manager_start = m5.manager_initiations(rngs, state, params, manager_pressure)

    rotations = np.array([idx.size for idx in moves.contract_end], dtype=np.int64)
    recalls = np.array([idx.size for idx in moves.recall], dtype=np.int64)
    hires = np.array([idx.size for idx in moves.hire], dtype=np.int64)
    for r, g in enumerate(rngs):
        _leave(state, layout, r, moves.contract_end[r])
        _leave(state, layout, r, moves.recall[r])
        new_posts = moves.hire[r]
        if new_posts.size:
            loyalty, log_base = recruit_traits(
                g,
                new_posts.size,
                layout.post_is_restaurant[new_posts],
                params,
                float(state.screening[r]),
                levers,
            )
            state.loyalty[r, new_posts] = loyalty
            state.log_base[r, new_posts] = log_base
            state.hire_day[r, new_posts] = t
            state.stress_at_hire[r, new_posts] = state.site_stress[r, layout.post_site[new_posts]]
            state.in_post[r, new_posts] = True
            np.add.at(state.staff[r], layout.post_site[new_posts], 1)
    state.exits_other += rotations
    state.hired += hires

    # M5 plots -> M6 routes -> M7 capture -> M8 reaction
    daily = {
        k: np.zeros(R)
        for k in (
            "attempts_restaurant",
            "attempts_labour",
            "restaurant_defectors",
            "labour_defectors",
            "defection_groups_restaurant",
            "defection_groups_labour",
            "manager_led_groups",
            "foiled_at_site",
            "stopped_at_exit",
            "caught_in_transit",
            "escapes_legal_route",
            "escapes_clandestine_route",
            "broker_fees_usd",
            "closures_after_attempts",
            "restaurant_closures",
            "restaurant_openings",
            "worker_arrests_china",
            "seized_reserve_restaurants",
            "seized_reserve_labour",
        )
    }
    closing = np.zeros((R, layout.n_sites), dtype=bool)
    for r, g in enumerate(rngs):
        initiator_posts = moves.initiators[r]
        manager_sites = np.flatnonzero(manager_start[r])
        if initiator_posts.size == 0 and manager_sites.size == 0:
            continue  # the usual day: nobody plots
        sites = np.union1d(layout.post_site[initiator_posts], manager_sites)
        for site in sites:
            site = int(site)
            if not state.site_open[r, site]:
                continue
            is_rest = bool(is_rest_site[site])
            sector = "restaurant" if is_rest else "labour"
            country = int(layout.site_country[site])
            starters = initiator_posts[layout.post_site[initiator_posts] == site]
            starters = starters[state.in_post[r, starters]]
            if starters.size == 0 and not manager_start[r, site]:
                continue
            plot = m5.form_plot(
                g,
                r,
                site,
                starters,
                bool(manager_start[r, site]),
                state,
                layout,
                params,
                float(manager_pressure[r, site]),
                float(surveillance[r, site]),
            )
            size = plot.size
            n_workers = int(plot.members.shape[0])
            _leave(state, layout, r, plot.members)
            daily[f"attempts_{sector}"][r] += size
            daily[f"defection_groups_{sector}"][r] += 1
            daily["manager_led_groups"][r] += int(plot.manager_led)
            if plot.detected:
                state.exits_caught[r] += n_workers
                daily["foiled_at_site"][r] += size
                route = m6.RouteOutcome(m6.NONE, False, True, 0)
                outcome, escaped = "foiled", False
            else:
                route = m6.choose_route(
                    g,
                    plot.manager_led,
                    is_rest,
                    country,
                    float(cond.exit_strictness[r]),
                    float(cond.stringency[r]),
                    params,
                )
                escaped = not route.caught
                if escaped:
                    state.exits_escaped[r] += n_workers
                    daily[f"{sector}_defectors"][r] += size
                    daily[f"escapes_{route.route}_route"][r] += size
                    state.arrivals_workers[r, t + route.delay_days] += size
                    outcome = "escaped"
                else:
                    state.exits_caught[r] += n_workers
                    outcome = "stopped_at_exit" if route.route == m6.LEGAL else "caught_in_transit"
                    daily[outcome][r] += size
                    pipeline = (
                        state.repatriations_china if country == CHINA else state.repatriations_other
                    )
                    if country == CHINA:
                        daily["worker_arrests_china"][r] += size
                    m7.schedule(g, pipeline[r], t, size, delays.detention)
                if route.route == m6.CLANDESTINE:
                    daily["broker_fees_usd"][r] += size * params.routes.broker_cost_usd
            arrival = t + route.delay_days if escaped else -1
            log.add(
                r,
                t,
                ev.DEFECTION_GROUP,
                site=site,
                sector=sector,
                country=COUNTRY_NAMES[country],
                size=size,
                manager_led=plot.manager_led,
                helpers=route.helpers,
                route=route.route,
                outcome=outcome,
                arrival_day=arrival,
            )
            if m8.after_attempt(g, r, site, escaped, state, params):
                closing[r, site] = True
                daily["closures_after_attempts"][r] += 1
                log.add(
                    r,
                    t,
                    ev.CLOSURE,
                    site=site,
                    sector=sector,
                    country=COUNTRY_NAMES[country],
                    outcome="after_attempt",
                )

    # M8 closures for chronic arrears, then shut sites, then openings
    failing = m8.failure_closures(rngs, state, layout, params, arrears_idx) & ~closing
    for r, site in zip(*np.nonzero(failing), strict=True):
        log.add(
            int(r),
            t,
            ev.CLOSURE,
            site=int(site),
            sector="restaurant",
            country=COUNTRY_NAMES[int(layout.site_country[site])],
            outcome="arrears",
        )
    closing |= failing
    if closing.any():
        # posts of a site are contiguous: touch only the closing sites' posts
        first_post = site_starts(layout)
        recalled_at_closure = np.zeros(R, dtype=np.int64)
        for r, site in zip(*np.nonzero(closing), strict=True):
            posts = slice(first_post[site], first_post[site] + layout.site_posts[site])
            recalled_at_closure[r] += np.count_nonzero(state.in_post[r, posts])
            state.in_post[r, posts] = False
        state.staff = np.where(closing, 0, state.staff)
        recalls += recalled_at_closure
        seized = np.where(closing, state.reserve, 0.0)
        daily["seized_reserve_restaurants"] = seized[:, is_rest_site].sum(axis=1)
        daily["seized_reserve_labour"] = seized[:, ~is_rest_site].sum(axis=1)
        state.reserve = np.where(closing, 0.0, state.reserve)
        state.arrears = np.where(closing, 0.0, state.arrears)
        state.margin = np.where(closing, 0.0, state.margin)
        state.pay_level = np.where(closing, 1.0, state.pay_level)
        state.hours = np.where(closing, 1.0, state.hours)
        state.site_open = state.site_open & ~closing
        state.reopen_day = np.where(
            closing, t + int(params.regime.reopen_delay_days), state.reopen_day
        )
        daily["restaurant_closures"] = (closing & is_rest_site[None, :]).sum(axis=1).astype(float)
    state.exits_recalled += recalls
    slowdown = np.maximum(cond.china_sanctions, cond.un_workers)
    for r, sites in enumerate(m8.openings(rngs, state, layout, params, slowdown)):
        for site in sites:
            state.site_open[r, site] = True
            state.reserve[r, site] = 0.0
            log.add(
                r,
                t,
                ev.OPENING,
                site=int(site),
                sector="restaurant",
                country=COUNTRY_NAMES[int(layout.site_country[site])],
            )
        daily["restaurant_openings"][r] = len(sites)
    m8.relax_control(state, params)

    # M10 wider flow and M7 repatriations
    flow = m10.step_wider_flow(rngs, state, params, cond, delays.transit, delays.detention)
    if levers.border_closure >= 0.5:
        # M7: with the border shut to people, detainees wait; they are handed over on reopening
        for pipeline in (state.repatriations_china, state.repatriations_other):
            pipeline[:, t + 1] += pipeline[:, t]
            pipeline[:, t] = 0
    repatriated_china = state.repatriations_china[:, t].astype(float)
    severe = np.array(
        [m7.severe_share(g, int(repatriated_china[r]), params) for r, g in enumerate(rngs)], float
    )
    arrivals_postings = state.arrivals_workers[:, t].astype(float)
    arrivals = arrivals_postings + state.arrivals_wider[:, t]

    # accounting and the strategic feedback
    # restaurants are sites [0, n_restaurants), labour sites the rest (state.build_layout)
    rest, lab = slice(0, layout.n_restaurants), slice(layout.n_restaurants, None)

    def by_sector(x: np.ndarray, sector: slice) -> np.ndarray:
        return x[:, sector].sum(axis=1)

    remit_rest = by_sector(accounts.remittance, rest) + daily["seized_reserve_restaurants"]
    remit_lab = by_sector(accounts.remittance, lab) + daily["seized_reserve_labour"]
    revenue_to_state = remit_rest + remit_lab
    strategic_after = m9.update_economy_and_guards(
        state, params, cond, revenue_to_state, flow["crossings"], log
    )
    staff = state.staff
    open_rest = np.zeros_like(state.site_open)
    open_rest[:, rest] = state.site_open[:, rest]
    staff_rest = staff[:, rest].sum(axis=1)
    staff_lab = staff[:, lab].sum(axis=1)
    weights = np.where(open_rest, staff, 0.0)
    wsum = np.maximum(weights.sum(axis=1), 1e-9)
    n_rest_posts = layout.n_restaurant_posts
    if day_inputs.month_end:
        stress_rest = m4.mean_stress(state, layout, params, 0, n_rest_posts)
        stress_lab = m4.mean_stress(state, layout, params, n_rest_posts, layout.n_posts)
    else:  # stocks keep only the month's last day
        stress_rest = stress_lab = np.zeros(R)
    out = {
        "revenue_to_state_usd": revenue_to_state,
        "remittance_restaurants_usd": remit_rest,
        "remittance_labour_usd": remit_lab,
        "restaurant_sales_usd": by_sector(accounts.sales, rest),
        "restaurant_costs_usd": by_sector(accounts.costs, rest),
        "restaurant_wages_usd": by_sector(accounts.wages, rest),
        "restaurant_retained_usd": by_sector(accounts.retained, rest)
        - daily["seized_reserve_restaurants"],
        "labour_fees_usd": by_sector(accounts.sales, lab),
        "labour_costs_usd": by_sector(accounts.costs, lab),
        "labour_wages_usd": by_sector(accounts.wages, lab),
        "labour_retained_usd": by_sector(accounts.retained, lab) - daily["seized_reserve_labour"],
        "restaurant_arrears_usd": by_sector(state.arrears, rest),
        "pay_level_restaurant": (weights * state.pay_level).sum(axis=1) / wsum,
        "hours_restaurant": (weights * state.hours).sum(axis=1) / wsum,
        "salary_suspended_restaurants": (open_rest & (state.pay_level < 0.05)).sum(axis=1),
        "stress_restaurant": stress_rest,
        "stress_labour": stress_lab,
        "workers_abroad": staff_rest + staff_lab,
        "workers_restaurant": staff_rest,
        "workers_labour": staff_lab,
        "restaurants_open": open_rest.sum(axis=1),
        "hires": hires,
        "rotations_home": rotations,
        "recalls": recalls,
        "restaurant_openings": daily["restaurant_openings"],
        "restaurant_closures": daily["restaurant_closures"],
        "closures_after_attempts": daily["closures_after_attempts"],
        "surveillance_level": state.control.copy(),
        "screening_level": state.screening.copy(),
        "attempts_restaurant": daily["attempts_restaurant"],
        "attempts_labour": daily["attempts_labour"],
        "restaurant_defectors": daily["restaurant_defectors"],
        "labour_defectors": daily["labour_defectors"],
        "defection_groups_restaurant": daily["defection_groups_restaurant"],
        "defection_groups_labour": daily["defection_groups_labour"],
        "manager_led_groups": daily["manager_led_groups"],
        "foiled_at_site": daily["foiled_at_site"],
        "stopped_at_exit": daily["stopped_at_exit"],
        "caught_in_transit": daily["caught_in_transit"],
        "escapes_legal_route": daily["escapes_legal_route"],
        "escapes_clandestine_route": daily["escapes_clandestine_route"],
        "broker_fees_usd": daily["broker_fees_usd"],
        "arrivals_south_korea": arrivals,
        "arrivals_from_postings": arrivals_postings,
        "border_crossings": flow["crossings"],
        "hidden_in_china": state.hidden.astype(float),
        "arrests_china": flow["arrests"] + flow["intercepted"] + daily["worker_arrests_china"],
        "arrests_hidden": flow["arrests"],
        "brokered_intercepted": flow["intercepted"],
        "repatriations_from_china": repatriated_china,
        "repatriations_other_hosts": state.repatriations_other[:, t].astype(float),
        "repatriated_severe_punishment": severe,
        "broker_departures": flow["departures"],
        "returns_home": flow["returns"],
        "missile_tests": strategic["missile_tests"],
        "nuclear_tests": strategic["nuclear_tests"],
        "provocations": strategic["missile_tests"] + strategic["nuclear_tests"],
        "un_resolutions": strategic["un_resolutions"],
        "envoys": strategic["envoys"],
        "relations_index": strategic_after["relations_index"],
        "displeasure": strategic_after["displeasure"],
        "economy_index": strategic_after["economy_index"],
        "exit_strictness": cond.exit_strictness,
        "border_stringency": cond.stringency,
        "china_sanctions": cond.china_sanctions,
        "food_aid": cond.aid,
        "travel_advisory": cond.advisory,
        "un_workers_level": cond.un_workers,
        "trade_loss": strategic_after["trade_loss"],
    }
    state.day = t + 1
    return out
