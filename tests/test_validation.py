"""Validation against observed series: file format, observation models, metrics, command.

Statistical test: an observed file made of one replicate of a run, validated
against the other replicates of the same run, lies inside their 90 % band
about 80-90 % of the time (with 20 other replicates the expected share of the
interpolated 5-95 % band is about 0.81, more with ties of small counts); the
leave-one-out average over 72 monthly values of each of 16 replicates has a
standard deviation of about 0.02, so the bounds 0.65-0.98 fail by chance far
less than once in 10,000 runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.core.simulate import Ledger, SimulationResult
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.validation import (
    SERIES,
    ObservedError,
    ard,
    coverage,
    interval_error,
    mase,
    parse_observed,
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
    ards, covers = [], []
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
        yearly = synthetic_observed(
            result, ["arrivals_south_korea"], held, years=[2013, 2014], start=scenario.start
        )
        report = validate(others, parse_observed(yearly, "synthetic"), start=scenario.start)
        ards.append(report.series["arrivals_south_korea"].ard)
    assert 0.65 <= float(np.mean(covers)) <= 0.98
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
    from lipsteeth.adapters import cli, cli_validate

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
