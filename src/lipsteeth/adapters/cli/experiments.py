"""Experiment commands: ``sweep``, ``sensitivity``, ``calibrate``, ``discover``, ``query``.

Registered on the main Typer app by ``register(app)`` (called by
``adapters.cli``).  Every command shows a Rich progress bar with ETA on
stderr for long work, prints a short summary table on stdout and writes its
results under a results root (``--out``, default ``results``; see
``adapters.catalog`` for the layout and the DuckDB catalog).

Sweeps and sensitivity sweeps are checkpointed run by run: after a crash or a
``kill -9``, the same command with ``--resume`` completes the experiment
with exactly the planned runs and the same numbers.  Refused inputs end with
one ``error:`` line and exit code 2 (raised as ``UserError``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ...core.outcomes import OUTCOMES
from ...core.params import LEVER_NAMES
from ...experiment import budget
from ...experiment import designs as designs_mod
from ...experiment.designs import Design, DesignError, Space
from ...experiment.executors import Executor, run_ensemble
from ...experiment.summary import KEY_OUTCOMES
from ...experiment.sweep import (
    RunOutput,
    RunSpec,
    ScenarioModel,
    parse_metric,
    plan_runs,
    run_sweep,
)
from .. import catalog as cat
from .. import sql_readonly as sro
from .. import store as results_store
from ..executors_dask import EXECUTORS, ExecutorError, open_executor
from .inputs import check_budget, fail, load, require_extra
from .options import (
    AllowLargeOption,
    DesignSeedOption,
    ExecutorOption,
    ExperimentNameOption,
    FactorsOption,
    OverridesOption,
    ReplicatesPerRunOption,
    ResultsRootOption,
    ResumeOption,
    ScenarioArgument,
    SchedulerOption,
    SeedOption,
    SpaceOption,
    WorkersOption,
    YearsOption,
)

if TYPE_CHECKING:
    import pandas as pd

    from ...core.simulate import SimulationResult
    from ...experiment.npe import NPEResult
    from ...scenario import Scenario
    from ..figures import Certificate

DEFAULT_OUT = Path("results")
MAX_RUNS = 2_000_000
TARGETS_PACKAGE_DIR = "targets"


# ---------------------------------------------------------------------------
# shared helpers


SPACES = ("all", "uncertainties", "levers")


def out_console() -> Console:
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def progress_bar(description: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar with ETA on stderr; yields ``update(done, total)``."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console(),
        transient=False,
    )
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield update


def parse_sets(items: Sequence[str] | None) -> tuple[dict[str, float], dict[str, float]]:
    """``--set group.name=value`` / ``--set lever=value`` into (params, levers)."""
    params: dict[str, float] = {}
    levers: dict[str, float] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--set {item!r}: expected KEY=VALUE (group.name=value or lever=value)")
        try:
            value = float(text)
        except ValueError:
            fail(f"--set {item!r}: {text!r} is not a number")
        name = key.removeprefix("lever.")
        if "." not in key or key.startswith("lever."):
            if name not in LEVER_NAMES:
                fail(f"--set {item!r}: {name} is not a lever (parameters are group.name)")
            levers[name] = value
        else:
            params[key] = value
    return params, levers


def load_scenario_for(scenario: str, years: float | None, sets: Sequence[str] | None) -> Scenario:
    """The scenario named on the command line, with ``--years`` and ``--set`` applied."""
    loaded: Scenario = load(scenario)
    params, levers = parse_sets(sets)
    if params or levers or years is not None:
        loaded = loaded.with_overrides(params=params or None, levers=levers or None, years=years)
    return loaded


def split_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    return names or None


def check_design_run(replicates: int, workers: int, executor: str, space: str) -> None:
    """Options shared by sweep and sensitivity, checked before anything is written."""
    check_positive("--replicates", replicates)
    check_positive("--workers", workers)
    if executor not in EXECUTORS:
        fail(f"--executor must be one of {', '.join(EXECUTORS)}")
    if space not in SPACES:
        fail(f"--space must be one of {', '.join(SPACES)}")


def check_experiment_budget(
    scenario: Scenario,
    method: str,
    space: Space,
    samples: int,
    replicates: int,
    workers: int,
    allow_large: bool,
    *,
    second_order: bool = False,
) -> None:
    """Refuse a design whose estimated work or memory exceeds the limits (issue 17, item 6).

    Checked before the design is sampled: a design of 10^7 samples or runs of 10^9
    replicates used to end in a MemoryError traceback while it was built.
    """
    points = budget.design_points(method, space.dim, samples, second_order=second_order)
    estimate = budget.sweep_budget(
        scenario.params, scenario.calendar.n_days, points, space.dim, replicates, workers
    )
    check_budget(
        f"{points:,} runs of {replicates} replicates over {scenario.calendar.n_days} days",
        estimate,
        allow_large=allow_large,
    )


def require_experiment_extras(
    command: str, modules: Sequence[str], *, on_dask: bool = False
) -> None:
    """Refuse the command before anything is written if the experiments extra is missing."""
    require_extra(f"lipsteeth {command}", [*modules, *(["distributed"] if on_dask else [])])


def uses_dask(executor: str, workers: int, scheduler: str | None) -> bool:
    """Whether ``open_executor`` will start or join a Dask cluster for these options."""
    return executor == "dask" or (executor == "auto" and (bool(scheduler) or workers > 1))


def check_positive(option: str, value: int | float | None, low: float = 1) -> None:
    if value is not None and value < low:
        fail(f"{option} must be at least {low:g} (got {value})")


def fmt(value: Any) -> str:
    """Compact number for tables."""
    if value is None:
        return "n/a"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "n/a"
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.3g}G"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a >= 100:
        return f"{v:.0f}"
    if a == 0:
        return "0"
    return f"{v:.3g}"


# ---------------------------------------------------------------------------
# ensembles for `run --workers/--scheduler` (the CLI's run command calls this)


def run_ensemble_with(
    scenario: Scenario,
    *,
    replicates: int,
    seed: int,
    workers: int = 1,
    scheduler: str | None = None,
    executor: str = "auto",
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Replicates ``0..replicates-1`` through the executor the options ask for.

    Identical, bit for bit, whatever the executor, workers and chunk size.
    """
    try:
        with open_executor(executor, workers, scheduler) as ex:
            return run_ensemble(scenario, replicates, seed, ex, chunk_size, progress)
    except ExecutorError as exc:
        fail(str(exc))


# ---------------------------------------------------------------------------
# planned experiments (sweep, sensitivity)


def experiment_id(kind: str, scenario: Scenario, design: Design, digest: str) -> str:
    return f"{kind}-{scenario.name}-{design.method}{design.n_base}-{digest[:10]}"


def plan_digest(kind: str, scenario: Scenario, design: Design, seed: int, replicates: int) -> str:
    x_hash = hashlib.sha256(np.ascontiguousarray(design.X).tobytes()).hexdigest()
    return cat.plan_hash(
        {
            "kind": kind,
            "scenario": scenario.to_dict(),
            "design": design.to_dict(),
            "X": x_hash,
            "seed": seed,
            "replicates": replicates,
        }
    )


def validate_points(model: ScenarioModel, design: Design) -> None:
    """Refuse a design whose extreme values the scenario layer rejects (before running)."""
    from ...scenario import ScenarioError

    base = design.point(0)
    trials = [base]
    for f in design.space.factors:
        for v in (f.low, f.high):
            trial = dict(base)
            trial[f.name] = float(round(v)) if f.integer else v
            trials.append(trial)
    for trial in trials:
        try:
            model.scenario_at(trial)
        except ScenarioError as exc:
            fail(f"the design reaches an invalid scenario: {exc}")


