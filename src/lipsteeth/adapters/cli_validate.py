"""``lipsteeth validate``: compare a scenario's ensemble with observed series.

::

    lipsteeth validate SCENARIO --observed FILE.csv [--from YEAR] [--to YEAR]
                       [--replicates N] [--seed S] [--events EVENTS.csv] [--out DIR] [--json]

``FILE`` is a CSV with the columns ``series,period,value`` and optional
``low,high`` (``lipsteeth.experiment.validation``), or the name of an observed
file shipped with the package (``01_arrivals_south_korea``, ..., or ``all``).
For each series the command reports ARD, MASE against persistence and the
share of observations inside the simulated 90 % band, writes a results
folder (the run's tables, ``validation.json`` and the figure
``validation.png``: simulated band against observed points) and prints a
table, or with ``--json`` one JSON object on stdout.  An unknown series or a
malformed file is refused with one ``error:`` line and exit code 2, before
anything is simulated.

The lead wires it into the main app with ``cli_validate.register(app)``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ..experiment.validation import (
    SERIES,
    Observation,
    ObservedError,
    ValidationReport,
    parse_observed,
    validate,
)
from .cli_options import (
    EventsOption,
    ForceOption,
    JsonOption,
    ReplicatesOption,
    ResultsFolderOption,
    ScenarioArgument,
    SeedOption,
)

OBSERVED_PACKAGE_DIR = "observed"
VALIDATION_FILE = "validation.json"
FIGURE_FILE = "validation.png"
MIN_YEAR, MAX_YEAR = 1800, 2300


def _cli() -> Any:
    from . import cli  # late: cli imports this module when it registers the command

    return cli


def fail(message: str) -> NoReturn:
    """Refuse the command: one ``error:`` line, exit code 2 (via the main entry point)."""
    raise _cli().UserError(message)


# ---------------------------------------------------------------------------
# observed files


def shipped_observed() -> dict[str, Any]:
    """Observed files shipped in ``lipsteeth/data/observed`` by stem."""
    folder = resources.files("lipsteeth").joinpath("data", OBSERVED_PACKAGE_DIR)
    if not folder.is_dir():
        return {}
    return {
        item.name.removesuffix(".csv"): item
        for item in folder.iterdir()
        if item.name.endswith(".csv") and item.is_file()
    }


def read_observed(spec: str) -> list[Observation]:
    """Observations of a file path, of a shipped observed file by name, or of ``all`` of them."""
    path = Path(spec)
    shipped = shipped_observed()
    if path.is_file():
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            fail(f"{spec}: not UTF-8 text (bad byte at offset {exc.start})")
        except OSError as exc:
            fail(f"{spec}: cannot read: {exc.strerror or exc}")
        sources = [(text, spec)]
    elif path.is_dir():
        fail(f"{spec}: is a directory, not an observed CSV file")
    elif spec == "all" and shipped:
        sources = [(shipped[name].read_text(encoding="utf-8"), name) for name in sorted(shipped)]
    elif spec.removesuffix(".csv") in shipped:
        name = spec.removesuffix(".csv")
        sources = [(shipped[name].read_text(encoding="utf-8"), name)]
    else:
        names = ", ".join(["all", *sorted(shipped)])
        fail(f"{spec}: no such observed file (nor a shipped one: {names})")
    observations: list[Observation] = []
    try:
        for text, source in sources:
            observations += parse_observed(text, source)
    except ObservedError as exc:
        fail(str(exc))
    return observations


# ---------------------------------------------------------------------------
# output


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def report_table(report: ValidationReport, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column, justify in (
        ("series", "left"),
        ("unit", "left"),
        ("n", "right"),
        ("ARD", "right"),
        ("MASE", "right"),
        ("in 90% band", "right"),
        ("persistence anchor", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, series in report.series.items():
        anchor = "-"
        if series.anchor is not None:
            anchor = f"{series.anchor.period}: {series.anchor.reference:,.0f}"
            if series.anchor_in_window:
                anchor += " (first in window)"
        table.add_row(
            name,
            series.unit,
            str(len(series.comparisons)),
            _fmt(series.ard),
            _fmt(series.mase),
            "-" if series.coverage is None else f"{series.coverage:.0%}",
            anchor,
        )
    return table


def figure_png(
    report: ValidationReport,
    result: Any,
    start: np.datetime64,
    title: str,
    observations: Sequence[Observation] = (),
) -> bytes:
    """One panel per series: simulated median and 90 % band against the observed points.

    Drawn by the figures package's one validation figure, as the report draws it.
    """
    from . import figures

    panels = figures.validation_panels(report, result, start, observations)
    return figures.png_bytes(figures.validation_figure(panels, title=title))


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


# ---------------------------------------------------------------------------
# the command


def validate_command(
    scenario: ScenarioArgument,
    observed: Annotated[
        str,
        typer.Option(
            "--observed",
            help=(
                "CSV with columns series,period,value[,low,high] (period YYYY or YYYY-MM), "
                "or a shipped observed file by name (01_arrivals_south_korea, ...; 'all')."
            ),
        ),
    ],
    first_year: Annotated[
        int | None, typer.Option("--from", help="First year scored (earlier rows anchor MASE).")
    ] = None,
    last_year: Annotated[int | None, typer.Option("--to", help="Last year scored.")] = None,
    replicates: ReplicatesOption = None,
    seed: SeedOption = None,
    events: EventsOption = None,
    out: ResultsFolderOption = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Replicates simulated per progress step.")
    ] = 4,
) -> None:
    """Validate a scenario against observed series: ARD, MASE, 90 % band coverage, figure."""
    cli = _cli()
    from . import store

    started = time.perf_counter()
    for option, value in (("--from", first_year), ("--to", last_year)):
        cli.check_range(option, value, MIN_YEAR, MAX_YEAR)
    if first_year is not None and last_year is not None and first_year > last_year:
        fail(f"--from {first_year} is after --to {last_year}")
    cli.check_range("--replicates", replicates, 2, cli.MAX_REPLICATES)
    cli.check_range("--seed", seed, 0)
    cli.check_range("--chunk-size", chunk_size, 1, cli.MAX_REPLICATES)

    observations = read_observed(observed)
    loaded = cli.load(scenario)
    if events is not None:
        from ..scenario.events_csv import load_event_csv, with_events

        loaded = with_events(loaded, load_event_csv(events))
    first_sim = int(str(loaded.start)[:4])
    last_sim = int(str(loaded.end)[:4])
    in_window = [
        o
        for o in observations
        if (first_year is None or o.year >= first_year)
        and (last_year is None or o.year <= last_year)
    ]
    if not in_window:
        fail(f"{observed}: no observation in the years {first_year or '...'}-{last_year or '...'}")
    if not any(first_sim <= o.year <= last_sim for o in in_window):
        fail(
            f"{observed}: no observation in the window falls inside the simulated horizon "
            f"{first_sim}-{last_sim} of {loaded.name}"
        )
    root_seed = loaded.seed if seed is None else seed
    n_replicates = loaded.replicates if replicates is None else replicates
    cli.check_range("replicates", n_replicates, 2, cli.MAX_REPLICATES)
    run_id = "validate-" + store.default_run_id(loaded.name, root_seed)
    try:
        target = store.resolve_target(out, run_id=run_id, force=force)
    except store.ResultsFolderError as exc:
        fail(str(exc))

    from . import console as views

    err = views.stderr_console()
    with views.replicate_progress(err) as progress:
        task = progress.add_task(f"simulating {loaded.name}", total=n_replicates)
        result = cli.run_in_chunks(
            loaded,
            replicates=n_replicates,
            seed=root_seed,
            chunk_size=chunk_size,
            on_chunk=lambda k: progress.advance(task, k),
        )
    try:
        report = validate(
            result, observations, first_year=first_year, last_year=last_year, start=loaded.start
        )
    except ObservedError as exc:
        fail(str(exc))
    title = f"{loaded.name} vs {observed}: {n_replicates} replicates, seed {root_seed}"
    with err.status("drawing the figure"):
        png = figure_png(report, result, loaded.start, title, observations)

    from ..core.outcomes import OUTCOME_NAMES
    from ..experiment.summary import yearly_bands

    wall_time_s = time.perf_counter() - started
    payload = {
        "scenario": loaded.name,
        "observed": observed,
        "events": None if events is None else str(events),
        "seed": int(root_seed),
        "replicates": int(n_replicates),
        "horizon": [str(loaded.start), str(loaded.end)],
        **report.to_dict(),
        "results_dir": str(target),
        "figure": str(target / FIGURE_FILE),
        "wall_time_s": round(wall_time_s, 3),
    }
    summary = cli.run_summary(
        scenario=loaded,
        seed=root_seed,
        replicates=n_replicates,
        bands=yearly_bands(result, OUTCOME_NAMES),
        facts=[],
        results_dir=target,
        wall_time_s=wall_time_s,
    )
    manifest = store.run_manifest(
        run_id=run_id,
        scenario=loaded,
        result=result,
        seed=root_seed,
        argv=None,
        wall_time_s=wall_time_s,
        facts=[],
        ledger=store.ledger_checks(result),
    )
    try:
        store.write_results(
            target,
            run_id=run_id,
            result=result,
            start=loaded.start,
            manifest=manifest,
            summary=summary,
            force=force,
        )
        _write_atomic(target / VALIDATION_FILE, (store.dumps(payload, indent=2) + "\n").encode())
        _write_atomic(target / FIGURE_FILE, png)
    except store.ResultsFolderError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write results to {target}: {exc.strerror or exc}")

    if as_json:
        sys.stdout.write(store.dumps(payload) + "\n")
        sys.stdout.flush()
        return
    con = Console(highlight=False)
    window = f"{first_year or 'first'}-{last_year or 'last'}"
    con.print(report_table(report, f"{title}; years {window}"))
    if report.skipped:
        con.print(
            f"{len(report.skipped)} observation(s) outside the simulated horizon were skipped"
        )
    con.print(f"results: {target} (validation.json, validation.png)")


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the main app."""
    app.command("validate")(validate_command)


def series_help() -> Sequence[str]:
    """One line per series (for README and help texts)."""
    return [f"{name}: {spec.unit} ({spec.doc})" for name, spec in SERIES.items()]
