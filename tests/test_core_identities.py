"""Stocks and flows balance on every run and every mechanism; runs are reproducible.

DESIGN.md: workers in post + defected + repatriated + recalled + other exits
= hired; revenue = costs + wages + remittances + retained; the hidden
population of M10 balances its flows.  These are exact identities, checked on
every replicate and every month (money to a relative 1e-9).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lipsteeth.core.simulate import simulate
from lipsteeth.core.timeline import Calendar, Timeline

from .support import kernel_world, small_params


@pytest.fixture(scope="module")
def small_run(baseline):
    """Two years across the 2016 boycott (many defections, closures, policy changes)."""
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
    """M10/M7: the hidden in China and the third-country stock move only by their flows."""
    result, params = small_run
    o = result.outcome
    hidden_end = o("hidden_in_china")[:, -1]
    expected = (
        round(params.wider_flow.hidden_initial)
        + o("border_crossings").sum(axis=1)
        - o("arrests_hidden").sum(axis=1)
        - o("broker_departures").sum(axis=1)
        - o("returns_home").sum(axis=1)
        + o("detention_released").sum(axis=1)
    )
    np.testing.assert_array_equal(hidden_end, expected)
    third_end = o("third_country_residents")[:, -1]
    third = (
        round(params.wider_flow.third_country_initial)
        + o("to_third_countries").sum(axis=1)
        - o("onward_from_third_countries").sum(axis=1)
    )
    np.testing.assert_array_equal(third_end, third)
    np.testing.assert_array_equal(
        o("hidden_in_china"), o("recent_crossers") + o("long_term_residents")
    )


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


def test_every_day_balances(baseline):
    """Identities hold after each single day of the kernel, not only at the end.

    The kernel runs one day at a time (``kernel.run_days`` over [t, t + 1)),
    with a dated nuclear test on day 10 and frequent flight, so that every
    mechanism moves people or money on some day.
    """
    params = small_params(baseline.params, restaurants=30, labour_sites=10)
    params = dataclasses.replace(
        params,
        defection=dataclasses.replace(
            params.defection, restaurant_hazard_per_year=0.5, manager_hazard_per_year=0.3
        ),
    )
    n_days = 90
    nuclear = np.zeros(n_days, dtype=np.int64)
    nuclear[10] = 1
    world = kernel_world(
        params, baseline.levers, n_days, timeline=Timeline(n_days=n_days, forced_nuclear=nuclear)
    )
    layout = world.inputs.layout
    hidden = [world.net(r).recent_crossers + world.net(r).long_term_residents for r in range(2)]
    held = [world.net(r).detained + world.net(r).long_detention for r in range(2)]
    exits = 0
    for day in range(n_days):
        for r in range(2):
            out = world.day(r, day)
            net, rep = world.net(r), world.rep(r)
            assert net.initial_in_post + net.hired == (
                rep.posts.in_post.sum()
                + net.exits_escaped
                + net.exits_caught
                + net.exits_recalled
                + net.exits_other
            )
            exits += out["attempts_restaurant"] + out["rotations_home"]
            hidden[r] += (
                out["border_crossings"]
                - out["arrests_hidden"]
                - out["broker_departures"]
                - out["returns_home"]
                + out["detention_released"]
            )
            assert hidden[r] == net.recent_crossers + net.long_term_residents
            # M7: everyone arrested in China is detained, released or in long detention
            held[r] += out["arrests_china"] - out["detention_released"]
            held[r] -= out["repatriations_from_china"]
            assert held[r] == net.detained + net.long_detention
            for sector, sales, remit in (
                ("restaurant", "restaurant_sales_usd", "remittance_restaurants_usd"),
                ("labour", "labour_fees_usd", "remittance_labour_usd"),
            ):
                rhs = out[f"{sector}_costs_usd"] + out[f"{sector}_wages_usd"] + out[remit]
                assert out[sales] == pytest.approx(rhs + out[f"{sector}_retained_usd"], abs=1e-6)
            staff = np.add.reduceat(rep.posts.in_post, layout.start)
            np.testing.assert_array_equal(staff, rep.sites.staff)
            open_post = rep.sites.open[layout.post_site]
            assert not (rep.posts.in_post & ~open_post).any(), "worker at a shut site"
    assert exits > 0


def test_same_seed_identical_different_seed_differs(baseline):
    params = small_params(baseline.params)
    cal = Calendar(np.datetime64("2016-01-01"), 200)
    a = simulate(params, baseline.levers, cal, seed=3, replicates=2)
    b = simulate(params, baseline.levers, cal, seed=3, replicates=2)
    c = simulate(params, baseline.levers, cal, seed=4, replicates=2)
    np.testing.assert_array_equal(a.monthly, b.monthly)
    for key in a.events:
        np.testing.assert_array_equal(a.events[key], b.events[key])
    assert not np.array_equal(a.monthly, c.monthly)


def test_replicate_does_not_depend_on_its_batch(baseline):
    """Replicate i is the same alone, in a batch, or in another order (executor-independence)."""
    params = small_params(baseline.params)
    cal = Calendar(np.datetime64("2016-01-01"), 240)

    def run(replicates: list[int]):
        return simulate(params, baseline.levers, cal, seed=9, replicates=np.array(replicates))

    batch, alone, swapped = run([0, 1, 2]), run([2]), run([2, 0])
    np.testing.assert_array_equal(batch.monthly[2], alone.monthly[0])
    np.testing.assert_array_equal(batch.monthly[2], swapped.monthly[0])
    np.testing.assert_array_equal(batch.monthly[0], swapped.monthly[1])
    sel = batch.events["replicate"] == 2
    np.testing.assert_array_equal(batch.events["day"][sel], alone.events["day"])
    np.testing.assert_array_equal(batch.events["replicate"][sel], alone.events["replicate"])


def test_replicate_parameters_apply_to_their_replicate(baseline):
    """Each replicate runs with its own parameters (parameter uncertainty, issue 13), on
    the random stream of its index: a replicate given the default parameters is the same
    as in a default run, and one given other parameters differs."""
    params = small_params(baseline.params)
    cal = Calendar(np.datetime64("2016-01-01"), 120)
    default = simulate(params, baseline.levers, cal, seed=4, replicates=2)
    fewer_hidden = dataclasses.replace(
        params, wider_flow=dataclasses.replace(params.wider_flow, hidden_initial=1_000.0)
    )
    mixed = simulate(
        params, baseline.levers, cal, seed=4, replicates=2, replicate_params=[params, fewer_hidden]
    )
    np.testing.assert_array_equal(mixed.monthly[0], default.monthly[0])
    hidden = mixed.outcome_names.index("hidden_in_china")
    assert mixed.monthly[1, hidden, 0] < default.monthly[1, hidden, 0]
    np.testing.assert_array_equal(mixed.ledger.initial_in_post, default.ledger.initial_in_post)
    with pytest.raises(ValueError, match="replicate_params"):
        simulate(params, baseline.levers, cal, replicates=2, replicate_params=[params])
