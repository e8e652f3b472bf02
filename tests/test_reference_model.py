"""The Mesa reference on its own: SPEC-12's mechanisms, their knock-outs and the ledgers.

The reference (``reference/lipsteeth_reference``) is the oracle the core is checked
against (tests/test_reference_agreement.py); these tests check the oracle itself,
on reduced settings of the default scenario, without the core:

* stock-flow identities, exact on every replicate: the workers ledger (M1, M5),
  the wider flow's R + L + T balance (M10) and China's detention ledger, arrested
  = admitted + released + long detention (M7);
* each new mechanism behaves as SPEC-12 states (exact where the mechanism is
  deterministic: full enforcement, the guard's floor on China's enforcement, the
  relabelling recurrence, the demand segments, defiance after a sanctions rise,
  milestones);
* each knock-out (full enforcement: host_discretion 0; no evasion: relabel and
  nominee capacities 0; a single wider-flow stock; unlimited detention;
  beta_opportunity 0; quota_cut 0; no fuel limit on launches) moves the outcomes
  it drives in the direction SPEC-12 implies.

False-failure rate.  A direction is asserted by a one-sided Welch t-test of "no
shift or the wrong one" at ``ALPHA`` = 1e-3: a knocked-out channel that has no
effect passes with probability at most 1e-3.  A correct reference fails such an
assertion only if the test misses a real shift.  Each test's docstring gives the
smallest standardised shift (difference / standard error) measured on the
replicate counts used here, and ``Shifts`` reports for every row the approximate
chance of a miss at that size, Phi(t_crit(df) - z) with the Welch degrees of
freedom.  Measured: every row at z >= 7.5, a miss chance of at most 9e-5 per row
(quota test, arrears) and about 1.5e-4 summed over the file's 28 rows, so a
correct reference fails this file with probability below 1e-3.  Seeds are fixed,
so a given version of the reference passes or fails deterministically; the rates
are the chance over seed choices.  Exact checks (identities, deterministic
mechanisms) have no false-failure rate.

Cost (2 shared cores, 2 worker processes): the tests on the token network run in
about 2 minutes; the five on 440 workers (the UN ban's three arms, opportunity,
quota) about 6 more, and are marked slow.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
from lipsteeth_reference import ReferenceRun, run_reference_full
from lipsteeth_reference import model as ref_model
from lipsteeth_reference import scenarios as sc
from scipy import stats

from lipsteeth.core.outcomes import OUTCOMES

SEED = 12_000_001
ALPHA = 1e-3
PROCESSES = 2


# --------------------------------------------------------------------------- runs


def _years(setting: sc.Setting, first: int, n_years: int) -> sc.Setting:
    start, stop = np.datetime64(f"{first}-01-01"), np.datetime64(f"{first + n_years}-01-01")
    return sc.window(setting, str(start), int((stop - start).astype(int)))


@functools.cache
def _base() -> sc.Setting:
    return sc.load("baseline-2016")


def tiny(first: int = 2016, n_years: int = 2) -> sc.Setting:
    """A token network (26 workers): for the aggregate stocks of M7, M9 and M10."""
    return _years(sc.shrink(_base(), 4, 5, 2, 10), first, n_years)


def restaurant_heavy(first: int, n_years: int) -> sc.Setting:
    """40 restaurant sites (20 open, 6 staff) and 10 labour sites of 30 posts (360 workers)."""
    return _years(sc.shrink(_base(), 40, 6, 10, 30), first, n_years)


def boosted(setting: sc.Setting) -> sc.Setting:
    """Flight hazards raised so a small network produces groups every year (M5)."""
    return sc.set_params(
        setting,
        defection={
            "restaurant_hazard_per_year": 0.3,
            "labour_hazard_per_year": 0.1,
            "manager_hazard_per_year": 0.1,
        },
    )


def run(setting: sc.Setting, replicates: int, seed: int = SEED) -> ReferenceRun:
    return run_reference_full(
        setting.params,
        setting.levers,
        setting.calendar,
        setting.timeline,
        seed=seed,
        replicates=replicates,
        processes=PROCESSES,
    )


def months(setting: sc.Setting, first: str, last: str) -> np.ndarray:
    """Mask of the months ``first``..``last`` (YYYY-MM, inclusive) of the setting."""
    m = setting.calendar.months
    return (m >= np.datetime64(first, "M")) & (m <= np.datetime64(last, "M"))


def value(r: ReferenceRun, name: str, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-replicate value of an outcome over the masked months, by its kind."""
    block = r.monthly[name] if mask is None else r.monthly[name][:, mask]
    kind = OUTCOMES[name].kind
    if kind == "flow":
        return block.sum(axis=1)
    if kind == "stock":
        return block[:, -1]
    return block.mean(axis=1)


