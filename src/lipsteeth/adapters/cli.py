"""The ``lipsteeth`` command line (Typer + Rich).

``lipsteeth run`` simulates a scenario, checks the facts of SYSTEM.md and the
ledger identities, writes a results folder and prints a summary;
``lipsteeth scenarios list | show | schema`` explores the scenario layer.

Every refused input (a bad scenario, a bad option value, a missing file, an
occupied output folder) ends with one line ``error: <message>`` on stderr,
exit code 2, no traceback and nothing written.  Other command modules raise
:class:`UserError` (or ``ScenarioError``) to get the same treatment.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer

from ..core.outcomes import OUTCOME_NAMES
from ..core.simulate import SimulationResult
from ..experiment.ensemble import combine, run_scenario
from ..experiment.facts import Runner, check_facts
from ..experiment.posterior import uncertainty_of
from ..experiment.summary import KEY_OUTCOMES, YearlyBand, yearly_bands
from ..scenario import Scenario, ScenarioError, list_scenarios, load_scenario, scenario_schema
from ..scenario.events_csv import load_event_csv, with_events
from . import console as views
from . import store
from .cli_options import (
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
from .posterior_files import apply_uncertainty

DEFAULT_SCENARIO = "baseline-2016"
MAX_REPLICATES = 100_000
MAX_YEARS = 200
MAX_CHUNK = 16
EXIT_USAGE = 2


class UserError(Exception):
    """An input the command refuses: printed as one ``error:`` line, exit code 2."""


def fail(message: str) -> NoReturn:
    """Refuse the command with a one-line message."""
    raise UserError(message)


app = typer.Typer(
    name="lipsteeth",
    help=(
        "Simulate North Korea's overseas restaurant and labour network, worker defections, "
        "Chinese enforcement and the China-DPRK relationship (aggregate dynamics of a "
        "synthetic population; no real person is scored or identified)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenarios_app = typer.Typer(
    help="List and show scenarios; print the scenario file JSON Schema.", no_args_is_help=True
)
app.add_typer(scenarios_app, name="scenarios")


# ---------------------------------------------------------------------------
# helpers shared with other command modules


def looks_like_path(name_or_path: str) -> bool:
    """A scenario argument that names a file rather than an embedded scenario."""
    return name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path


def load(name_or_path: str) -> Scenario:
    """Load a scenario by embedded name or TOML path, refusing a missing file in one line."""
    if looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.exists():
            fail(f"{name_or_path}: no such scenario file")
        if not path.is_file():
            fail(f"{name_or_path}: not a file")
    try:
        return load_scenario(name_or_path)
    except OSError as exc:
        fail(f"{name_or_path}: cannot read: {exc.strerror or exc}")


def check_range(
    option: str,
    value: float | None,
    low: float,
    high: float | None = None,
    *,
    open_low: bool = False,
) -> None:
    """Refuse an option value outside [low, high] (or (low, high]), naming the option."""
    if value is None:
        return
    if not math.isfinite(value):
        fail(f"{option} must be a finite number (got {value:g})")
    below = value <= low if open_low else value < low
    if high is None and below:
        fail(f"{option} must be {'>' if open_low else '>='} {low:g} (got {value:g})")
    if high is not None and (below or value > high):
        bounds = f"{'above' if open_low else 'at least'} {low:g} and at most {high:g}"
        fail(f"{option} must be {bounds} (got {value:g})")


def run_in_chunks(
    scenario: Scenario,
    *,
    replicates: int,
    seed: int,
    chunk_size: int,
    on_chunk: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run replicates ``0..replicates-1`` in chunks and combine them.

    Replicate ``i`` always draws from child ``i`` of the root seed, so the
    combined result equals one call over all replicates, whatever the chunk size.
    """
    indices = np.arange(replicates)
    parts = []
    for first in range(0, replicates, chunk_size):
        chunk = indices[first : first + chunk_size]
        parts.append(run_scenario(scenario, seed=seed, replicate_indices=chunk))
        if on_chunk is not None:
            on_chunk(int(chunk.size))
    return combine(parts)


