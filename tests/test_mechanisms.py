"""Unit tests of single mechanisms (M1-M10) on small synthetic states.

Statistical assertions use fixed seeds; each states the chance that a
correct implementation fails it (false-failure rate).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from lipsteeth.core import m01_revenue as m1
from lipsteeth.core import m02_demand as m2
from lipsteeth.core import m03_manager as m3
from lipsteeth.core import m05_defection as m5
from lipsteeth.core import m07_enforcement as m7
from lipsteeth.core import m09_strategic as m9
from lipsteeth.core import m10_wider_flow as m10
from lipsteeth.core.events import EventLog
from lipsteeth.core.simulate import simulate
from lipsteeth.core.state import PIPELINE_PAD, build_layout, init_state
from lipsteeth.core.step import DelayTables
from lipsteeth.core.timeline import Calendar

from .support import small_params


@pytest.fixture()
def world(baseline):
    params = small_params(baseline.params, restaurants=20, labour_sites=5)
    layout = build_layout(params)
    rngs = [np.random.default_rng(i) for i in range(2)]
    state = init_state(params, baseline.levers, layout, 100, rngs)
    return params, baseline.levers, layout, state, rngs


def test_bernoulli_indices_are_iid_bernoulli():
    """Counts match Binomial(n, p) and positions are uniform.

    Two-sided tests at level 1e-4 each (false-failure rate < 3e-4 in all).
    """
    g = np.random.default_rng(2024)
    n, p, reps = 50_000, 0.003, 300
    counts = np.array([m5.bernoulli_indices(g, n, p).size for _ in range(reps)])
    z = (counts.mean() - n * p) / np.sqrt(n * p * (1 - p) / reps)
    assert abs(z) < 3.9  # two-sided 1e-4
    positions = np.concatenate([m5.bernoulli_indices(g, n, p) for _ in range(50)])
    assert stats.kstest(positions / n, "uniform").pvalue > 1e-4
    one = m5.bernoulli_indices(g, 1000, 0.5)
    assert np.all(np.diff(one) > 0) and one.max() < 1000
    assert m5.bernoulli_indices(g, 10, 0.0).size == 0
    assert m5.bernoulli_indices(g, 10, 1.0).size == 10


def test_delay_pmf_mean_and_mass():
    pmf = m7.delay_pmf(30.0, 2.0, 729)
    assert pmf.sum() == pytest.approx(1.0)
    mean = (np.arange(1, 730) * pmf).sum()
    assert mean == pytest.approx(30.0, rel=0.05)


def test_accounts_pay_quota_first_and_balance(world):
    """M1: in a slump the quota is paid from reserves first, then arrears build."""
    params, levers, layout, state, _ = world
    cond = m9.beijing_policy(state, params, levers)
    demand = np.full(state.site_open.shape, 0.3)
    for _ in range(120):
        acc = m1.site_accounts(state, layout, params, cond, demand)
        np.testing.assert_allclose(
            acc.sales, acc.costs + acc.wages + acc.remittance + acc.retained, atol=1e-9
        )
        assert (acc.remittance <= acc.quota + state.arrears + 1e-9).all()
        state.reserve, state.arrears = acc.reserve, acc.arrears
    rest = layout.site_is_restaurant & state.site_open[0]
    assert (state.arrears[0, rest] > 0).all(), "a 70 % slump must leave restaurants in arrears"


def test_manager_cuts_pay_and_lengthens_hours(world):
    """M3 (F7): a shortfall lowers pay and raises hours; recovery restores them."""
    params, levers, layout, state, _ = world
    cond = m9.beijing_policy(state, params, levers)
    rest = layout.site_is_restaurant & state.site_open[0]
    for demand_level, direction in ((0.5, -1), (1.3, +1)):
        pay0, hours0 = state.pay_level[0, rest].mean(), state.hours[0, rest].mean()
        for _ in range(150):
            acc = m1.site_accounts(
                state, layout, params, cond, np.full(state.site_open.shape, demand_level)
            )
            state.reserve, state.arrears = acc.reserve, acc.arrears
            m3.step_manager(state, params, acc)
        assert np.sign(state.pay_level[0, rest].mean() - pay0) == direction
        assert np.sign(state.hours[0, rest].mean() - hours0) == -direction


def test_demand_falls_with_boycott_and_rules(world):
    """M2: Seoul's advisory and anti-extravagance rules lower restaurant demand only."""
    params, levers, layout, state, rngs = world
    quiet = dataclasses.replace(params, demand=dataclasses.replace(params.demand, noise_sd=0.0))
    base = m2.step_demand(
        rngs, state, layout, quiet, m9.beijing_policy(state, quiet, levers), np.zeros(2)
    )
    boycott = dataclasses.replace(levers, seoul_travel_advisory=1.0, anti_extravagance=1.0)
    low = m2.step_demand(
        rngs, state, layout, quiet, m9.beijing_policy(state, quiet, boycott), np.zeros(2)
    )
    rest = layout.site_is_restaurant
    assert (low[:, rest] < base[:, rest]).all()
    np.testing.assert_array_equal(low[:, ~rest], 1.0)