class Shifts:
    """Directional assertions of one test, each a one-sided Welch t-test at ALPHA.

    All are evaluated before any fails, so a failure reports every measured shift:
    its standardised size z = difference / standard error, the Welch degrees of
    freedom and the approximate chance that a correct reference with a true shift
    of that size misses it, Phi(t_crit(df) - z) (module docstring).
    """

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float, float, float]] = []

    def _add(self, high: np.ndarray, low: np.ndarray, label: str) -> None:
        diff = float(high.mean() - low.mean())
        vh, vl = high.var(ddof=1) / high.size, low.var(ddof=1) / low.size
        se = math.sqrt(vh + vl)
        if se > 0:
            z = diff / se
            df = (vh + vl) ** 2 / (vh**2 / (high.size - 1) + vl**2 / (low.size - 1))
            with warnings.catch_warnings():  # a constant arm: scipy warns, the test is exact
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(stats.ttest_ind(high, low, equal_var=False, alternative="greater").pvalue)
            miss = float(stats.norm.cdf(stats.t.ppf(1.0 - ALPHA, df) - z))
        else:  # both samples constant
            z = math.copysign(math.inf, diff) if diff else 0.0
            df, p, miss = math.inf, (0.0 if diff > 0 else 1.0), 0.0
        self.rows.append((label, float(high.mean()), float(low.mean()), z, p, miss))

    def up(self, knocked: np.ndarray, base: np.ndarray, label: str) -> None:
        """The knock-out raises the outcome."""
        self._add(knocked, base, f"{label} rises")

    def down(self, knocked: np.ndarray, base: np.ndarray, label: str) -> None:
        """The knock-out lowers the outcome."""
        self._add(base, knocked, f"{label} falls")

    def check(self) -> None:
        report = "\n".join(
            f"  {label:44s} {hi:11.5g} vs {lo:11.5g}  z = {z:5.1f}  p = {p:.0e}  miss ~ {m:.0e}"
            for label, hi, lo, z, p, m in self.rows
        )
        print("\n" + report)
        failed = [row[0] for row in self.rows if not row[4] < ALPHA]
        assert not failed, f"shifts not shown at alpha {ALPHA:g}: {failed}\n{report}"


# --------------------------------------------------------------------------- ledgers


