"""Scenario discovery: PRIM finds a box planted in the factor space."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lipsteeth.adapters import catalog as cat
from lipsteeth.adapters.cli import main
from lipsteeth.experiment.designs import Factor, Space, make_design
from lipsteeth.experiment.discovery import DiscoveryError, discover
from lipsteeth.experiment.executors import SerialExecutor
from lipsteeth.experiment.sweep import FunctionModel, plan_runs, run_sweep

PLANTED = {"a": (0.6, 1.0), "c": (0.0, 0.3)}


def planted(values: Mapping[str, float], rng: np.random.Generator) -> dict[str, float]:
    """1 inside the planted box, 0 outside (``rng`` unused)."""
    inside = all(lo <= values[k] <= hi for k, (lo, hi) in PLANTED.items())
    return {"y": 1.0 if inside else 0.0}


def test_prim_finds_a_planted_box() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.uniform(0, 1, (800, 5)), columns=list("abcde"))
    y = np.array([planted(row, rng)["y"] for row in X.to_dict("records")])
    res = discover(X, y, 0.5, outcome="y")
    box = res.boxes[0]
    assert set(box.limits) == set(PLANTED)  # only the planted factors are restricted
    for name, (lo, hi) in PLANTED.items():
        got_lo, got_hi = box.limits[name]
        assert abs(got_lo - lo) < 0.05 and abs(got_hi - hi) < 0.05, (name, box.limits[name])
    assert box.coverage >= 0.9 and box.density >= 0.9
    inside = box.contains(X)
    assert inside.sum() == box.n_points and y[inside].sum() == box.n_of_interest
    assert res.n_of_interest == int(y.sum())
    traj = box.trajectory
    assert traj["coverage"].iloc[0] == pytest.approx(1.0) and traj["mass"].is_monotonic_decreasing


def test_prim_refuses_degenerate_thresholds() -> None:
    X = pd.DataFrame({"a": np.linspace(0, 1, 50), "b": np.linspace(1, 0, 50)})
    y = X["a"].to_numpy()
    with pytest.raises(DiscoveryError):
        discover(X, y, 2.0)
    with pytest.raises(DiscoveryError):
        discover(X, y, -1.0)
    below = discover(X, y, 0.3, below=True)
    assert below.direction == "below"
    lo, hi = below.boxes[0].limits.get("a", below.boxes[0].limits.get("b", (0, 1)))
    assert hi <= 0.4 or lo >= 0.6


def test_discover_command_on_a_stored_sweep(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """PRIM through the CLI, on a sweep stored in the results catalog."""
    space = Space(tuple(Factor(n, "uncertainty", 0.0, 1.0) for n in "abcde"))
    design = make_design("lhs", space, 600, seed=3)
    plan = plan_runs(design, seed=0, replicates=1)
    store = cat.ExperimentStore.create(
        tmp_path,
        "planted",
        manifest={"kind": "sweep", "design": design.to_dict()},
        plan=plan,
        factor_kinds={n: "uncertainty" for n in "abcde"},
    )
    run_sweep(
        FunctionModel(planted, ("y",)),
        plan,
        SerialExecutor(),
        on_result=lambda s, o: store.write_run(s, o, durable=False),
    )
    store.finalize()
    with pytest.raises(SystemExit) as exc:
        main(["discover", str(store.path), "--outcome", "y", "--threshold", "0.5"])
    assert exc.value.code == 0
    assert "box 0" in capsys.readouterr().out
    limits = pd.read_parquet(store.path / "analysis" / "prim_y_gt_0_5_limits.parquet")
    got = {r.factor: (r.low, r.high) for r in limits.itertuples()}
    assert set(got) == set(PLANTED)
    for name, (lo, hi) in PLANTED.items():
        assert abs(got[name][0] - lo) < 0.06 and abs(got[name][1] - hi) < 0.06
    summary = json.loads((store.path / "prim_y_gt_0_5.json").read_text())
    assert summary["boxes"][0]["density"] >= 0.9
    assert (store.path / "figures" / "prim_y_gt_0_5_peeling.png").stat().st_size > 0
    # The results root works too when it holds one sweep; a bad outcome is refused.
    with pytest.raises(SystemExit) as exc:
        main(["discover", str(tmp_path), "--outcome", "y", "--threshold", "0.5", "--boxes", "2"])
    assert exc.value.code == 0
    with pytest.raises(SystemExit) as exc:
        main(["discover", str(tmp_path), "--outcome", "nope", "--threshold", "0.5"])
    assert exc.value.code == 2
