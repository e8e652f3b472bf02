"""``lipsteeth sensitivity``: Sobol (S1, ST) or Morris (mu*, sigma) indices of outcomes,
with a dummy factor that shows the noise floor and a convergence check (issue 16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ...core.outcomes import OUTCOMES
from ...experiment import designs as designs_mod
from ...experiment.designs import DesignError
from ...experiment.sweep import (
    parse_metric,
)
from .experiment_inputs import (
    DEFAULT_OUT,
    check_design_run,
    check_experiment_budget,
    check_metric_name,
    check_positive,
    load_scenario_for,
    metric_or_fail,
    require_experiment_extras,
    split_names,
    uses_dask,
)
from .experiment_runs import (
    build_design,
    build_space,
    err_console,
    experiment_table,
    file_slug,
    out_console,
    register_analyses,
    run_planned_experiment,
)
from .inputs import fail
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
    from ...scenario import Scenario


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
        check_metric_name(o)
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
        y = metric_or_fail(store, o)
        try:
            idx = sa.analyze(d, y, outcome=o, seed=root_seed)
            conv = sa.convergence(d, y, outcome=o, tolerance=tol, seed=root_seed)
        except sa.SensitivityError as exc:
            fail(f"{o}: {exc}")
        slug = file_slug(o)
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
    register_analyses(store)


def _check_metric_year(name: str, scenario: Scenario) -> None:
    """Refuse ``NAME@YEAR`` whose year the scenario's horizon does not reach."""
    _, year = parse_metric(name)
    first, last = int(str(scenario.start)[:4]), int(str(scenario.end)[:4])
    if year is not None and not first <= year <= last:
        fail(f"--outcome {name}: {year} is outside the horizon {scenario.start} to {scenario.end}")


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


def register(app: typer.Typer) -> None:
    """Add ``sensitivity`` to the main app."""
    app.command("sensitivity")(sensitivity)