def test_provocation_rate_responds_to_pressure_aid_and_squeeze(world):
    """M9 (F9): pressure and aid lower the test rate; economic squeeze raises it."""
    params, levers, _, state, _ = world

    def rate(lv):
        return m9.provocation_rates(state, params, m9.beijing_policy(state, params, lv))[0][0]

    base = rate(levers)
    assert rate(dataclasses.replace(levers, china_sanctions=0.8)) < base
    assert rate(dataclasses.replace(levers, food_aid=1.0)) < base
    state.economy[:] = 0.7
    assert rate(levers) > base


def test_beijing_limits_and_laxity(world):
    """M9: displeasure relaxes exit checks; guards stop collapse and exodus.

    With Beijing's discretion at 0 its levers stay as set.
    """
    params, levers, _, state, _ = world
    state.displeasure[:] = params.strategic.laxity_threshold + 0.5
    cond = m9.beijing_policy(state, params, levers)
    assert (cond.exit_strictness < levers.china_exit_strictness).all()
    assert (cond.china_sanctions > levers.china_sanctions).all()
    fixed = m9.beijing_policy(state, params, dataclasses.replace(levers, beijing_discretion=0.0))
    assert (fixed.exit_strictness == levers.china_exit_strictness).all()
    state.exodus_guard[:] = True
    state.collapse_guard[:] = True
    guarded = m9.beijing_policy(state, params, levers)
    assert (guarded.stringency == 1.0).all()
    assert (guarded.china_sanctions <= levers.china_sanctions).all()
    assert (guarded.aid > 0).all()


def test_forced_resolution_raises_provisions(world):
    params, levers, _, state, rngs = world
    cond = m9.beijing_policy(state, params, levers)
    floors = np.array([0.0, 0.5, 0.25, 0.0, 0.0])
    out = m9.step_strategic(rngs, state, params, cond, 1, 0, floors, False, EventLog())
    np.testing.assert_array_equal(out["un_resolutions"], 1.0)
    np.testing.assert_array_equal(out["nuclear_tests"], 1.0)
    np.testing.assert_array_equal(state.un_levels[:, 1], 0.5)
    sp = params.strategic
    expected = sp.displeasure_nuclear + sp.displeasure_missile * out["missile_tests"]
    np.testing.assert_allclose(state.displeasure, expected)


def test_warm_start_books_the_people_already_on_the_way(baseline):
    """M7/M10: day-0 pipelines hold the flow of the days before the start.

    With day-0 rates held before the start, the expected number booked for
    day k is (daily flow) x P(delay > k): the day-0 booking equals one day's
    flow and the total equals the flow x the mean delay.  Each count is a sum
    of independent Poisson draws over 400 replicates; z-tests at |z| < 4.4
    (two-sided 1e-5 each, four tests: false-failure rate < 5e-5).
    """
    params = small_params(baseline.params, restaurants=5, labour_sites=2)
    layout = build_layout(params)
    rngs = [np.random.default_rng(900 + i) for i in range(400)]
    state = init_state(params, baseline.levers, layout, 30, rngs)
    delays = DelayTables.build(params, PIPELINE_PAD - 1)
    cond = m9.beijing_policy(state, params, baseline.levers)
    rates = m10.flow_rates(state, params, cond)
    m10.warm_start_pipelines(rngs, state, params, cond, delays.transit, delays.detention)

    hidden = float(state.hidden[0])
    departing = hidden * (1.0 - rates.p_arrest[0]) * rates.p_depart
    arriving = departing * (1.0 - rates.p_caught[0])
    detained = hidden * rates.p_arrest[0] + departing * rates.p_caught[0]
    mean_transit = (np.arange(1, delays.transit.size + 1) * delays.transit).sum()
    mean_detention = (np.arange(1, delays.detention.size + 1) * delays.detention).sum()
    R = len(rngs)
    for observed, expected in (
        (state.arrivals_wider[:, 0].sum(), R * arriving),
        (state.arrivals_wider.sum(), R * arriving * mean_transit),
        (state.repatriations_china[:, 0].sum(), R * detained),
        (state.repatriations_china.sum(), R * detained * mean_detention),
    ):
        assert expected > 100  # the test has power: a missing warm start gives z << -4.4
        assert abs(observed - expected) / np.sqrt(expected) < 4.4


def test_default_run_has_no_spin_up_dip(baseline):
    """M7/M10: arrivals and repatriations in the first month are at the level of
    months 4-6, not a pipeline filling from zero (before the warm start, month 1
    had 10 % of the later arrivals and 27 % of the repatriations).

    Eight replicates of the default's first half-year: month 1 holds about 900
    arrivals and 3,300 repatriations, so the ratio of month 1 to the mean of
    months 4-6 has a Poisson standard error of about 0.04 (arrivals); the bound
    0.8 is 5 standard errors below 1 (false-failure rate below 1e-6).
    """
    calendar = Calendar(baseline.calendar.start, 182)
    timeline = dataclasses.replace(
        baseline.timeline,
        n_days=182,
        lever_paths={k: v[:182] for k, v in baseline.timeline.lever_paths.items()},
        forced_nuclear=None,
        forced_missile=None,
        forced_resolution=None,
    )
    result = simulate(
        baseline.params, baseline.levers, calendar, timeline, seed=baseline.seed, replicates=8
    )
    for name in ("arrivals_south_korea", "repatriations_from_china"):
        monthly = result.outcome(name).sum(axis=0)
        assert monthly[0] > 0.8 * monthly[3:6].mean(), name