def assert_ledgers(r: ReferenceRun, setting: sc.Setting) -> None:
    """Workers, wider-flow and detention stock-flow identities, exact on every replicate."""
    lg = r.ledger
    total = {name: value(r, name) for name in OUTCOMES if OUTCOMES[name].kind == "flow"}
    end = {name: value(r, name) for name in OUTCOMES if OUTCOMES[name].kind == "stock"}
    # workers (M1, M5): held posts change by hires less rotations, recalls and flights
    np.testing.assert_array_equal(
        lg["in_post"],
        lg["initial_in_post"]
        + lg["hired"]
        - lg["left_rotation"]
        - lg["left_recall"]
        - lg["left_flight"],
    )
    np.testing.assert_array_equal(end["workers_abroad"], lg["in_post"])
    np.testing.assert_array_equal(total["hires"], lg["hired"])
    np.testing.assert_array_equal(total["rotations_home"], lg["left_rotation"])
    np.testing.assert_array_equal(total["recalls"], lg["left_recall"])
    # the flights: every plotter counted in attempts except the managers who led
    np.testing.assert_array_equal(
        total["attempts_restaurant"] + total["attempts_labour"] - total["manager_led_groups"],
        lg["left_flight"],
    )
    # wider flow (M10): R + L and T
    hidden0 = lg["recent_initial"] + lg["residents_initial"]
    np.testing.assert_array_equal(
        end["hidden_in_china"],
        hidden0
        + total["border_crossings"]
        - total["arrests_hidden"]
        - total["returns_home"]
        - total["broker_departures"]
        + total["detention_released"],
    )
    np.testing.assert_array_equal(
        end["hidden_in_china"], end["recent_crossers"] + end["long_term_residents"]
    )
    np.testing.assert_array_equal(
        end["long_term_residents"],
        lg["residents_initial"]
        + total["settlements"]
        - total["arrests_residents"]
        - lg["departures_residents"],
    )
    np.testing.assert_array_equal(
        end["recent_crossers"],
        lg["recent_initial"]
        + total["border_crossings"]
        - (total["arrests_hidden"] - total["arrests_residents"])
        - (total["broker_departures"] - lg["departures_residents"])
        - total["returns_home"]
        - total["settlements"]
        + total["detention_released"],
    )
    np.testing.assert_array_equal(
        end["third_country_residents"],
        lg["third_country_initial"] + lg["to_third_country"] - total["onward_from_third_countries"],
    )
    # R + L + T: crossings - arrests - returns - departures to South Korea (incl. the
    # intercepted) - onward movers + released detainees
    np.testing.assert_array_equal(
        end["hidden_in_china"] + end["third_country_residents"],
        hidden0
        + lg["third_country_initial"]
        + total["border_crossings"]
        - total["arrests_hidden"]
        - total["returns_home"]
        - (total["broker_departures"] - lg["to_third_country"])
        - total["onward_from_third_countries"]
        + total["detention_released"],
    )
    # detention (M7): arrested in China = admitted + released + sent to long detention
    np.testing.assert_array_equal(total["arrests_china"], lg["arrested_china"])
    np.testing.assert_array_equal(
        lg["arrested_china"], lg["admitted"] + lg["released"] + lg["to_long_detention"]
    )
    np.testing.assert_array_equal(
        total["detention_overflow"], lg["released"] + lg["to_long_detention"]
    )
    np.testing.assert_array_equal(total["detention_released"], lg["released"])
    # every admitted person is handed over or still held; long detention likewise
    np.testing.assert_array_equal(
        end["detained_china"], lg["detained_initial"] + lg["admitted"] - lg["handed_over"]
    )
    np.testing.assert_array_equal(end["detained_china"], lg["processing"] + lg["awaiting_handover"])
    np.testing.assert_array_equal(end["awaiting_handover"], lg["awaiting_handover"])
    np.testing.assert_array_equal(
        end["long_detention"], lg["to_long_detention"] - lg["long_handed_over"]
    )
    np.testing.assert_array_equal(
        total["repatriations_from_china"], lg["handed_over"] + lg["long_handed_over"]
    )
    capacity = setting.params.enforcement.detention_capacity
    assert (r.monthly["detained_china"] <= capacity).all()


# --------------------------------------------------------------------------- settings


UNLIMITED_DETENTION = {
    "detention_capacity": 1e9,
    "handover_batch_max": 1e9,
    "handover_interval_days": 1.0,
}
SINGLE_STOCK = {
    "settle_rate_per_year": 0.0,
    "third_country_share": 0.0,
    "resident_share_initial": 0.0,
    "third_country_initial": 0.0,
}
NO_RELABELLING = {"relabel_capacity": 0.0, "relabel_capacity_step": 0.0}
NO_NOMINEES = {"nominee_capacity_initial": 0.0, "nominee_capacity_step": 0.0}
#: the regime's reaction to attempts switched off (M8), to isolate a channel of M5
NO_REACTION = {
    "surveillance_jump": 0.0,
    "screening_jump": 0.0,
    "closure_after_escape": 0.0,
    "closure_after_attempt": 0.0,
}


def ban_setting(**levers: float) -> sc.Setting:
    """2016-2018 under a full UN worker ban from day one (M1, M8, M9), no outside pressure.

    200 restaurant sites (100 open, 2 staff) and 10 labour sites of 30 posts (440
    workers): many restaurants for the closure orders.  The obligation is the same
    in every arm; what it does depends on each host's enforcement and on evasion.
    """
    s = _years(sc.shrink(_base(), 200, 2, 10, 30), 2016, 3)
    return sc.set_levers(s, un_workers=1.0, international_pressure=0.0, **levers)


def ban_variant(name: str) -> sc.Setting:
    if name == "choice":
        return ban_setting()
    full = ban_setting(host_discretion=0.0)
    if name == "full":
        return full
    return sc.set_params(full, labour=NO_RELABELLING, restaurants=NO_NOMINEES)


