"""``lipsteeth discover``: scenario discovery with PRIM over a finished sweep, the boxes
of the factor space where an outcome crosses a threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .. import catalog as cat
from .experiment_inputs import (
    check_metric_name,
    check_positive,
    metric_or_fail,
    require_experiment_extras,
    split_names,
)
from .experiment_runs import err_console, file_slug, out_console, register_analyses
from .inputs import fail


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
    check_metric_name(outcome, store.metric_names())
    X = store.factor_frame()
    y_series = metric_or_fail(store, outcome)
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

    slug = f"{file_slug(outcome)}_{'lt' if below else 'gt'}_{file_slug(f'{threshold:g}')}"
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
    register_analyses(store)


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


def register(app: typer.Typer) -> None:
    """Add ``discover`` to the main app."""
    app.command("discover")(discover)