def run_on_executor(
    scenario: Scenario,
    replicates: int,
    seed: int,
    workers: int,
    scheduler: str | None,
    err: Any,
) -> tuple[SimulationResult, list[Any]]:
    """Run the ensemble and the fact checks' counterfactuals on Dask (same numbers as serial)."""
    from ..experiment.executors import run_ensemble
    from .executors_dask import ExecutorError, open_executor

    try:
        with open_executor("dask", workers, scheduler) as executor:
            with views.replicate_progress(err) as progress:
                task = progress.add_task(f"simulating {scenario.name}", total=replicates)
                result = run_ensemble(
                    scenario,
                    replicates,
                    seed=seed,
                    executor=executor,
                    progress=lambda done, total: progress.update(task, completed=done),
                )

            def runner(variant: Scenario, n: int) -> SimulationResult:
                return run_ensemble(variant, n, executor=executor)

            with views.counterfactual_progress(err) as progress:
                progress.add_task("checking facts F1-F9", total=None)
                facts = check_facts(scenario, result, runner=runner)
    except ExecutorError as exc:
        fail(str(exc))
    return result, facts


def counting_runner(advance: Callable[[Any], None], task: Any) -> Runner:
    """A fact-check runner that reports each counterfactual ensemble it runs."""

    def runner(scenario: Scenario, replicates: int) -> SimulationResult:
        result = run_scenario(scenario, replicates=replicates)
        advance(task)
        return result

    return runner


def default_chunk_size(replicates: int) -> int:
    """Replicates per progress step: about five steps, batches of at most ``MAX_CHUNK``.

    Replicates share one array batch inside a chunk, so bigger chunks run faster;
    smaller chunks move the progress bar more often.
    """
    return max(1, min(MAX_CHUNK, math.ceil(replicates / 5)))


def band_dict(band: YearlyBand) -> dict[str, Any]:
    return {
        "unit": band.unit,
        "median": [float(v) for v in band.median],
        "p5": [float(v) for v in band.p5],
        "p95": [float(v) for v in band.p95],
    }


def run_summary(
    *,
    scenario: Scenario,
    seed: int,
    replicates: int,
    bands: Sequence[YearlyBand],
    facts: Sequence[dict[str, Any]],
    results_dir: Path,
    wall_time_s: float,
) -> dict[str, Any]:
    """The JSON object ``run --json`` prints and ``summary.json`` holds."""
    years = [int(y) for y in bands[0].years] if bands else []
    return {
        "scenario": scenario.name,
        "seed": int(seed),
        "replicates": int(replicates),
        "years": years,
        "outcomes": {band.outcome: band_dict(band) for band in bands},
        "facts": list(facts),
        "results_dir": str(results_dir),
        "wall_time_s": round(float(wall_time_s), 3),
    }


# ---------------------------------------------------------------------------
# run


