"""``lipsteeth run``: simulate a scenario into a results folder and print a summary.

The use case itself (simulate, check the facts of SYSTEM.md and the ledger
identities, write the results folder with manifest and summary) is
``lipsteeth.services.run_into_folder``; this module parses the options,
shows progress on stderr and prints the tables (or ``--json``).  Refused
inputs end with one ``error:`` line, exit code 2, nothing written.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ... import services
from ...core.outcomes import OUTCOME_NAMES
from ...experiment import budget
from ...experiment.posterior import uncertainty_of
from ...experiment.summary import KEY_OUTCOMES, levers_in_force
from ...scenario import Scenario
from ...scenario.events_csv import load_event_csv, with_events
from .. import catalog, store
from .. import console as views
from ..executors_dask import ExecutorError, open_executor
from ..posterior_files import apply_uncertainty
from .inputs import (
    DEFAULT_SCENARIO,
    MAX_REPLICATES,
    MAX_YEARS,
    check_budget,
    check_range,
    events_outside_warning,
    fail,
    load,
    require_extra,
)
from .options import (
    AllowLargeOption,
    EventsOption,
    ForceOption,
    JsonOption,
    PosteriorOption,
    ReplicatesOption,
    ResultsFolderOption,
    ScenarioArgument,
    SchedulerOption,
    SeedOption,
    UncertaintyOption,
    YearsOption,
)


class ConsoleProgress:
    """A run's progress on a Rich console: a bar over replicates, a counterfactual spinner."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextlib.contextmanager
    def simulating(self, scenario: Scenario, replicates: int) -> Iterator[Callable[[int], None]]:
        with views.replicate_progress(self.console) as progress:
            task = progress.add_task(f"simulating {scenario.name}", total=replicates)
            yield lambda n: progress.advance(task, n)

    @contextlib.contextmanager
    def checking_facts(self) -> Iterator[Callable[[], None]]:
        with views.counterfactual_progress(self.console) as progress:
            task = progress.add_task("checking facts F1-F9", total=None)
            yield lambda: progress.advance(task)


# ---------------------------------------------------------------------------
# run


def run(
    scenario: ScenarioArgument = DEFAULT_SCENARIO,
    seed: SeedOption = None,
    replicates: ReplicatesOption = None,
    years: YearsOption = None,
    out: ResultsFolderOption = None,
    as_json: JsonOption = False,
    force: ForceOption = False,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            help="Replicates simulated per progress step (default: about a fifth, at most 16).",
        ),
    ] = None,
    events: EventsOption = None,
    report: Annotated[
        bool, typer.Option("--report", help="Also write report.html and figures (PNG, SVG).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", help="Processes: above 1 starts a Dask LocalCluster."),
    ] = 1,
    scheduler: SchedulerOption = None,
    no_facts: Annotated[
        bool,
        typer.Option("--no-facts", help="Skip the facts F1-F9 and their counterfactual ensembles."),
    ] = False,
    uncertainty: UncertaintyOption = "auto",
    posterior: PosteriorOption = None,
    allow_large: AllowLargeOption = False,
) -> None:
    """Simulate a scenario, check the facts and ledger, write a results folder."""
    started = time.perf_counter()
    check_range("--seed", seed, 0)
    check_range("--replicates", replicates, 1, MAX_REPLICATES)
    check_range("--years", years, 0, MAX_YEARS, open_low=True)
    check_range("--chunk-size", chunk_size, 1, MAX_REPLICATES)

    loaded = load(scenario)
    if events is not None:
        loaded = with_events(loaded, load_event_csv(events))
    if years is not None:
        loaded = loaded.with_overrides(years=years)
    root_seed = loaded.seed if seed is None else seed
    n_replicates = loaded.replicates if replicates is None else replicates
    check_range("replicates", n_replicates, 1, MAX_REPLICATES)
    loaded = apply_uncertainty(loaded, uncertainty, posterior)  # parameter draws per replicate
    estimate = budget.run_budget(
        loaded.params, loaded.calendar.n_days, n_replicates, chunk_size or 16
    )
    check_budget(
        f"{n_replicates} replicates over {loaded.calendar.n_days} days",
        estimate,
        allow_large=allow_large,
    )

    run_id = store.default_run_id(loaded.name, root_seed)
    try:
        target = store.resolve_target(out, run_id=run_id, force=force)
    except store.ResultsFolderError as exc:
        fail(str(exc))

    err = views.stderr_console()
    if workers < 1:
        fail(f"--workers must be at least 1 (got {workers})")
    on_dask = workers > 1 or bool(scheduler)
    if on_dask:
        require_extra("lipsteeth run --workers/--scheduler", ["distributed"])

    # every input is checked: only now warn (a refusal stays one line)
    warning = events_outside_warning(loaded)
    if warning is not None:  # a --years or an end that cuts the timeline off
        sys.stderr.write(f"{warning} (recorded in manifest.json: events_outside_horizon)\n")

    try:
        with (
            open_executor("dask", workers, scheduler) if on_dask else contextlib.nullcontext()
        ) as executor:
            record = services.run_into_folder(
                loaded,
                target,
                run_id=run_id,
                seed=root_seed,
                replicates=n_replicates,
                executor=executor,
                chunk_size=chunk_size,
                check=not no_facts,
                progress=ConsoleProgress(err),
                force=force,
                started=started,
            )
    except ExecutorError as exc:
        fail(str(exc))
    except (store.ResultsFolderError, services.ResultsWriteError) as exc:
        fail(str(exc))
    if catalog.catalog_path(target.parent).exists():  # a results root with its catalog
        register_in_catalog(target)
    if report:
        from ..report import ReportError, write_report

        try:
            write_report(target)
        except ReportError as exc:
            fail(str(exc))

    if as_json:
        sys.stdout.write(store.dumps(record.summary) + "\n")
        sys.stdout.flush()
        return
    con = views.stdout_console()
    key = tuple(name for name in KEY_OUTCOMES if name in OUTCOME_NAMES)
    key_bands = [band for band in record.bands if band.outcome in key]
    title = (
        f"{loaded.name}: {loaded.title}\n"
        f"{n_replicates} replicates, seed {root_seed}; per year: median [p5, p95]; "
        f"bands hold {uncertainty_of(loaded).label}"
    )
    for table in views.outcome_bands_tables(key_bands, title, width=con.width):
        con.print(table)
    lever_title = "levers as set, and in force after Beijing's and the hosts' discretion"
    for table in views.outcome_bands_tables(
        views.levers_as_bands(levers_in_force(loaded, record.result)), lever_title, con.width
    ):
        con.print(table)
    con.print(views.facts_table(record.facts, uncertainty_of(loaded).label))
    con.print(views.ledger_table(record.ledger))
    con.print(views.results_location(target))


def register_in_catalog(target: Path) -> None:
    """Register a run folder in the catalog of the results root it was written into.

    Only a root that has a catalog already: a first run writes no catalog beside its
    folder (the first ``lipsteeth query`` of the root builds it from the files).  The
    folder is written whatever happens here: a catalog that cannot be written now
    (locked by a long writer, a full disk) gets a one-line warning, and the next
    ``lipsteeth query`` of the root registers the folder then.
    """
    import duckdb

    try:
        catalog.sync_run_folders(target.parent, only=target.name)
    except (catalog.CatalogError, duckdb.Error, OSError) as exc:
        sys.stderr.write(
            f"warning: {target} is not in the catalog of {target.parent} yet "
            f"({' '.join(str(exc).split())[:200]}); `lipsteeth query` registers it\n"
        )


def register(app: typer.Typer) -> None:
    """Add ``run`` to the main app."""
    app.command("run")(run)
