"""Facts as evidence (issue 13): each row names its mechanism and a knock-out it fails under.

The rules (``experiment.facts``): ``overlap`` (the 90 % band of the replicates
meets the target), ``inside`` (it lies within the target), ``mean`` (the 90 %
bootstrap interval of the ensemble statistic lies within it); a row whose
years the run does not reach is ``not evaluated``.

The slow test runs ``lipsteeth facts baseline-2016 --knockouts`` in process:
every row consistent with its mechanism and inconsistent knocked out, with
the shipped posterior's parameter uncertainty.  Fixed seeds make it
deterministic.  False-failure rate: each ``mean`` row's bound is a one-sided
5 % test, each ``overlap``/``inside`` bound a 5 % tail of the replicates; the
margins measured at the commit (README, "Facts as evidence") are several
interval widths for every row except those noted there.  The closest is P1's
timing row with its mechanism: its upper end 0.392 against 0.5, 1.6
seed-to-seed standard deviations (about 0.067) away, so a correct model fails
the test for another seed with a probability we estimate at about 5 %
(measured: the seeds tried all passed); it is not a bound.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from lipsteeth.core.params import PARAM_GROUPS, field_specs
from lipsteeth.experiment import facts as fx
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.posterior import with_uncertainty
from lipsteeth.scenario import load_scenario

from .web_live import TINY_PARAMS


def _row(rule: str, low: float, high: float, values: np.ndarray) -> fx.FactRow:
    return fx.FactRow(
        "T1",
        "a test row",
        "a statistic",
        "target",
        low,
        high,
        rule,  # type: ignore[arg-type]
        "units",
        "test",
        (2012, 2012),
        "M0 nothing",
        fx.Knockout("nothing"),
        lambda world: values,
    )


class _World:
    def __init__(self, scenario):
        self.reference = self.scenario = scenario


def test_rules_compare_the_band_with_the_target():
    world = _World(load_scenario("baseline-2016"))
    spread = np.linspace(0.0, 10.0, 101)  # 5-95 % band [0.5, 9.5], mean 5
    assert _row("overlap", 9.0, 20.0, spread).evaluate(world).consistent is True
    assert _row("overlap", 9.6, 20.0, spread).evaluate(world).consistent is False
    assert _row("inside", 0.4, 9.6, spread).evaluate(world).consistent is True
    assert _row("inside", 1.0, 9.6, spread).evaluate(world).consistent is False, (
        "the median (5) is inside, but not the band: not consistent"
    )
    check = _row("mean", 4.0, 6.0, spread).evaluate(world)
    assert check.consistent is True and 4.0 < check.low < check.value < check.high < 6.0
    assert check.p5 == pytest.approx(0.5) and check.p95 == pytest.approx(9.5)
    assert _row("mean", 5.5, 6.0, spread).evaluate(world).consistent is False
    undefined = _row("mean", 0.0, 1.0, np.array([np.nan, np.nan])).evaluate(world)
    assert undefined.consistent is False and "undefined" in undefined.note


def test_a_horizon_short_of_a_window_is_not_evaluated():
    """`run --years 3` (2012-2014): no row reaches its window; none says "no"."""
    scenario = load_scenario("baseline-2016").with_overrides(params=TINY_PARAMS, years=3)
    result = run_scenario(scenario, replicates=2)
    facts = fx.check_facts(scenario, result, counterfactual_replicates=2)
    assert facts and {f.status for f in facts} == {"not evaluated"}
    assert all(f.consistent is None and not f.covered for f in facts)
    assert all(f.to_dict()["status"] == "not evaluated" for f in facts)
    assert all(f.window for f in facts)


def test_every_row_names_its_mechanism_and_a_valid_knockout():
    scenario = load_scenario("baseline-2016")
    rows = fx.fact_rows(scenario)
    assert {r.id for r in rows} == {f"F{i}" for i in range(1, 10)} | {"P1", "P2", "P3"}
    for row in rows:
        assert row.mechanism.startswith("M") and row.knockout.description
        assert row.knockout.params or row.knockout.levers
        assert row.rule in fx.RULES
        first, last = row.window
        assert 2012 <= first <= last <= 2016, "windows lie in the observed years"
        for name in row.knockout.params:
            group, _, item = name.partition(".")
            assert item in field_specs(PARAM_GROUPS[group]), name
        scenario.with_overrides(params=dict(row.knockout.params))  # within the core's bounds


def _with_events(result, rows: list[dict]) -> object:
    """``result`` with its events replaced by ``rows`` (other columns zero)."""
    events = {
        name: np.array([row.get(name, np.zeros(1, column.dtype)[0]) for row in rows], column.dtype)
        for name, column in result.events.items()
    }
    return dataclasses.replace(result, events=events)


def test_closure_timing_counts_days_at_risk_per_attempt():
    """F8: closures per day at risk soon after (days 0-29) over later (30-364), per attempt.

    Three attempts on 1 March 2014: one site shut 5 days later (soon: 1 closure in
    6 days at risk, none later), one shut 200 days later (30 days at risk soon, 1
    closure in 171 days later), one never shut (30 days soon, 335 later): a ratio
    of (1/66) / (1/506).  A site shut soon is not at risk later.
    """
    scenario = load_scenario("baseline-2016").with_overrides(
        params=TINY_PARAMS, start="2012-01-01", end="2016-12-31"
    )
    result = run_scenario(scenario, replicates=2)
    day = int((np.datetime64("2014-03-01") - np.datetime64("2012-01-01")).astype(int))
    attempt = {"kind": "defection_group", "sector": "restaurant", "outcome": "escaped"}
    closure = {"kind": "closure", "sector": "restaurant", "outcome": "arrears"}
    rows = [
        {**attempt, "replicate": 0, "site": 3, "day": day, "size": 2},
        {**closure, "replicate": 0, "site": 3, "day": day + 5},
        {**attempt, "replicate": 0, "site": 4, "day": day, "size": 2},
        {**closure, "replicate": 0, "site": 4, "day": day + 200},
        {**closure, "replicate": 1, "site": 4, "day": day + 10},  # another replicate's site
        {**attempt, "replicate": 1, "site": 5, "day": day, "size": 2},
        {**closure, "replicate": 1, "site": 5, "day": day - 3},  # before the attempt
    ]
    world = fx.World(scenario, scenario, lambda: _with_events(result, rows), None, 1)
    pooled = fx._closure_risk(world)
    sums = {name: float(v.sum()) for name, v in pooled.components.items()}
    assert sums == {"soon": 1.0, "soon_days": 66.0, "later": 1.0, "later_days": 506.0}
    assert pooled.estimate() == pytest.approx(506.0 / 66.0)


#: Rows that are not evidence on the issue-12 model with the shipped posterior: none since
#: F3's 2016 count uses the ``mean`` rule and P3 a difference of shares (README, "Facts as
#: evidence").  The test fails if a row stops being evidence.
NOT_EVIDENCE_ON_THE_ISSUE_12_MODEL: set[tuple[str, str]] = set()


@pytest.mark.slow
def test_every_row_is_evidence_with_parameter_uncertainty():
    """`lipsteeth facts baseline-2016 --knockouts`: consistent with, inconsistent without.

    20 replicates of the full default scenario with the shipped posterior,
    20 per counterfactual ensemble, one knocked-out setting per mechanism
    (about 9 minutes on the 2 shared cores under load, 4 when they are free).
    Every row is consistent with its mechanism and inconsistent knocked out.
    """
    scenario = with_uncertainty(load_scenario("baseline-2016"))
    started = time.perf_counter()
    result = run_scenario(scenario, replicates=20)
    checks = fx.check_knockouts(scenario, result)
    seconds = time.perf_counter() - started
    failing = [
        f"{c.row.id} {c.row.statistic}: with {c.with_mechanism.status} "
        f"{c.with_mechanism.value:.4g} [{c.with_mechanism.low:.4g}, {c.with_mechanism.high:.4g}], "
        f"knocked out {c.knocked_out.status} {c.knocked_out.value:.4g} "
        f"[{c.knocked_out.low:.4g}, {c.knocked_out.high:.4g}] (target {c.row.target})"
        for c in checks
        if not c.evidence and (c.row.id, c.row.statistic) not in NOT_EVIDENCE_ON_THE_ISSUE_12_MODEL
    ]
    assert not failing, "\n".join(failing) + f"\n({seconds:.0f} s)"
    assert all(c.with_mechanism.consistent for c in checks)
    known = {(c.row.id, c.row.statistic) for c in checks if not c.evidence}
    assert known == NOT_EVIDENCE_ON_THE_ISSUE_12_MODEL, (
        f"now evidence: {NOT_EVIDENCE_ON_THE_ISSUE_12_MODEL - known}"
    )