def run_planned_experiment(
    *,
    kind: str,
    scenario: Scenario,
    design: Design,
    seed: int,
    replicates: int,
    out: Path,
    name: str | None,
    **options: Any,
) -> tuple[cat.ExperimentStore, dict[str, Any]]:
    """Create or resume a checkpointed experiment, holding its lock (issue 17, item 10).

    Two ``sweep --resume`` on one folder used to run the same work twice; the second
    is now refused at once with one line (an advisory ``flock`` on
    ``.experiment-<id>.lock`` in the results root, dropped when the holder dies).
    """
    digest = plan_digest(kind, scenario, design, seed, replicates)
    exp = name or experiment_id(kind, scenario, design, digest)
    try:
        cat.check_id(exp)
    except cat.CatalogError as exc:
        fail(str(exc))
    try:
        # the lock sits in the results root, not in experiments/ (which lists experiments)
        folder = Path(out) / "experiments" / exp
        with results_store.target_lock(folder, Path(out) / f".experiment-{exp}.lock"):
            return _run_planned_experiment(
                kind=kind,
                scenario=scenario,
                design=design,
                seed=seed,
                replicates=replicates,
                out=out,
                name=name,
                **options,
            )
    except results_store.ResultsFolderError as exc:
        fail(str(exc))


def _run_planned_experiment(
    *,
    kind: str,
    scenario: Scenario,
    design: Design,
    seed: int,
    replicates: int,
    out: Path,
    name: str | None,
    resume: bool,
    executor: str,
    workers: int,
    scheduler: str | None,
    extra_manifest: dict[str, Any] | None = None,
) -> tuple[cat.ExperimentStore, dict[str, Any]]:
    """Create or resume a checkpointed experiment and run what is missing."""
    plan = plan_runs(design, seed=seed, replicates=replicates)
    if len(plan) > MAX_RUNS:
        fail(f"{len(plan):,} runs planned (limit {MAX_RUNS:,})")
    digest = plan_digest(kind, scenario, design, seed, replicates)
    exp = name or experiment_id(kind, scenario, design, digest)
    try:
        cat.check_id(exp)
    except cat.CatalogError as exc:
        fail(str(exc))
    err = err_console()
    store = cat.ExperimentStore(out, exp)
    model = ScenarioModel.for_design(scenario, design)
    if store.exists():
        manifest = store.manifest()  # a corrupted manifest or plan: one line, nothing touched
        store.plan_frame()
        if manifest.get("plan_sha256") != digest:
            fail(
                f"experiment {exp} in {out} has a different plan "
                "(another scenario, design, seed or replicates): choose another --name"
            )
        done, problems = store.verified_runs(plan, remove=resume)
        for problem in problems[:10]:
            err.print(f"checkpoint rejected{', will rerun' if resume else ''}: {problem}")
        if len(problems) > 10:
            err.print(f"... and {len(problems) - 10} more checkpoints rejected")
        if manifest.get("status") == cat.STATUS_COMPLETE and len(done) != len(plan):
            # a status edited to complete does not make missing runs done (issue 17, item 9)
            manifest["status"] = cat.STATUS_RUNNING
        if manifest.get("status") == cat.STATUS_COMPLETE:
            err.print(f"experiment {exp} is complete ({len(done)} runs): reusing its results")
            return store, {"wall_seconds": 0.0, "new_runs": 0, "resumed": False}
        if not resume:
            fail(
                f"experiment {exp} is incomplete ({len(done)} of {len(plan)} runs done): "
                "rerun with --resume to complete it"
            )
        store.clean_temporaries()
        err.print(f"resuming {exp}: {len(done)} of {len(plan)} runs already done")
    else:
        validate_points(model, design)
        manifest = {
            "kind": kind,
            "scenario": scenario.name,
            "scenario_source": str(scenario.source),
            "plan_sha256": digest,
            "design": design.to_dict(),
            "seed": seed,
            "replicates": replicates,
            "command_line": ["lipsteeth", *sys.argv[1:]],
            "versions": _versions(),
            **(extra_manifest or {}),
        }
        kinds = {f.name: f.kind for f in design.space.factors}
        store = cat.ExperimentStore.create(
            out,
            exp,
            manifest=manifest,
            plan=plan,
            factor_kinds=kinds,
            scenario_toml=scenario.to_toml(),
        )
        done = set()
    started = time.perf_counter()
    todo = len(plan) - len(done)
    from ...scenario import ScenarioError

    def checkpoint(spec: RunSpec, output: RunOutput) -> None:
        store.write_run(spec, output)

    try:
        with (
            open_executor(executor, workers, scheduler) as ex,
            progress_bar(f"{kind} {exp}", "runs") as update,
        ):
            _describe_executor(err, ex, todo)
            run_sweep(model, plan, ex, done=done, on_result=checkpoint, progress=update)
    except ExecutorError as exc:
        fail(str(exc))
    except ScenarioError as exc:
        fail(f"a run reached an invalid scenario ({exc}); finished runs are kept, see --resume")
    wall = time.perf_counter() - started
    try:
        store.finalize(last_session_seconds=round(wall, 3))
    except cat.CatalogError as exc:
        fail(f"{exc}; every run is checkpointed: rerun with --resume to finish")
    return store, {"wall_seconds": wall, "new_runs": todo, "resumed": bool(done)}


def _describe_executor(console: Console, ex: Executor, todo: int) -> None:
    console.print(f"{todo} runs to do on {ex.name} ({ex.workers} worker(s))")


def _versions() -> dict[str, str | None]:
    import importlib.metadata
    import platform

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in (
        "lipsteeth",
        "numpy",
        "SALib",
        "pyabc",
        "sbi",
        "torch",
        "ema_workbench",
        "dask",
        "duckdb",
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def build_space(scenario: Scenario, include: str, factors: list[str] | None) -> Space:
    try:
        return designs_mod.space_from_scenario(scenario, include=include, only=factors)  # type: ignore[arg-type]
    except DesignError as exc:
        fail(str(exc))


def build_design(method: str, space: Space, samples: int, seed: int, **options: Any) -> Design:
    try:
        return designs_mod.make_design(method, space, samples, seed, **options)
    except DesignError as exc:
        fail(str(exc))


#: runs of a sweep shown in the terminal (all of them are in analysis/sweep_summary.parquet)
SWEEP_ROWS_SHOWN = 20


def outcome_overview(store: cat.ExperimentStore, names: Sequence[str]) -> Table:
    """Across runs: mean and 5-95 % range of whole-horizon outcomes."""
    table = Table(title=f"{store.experiment}: outcomes over the horizon, across runs")
    table.add_column("outcome", style="cyan")
    for col in ("mean", "p5", "p95"):
        table.add_column(col, justify="right")
    available = set(store.metric_names())
    for name in names:
        if name not in available:
            continue
        y = store.metric(name).to_numpy(dtype=float)
        table.add_row(name, fmt(y.mean()), fmt(np.quantile(y, 0.05)), fmt(np.quantile(y, 0.95)))
    return table


def experiment_table(store: cat.ExperimentStore, info: dict[str, Any]) -> Table:
    manifest = store.manifest()
    table = Table(title=f"experiment {store.experiment}", show_header=False)
    table.add_column("key", style="cyan")
    table.add_column("value")
    design = manifest.get("design") or {}
    table.add_row("scenario", str(manifest.get("scenario")))
    table.add_row(
        "design",
        f"{design.get('method')} N={design.get('n_base')} over {len(design.get('space', []))} "
        "factors",
    )
    table.add_row("runs", f"{manifest.get('n_done')} of {manifest.get('n_runs')} planned")
    table.add_row("replicates per run", str(manifest.get("replicates")))
    table.add_row("new runs this session", str(info.get("new_runs")))
    table.add_row("wall time this session", f"{info.get('wall_seconds', 0.0):.1f} s")
    table.add_row("folder", str(store.path))
    table.add_row("catalog", str(cat.catalog_path(store.root)))
    return table


# ---------------------------------------------------------------------------
# sweep


def sweep(
    scenario: ScenarioArgument,
    design: Annotated[
        str, typer.Option("--design", help="grid | lhs | saltelli | morris.")
    ] = "lhs",
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            help="N of the design: grid levels per factor, LHS points, Saltelli N "
            "(power of 2), Morris trajectories.",
        ),
    ] = 32,
    space: SpaceOption = "all",
    factors: FactorsOption = None,
    replicates: ReplicatesPerRunOption = 1,
    seed: DesignSeedOption = None,
    years: YearsOption = None,
    sets: OverridesOption = None,
    workers: WorkersOption = 1,
    scheduler: SchedulerOption = None,
    executor: ExecutorOption = "auto",
    out: ResultsRootOption = DEFAULT_OUT,
    name: ExperimentNameOption = None,
    resume: ResumeOption = False,
    allow_large: AllowLargeOption = False,
) -> None:
    """Run the scenario at every point of a design over its uncertainties and levers."""
    check_positive("--samples", samples)
    check_design_run(replicates, workers, executor, space)
    require_experiment_extras(
        "sweep",
        ["pandas"] if design == "grid" else ["pandas", "SALib"],
        on_dask=uses_dask(executor, workers, scheduler),
    )
    loaded = load_scenario_for(scenario, years, sets)
    root_seed = loaded.seed if seed is None else seed
    sp = build_space(loaded, space, split_names(factors))
    check_experiment_budget(loaded, design, sp, samples, replicates, workers, allow_large)
    d = build_design(design, sp, samples, root_seed)
    store, info = run_planned_experiment(
        kind="sweep",
        scenario=loaded,
        design=d,
        seed=root_seed,
        replicates=replicates,
        out=out,
        name=name,
        resume=resume,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
    )
    con = out_console()
    con.print(experiment_table(store, info))
    con.print(outcome_overview(store, KEY_OUTCOMES))
    runs = sweep_runs_frame(store, KEY_OUTCOMES)
    table_path = store.write_analysis("sweep_summary", runs)
    con.print(sweep_runs_table(store.experiment, runs, [f.name for f in d.space.factors]))
    con.print(f"every run, factors beside outcomes: {table_path}")
    store.write_json(
        "summary.json",
        {
            "experiment": store.experiment,
            **info,
            "factors": [f.name for f in d.space.factors],
            "outcomes": [c for c in runs.columns if c not in ("run", *d.space.names)],
            "runs": json.loads(runs.to_json(orient="records")),
        },
    )


