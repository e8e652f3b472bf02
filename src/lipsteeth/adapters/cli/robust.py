"""Policy analysis under deep uncertainty: ``robust`` (issue 15, item 3).

``lipsteeth robust SCENARIO --policies A,B,C --futures N`` runs every policy
(``lipsteeth policies``) over the same N sampled futures: replicate indices
``0..N-1`` under one root seed, each drawing its parameters from the scenario's
uncertainty (its shipped posterior by default, ``--posterior`` / ``--uncertainty``
as for ``run``) and its simulation streams, identical under every policy (common
random numbers).  The runs are a checkpointed experiment like a sweep's (one run =
one policy over a chunk of futures; ``adapters.catalog``): a killed ``robust``
loses at most the runs in flight and ``--resume`` completes it with the same
numbers.  The analysis (objectives, robustness metrics, the ranking table, PRIM
boxes of the futures where each policy fails a threshold; ``experiment.robustness``,
``experiment.discovery``) is recomputed from the stored runs, so new
``--thresholds`` on a finished experiment cost no simulation.

The lever search is ``optimize`` (its own module).
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.table import Table

from ...experiment import budget
from ...experiment import robustness as rb
from ...scenario import Policy, Scenario, apply_policy, load_policy
from .. import catalog as cat
from .. import store as results_store
from .experiment_inputs import (
    DEFAULT_OUT,
    check_executor,
    check_positive,
    prepared_scenario,
    read_spec_file,
    require_experiment_extras,
    split_names,
    uses_dask,
)
from .experiment_runs import (
    err_console,
    experiment_versions,
    fmt,
    out_console,
    resume_experiment,
    run_and_finalize,
)
from .inputs import check_budget, fail
from .options import (
    AllowLargeOption,
    ExecutorOption,
    ExperimentNameOption,
    OverridesOption,
    PosteriorOption,
    ResultsRootOption,
    ResumeOption,
    ScenarioArgument,
    SchedulerOption,
    SeedOption,
    UncertaintyOption,
    WorkersOption,
    YearsOption,
)

if TYPE_CHECKING:
    import pandas as pd

MAX_FUTURES = 100_000
MAX_POLICIES = 20
#: the metrics shown in the terminal's robustness table (all are in the files)
SHOWN_METRICS = ("expected", "p10", "p90", "maximin", "minimax_regret", "p90_regret", "satisficing")


# ---------------------------------------------------------------------------
# inputs shared by robust and optimize


def read_objectives(path: Path | None, scenario: Scenario) -> list[rb.Objective]:
    """Objectives from ``--objectives FILE`` (``[[objectives]]`` tables) or the defaults."""
    if path is None:
        return rb.default_objectives(scenario)
    document = read_spec_file(path, "--objectives")
    try:
        return rb.parse_objectives(document, str(path), scenario)
    except rb.RobustnessError as exc:
        fail(str(exc))


def load_policies(names: list[str]) -> list[Policy]:
    """The policies named on the command line (shipped names or paths), names unique."""
    if not names:
        fail("--policies: name at least one policy (lipsteeth policies list)")
    if len(names) > MAX_POLICIES:
        fail(f"--policies: at most {MAX_POLICIES} policies (got {len(names)})")
    policies = [load_policy(name) for name in names]
    seen: dict[str, str] = {}
    for given, policy in zip(names, policies, strict=True):
        if policy.name in seen:
            fail(
                f"--policies: {given} and {seen[policy.name]} are both named {policy.name!r} "
                "(a policy's [policy] name must be unique in one comparison)"
            )
        seen[policy.name] = given
    return policies


# ---------------------------------------------------------------------------
# robust


def robust(
    scenario: ScenarioArgument,
    policies: Annotated[
        str,
        typer.Option(
            "--policies", help="Comma-separated policies: shipped names or policy TOML paths."
        ),
    ],
    futures: Annotated[
        int, typer.Option("--futures", help="Sampled futures (replicates), shared by policies.")
    ] = 100,
    objectives: Annotated[
        Path | None,
        typer.Option(
            "--objectives",
            help="TOML of \\[\\[objectives]] (name, outcome, statistic, direction, threshold, "
            "from, to, relative_to); default: tests, revenue, economy vs Beijing's collapse "
            "line, exodus, arrivals, restaurant revenue.",
        ),
    ] = None,
    thresholds: Annotated[
        str | None,
        typer.Option(
            "--thresholds",
            help="Satisficing thresholds NAME=VALUE,... (<= for min objectives, >= for max).",
        ),
    ] = None,
    seed: SeedOption = None,
    years: YearsOption = None,
    sets: OverridesOption = None,
    uncertainty: UncertaintyOption = "auto",
    posterior: PosteriorOption = None,
    workers: WorkersOption = 1,
    scheduler: SchedulerOption = None,
    executor: ExecutorOption = "auto",
    out: ResultsRootOption = DEFAULT_OUT,
    name: ExperimentNameOption = None,
    resume: ResumeOption = False,
    density: Annotated[
        float, typer.Option("--density", help="PRIM's density threshold for a box.")
    ] = 0.5,
    min_coverage: Annotated[
        float, typer.Option("--min-coverage", help="PRIM: the densest box with this coverage.")
    ] = 0.5,
    allow_large: AllowLargeOption = False,
) -> None:
    """Every policy over the same sampled futures: robustness metrics, ranks, PRIM boxes."""
    check_positive("--futures", futures)
    if futures > MAX_FUTURES:
        fail(f"--futures must be at most {MAX_FUTURES:,} (got {futures})")
    check_executor(workers, executor)
    for option, value in (("--density", density), ("--min-coverage", min_coverage)):
        if not (math.isfinite(value) and 0 < value <= 1):
            fail(f"{option} must be above 0 and at most 1 (got {value:g})")
    require_experiment_extras(
        "robust", ["pandas", "ema_workbench"], on_dask=uses_dask(executor, workers, scheduler)
    )
    try:
        threshold_items = rb.parse_thresholds(thresholds)
    except rb.RobustnessError as exc:
        fail(str(exc))
    names = split_names(policies) or []
    chosen = load_policies(names)
    base = prepared_scenario(scenario, years, sets, uncertainty, posterior)
    goals = read_objectives(objectives, base)
    try:
        goals = rb.with_thresholds(goals, threshold_items)
    except rb.RobustnessError as exc:
        fail(str(exc))
    root_seed = base.seed if seed is None else seed
    if root_seed < 0:
        fail(f"--seed must be >= 0 (got {root_seed})")
    applied = tuple(apply_policy(base, policy) for policy in chosen)
    n_base = len(base.events)
    for policy, s in zip(chosen, applied, strict=True):
        outside = [e for e in s.events_outside_horizon() if int(e["key"][7:-1]) >= n_base]
        if outside:
            err_console().print(
                f"warning: policy {policy.name}: {len(outside)} dated event(s) outside the "
                f"horizon {base.start} to {base.end} are not simulated"
            )
    estimate = budget.run_budget(
        base.params, base.calendar.n_days, futures * len(applied), rb.future_chunk_size(futures)
    )
    check_budget(
        f"{len(applied)} policies x {futures} futures over {base.calendar.n_days} days",
        estimate,
        allow_large=allow_large,
    )
    store, info = run_policy_experiment(
        base=base,
        policies=chosen,
        scenarios=applied,
        objectives=goals,
        futures=futures,
        seed=root_seed,
        out=out,
        name=name,
        resume=resume,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
    )
    summary = analyse_robustness(
        store, base, chosen, goals, futures, root_seed, density=density, min_coverage=min_coverage
    )
    summary.update(info)
    store.write_json("summary.json", summary)
    out_console().print(f"results: {store.path}  (summary.json, analysis/, figures/)")


def robust_digest(
    base: Scenario,
    scenarios: tuple[Scenario, ...],
    objectives: list[rb.Objective],
    futures: int,
    seed: int,
) -> str:
    """What fixes the runs (not the thresholds: those are analysis only)."""
    from ...experiment.posterior import uncertainty_of

    return cat.plan_hash(
        {
            "kind": "robust",
            "scenarios": [s.to_dict() for s in scenarios],
            "objectives": [
                {k: v for k, v in o.to_dict().items() if k not in ("threshold", "title")}
                for o in objectives
            ],
            "futures": futures,
            "seed": seed,
            "uncertainty": uncertainty_of(base).describe(),
        }
    )


def run_policy_experiment(
    *,
    base: Scenario,
    policies: list[Policy],
    scenarios: tuple[Scenario, ...],
    objectives: list[rb.Objective],
    futures: int,
    seed: int,
    out: Path,
    name: str | None,
    resume: bool,
    executor: str,
    workers: int,
    scheduler: str | None,
) -> tuple[cat.ExperimentStore, dict[str, Any]]:
    """Create or resume the checkpointed runs of every policy over the futures (with its lock)."""
    digest = robust_digest(base, scenarios, objectives, futures, seed)
    exp = name or f"robust-{base.name}-{len(policies)}p{futures}f-{digest[:10]}"
    try:
        cat.check_id(exp)
    except cat.CatalogError as exc:
        fail(str(exc))
    try:
        with results_store.target_lock(
            Path(out) / "experiments" / exp, Path(out) / f".experiment-{exp}.lock"
        ):
            return _run_policy_experiment(
                exp,
                digest,
                base,
                policies,
                scenarios,
                objectives,
                futures,
                seed,
                out,
                resume,
                executor,
                workers,
                scheduler,
            )
    except results_store.ResultsFolderError as exc:
        fail(str(exc))


def _run_policy_experiment(
    exp: str,
    digest: str,
    base: Scenario,
    policies: list[Policy],
    scenarios: tuple[Scenario, ...],
    objectives: list[rb.Objective],
    futures: int,
    seed: int,
    out: Path,
    resume: bool,
    executor: str,
    workers: int,
    scheduler: str | None,
) -> tuple[cat.ExperimentStore, dict[str, Any]]:
    from ...experiment.posterior import uncertainty_of

    chunk = rb.future_chunk_size(futures)
    plan = rb.plan_policy_runs(len(scenarios), futures, seed, chunk)
    store = cat.ExperimentStore(out, exp)
    done: set[int] = set()
    if store.exists():
        what = "other policies, scenario, objectives, futures or seed"
        resumed = resume_experiment(store, plan, digest, resume, what)
        if resumed is None:
            return store, {"wall_seconds": 0.0, "new_runs": 0, "resumed": False}
        done = resumed
    else:
        manifest = {
            "kind": "robust",
            "scenario": base.name,
            "scenario_source": str(base.source),
            "plan_sha256": digest,
            "design": {
                "method": "policies x futures",
                "n_base": futures,
                "space": [
                    {
                        "name": rb.POLICY_FACTOR,
                        "kind": "policy",
                        "low": 0,
                        "high": len(policies) - 1,
                    },
                    {"name": rb.CHUNK_FACTOR, "kind": "futures", "low": 0, "high": futures - 1},
                ],
            },
            "policies": [
                {
                    "index": i,
                    "name": p.name,
                    "title": p.title,
                    "source": p.source,
                    "sha256": hashlib.sha256(p.text.encode()).hexdigest(),
                    "scenario_sha256": hashlib.sha256(s.to_toml().encode()).hexdigest(),
                }
                for i, (p, s) in enumerate(zip(policies, scenarios, strict=True))
            ],
            "futures": futures,
            "futures_per_run": chunk,
            "objectives": [o.to_dict() for o in objectives],
            "uncertainty": uncertainty_of(base).describe(),
            "seed": seed,
            "replicates": chunk,
            "command_line": ["lipsteeth", *sys.argv[1:]],
            "versions": experiment_versions(),
        }
        store = cat.ExperimentStore.create(
            out,
            exp,
            manifest=manifest,
            plan=plan,
            factor_kinds={rb.POLICY_FACTOR: "policy", rb.CHUNK_FACTOR: "futures"},
            scenario_toml=base.to_toml(),
        )
        for policy, s in zip(policies, scenarios, strict=True):
            cat.atomic_text(s.to_toml(), store.path / "policies" / f"{policy.name}.toml")
    model = rb.PolicyModel(scenarios, tuple(objectives))
    info = run_and_finalize(
        store,
        model,
        plan,
        done,
        (executor, workers, scheduler),
        f"robust {exp}",
        lambda ex, todo: (
            f"{todo} runs ({len(policies)} policies x {futures} futures, {chunk} per run) "
            f"to do on {ex.name} ({ex.workers} worker(s))"
        ),
    )
    return store, {**info, "wall_seconds": round(info["wall_seconds"], 3)}


def objective_matrix(
    store: cat.ExperimentStore, n_policies: int, futures: int, objectives: list[rb.Objective]
) -> np.ndarray:
    """(P, N, K) objective values of every policy in every future, from the stored runs."""
    con = cat._duck()
    try:
        frame = con.execute(
            "SELECT run, replicate, variable, value FROM read_parquet(?, hive_partitioning=true) "
            "WHERE starts_with(variable, ?)",
            [store.files("outcomes"), rb.OBJECTIVE_PREFIX],
        ).df()
    finally:
        con.close()
    plan = store.plan_frame().set_index("run")
    values = np.full((n_policies, futures, len(objectives)), np.nan)
    column = {rb.OBJECTIVE_PREFIX + o.name: k for k, o in enumerate(objectives)}
    policy_of = plan[rb.POLICY_FACTOR].astype(int)
    runs = frame["run"].to_numpy(dtype=int)
    p = policy_of.reindex(runs).to_numpy(dtype=int)
    k = frame["variable"].astype(str).map(column).to_numpy(dtype=float)
    keep = np.isfinite(k)
    values[p[keep], frame["replicate"].to_numpy(dtype=int)[keep], k[keep].astype(int)] = frame[
        "value"
    ].to_numpy(dtype=float)[keep]
    if not np.all(np.isfinite(values)):
        fail(f"experiment {store.experiment}: objective values missing from its runs")
    return values


def analyse_robustness(
    store: cat.ExperimentStore,
    base: Scenario,
    policies: list[Policy],
    objectives: list[rb.Objective],
    futures: int,
    seed: int,
    *,
    density: float,
    min_coverage: float,
) -> dict[str, Any]:
    """Metrics, ranks, regret, PRIM boxes: tables, figures and the summary dict."""
    import pandas as pd

    from .. import figures as figs

    names = [p.name for p in policies]
    values = objective_matrix(store, len(policies), futures, objectives)
    try:
        table = rb.robustness(values, names, objectives)
    except rb.RobustnessError as exc:
        fail(str(exc))
    long = pd.DataFrame(
        {
            "policy": np.repeat(names, futures * len(objectives)),
            "future": np.tile(np.repeat(np.arange(futures), len(objectives)), len(policies)),
            "objective": np.tile([o.name for o in objectives], len(policies) * futures),
            "value": values.reshape(-1),
            "regret": table.regret.reshape(-1),
        }
    )
    store.write_analysis("robust_values", long)
    metrics = pd.DataFrame(table.records())
    store.write_analysis("robust_metrics", metrics)
    ranking = pd.DataFrame(table.ranking_records())
    store.write_analysis("robust_ranking", ranking)
    frame = rb.futures_frame(base, seed, futures)
    store.write_analysis("robust_futures", frame.reset_index())
    boxes = prim_boxes(store, frame, values, names, objectives, density, min_coverage)
    regret90 = table.metrics["p90_regret"]
    fig = figs.write_png(
        figs.regret_figure(
            regret90,
            names,
            [o.name for o in objectives],
            units=[o.to_dict()["unit"] for o in objectives],
        ),
        store.figure_path("robust_regret.png"),
    )
    con = out_console()
    for t in metrics_tables(table):
        con.print(t)
    con.print(ranking_table(table))
    for entry in boxes:
        con.print(box_table(entry))
    con.print(f"figure: {fig}")
    return {
        "experiment": store.experiment,
        "scenario": base.name,
        "policies": names,
        "futures": futures,
        "seed": seed,
        "objectives": [o.to_dict() | {"describe": o.describe()} for o in objectives],
        "metrics": table.records(),
        "ranking": table.ranking_records(),
        "metrics_disagree": {o.name: bool(table.disagree[k]) for k, o in enumerate(objectives)},
        "prim": boxes,
        "figures": [str(fig)],
    }


def prim_boxes(
    store: cat.ExperimentStore,
    frame: pd.DataFrame,
    values: np.ndarray,
    names: list[str],
    objectives: list[rb.Objective],
    density: float,
    min_coverage: float,
) -> list[dict[str, Any]]:
    """Per policy: PRIM boxes of the futures where it misses at least one threshold."""
    import pandas as pd

    from ...experiment.discovery import DiscoveryError, prim

    fails = rb.failures(values, objectives)
    X = frame[[c for c in frame.columns if frame[c].nunique() > 1]]
    out: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    with_threshold = [o.name for o in objectives if o.threshold is not None]
    for p, policy in enumerate(names):
        entry: dict[str, Any] = {
            "policy": policy,
            "fails": int(fails[p].sum()),
            "futures": int(fails.shape[1]),
            "thresholds": with_threshold,
            "failing_by_objective": {
                o.name: int((~o.satisfied(values[p, :, k])).sum())
                for k, o in enumerate(objectives)
                if o.threshold is not None
            },
            "boxes": [],
            "note": "",
        }
        if not with_threshold:
            entry["note"] = "no objective has a threshold (--thresholds)"
        elif X.shape[1] == 0:
            entry["note"] = "no parameter varies across the futures (--uncertainty none)"
        else:
            try:
                result = prim(
                    X.reset_index(drop=True),
                    fails[p],
                    outcome=f"{policy} fails a threshold",
                    threshold=0.5,
                    density_threshold=density,
                    min_coverage=min_coverage,
                    max_boxes=1,
                )
            except DiscoveryError as exc:
                entry["note"] = str(exc)
            else:
                for box in result.boxes:
                    entry["boxes"].append(
                        {
                            "box": box.index,
                            "coverage": box.coverage,
                            "density": box.density,
                            "mass": box.mass,
                            "n_futures": box.n_points,
                            "n_failing": box.n_of_interest,
                            "meets_density": box.meets_threshold,
                            "limits": {k: list(v) for k, v in box.limits.items()},
                        }
                    )
                    for factor, (lo, hi) in box.limits.items():
                        rows.append(
                            {
                                "policy": policy,
                                "box": box.index,
                                "coverage": box.coverage,
                                "density": box.density,
                                "factor": factor,
                                "low": lo,
                                "high": hi,
                                "full_low": float(X[factor].min()),
                                "full_high": float(X[factor].max()),
                            }
                        )
                if not result.boxes:
                    entry["note"] = "PRIM found no box"
        out.append(entry)
    columns = ["policy", "box", "coverage", "density", "factor", "low", "high"]
    store.write_analysis(
        "robust_prim", pd.DataFrame(rows, columns=[*columns, "full_low", "full_high"])
    )
    return out


def metrics_tables(table: rb.RobustnessTable) -> list[Table]:
    """One table per objective: policies by metric, the best of each metric in bold."""
    out = []
    for k, objective in enumerate(table.objectives):
        flag = " [bold yellow](metrics disagree)[/]" if table.disagree[k] else ""
        t = Table(title=f"{objective.name}: {objective.describe()}{flag}", title_justify="left")
        t.add_column("policy", style="cyan")
        for metric in SHOWN_METRICS:
            t.add_column(metric.replace("_", " "), justify="right")
        for p, policy in enumerate(table.policies):
            cells = []
            for metric in SHOWN_METRICS:
                value = table.metrics[metric][p, k]
                rank = table.ranks[metric][p, k]
                text = "n/a" if not math.isfinite(value) else fmt(value)
                if math.isfinite(rank) and len(table.policies) > 1:
                    text = f"[bold]{text}[/]" if rank == 1 else text
                    text += f" ({int(rank)})"
                cells.append(text)
            t.add_row(policy, *cells)
        out.append(t)
    return out


def ranking_table(table: rb.RobustnessTable) -> Table:
    """Per objective: the policy each metric ranks first, and whether the metrics disagree."""
    out = Table(
        title="Best policy by metric; 'yes': two metrics order some pair of policies oppositely",
        title_justify="left",
    )
    out.add_column("objective", style="cyan")
    out.add_column("disagree")
    for metric in SHOWN_METRICS:
        out.add_column(metric.replace("_", " "))
    for k, objective in enumerate(table.objectives):
        best = [rb.best_policies(table.policies, table.ranks[m][:, k]) for m in SHOWN_METRICS]
        out.add_row(objective.name, "[bold yellow]yes[/]" if table.disagree[k] else "no", *best)
    return out


def box_table(entry: dict[str, Any]) -> Table:
    head = (
        f"policy {entry['policy']}: fails a threshold in {entry['fails']} of "
        f"{entry['futures']} futures"
    )
    if not entry["boxes"]:
        table = Table(title=f"{head}; no PRIM box: {entry['note']}")
        table.add_column("factor")
        return table
    box = entry["boxes"][0]
    table = Table(
        title=f"{head}; PRIM box: coverage {box['coverage']:.2f}, density {box['density']:.2f}, "
        f"{box['n_failing']} of {box['n_futures']} futures in it fail"
    )
    table.add_column("factor", style="cyan")
    table.add_column("low", justify="right")
    table.add_column("high", justify="right")
    for factor, (lo, hi) in box["limits"].items():
        table.add_row(factor, f"{lo:.4g}", f"{hi:.4g}")
    return table


# ---------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add ``robust`` to the main app."""
    app.command("robust")(robust)