@app.command()
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
    uncertainty: UncertaintyOption = "auto",
    posterior: PosteriorOption = None,
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
    # The run's seed and size become the scenario's: the manifest records them and
    # the counterfactual ensembles of the fact checks pair with them.
    loaded = dataclasses.replace(loaded, seed=root_seed, replicates=n_replicates)
    loaded = apply_uncertainty(loaded, uncertainty, posterior)  # parameter draws per replicate

    run_id = store.default_run_id(loaded.name, root_seed)
    try:
        target = store.resolve_target(out, run_id=run_id, force=force)
    except store.ResultsFolderError as exc:
        fail(str(exc))

    err = views.stderr_console()
    if workers < 1:
        fail(f"--workers must be at least 1 (got {workers})")
    if workers > 1 or scheduler:
        result, facts = run_on_executor(loaded, n_replicates, root_seed, workers, scheduler, err)
    else:
        with views.replicate_progress(err) as progress:
            task = progress.add_task(f"simulating {loaded.name}", total=n_replicates)
            result = run_in_chunks(
                loaded,
                replicates=n_replicates,
                seed=root_seed,
                chunk_size=chunk_size or default_chunk_size(n_replicates),
                on_chunk=lambda n: progress.advance(task, n),
            )
        with views.counterfactual_progress(err) as progress:
            task = progress.add_task("checking facts F1-F9", total=None)
            facts = check_facts(loaded, result, runner=counting_runner(progress.advance, task))
    ledger = store.ledger_checks(result)
    bands = yearly_bands(result, OUTCOME_NAMES)
    fact_rows = [fact.to_dict() for fact in facts]
    wall_time_s = time.perf_counter() - started
    summary = run_summary(
        scenario=loaded,
        seed=root_seed,
        replicates=n_replicates,
        bands=bands,
        facts=fact_rows,
        results_dir=target,
        wall_time_s=wall_time_s,
    )
    summary["uncertainty"] = uncertainty_of(loaded).describe()
    manifest = store.run_manifest(
        run_id=run_id,
        scenario=loaded,
        result=result,
        seed=root_seed,
        argv=None,
        wall_time_s=wall_time_s,
        facts=fact_rows,
        ledger=ledger,
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
    except store.ResultsFolderError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write results to {target}: {exc.strerror or exc}")
    if report:
        from .report import ReportError, write_report

        try:
            write_report(target)
        except ReportError as exc:
            fail(str(exc))

    if as_json:
        sys.stdout.write(store.dumps(summary) + "\n")
        sys.stdout.flush()
        return
    con = views.stdout_console()
    key = tuple(name for name in KEY_OUTCOMES if name in OUTCOME_NAMES)
    key_bands = [band for band in bands if band.outcome in key]
    title = (
        f"{loaded.name}: {loaded.title}\n"
        f"{n_replicates} replicates, seed {root_seed}; per year: median [p5, p95]; "
        f"bands hold {uncertainty_of(loaded).label}"
    )
    for table in views.outcome_bands_tables(key_bands, title, width=con.width):
        con.print(table)
    con.print(views.facts_table(facts, uncertainty_of(loaded).label))
    con.print(views.ledger_table(ledger))
    con.print(views.results_location(target))


# ---------------------------------------------------------------------------
# scenarios


@scenarios_app.command("list")
def scenarios_list() -> None:
    """Embedded scenarios (name and title)."""
    views.stdout_console().print(views.scenarios_table(list_scenarios()))


@scenarios_app.command("show")
def scenarios_show(name: ScenarioArgument) -> None:
    """The scenario as resolved: TOML with every value's provenance."""
    text = load(name).to_toml()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@scenarios_app.command("schema")
def scenarios_schema() -> None:
    """JSON Schema of scenario files."""
    sys.stdout.write(store.dumps(scenario_schema(), indent=2) + "\n")


# ---------------------------------------------------------------------------
# entry point


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()
    sys.exit(EXIT_USAGE)


def _click_class(name: str) -> type[Exception]:
    """A Click exception class as Typer raises it (Typer may vendor its own Click)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise LookupError(name)  # pragma: no cover


_ClickException = _click_class("ClickException")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry: run the app, turning refused inputs into one ``error:`` line."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="lipsteeth", standalone_mode=False)
    except (UserError, ScenarioError) as exc:
        _refuse(str(exc))
    except _ClickException as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare command group: show its help
            sys.stdout.write(message + "\n")
            sys.exit(0)
        _refuse(message)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


# Experiment commands (sweep, sensitivity, calibrate, ...) live in their own module.
try:
    import lipsteeth.adapters.cli_experiments as cli_experiments
except ModuleNotFoundError as _missing:
    if _missing.name != "lipsteeth.adapters.cli_experiments":
        raise
else:
    cli_experiments.register(app)


# Report, compare and serve (reports and the web service), validate, and facts.
for _module in ("cli_report", "cli_validate", "cli_facts"):
    try:
        _commands = importlib.import_module(f"lipsteeth.adapters.{_module}")
    except ModuleNotFoundError as _missing:
        if _missing.name != f"lipsteeth.adapters.{_module}":
            raise
    else:
        _commands.register(app)