def closure_variant(name: str) -> sc.Setting:
    """2016-2018, the border shut to people from April 2016 to June 2017 (M7)."""
    s = sc.set_lever_path(tiny(2016, 3), "border_closure", 1.0, "2016-04-01", "2017-06-30")
    return sc.set_params(s, enforcement=UNLIMITED_DETENTION) if name == "unlimited" else s


def wider_flow_variant(name: str) -> sc.Setting:
    """ "stocks" or "single" (SINGLE_STOCK); "_stopped": pandemic restrictions stop every
    journey out of China throughout (lever pandemic 1, departure loss 1)."""
    s = tiny(2016, 2)
    if name.startswith("single"):
        s = sc.set_params(s, wider_flow=SINGLE_STOCK)
    if name.endswith("_stopped"):
        s = sc.set_params(
            sc.set_levers(s, pandemic=1.0), wider_flow={"pandemic_departure_loss": 1.0}
        )
    return s


@functools.cache
def ban_runs() -> dict[str, ReferenceRun]:
    """Host choice, full enforcement, and full enforcement without evasion."""
    return {name: run(ban_variant(name), 16) for name in ("choice", "full", "full_no_evasion")}


@functools.cache
def detention_runs() -> dict[str, ReferenceRun]:
    return {name: run(closure_variant(name), 12) for name in ("capacity", "unlimited")}


@functools.cache
def wider_flow_runs() -> dict[str, ReferenceRun]:
    names = ("stocks", "single", "stocks_stopped", "single_stopped")
    return {name: run(wider_flow_variant(name), 12) for name in names}


# --------------------------------------------------------------------------- M9, M1, M8


@pytest.mark.slow
def test_full_enforcement_knockout() -> None:
    """host_discretion 0: every host enforces in full (e_h = 1), so the ban bites harder:
    more closure orders in the first year, fewer restaurants and labourers at the end,
    less revenue, more trade lost, a deeper oil cut.  Smallest measured shift: z = 7.6."""
    runs = ban_runs()
    choice, full = runs["choice"], runs["full"]
    for host in ("china", "russia", "other"):
        np.testing.assert_array_equal(full.monthly[f"un_enforcement_{host}"], 1.0)
        assert (choice.monthly[f"un_enforcement_{host}"] < 1.0).all()
    # UN worker provisions in force: labour-weighted u x e_h x (1 - relabel_h) <= u = 1
    assert (choice.monthly["un_workers_level"] < full.monthly["un_workers_level"]).all()
    first_year = months(ban_setting(), "2016-01", "2016-12")
    last_year = months(ban_setting(), "2018-01", "2018-12")
    sh = Shifts()
    sh.up(
        value(full, "closure_orders", first_year),
        value(choice, "closure_orders", first_year),
        "closure orders, 2016",
    )
    sh.down(
        value(full, "restaurants_open", first_year),
        value(choice, "restaurants_open", first_year),
        "restaurants open, end of 2016",
    )
    sh.down(value(full, "workers_labour"), value(choice, "workers_labour"), "labourers abroad")
    sh.down(
        value(full, "revenue_to_state_usd", last_year),
        value(choice, "revenue_to_state_usd", last_year),
        "revenue, 2018",
    )
    # 2016: the provisions are those of the dated resolutions (endogenous ones from 2017)
    sh.up(
        value(full, "trade_loss", first_year),
        value(choice, "trade_loss", first_year),
        "trade loss, 2016",
    )
    sh.up(value(full, "oil_cut", first_year), value(choice, "oil_cut", first_year), "oil cut, 2016")
    sh.check()


@pytest.mark.slow
def test_no_evasion_knockout() -> None:
    """Relabel and nominee capacities 0 under full enforcement: nobody shielded, no
    nominee restaurant; without the cover the labour force is sent home and shut
    restaurants stay shut.  Smallest measured shift: z = 10.2."""
    runs = ban_runs()
    full, none = runs["full"], runs["full_no_evasion"]
    for name in ("workers_relabelled", "nominee_restaurants", "nominee_openings"):
        np.testing.assert_array_equal(none.monthly[name], 0.0, err_msg=name)
    assert value(full, "workers_relabelled").min() > 0
    assert value(full, "nominee_openings").min() > 0
    later = months(ban_setting(), "2017-01", "2018-12")
    sh = Shifts()
    sh.down(value(none, "workers_labour"), value(full, "workers_labour"), "labourers abroad")
    sh.down(value(none, "restaurants_open"), value(full, "restaurants_open"), "restaurants open")
    sh.down(
        value(none, "remittance_labour_usd", later),
        value(full, "remittance_labour_usd", later),
        "labour remittances, 2017-2018",
    )
    sh.check()


