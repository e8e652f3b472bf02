"""Sensitivity analysis through the experiment machinery, checked on functions with known answers.

Ishigami's function has analytic Sobol indices; a linear function has exact
Morris effects.  Both run through the same designs, sweep, executor,
checkpoint store and analysis as lipsteeth itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lipsteeth.adapters import catalog as cat
from lipsteeth.adapters.cli import main
from lipsteeth.experiment import sensitivity as sa
from lipsteeth.experiment.designs import DesignError, Factor, Space, make_design
from lipsteeth.experiment.executors import SerialExecutor
from lipsteeth.experiment.sweep import FunctionModel, plan_runs, run_sweep, stack_metric

ISHIGAMI = Space(tuple(Factor(f"x{i}", "uncertainty", -np.pi, np.pi) for i in (1, 2, 3)))


def stored_outcome(tmp_path: Path, design, fn) -> np.ndarray:
    """Run ``fn`` over the design through the checkpoint store; read the outcome back."""
    plan = plan_runs(design, seed=0, replicates=1)
    store = cat.ExperimentStore.create(
        tmp_path,
        "analytic",
        manifest={"kind": "test", "design": design.to_dict()},
        plan=plan,
        factor_kinds={f.name: f.kind for f in design.space.factors},
    )
    model = FunctionModel(fn, ("y",))
    run_sweep(
        model, plan, SerialExecutor(), on_result=lambda s, o: store.write_run(s, o, durable=False)
    )
    store.finalize()
    y = store.metric("y")
    assert y.index.tolist() == list(range(design.n_points))
    return y.to_numpy()


def in_memory_outcome(design, fn) -> np.ndarray:
    """Run ``fn`` over the design with the sweep machinery, keeping outputs in memory."""
    plan = plan_runs(design, seed=0, replicates=1)
    outputs = run_sweep(FunctionModel(fn, ("y",)), plan, SerialExecutor(), keep=True)
    return stack_metric(outputs, "y", len(plan))


def test_sobol_recovers_ishigami_indices() -> None:
    """N=2048: every index within 0.05 of the analytic value (worst of 20 seeds: 0.017)."""
    design = make_design("saltelli", ISHIGAMI, 2048, seed=42)
    assert design.n_points == 2048 * (3 + 2)
    y = in_memory_outcome(design, sa.ishigami_model)
    idx = sa.sobol(design, y, outcome="y", seed=1)
    exact = sa.ishigami_indices()
    np.testing.assert_allclose(idx.values["S1"], exact["S1"], atol=0.05)
    np.testing.assert_allclose(idx.values["ST"], exact["ST"], atol=0.05)
    # The bootstrap intervals cover the analytic values (95 % each; loose by a factor 2).
    assert np.all(np.abs(idx.values["ST"] - exact["ST"]) <= 2 * idx.values["ST_conf"] + 0.01)
    assert idx.names[idx.ranking()[0]] == "x1"
    conv = sa.convergence(design, y, tolerance=0.05)
    assert conv.sizes == (256, 512, 1024, 2048)
    assert conv.settled, conv.message  # worst last-doubling change over 20 seeds: 0.024


def test_sobol_through_the_checkpoint_store(tmp_path: Path) -> None:
    """Stored and read back through Parquet and DuckDB, the outcome is unchanged."""
    design = make_design("saltelli", ISHIGAMI, 128, seed=7)
    stored = stored_outcome(tmp_path, design, sa.ishigami_model)
    np.testing.assert_array_equal(stored, in_memory_outcome(design, sa.ishigami_model))
    idx = sa.sobol(design, stored)
    exact = sa.ishigami_indices()
    np.testing.assert_allclose(idx.values["ST"], exact["ST"], atol=0.2)  # worst of 30 seeds: 0.16


def test_convergence_warns_on_a_small_sample() -> None:
    design = make_design("saltelli", ISHIGAMI, 32, seed=3)
    y = np.array([sa.ishigami_model(design.point(i), None)["y"] for i in range(design.n_points)])
    conv = sa.convergence(design, y, tolerance=0.02, steps=3)
    assert conv.sizes == (8, 16, 32)
    assert not conv.settled
    assert "NOT settled" in conv.message


def test_morris_exact_effects_of_a_linear_function(tmp_path: Path) -> None:
    space = Space(tuple(Factor(f"x{i}", "uncertainty", 0.0, 1.0) for i in range(4)))
    design = make_design("morris", space, 20, seed=5)
    y = stored_outcome(tmp_path, design, sa.linear_model)
    idx = sa.morris(design, y, outcome="y")
    np.testing.assert_allclose(idx.values["mu_star"], [1, 2, 3, 4], atol=1e-9)
    np.testing.assert_allclose(idx.values["sigma"], 0, atol=1e-9)
    assert [idx.names[i] for i in idx.ranking()] == ["x3", "x2", "x1", "x0"]
    assert sa.convergence(design, y, tolerance=0.01).settled


def test_designs() -> None:
    g = make_design("grid", ISHIGAMI, 3, seed=0)
    assert g.n_points == 27 and g.X.min() == pytest.approx(-np.pi)
    lhs = make_design("lhs", ISHIGAMI, 10, seed=0)
    strata = np.floor((lhs.X[:, 0] + np.pi) / (2 * np.pi) * 10)
    assert sorted(strata.astype(int).tolist()) == list(range(10))  # one point per stratum
    again = make_design("lhs", ISHIGAMI, 10, seed=0)
    np.testing.assert_array_equal(lhs.X, again.X)
    with pytest.raises(DesignError):
        make_design("saltelli", ISHIGAMI, 100, seed=0)  # not a power of 2
    with pytest.raises(DesignError):
        make_design("grid", Space(ISHIGAMI.factors * 1), 10**6, seed=0)
    with pytest.raises(DesignError):
        make_design("box-behnken", ISHIGAMI, 4, seed=0)
    integer = Space((Factor("population.restaurants_initial", "uncertainty", 85, 115, True),))
    d = make_design("lhs", integer, 5, seed=0)
    assert all(float(v).is_integer() for i in range(5) for v in d.point(i).values())


def test_space_from_scenario() -> None:
    from lipsteeth.experiment.designs import space_from_scenario
    from lipsteeth.scenario import load_scenario

    sc = load_scenario("baseline-2016")
    unc = space_from_scenario(sc, include="uncertainties")
    assert unc.dim == len(sc.uncertainties) and all(f.kind == "uncertainty" for f in unc.factors)
    lev = space_from_scenario(sc, include="levers")
    assert {f.name for f in lev.factors} == set(sc.lever_ranges)
    both = space_from_scenario(sc, only=["defection.contagion", "food_aid"])
    assert both.names == ("defection.contagion", "food_aid")
    assert [f.kind for f in both.factors] == ["uncertainty", "lever"]
    with pytest.raises(DesignError):
        space_from_scenario(sc, only=["defection.no_such_thing"])


def test_sensitivity_command_on_lipsteeth(tmp_path: Path) -> None:
    """Morris screening of the model itself through the CLI: indices, figures, convergence."""
    args = [
        "sensitivity",
        "baseline-2016",
        "--method",
        "morris",
        "--samples",
        "4",
        "--factors",
        "wider_flow.crossing_rate_per_year,enforcement.arrest_rate_per_year,defection.contagion",
        "--outcome",
        "arrests_china",
        "--outcome",
        "border_crossings@2012",
        "--years",
        "0.1",
        "--set",
        "population.labour_workers_initial=3000",
        "--set",
        "population.labour_sites_max=40",
        "--out",
        str(tmp_path),
    ]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    (folder,) = (tmp_path / "experiments").iterdir()
    report = json.loads((folder / "sensitivity_morris.json").read_text())
    crossings = report["outcomes"]["border_crossings@2012"]["indices"]
    assert crossings[0]["factor"] == "wider_flow.crossing_rate_per_year"
    assert (folder / "figures" / "morris_border_crossings_2012.png").stat().st_size > 0
    assert (folder / "figures" / "morris_arrests_china_convergence.png").is_file()
    assert (folder / "analysis" / "morris_arrests_china.parquet").is_file()
    # A second call with another outcome reuses the finished sweep (no new runs).
    with pytest.raises(SystemExit) as exc:
        main([*args[:8], "--outcome", "arrivals_south_korea", *args[12:]])
    assert exc.value.code == 0
    again = json.loads((folder / "sensitivity_morris.json").read_text())
    assert again["new_runs"] == 0
    # An unknown outcome is refused with exit 2.
    with pytest.raises(SystemExit) as exc:
        main([*args[:8], "--outcome", "arrests_chna", *args[12:]])
    assert exc.value.code == 2
