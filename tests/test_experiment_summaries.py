"""Experiments an analyst can read (issue 16): ``--outcome NAME@YEAR`` checked against the
horizon before the first run; Morris and Sobol with a dummy factor that shows the noise
floor and the units of their indices; sweep summaries with the factor levels beside the
outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lipsteeth.adapters.cli import main
from lipsteeth.experiment import sensitivity as sa
from lipsteeth.experiment.designs import DUMMY_FACTOR, Factor, Space, make_design, with_dummy
from lipsteeth.experiment.sweep import ScenarioModel
from lipsteeth.scenario import load_scenario

#: a small population, as --set options
TINY_SETS = [
    "--set",
    "population.labour_workers_initial=3000",
    "--set",
    "population.labour_sites_max=40",
]
FACTORS = "wider_flow.crossing_rate_per_year,enforcement.arrest_rate_per_year"


def _exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def test_outcome_year_outside_the_horizon_is_refused_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sensitivity",
        "baseline-2016",
        "--years",
        "1",
        "--outcome",
        "restaurant_defectors@2016",
    ]
    assert _exit_code([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: --outcome restaurant_defectors@2016: 2016 is outside the horizon "
        "2012-01-01 to 2012-12-30"
    ]
    assert list(tmp_path.iterdir()) == []  # no experiment folder: nothing ran


def test_the_dummy_factor_changes_nothing_and_reads_zero_on_a_function() -> None:
    space = with_dummy(Space(tuple(Factor(f"x{i}", "uncertainty", 0.0, 1.0) for i in (1, 2))))
    assert space.names[-1] == DUMMY_FACTOR
    morris = make_design("morris", space, 20, seed=1)
    y = 3.0 * morris.X[:, 0] + morris.X[:, 1]  # the dummy does not enter
    mu_star = dict(zip(space.names, sa.analyze(morris, y).values["mu_star"], strict=True))
    assert mu_star == pytest.approx({"x1": 3.0, "x2": 1.0, DUMMY_FACTOR: 0.0})
    saltelli = make_design("saltelli", space, 64, seed=1)
    y = saltelli.X[:, 0] + 0.5 * saltelli.X[:, 1]
    st = dict(zip(space.names, sa.analyze(saltelli, y).values["ST"], strict=True))
    assert st[DUMMY_FACTOR] == pytest.approx(0.0, abs=1e-12) and st["x1"] > 0.5
    # the scenario a point gives ignores the dummy's value
    scenario = load_scenario("baseline-2016")
    lipsteeth_space = with_dummy(Space((Factor("defection.contagion", "uncertainty", 0, 1),)))
    model = ScenarioModel.for_design(scenario, make_design("lhs", lipsteeth_space, 2, seed=0))
    a = model.scenario_at({"defection.contagion": 0.4, DUMMY_FACTOR: 0.1})
    b = model.scenario_at({"defection.contagion": 0.4, DUMMY_FACTOR: 0.9})
    assert a == b
    params, levers = make_design("lhs", lipsteeth_space, 2, seed=0).overrides(0)
    assert list(params) == ["defection.contagion"] and levers == {}


@pytest.mark.parametrize("method", ["morris", "sobol"])
def test_sensitivity_reports_the_noise_floor_and_units(
    method: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sensitivity", "baseline-2016", "--method", method, "--samples", "4",
        "--factors", FACTORS, "--outcome", "border_crossings@2012", "--years", "0.5",
        *TINY_SETS, "--out", str(tmp_path),
    ]  # fmt: skip
    assert _exit_code(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    (folder,) = (tmp_path / "experiments").iterdir()
    report = json.loads((folder / f"sensitivity_{method}.json").read_text())
    entry = report["outcomes"]["border_crossings@2012"]
    factors = [row["factor"] for row in entry["indices"]]
    assert sorted(factors) == sorted([*FACTORS.split(","), DUMMY_FACTOR])
    dummy = next(row for row in entry["indices"] if row["factor"] == DUMMY_FACTOR)
    key = "ST" if method == "sobol" else "mu_star"
    assert entry["noise_floor"][key] == pytest.approx(dummy[key])
    assert f"Noise floor: the factor '{DUMMY_FACTOR}', which the model ignores" in out
    if method == "sobol":
        assert entry["units"].startswith("S1, ST: shares of the variance of border_crossings@2012")
    else:
        assert "in persons when a factor moves over its whole declared range" in entry["units"]
        # the crossing rate drives crossings far above the noise floor
        rate = next(r for r in entry["indices"] if r["factor"] == FACTORS.split(",")[0])
        assert rate["mu_star"] > 10 * max(dummy["mu_star"], 1e-9)
    assert entry["units"] in out


def test_sweep_summary_has_factor_columns_beside_outcomes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sweep", "baseline-2016", "--design", "lhs", "--samples", "3", "--factors", FACTORS,
        "--years", "0.25", *TINY_SETS, "--out", str(tmp_path),
    ]  # fmt: skip
    assert _exit_code(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    (folder,) = (tmp_path / "experiments").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["factors"] == FACTORS.split(",")
    assert "arrivals_south_korea" in summary["outcomes"]
    runs = pd.read_parquet(folder / "analysis" / "sweep_summary.parquet")
    assert list(runs.columns[:3]) == ["run", *FACTORS.split(",")]
    assert len(runs) == len(summary["runs"]) == 3
    plan = pd.read_parquet(folder / "plan.parquet").sort_values("run")
    for factor in FACTORS.split(","):
        assert np.allclose(runs[factor], plan[factor])
        assert [r[factor] for r in summary["runs"]] == pytest.approx(list(plan[factor]))
    assert "factor levels and outcomes over the horizon, by run" in out
