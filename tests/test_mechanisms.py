"""Unit tests of single mechanisms (M1-M10): the compiled functions the kernel runs.

Each test calls a mechanism's Numba function directly on records of a small
started run (``support.kernel_world``).  Statistical assertions use fixed
seeds; each states the chance that a correct implementation fails it
(false-failure rate).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numba import njit
from scipy import stats

from lipsteeth.core import m01_revenue as m01
from lipsteeth.core import m02_demand as m02
from lipsteeth.core import m03_manager as m03
from lipsteeth.core import m04_workers as m04
from lipsteeth.core import m05_defection as m05
from lipsteeth.core import m06_routes as m06
from lipsteeth.core import m07_enforcement as m07
from lipsteeth.core import m08_regime as m08
from lipsteeth.core import m09_strategic as m09
from lipsteeth.core import m10_wider_flow as m10
from lipsteeth.core.events import Route, event_arrays, event_columns, new_event_log
from lipsteeth.core.outcomes import OUTCOME_DTYPE
from lipsteeth.core.records import lever_record, param_record
from lipsteeth.core.simulate import simulate
from lipsteeth.core.state import PIPELINE_PAD, SITE_DAY_DTYPE, Posts
from lipsteeth.core.timeline import Calendar

from .support import kernel_world, small_params


@pytest.fixture()
def world(baseline):
    params = small_params(baseline.params, restaurants=20, labour_sites=5)
    return kernel_world(params, baseline.levers, 200)


def fresh_out() -> np.record:
    return np.zeros(1, dtype=OUTCOME_DTYPE).view(np.recarray)[0]


def fresh_policy(world, lever=None) -> np.record:
    policy = np.zeros(1, dtype=m09.POLICY_DTYPE).view(np.recarray)[0]
    lever = world.lever(0) if lever is None else lever
    m09.beijing_policy(policy, world.net(0), lever, world.rep(0).un_levels, world.p.strategic)
    return policy


def levers_record(levers, **changes) -> np.record:
    return lever_record(dataclasses.replace(levers, **changes)).view(np.recarray)[0]


# --------------------------------------------------------------------------- M1, M3


def test_accounts_pay_quota_first_and_balance(world):
    """M1: in a slump the quota is paid from reserves first, then arrears build; money balances."""
    p, lever = world.p, world.lever(0)
    c = m02.demand_constants(p.demand)
    sites, host = world.rep(0).sites, world.rep(0).hosts[0]
    host.segment = 0.3
    layout = world.inputs.layout
    open_rest = [s for s in range(layout.n_restaurants) if sites[s].open]
    assert open_rest
    for _ in range(120):
        for s in open_rest:
            out = fresh_out()
            due = lever.restaurant_quota_usd / 365.0 * sites[s].quota_factor + sites[s].arrears
            m01.site_accounts(sites[s], host, True, layout.posts[s], p, lever, c, out)
            assert out.restaurant_sales_usd == pytest.approx(
                out.restaurant_costs_usd
                + out.restaurant_wages_usd
                + out.remittance_restaurants_usd
                + out.restaurant_retained_usd,
                abs=1e-9,
            )
            assert out.remittance_restaurants_usd <= due + 1e-9
    assert all(sites[s].arrears > 0 for s in open_rest), "a 70 % slump must leave arrears"


def test_manager_cuts_pay_and_lengthens_hours(world):
    """M3 (F7): a shortfall lowers pay and raises hours; recovery restores them."""
    p, lever = world.p, world.lever(0)
    c = m02.demand_constants(p.demand)
    sites, host = world.rep(0).sites, world.rep(0).hosts[0]
    layout = world.inputs.layout
    rest = [s for s in range(layout.n_restaurants) if sites[s].open]
    for segment, direction in ((0.5, -1), (1.3, +1)):
        host.segment = segment
        pay0 = np.mean([sites[s].pay_level for s in rest])
        hours0 = np.mean([sites[s].hours for s in rest])
        for _ in range(150):
            for s in rest:
                accounts = m01.site_accounts(
                    sites[s], host, True, layout.posts[s], p, lever, c, fresh_out()
                )
                m03.manager_response(sites[s], *accounts, p.restaurants)
        assert np.sign(np.mean([sites[s].pay_level for s in rest]) - pay0) == direction
        assert np.sign(np.mean([sites[s].hours for s in rest]) - hours0) == -direction


@pytest.mark.parametrize(
    ("un_workers", "closure", "direction"),
    [(0.0, 0.0, +1), (0.3, 0.0, 0), (0.6, 0.0, 0), (1.0, 0.0, -1), (1.0, 1.0, 0), (0.0, 1.0, 0)],
)
def test_labour_force_follows_the_enforced_un_provisions(world, un_workers, closure, direction):
    """M1 with M9: a host's dispatch grows, is frozen from the freeze level, shrinks from
    repatriation orders with the repatriation time constant, and is frozen while the border
    is closed."""
    host, lp = world.rep(0).hosts[0], world.p.labour
    before = host.labour_scale
    after = m01.step_labour_scale(host, lp, un_workers, closure)
    assert np.sign(after - before) == direction
    if direction < 0:
        assert after == pytest.approx(before * np.exp(-1.0 / lp.repatriation_days))


def test_wanted_headcount_rounds_fairly(world):
    """M1: labour sites together want the fill x their capacity (rounding error < 1 per site)."""
    layout = world.inputs.layout
    labour = range(layout.n_restaurants, layout.posts.shape[0])
    for fill in (0.0, 0.37, 0.5, 1.0):
        wanted = [
            m01.wanted_headcount(fill, layout.posts[s], layout.offset[s], False) for s in labour
        ]
        capacity = sum(layout.posts[s] for s in labour)
        assert abs(sum(wanted) - fill * capacity) < len(wanted)
        assert all(0 <= w <= layout.posts[s] for w, s in zip(wanted, labour, strict=True))
    assert m01.wanted_headcount(0.1, 15, 0.9, True) == 15


# --------------------------------------------------------------------------- M2


def test_demand_falls_with_boycott_rules_sanctions_tests_and_pandemics(world):
    """M2 by country: Seoul's advisory lowers demand wherever South Koreans travel; China's
    anti-extravagance rules and sanctions only in China; a test and a pandemic everywhere."""
    p = world.p
    c = m02.demand_constants(p.demand)
    rep = world.rep(0)
    n_rest = world.inputs.layout.n_restaurants

    def segments(nuclear=0.0, advisory=0.0, rules=0.0, sanctions=0.0, pandemic=0.0):
        net = np.zeros(1, dtype=world.state.network.dtype).view(np.recarray)[0]
        m02.step_demand(
            world.rngs[0],
            net,
            rep.sites,
            n_rest,
            p.demand,
            c,
            rep.hosts,
            nuclear,
            advisory,
            rules,
            sanctions,
            pandemic,
        )
        return np.array([rep.hosts[h].segment for h in range(3)])

    base = segments()
    np.testing.assert_allclose(base, 1.0)
    china, russia, other = 0, 1, 2
    advisory = segments(advisory=1.0)
    assert (advisory < base).all() and advisory[other] < advisory[russia]  # more SK in SE Asia
    for only_china in ({"rules": 1.0}, {"sanctions": 1.0}):
        lower = segments(**only_china)
        assert lower[china] < 1.0 and lower[russia] == 1.0 and lower[other] == 1.0
    assert (segments(nuclear=1.0) < base).all()
    assert (segments(pandemic=1.0) < advisory).all()


def test_demand_noise_is_stationary_with_its_sd(world):
    """M2: the site noise is AR(1) with stationary sd ``noise_sd``; demand averages the segment.

    2,000 days after a 1,000-day burn-in at 20 restaurants, decorrelated every
    ``noise_days``: about 20 x 2,000 / 30 = 1,300 effectively independent
    values; the sample sd within 12 % of noise_sd and the mean of
    exp(noise - sd^2/2) within 0.08 of 1 (each beyond 4 standard errors:
    false-failure rate below 1e-4 together).
    """
    p = world.p
    c = m02.demand_constants(p.demand)
    sites = world.rep(0).sites
    n_rest = world.inputs.layout.n_restaurants
    net = np.zeros(1, dtype=world.state.network.dtype).view(np.recarray)[0]
    g = np.random.default_rng(77)
    noise = []
    hosts = world.rep(0).hosts
    for day in range(3000):
        m02.step_demand(g, net, sites, n_rest, p.demand, c, hosts, 0.0, 0.0, 0.0, 0.0, 0.0)
        if day >= 1000:
            noise.extend(sites[s].demand_noise for s in range(n_rest))
    noise = np.array(noise)
    assert np.std(noise) == pytest.approx(p.demand.noise_sd, rel=0.12)
    demand = np.array([m02.site_demand(1.0, x, c) for x in noise[::50]])
    assert demand.mean() == pytest.approx(1.0, abs=0.08)


# --------------------------------------------------------------------------- M4


def test_worker_stress_closed_form_equals_the_daily_recursion():
    """M4: stress from (hire day, site average at hire) equals stepping the worker every day."""
    a = 1.0 / 45.0
    wp = np.zeros(1, dtype=[("stress_days", np.float64)]).view(np.recarray)[0]
    wp.stress_days = 45.0
    decay = m04.decay_table(wp, 400)
    g = np.random.default_rng(3)
    pressure = g.uniform(0, 2, 400)
    site_avg = np.zeros(401)
    for t in range(400):
        site_avg[t + 1] = (1 - a) * site_avg[t] + a * pressure[t]
    hired = 120
    direct = 0.0
    for t in range(hired, 400):
        direct = (1 - a) * direct + a * pressure[t]
    posts = one_post(hire_day=hired, stress_at_hire=site_avg[hired])
    closed = m04.worker_stress(0, 400, posts, site_avg[400], decay)
    assert closed == pytest.approx(direct, rel=1e-6)


def one_post(hire_day: int, stress_at_hire: float) -> Posts:
    """The post arrays of a single worker."""
    return Posts(
        in_post=np.ones(1, dtype=np.bool_),
        hire_day=np.array([hire_day], dtype=np.int32),
        stress_at_hire=np.array([stress_at_hire], dtype=np.float32),
        loyalty=np.zeros(1, dtype=np.float32),
        log_base=np.zeros(1, dtype=np.float32),
    )


def test_screening_raises_loyalty_and_family_lowers_the_hazard(world):
    """M4: the screening lever and added screening raise recruits' loyalty; loyalty and the
    family deterrent lower the log hazard; the deterrent stays within its spread."""
    p = world.p
    wp = p.workers
    lo = m04.recruit_loyalty(0.0, True, 0.0, 0.0, wp)
    assert m04.recruit_loyalty(0.0, True, 1.0, 0.0, wp) == pytest.approx(
        min(lo + wp.screening_loyalty_gain, 1.0)
    )
    assert m04.recruit_loyalty(0.0, True, 0.0, 0.1, wp) > lo
    assert 0.0 <= m04.recruit_loyalty(10.0, True, 0.0, 0.0, wp) <= 1.0
    assert m04.recruit_log_base(0.5, 0.9, True, p) < m04.recruit_log_base(0.5, 0.1, True, p)
    strong, weak = m04.recruit_log_base(1.0, 0.5, True, p), m04.recruit_log_base(0.0, 0.5, True, p)
    spread = p.defection.beta_family * 2 * wp.family_deterrent_spread
    assert weak - strong == pytest.approx(spread, rel=1e-9)


# --------------------------------------------------------------------------- M5


@njit
def _gaps(seed_rng, p, n):
    scale = m05.skip_scale(p)
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = m05.skip(seed_rng, scale)
    return out


def test_geometric_skips_are_geometric():
    """M5: gaps between Bernoulli(p) successes are geometric(p), >= 1.

    Chi-square goodness of fit of 200,000 gaps (tail pooled): a correct
    sampler fails with probability 1e-6.
    """
    p, n = 0.003, 200_000
    gaps = _gaps(np.random.default_rng(2024), p, n)
    assert gaps.min() >= 1
    edges = np.arange(1, 2001, 50)
    observed = np.histogram(gaps, bins=np.append(edges, np.inf))[0]
    cdf = 1 - (1 - p) ** (edges - 1)
    expected = n * np.diff(np.append(cdf, 1.0))
    assert stats.chisquare(observed, expected).pvalue > 1e-6


def test_flight_bound_covers_every_hazard(world):
    """M5 thinning: no worker's daily flight chance exceeds its sector's bound."""
    p = world.p
    d, w = p.defection, p.workers
    bounds = m05.flight_bounds(p)
    stress_max = w.stress_weight_pay + w.stress_weight_hours + w.stress_weight_arrears
    for sector, hazard in ((0, d.restaurant_hazard_per_year), (1, d.labour_hazard_per_year)):
        worst = np.log(hazard / 365.0) + d.beta_stress * stress_max  # loyalty, family, watch 0
        assert min(np.exp(worst), d.flight_probability_cap) <= bounds[sector] * (1 + 1e-12)


def _day_scratch(world, rng):
    """A site-day scratch with the pressure a day can leave: surveillance, opportunity, wanted."""
    layout = world.inputs.layout
    site_day = np.zeros(layout.posts.shape[0], dtype=SITE_DAY_DTYPE).view(np.recarray)
    site_day.surveillance = rng.uniform(0.0, 1.0, site_day.shape[0])
    site_day.opportunity = rng.uniform(0.0, 1.0, site_day.shape[0])
    site_day.wanted = layout.posts
    return site_day


def test_daily_flight_bound_covers_every_hazard_and_is_tighter(world):
    """M5 thinning at today's bound: no worker in post has a higher daily flight chance, and
    the bound is below the static one (which takes the worst stress and opportunity at the
    weakest watch everywhere).  Deterministic (seeded states)."""
    p, layout = world.p, world.inputs.layout
    d = p.defection
    rep = world.rep(0)
    for t in range(1, 120):  # a varied state: hires, departures, stress building
        world.day(0, t)
    rng = np.random.default_rng(3)
    site_day = _day_scratch(world, rng)
    rep.sites.stress[:] = rng.uniform(0.0, 0.8, rep.sites.shape[0])
    static = m05.flight_bounds(p)
    today = m05.daily_flight_bounds(p, rep.sites, site_day, layout, static)
    assert np.all(today <= static) and today[0] < 0.5 * static[0]
    decay = world_decay(world)
    n_rest_posts = layout.n_restaurant_posts
    for post in np.flatnonzero(rep.posts.in_post):
        s = layout.post_site[post]
        stress = m04.worker_stress(post, 119, rep.posts, rep.sites[s].stress, decay)
        log_h = (
            rep.posts.log_base[post]
            + d.beta_stress * stress
            - d.beta_surveillance * site_day[s].surveillance
            + d.beta_opportunity * site_day[s].opportunity
        )
        hazard = min(np.exp(log_h), d.flight_probability_cap)
        assert hazard <= today[0 if post < n_rest_posts else 1], post


def test_wanted_vacancies_counts_the_vacant_wanted_posts():
    """M5 hires: the vacancy count (from either side of the wanted rank) is the brute count."""
    rng = np.random.default_rng(8)
    for _ in range(2000):
        site_posts = int(rng.integers(1, 40))
        start = int(rng.integers(0, 5))
        in_post = rng.random(start + site_posts + 3) < rng.random()
        wanted = int(rng.integers(0, site_posts + 1))
        staff = int(in_post[start : start + site_posts].sum())
        expected = int((~in_post[start : start + wanted]).sum())
        assert m05.wanted_vacancies(in_post, start, wanted, site_posts, staff) == expected


def test_hires_and_manager_starts_follow_their_chances(world):
    """M5: each wanted vacancy is hired into with chance 1/hiring_days a day, held posts and
    posts above the wanted rank never; each open site's manager starts with chance
    manager_hazard / 365 x pressure.  2,000 days of draws from one fixed state: hires per
    vacancy and starts per site against their binomial means, each within 5 standard errors
    (false-failure rate below 1e-4 for the whole test, Bonferroni over the cells).
    """
    p, layout = world.p, world.inputs.layout
    lp = p.labour
    rep = world.rep(0)
    rng = np.random.default_rng(21)
    site_day = _day_scratch(world, rng)
    n_sites = layout.posts.shape[0]
    labour = np.arange(layout.n_restaurants, n_sites)
    site_day.wanted[labour] = (layout.posts[labour] * 0.6).astype(np.int64)
    rep.posts.in_post[:] = rng.random(rep.posts.in_post.shape[0]) < 0.7
    for s in range(n_sites):
        first = layout.start[s]
        rep.sites[s].staff = int(rep.posts.in_post[first : first + layout.posts[s]].sum())
    rep.hosts.workers_provision[:] = 0.0
    rep.sites.open[:] = True
    rep.sites.open[1] = False
    site_day.manager_pressure = rng.uniform(0.0, 1.0, n_sites)
    bounds = np.zeros(2)  # no flights: only hires are drawn below
    decay = world_decay(world)
    moves = m05.new_post_moves(layout.post_site.shape[0])
    g = np.random.default_rng(99)
    hired = np.zeros(layout.post_site.shape[0])
    starts = np.zeros(n_sites)
    days = 2000
    scaled = dataclasses.replace(world.params.defection, manager_hazard_per_year=60.0)
    record = param_record(dataclasses.replace(world.params, defection=scaled)).view(np.recarray)[0]
    for _ in range(days):
        moves = m05.draw_post_transitions(
            g, 150, 0.0, rep.hosts, p, rep.posts, rep.sites, site_day, layout, decay, bounds, moves
        )
        hired[moves.hires[: moves.counts[3]]] += 1
        moves.mark[:] = m05.NO_MOVE
        for s in range(n_sites):
            m05.manager_initiation(rep.sites[s], site_day[s])
        m05.manager_starts(g, rep.sites, site_day, record.defection)
        starts += site_day.manager_start
    rank = np.arange(layout.post_site.shape[0]) - layout.start[layout.post_site]
    wanted_post = rank < site_day.wanted[layout.post_site]
    open_post = rep.sites.open[layout.post_site]
    eligible = ~rep.posts.in_post & wanted_post & open_post
    assert hired[~eligible].sum() == 0
    chance = 1.0 / lp.hiring_days
    cells = int(eligible.sum()) + n_sites
    z = stats.norm.isf(1e-4 / cells / 2)
    sd = np.sqrt(days * chance * (1 - chance))
    assert np.all(np.abs(hired[eligible] - days * chance) < z * sd)
    start_chance = np.where(rep.sites.open, 60.0 / 365.0 * site_day.manager_pressure, 0.0)
    sd = np.sqrt(days * start_chance * (1 - start_chance))
    assert np.all(np.abs(starts - days * start_chance) <= z * sd + 1e-9)
    assert starts[1] == 0


def test_manager_led_plots_are_bigger_and_harder_to_detect(world):
    """M5 (F4): with a leading manager more co-workers join and detection is scaled down.

    500 plots each way at one full restaurant: mean size differs by far more
    than 5 standard errors (false-failure rate below 1e-6).
    """
    rep = world.rep(0)
    p, layout = world.p, world.inputs.layout
    site_day = np.zeros(layout.posts.shape[0], dtype=SITE_DAY_DTYPE).view(np.recarray)
    s = next(s for s in range(layout.n_restaurants) if rep.sites[s].open)
    moves = m05.new_post_moves(layout.post_site.shape[0])
    first = layout.start[s]
    moves.initiators[0] = first
    moves.counts[0] = 1
    sizes = {}
    for manager in (False, True):
        today = site_day[s]
        today.manager_start = manager
        today.manager_pressure = 1.0 if manager else 0.0
        today.surveillance = 0.5
        g = np.random.default_rng(11)
        sizes[manager] = [
            m05.form_plot(
                g, 150, s, p, rep.posts, rep.sites, today, layout, world_decay(world), moves
            ).n_members
            for _ in range(500)
        ]
    assert np.mean(sizes[True]) > np.mean(sizes[False]) + 5 * np.std(sizes[True]) / np.sqrt(500)


def world_decay(world):
    return m04.decay_table(world.p.workers, world.inputs.levers.shape[0])


# --------------------------------------------------------------------------- M6


def test_exit_check_and_helpers_set_capture_rates(world):
    """M6: a manager-led (documented) group from China is stopped at the exit strictness;
    helpers scale broker-route interception by ``helper_interception_factor``.

    20,000 groups each; the observed rate within 4.5 binomial standard errors
    (false-failure rate below 1e-5 for the two tests).
    """
    p = world.p
    g = np.random.default_rng(5)
    n = 20_000
    legal = [m06.choose_route(g, p, True, True, 0, 0.7, 1.0) for _ in range(n)]
    assert all(route == Route.LEGAL for route, *_ in legal)
    stopped = np.mean([caught for _, _, caught, _ in legal])
    assert abs(stopped - 0.7) < 4.5 * np.sqrt(0.7 * 0.3 / n)
    rt = p.routes
    broker = [m06.choose_route(g, p, False, False, 0, 0.7, 1.0) for _ in range(n)]
    clandestine = [(h, c) for route, h, c, _ in broker if route == Route.CLANDESTINE]
    with_help = np.array([c for h, c in clandestine if h])
    without = np.array([c for h, c in clandestine if not h])
    base = rt.clandestine_interception_per_transit
    for caught, rate in ((without, base), (with_help, base * rt.helper_interception_factor)):
        assert caught.size > 500
        assert abs(caught.mean() - rate) < 4.5 * np.sqrt(rate * (1 - rate) / caught.size)


# --------------------------------------------------------------------------- M7


def test_delay_pmf_mean_and_mass():
    pmf = m07.delay_pmf(30.0, 2.0, 729)
    assert pmf.sum() == pytest.approx(1.0)
    assert (np.arange(1, 730) * pmf).sum() == pytest.approx(30.0, rel=0.05)
    left = m07.remaining(pmf)
    assert left[0] == pytest.approx(1.0) and left[-1] == pytest.approx(pmf[-1])


@pytest.mark.parametrize(("mean_days", "shape"), [(30.0, 2.0), (120.0, 3.0), (0.0, 2.0)])
def test_alias_table_holds_the_delay_distribution_exactly(mean_days: float, shape: float) -> None:
    """M7: the alias table's implied probabilities equal the pmf (to rounding)."""
    pmf = m07.delay_pmf(mean_days, shape, PIPELINE_PAD - 1)
    keep, alias = m07.alias_table(pmf)
    n = pmf.shape[0]
    implied = keep / n
    np.add.at(implied, alias, (1.0 - keep) / n)
    np.testing.assert_allclose(implied, pmf, rtol=1e-9, atol=1e-15)