def sweep_runs_frame(store: cat.ExperimentStore, names: Sequence[str]) -> pd.DataFrame:
    """One row per run: ``run``, each factor's value, then each outcome over the horizon
    (mean over the run's replicates)."""
    frame = store.factor_frame()
    available = set(store.metric_names())
    for name in names:
        if name in available:
            frame[name] = store.metric(name)
    return frame.reset_index()


def sweep_runs_table(experiment: str, runs: pd.DataFrame, factors: Sequence[str]) -> Table:
    """The first runs of a sweep: factor levels beside the key outcomes."""
    shown = runs.head(SWEEP_ROWS_SHOWN)
    title = f"{experiment}: factor levels and outcomes over the horizon, by run"
    if len(runs) > len(shown):
        title += f" (first {len(shown)} of {len(runs)})"
    table = Table(title=title)
    for column in runs.columns:
        table.add_column(column, justify="right", style="cyan" if column in factors else None)
    for row in shown.itertuples(index=False):
        cells = zip(runs.columns, row, strict=True)
        table.add_row(*[str(int(v)) if c == "run" else fmt(v) for c, v in cells])
    return table


# ---------------------------------------------------------------------------
# sensitivity


def sensitivity(
    scenario: ScenarioArgument,
    method: Annotated[str, typer.Option("--method", help="sobol | morris.")] = "sobol",
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", help="Outcome NAME or NAME@YEAR (repeatable)."),
    ] = None,
    samples: Annotated[
        int,
        typer.Option("--samples", help="Sobol N (power of 2) or Morris trajectories."),
    ] = 64,
    second_order: Annotated[
        bool, typer.Option("--second-order", help="Sobol: also the second-order design.")
    ] = False,
    levels: Annotated[int, typer.Option("--levels", help="Morris grid levels.")] = 4,
    tolerance: Annotated[
        float | None,
        typer.Option("--tolerance", help="Convergence tolerance (0.05 Sobol, 0.1 Morris)."),
    ] = None,
    space: SpaceOption = "uncertainties",
    factors: FactorsOption = None,
    replicates: ReplicatesPerRunOption = 1,
    seed: DesignSeedOption = None,
    years: YearsOption = None,
    sets: OverridesOption = None,
    workers: WorkersOption = 1,
    scheduler: SchedulerOption = None,
    executor: ExecutorOption = "auto",
    out: ResultsRootOption = DEFAULT_OUT,
    name: ExperimentNameOption = None,
    resume: ResumeOption = False,
    allow_large: AllowLargeOption = False,
) -> None:
    """Sobol (S1, ST) or Morris (mu*, sigma) indices of outcomes, with a convergence check."""
    from ...experiment import sensitivity as sa

    if method not in sa.METHODS:
        fail(f"--method must be one of {', '.join(sa.METHODS)}")
    outcomes = list(outcome or ["restaurant_defectors@2016"])
    for o in outcomes:
        _check_metric_name(o)
    check_positive("--samples", samples, 2)
    check_design_run(replicates, workers, executor, space)
    require_experiment_extras(
        "sensitivity", ["pandas", "SALib"], on_dask=uses_dask(executor, workers, scheduler)
    )
    tol = tolerance if tolerance is not None else (0.05 if method == "sobol" else 0.1)
    loaded = load_scenario_for(scenario, years, sets)
    for o in outcomes:  # before the first run, not after all of them
        _check_metric_year(o, loaded)
    root_seed = loaded.seed if seed is None else seed
    sp = build_space(loaded, space, split_names(factors))
    try:
        sp = designs_mod.with_dummy(sp)  # its index is the noise floor
    except DesignError as exc:
        fail(str(exc))
    check_experiment_budget(
        loaded,
        "saltelli" if method == "sobol" else "morris",
        sp,
        samples,
        replicates,
        workers,
        allow_large,
        second_order=second_order,
    )
    if method == "sobol":
        d = build_design("saltelli", sp, samples, root_seed, calc_second_order=second_order)
    else:
        d = build_design("morris", sp, samples, root_seed, num_levels=levels)
    store, info = run_planned_experiment(
        kind="sensitivity",
        scenario=loaded,
        design=d,
        seed=root_seed,
        replicates=replicates,
        out=out,
        name=name,
        resume=resume,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
    )
    con = out_console()
    err = err_console()
    con.print(experiment_table(store, info))
    report: dict[str, Any] = {
        "experiment": store.experiment,
        "method": method,
        **info,
        "outcomes": {},
    }
    for o in outcomes:
        y = _metric_or_fail(store, o)
        try:
            idx = sa.analyze(d, y, outcome=o, seed=root_seed)
            conv = sa.convergence(d, y, outcome=o, tolerance=tol, seed=root_seed)
        except sa.SensitivityError as exc:
            fail(f"{o}: {exc}")
        slug = _slug(o)
        import pandas as pd

        store.write_analysis(f"{method}_{slug}", pd.DataFrame(idx.records()))
        conv_rows = [
            {"n_base": int(n), "factor": f, conv.key: float(conv.values[k, j])}
            for k, n in enumerate(conv.sizes)
            for j, f in enumerate(conv.names)
        ]
        store.write_analysis(f"{method}_{slug}_convergence", pd.DataFrame(conv_rows))
        from .. import figures as figs

        fig = figs.write_png(
            figs.sensitivity_figure(figs.index_bars_of(idx)),
            store.figure_path(f"{method}_{slug}.png"),
        )
        cfig = figs.write_png(
            figs.convergence_figure(conv), store.figure_path(f"{method}_{slug}_convergence.png")
        )
        con.print(_indices_table(idx))
        floor = _noise_floor(idx)
        con.print(f"{index_units(idx.method, o)} {floor}")
        style = "green" if conv.settled else "bold yellow"
        (con if conv.settled else err).print(
            f"[{style}]{'' if conv.settled else 'warning: '}{o}: {conv.message}[/]"
        )
        con.print(f"figures: {fig}  {cfig}")
        report["outcomes"][o] = {
            "units": index_units(idx.method, o),
            "noise_floor": {
                k: float(idx.values[k][idx.names.index(designs_mod.DUMMY_FACTOR)])
                for k in (("S1", "ST") if idx.method == "sobol" else ("mu_star", "sigma"))
            },
            "indices": idx.records(),
            "convergence": {
                "sizes": list(conv.sizes),
                "settled": conv.settled,
                "max_change": conv.max_change,
                "tolerance": conv.tolerance,
                "message": conv.message,
            },
            "figures": [str(fig), str(cfig)],
        }
    store.write_json(f"sensitivity_{method}.json", report)


