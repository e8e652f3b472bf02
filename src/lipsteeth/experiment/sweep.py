"""Sweeps: a model run at every point of a design, through any executor, resumable.

The model is EMA Workbench's idea of it: a function from named factor values
(uncertainties and levers) to named outcomes.  ``ScenarioModel`` is lipsteeth
(a scenario with overrides, simulated over some replicates); ``FunctionModel``
wraps any plain function (used to check the machinery on functions with known
answers, such as Ishigami's).

A *plan* lists the runs (one per design point, each with its seed and
replicates).  ``run_sweep`` skips the runs already done and hands each new
output to ``on_result`` in the calling process as soon as it arrives, which
is where the adapters checkpoint it.  Every run is deterministic (its seed
and replicate indices are in the plan), so an interrupted sweep resumed any
number of times ends with the same numbers as an uninterrupted one.

Outcome metrics are named ``NAME`` (whole horizon: flows summed, stocks at
the end, means averaged) or ``NAME@YEAR`` (one calendar year).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..core.outcomes import OUTCOMES, to_years
from ..core.simulate import SimulationResult
from .designs import Design
from .ensemble import run_scenario
from .executors import Executor, ProgressFn, SerialExecutor

if TYPE_CHECKING:
    from ..scenario import Scenario


@dataclass(frozen=True)
class RunSpec:
    """One planned run: a design point, its seed and its replicate indices."""

    run: int
    point: int
    values: tuple[tuple[str, float], ...]
    seed: int
    replicates: tuple[int, ...]

    @property
    def value_dict(self) -> dict[str, float]:
        return dict(self.values)


@dataclass(frozen=True)
class RunOutput:
    """What a run produced: per replicate, horizon metrics and yearly values."""

    run: int
    replicates: np.ndarray  # (R,) int
    names: tuple[str, ...]  # outcome names (V)
    horizon: np.ndarray  # (R, V)
    years: np.ndarray  # (Y,) int
    yearly: np.ndarray  # (R, V, Y)
    wall_seconds: float = 0.0

    def metric(self, name: str) -> np.ndarray:
        """(R,) values of one metric (``NAME`` or ``NAME@YEAR``)."""
        outcome, year = parse_metric(name)
        if outcome not in self.names:
            raise KeyError(f"{outcome}: not an outcome of this run")
        v = self.names.index(outcome)
        if year is None:
            return self.horizon[:, v]
        hits = np.nonzero(self.years == year)[0]
        if hits.size == 0:
            raise KeyError(f"{name}: year {year} not simulated")
        return self.yearly[:, v, int(hits[0])]


class Model(Protocol):
    """A model run by a sweep: picklable, deterministic in the spec."""

    def __call__(self, spec: RunSpec) -> RunOutput: ...


def parse_metric(name: str) -> tuple[str, int | None]:
    """``"NAME"`` -> (NAME, None); ``"NAME@2016"`` -> (NAME, 2016)."""
    outcome, sep, year = name.partition("@")
    if not sep:
        return outcome, None
    try:
        return outcome, int(year)
    except ValueError:
        raise ValueError(f"{name}: the year after @ must be a number") from None


def horizon_metrics(result: SimulationResult) -> np.ndarray:
    """(R, V) whole-horizon value of every outcome (flows summed, stocks last, means averaged)."""
    out = np.empty(result.monthly.shape[:2])
    for i, name in enumerate(result.outcome_names):
        kind = OUTCOMES[name].kind
        block = result.monthly[:, i, :]
        if kind == "flow":
            out[:, i] = block.sum(axis=1)
        elif kind == "stock":
            out[:, i] = block[:, -1]
        else:
            out[:, i] = block.mean(axis=1)
    return out


def result_output(run: int, result: SimulationResult, wall_seconds: float = 0.0) -> RunOutput:
    """A simulation result reduced to what a sweep stores."""
    month_years = result.months.astype("datetime64[Y]").astype(int) + 1970
    years, yearly = to_years(result.monthly, month_years)
    return RunOutput(
        run=run,
        replicates=np.asarray(result.replicates, dtype=int),
        names=tuple(result.outcome_names),
        horizon=horizon_metrics(result),
        years=years.astype(int),
        yearly=yearly,
        wall_seconds=wall_seconds,
    )


def split_values(values: Mapping[str, float], levers: Collection[str]) -> tuple[dict, dict]:
    """Factor values split into scenario overrides ``(params, levers)``."""
    params = {k: v for k, v in values.items() if k not in levers}
    lever_values = {k: v for k, v in values.items() if k in levers}
    return params, lever_values


@dataclass(frozen=True)
class ScenarioModel:
    """lipsteeth as a sweep model: the scenario with a point's overrides, simulated."""

    scenario: Scenario
    levers: frozenset[str] = field(default_factory=frozenset)
    integer: frozenset[str] = field(default_factory=frozenset)
    ignored: frozenset[str] = field(default_factory=frozenset)  # dummy factors

    @classmethod
    def for_design(cls, scenario: Scenario, design: Design) -> ScenarioModel:
        return cls(
            scenario,
            levers=frozenset(f.name for f in design.space.factors if f.kind == "lever"),
            integer=frozenset(f.name for f in design.space.factors if f.integer),
            ignored=frozenset(f.name for f in design.space.factors if f.kind == "dummy"),
        )

    def scenario_at(self, values: Mapping[str, float]) -> Scenario:
        """The scenario with a point's overrides (validated by the scenario layer); dummy
        factors (``designs.with_dummy``) change nothing."""
        values = {k: v for k, v in values.items() if k not in self.ignored}
        params, levers = split_values(values, self.levers)
        params = {k: (int(round(v)) if k in self.integer else v) for k, v in params.items()}
        if not params and not levers:
            return self.scenario
        return self.scenario.with_overrides(params=params or None, levers=levers or None)

    def __call__(self, spec: RunSpec) -> RunOutput:
        start = time.perf_counter()
        scenario = self.scenario_at(spec.value_dict)
        result = run_scenario(
            scenario, seed=spec.seed, replicate_indices=np.asarray(spec.replicates, dtype=int)
        )
        return result_output(spec.run, result, time.perf_counter() - start)


