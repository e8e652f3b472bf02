"""``lipsteeth robust`` (issue 15, item 3): metrics, ranks, common random numbers, PRIM, resume.

The metrics are checked on a small matrix computed by hand; the command runs on a
reduced scenario (18 months from mid-2016, a tenth of the labour force, a few dozen
futures) in this process.  Everything is deterministic (fixed seeds): no statistical
bound is involved.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lipsteeth.experiment import robustness as rb
from tests.support import run_cli

SMALL = (
    '[scenario]\nextends = "baseline-2016"\nname = "small-2017"\n'
    'start = "2016-07-01"\nend = "2017-12-31"\n'
)
SHRINK = [
    "--set",
    "population.labour_workers_initial=3000",
    "--set",
    "population.labour_sites_max=40",
]


def objective(name: str, direction: str, threshold: float | None = None) -> rb.Objective:
    return rb.Objective(name, "nuclear_tests", "total", direction, threshold)


# ---------------------------------------------------------------------------
# metrics on a matrix computed by hand


def test_metrics_match_a_hand_computed_matrix() -> None:
    # objective A (lower is better, satisfied at <= 2) and B (higher is better, no threshold)
    values = np.zeros((2, 4, 2))
    values[0, :, 0] = [1, 2, 3, 10]  # policy a
    values[1, :, 0] = [2, 2, 2, 2]  # policy b
    values[0, :, 1] = [5, 5, 5, 5]
    values[1, :, 1] = [1, 1, 1, 1]
    table = rb.robustness(values, ["a", "b"], [objective("A", "min", 2.0), objective("B", "max")])
    m = table.metrics
    # A: means 4 and 2; p10 of [1,2,3,10] at position 0.3: 1.3; p90 at 2.7: 3 + 0.7 * 7
    assert m["expected"][:, 0] == pytest.approx([4.0, 2.0])
    assert m["p10"][:, 0] == pytest.approx([1.3, 2.0])
    assert m["p90"][:, 0] == pytest.approx([7.9, 2.0])
    assert m["maximin"][:, 0] == pytest.approx([10.0, 2.0])  # the worst: the highest
    # regret against the best per future, min(a, b) = [1, 2, 2, 2]: a [0,0,1,8], b [1,0,0,0]
    assert table.regret[0, :, 0] == pytest.approx([0, 0, 1, 8])
    assert table.regret[1, :, 0] == pytest.approx([1, 0, 0, 0])
    assert m["minimax_regret"][:, 0] == pytest.approx([8.0, 1.0])
    assert m["p90_regret"][:, 0] == pytest.approx([1 + 0.7 * 7, 0.7])
    assert m["satisficing"][:, 0] == pytest.approx([0.5, 1.0])
    # B: a is better in every future: regret 0 for a, 4 for b; no threshold, no satisficing
    assert m["expected"][:, 1] == pytest.approx([5.0, 1.0])
    assert m["maximin"][:, 1] == pytest.approx([5.0, 1.0])  # the worst: the lowest
    assert m["minimax_regret"][:, 1] == pytest.approx([0.0, 4.0])
    assert np.all(np.isnan(m["satisficing"][:, 1]))
    # ranks (1 best): on A the mean prefers b, the 10th percentile prefers a
    assert table.ranks["expected"][:, 0].tolist() == [2, 1]
    assert table.ranks["p10"][:, 0].tolist() == [1, 2]
    assert table.ranks["minimax_regret"][:, 0].tolist() == [2, 1]
    assert table.ranks["satisficing"][:, 0].tolist() == [2, 1]
    assert table.disagree.tolist() == [True, False]
    rows = {(r["objective"], r["metric"]): r for r in table.ranking_records()}
    assert rows[("A", "expected")]["ranking"] == "b > a"
    assert rows[("A", "p10")]["best"] == "a"
    assert rows[("B", "satisficing")]["ranking"] == "n/a"


def test_ties_are_no_disagreement_but_reversals_are() -> None:
    tie = np.array([1.0, 1.0, 1.0])
    order = np.array([1.0, 2.0, 3.0])
    reverse = np.array([3.0, 2.0, 1.0])
    assert not rb.rankings_conflict([tie, order])
    assert not rb.rankings_conflict([order, order])
    assert rb.rankings_conflict([order, reverse])
    assert rb.ranking_text(["x", "y", "z"], np.array([1.0, 1.0, 3.0])) == "x = y > z"


def test_failures_any_threshold() -> None:
    values = np.zeros((1, 3, 2))
    values[0, :, 0] = [0, 1, 0]  # min, <= 0
    values[0, :, 1] = [5, 5, -1]  # max, >= 0
    fails = rb.failures(values, [objective("A", "min", 0.0), objective("B", "max", 0.0)])
    assert fails.tolist() == [[False, True, True]]


def test_objective_and_threshold_inputs_are_refused_in_one_line() -> None:
    with pytest.raises(rb.RobustnessError, match=r"^f.toml: objectives\[0\].outcome: unknown"):
        rb.parse_objectives({"objectives": [{"name": "x", "outcome": "nuclear_test"}]}, "f.toml")
    with pytest.raises(rb.RobustnessError, match=r"objectives\[0\].statistic: one of"):
        rb.parse_objectives(
            {"objectives": [{"name": "x", "outcome": "nuclear_tests", "statistic": "median"}]},
            "f.toml",
        )
    with pytest.raises(rb.RobustnessError, match=r"objectives\[0\].colour: unknown key"):
        rb.parse_objectives(
            {"objectives": [{"name": "x", "outcome": "nuclear_tests", "colour": 1}]}, "f.toml"
        )
    with pytest.raises(rb.RobustnessError, match="expected NAME=VALUE"):
        rb.parse_thresholds("nuclear_tests")
    with pytest.raises(rb.RobustnessError, match="is not an objective"):
        rb.with_thresholds([objective("A", "min")], {"B": 1.0})


# ---------------------------------------------------------------------------
# the command


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("robust")
    path = folder / "small.toml"
    path.write_text(SMALL)
    (folder / "same.toml").write_text(
        '[policy]\nname = "same"\ntitle = "The status quo under another name"\n'
    )
    (folder / "objectives.toml").write_text(
        "[[objectives]]\n"
        'name = "restaurants"\noutcome = "restaurants_open"\nstatistic = "end"\n'
        'direction = "max"\nfrom = 2017\nto = 2017\n'
        "[[objectives]]\n"
        'name = "revenue"\noutcome = "revenue_to_state_usd"\ndirection = "min"\n'
    )
    return folder


def robust_args(folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        "robust",
        str(folder / "small.toml"),
        "--policies",
        f"status-quo,{folder / 'same.toml'},max-pressure",
        "--futures",
        "24",
        "--seed",
        "11",
        "--objectives",
        str(folder / "objectives.toml"),
        "--out",
        str(out),
        "--name",
        "crn",
        *SHRINK,
        *extra,
    ]


@pytest.fixture(scope="module")
def finished(small: Path) -> Path:
    out = small / "results"
    assert run_cli(robust_args(small, out)) == 0
    return out / "experiments" / "crn"


def test_common_random_numbers_and_stored_tables(finished: Path) -> None:
    values = pd.read_parquet(finished / "analysis" / "robust_values.parquet")
    wide = values.pivot_table(index=["future", "objective"], columns="policy", values="value")
    # the same policy under another name lives the same 24 futures, exactly
    assert np.array_equal(wide["status-quo"].to_numpy(), wide["same"].to_numpy())
    # and max-pressure changes them (from 2017: lower revenue in most futures)
    revenue = wide.xs("revenue", level="objective")
    assert (revenue["max-pressure"] < revenue["status-quo"]).mean() > 0.5
    futures = pd.read_parquet(finished / "analysis" / "robust_futures.parquet")
    assert len(futures) == 24 and futures.drop(columns="future").nunique().max() > 1
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["policies"] == ["status-quo", "same", "max-pressure"]
    metrics = {(r["policy"], r["objective"]): r for r in summary["metrics"]}
    assert metrics[("status-quo", "revenue")] == {
        **metrics[("same", "revenue")],
        "policy": "status-quo",
    }
    assert (finished / "figures" / "robust_regret.png").stat().st_size > 0
    manifest = json.loads((finished / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["futures"] == 24
    assert manifest["uncertainty"]["band"] == "parameters + simulation"


def test_thresholds_reuse_the_runs_and_prim_boxes_the_failing_futures(
    small: Path, finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = pd.read_parquet(finished / "analysis" / "robust_values.parquet")
    sq = values[(values.policy == "status-quo") & (values.objective == "restaurants")]
    threshold = float(np.median(sq["value"]))
    code = run_cli(
        robust_args(small, small / "results", "--thresholds", f"restaurants={threshold}")
    )
    assert code == 0
    assert "reusing its runs" in capsys.readouterr().err
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["new_runs"] == 0
    entry = next(e for e in summary["prim"] if e["policy"] == "status-quo")
    assert 0 < entry["fails"] < 24
    assert entry["boxes"], entry["note"]
    box = entry["boxes"][0]
    # coverage and density as PRIM defines them, recomputed from the stored futures
    futures = pd.read_parquet(finished / "analysis" / "robust_futures.parquet")
    inside = np.ones(len(futures), dtype=bool)
    for factor, (lo, hi) in box["limits"].items():
        inside &= (futures[factor] >= lo).to_numpy() & (futures[factor] <= hi).to_numpy()
    failing = sq.sort_values("future")["value"].to_numpy() < threshold
    assert box["coverage"] == pytest.approx((failing & inside).sum() / failing.sum())
    assert box["density"] == pytest.approx((failing & inside).sum() / inside.sum())
    prim = pd.read_parquet(finished / "analysis" / "robust_prim.parquet")
    assert {"coverage", "density", "factor", "low", "high"} <= set(prim.columns)


def test_a_killed_experiment_resumes_with_the_same_numbers(small: Path, finished: Path) -> None:
    before = pd.read_parquet(finished / "analysis" / "robust_values.parquet")
    root = small / "results"
    # a kill after some runs: their markers and outcome files gone, the manifest running
    for run in (1, 9):
        for table in ("runs", "outcomes", "outcomes_yearly"):
            (root / table / "experiment=crn" / f"run={run}" / "part-0.parquet").unlink()
    manifest = json.loads((finished / "manifest.json").read_text())
    manifest["status"] = "running"
    (finished / "manifest.json").write_text(json.dumps(manifest))
    assert run_cli(robust_args(small, root)) == 2  # incomplete: --resume needed
    assert run_cli(robust_args(small, root, "--resume")) == 0
    after = pd.read_parquet(finished / "analysis" / "robust_values.parquet")
    pd.testing.assert_frame_equal(before, after)
    assert json.loads((finished / "summary.json").read_text())["new_runs"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policies", "status-quo,no-such-policy"], "no shipped policy or file"),
        (["--policies", "status-quo", "--futures", "0"], "--futures must be at least 1"),
        (["--policies", "status-quo", "--thresholds", "tests"], "expected NAME=VALUE"),
        (["--policies", "status-quo", "--thresholds", "x=1"], "'x' is not an objective"),
        (["--policies", "status-quo,status-quo"], "are both named 'status-quo'"),
        (["--policies", "status-quo", "--density", "2"], "--density must be above 0"),
        (["--policies", "status-quo", "--uncertainty", "maybe"], "--uncertainty must be one of"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    tmp_path: Path, small: Path, args: list[str], message: str, capsys
) -> None:
    out = tmp_path / "never"
    code = run_cli(["robust", str(small / "small.toml"), *args, "--out", str(out), *SHRINK])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_a_bad_objectives_or_policy_file_is_named(tmp_path: Path, small: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[objectives]]\nname = "x"\noutcome = "tests"\n')
    code = run_cli(
        [
            "robust",
            str(small / "small.toml"),
            "--policies",
            "status-quo",
            "--objectives",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {bad}: objectives[0].outcome: unknown outcome")
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[policy]\nname = "p"\ntitle = "t"\n[levers.food_aid]\nvalue = 2\nsource = "a"\n'
    )
    code = run_cli(
        [
            "robust",
            str(small / "small.toml"),
            "--policies",
            str(policy),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {policy}: levers.food_aid.value: ")
    assert not (tmp_path / "o").exists()


def test_reports_show_the_robustness_section(small: Path, finished: Path) -> None:
    assert run_cli(["report", str(finished)]) == 0
    page = (finished / "report.html").read_text()
    assert 'id="robustness"' in page and "Rankings by metric" in page
    assert "<svg" in page and "robust_metrics" not in page  # the figure inline, no raw names
    assert "fails in" in page and "coverage" in page
    # a run of the same scenario in the same results root shows the experiment too
    run = small / "results" / "run"
    args = ["run", str(small / "small.toml"), "--replicates", "1", "--years", "0.3"]
    assert run_cli([*args, "--no-facts", "--out", str(run)]) == 0
    assert run_cli(["report", str(run)]) == 0
    assert "Policies under deep uncertainty" in (run / "report.html").read_text()


@pytest.mark.slow  # a Dask LocalCluster of two workers (about 30 s on the shared machine)
def test_dask_workers_give_the_serial_numbers(small: Path, finished: Path) -> None:
    out = small / "dask"
    args = robust_args(small, out, "--workers", "2", "--executor", "dask")
    assert run_cli(args) == 0
    serial = pd.read_parquet(finished / "analysis" / "robust_values.parquet")
    on_dask = pd.read_parquet(out / "experiments" / "crn" / "analysis" / "robust_values.parquet")
    pd.testing.assert_frame_equal(serial, on_dask, check_exact=True)


def test_default_objectives_cover_the_policy_question() -> None:
    from lipsteeth.scenario import load_scenario

    objectives = rb.default_objectives(load_scenario("baseline-2016"))
    by_name = {o.name: o for o in objectives}
    assert set(by_name) == {
        "nuclear_tests",
        "missile_tests",
        "revenue_to_state",
        "economy_margin",
        "exodus_margin",
        "arrivals",
        "restaurant_revenue",
    }
    # the years the strategic model drives (endogenous from 2017) to the end
    assert {(o.first_year, o.last_year) for o in objectives} == {(2017, 2020)}
    assert by_name["economy_margin"].relative_to == "strategic.collapse_threshold"
    assert by_name["economy_margin"].direction == "max" and by_name["economy_margin"].threshold == 0
    assert by_name["nuclear_tests"].threshold == 0 and by_name["arrivals"].direction == "max"