@pytest.mark.slow
def test_ban_ledgers() -> None:
    for name, r in ban_runs().items():
        assert_ledgers(r, ban_variant(name))
        # ordered closures are closures (a site shut once, whatever the causes)
        assert (r.monthly["closure_orders"] <= r.monthly["restaurant_closures"]).all(), name
        # nominee restaurants open only where a closure order shut one before
        assert (
            np.cumsum(r.monthly["nominee_openings"], axis=1)
            <= np.cumsum(r.monthly["closure_orders"], axis=1)
        ).all(), name


def test_relabelling_follows_its_equation() -> None:
    """M1 evasion: under a ban and full enforcement relabel_h follows
    r += g/365 (capacity - r) - d/365 e r with e = 1, exactly; the cover costs
    relabel_cost_share x r of the fees."""
    s = sc.window(ban_variant("full"), "2016-01-01", 400)
    model = ref_model.LipsteethModel(s.params, s.levers, s.calendar, s.timeline, seed=5)
    model.run()
    lp = s.params.labour
    r = 0.0
    for _ in range(400):  # one Euler step a day from the same share
        r += (
            lp.relabel_growth_per_year / 365.0 * (lp.relabel_capacity - r)
            - lp.relabel_detection_per_year / 365.0 * 1.0 * r
        )
    assert model.hosts.relabel == pytest.approx([r, r, r], rel=1e-12)
    fees = model.datacollector.model_vars["labour_fees_usd"][-1]
    labourers = sum(len(site.workers) for site in model.labour_sites)
    per_day = lp.contract_fee_per_month / ref_model.DAYS_PER_MONTH
    # fees are booked before the day's recalls: a labourer more or less at most
    assert fees / per_day / (1 - lp.relabel_cost_share * r) == pytest.approx(labourers, abs=2)


def test_china_limits_bind_on_its_enforcement() -> None:
    """M9: while a limit of Beijing binds (here the no-exodus guard, on at any crossing)
    China enforces at most enforcement_floor_guarded; other hosts are not bound."""
    s = sc.set_params(tiny(2016, 2), strategic={"exodus_threshold_per_year": 0.0})
    r = run(s, 2)
    sp = s.params.strategic
    floor = sp.enforcement_floor_guarded
    # e moves to min(target, floor) with time constant enforcement_adjust_days
    residual = (1.0 - 1.0 / sp.enforcement_adjust_days) ** 700
    assert (r.monthly["un_enforcement_china"][:, -1] <= floor + residual).all()
    assert (r.monthly["un_enforcement_other"][:, -1] > floor + 0.1).all()
    # the guard also closes the border to half the crossings and sets full stringency
    np.testing.assert_array_equal(r.monthly["border_stringency"][:, 1:], 1.0)


def test_international_pressure_raises_enforcement() -> None:
    """M9: outside pressure raises every host's enforcement target.  Smallest shift: z = 10.5."""
    low = run(sc.set_levers(tiny(2016, 1), international_pressure=0.0), 6)
    high = run(sc.set_levers(tiny(2016, 1), international_pressure=1.0), 6)
    sh = Shifts()
    for host in ("china", "russia", "other"):
        name = f"un_enforcement_{host}"
        sh.up(value(high, name), value(low, name), name)
    sh.check()


def test_no_worker_provisions_no_closure_orders() -> None:
    """M8, M1: in months without UN worker provisions (u_workers = 0, so their enforced
    level is 0) no host orders a closure, no nominee reopens, nobody is relabelled."""
    for r in (*detention_runs().values(), *wider_flow_runs().values()):
        quiet = r.monthly["un_workers_level"] == 0.0
        assert quiet.sum() > 12
        for name in ("closure_orders", "nominee_openings", "workers_relabelled"):
            np.testing.assert_array_equal(r.monthly[name][quiet], 0.0, err_msg=name)


# --------------------------------------------------------------------------- M7