def index_units(method: str, outcome: str) -> str:
    """What the indices of ``method`` measure, in which units."""
    if method == "sobol":
        return (
            f"S1, ST: shares of the variance of {outcome} (no unit; S1 the factor alone, ST "
            "with its interactions; simulation noise counts as interaction)."
        )
    name, _ = parse_metric(outcome)
    unit = OUTCOMES[name].unit if name in OUTCOMES else "outcome units"
    return (
        f"mu*, sigma, mu: change of {outcome} in {unit} when a factor moves over its whole "
        "declared range (mean absolute, spread and mean of the elementary effects)."
    )


def _noise_floor(idx: Any) -> str:
    """The dummy factor's indices, and which factors do not rise above them."""
    i = idx.names.index(designs_mod.DUMMY_FACTOR)
    key = "ST" if idx.method == "sobol" else "mu_star"
    floor = float(idx.values[key][i])
    below = [n for j, n in enumerate(idx.names) if j != i and idx.values[key][j] <= floor]
    text = (
        f"Noise floor: the factor '{designs_mod.DUMMY_FACTOR}', which the model ignores, "
        f"has {key} {floor:.3g}"
    )
    if below:
        return text + f"; {len(below)} factor(s) do not rise above it: " + ", ".join(below[:8])
    return text + "; every factor rises above it."


def _indices_table(idx: Any, limit: int = 15) -> Table:
    table = Table(
        title=f"{idx.method} indices of {idx.outcome} (N={idx.n_base}, {idx.n_runs} runs)"
    )
    table.add_column("factor", style="cyan")
    cols = (
        ["S1", "S1_conf", "ST", "ST_conf"]
        if idx.method == "sobol"
        else ["mu_star", "mu_star_conf", "sigma", "mu"]
    )
    for c in cols:
        table.add_column(c.replace("_conf", " ±"), justify="right")
    for row in idx.records()[:limit]:
        table.add_row(row["factor"], *[f"{row[c]:.3g}" for c in cols])
    return table


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def _check_metric_name(name: str, known: Sequence[str] | None = None) -> None:
    """Refuse an outcome that is not a model outcome (or not in ``known``)."""

    try:
        outcome, _ = parse_metric(name)
    except ValueError as exc:
        fail(str(exc))
    names = list(OUTCOMES) if known is None else list(known)
    if outcome not in names:
        import difflib

        close = difflib.get_close_matches(outcome, names, n=1)
        fail(
            f"--outcome {name}: unknown outcome" + (f" (did you mean {close[0]}?)" if close else "")
        )


def _check_metric_year(name: str, scenario: Scenario) -> None:
    """Refuse ``NAME@YEAR`` whose year the scenario's horizon does not reach."""
    _, year = parse_metric(name)
    first, last = int(str(scenario.start)[:4]), int(str(scenario.end)[:4])
    if year is not None and not first <= year <= last:
        fail(f"--outcome {name}: {year} is outside the horizon {scenario.start} to {scenario.end}")


def _metric_or_fail(store: cat.ExperimentStore, name: str) -> np.ndarray:
    try:
        series = store.metric(name)
    except cat.CatalogError as exc:
        fail(str(exc))
    n_runs = int(store.manifest()["n_runs"])
    y = np.full(n_runs, np.nan)
    y[series.index.to_numpy(dtype=int)] = series.to_numpy(dtype=float)
    return y


# ---------------------------------------------------------------------------
# calibrate