def test_scheduled_delays_follow_the_pmf() -> None:
    """M7: 200,000 people scheduled on day 0 land on days 1.. with the pmf's frequencies.

    Chi-square goodness of fit over the days with an expected count of at
    least 5 (the tail pooled); fails wrongly with probability 1e-6.
    """
    pmf = m07.delay_pmf(45.0, 2.0, PIPELINE_PAD - 1)
    keep, alias = m07.alias_table(pmf)
    pipeline = np.zeros(PIPELINE_PAD + 5, dtype=np.int64)
    n = 200_000
    m07.schedule(np.random.default_rng(2024), pipeline, 0, n, keep, alias)
    assert pipeline[0] == 0 and pipeline.sum() == n
    observed = pipeline[1 : 1 + pmf.shape[0]]
    expected = n * pmf
    cells = expected >= 5
    obs = np.append(observed[cells], observed[~cells].sum())
    exp = np.append(expected[cells], expected[~cells].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-6


def test_schedule_drops_what_falls_beyond_the_pipeline() -> None:
    """M7: nobody is written past the end (the kernel runs without bounds checks)."""
    pmf = m07.delay_pmf(45.0, 2.0, PIPELINE_PAD - 1)
    keep, alias = m07.alias_table(pmf)
    pipeline = np.zeros(20, dtype=np.int64)
    m07.schedule(np.random.default_rng(1), pipeline, 10, 1_000, keep, alias)
    assert pipeline[:11].sum() == 0
    assert 0 < pipeline.sum() < 1_000  # delays of 1..9 days stay, the rest is beyond the end


# --------------------------------------------------------------------------- M8


def test_attempts_tighten_control_and_shut_sites(world):
    """M8 (F8): an attempt raises network and site control; closures follow their chance.

    2,000 escapes at closure_after_escape: the shut share within 4.5 binomial
    standard errors (false-failure rate below 1e-5).
    """
    rg = world.p.regime
    net, sites = world.net(0), world.rep(0).sites
    control, watch = net.control, sites[0].watch
    g = np.random.default_rng(8)
    shut = [m08.after_attempt(g, net, sites[0], True, rg) for _ in range(2000)]
    assert net.control > control and sites[0].watch > watch and net.screening > 0
    rate = rg.closure_after_escape
    assert abs(np.mean(shut) - rate) < 4.5 * np.sqrt(rate * (1 - rate) / 2000)
    m08.relax_control(net, sites, rg)
    assert net.control < 1.0 or rg.surveillance_jump == 0


def test_closures_recall_staff_and_seize_reserves(world):
    """M8: a shut site loses its staff (recalled) and its reserve (to Pyongyang)."""
    rep, layout = world.rep(0), world.inputs.layout
    site_day = np.zeros(layout.posts.shape[0], dtype=SITE_DAY_DTYPE).view(np.recarray)
    s = next(s for s in range(layout.n_restaurants) if rep.sites[s].open)
    staff, reserve = rep.sites[s].staff, rep.sites[s].reserve
    site_day[s].closing = True
    out = fresh_out()
    seized_rest, seized_lab = m08.close_sites(
        10, rep.sites, site_day, layout, rep.posts, world.p.regime, out
    )
    assert (seized_rest, seized_lab) == (reserve, 0.0)
    assert out.recalls == staff and out.restaurant_closures == 1
    assert rep.sites[s].staff == 0 and not rep.sites[s].open
    first = layout.start[s]
    assert not rep.posts.in_post[first : first + layout.posts[s]].any()


def test_openings_pick_only_eligible_sites(world):
    """M8: openings go only to shut restaurant sites past their reopening day."""
    rep, layout = world.rep(0), world.inputs.layout
    for s in range(layout.n_restaurants):
        rep.sites[s].open = s % 2 == 0
        rep.sites[s].reopen_day = 0 if s % 4 == 1 else 10_000
    record = np.zeros(1, dtype=param_record(world.params).dtype).view(np.recarray)
    rp = record[0].restaurants
    rp.opening_rate_per_year = 365.0 * 50  # many a day
    log = new_event_log()
    out = fresh_out()
    m08.openings(np.random.default_rng(2), 100, rep.sites, layout, rp, world.net(0), 0.0, log, out)
    opened = event_columns(0, *event_arrays(log))["site"]
    assert out.restaurant_openings == len(opened) == len([s for s in range(20) if s % 4 == 1])
    assert all(s % 4 == 1 for s in opened)


# --------------------------------------------------------------------------- M9


def test_provocation_rate_responds_to_pressure_aid_and_squeeze(world, baseline):
    """M9 (F9): pressure and aid lower the test rate; economic squeeze raises it."""
    sp = world.p.strategic
    net = world.net(0)

    def rate(**changes):
        lever = levers_record(baseline.levers, **changes)
        return m09.provocation_rates(net, lever, fresh_policy(world, lever), sp)[0]

    base = rate()
    assert rate(china_sanctions=0.8) < base
    assert rate(food_aid=1.0) < base
    assert rate(weapons_drive=1.0) > base
    net.economy = 0.7
    assert rate() > base


def test_beijing_limits_and_laxity(world, baseline):
    """M9: displeasure relaxes exit checks and adds sanctions; guards stop collapse and exodus.

    With Beijing's discretion at 0 its levers stay as set.
    """
    sp = world.p.strategic
    net = world.net(0)
    levers = baseline.levers
    net.displeasure = sp.laxity_threshold + 0.5
    policy = fresh_policy(world)
    assert policy.exit_strictness < levers.china_exit_strictness
    assert policy.china_sanctions > levers.china_sanctions
    fixed = fresh_policy(world, levers_record(levers, beijing_discretion=0.0))
    assert fixed.exit_strictness == levers.china_exit_strictness
    net.exodus_guard = True
    net.collapse_guard = True
    guarded = fresh_policy(world)
    assert guarded.border_stringency == 1.0
    assert guarded.china_sanctions <= levers.china_sanctions
    assert guarded.food_aid > 0


def test_forced_resolution_raises_provisions(world):
    """M9: a dated test and resolution are counted; provisions rise to their floors."""
    sp = world.p.strategic
    net, rep = world.net(0), world.rep(0)
    policy = fresh_policy(world)
    out = fresh_out()
    floors = np.array([0.0, 0.5, 0.25, 0.0, np.nan])
    log = new_event_log()
    m09.strategic_events(
        world.rngs[0],
        3,
        False,
        net,
        world.lever(3),
        policy,
        rep.un_levels,
        sp,
        1,
        0,
        floors,
        log,
        out,
    )
    assert out.un_resolutions == 1 and out.nuclear_tests == 1
    np.testing.assert_array_equal(rep.un_levels, [0.0, 0.5, 0.25, 0.0, 0.0])
    expected = sp.displeasure_nuclear + sp.displeasure_missile * out.missile_tests
    assert net.displeasure == pytest.approx(expected)
    kinds = list(event_columns(0, *event_arrays(log))["kind"])
    assert "nuclear_test" in kinds and "un_resolution" in kinds


def test_guards_switch_on_and_are_logged(world):
    """M9: the no-collapse guard binds when revenue dries up under full UN provisions."""
    sp = world.p.strategic
    net = world.net(0)
    policy = fresh_policy(world)
    log = new_event_log()
    assert sp.economy_weight_overseas + sp.economy_weight_trade > 1 - sp.collapse_threshold
    out = fresh_out()
    hosts = world.rep(0).hosts
    hosts.enforcement = 1.0
    m09.economy_and_guards(0, net, world.lever(0), policy, hosts, sp, 1000.0, 1.0, log, out)
    assert not net.collapse_guard and out.economy_index == pytest.approx(1.0, abs=0.2)
    policy.un_coal = policy.un_textiles = policy.un_seafood = policy.china_sanctions = 1.0
    for day in range(1, 400):  # revenue falls to nothing
        m09.economy_and_guards(day, net, world.lever(0), policy, hosts, sp, 0.0, 1.0, log, out)
    assert net.economy < sp.collapse_threshold and net.collapse_guard
    events = event_columns(0, *event_arrays(log))
    assert "collapse_guard" in set(events["outcome"])


def enforce(world, lever, days=2000, ban_from=0, **net_fields):
    """Run host enforcement ``days`` days on replicate 0 with fixed conditions and the UN
    worker ban in force from day ``ban_from``; the hosts."""
    net = world.net(0)
    for name, value in net_fields.items():
        setattr(net, name, value)
    policy = fresh_policy(world, lever)
    hosts = world.rep(0).hosts
    for day in range(days):
        policy.un_workers_provision = 1.0 if day >= ban_from else 0.0
        m09.host_enforcement(
            hosts, net, lever, policy, world.p, world.inputs.layout.host_labour_posts, day == 0
        )
    return hosts, policy


def test_hosts_choose_their_enforcement(world, baseline):
    """M9 (issue 12): a host's UN enforcement rises with outside pressure and falls with good
    relations; China's is capped while its limits bind; with no discretion all enforce fully."""
    sp = world.p.strategic
    low, _ = enforce(world, levers_record(baseline.levers, international_pressure=0.0))
    low = low.enforcement.copy()
    high, _ = enforce(world, levers_record(baseline.levers, international_pressure=1.0))
    assert (high.enforcement > low).all()
    friendly, _ = enforce(world, levers_record(baseline.levers), relations=1.0)
    neutral, _ = enforce(world, levers_record(baseline.levers), relations=0.0)
    assert (friendly.enforcement.copy() <= neutral.enforcement).all()
    guarded, _ = enforce(world, levers_record(baseline.levers), collapse_guard=True)
    assert guarded.enforcement[0] <= sp.enforcement_floor_guarded + 1e-9
    full, policy = enforce(world, levers_record(baseline.levers, host_discretion=0.0), days=1)
    np.testing.assert_array_equal(full.enforcement, 1.0)
    assert policy.un_workers_mean == pytest.approx(1.0)  # provisions x full enforcement


def test_relabelling_shields_labourers_and_grows_after_bans(world, baseline):
    """M1 evasion: under a ban relabelling fills its capacity (minus what enforcement uncovers)
    and lowers the provisions acting on labourers; each new ban adds capacity."""
    lp = world.p.labour
    hosts, policy = enforce(world, levers_record(baseline.levers))
    # a ban in force on day 0 is the starting point: relabelling grows, capacity is not added
    assert (hosts.relabel > 0).all() and (hosts.relabel <= lp.relabel_capacity + 1e-9).all()
    assert policy.un_workers < 1.0
    assert world.net(0).relabel_capacity_extra == 0.0
    settled = hosts.relabel.copy()
    # a ban that comes later (a resolution on day 10) teaches new covers once
    hosts, policy = enforce(world, levers_record(baseline.levers), ban_from=10)
    assert world.net(0).relabel_capacity_extra == pytest.approx(lp.relabel_capacity_step)
    assert (hosts.relabel > settled).all()  # settles higher: more capacity to fill


def test_closure_orders_and_nominees(world):
    """M8 evasion: under the UN worker ban an enforcing host orders restaurants shut; an
    ordered-shut site reopens under a nominee.

    200,000 site-days at a daily order chance p: the count within 4.5 binomial standard
    errors of its mean (false-failure rate below 1e-5).
    """
    rep, layout, p = world.rep(0), world.inputs.layout, world.p
    s = next(s for s in range(layout.n_restaurants) if rep.sites[s].open)
    site, host = rep.sites[s], rep.hosts[layout.country[s]]
    host.enforcement = 1.0
    policy = fresh_policy(world)
    policy.un_workers_provision = 1.0
    site_day = np.zeros(layout.posts.shape[0], dtype=SITE_DAY_DTYPE).view(np.recarray)
    g = np.random.default_rng(4)
    log = new_event_log()
    orders = 0
    n = 200_000
    for _ in range(n):
        out = fresh_out()
        m08.closure_order(g, 1, s, site, site_day[s], host, policy, layout, p.restaurants, log, out)
        orders += int(out.closure_orders)
        site_day[s].closing = False
    rate = p.restaurants.closure_order_rate_per_year / 365.0
    assert abs(orders - n * rate) < 4.5 * np.sqrt(n * rate * (1 - rate))
    assert site.ordered_shut
    site.open = False
    site.reopen_day = 0
    world.net(0).nominee_capacity = 1.0
    record = np.zeros(1, dtype=param_record(world.params).dtype).view(np.recarray)
    rp = record[0].restaurants
    rp.nominee_rate_per_year = 365.0  # reopens the first day
    out = fresh_out()
    m08.openings(g, 10, rep.sites, layout, rp, world.net(0), 0.0, log, out)
    assert out.nominee_openings == 1 and site.open and site.nominee and not site.ordered_shut


def test_quotas_are_renegotiated_after_sustained_shortfalls(world):
    """M1: a restaurant whose averaged arrears stay high gets its quota cut, down to a floor."""
    rp = world.p.restaurants
    site = world.rep(0).sites[0]
    g = np.random.default_rng(6)
    out = fresh_out()
    for _ in range(20 * int(rp.quota_review_days)):
        m01.review_quota(g, site, 1.0, rp, out)
    assert out.quota_renegotiations >= 3
    assert site.quota_factor == pytest.approx(rp.quota_factor_min)


def test_opportunity_raises_the_flight_hazard(world, baseline):
    """M5 (issue 12): a lax perceived exit check, helpers and a pressed manager raise the
    perceived opportunity; the thinning bound covers its largest effect."""
    d = world.p.defection
    host = world.rep(0).hosts[0]
    host.perceived_exit = 1.0
    strict = m05.opportunity(host, True, 0.0, d)
    host.perceived_exit = 0.1
    lax = m05.opportunity(host, True, 0.0, d)
    assert lax > strict
    assert m05.opportunity(host, True, 1.0, d) > lax
    assert m05.opportunity(host, True, 1.0, d) <= 1.0 + 1e-12
    hosts = world.rep(0).hosts
    m05.perceive_exit_checks(hosts, 0.1, world.p, False)
    assert hosts[0].perceived_exit == pytest.approx(0.1)  # already perceived
    m05.perceive_exit_checks(hosts, 0.9, world.p, False)
    assert 0.1 < hosts[0].perceived_exit < 0.9  # word spreads gradually


def test_talks_defiance_and_milestones(world, baseline):
    """M9 agenda: a resolution starts defiance (tests up); talks lower tests and aid works best
    in talks; a completed stage pauses testing."""
    sp = world.p.strategic
    net = world.net(0)
    lever = levers_record(baseline.levers)
    policy = fresh_policy(world, lever)
    base, _ = m09.provocation_rates(net, lever, policy, sp)
    net.defiance_left = 10.0
    defiant, _ = m09.provocation_rates(net, lever, policy, sp)
    assert defiant == pytest.approx(base * np.exp(sp.beta_defiance))
    net.defiance_left = 0.0
    policy.food_aid = 1.0
    untied, _ = m09.provocation_rates(net, lever, policy, sp)
    net.talks_left = 10.0
    tied, _ = m09.provocation_rates(net, lever, policy, sp)
    assert tied < untied < base
    net.talks_left = 0.0
    policy.food_aid = 0.0
    net.milestone_pause_left = 5.0
    pausing, _ = m09.provocation_rates(net, lever, policy, sp)
    assert pausing == pytest.approx(base * (1 - sp.pause_effect))
    net.milestone_pause_left = 0.0
    # a dated resolution provokes defiance
    out = fresh_out()
    log = new_event_log()
    floors = np.array([0.0, 0.5, 0.0, 0.0, 0.0])
    m09.strategic_events(
        world.rngs[0],
        3,
        False,
        net,
        lever,
        policy,
        world.rep(0).un_levels,
        sp,
        0,
        0,
        floors,
        log,
        out,
    )
    assert net.defiance_left > 0 and out.defiance == 1.0
    # enough tests complete a stage
    net.programme_progress = sp.milestone_size - 1
    m09.strategic_events(
        world.rngs[0],
        4,
        False,
        net,
        lever,
        policy,
        world.rep(0).un_levels,
        sp,
        0,
        3,
        np.full(5, np.nan),
        log,
        out,
    )
    assert out.milestones == 1 and net.milestone_pause_left > 0


# --------------------------------------------------------------------------- M10


def test_wider_flow_stocks_balance_and_schedule(world):
    """M10 (three stocks) with M7: recent crossers, residents and third-country residents move
    only by their flows; the arrested enter detention, the travelling the arrival pipeline."""
    rep, p = world.rep(0), world.p
    net = world.net(0)
    policy = fresh_policy(world)
    for t in range(60):
        hidden = net.recent_crossers + net.long_term_residents
        third = net.third_country
        held = net.detained + net.long_detention
        booked = rep.pipelines.processing_china.sum(), rep.pipelines.arrivals_wider.sum()
        out = fresh_out()
        m10.step_wider_flow(
            world.rngs[0],
            t,
            net,
            world.lever(t),
            policy,
            p,
            rep.pipelines,
            world.inputs.delays,
            out,
        )
        assert net.recent_crossers + net.long_term_residents == (
            hidden
            + out.border_crossings
            - out.arrests_hidden
            - out.broker_departures
            - out.returns_home
            + out.detention_released
        )
        assert net.third_country == third + out.to_third_countries - out.onward_from_third_countries
        arrested = out.arrests_hidden + out.brokered_intercepted
        assert out.arrests_china == arrested
        admitted = arrested - out.detention_overflow
        assert net.detained + net.long_detention == held + arrested - out.detention_released
        assert rep.pipelines.processing_china.sum() - booked[0] == admitted
        travelling = out.broker_departures - out.brokered_intercepted - out.to_third_countries
        assert rep.pipelines.arrivals_wider.sum() - booked[1] == travelling


def test_long_term_residents_leave_with_kin_and_are_arrested_less(world):
    """M10: departures of long-term residents grow with kin in the South; their arrest chance
    is a fraction of a recent crosser's."""
    wf = world.p.wider_flow
    net = world.net(0)
    lever = world.lever(0)
    net.arrivals_cumulative = 0.0
    _, no_kin = m10.departure_chances(net, lever, wf)
    net.arrivals_cumulative = 10 * wf.kin_scale
    recent, with_kin = m10.departure_chances(net, lever, wf)
    assert with_kin == pytest.approx(no_kin * (1 + wf.kin_effect), rel=1e-3)
    assert recent > 0 and wf.resident_arrest_factor < 1


def _route_world(baseline, variability: float, **kw):
    params = small_params(baseline.params, restaurants=5, labour_sites=2)
    wider = dataclasses.replace(params.wider_flow, route_variability=variability)
    return kernel_world(dataclasses.replace(params, wider_flow=wider), baseline.levers, **kw)


def test_route_factor_is_lognormal_with_mean_one_and_off_at_zero(baseline):
    """M10 route variability: each draw's log is Normal(-s^2/2, s), so the factor's mean is
    one; at s = 0 the factor is 1 and no random number is drawn (runs keep their streams).

    4,000 draws at s = 0.3: z-test of the mean of the logs and chi-square test of
    their variance, each two-sided at 1e-5 (false-failure rate < 2e-5).
    """
    off = _route_world(baseline, 0.0, n_days=5)
    g = np.random.default_rng(11)
    before = g.bit_generator.state
    m10.new_route_year(g, off.net(0), off.p.wider_flow)
    assert off.net(0).route_factor == 1.0 and g.bit_generator.state == before

    s = 0.3
    on = _route_world(baseline, s, n_days=5)
    net, wf = on.net(0), on.p.wider_flow
    logs = np.empty(4000)
    for i in range(logs.size):
        m10.new_route_year(g, net, wf)
        logs[i] = np.log(net.route_factor)
    z = (logs.mean() + s * s / 2) / (s / np.sqrt(logs.size))
    assert abs(z) < 4.42, z
    chi2 = (logs.size - 1) * logs.var(ddof=1) / s**2
    df = logs.size - 1
    assert stats.chi2.ppf(5e-6, df) < chi2 < stats.chi2.ppf(1 - 5e-6, df), chi2


def test_route_factor_is_drawn_each_first_of_january_and_scales_departures(baseline):
    """M10: the route factor holds through a calendar year and is redrawn on 1 January;
    brokered departures of recent crossers and residents scale with it."""
    world = _route_world(baseline, 0.5, n_days=30, start="2016-12-20")
    factors = []
    for t in range(25):
        world.day(0, t)
        factors.append(world.net(0).route_factor)
    new_year = world.inputs.year_index.tolist().index(1)
    assert new_year == 12  # 2017-01-01
    assert len(set(factors[:new_year])) == 1 and len(set(factors[new_year:])) == 1
    assert factors[new_year] != factors[0]

    net, lever, wf = world.net(1), world.lever(0), world.p.wider_flow
    net.route_factor = 1.0
    recent_1, resident_1 = m10.departure_chances(net, lever, wf)
    net.route_factor = 2.0
    recent_2, resident_2 = m10.departure_chances(net, lever, wf)
    open_border = 1 - wf.pandemic_departure_loss * lever.pandemic
    rate = wf.broker_rate_per_year * lever.broker_access
    assert recent_1 == pytest.approx(m10.daily(rate) * open_border)
    assert recent_2 == pytest.approx(m10.daily(2 * rate) * open_border)
    assert resident_2 / resident_1 == pytest.approx(2.0, rel=1e-2)


def test_detention_is_bounded_and_hands_over_in_batches(world):
    """M7: detention admits up to its capacity, the rest are released or held long; handovers
    come every interval, in bounded batches, and never while the border is shut."""
    rep, en = world.rep(1), world.p.enforcement
    net = world.net(1)
    g = np.random.default_rng(3)
    out = fresh_out()
    net.detained = int(en.detention_capacity) - 10
    long_before = net.long_detention
    released = m07.admit(g, 5, 100, net, rep.pipelines, world.inputs.delays, en, out)
    assert net.detained == int(en.detention_capacity)
    assert out.detention_overflow == 90 and released == out.detention_released
    assert net.long_detention - long_before == 90 - released
    interval = int(en.handover_interval_days)
    net.awaiting_handover = 10 * int(en.handover_batch_max)
    shut = fresh_out()
    m07.hand_over(g, interval * 3, 1.0, net, rep.pipelines, en, shut)  # border shut
    assert shut.repatriations_from_china == 0
    batch = fresh_out()
    before = net.detained
    m07.hand_over(g, interval * 3, 0.0, net, rep.pipelines, en, batch)
    handed = before - net.detained
    assert handed == int(en.handover_batch_max)
    assert batch.repatriations_from_china >= handed
    between = fresh_out()
    m07.hand_over(g, interval * 3 + 1, 0.0, net, rep.pipelines, en, between)
    assert between.repatriations_from_china == 0


def test_warm_start_books_the_people_already_on_the_way(baseline):
    """M7/M10: day-0 pipelines hold the flow of the days before the start.

    With day-0 rates held before the start, the expected number booked for
    day k is (daily flow) x P(delay > k): the day-0 booking equals one day's
    flow and the total equals the flow x the mean delay.  Each count is a sum
    of independent Poisson draws over 400 replicates; z-tests at |z| < 4.4
    (two-sided 1e-5 each, four tests: false-failure rate < 5e-5).
    """
    params = small_params(baseline.params, restaurants=5, labour_sites=2)
    world = kernel_world(params, baseline.levers, 30, replicates=400, seed=900)
    net0 = world.net(0)
    policy = fresh_policy(world)
    wf, en = world.p.wider_flow, world.p.enforcement
    p_arrest = m07.arrest_probability(policy.border_stringency, en)
    p_recent, p_resident = m10.departure_chances(net0, world.lever(0), wf)
    p_caught = min(wf.transit_interception * policy.border_stringency, 1.0)
    recent, residents = float(net0.recent_crossers), float(net0.long_term_residents)
    departing = (
        recent * (1 - p_arrest) * p_recent
        + residents * (1 - p_arrest * wf.resident_arrest_factor) * p_resident
    )
    arriving = departing * (1 - p_caught) * (1 - wf.third_country_share)
    detained = recent * p_arrest + residents * p_arrest * wf.resident_arrest_factor
    detained += departing * p_caught
    transit = m07.delay_pmf(wf.transit_days, wf.transit_delay_shape, PIPELINE_PAD - 1)
    detention = m07.delay_pmf(en.detention_days, en.detention_delay_shape, PIPELINE_PAD - 1)
    mean_transit = (np.arange(1, transit.size + 1) * transit).sum()
    mean_detention = (np.arange(1, detention.size + 1) * detention).sum()
    pipes = world.state.pipelines
    R = 400
    for observed, expected in (
        (pipes.arrivals_wider[:, 0].sum(), R * arriving),
        (pipes.arrivals_wider.sum(), R * arriving * mean_transit),
        (pipes.processing_china[:, 0].sum(), R * detained),
        (pipes.processing_china.sum(), R * detained * mean_detention),
    ):
        assert expected > 100  # the test has power: a missing warm start gives z << -4.4
        assert abs(observed - expected) / np.sqrt(expected) < 4.4
    np.testing.assert_array_equal(
        world.state.network[:, 0]["detained"], pipes.processing_china.sum(axis=1)
    )


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
