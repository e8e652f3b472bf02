"""Planned, checkpointed experiment runs and their display, shared by ``sweep`` and
``sensitivity`` (and the consoles, progress bar and number format of every
experiment command).

:func:`run_planned_experiment` plans the runs of a design (one seed per run from
the root seed), writes the plan before the first run and checkpoints run by run
(``adapters.catalog``): after a crash or a ``kill -9`` the same command with
``--resume`` completes the experiment with exactly the planned runs and the same
numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
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

from ...experiment import designs as designs_mod
from ...experiment.designs import Design, DesignError, Space
from ...experiment.executors import Executor
from ...experiment.sweep import (
    RunOutput,
    RunSpec,
    ScenarioModel,
    plan_runs,
    run_sweep,
)
from .. import catalog as cat
from .. import store as results_store
from ..executors_dask import ExecutorError, open_executor
from .inputs import fail

if TYPE_CHECKING:
    from ...scenario import Scenario


MAX_RUNS = 2_000_000


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


def fmt(value: Any) -> str:
    """Compact number for the experiment tables: 13, 0.05, 0.0005, 12.3k; None is n/a.

    Kept apart from ``adapters.console.fmt`` on purpose: that one prints three
    significant digits with fixed decimals (13.0, 0.050, 5.00e-04) and would change
    the digits every sweep, sensitivity and calibration table prints.
    """
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


def file_slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


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
    store = cat.ExperimentStore(out, exp)
    model = ScenarioModel.for_design(scenario, design)
    if store.exists():
        resumed = resume_experiment(
            store, plan, digest, resume, "another scenario, design, seed or replicates"
        )
        if resumed is None:
            return store, {"wall_seconds": 0.0, "new_runs": 0, "resumed": False}
        done = resumed
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
            "versions": experiment_versions(),
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
    info = run_and_finalize(
        store,
        model,
        plan,
        done,
        (executor, workers, scheduler),
        f"{kind} {exp}",
        lambda ex, todo: f"{todo} runs to do on {ex.name} ({ex.workers} worker(s))",
    )
    return store, info


def resume_experiment(
    store: cat.ExperimentStore, plan: Any, digest: str, resume: bool, what_differs: str
) -> set[int] | None:
    """The checks of an experiment folder that already exists: the runs done, None if complete.

    A corrupted manifest or plan ends in one line with nothing touched; another plan
    (``what_differs`` says what that means for the command), or an incomplete experiment
    without ``--resume``, is refused; rejected checkpoints are listed (and removed with
    ``--resume``).  A status edited to complete does not make missing runs done (issue 17,
    item 9).  Shared by every checkpointed experiment command (sweep, sensitivity,
    discover, robust).
    """
    err = err_console()
    exp, out = store.experiment, store.root
    manifest = store.manifest()
    store.plan_frame()
    if manifest.get("plan_sha256") != digest:
        fail(
            f"experiment {exp} in {out} has a different plan ({what_differs}): "
            "choose another --name"
        )
    done, problems = store.verified_runs(plan, remove=resume)
    for problem in problems[:10]:
        err.print(f"checkpoint rejected{', will rerun' if resume else ''}: {problem}")
    if len(problems) > 10:
        err.print(f"... and {len(problems) - 10} more checkpoints rejected")
    if manifest.get("status") == cat.STATUS_COMPLETE and len(done) == len(plan):
        err.print(f"experiment {exp} is complete ({len(done)} runs): reusing its runs and results")
        return None
    if not resume:
        fail(
            f"experiment {exp} is incomplete ({len(done)} of {len(plan)} runs done): "
            "rerun with --resume to complete it"
        )
    store.clean_temporaries()
    err.print(f"resuming {exp}: {len(done)} of {len(plan)} runs already done")
    return done


def run_and_finalize(
    store: cat.ExperimentStore,
    model: Any,
    plan: Any,
    done: set[int],
    executor_options: tuple[str, int, str | None],
    label: str,
    describe: Callable[[Executor, int], str],
) -> dict[str, Any]:
    """Run the plan's missing runs on an executor, checkpointing each, then finalize the store.

    ``executor_options`` is (executor, workers, scheduler); ``describe`` the line printed
    once the executor is up.  Every failure is one line; finished runs stay checkpointed.
    """
    from ...scenario import ScenarioError

    err = err_console()
    started = time.perf_counter()
    todo = len(plan) - len(done)

    def checkpoint(spec: RunSpec, output: RunOutput) -> None:
        store.write_run(spec, output)

    try:
        with (
            open_executor(*executor_options) as ex,
            progress_bar(label, "runs") as update,
        ):
            err.print(describe(ex, todo))
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
    return {"wall_seconds": wall, "new_runs": todo, "resumed": bool(done)}


def experiment_versions() -> dict[str, str | None]:
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


def register_analyses(store: cat.ExperimentStore) -> None:
    """An experiment's analyses into the catalog (``sensitivity_indices``, ``prim_boxes``).

    The analysis files are written whatever happens here: a catalog that cannot take
    the rows now gets one warning line, and ``query --refresh`` loads them later.  An
    unfinished experiment is not in the catalog yet: its analyses wait for it (they
    are loaded with its runs when it completes, or by a rebuild).
    """
    if store.manifest().get("status") != cat.STATUS_COMPLETE:
        return
    try:
        cat.register_analyses(store)
    except cat.CatalogError as exc:
        sys.stderr.write(
            f"warning: the analyses of {store.experiment} are not in the catalog yet ({exc}); "
            "`lipsteeth query --refresh` loads them\n"
        )


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