def test_unlimited_detention_knockout() -> None:
    """Unlimited detention (capacity and batch 1e9, daily handovers): nobody turned away,
    all held until the border reopens and then handed over at once; with a capacity the
    overflow is released back into hiding or held in prisons.  Smallest shift: z = 8.3."""
    runs = detention_runs()
    cap, unl = runs["capacity"], runs["unlimited"]
    s = closure_variant("capacity")
    closed = months(s, "2016-04", "2017-06")
    reopened = months(s, "2017-07", "2018-06")
    for name in ("detention_overflow", "detention_released", "long_detention"):
        np.testing.assert_array_equal(unl.monthly[name], 0.0, err_msg=name)
    # the border shut to people: no handover while it is closed (April 2016 on day 0 of
    # the month is still a batch day of the open border: skip the first month)
    for r in (cap, unl):
        np.testing.assert_array_equal(r.monthly["repatriations_from_china"][:, closed][:, 1:], 0)
    assert value(cap, "detention_overflow", closed).min() > 0
    assert value(cap, "long_detention", closed).min() > 0
    sh = Shifts()
    sh.up(
        value(unl, "detained_china", closed),
        value(cap, "detained_china", closed),
        "held at reopening",
    )
    sh.down(
        value(unl, "hidden_in_china", closed),
        value(cap, "hidden_in_china", closed),
        "hidden at reopening (releases)",
    )
    sh.up(
        value(unl, "repatriations_from_china", reopened),
        value(cap, "repatriations_from_china", reopened),
        "repatriations in the year after reopening",
    )
    sh.check()


def test_detention_ledgers() -> None:
    for name, r in detention_runs().items():
        assert_ledgers(r, closure_variant(name))


def test_handovers_in_batches() -> None:
    """M7: handovers only on batch days (t mod handover_interval_days = 0) with the border
    open, at most handover_batch_max each, plus long detainees."""
    s = sc.set_params(
        sc.window(closure_variant("capacity"), "2017-05-01", 120),
        enforcement={"handover_batch_max": 50.0},
    )
    model = ref_model.LipsteethModel(s.params, s.levers, s.calendar, s.timeline, seed=2)
    model.run()
    frame = model.datacollector.get_model_vars_dataframe()
    ep = s.params.enforcement
    handed = frame["repatriations_from_china"].to_numpy()
    long_before = np.concatenate([[0.0], frame["long_detention"].to_numpy()[:-1]])
    batch_day = np.arange(handed.size) % ep.handover_interval_days == 0
    open_border = np.arange(handed.size) >= s.calendar.day_of("2017-07-01")
    assert (handed[~(batch_day & open_border)] == 0).all()
    assert (handed <= ep.handover_batch_max + long_before).all()
    assert handed.sum() > 0


# --------------------------------------------------------------------------- M10


def test_single_stock_knockout() -> None:
    """A single wider-flow stock: no long-term residents (less often arrested, leaving when
    kin pay), no third countries: more arrests, fewer hidden; and while every journey out
    of China is stopped, North Koreans in third countries still reach the South with
    several stocks, nobody with one.  (Total arrivals have no fixed direction: without
    settling, everyone stays on the recent crossers' faster broker route.)"""
    runs = wider_flow_runs()
    stocks, single = runs["stocks"], runs["single"]
    for name in (
        "long_term_residents",
        "third_country_residents",
        "settlements",
        "onward_from_third_countries",
        "arrests_residents",
    ):
        np.testing.assert_array_equal(single.monthly[name], 0.0, err_msg=name)
        assert value(stocks, name).min() > 0, name
    sh = Shifts()
    sh.up(value(single, "arrests_hidden"), value(stocks, "arrests_hidden"), "arrests of hidden")
    sh.down(value(single, "hidden_in_china"), value(stocks, "hidden_in_china"), "hidden in China")
    sh.down(
        value(runs["single_stopped"], "arrivals_south_korea"),
        value(runs["stocks_stopped"], "arrivals_south_korea"),
        "arrivals in South Korea, journeys out of China stopped",
    )
    sh.check()


def test_wider_flow_ledgers() -> None:
    for name, r in wider_flow_runs().items():
        assert_ledgers(r, wider_flow_variant(name))


def test_kin_in_the_south_pay_the_brokers() -> None:
    """M10: relatives already in the South multiply long-term residents' departures."""
    s = tiny(2016, 1)
    with_kin = run(s, 6)
    without = run(sc.set_params(s, wider_flow={"kin_effect": 0.0}), 6)
    sh = Shifts()
    sh.down(value(without, "broker_departures"), value(with_kin, "broker_departures"), "departures")
    sh.check()


