"""Validation against observed series: file format, observation models, metrics, command.

Statistical test: an observed file made of one replicate of a run, validated
against the other replicates of the same run, lies inside their 90 % band
about 80-90 % of the time (with 20 other replicates the expected share of the
interpolated 5-95 % band is about 0.81, more with ties of small counts); the
leave-one-out average over 72 monthly values of each of 16 replicates has a
standard deviation of about 0.02, so the bounds 0.65-0.98 fail by chance far
less than once in 10,000 runs.  The same held-out values lie inside the 50 %
band (25-75 % of the 15 others) with probability about 7/16 = 0.44 for
continuous values, a little more with ties (0.45-0.46 with seeds 11-13); the
average's standard deviation is about 0.02, so the bounds 0.30-0.70 (more than
7 standard deviations away) also fail by chance far less than once in 10,000
runs.  Every other added test is exact (hand-computed values, fixed seeds,
identities): its false-failure rate is zero.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipsteeth.core.jit import core_digest
from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.core.simulate import Ledger, SimulationResult
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.forecast_scores import (
    QUANTILE_LEVELS,
    FrozenForecastError,
    PeriodForecast,
    crps,
    fit_drift,
    predictive_sample,
    relative_mae,
    score_observation,
    scoring_point,
    wis,
)
from lipsteeth.experiment.validation import (
    SERIES,
    ObservedError,
    ard,
    coverage,
    freeze,
    interval_error,
    mase,
    parse_observed,
    read_frozen,
    simulated_values,
    subset,
    synthetic_observed,
    validate,
)
from lipsteeth.scenario import Scenario

from .support import small_params

HEADER = "series,period,value,low,high\n"


# ---------------------------------------------------------------------------
# a hand-made result: exact numbers for the observation models and metrics


def fake_result(
    values: dict[str, np.ndarray], start: str = "2000-01", months: int = 36
) -> SimulationResult:
    """A SimulationResult with given monthly (R, M) outcomes and zeros elsewhere."""
    first = np.datetime64(start, "M")
    month_axis = first + np.arange(months)
    R = next(iter(values.values())).shape[0]
    monthly = np.zeros((R, len(OUTCOME_NAMES), months))
    for name, block in values.items():
        monthly[:, OUTCOME_NAMES.index(name), :] = block
    span = (month_axis[-1] + 1).astype("datetime64[D]") - first.astype("datetime64[D]")
    n_days = int(span.astype(np.int64))
    zeros = np.zeros(R)
    ledger = Ledger(*(zeros for _ in dataclasses.fields(Ledger)))
    return SimulationResult(
        replicates=np.arange(R),
        months=month_axis,
        outcome_names=OUTCOME_NAMES,
        monthly=monthly,
        events={},
        ledger=ledger,
        n_days=n_days,
    )


@pytest.fixture(scope="module")
def ramp() -> SimulationResult:
    """Three years; replicate r has 10 * (r + 1) arrivals a month; stock = month number."""
    R, M = 5, 36
    arrivals = np.repeat((10.0 * (np.arange(R) + 1))[:, None], M, axis=1)
    stock = np.repeat(np.arange(1, M + 1, dtype=float)[None, :], R, axis=0)
    return fake_result({"arrivals_south_korea": arrivals, "workers_abroad": stock})


def test_counts_sum_over_the_period_and_snapshots_are_mid_year(ramp: SimulationResult) -> None:
    np.testing.assert_allclose(
        simulated_values(ramp, "arrivals_south_korea", 2001, None), 120 * (np.arange(5) + 1)
    )
    np.testing.assert_allclose(
        simulated_values(ramp, "arrivals_south_korea", 2001, 3), 10 * (np.arange(5) + 1)
    )
    # workers_abroad: mid-year (June of the second year = month 18), or the month itself
    np.testing.assert_allclose(simulated_values(ramp, "workers_abroad", 2001, None), 18.0)
    np.testing.assert_allclose(simulated_values(ramp, "workers_abroad", 2001, 12), 24.0)
    assert simulated_values(ramp, "arrivals_south_korea", 2003, None) is None
    # a horizon starting mid-year: the first year is not complete, its months are
    late = np.datetime64("2000-03-15")
    assert simulated_values(ramp, "arrivals_south_korea", 2000, None, start=late) is None
    assert simulated_values(ramp, "arrivals_south_korea", 2000, 3, start=late) is None
    assert simulated_values(ramp, "arrivals_south_korea", 2000, 4, start=late) is not None


def test_metrics_by_hand() -> None:
    assert ard([10, -10], [100, 100]) == pytest.approx(0.1)
    assert ard([], []) is None
    assert mase([1, 3], [2, 2]) == pytest.approx(1.0)
    assert mase([1], [0]) is None
    assert coverage([True, False, True, True]) == pytest.approx(0.75)
    assert interval_error(5, (1, 10)) == 0
    assert interval_error(12, (1, 10)) == 2
    assert interval_error(0, (1, math.inf)) == 1


def test_validate_on_the_ramp(ramp: SimulationResult) -> None:
    # median of yearly arrivals is 360; the band 5-95 % is [168, 552]
    text = HEADER + "\n".join(
        [
            "arrivals_south_korea,1999,400,,",  # before the window: the persistence anchor
            "arrivals_south_korea,2000,360,,",  # exact
            "arrivals_south_korea,2001,,300,330",  # a range 30 below the median
            "arrivals_south_korea,2002,1000,,",  # outside the horizon? no: 2002 is simulated
            "workers_abroad,2001,18,,",
        ]
    )
    report = validate(ramp, parse_observed(text, "t"), first_year=2000, last_year=2002)
    arr = report.series["arrivals_south_korea"]
    assert [c.median for c in arr.comparisons] == [360, 360, 360]
    # errors 0, 30, 640 over observed 360 + 315 + 1000
    assert arr.ard == pytest.approx(670 / 1675)
    # persistence 400: errors 40, 70 (distance to [300, 330]), 600
    assert arr.mase == pytest.approx((670 / 3) / (710 / 3))
    assert arr.anchor is not None and arr.anchor.period == "1999"
    assert arr.coverage == pytest.approx(2 / 3)
    assert report.series["workers_abroad"].ard == 0
    assert report.series["workers_abroad"].coverage == 1
    # without an earlier row, the first row of the window anchors persistence
    rows = HEADER + "arrivals_south_korea,2000,400,,\narrivals_south_korea,2001,300,,\n"
    alone = validate(ramp, parse_observed(rows, "t")).series["arrivals_south_korea"]
    assert alone.anchor_in_window and alone.anchor is not None and alone.anchor.period == "2000"
    assert alone.mase == pytest.approx(60 / 100)  # 2001 only: |360 - 300| / |400 - 300|
    # observations outside the horizon are skipped and reported
    late = validate(ramp, parse_observed(HEADER + "arrivals_south_korea,2009,5,,", "t"))
    assert late.series["arrivals_south_korea"].comparisons == ()
    assert len(late.skipped) == 1
    json.dumps(report.to_dict())


# ---------------------------------------------------------------------------
# forecast scores by hand


def test_crps_of_an_ensemble_against_a_point() -> None:
    # CRPS = E|X - y| - E|X - X'| / 2; for {1, 2, 3}: E|X - X'| = 8/9
    assert crps(np.array([1.0, 2.0, 3.0]), 2.0) == pytest.approx(2 / 3 - 4 / 9)
    assert crps(np.array([1.0, 2.0, 3.0]), 4.0) == pytest.approx(2 - 4 / 9)
    # a one-member ensemble: the absolute error
    assert crps(np.array([5.0]), 2.0) == pytest.approx(3.0)


def test_wis_from_known_quantiles() -> None:
    # one central 50 % interval [1, 3] and the median 2: WIS = (|y - m| / 2 + IS * alpha / 2) / 1.5
    # y = 4: IS = 2 + (2 / 0.5) * 1 = 6, so (1 + 1.5) / 1.5
    assert wis([1.0, 2.0, 3.0], [0.25, 0.5, 0.75], 4.0) == pytest.approx(2.5 / 1.5)
    # y = 2 inside: IS = 2, so (0 + 0.5) / 1.5
    assert wis([1.0, 2.0, 3.0], [0.25, 0.5, 0.75], 2.0) == pytest.approx(0.5 / 1.5)
    # a point forecast c at all 23 levels: every term is |y - c|, so WIS = |y - c|
    assert wis([7.0] * len(QUANTILE_LEVELS), QUANTILE_LEVELS, 10.0) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="median"):
        wis([1.0, 3.0], [0.25, 0.75], 2.0)


def test_ranges_are_scored_at_their_point_nearest_the_median() -> None:
    forecast = PeriodForecast.from_members(np.arange(0.0, 101.0), 0.0)
    assert forecast.median == 50 and forecast.predictive_median == 50
    assert forecast.central(0.5) == (25, 75) and forecast.central(0.9) == (5, 95)
    inside = score_observation(forecast, (40.0, 70.0))
    assert inside.scored_at == 50 and inside.inside_50 and inside.inside_90
    above = score_observation(forecast, (80.0, math.inf))  # "at least 80"
    assert above.scored_at == 80 and not above.inside_50 and above.inside_90
    # the score of a range is the lowest score over the range (both are convex)
    grid = np.linspace(80.0, 300.0, 221)
    assert above.crps == pytest.approx(min(crps(forecast.sample(), y) for y in grid))
    assert above.wis == pytest.approx(
        min(wis(forecast.quantiles, QUANTILE_LEVELS, y) for y in grid)
    )
    assert scoring_point((3.0, 3.0), 50.0) == 3.0  # a point is scored at its value


def test_coverage_and_scores_on_a_constructed_case() -> None:
    # 101 replicates; replicate r has r arrivals a month, so a year's members are 0, 12, ..., 1200:
    # quantiles 0.05, 0.25, 0.75, 0.95 are exactly 60, 300, 900, 1140
    R, M = 101, 36
    arrivals = np.repeat(np.arange(R, dtype=float)[:, None], M, axis=1)
    result = fake_result({"arrivals_south_korea": arrivals}, months=M)
    text = HEADER + "\n".join(
        [
            "arrivals_south_korea,2000,600,,",  # inside both bands
            "arrivals_south_korea,2001,1000,,",  # inside the 90 % band only
            "arrivals_south_korea,2002,,1150,2000",  # a range above both bands
            "arrivals_south_korea,2002-01,,,20",  # "at most 20" of a month (0..100): 90 % only
        ]
    )
    report = validate(result, parse_observed(text, "t"))
    arr = report.series["arrivals_south_korea"]
    assert [c.inside_50 for c in arr.comparisons] == [True, False, False, False]
    assert [c.inside for c in arr.comparisons] == [True, True, False, True]
    assert arr.coverage_50 == pytest.approx(1 / 4) and arr.coverage == pytest.approx(3 / 4)
    members = 12.0 * np.arange(R)
    assert arr.comparisons[0].crps == pytest.approx(crps(members, 600.0))
    assert arr.comparisons[2].scored_at == 1150  # the range's point nearest the median 600
    assert arr.comparisons[2].wis == pytest.approx(
        wis(np.quantile(members, QUANTILE_LEVELS), QUANTILE_LEVELS, 1150.0)
    )
    assert arr.comparisons[3].scored_at == 20  # the bound nearest the monthly median 50
    assert arr.wis == pytest.approx(np.mean([c.wis for c in arr.comparisons]))
    assert arr.crps == pytest.approx(np.mean([c.crps for c in arr.comparisons]))
    # rough estimates: quantiles of the members widened by observation error (25 % for workers)
    workers = np.repeat(np.linspace(900.0, 1100.0, 5)[:, None], M, axis=1)
    widened = validate(
        fake_result({"workers_abroad": workers}, months=M),
        parse_observed(HEADER + "workers_abroad,2001,1000,,", "t"),
    ).series["workers_abroad"]
    sample = predictive_sample(np.linspace(900.0, 1100.0, 5), 0.25)
    assert sample.size == 5 * 400
    assert widened.comparisons[0].p5 == pytest.approx(np.quantile(sample, 0.05))
    assert widened.comparisons[0].p5 < 900 and widened.comparisons[0].median == 1000
    assert widened.comparisons[0].crps == pytest.approx(crps(sample, 1000.0))


def test_relative_mae_against_persistence_and_drift_by_hand(ramp: SimulationResult) -> None:
    # the model's median is 360 a year; earlier observations 100, 250, 300 (1997-1999)
    text = HEADER + "\n".join(
        [
            "arrivals_south_korea,1997,100,,",
            "arrivals_south_korea,1998,250,,",
            "arrivals_south_korea,1999,300,,",
            "arrivals_south_korea,2000,400,,",
            "arrivals_south_korea,2001,500,,",
            "arrivals_south_korea,2002,600,,",
        ]
    )
    obs = parse_observed(text, "t")
    report = validate(ramp, obs, first_year=2000, last_year=2002, split=2001)
    arr = report.series["arrivals_south_korea"]
    # model errors 40, 140, 240 (MAE 140); persistence 300: errors 100, 200, 300 (MAE 200)
    assert arr.rel_mae_persistence == pytest.approx(140 / 200) == arr.mase
    # least squares through (1997.5, 100), (1998.5, 250), (1999.5, 300): slope 100 a year,
    # 316.67 at 1999.5, so 416.67, 516.67, 616.67: errors 16.67 each
    assert arr.rel_mae_drift == pytest.approx(140 / (50 / 3))
    drift = [b.drift for b in arr.whole.benchmarks] if arr.whole else []
    assert drift == pytest.approx([1250 / 3, 1550 / 3, 1850 / 3])
    before, after = arr.windows["before_split"], arr.windows["from_split"]
    assert (before.first_year, before.last_year, after.first_year, after.last_year) == (
        2000,
        2000,
        2001,
        2002,
    )
    assert before.rel_mae_persistence == pytest.approx(40 / 100)
    assert before.rel_mae_drift == pytest.approx(40 / (50 / 3))
    # from the split the benchmarks know 2000 too: persistence 400 (errors 100, 200);
    # the line through the four earlier values has slope 95 and is 405 at 2000.5: 500, 595
    assert after.rel_mae_persistence == pytest.approx(190 / 150)
    assert after.rel_mae_drift == pytest.approx(190 / 2.5)
    assert after.ard == pytest.approx((140 + 240) / (500 + 600))
    assert after.anchor is not None and after.anchor.period == "2000"
    # one earlier observation: no drift (null, not a number); none: no benchmark at all
    one = validate(ramp, obs[2:], first_year=2000).series["arrivals_south_korea"]
    assert one.rel_mae_persistence == pytest.approx(140 / 200)
    assert one.rel_mae_drift is None and "rel_mae_drift null" in one.note
    none = validate(ramp, obs[3:]).series["arrivals_south_korea"]
    assert none.rel_mae_persistence is None and none.rel_mae_drift is None
    assert none.mase is not None  # MASE keeps its fallback: the window's first observation
    # the drift is floored at zero: a falling line forecasts no arrivals, not negative ones
    assert fit_drift([0.0, 1.0], [100.0, 0.0]).predict(5.0) == 0.0  # type: ignore[union-attr]
    assert fit_drift([1.0, 1.0], [1.0, 2.0]) is None
    assert relative_mae([1.0], [None]) is None and relative_mae([1.0], [0.0]) is None
    data = report.to_dict()["series"]["arrivals_south_korea"]
    for key in ("wis", "crps", "coverage_50", "coverage_90", "rel_mae_persistence"):
        assert isinstance(data[key], float)
        assert key in data["before_split"] and key in data["from_split"]
    assert report.to_dict()["split"] == 2001
    with pytest.raises(ObservedError, match="--split"):
        validate(ramp, obs, first_year=2000, last_year=2002, split=2000)


# ---------------------------------------------------------------------------
# frozen forecasts


def test_frozen_forecast_scores_as_the_ensemble_it_came_from(
    known_run: tuple[Scenario, SimulationResult],
) -> None:
    scenario, result = known_run
    text = synthetic_observed(
        result, ["arrivals_south_korea", "workers_abroad"], 0, start=scenario.start
    )
    obs = parse_observed(text, "synthetic")
    frozen = freeze(
        result,
        ["arrivals_south_korea", "workers_abroad"],
        first_year=2012,
        last_year=2014,
        split=2014,
        seed=11,
        start=scenario.start,
        meta={"scenario": "x", "scenario_sha256": {"resolved_toml": "a" * 64}},
    )
    doc = json.loads(json.dumps(frozen.to_dict()))
    back = read_frozen(doc, "f.json")
    assert back.seed == 11 and back.replicates == 16 and back.split == 2014
    direct = validate(
        result, obs, first_year=2012, last_year=2014, split=2014, start=scenario.start
    )
    scored = validate(back, obs, first_year=2012, last_year=2014, split=2014)
    assert scored.to_dict() == direct.to_dict()
    assert set(scored.series["workers_abroad"].windows) == {"before_split", "from_split"}
    assert doc["series"]["arrivals_south_korea"]["periods"]["2013"]["quantiles"] == list(
        np.quantile(simulated_values(result, "arrivals_south_korea", 2013, None), QUANTILE_LEVELS)
    )


MUTATIONS = [
    ("del doc['seed']", "seed: missing"),
    ("doc['replicates'] = 'many'", "replicates: expected int"),
    ("doc['format'] = 'csv'", "format:"),
    ("doc['split'] = 2030", "split:"),
    ("doc['quantile_levels'] = [0.5]", "quantile_levels:"),
    ("doc['scenario_sha256'] = {'resolved_toml': 'xyz'}", "scenario_sha256.resolved_toml"),
    ("doc['series']['arrivals'] = doc['series'].pop('arrivals_south_korea')", "series.arrivals"),
    ("P['2001']['members'] = P['2001']['members'][:-1]", "periods.2001.members: 4 numbers"),
    ("P['2001']['members'][0] = -1.0", "periods.2001.members: negative"),
    ("P['2001']['quantiles'][4] += 1.0", "periods.2001.quantiles: not the quantiles"),
    ("P['2001']['median'] = 'x'", "periods.2001.median"),
    ("P['1990'] = P['2001']", "periods.1990"),
]


@pytest.mark.parametrize(("mutation", "fragment"), MUTATIONS)
def test_malformed_frozen_forecasts_are_refused_naming_the_field(
    ramp: SimulationResult, mutation: str, fragment: str
) -> None:
    frozen = freeze(
        ramp,
        ["arrivals_south_korea"],
        first_year=2000,
        last_year=2002,
        split=2002,
        seed=1,
        meta={"scenario": "ramp", "scenario_sha256": {"resolved_toml": "b" * 64}},
    )
    doc = json.loads(json.dumps(frozen.to_dict()))
    assert read_frozen(doc).replicates == 5
    exec(mutation, {"doc": doc, "P": doc["series"]["arrivals_south_korea"]["periods"]})
    with pytest.raises(FrozenForecastError) as info:
        read_frozen(doc, "f.json")
    message = str(info.value)
    assert fragment in message and message.startswith("f.json") and "\n" not in message


# ---------------------------------------------------------------------------
# the observed file


def test_parse_observed_accepts_ranges_months_comments_and_extra_columns() -> None:
    text = (
        "# a comment\n"
        "series,period,value,low,high,reliability,source\n"
        "arrivals_south_korea,2016,1418,,,high,MOU\n"
        "\n"
        'repatriations_from_china,2002,,4800,8900,medium,"CASS, via press"\n'
        "restaurants_abroad,2016-04,130,,,medium,NIS\n"
        "workers_abroad,2016,,50000,,medium,at least\n"
    )
    rows = parse_observed(text, "obs.csv")
    assert [r.series for r in rows][0] == "arrivals_south_korea"
    rep = rows[1]
    assert rep.value is None and rep.reference == pytest.approx(6850)
    assert rep.interval == (4800, 8900) and rep.line == 5
    assert rows[2].month == 4 and rows[2].year == 2016
    assert rows[3].interval == (50000, math.inf) and rows[3].reference == 50000


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty file"),
        ("series,period\n", "missing column 'value'"),
        ("series,period,value,hgih\n", "did you mean 'high'"),
        (HEADER, "no observations"),
        (HEADER + "arrivals_southkorea,2016,1,,\n", "unknown series 'arrivals_southkorea'"),
        (HEADER + "arrivals_south_korea,16,1,,\n", "line 2: period"),
        (HEADER + "arrivals_south_korea,2016-13,1,,\n", "month 13"),
        (HEADER + "arrivals_south_korea,2016,many,,\n", "line 2: value: not a number"),
        (HEADER + "arrivals_south_korea,2016,-4,,\n", "must not be negative"),
        (HEADER + "arrivals_south_korea,2016,,,\n", "give a value, a range"),
        (HEADER + "arrivals_south_korea,2016,,9,3\n", "above high"),
        (HEADER + "arrivals_south_korea,2016,1,5,9\n", "below its low"),
        (HEADER + "arrivals_south_korea,2016,1\n", "3 cells where the header has 5"),
        (HEADER + 'arrivals_south_korea,2016,"1\n2",,\n', "malformed CSV"),
    ],
)
def test_malformed_observed_files_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ObservedError) as info:
        parse_observed(text, "obs.csv")
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and message.startswith("obs.csv")


def test_shipped_observed_files_parse_and_cover_the_required_series() -> None:
    folder = Path(__file__).resolve().parents[1] / "src" / "lipsteeth" / "data" / "observed"
    files = sorted(folder.glob("*.csv"))
    assert files
    rows = [row for path in files for row in parse_observed(path.read_text(), path.name)]
    assert {r.series for r in rows} >= {
        "arrivals_south_korea",
        "workers_abroad",
        "restaurants_abroad",
        "repatriations_from_china",
        "restaurant_defectors",
        "missile_tests",
        "revenue_to_state_usd",
    }
    assert all(row.source for row in rows)
    arrivals = {r.year: r.value for r in rows if r.series == "arrivals_south_korea"}
    assert sorted(arrivals) == list(range(1998, 2017))
    assert arrivals[2009] == 2914 and sum(arrivals[y] for y in (1999, 2000, 2001)) == 1043
    # outcome series stop at the end of 2016 (SOURCES.md)
    assert max(r.year for r in rows) <= 2016
    for spec in SERIES.values():
        assert spec.outcome in OUTCOME_NAMES


# ---------------------------------------------------------------------------
# a synthetic observed file made from a known run


@pytest.fixture(scope="module")
def known_run(baseline: Scenario) -> tuple[Scenario, SimulationResult]:
    small = small_params(baseline.params)
    params = dataclasses.replace(small, wider_flow=baseline.params.wider_flow)
    scenario = dataclasses.replace(baseline, params=params)
    scenario = scenario.with_overrides(end="2014-12-31")
    # keep the small population (with_overrides rebuilds from the document)
    scenario = dataclasses.replace(scenario, params=params)
    return scenario, run_scenario(scenario, replicates=16, seed=11)


def test_synthetic_observed_from_a_known_run(known_run: tuple[Scenario, SimulationResult]) -> None:
    scenario, result = known_run
    R = result.monthly.shape[0]
    ards, covers, covers_50 = [], [], []
    for held in range(R):
        others = subset(result, np.array([r for r in range(R) if r != held]))
        monthly = synthetic_observed(
            result,
            ["arrivals_south_korea", "repatriations_from_china"],
            held,
            monthly=True,
            start=scenario.start,
        )
        report = validate(others, parse_observed(monthly, "synthetic"), start=scenario.start)
        covers += [s.coverage for s in report.series.values()]
        covers_50 += [s.coverage_50 for s in report.series.values()]
        yearly = synthetic_observed(
            result, ["arrivals_south_korea"], held, years=[2013, 2014], start=scenario.start
        )
        report = validate(others, parse_observed(yearly, "synthetic"), start=scenario.start)
        ards.append(report.series["arrivals_south_korea"].ard)
    assert 0.65 <= float(np.mean(covers)) <= 0.98
    assert 0.30 <= float(np.mean(covers_50)) <= 0.70
    assert float(np.mean(covers_50)) < float(np.mean(covers))
    assert float(np.median(ards)) < 0.1
    # the ensemble median itself as observations: ARD exactly 0, all inside the band
    medians = {
        year: np.median(simulated_values(result, "arrivals_south_korea", year, None))
        for year in (2012, 2013, 2014)
    }
    text = HEADER + "\n".join(f"arrivals_south_korea,{y},{m},," for y, m in medians.items())
    exact = validate(result, parse_observed(text, "median"), start=scenario.start)
    assert exact.series["arrivals_south_korea"].ard == pytest.approx(0.0, abs=1e-12)
    assert exact.series["arrivals_south_korea"].coverage == 1.0


# ---------------------------------------------------------------------------
# the command (in process; the lead registers it in the main app)


def _main(args: list[str]) -> int:
    from lipsteeth.adapters import cli
    from lipsteeth.adapters.cli import validate as cli_validate

    names = {command.name for command in cli.app.registered_commands}
    if "validate" not in names:
        cli_validate.register(cli.app)
    try:
        cli.main(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


SMALL_TOML = """
[scenario]
name = "tiny"
extends = "baseline-2016"
end = "2013-12-31"
replicates = 3
[parameters.population]
restaurant_sites_max = 40
restaurants_initial = {value = 20, range = [10, 30]}
labour_sites_max = 20
labour_workers_initial = {value = 2000, range = [1000, 3000]}
"""


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SMALL_TOML)
    return path


def test_command_refuses_corrupted_files_with_exit_2(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    out = tmp_path / "out"
    cases = {
        "series,period,value\narrivals,2012,5\n": "unknown series 'arrivals'",
        "series,period\narrivals_south_korea,2012\n": "missing column 'value'",
        "series,period,value\narrivals_south_korea,twelve,5\n": "line 2: period",
        b"series,period,value\n\xff\xfe,2012,5\n": "not UTF-8",
    }
    for content, fragment in cases.items():
        if isinstance(content, bytes):
            bad.write_bytes(content)
        else:
            bad.write_text(content)
        code = _main(["validate", str(tiny), "--observed", str(bad), "--out", str(out)])
        captured = capsys.readouterr()
        assert code == 2
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0]
        assert not out.exists()
    assert _main(["validate", str(tiny), "--observed", str(tmp_path / "missing.csv")]) == 2
    assert "no such observed file" in capsys.readouterr().err
    bad.write_text("series,period,value\narrivals_south_korea,1990,5\n")
    assert _main(["validate", str(tiny), "--observed", str(bad), "--out", str(out)]) == 2
    assert "simulated horizon" in capsys.readouterr().err
    assert (
        _main(["validate", str(tiny), "--observed", str(bad), "--from", "2014", "--to", "2012"])
        == 2
    )
    capsys.readouterr()


def test_command_json_and_results_folder(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = tmp_path / "obs.csv"
    observed.write_text(
        HEADER
        + "arrivals_south_korea,2011,2706,,\n"
        + "arrivals_south_korea,2012,1502,,\n"
        + "arrivals_south_korea,2013,1514,,\n"
        + "restaurants_abroad,2013,100,60,\n"
        + "missile_tests,2013,6,,\n"
    )
    out = tmp_path / "val"
    code = _main(
        [
            "validate",
            str(tiny),
            "--observed",
            str(observed),
            "--from",
            "2012",
            "--json",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    arrivals = payload["series"]["arrivals_south_korea"]
    assert arrivals["n"] == 2
    assert arrivals["persistence_anchor"] == {"period": "2011", "value": 2706.0, "in_window": False}
    for key in ("ard", "mase", "coverage_90"):
        assert isinstance(arrivals[key], float)
    assert set(payload["series"]) == {"arrivals_south_korea", "restaurants_abroad", "missile_tests"}
    assert (out / "validation.json").is_file() and (out / "validation.png").stat().st_size > 1000
    assert json.loads((out / "validation.json").read_text())["series"] == payload["series"]


# ---------------------------------------------------------------------------
# the command: scores, split, freeze and score

SCORES = ("wis", "crps", "coverage_50", "coverage_90", "rel_mae_persistence", "rel_mae_drift")
ARRIVALS = HEADER + "".join(
    f"arrivals_south_korea,{year},{value},,\n"
    for year, value in ((2009, 2914), (2010, 2402), (2011, 2706), (2012, 1502), (2013, 1514))
)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = _main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_command_json_gives_every_score_per_series_and_per_split_window(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = tmp_path / "obs.csv"
    observed.write_text(ARRIVALS)
    args = ["validate", str(tiny), "--observed", str(observed), "--from", "2012", "--to", "2013"]
    code, out, err = _run(
        [*args, "--split", "2013", "--json", "--out", str(tmp_path / "v")], capsys
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["split"] == 2013 and payload["forecast"] == "simulated"
    # issue 13: the bands hold the inherited posterior's parameter draws, and say so
    assert payload["uncertainty"]["kind"] == "posterior"
    assert payload["uncertainty"]["band"] == "parameters + simulation"
    arrivals = payload["series"]["arrivals_south_korea"]
    for key in SCORES:
        assert isinstance(arrivals[key], float), key
    before, after = arrivals["before_split"], arrivals["from_split"]
    assert (before["from"], before["to"], before["n"]) == (2012, 2012, 1)
    assert (after["from"], after["to"], after["n"]) == (2013, 2013, 1)
    for key in SCORES:
        assert key in before and key in after
    # the out-of-sample benchmarks know 2012: persistence carries 1502 forward
    assert after["benchmarks"] == [
        {"period": "2013", "persistence": 1502.0, "drift": after["benchmarks"][0]["drift"]}
    ]
    rows = arrivals["observations"]
    assert [r["persistence_forecast"] for r in rows] == [2706.0, 2706.0]
    assert all(r["sim_p25"] <= r["sim_median"] <= r["sim_p75"] for r in rows)
    # the table shows the windows side by side
    code, out, err = _run([*args, "--split", "2013", "--out", str(tmp_path / "t")], capsys)
    assert code == 0, err
    assert "before split" in out and "from split" in out and "WIS" in out and "CRPS" in out


def test_freeze_then_score_round_trips_and_refuses_another_scenario(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = tmp_path / "obs.csv"
    observed.write_text(ARRIVALS + "restaurants_abroad,2013,100,60,\n")
    frozen = tmp_path / "forecast.json"
    common = ["--seed", "7", "--replicates", "3"]
    code, out, err = _run(
        ["validate", str(tiny), "--freeze", str(frozen), "--split", "2013", *common, "--json"],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out)["frozen"] == str(frozen)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    doc = json.loads(frozen.read_text())
    assert (doc["seed"], doc["replicates"], doc["split"], doc["from"], doc["to"]) == (
        7,
        3,
        2013,
        2012,
        2013,
    )
    assert len(doc["scenario_sha256"]["resolved_toml"]) == 64 and doc["versions"]["lipsteeth"]
    assert doc["versions"]["scoringrules"] and doc["core_sha256"] == core_digest()
    # the forecast records what its quantiles hold: the posterior drawn from and its hash
    assert doc["uncertainty"]["band"] == "parameters + simulation"
    assert len(doc["uncertainty"]["posterior"]["sha256"]) == 64
    period = doc["series"]["arrivals_south_korea"]["periods"]["2013"]
    assert len(period["quantiles"]) == 23 and len(period["members"]) == 3
    assert set(doc["series"]) == set(SERIES)
    # scored later without simulating, it gives what a direct validate with the same seed gives
    code, out, err = _run(
        ["validate", str(tiny), "--score", str(frozen), "--observed", str(observed), "--json"]
        + ["--out", str(tmp_path / "scored")],
        capsys,
    )
    assert code == 0, err
    scored = json.loads(out)
    assert scored["forecast"] == "frozen" and (tmp_path / "scored" / "validation.json").is_file()
    code, out, err = _run(
        ["validate", str(tiny), "--observed", str(observed), "--from", "2012", "--to", "2013"]
        + ["--split", "2013", *common, "--json", "--out", str(tmp_path / "direct")],
        capsys,
    )
    assert code == 0, err
    direct = json.loads(out)
    assert scored["series"] == direct["series"] and scored["skipped"] == direct["skipped"]
    assert scored["scenario_sha256"] == direct["scenario_sha256"]
    for key in SCORES[:4]:
        assert isinstance(scored["series"]["arrivals_south_korea"][key], float)
    # another scenario (one value changed): refused in one line naming the field, nothing written
    tiny.write_text(SMALL_TOML.replace("replicates = 3", "replicates = 4"))
    never = tmp_path / "never"
    code, out, err = _run(
        ["validate", str(tiny), "--score", str(frozen), "--observed", str(observed)]
        + ["--out", str(never)],
        capsys,
    )
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1
    assert lines[0].startswith("error:") and "scenario_sha256.resolved_toml" in lines[0]
    assert not never.exists()
    # the same through the installed entry point in a fresh process
    proc = subprocess.run(
        [sys.executable, "-m", "lipsteeth", "validate", str(tiny), "--score", str(frozen)]
        + ["--observed", str(observed), "--out", str(never)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.count("\n") == 1 and "scenario_sha256.resolved_toml" in proc.stderr
    assert not never.exists()


def test_command_refuses_bad_scores_splits_and_frozen_files(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = tmp_path / "obs.csv"
    observed.write_text(ARRIVALS)
    frozen = tmp_path / "f.json"
    out = tmp_path / "out"
    base = ["validate", str(tiny)]
    cases = [
        (["--observed", str(observed), "--series", "arrivals"], "--series: unknown series"),
        (["--observed", str(observed), "--split", "2030"], "--split 2030"),
        (["--observed", str(observed), "--split", "2012"], "--split 2012"),  # horizon 2012-2013
        (["--observed", str(observed), "--from", "2012", "--split", "2012"], "--split 2012"),
        (["--freeze", str(frozen)], "--split: required with --freeze"),
        (["--freeze", str(frozen), "--split", "2013", "--observed", "x.csv"], "--observed"),
        (["--freeze", str(frozen), "--split", "2015"], "--split 2015"),
        (["--freeze", str(tmp_path / "no" / "f.json"), "--split", "2013"], "--freeze: folder"),
        (["--score", str(frozen)], "--observed: required"),
        (["--score", str(frozen), "--observed", str(observed)], "no such frozen forecast"),
        (["--monthly", "--observed", str(observed)], "--monthly"),
    ]
    for args, fragment in cases:
        where = [] if "--freeze" in args else ["--out", str(out)]
        code, stdout, err = _run([*base, *args, *where], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (args, err)
        assert lines[0].startswith("error:") and fragment in lines[0], (fragment, lines[0])
        assert not out.exists() and not frozen.exists()
    # a malformed frozen file: not JSON, a missing field, a tampered quantile
    code, _, err = _run([*base, "--freeze", str(frozen), "--split", "2013"], capsys)
    assert code == 0, err
    good = json.loads(frozen.read_text())
    assert _run([*base, "--freeze", str(frozen), "--split", "2013"], capsys)[0] == 2  # exists
    tampered = json.loads(frozen.read_text())
    tampered["series"]["arrivals_south_korea"]["periods"]["2012"]["quantiles"][0] += 1
    missing = {k: v for k, v in good.items() if k != "replicates"}
    bad = tmp_path / "bad.json"
    for text, fragment in (
        ("{not json", "not JSON"),
        (json.dumps(missing), "replicates: missing"),
        (json.dumps(tampered), "periods.2012.quantiles"),
        (json.dumps({**good, "split": 2012}), "split:"),
    ):
        bad.write_text(text)
        code, _, err = _run(
            [*base, "--score", str(bad), "--observed", str(observed), "--out", str(out)], capsys
        )
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --score")
        assert fragment in lines[0] and not out.exists()
    # options that contradict the frozen forecast
    for option, value in (("--seed", "99"), ("--split", "2012"), ("--replicates", "9")):
        code, _, err = _run(
            [*base, "--score", str(frozen), "--observed", str(observed), option, value], capsys
        )
        assert code == 2 and err.strip().startswith(f"error: {option} {value} differs")