def read_targets(spec: Sequence[str] | None) -> list[Any]:
    """Targets from files, or the packaged targets (``default`` or nothing)."""
    from ...experiment.targets import TargetError, parse_targets

    texts: list[tuple[str, str]] = []
    for item in spec or ["default"]:
        if item == "default":
            folder = resources.files("lipsteeth") / "data" / TARGETS_PACKAGE_DIR
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(".csv"):
                    texts.append((f"data/targets/{entry.name}", entry.read_text("utf-8")))
        else:
            path = Path(item)
            if not path.is_file():
                fail(f"--targets {item}: no such file")
            try:
                texts.append((str(path), path.read_text("utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"--targets {item}: cannot read: {exc}")
    targets = []
    try:
        for origin, text in texts:
            targets.extend(parse_targets(text, origin=origin))
    except TargetError as exc:
        fail(str(exc))
    keys = [t.key for t in targets]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        fail(f"targets repeat across files: {', '.join(dupes)}")
    return targets


CALIBRATE_METHODS = ("abc", "npe")
NPE_FIELDS = {"--hidden": "hidden_features", "--transforms": "num_transforms"}  # else the name
ABC_DEFAULTS: dict[str, Any] = {
    "--population": 100,
    "--generations": 6,
    "--min-epsilon": 0.0,
    "--min-acceptance": 0.02,
}


def calibrate(
    scenario: ScenarioArgument,
    targets: Annotated[
        list[str] | None,
        typer.Option(
            "--targets",
            help="Targets CSV (series,period,value,low,high,reliability,source); "
            "repeatable; 'default' = the packaged targets from shared/data.",
        ),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option("--params", help="Comma-separated uncertainties to calibrate (default all)."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="abc: ABC-SMC (pyabc); npe: amortised neural posterior estimation (sbi) "
            "with SBC, coverage, identifiability and misspecification checks.",
        ),
    ] = "abc",
    until: Annotated[
        int,
        typer.Option("--until", help="Calibrate on observed outcomes up to this year only."),
    ] = 2016,
    population: Annotated[
        int | None, typer.Option("--population", help="ABC: particles.", show_default="100")
    ] = None,
    generations: Annotated[
        int | None,
        typer.Option("--generations", help="ABC: generation limit.", show_default="6"),
    ] = None,
    min_epsilon: Annotated[
        float | None,
        typer.Option(
            "--min-epsilon", help="ABC: stop when the tolerance reaches this.", show_default="0"
        ),
    ] = None,
    min_acceptance: Annotated[
        float | None,
        typer.Option(
            "--min-acceptance", help="ABC: stop below this acceptance rate.", show_default="0.02"
        ),
    ] = None,
    max_simulations: Annotated[
        int | None, typer.Option("--max-simulations", help="ABC: simulation budget.")
    ] = None,
    simulations: Annotated[
        int | None,
        typer.Option(
            "--simulations",
            help="NPE: training simulations (Latin hypercube).",
            show_default="1000",
        ),
    ] = None,
    holdout: Annotated[
        int | None,
        typer.Option(
            "--holdout",
            help="NPE: held-out simulations from the prior for SBC, coverage and recovery.",
            show_default="300",
        ),
    ] = None,
    posterior_samples: Annotated[
        int | None,
        typer.Option(
            "--posterior-samples", help="NPE: posterior samples written.", show_default="1000"
        ),
    ] = None,
    sbc_samples: Annotated[
        int | None,
        typer.Option(
            "--sbc-samples",
            help="NPE: posterior samples per held-out simulation for the ranks.",
            show_default="200",
        ),
    ] = None,
    density: Annotated[
        str | None,
        typer.Option("--density", help="NPE: maf | nsf | mdn.", show_default="maf"),
    ] = None,
    hidden: Annotated[
        int | None,
        typer.Option("--hidden", help="NPE: hidden features per layer.", show_default="50"),
    ] = None,
    transforms: Annotated[
        int | None,
        typer.Option("--transforms", help="NPE: flow transforms.", show_default="5"),
    ] = None,
    embedding: Annotated[
        int | None,
        typer.Option(
            "--embedding",
            help="NPE: features of a small MLP embedding of the summaries (0: none).",
            show_default="0",
        ),
    ] = None,
    max_epochs: Annotated[
        int | None,
        typer.Option("--max-epochs", help="NPE: training epoch limit.", show_default="1000"),
    ] = None,
    ensemble: Annotated[
        int | None,
        typer.Option(
            "--ensemble", help="NPE: flows trained from different seeds, mixed.", show_default="5"
        ),
    ] = None,
    observation: Annotated[
        str | None,
        typer.Option(
            "--observation",
            help="NPE: targets (observed through the targets' ranges and reliability, as "
            "the ABC distance reads them) | exact (the target centres, no error).",
            show_default="targets",
        ),
    ] = None,
    replicates: Annotated[
        int, typer.Option("--replicates", help="Replicates per particle or simulation.")
    ] = 1,
    seed: SeedOption = None,
    years: YearsOption = None,
    sets: OverridesOption = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Workers (1: single core, no Dask).")
    ] = max(1, os.cpu_count() or 1),
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="NPE: auto | serial | processes | dask (ABC runs on Dask when --workers > 1).",
        ),
    ] = "auto",
    scheduler: SchedulerOption = None,
    out: ResultsRootOption = DEFAULT_OUT,
    name: ExperimentNameOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing calibration of that name.")
    ] = False,
    uncalibrated: Annotated[
        str,
        typer.Option(
            "--others",
            help="ABC: the scenario's declared uncertainties not calibrated, in each "
            "simulation: held (at their values) or ranges (drawn uniformly, as a run with "
            "the posterior draws them, so the posterior integrates over them).",
        ),
    ] = "held",
) -> None:
    """Calibration against observed targets (ABC-SMC or NPE); writes a calibrated scenario TOML."""
    if method not in CALIBRATE_METHODS:
        fail(f"--method must be one of {', '.join(CALIBRATE_METHODS)} (got {method!r})")
    abc_given = {
        "--population": population,
        "--generations": generations,
        "--min-epsilon": min_epsilon,
        "--min-acceptance": min_acceptance,
        "--max-simulations": max_simulations,
    }
    npe_given = {
        "--simulations": simulations,
        "--holdout": holdout,
        "--posterior-samples": posterior_samples,
        "--sbc-samples": sbc_samples,
        "--density": density,
        "--hidden": hidden,
        "--transforms": transforms,
        "--embedding": embedding,
        "--max-epochs": max_epochs,
        "--ensemble": ensemble,
        "--observation": observation,
    }
    others = npe_given if method == "abc" else abc_given
    misplaced = [opt for opt, value in others.items() if value is not None]
    if method == "abc" and executor != "auto":
        misplaced.append("--executor")
    if misplaced:
        other = "npe" if method == "abc" else "abc"
        fail(f"{', '.join(misplaced)}: only with --method {other}")
    check_positive("--replicates", replicates)
    check_positive("--workers", workers)
    if method == "npe":
        _calibrate_npe(
            scenario,
            targets,
            params,
            until,
            {
                NPE_FIELDS.get(k, k[2:].replace("-", "_")): v
                for k, v in npe_given.items()
                if v is not None
            },
            replicates=replicates,
            seed=seed,
            years=years,
            sets=sets,
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            out=out,
            name=name,
            force=force,
        )
        return
    _calibrate_abc(
        scenario,
        targets,
        params,
        until,
        population=ABC_DEFAULTS["--population"] if population is None else population,
        generations=ABC_DEFAULTS["--generations"] if generations is None else generations,
        min_epsilon=ABC_DEFAULTS["--min-epsilon"] if min_epsilon is None else min_epsilon,
        min_acceptance=(
            ABC_DEFAULTS["--min-acceptance"] if min_acceptance is None else min_acceptance
        ),
        max_simulations=max_simulations,
        replicates=replicates,
        seed=seed,
        years=years,
        sets=sets,
        workers=workers,
        scheduler=scheduler,
        out=out,
        name=name,
        force=force,
        uncalibrated=uncalibrated,
    )


def _calibration_targets(
    targets: Sequence[str] | None, loaded: Scenario, until: int
) -> tuple[list[Any], list[Any]]:
    """All targets read, and those in the scenario's horizon up to ``until``."""
    from ...experiment.targets import horizon_years, in_horizon

    all_targets = read_targets(targets)
    first, last = horizon_years(loaded.start, loaded.end)
    usable = [t for t in in_horizon(all_targets, range(first, last + 1)) if t.last_year <= until]
    if not usable:
        fail(f"no target up to {until} falls in the scenario's horizon {first}-{last}")
    return all_targets, usable


def _experiment_folder(out: Path, exp: str, force: bool) -> Path:
    """The experiment's folder (not created); refuses an existing one without --force."""
    try:
        cat.check_id(exp)
    except cat.CatalogError as exc:
        fail(str(exc))
    folder = Path(out) / "experiments" / exp
    if folder.exists() and not force:
        fail(f"{folder} exists (use --force to replace it, or --name)")
    return folder


