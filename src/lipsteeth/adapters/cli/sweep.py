"""``lipsteeth sweep``: the scenario at every point of a design over its uncertainties
and levers, with the factor levels beside the outcomes of every run (issue 16).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.table import Table

from ...experiment.summary import KEY_OUTCOMES
from .. import catalog as cat
from .experiment_inputs import (
    DEFAULT_OUT,
    check_design_run,
    check_experiment_budget,
    check_positive,
    load_scenario_for,
    require_experiment_extras,
    split_names,
    uses_dask,
)
from .experiment_runs import (
    build_design,
    build_space,
    experiment_table,
    fmt,
    out_console,
    run_planned_experiment,
)
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
    SpaceOption,
    WorkersOption,
    YearsOption,
)

if TYPE_CHECKING:
    import pandas as pd


#: runs of a sweep shown in the terminal (all of them are in analysis/sweep_summary.parquet)
SWEEP_ROWS_SHOWN = 20


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


def register(app: typer.Typer) -> None:
    """Add ``sweep`` to the main app."""
    app.command("sweep")(sweep)
