"""Stocks and flows balance on every run and every mechanism; runs are reproducible.

DESIGN.md: workers in post + defected + repatriated + recalled + other exits
= hired; revenue = costs + wages + remittances + retained; the hidden
population of M10 balances its flows.  These are exact identities, checked on
every replicate and every month (money to a relative 1e-9).
"""

from __future__ import annotations

import numpy as np
import pytest

from lipsteeth.core.events import EventLog
from lipsteeth.core.simulate import ENGINES, replicate_seeds, simulate
from lipsteeth.core.state import PIPELINE_PAD, build_layout, init_state
from lipsteeth.core.step import DayInputs, DelayTables, step
from lipsteeth.core.timeline import Calendar, Timeline

from .support import small_params


@pytest.fixture(scope="module", params=ENGINES)
def small_run(baseline, request):
    """Two years across the 2016 boycott (many defections, closures, policy changes).

    Run by each engine: the identities are properties of the model, whichever
    implementation steps it.
    """
    params = small_params(baseline.params)
    start = np.datetime64("2015-06-01")
    n_days = 730
    offset = int((start - baseline.start).astype(int))
    timeline = _slice_timeline(baseline.timeline, offset, n_days)
    return simulate(
        params,
        baseline.levers,
        Calendar(start, n_days),
        timeline,
        seed=11,
        replicates=3,
        engine=request.param,
    ), params


def _slice_timeline(timeline: Timeline, offset: int, n_days: int) -> Timeline:
    sl = slice(offset, offset + n_days)
    return Timeline(
        n_days=n_days,
        lever_paths={k: v[sl] for k, v in timeline.lever_paths.items()},
        forced_nuclear=timeline.nuclear()[sl],
        forced_missile=timeline.missile()[sl],
        forced_resolution=timeline.resolution()[sl],
        endogenous_from=max(timeline.endogenous_from - offset, 0),
    )


def test_worker_ledger_balances(small_run):
    result, _ = small_run
    led = result.ledger
    lhs = led.initial_in_post + led.hired
    rhs = led.in_post + led.escaped + led.caught + led.recalled + led.other_exits
    np.testing.assert_array_equal(lhs, rhs)
    # the run exercised every exit
    assert (led.escaped > 0).all() and (led.recalled > 0).all() and (led.other_exits > 0).all()


def test_money_balances_every_month(small_run):
    result, _ = small_run
    o = result.outcome
    for sector, sales in (("restaurant", "restaurant_sales_usd"), ("labour", "labour_fees_usd")):
        remit = "remittance_restaurants_usd" if sector == "restaurant" else "remittance_labour_usd"
        lhs = o(sales)
        rhs = (
            o(f"{sector}_costs_usd")
            + o(f"{sector}_wages_usd")
            + o(remit)
            + o(f"{sector}_retained_usd")
        )
        np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-3)
    np.testing.assert_allclose(
        o("revenue_to_state_usd"),
        o("remittance_restaurants_usd") + o("remittance_labour_usd"),
        rtol=1e-12,
    )


def test_wider_flow_stock_balances(small_run):
    result, params = small_run
    o = result.outcome
    hidden_end = o("hidden_in_china")[:, -1]
    expected = (
        round(params.wider_flow.hidden_initial)
        + o("border_crossings").sum(axis=1)
        - o("arrests_hidden").sum(axis=1)
        - o("broker_departures").sum(axis=1)
        - o("returns_home").sum(axis=1)
    )
    np.testing.assert_array_equal(hidden_end, expected)


def test_people_flows_are_consistent(small_run):
    result, _ = small_run
    o = result.outcome
    # every arrival is a person who escaped (postings) or departed with brokers
    assert (
        o("arrivals_from_postings").sum(axis=1)
        <= (o("restaurant_defectors") + o("labour_defectors")).sum(axis=1)
    ).all()
    assert (o("arrivals_south_korea") >= o("arrivals_from_postings")).all()
    # escapes split into routes
    np.testing.assert_array_equal(
        o("restaurant_defectors") + o("labour_defectors"),
        o("escapes_legal_route") + o("escapes_clandestine_route"),
    )
    # attempts split into outcomes
    np.testing.assert_array_equal(
        o("attempts_restaurant") + o("attempts_labour"),
        o("restaurant_defectors")
        + o("labour_defectors")
        + o("foiled_at_site")
        + o("stopped_at_exit")
        + o("caught_in_transit"),
    )