@dataclass(frozen=True)
class FunctionModel:
    """A plain function ``f(values, rng) -> {outcome: value}`` as a sweep model.

    ``rng`` is seeded from the run's seed and replicate index, so noisy test
    functions are as reproducible as lipsteeth itself.
    """

    fn: Callable[[Mapping[str, float], np.random.Generator], Mapping[str, float]]
    names: tuple[str, ...]

    def __call__(self, spec: RunSpec) -> RunOutput:
        start = time.perf_counter()
        rows = []
        for rep in spec.replicates:
            rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(int(rep),)))
            out = self.fn(spec.value_dict, rng)
            rows.append([float(out[n]) for n in self.names])
        horizon = np.asarray(rows, dtype=float).reshape(len(spec.replicates), len(self.names))
        return RunOutput(
            run=spec.run,
            replicates=np.asarray(spec.replicates, dtype=int),
            names=self.names,
            horizon=horizon,
            years=np.zeros(0, dtype=int),
            yearly=np.zeros((len(spec.replicates), len(self.names), 0)),
            wall_seconds=time.perf_counter() - start,
        )


def plan_runs(design: Design, *, seed: int, replicates: int) -> list[RunSpec]:
    """One run per design point; every run uses the same seed and replicates 0..R-1.

    Common random numbers: points differ only by their factor values, which
    takes simulation noise out of comparisons between points.
    """
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    reps = tuple(range(int(replicates)))
    return [
        RunSpec(
            run=i, point=i, values=tuple(design.point(i).items()), seed=int(seed), replicates=reps
        )
        for i in range(design.n_points)
    ]


def _call_model(model: Model, spec: RunSpec) -> RunOutput:
    return model(spec)


def run_sweep(
    model: Model,
    plan: Sequence[RunSpec],
    executor: Executor | None = None,
    *,
    done: Collection[int] = (),
    on_result: Callable[[RunSpec, RunOutput], None] | None = None,
    progress: ProgressFn | None = None,
    keep: bool = False,
) -> list[RunOutput]:
    """Run the planned runs not in ``done``; each output goes to ``on_result`` as it arrives.

    Returns the new outputs in plan order when ``keep`` (otherwise an empty
    list: a big sweep's outputs live in its checkpoints, not in memory).
    ``progress(done, total)`` counts runs of the whole plan.
    """
    executor = executor or SerialExecutor()
    done_set = set(done)
    todo = [spec for spec in plan if spec.run not in done_set]
    already = len(plan) - len(todo)

    def handle(i: int, output: RunOutput) -> None:
        if output.run != todo[i].run:  # pragma: no cover - a model bug
            raise RuntimeError(f"run {todo[i].run} returned the output of run {output.run}")
        if on_result is not None:
            on_result(todo[i], output)

    def report(n: int, _total: int) -> None:
        if progress is not None:
            progress(already + n, len(plan))

    results = executor.map(_call_model, todo, report, on_result=handle, context=model, keep=keep)
    return [r for r in results if r is not None] if keep else []


def stack_metric(outputs: Sequence[RunOutput], name: str, n_runs: int) -> np.ndarray:
    """(n_runs,) mean over replicates of one metric, from outputs held in memory."""
    y = np.full(n_runs, np.nan)
    for out in outputs:
        y[out.run] = float(np.mean(out.metric(name)))
    return y


def describe_plan(plan: Sequence[RunSpec]) -> dict[str, Any]:
    """Size of a plan: runs and simulated replicates."""
    return {"runs": len(plan), "replicates": int(sum(len(s.replicates) for s in plan))}