def _calibrate_abc(
    scenario: str,
    targets: Sequence[str] | None,
    params: str | None,
    until: int,
    *,
    population: int,
    generations: int,
    min_epsilon: float,
    min_acceptance: float,
    max_simulations: int | None,
    replicates: int,
    seed: int | None,
    years: float | None,
    sets: Sequence[str] | None,
    workers: int,
    scheduler: str | None,
    out: Path,
    name: str | None,
    force: bool,
    uncalibrated: str = "held",
) -> None:
    """ABC-SMC calibration against observed targets; writes a calibrated scenario TOML."""
    import shutil

    from ...experiment import calibration as cal
    from ...experiment.targets import horizon_years, targets_csv
    from .. import figures as figs
    from ..executors_dask import dask_client, pyabc_sampler

    check_positive("--population", population, 2)
    check_positive("--generations", generations)
    if not 0 <= min_acceptance < 1:
        fail("--min-acceptance must be in [0, 1)")
    require_experiment_extras(
        "calibrate", ["pandas", "pyabc"], on_dask=bool(scheduler) or workers > 1
    )
    if uncalibrated not in ("held", "ranges"):
        fail(f"--others must be held or ranges (got {uncalibrated!r})")
    loaded = load_scenario_for(scenario, years, sets)
    if uncalibrated == "ranges":
        from ...experiment.posterior import with_uncertainty

        # each simulation draws the uncalibrated uncertainties from its own seed; the
        # calibrated ones are held at the particle's values (with_overrides holds them)
        loaded = with_uncertainty(loaded, "ranges")
    root_seed = loaded.seed if seed is None else seed
    all_targets, usable = _calibration_targets(targets, loaded, until)
    first, last = horizon_years(loaded.start, loaded.end)
    try:
        priors = cal.priors_from_scenario(loaded, split_names(params))
        settings = cal.CalibrationSettings(
            population_size=population,
            max_generations=generations,
            min_epsilon=min_epsilon,
            min_acceptance_rate=min_acceptance,
            max_simulations=max_simulations,
            replicates=replicates,
            seed=root_seed,
        )
    except cal.CalibrationError as exc:
        fail(str(exc))
    digest = cat.plan_hash(
        {
            "scenario": loaded.to_dict(),
            "targets": targets_csv(usable),
            "priors": [p.__dict__ for p in priors],
            "settings": settings.__dict__,
            "others": uncalibrated,
        }
    )
    exp = name or f"calibrate-{loaded.name}-{digest[:10]}"
    folder = _experiment_folder(out, exp, force)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store = cat.ExperimentStore(Path(out), exp)
    err = err_console()
    err.print(
        f"calibrating {len(priors)} parameters against {len(usable)} targets "
        f"({len(all_targets) - len(usable)} outside the horizon) with "
        f"{population} particles, up to {generations} generations"
    )
    db_path = (folder / "abc.db").resolve()
    db_url = f"sqlite:///{db_path}"
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            client = None
            if scheduler or workers > 1:
                client = stack.enter_context(dask_client(workers, scheduler))
            update = stack.enter_context(progress_bar(f"ABC-SMC {exp}", "generations"))
            stack.enter_context(_watch_generations(db_path, generations, update))
            result = cal.calibrate(
                loaded,
                usable,
                priors,
                settings,
                db_url=db_url,
                sampler=pyabc_sampler(client),
            )
    except ExecutorError as exc:
        fail(str(exc))
    except cal.CalibrationError as exc:
        fail(str(exc))
    wall = time.perf_counter() - started
    store.write_analysis("posterior", result.populations.assign(method="abc"))
    store.write_analysis("generations", result.generations)
    summary = result.summary()
    store.write_analysis("posterior_summary", summary)
    cat.atomic_text(targets_csv(usable), folder / "targets.csv")
    fig1 = figs.write_png(
        figs.posterior_figure(figs.marginals_of(result), note=figs.posterior_note(result)),
        store.figure_path("posterior_vs_prior.png"),
    )
    fig2 = figs.write_png(
        figs.abc_diagnostics_figure(result), store.figure_path("abc_diagnostics.png")
    )
    cal_name = f"{loaded.name}-calibrated"
    # The calibrated values go into the scenario as given (with its --set values) over its
    # full horizon: --years only shortens the simulations used to calibrate.
    full = load_scenario_for(scenario, None, sets) if years is not None else loaded
    note = f"experiment {exp}" + (
        f", simulated {first}-{last} (--years {years:g})" if years is not None else ""
    )
    toml = cal.calibrated_toml(full, result, name=cal_name, note=note)

    toml_path = folder / f"{cal_name}.toml"
    cat.atomic_text(toml, toml_path)
    manifest = {
        "experiment": exp,
        "kind": "calibrate",
        "method": "abc",
        "scenario": loaded.name,
        "scenario_source": str(loaded.source),
        "status": cat.STATUS_COMPLETE,
        "priors": [p.__dict__ for p in priors],
        "targets": [t.key for t in usable],
        "settings": settings.__dict__,
        "others": uncalibrated,
        "n_runs": result.n_simulations,
        "replicates": replicates,
        "stop_reason": result.stop_reason,
        "wall_seconds": round(wall, 3),
        "calibrated_scenario": str(toml_path),
        "command_line": ["lipsteeth", *sys.argv[1:]],
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }
    cat.atomic_text(cat.dumps(manifest), folder / cat.MANIFEST)
    cat.register_calibration(store, result.populations, [p.name for p in priors])
    con = out_console()
    gens = Table(title=f"ABC-SMC {exp}: {result.stop_reason}")
    for c in ("generation", "epsilon", "simulations", "acceptance", "ESS"):
        gens.add_column(c, justify="right")
    for r in result.generations.itertuples(index=False):
        gens.add_row(
            str(r.generation),
            f"{r.epsilon:.4g}",
            str(r.simulations),
            f"{r.acceptance_rate:.3f}",
            f"{r.ess:.1f}",
        )
    con.print(gens)
    post = Table(title="posterior (weighted median and 90 % interval) vs prior")
    for c in ("parameter", "median", "90 % interval", "prior"):
        post.add_column(c)
    for r in summary.itertuples(index=False):
        post.add_row(
            r.parameter,
            f"{r.median:.4g}",
            f"[{r.low:.4g}, {r.high:.4g}]",
            f"[{r.prior_low:.4g}, {r.prior_high:.4g}]",
        )
    con.print(post)
    con.print(
        f"{result.n_simulations} simulations in {wall:.1f} s; calibrated scenario: {toml_path}"
    )
    con.print(f"figures: {fig1}  {fig2}")


def _calibrate_npe(
    scenario: str,
    targets: Sequence[str] | None,
    params: str | None,
    until: int,
    options: dict[str, Any],
    *,
    replicates: int,
    seed: int | None,
    years: float | None,
    sets: Sequence[str] | None,
    workers: int,
    executor: str,
    scheduler: str | None,
    out: Path,
    name: str | None,
    force: bool,
) -> None:
    """NPE calibration: posterior, certificate (SBC, coverage, recovery, misspecification)."""
    import shutil

    if executor not in EXECUTORS:
        fail(f"--executor must be one of {', '.join(EXECUTORS)}")
    require_experiment_extras(
        "calibrate --method npe",
        ["pandas", "sbi", "torch"],
        on_dask=uses_dask(executor, workers, scheduler),
    )
    from ...experiment import calibration as cal
    from ...experiment import npe
    from ...experiment.targets import horizon_years, targets_csv
    from .. import figures as figs

    loaded = load_scenario_for(scenario, years, sets)
    root_seed = loaded.seed if seed is None else seed
    all_targets, usable = _calibration_targets(targets, loaded, until)
    try:
        settings = npe.NPESettings(replicates=replicates, seed=root_seed, **options)
        priors = cal.priors_from_scenario(loaded, split_names(params))
        # Simulate only as far as the last observation used (unless --years says otherwise).
        simulated = loaded if years is not None else npe.calibration_horizon(loaded, usable, until)
    except cal.CalibrationError as exc:
        fail(str(exc))
    first, last = horizon_years(simulated.start, simulated.end)
    digest = cat.plan_hash(
        {
            "method": "npe",
            "scenario": simulated.to_dict(),
            "targets": targets_csv(usable),
            "priors": [p.__dict__ for p in priors],
            "settings": settings.__dict__,
        }
    )
    exp = name or f"calibrate-npe-{loaded.name}-{digest[:10]}"
    folder = _experiment_folder(out, exp, force)
    err = err_console()
    err.print(
        f"NPE: {len(priors)} parameters, {len(usable)} targets up to {until} "
        f"({len(all_targets) - len(usable)} left out), {settings.simulations} training and "
        f"{settings.holdout} held-out simulations of {simulated.start}..{simulated.end}"
    )
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            ex = stack.enter_context(open_executor(executor, workers, scheduler))
            update = stack.enter_context(progress_bar(f"NPE {exp}", "simulations"))
            result = npe.calibrate_scenario(
                simulated,
                usable,
                priors,
                settings,
                executor=ex,
                progress=update,
                stage=lambda text: err.print(f"NPE: {text}"),
            )
    except ExecutorError as exc:
        fail(str(exc))
    except cal.CalibrationError as exc:
        fail(str(exc))
    wall = time.perf_counter() - started
    # Everything is computed: only now is the folder (re)placed and written.
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store = cat.ExperimentStore(Path(out), exp)
    store.write_analysis("posterior", result.populations.assign(method="npe"))
    store.write_analysis("generations", result.generations)
    summary = result.summary()
    store.write_analysis("posterior_summary", summary)
    payload = _write_certificate(store, result)
    cat.atomic_text(targets_csv(usable), folder / "targets.csv")
    fig1 = figs.write_png(
        figs.posterior_figure(figs.marginals_of(result), note=figs.posterior_note(result)),
        store.figure_path("posterior_vs_prior.png"),
    )
    certificate = figs.certificate_of(result, exp)
    fig2 = figs.write_png(
        figs.certificate_figure(certificate), store.figure_path("npe_diagnostics.png")
    )
    cal_name = f"{loaded.name}-calibrated"
    full = load_scenario_for(scenario, None, sets)
    note = f"experiment {exp}, simulated {first}-{last}, targets up to {until}"
    toml = cal.calibrated_toml(full, result, name=cal_name, note=note)
    toml_path = folder / f"{cal_name}.toml"
    cat.atomic_text(toml, toml_path)
    diag = result.diagnostics
    manifest = {
        "experiment": exp,
        "kind": "calibrate",
        "method": "npe",
        "scenario": loaded.name,
        "scenario_source": str(loaded.source),
        "status": cat.STATUS_COMPLETE,
        "priors": [p.__dict__ for p in priors],
        "targets": [t.key for t in usable],
        "until": until,
        "simulated": {"start": str(simulated.start), "end": str(simulated.end)},
        "settings": settings.__dict__,
        "executor": {"kind": executor, "workers": workers, "scheduler": scheduler},
        "n_runs": result.n_simulations,
        "replicates": replicates,
        "diagnostics": {
            "passed": diag.passed,
            "sbc_passed": bool(diag.sbc["passed"]),
            "coverage_passed": diag.coverage_passed,
            "coverage_50": diag.coverage_at(0.5).hpd,
            "coverage_90": diag.coverage_at(0.9).hpd,
            "misspecification_flagged": bool(diag.misspecification["flagged"]),
            "identified": [
                r["parameter"] for r in diag.identifiability if r["label"] == "identified"
            ],
        },
        "fingerprint": payload["training"]["fingerprint"],
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "wall_seconds": round(wall, 3),
        "calibrated_scenario": str(toml_path),
        "command_line": ["lipsteeth", *sys.argv[1:]],
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }
    cat.atomic_text(cat.dumps(manifest), folder / cat.MANIFEST)
    cat.register_calibration(store, result.populations, [p.name for p in priors], method="npe")
    _print_npe(result, certificate, summary, exp, wall, toml_path, [fig1, fig2])


