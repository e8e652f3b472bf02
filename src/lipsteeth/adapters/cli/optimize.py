"""Lever search under deep uncertainty: ``optimize`` (issue 15, item 4).

``lipsteeth optimize SCENARIO --spec FILE.toml`` searches lever values with NSGA-II
(``experiment.optimize``), each candidate evaluated over a fixed set of futures, and
checkpoints every generation (``--resume``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.table import Table

from ...experiment import budget
from ...experiment import robustness as rb
from ...scenario import Scenario, apply_policy
from .. import catalog as cat
from .. import store as results_store
from ..executors_dask import ExecutorError, open_executor
from .experiment_inputs import (
    DEFAULT_OUT,
    check_executor,
    prepared_scenario,
    read_spec_file,
    require_experiment_extras,
    uses_dask,
)
from .experiment_runs import (
    err_console,
    experiment_versions,
    fmt,
    out_console,
    progress_bar,
)
from .inputs import check_budget, fail
from .options import (
    AllowLargeOption,
    ExecutorOption,
    ExperimentNameOption,
    OverridesOption,
    PosteriorOption,
    ResultsRootOption,
    ScenarioArgument,
    SchedulerOption,
    UncertaintyOption,
    WorkersOption,
    YearsOption,
)

if TYPE_CHECKING:
    import pandas as pd


CHECKPOINT = "checkpoint.pkl"
CHECKPOINT_INFO = "checkpoint.json"
CHECKPOINT_MAGIC = b"lipsteeth-optimize-checkpoint sha256="


def optimize(
    scenario: ScenarioArgument,
    spec: Annotated[
        Path,
        typer.Option(
            "--spec",
            help="TOML: \\[optimize] (futures, population, generations, seed, from, "
            "base_policy), \\[\\[levers]] (name, low, high), \\[\\[objectives]] (as for "
            "robust, plus metric and optimize), \\[\\[constraints]] (objective, metric, "
            "at_least | at_most).",
        ),
    ],
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Root seed of the futures (default: the scenario's)."),
    ] = None,
    years: YearsOption = None,
    sets: OverridesOption = None,
    uncertainty: UncertaintyOption = "auto",
    posterior: PosteriorOption = None,
    workers: WorkersOption = 1,
    scheduler: SchedulerOption = None,
    executor: ExecutorOption = "auto",
    out: ResultsRootOption = DEFAULT_OUT,
    name: ExperimentNameOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a killed search from its last generation.")
    ] = False,
    allow_large: AllowLargeOption = False,
) -> None:
    """Multi-objective search (NSGA-II) over lever values, robust over a fixed set of futures."""
    from ...experiment import optimize as opt

    check_executor(workers, executor)
    require_experiment_extras(
        "optimize", ["pymoo", "pandas"], on_dask=uses_dask(executor, workers, scheduler)
    )
    base = prepared_scenario(scenario, years, sets, uncertainty, posterior)
    document = read_spec_file(spec, "--spec")
    try:
        search_spec = opt.parse_spec(document, str(spec), base)
    except opt.SearchError as exc:
        fail(str(exc))
    root_seed = base.seed if seed is None else seed
    if root_seed < 0:
        fail(f"--seed must be >= 0 (got {root_seed})")
    base = opt.with_base_policy(base, search_spec)
    for corner in (
        [lo for _, lo, _ in search_spec.levers],
        [hi for _, _, hi in search_spec.levers],
    ):
        apply_policy(base, opt.candidate_policy(search_spec, corner))  # refused in one line
    runs = search_spec.population * search_spec.generations * search_spec.futures
    estimate = budget.run_budget(base.params, base.calendar.n_days, runs, search_spec.futures)
    check_budget(
        f"about {runs:,} simulations over {base.calendar.n_days} days",
        estimate,
        allow_large=allow_large,
    )
    digest = opt.spec_digest(search_spec, base, root_seed)
    exp = name or f"optimize-{base.name}-{digest[:10]}"
    try:
        cat.check_id(exp)
    except cat.CatalogError as exc:
        fail(str(exc))
    folder = Path(out) / "experiments" / exp
    try:
        with results_store.target_lock(folder, Path(out) / f".experiment-{exp}.lock"):
            _optimize(
                opt,
                search_spec,
                base,
                root_seed,
                digest,
                folder,
                exp,
                resume,
                executor,
                workers,
                scheduler,
            )
    except results_store.ResultsFolderError as exc:
        fail(str(exc))
    out_console().print(f"results: {folder}  (summary.json, analysis/, figures/)")


def _read_checkpoint(opt: Any, folder: Path, digest: str) -> Any:
    path = folder / CHECKPOINT
    try:
        raw = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read the checkpoint: {exc.strerror or exc}")
    head, _, payload = raw.partition(b"\n")
    if not head.startswith(CHECKPOINT_MAGIC):
        fail(f"{path}: not a lipsteeth optimize checkpoint")
    if hashlib.sha256(payload).hexdigest().encode() != head[len(CHECKPOINT_MAGIC) :]:
        fail(f"{path}: the checkpoint does not match its SHA-256 (damaged): start afresh")
    try:
        return opt.load_checkpoint(payload, digest, str(path))
    except opt.SearchError as exc:
        fail(str(exc))


def _write_checkpoint(opt: Any, folder: Path, search: Any, spec: Any) -> None:
    """The whole search (atomic), then a readable summary of it beside it."""
    payload = opt.checkpoint_bytes(search)
    digest = hashlib.sha256(payload).hexdigest().encode()
    path = folder / CHECKPOINT
    cat.atomic_bytes(CHECKPOINT_MAGIC + digest + b"\n" + payload, path)
    algorithm = search.algorithm
    pop = algorithm.pop
    cat.atomic_text(
        cat.dumps(
            {
                "generation": search.generation,
                "generations": spec.generations,
                "evaluations": len(search.history),
                "checkpoint_sha256": digest.decode(),
                "population": {
                    "X": np.asarray(pop.get("X"), dtype=float).tolist(),
                    "F": np.asarray(pop.get("F"), dtype=float).tolist(),
                },
                "random_state": algorithm.random_state.bit_generator.state,
            }
        ),
        folder / CHECKPOINT_INFO,
    )


def _optimize(
    opt: Any,
    spec: Any,
    base: Scenario,
    seed: int,
    digest: str,
    folder: Path,
    exp: str,
    resume: bool,
    executor: str,
    workers: int,
    scheduler: str | None,
) -> dict[str, Any]:
    err = err_console()
    manifest_path = folder / cat.MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("plan_sha256") != digest:
            fail(
                f"experiment {exp} in {folder.parent.parent} is another search (spec, scenario "
                "or seed): choose another --name"
            )
        if manifest.get("status") == cat.STATUS_COMPLETE:
            err.print(f"search {exp} is complete: reusing it")
            return json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        if not resume:
            fail(f"search {exp} is incomplete: rerun with --resume to continue it")
        if (folder / CHECKPOINT).is_file():
            search = _read_checkpoint(opt, folder, digest)
            err.print(f"resuming {exp} after generation {search.generation} of {spec.generations}")
        else:
            search = opt.new_search(spec, digest)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {
            "kind": "optimize",
            "experiment": exp,
            "scenario": base.name,
            "scenario_source": str(base.source),
            "plan_sha256": digest,
            "spec": spec.to_dict(),
            "spec_source": spec.source,
            "seed": seed,
            "rules": [str(rule["name"]) for rule in spec.rules],
            "status": cat.STATUS_RUNNING,
            "command_line": ["lipsteeth", *sys.argv[1:]],
            "versions": {**experiment_versions(), "pymoo": _pymoo_version()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        cat.atomic_text(base.to_toml(), folder / "scenario.toml")
        cat.atomic_text(cat.dumps(manifest), manifest_path)
        search = opt.new_search(spec, digest)
    model = opt.CandidateModel(base, spec, seed)
    started = time.perf_counter()
    try:
        with open_executor(executor, workers, scheduler) as ex:
            err.print(
                f"NSGA-II: population {spec.population}, {spec.generations} generations, "
                f"{spec.futures} futures per candidate, on {ex.name} ({ex.workers} worker(s))"
            )
            with progress_bar(f"optimize {exp}", "generations") as update:
                update(search.generation, spec.generations)
                while not search.done():
                    opt.step(search, spec, model, ex)
                    _write_checkpoint(opt, folder, search, spec)
                    update(search.generation, spec.generations)
    except ExecutorError as exc:
        fail(str(exc))
    wall = time.perf_counter() - started
    summary = analyse_search(opt, search, spec, folder, exp)
    summary.update({"wall_seconds_last_session": round(wall, 3), "seed": seed})
    cat.atomic_text(cat.dumps(summary), folder / "summary.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest.update(status=cat.STATUS_COMPLETE, generations_done=search.generation)
    cat.atomic_text(cat.dumps(manifest), manifest_path)
    return summary


def _pymoo_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("pymoo")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return None


def analyse_search(opt: Any, search: Any, spec: Any, folder: Path, exp: str) -> dict[str, Any]:
    """The Pareto set, its robustness table (every metric, regret among the set), figures."""
    import pandas as pd

    from .. import figures as figs

    front = opt.pareto(search, spec)
    lever_names = [n for n, _, _ in spec.levers]
    goal_labels = [g.label for g in spec.goals]
    n = front["X"].shape[0]
    labels = [f"solution-{i}" for i in range(n)]
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"solution": labels[i]}
        row.update({lever: float(front["X"][i, j]) for j, lever in enumerate(lever_names)})
        row.update({label: float(front["metrics"][i, j]) for j, label in enumerate(goal_labels)})
        for j, c in enumerate(spec.constraints):
            row[f"violation:{c.goal.label}"] = float(front["violations"][i, j])
        rows.append(row)
    pareto_frame = pd.DataFrame(rows)
    analysis = folder / "analysis"
    cat.atomic_parquet(_arrow(pareto_frame), analysis / "pareto.parquet")
    history = pd.DataFrame(
        [
            {
                "generation": h["generation"],
                **{lever: h["x"][j] for j, lever in enumerate(lever_names)},
                **{label: h["metrics"][j] for j, label in enumerate(goal_labels)},
            }
            for h in search.history
        ]
    )
    cat.atomic_parquet(_arrow(history), analysis / "history.parquet")
    table_records: list[dict[str, Any]] = []
    ranking: list[dict[str, Any]] = []
    if n:
        table = rb.robustness(np.asarray(front["values"]), labels, list(spec.objectives))
        table_records = table.records()
        ranking = table.ranking_records()
        cat.atomic_parquet(
            _arrow(pd.DataFrame(table_records)), analysis / "pareto_robustness.parquet"
        )
        figure = figs.parallel_figure(
            np.column_stack([front["X"], front["metrics"]]),
            [*lever_names, *goal_labels],
            title=f"Pareto set of {exp}",
        )
        fig_path = figs.write_png(figure, folder / "figures" / "pareto_parallel.png")
        regret_path = figs.write_png(
            figs.regret_figure(
                table.metrics["p90_regret"],
                labels,
                [o.name for o in spec.objectives],
                units=[o.to_dict()["unit"] for o in spec.objectives],
            ),
            folder / "figures" / "pareto_regret.png",
        )
        figures = [str(fig_path), str(regret_path)]
    else:
        figures = []
    con = out_console()
    t = Table(title=f"Pareto set: {n} solution(s) after {search.generation} generations")
    t.add_column("solution", style="cyan")
    for column in [*lever_names, *goal_labels]:
        t.add_column(column, justify="right")
    for row in rows:
        t.add_row(row["solution"], *[fmt(row[c]) for c in [*lever_names, *goal_labels]])
    con.print(t)
    return {
        "experiment": exp,
        "generations": search.generation,
        "evaluations": len(search.history),
        "levers": lever_names,
        "goals": goal_labels,
        "pareto": rows,
        "robustness": table_records,
        "ranking": ranking,
        "rules": [str(rule["name"]) for rule in spec.rules],
        "figures": figures,
    }


def _arrow(frame: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to the main app."""
    app.command("optimize")(optimize)