# --------------------------------------------------------------------------- M2


def test_demand_segments_by_host() -> None:
    """M2: South Koreans by host, officials and Chinese sanctions in China only, pandemic
    travel and custom everywhere (SPEC-12 s3), on a day without a test."""
    s = sc.window(tiny(2015, 1), "2015-06-01", 1)
    s = sc.set_levers(
        s,
        seoul_travel_advisory=1.0,
        anti_extravagance=1.0,
        pandemic=0.5,
        china_sanctions=0.4,
        beijing_discretion=0.0,
    )
    model = ref_model.LipsteethModel(s.params, s.levers, s.calendar, s.timeline, seed=1)
    model.step()
    dp = s.params.demand
    c = dp.advisory_compliance
    travel = c + (1 - c) * dp.pandemic_travel_loss * 0.5
    custom = 1 - dp.pandemic_custom_loss * 0.5
    sk = (dp.share_south_korean_china, dp.share_south_korean_russia, dp.share_south_korean_other)
    public_china = 1 - sk[0] - dp.share_officials
    china = (
        (1 - sk[0] * travel)
        * (1 - dp.share_officials * dp.anti_extravagance_loss)
        * (1 - public_china * dp.sanctions_loss * 0.4)
        * custom
    )
    expected = [china, (1 - sk[1] * travel) * custom, (1 - sk[2] * travel) * custom]
    assert model.demand_segment == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- M9 agenda


def test_sanctions_rise_starts_defiance() -> None:
    """M9: a rise of effective Chinese sanctions above their 30-day average provokes
    defiance for defiance_days (Beijing without discretion: effective = lever)."""
    s = sc.set_levers(tiny(2015, 1), beijing_discretion=0.0)
    s = sc.set_lever_path(s, "china_sanctions", 0.6, "2015-06-01")
    model = ref_model.LipsteethModel(s.params, s.levers, s.calendar, s.timeline, seed=4)
    model.run()
    defiance = np.asarray(model.datacollector.model_vars["defiance"])
    day = s.calendar.day_of("2015-06-01")
    n = int(s.params.strategic.defiance_days)
    np.testing.assert_array_equal(defiance[day : day + n], 1.0)


def test_milestones_and_pauses() -> None:
    """M9 programme: milestones = whole multiples of milestone_size reached; frequent
    milestones mean frequent pauses and fewer tests.  Smallest shift: z = 8.9."""
    s = tiny(2016, 2)
    often = run(sc.set_params(s, strategic={"milestone_size": 5.0}), 10)
    never = run(sc.set_params(s, strategic={"milestone_size": 1000.0}), 10)
    np.testing.assert_array_equal(
        value(often, "milestones"), np.floor(value(often, "programme_progress") / 5.0)
    )
    np.testing.assert_array_equal(never.monthly["milestones"], 0.0)
    sh = Shifts()
    sh.down(value(often, "missile_tests"), value(never, "missile_tests"), "missile tests")
    sh.check()


def test_carrots_start_talks() -> None:
    """M9: a standing positive signal starts talks (talks_offer_prob a day), and talks
    hold tests down; in 2014-2015 (no nuclear test) Beijing is not lax, so the signal
    stays positive.  Carrots taken up at once (talks_offer_prob 0.05) and milestones out
    of reach: the timing of talks and pauses would blur the comparison.
    Smallest shift: z = 7.8."""
    s = sc.set_params(tiny(2014, 2), strategic={"milestone_size": 1000.0, "talks_offer_prob": 0.05})
    none = run(s, 30)
    carrot = run(sc.set_levers(s, diplomatic_signal=1.0), 30)
    sh = Shifts()
    sh.up(value(carrot, "talks"), value(none, "talks"), "days in talks")
    sh.down(value(carrot, "missile_tests"), value(none, "missile_tests"), "missile tests")
    sh.check()


