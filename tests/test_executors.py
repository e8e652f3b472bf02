"""Executors: the same results, bit for bit, serial, in local processes and on Dask."""

from __future__ import annotations

import operator

import numpy as np
import pytest

from lipsteeth.core.simulate import SimulationResult
from lipsteeth.experiment.designs import Factor, Space, make_design
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.executors import (
    ProcessExecutor,
    SerialExecutor,
    default_chunk_size,
    replicate_chunks,
    run_ensemble,
)
from lipsteeth.experiment.sensitivity import ishigami_model
from lipsteeth.experiment.sweep import FunctionModel, ScenarioModel, plan_runs, run_sweep
from lipsteeth.scenario import load_scenario

SMALL = {
    "population.labour_workers_initial": 3000,
    "population.labour_sites_max": 40,
    "population.restaurants_initial": 30,
    "population.restaurant_sites_max": 60,
}


@pytest.fixture(scope="module")
def small_scenario():
    """Three months of a small network: cheap, but every mechanism runs."""
    return load_scenario("baseline-2016").with_overrides(params=SMALL, years=0.25)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def assert_same(a: SimulationResult, b: SimulationResult) -> None:
    np.testing.assert_array_equal(a.replicates, b.replicates)
    np.testing.assert_array_equal(a.monthly, b.monthly)
    assert a.events.keys() == b.events.keys()
    for key in a.events:
        x, y = a.events[key], b.events[key]
        np.testing.assert_array_equal(x, y, err_msg=key)
    for field in a.ledger.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a.ledger, field), getattr(b.ledger, field))


def test_map_keeps_task_order_and_reports_progress():
    seen: list[int] = []
    progress: list[tuple[int, int]] = []
    out = SerialExecutor().map(
        operator.mul,
        [1, 2, 3, 4],
        lambda d, n: progress.append((d, n)),
        on_result=lambda i, r: seen.append(i),
        context=10,
    )
    assert out == [10, 20, 30, 40]
    assert sorted(seen) == [0, 1, 2, 3]
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)


def test_process_executor_map_with_context():
    with ProcessExecutor(2) as ex:
        out = ex.map(operator.add, list(range(10)), context=100)
    assert out == [100 + i for i in range(10)]


def test_dask_executor_map_with_context(dask_client):
    from lipsteeth.adapters.executors_dask import DaskExecutor

    ex = DaskExecutor(dask_client)
    assert ex.workers == 2
    done: list[int] = []
    out = ex.map(operator.add, list(range(12)), on_result=lambda i, r: done.append(i), context=5)
    assert out == [5 + i for i in range(12)]
    assert sorted(done) == list(range(12))


def test_chunking_helpers():
    assert default_chunk_size(1000, 2) == 16
    assert default_chunk_size(6, 2) == 1
    chunks = replicate_chunks(np.arange(7), 3)
    assert [c.tolist() for c in chunks] == [[0, 1, 2], [3, 4, 5], [6]]


def test_ensemble_identical_serial_processes_dask(small_scenario, dask_client):
    """The acceptance test: one result whatever the executor, workers and chunk size."""
    from lipsteeth.adapters.executors_dask import DaskExecutor

    reference = run_scenario(small_scenario, seed=11, replicate_indices=np.arange(6))
    serial = run_ensemble(small_scenario, 6, 11, SerialExecutor(), chunk_size=4)
    processes = run_ensemble(small_scenario, 6, 11, ProcessExecutor(2), chunk_size=2)
    dask = run_ensemble(small_scenario, 6, 11, DaskExecutor(dask_client), chunk_size=1)
    for other in (serial, processes, dask):
        assert_same(reference, other)


def test_ensemble_progress_counts_replicates(small_scenario):
    progress: list[tuple[int, int]] = []
    run_ensemble(
        small_scenario,
        3,
        2,
        SerialExecutor(),
        chunk_size=2,
        progress=lambda d, n: progress.append((d, n)),
    )
    assert progress[-1] == (3, 3)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


def test_sweep_identical_on_every_executor(small_scenario, dask_client):
    """A sweep of scenario overrides gives the same outputs on every executor."""
    from lipsteeth.adapters.executors_dask import DaskExecutor

    space = Space(
        (
            Factor("defection.restaurant_hazard_per_year", "uncertainty", 0.03, 0.2),
            Factor("china_exit_strictness", "lever", 0.3, 1.0),
        )
    )
    design = make_design("lhs", space, 4, seed=3)
    model = ScenarioModel.for_design(small_scenario, design)
    plan = plan_runs(design, seed=5, replicates=2)
    outputs = {
        name: run_sweep(model, plan, ex, keep=True)
        for name, ex in (
            ("serial", SerialExecutor()),
            ("processes", ProcessExecutor(2)),
            ("dask", DaskExecutor(dask_client)),
        )
    }
    for name in ("processes", "dask"):
        for a, b in zip(outputs["serial"], outputs[name], strict=True):
            assert a.run == b.run
            np.testing.assert_array_equal(a.horizon, b.horizon)
            np.testing.assert_array_equal(a.yearly, b.yearly)


def test_function_model_sweep_on_dask(dask_client):
    from lipsteeth.adapters.executors_dask import DaskExecutor

    space = Space(tuple(Factor(f"x{i}", "uncertainty", -np.pi, np.pi) for i in (1, 2, 3)))
    design = make_design("lhs", space, 20, seed=1)
    model = FunctionModel(ishigami_model, ("y",))
    plan = plan_runs(design, seed=0, replicates=1)
    a = run_sweep(model, plan, SerialExecutor(), keep=True)
    b = run_sweep(model, plan, DaskExecutor(dask_client), keep=True)
    assert [o.horizon.tolist() for o in a] == [o.horizon.tolist() for o in b]


def test_sweep_skips_done_runs():
    space = Space((Factor("x1", "uncertainty", 0, 1),))
    design = make_design("grid", space, 5, seed=0)
    plan = plan_runs(design, seed=0, replicates=1)
    model = FunctionModel(lambda v, rng: {"y": v["x1"]}, ("y",))
    got: list[int] = []
    run_sweep(model, plan, done={0, 3}, on_result=lambda spec, out: got.append(spec.run))
    assert sorted(got) == [1, 2, 4]


def test_open_executor_choices():
    from lipsteeth.adapters.executors_dask import ExecutorError, open_executor

    with open_executor("auto", 1) as ex:
        assert ex.name == "serial"
    with open_executor("processes", 2) as ex:
        assert ex.name == "processes" and ex.workers == 2
    with pytest.raises(ExecutorError), open_executor("threads", 1):
        pass
    with pytest.raises(ExecutorError), open_executor("serial", 1, "tcp://127.0.0.1:1"):
        pass