def test_every_step_balances(baseline):
    """Identities hold after each single day, not only at the end (every mechanism)."""
    params = small_params(baseline.params, restaurants=30, labour_sites=10)
    levers = baseline.levers
    layout = build_layout(params)
    n_days = 60
    rngs = [np.random.default_rng(s) for s in replicate_seeds(5, np.arange(2))]
    state = init_state(params, levers, layout, n_days, rngs)
    delays = DelayTables.build(params, PIPELINE_PAD - 1)
    log = EventLog()
    hidden = state.hidden.copy()
    for day in range(n_days):
        out = step(
            rngs,
            state,
            layout,
            params,
            DayInputs(levers, int(day == 10), 0, np.full(5, np.nan), True, False),
            delays,
            log,
        )
        led_lhs = state.initial_in_post + state.hired
        led_rhs = (
            state.in_post.sum(axis=1)
            + state.exits_escaped
            + state.exits_caught
            + state.exits_recalled
            + state.exits_other
        )
        np.testing.assert_array_equal(led_lhs, led_rhs)
        hidden = (
            hidden
            + out["border_crossings"]
            - out["arrests_hidden"]
            - out["broker_departures"]
            - out["returns_home"]
        )
        np.testing.assert_array_equal(hidden, state.hidden)
        for sector in ("restaurant", "labour"):
            sales = out["restaurant_sales_usd" if sector == "restaurant" else "labour_fees_usd"]
            remit = out[
                "remittance_restaurants_usd" if sector == "restaurant" else "remittance_labour_usd"
            ]
            rhs = (
                out[f"{sector}_costs_usd"]
                + out[f"{sector}_wages_usd"]
                + remit
                + out[f"{sector}_retained_usd"]
            )
            np.testing.assert_allclose(sales, rhs, rtol=1e-9, atol=1e-6)
        staff = np.add.reduceat(state.in_post, np.r_[0, np.cumsum(layout.site_posts)[:-1]], axis=1)
        np.testing.assert_array_equal(staff, state.staff)
        assert not (state.in_post & ~state.site_open[:, layout.post_site]).any(), (
            "worker at a shut site"
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_same_seed_identical_different_seed_differs(baseline, engine):
    params = small_params(baseline.params)
    cal = Calendar(np.datetime64("2016-01-01"), 200)
    a = simulate(params, baseline.levers, cal, seed=3, replicates=2, engine=engine)
    b = simulate(params, baseline.levers, cal, seed=3, replicates=2, engine=engine)
    c = simulate(params, baseline.levers, cal, seed=4, replicates=2, engine=engine)
    np.testing.assert_array_equal(a.monthly, b.monthly)
    for key in a.events:
        np.testing.assert_array_equal(a.events[key], b.events[key])
    assert not np.array_equal(a.monthly, c.monthly)


@pytest.mark.parametrize("engine", ENGINES)
def test_replicate_does_not_depend_on_its_batch(baseline, engine):
    """Replicate i is the same alone, in a batch, or in another order (executor-independence)."""
    params = small_params(baseline.params)
    cal = Calendar(np.datetime64("2016-01-01"), 240)

    def run(replicates: list[int]):
        return simulate(
            params, baseline.levers, cal, seed=9, replicates=np.array(replicates), engine=engine
        )

    batch, alone, swapped = run([0, 1, 2]), run([2]), run([2, 0])
    np.testing.assert_array_equal(batch.monthly[2], alone.monthly[0])
    np.testing.assert_array_equal(batch.monthly[2], swapped.monthly[0])
    np.testing.assert_array_equal(batch.monthly[0], swapped.monthly[1])
    sel = batch.events["replicate"] == 2
    np.testing.assert_array_equal(batch.events["day"][sel], alone.events["day"])
    np.testing.assert_array_equal(batch.events["replicate"][sel], alone.events["replicate"])