def test_fuel_limits_launches() -> None:
    """M9 oil: a full oil cut (UN oil caps enforced in full) removes fuel_capacity_effect of
    the missile tests; knocked out (0) there are more.  The channel is isolated: Beijing
    without discretion and milestones out of reach, so that neither its displeasure nor
    the programme's pauses offset the difference, a higher base rate (30 a year) and 2016
    only (its resolutions dated, none endogenous).  Smallest shift: z = 8.8."""
    s = sc.set_levers(tiny(2016, 1), un_oil=1.0, host_discretion=0.0, beijing_discretion=0.0)
    s = sc.set_params(s, strategic={"milestone_size": 1000.0, "missile_rate_per_year": 30.0})
    limited = run(s, 20)
    unlimited = run(sc.set_params(s, strategic={"fuel_capacity_effect": 0.0}), 20)
    np.testing.assert_array_equal(limited.monthly["oil_cut"], 1.0)
    sh = Shifts()
    sh.up(value(unlimited, "missile_tests"), value(limited, "missile_tests"), "missile tests")
    sh.check()


# --------------------------------------------------------------------------- M5, M1


@pytest.mark.slow
def test_opportunity_knockout() -> None:
    """beta_opportunity 0: an open exit check, helpers and complicit managers no longer
    raise the flight hazard, so fewer plots start.  The regime's reaction to attempts
    (M8) is off, so that tighter control after each attempt does not offset the
    difference.  Smallest measured shift: z = 7.7."""
    s = boosted(_years(sc.shrink(_base(), 16, 15, 10, 40), 2016, 2))
    s = sc.set_levers(s, china_exit_strictness=0.0)
    s = sc.set_params(s, regime=NO_REACTION)
    base = run(s, 16)
    knocked = run(sc.set_params(s, defection={"beta_opportunity": 0.0}), 16)
    sh = Shifts()
    for name in ("defection_groups_restaurant", "attempts_restaurant"):
        sh.down(value(knocked, name), value(base, name), name)
    sh.check()
    assert_ledgers(base, s)


@pytest.mark.slow
def test_quota_renegotiation_knockout() -> None:
    """quota_cut 0: sustained arrears no longer bring quotas down, so arrears and pay cuts
    stay.  Failing restaurants are not shut (M8 failure closures off) so that sites in
    arrears live long enough to renegotiate.  Smallest measured shift: z = 7.5."""
    s = sc.set_levers(
        restaurant_heavy(2013, 3),
        seoul_travel_advisory=1.0,
        anti_extravagance=1.0,
        restaurant_quota_usd=100_000,
    )
    s = sc.set_params(s, restaurants={"failure_closure_rate_per_year": 0.0})
    base = run(s, 10)
    knocked = run(sc.set_params(s, restaurants={"quota_cut": 0.0}), 10)
    last_year = months(s, "2015-01", "2015-12")
    open_months = knocked.monthly["restaurants_open"] > 0
    np.testing.assert_array_equal(knocked.monthly["quota_level"][open_months], 1.0)
    assert value(base, "quota_renegotiations").min() > 0
    assert (base.monthly["quota_level"] >= s.params.restaurants.quota_factor_min).all()
    sh = Shifts()
    sh.up(value(knocked, "quota_level", last_year), value(base, "quota_level", last_year), "quota")
    sh.up(
        value(knocked, "restaurant_arrears_usd", last_year),
        value(base, "restaurant_arrears_usd", last_year),
        "arrears",
    )
    sh.down(
        value(knocked, "pay_level_restaurant", last_year),
        value(base, "pay_level_restaurant", last_year),
        "pay level",
    )
    sh.check()


#: weights and Chinese sanctions that push the economy index's formula below 0 (M9):
#: 1 + (remittances / first day - 1) - trade lost (1) - oil cut (1)
ECONOMY_CRUSHED = {
    "economy_weight_overseas": 1.0,
    "economy_weight_trade": 1.0,
    "economy_weight_oil": 1.0,
    "trade_loss_china_sanctions": 1.0,
    "oil_from_china_sanctions": 1.0,
    "aid_economy_effect": 0.0,
}


def test_economy_index_never_below_zero() -> None:
    """M9: the index is floored at 0 (issue 17: -1.8e12 made crossings e^(1e12) a day);
    full Chinese sanctions with unit weights put its formula at about -1."""
    s = sc.set_params(tiny(2016, 1), strategic=ECONOMY_CRUSHED)
    s = sc.set_levers(s, beijing_discretion=0.0, china_sanctions=1.0)
    model = ref_model.LipsteethModel(s.params, s.levers, s.calendar, s.timeline, seed=5)
    model.run()
    economy = np.asarray(model.datacollector.model_vars["economy_index"])
    assert economy.min() == 0.0  # the floor binds, and nothing is below it