def _write_certificate(store: cat.ExperimentStore, result: NPEResult) -> dict[str, Any]:
    """Write an NPE calibration's certificate beside ABC-SMC's files; returns its JSON.

    ``analysis/``: ``npe_training`` (split, index, parameters ``theta:*``, simulated
    summaries ``sim:*``, the network's inputs ``x:*``), ``npe_sbc_ranks`` (per
    held-out simulation: rank per parameter, then ``joint``), ``npe_coverage`` (per
    credibility level), ``npe_identifiability`` (per parameter), ``npe_misspecification``
    (per summary), ``npe_standardiser`` and ``npe_observation`` (the network's input
    transform and the targets' error model); ``npe_diagnostics.json``: every check,
    its rule and result, and the training (``NPEResult.certificate()``).
    """
    import pandas as pd

    from ..report.certificate import DIAGNOSTICS_JSON, RANKS_TABLE

    names = [p.name for p in result.priors]
    d = result.diagnostics
    frames = []
    for split, theta, m, x in (
        ("train", result.theta_train, result.m_train, result.x_train),
        ("holdout", result.theta_holdout, result.m_holdout, result.x_holdout),
    ):
        columns: dict[str, Any] = {"split": split, "index": np.arange(len(theta))}
        columns.update({f"theta:{n}": theta[:, k] for k, n in enumerate(names)})
        columns.update({f"sim:{n}": m[:, k] for k, n in enumerate(result.summary_names)})
        columns.update({f"x:{n}": x[:, k] for k, n in enumerate(result.summary_names)})
        frames.append(pd.DataFrame(columns))
    store.write_analysis("npe_training", pd.concat(frames, ignore_index=True))
    ranks = pd.DataFrame(d.ranks[:, : len(names)], columns=names)
    ranks.insert(0, "holdout", np.arange(len(ranks)))
    ranks["joint"] = d.ranks[:, -1]
    store.write_analysis(RANKS_TABLE, ranks)
    store.write_analysis("npe_coverage", pd.DataFrame([r.to_dict() for r in d.coverage]))
    store.write_analysis("npe_identifiability", pd.DataFrame(d.identifiability))
    store.write_analysis("npe_misspecification", pd.DataFrame(d.misspecification["summaries"]))
    store.write_analysis(
        "npe_standardiser",
        pd.DataFrame(result.trained.standardiser.to_dict(result.summary_names)),
    )
    store.write_analysis(
        "npe_observation", pd.DataFrame(result.observation.to_dict(result.summary_names))
    )
    payload: dict[str, Any] = result.certificate()
    store.write_json(DIAGNOSTICS_JSON, payload)
    return payload


def _print_npe(
    result: NPEResult,
    certificate: Certificate,
    summary: pd.DataFrame,
    exp: str,
    wall: float,
    toml_path: Path,
    figs: list[Path],
) -> None:
    """The human summary of an NPE calibration: checks, recovery, posterior."""
    from ..report.certificate import certificate_rows

    con = out_console()
    verdict = "PASSED" if certificate.passed else "FAILED"
    checks = Table(title=f"NPE {exp}: certificate {verdict}")
    for c in ("check", "value", "result"):
        checks.add_column(c)
    for row in certificate_rows(certificate):
        checks.add_row(row["check"], row["value"], row["result"])
    con.print(checks)
    ident = Table(title="identifiability (held-out recovery)")
    for c in ("parameter", "correlation", "width ratio", "label"):
        ident.add_column(c, justify="left" if c in ("parameter", "label") else "right")
    for r in sorted(certificate.identifiability, key=lambda r: -r["correlation"]):
        ident.add_row(
            r["parameter"], f"{r['correlation']:.2f}", f"{r['width_ratio']:.2f}", r["label"]
        )
    con.print(ident)
    post = Table(title="posterior (median and 90 % interval) vs prior")
    for c in ("parameter", "median", "90 % interval", "prior"):
        post.add_column(c)
    for r in summary.itertuples(index=False):
        post.add_row(
            r.parameter,
            f"{r.median:.4g}",
            f"[{r.low:.4g}, {r.high:.4g}]",
            f"[{r.prior_low:.4g}, {r.prior_high:.4g}]",
        )
    con.print(post)
    s = result.seconds
    con.print(
        f"{result.n_simulations} simulations ({s.get('simulate', 0):.1f} s), training "
        f"{result.trained.epochs} epochs ({s.get('train', 0):.1f} s), diagnostics "
        f"{s.get('diagnostics', 0):.1f} s; {wall:.1f} s in all; calibrated scenario: {toml_path}"
    )
    con.print("figures: " + "  ".join(str(f) for f in figs))


@contextlib.contextmanager
def _watch_generations(
    db_path: Path, total: int, update: Callable[[int, int], None], every: float = 1.0
) -> Iterator[None]:
    """Poll pyabc's history database (read-only) and advance the bar per finished generation."""
    import logging
    import sqlite3
    import threading

    for name in ("ABC", "ABC.History", "ABC.Sampler", "ABC.Population", "ABC.Distance"):
        logging.getLogger(name).setLevel(logging.WARNING)
    stop = threading.Event()

    def snapshot() -> None:
        if not db_path.is_file():
            return
        with contextlib.suppress(sqlite3.Error):
            con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
            try:
                row = con.execute("SELECT count(*) FROM populations WHERE t >= 0").fetchone()
            finally:
                con.close()
            update(min(int(row[0]), total), total)

    def poll() -> None:
        update(0, total)
        while not stop.wait(every):
            snapshot()

    thread = threading.Thread(target=poll, name="abc-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        snapshot()


# ---------------------------------------------------------------------------
# discover


def discover(
    results: Annotated[
        Path, typer.Argument(help="Results root (with --experiment) or an experiment folder.")
    ],
    outcome: Annotated[str, typer.Option("--outcome", help="Outcome NAME or NAME@YEAR.")],
    threshold: Annotated[float, typer.Option("--threshold", help="Cases of interest: > X.")],
    below: Annotated[
        bool, typer.Option("--below", help="Cases of interest are below the threshold.")
    ] = False,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Experiment in the results root.")
    ] = None,
    boxes: Annotated[int, typer.Option("--boxes", help="Boxes to look for.")] = 1,
    density: Annotated[
        float, typer.Option("--density", help="PRIM's density threshold for a box.")
    ] = 0.5,
    min_coverage: Annotated[
        float, typer.Option("--min-coverage", help="Pick the densest box with this coverage.")
    ] = 0.5,
    peel_alpha: Annotated[
        float, typer.Option("--peel-alpha", help="Share peeled per step.")
    ] = 0.05,
    mass_min: Annotated[float, typer.Option("--mass-min", help="Smallest box mass.")] = 0.05,
    factors: Annotated[
        str | None, typer.Option("--factors", help="Comma-separated factors to use.")
    ] = None,
) -> None:
    """Scenario discovery with PRIM: boxes of the factor space where an outcome crosses X."""
    from ...experiment.discovery import DiscoveryError
    from ...experiment.discovery import discover as prim_discover
    from .. import figures as figs

    check_positive("--boxes", boxes)
    require_experiment_extras("discover", ["pandas", "ema_workbench"])
    store = _open_experiment(results, experiment)
    _check_metric_name(outcome, store.metric_names())
    X = store.factor_frame()
    y_series = _metric_or_fail(store, outcome)
    chosen = split_names(factors)
    if chosen:
        missing = [f for f in chosen if f not in X.columns]
        if missing:
            fail(f"--factors: {', '.join(missing)} not varied in {store.experiment}")
        X = X[chosen]
    X = X[[c for c in X.columns if X[c].nunique() > 1]]
    if X.shape[1] == 0:
        fail(f"experiment {store.experiment} varies no factor")
    y = y_series[X.index.to_numpy(dtype=int)]
    with err_console().status("PRIM peeling"):
        try:
            res = prim_discover(
                X.reset_index(drop=True),
                y,
                threshold,
                outcome=outcome,
                below=below,
                max_boxes=boxes,
                density_threshold=density,
                min_coverage=min_coverage,
                peel_alpha=peel_alpha,
                mass_min=mass_min,
            )
        except DiscoveryError as exc:
            fail(str(exc))
    import pandas as pd

    slug = f"{_slug(outcome)}_{'lt' if below else 'gt'}_{_slug(f'{threshold:g}')}"
    limits = pd.DataFrame(
        [r for b in res.boxes for r in b.records()], columns=["box", "factor", "low", "high"]
    )
    stats = pd.DataFrame(
        [
            {
                "box": b.index,
                "coverage": b.coverage,
                "density": b.density,
                "mass": b.mass,
                "n_restricted": len(b.limits),
                "n_points": b.n_points,
                "n_of_interest": b.n_of_interest,
                "selected_step": b.selected_step,
                "meets_threshold": b.meets_threshold,
            }
            for b in res.boxes
        ]
    )
    traj = (
        pd.concat([b.trajectory.assign(box=b.index) for b in res.boxes], ignore_index=True)
        if res.boxes
        else pd.DataFrame()
    )
    store.write_analysis(f"prim_{slug}_limits", limits)
    store.write_analysis(f"prim_{slug}_boxes", stats)
    store.write_analysis(f"prim_{slug}_trajectory", traj)
    bounds = {f["name"]: (f["low"], f["high"]) for f in store.manifest()["design"]["space"]}
    fig1 = figs.write_png(figs.peeling_figure(res), store.figure_path(f"prim_{slug}_peeling.png"))
    fig2 = figs.write_png(
        figs.prim_figure(figs.prim_boxes_of(res, bounds)),
        store.figure_path(f"prim_{slug}_limits.png"),
    )
    con = out_console()
    word = "<" if below else ">"
    con.print(f"{res.n_of_interest} of {res.n_points} runs have {outcome} {word} {threshold:g}")
    for b in res.boxes:
        table = Table(
            title=f"box {b.index}: coverage {b.coverage:.2f}, density {b.density:.2f}, "
            f"mass {b.mass:.2f}" + ("" if b.meets_threshold else " (below density threshold)")
        )
        table.add_column("factor", style="cyan")
        table.add_column("low", justify="right")
        table.add_column("high", justify="right")
        table.add_column("full range", justify="right")
        for fname, (lo, hi) in b.limits.items():
            blo, bhi = bounds.get(fname, (float("nan"), float("nan")))
            table.add_row(fname, f"{lo:.4g}", f"{hi:.4g}", f"[{blo:.4g}, {bhi:.4g}]")
        con.print(table)
    con.print(f"figures: {fig1}  {fig2}")
    store.write_json(
        f"prim_{slug}.json",
        {
            "outcome": outcome,
            "threshold": threshold,
            "direction": res.direction,
            "n_points": res.n_points,
            "n_of_interest": res.n_of_interest,
            "boxes": [
                {
                    "limits": b.limits,
                    "coverage": b.coverage,
                    "density": b.density,
                    "mass": b.mass,
                    "meets_threshold": b.meets_threshold,
                }
                for b in res.boxes
            ],
            "settings": res.settings,
        },
    )


def _open_experiment(results: Path, experiment: str | None) -> cat.ExperimentStore:
    try:
        root, exp = cat.locate(results)
    except cat.CatalogError as exc:
        fail(str(exc))
    exp = experiment or exp
    if exp is None:
        names = [
            n for n in cat.experiments_in(root) if (root / "experiments" / n / cat.PLAN).is_file()
        ]
        if len(names) == 1:
            exp = names[0]
        else:
            fail(
                f"{results} holds {len(names)} sweep experiments: name one with --experiment "
                f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
            )
    try:
        store = cat.ExperimentStore.open(root, exp)
    except cat.CatalogError as exc:
        fail(str(exc))
    if not (store.path / cat.PLAN).is_file():
        fail(f"experiment {exp} is not a sweep (no planned runs to analyse)")
    return store


# ---------------------------------------------------------------------------
# query


def query(
    results: Annotated[
        Path, typer.Argument(help="Results root (catalog.duckdb) or a `run` results folder.")
    ],
    sql: Annotated[str, typer.Argument(help="SQL (read-only) over the catalog tables.")],
    limit: Annotated[int, typer.Option("--limit", help="Rows shown in the table.")] = 50,
    fmt_out: Annotated[
        str, typer.Option("--format", help="table | csv | json (csv/json: all rows).")
    ] = "table",
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Rebuild the catalog from the Parquet files first.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds a query may run before it is stopped.")
    ] = sro.TIMEOUT_SECONDS,
    max_rows: Annotated[
        int,
        typer.Option("--max-rows", help="Rows a query may return (csv/json refuse more)."),
    ] = sro.MAX_ROWS,
) -> None:
    """One read-only SELECT over the results (tables: experiments, runs, parameters, outcomes, ...).

    The statement is parsed by DuckDB and must be a single SELECT; the database is
    opened read-only with no file, network or extension access (issue 17, items 1-3).
    """
    if fmt_out not in ("table", "csv", "json"):
        fail("--format must be table, csv or json")
    if not (math.isfinite(timeout) and timeout > 0):
        fail("--timeout must be a positive number of seconds")
    check_positive("--max-rows", max_rows)
    check_positive("--limit", limit)
    require_experiment_extras("query", ["pandas"])
    try:
        if cat.is_run_folder(results):
            result = cat.query_run_folder(results, sql, timeout=timeout, max_rows=max_rows)
        else:
            root, _ = cat.locate(results)
            if refresh:
                cat.rebuild(root)
            result = cat.query(root, sql, timeout=timeout, max_rows=max_rows)
    except cat.CatalogError as exc:
        fail(str(exc))
    df = result.frame
    if result.more and fmt_out != "table":
        fail(
            f"the query returns more than --max-rows {max_rows} rows: "
            "add a LIMIT or a WHERE, or raise --max-rows"
        )
    if fmt_out == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    if fmt_out == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso") + "\n")
        return
    con = out_console()
    count = f"more than {max_rows} row(s)" if result.more else f"{len(df)} row(s)"
    table = Table(title=count + (f", first {limit} shown" if len(df) > limit else ""))
    for c in df.columns:
        table.add_column(str(c))
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    con.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:80]
    return str(value)


# ---------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add the experiment commands to the main app."""
    app.command("sweep")(sweep)
    app.command("sensitivity")(sensitivity)
    app.command("calibrate")(calibrate)
    app.command("discover")(discover)
    app.command("query")(query)


def frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Same rows and values (used by tests comparing experiments)."""
    return bool(a.reset_index(drop=True).equals(b.reset_index(drop=True)))
