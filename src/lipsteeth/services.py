"""Use cases shared by every front end: run a scenario into a results folder.

A run is: simulate the scenario's replicates (replicate ``i`` on child ``i`` of
the root seed, so chunking and executors never change a number), check the
facts F1-F9 of SYSTEM.md (``experiment.facts``: paired counterfactual
ensembles for F6 and F9), check the ledger identities, and write the results
folder (``adapters.store``: Parquet tables, ``manifest.json``,
``summary.json``) in one atomic move.  The front ends add only what is theirs:
option parsing and refusals, progress display, printing.

- :func:`run_into_folder` is the whole use case (``lipsteeth run``).
- :func:`record_run` writes an ensemble simulated elsewhere into a results
  folder with its manifest and summary (``lipsteeth validate`` adds its scores
  and figure as extra files of the same folder).
- :func:`run_in_chunks` simulates replicates in chunks, reporting each chunk.

The web service's jobs simulate their replicates in several child processes
(``adapters/web/worker.py``, streaming partial bands as replicates finish) and
write the combined ensemble with :func:`record_run` (``argv=["serve", "job",
job_id]``, ``results_dir=f"run {job_id}"``, ``force=True``, no fact checks): the
results folder of every front end is written here, once.

Layering: services sit between ``experiment`` and the front ends (``adapters.cli``,
``adapters.web``); they use the results store (``adapters.store``, file I/O)
but no front end, console or web library (tests/test_architecture.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .adapters import store
from .core.outcomes import OUTCOME_NAMES
from .core.simulate import SimulationResult
from .experiment.ensemble import combine, run_scenario
from .experiment.executors import Executor, run_ensemble
from .experiment.facts import FactCheck, Runner, check_facts
from .experiment.posterior import uncertainty_of
from .experiment.summary import LeverInForce, YearlyBand, levers_in_force, yearly_bands

if TYPE_CHECKING:
    from .scenario import Scenario

#: most replicates in one array batch of a progress step (bigger batches run faster,
#: smaller ones move the progress bar more often)
MAX_CHUNK = 16


# ---------------------------------------------------------------------------
# simulating


def default_chunk_size(replicates: int) -> int:
    """Replicates per progress step: about five steps, batches of at most ``MAX_CHUNK``.

    Replicates share one array batch inside a chunk, so bigger chunks run faster;
    smaller chunks move the progress bar more often.
    """
    return max(1, min(MAX_CHUNK, math.ceil(replicates / 5)))


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


def counting_runner(on_ensemble: Callable[[], None], executor: Executor | None = None) -> Runner:
    """A fact-check runner that reports each counterfactual ensemble it runs.

    On ``executor`` when given (the same numbers as in this process).
    """

    def runner(scenario: Scenario, replicates: int) -> SimulationResult:
        if executor is None:
            result = run_scenario(scenario, replicates=replicates)
        else:
            result = run_ensemble(scenario, replicates, executor=executor)
        on_ensemble()
        return result

    return runner


class RunProgress(Protocol):
    """How a front end shows a run's progress (a Rich bar, a job's counter, nothing)."""

    def simulating(
        self, scenario: Scenario, replicates: int
    ) -> AbstractContextManager[Callable[[int], None]]:
        """While the ensemble runs: yields ``advance(n)``, called per n replicates done."""
        ...

    def checking_facts(self) -> AbstractContextManager[Callable[[], None]]:
        """While the fact checks run: yields ``one_more()``, called per counterfactual."""
        ...


class Quiet:
    """No progress shown."""

    @contextlib.contextmanager
    def simulating(self, scenario: Scenario, replicates: int) -> Iterator[Callable[[int], None]]:
        yield lambda n: None

    @contextlib.contextmanager
    def checking_facts(self) -> Iterator[Callable[[], None]]:
        yield lambda: None


# ---------------------------------------------------------------------------
# the summary


def band_dict(band: YearlyBand) -> dict[str, Any]:
    return {
        "unit": band.unit,
        "median": [float(v) for v in band.median],
        "p5": [float(v) for v in band.p5],
        "p95": [float(v) for v in band.p95],
    }


def lever_dict(row: LeverInForce) -> dict[str, Any]:
    """A lever as set and in force (M9), per year and over the whole run, as JSON."""
    return {
        "effective_outcome": row.outcome,
        "unit": row.unit,
        "set": [float(v) for v in row.set_value],
        "in_force": {
            "median": [float(v) for v in row.median],
            "p5": [float(v) for v in row.p5],
            "p95": [float(v) for v in row.p95],
        },
        "run": {
            "set": float(row.run_set),
            "in_force": {
                "median": float(row.run_median),
                "p5": float(row.run_p5),
                "p95": float(row.run_p95),
            },
        },
    }


def levers_dict(rows: Sequence[LeverInForce]) -> dict[str, Any]:
    """``summary.json``'s ``levers_in_force``: :func:`lever_dict` by lever name."""
    return {row.lever: lever_dict(row) for row in rows}


def levers_of_summary(summary: Mapping[str, Any]) -> list[LeverInForce]:
    """The levers as set and in force a summary holds (the inverse of :func:`levers_dict`,
    with the summary's ``years``); empty for a summary written before they were recorded
    (issue 12) or without their whole-run figures."""
    years = np.asarray(summary.get("years") or [], dtype=np.int64)
    rows = []
    for lever, item in (summary.get("levers_in_force") or {}).items():
        if "run" not in item:
            return []
        in_force, run = item["in_force"], item["run"]
        rows.append(
            LeverInForce(
                lever=lever,
                outcome=str(item["effective_outcome"]),
                unit=str(item["unit"]),
                years=years,
                set_value=np.asarray(item["set"], dtype=float),
                median=np.asarray(in_force["median"], dtype=float),
                p5=np.asarray(in_force["p5"], dtype=float),
                p95=np.asarray(in_force["p95"], dtype=float),
                run_set=float(run["set"]),
                run_median=float(run["in_force"]["median"]),
                run_p5=float(run["in_force"]["p5"]),
                run_p95=float(run["in_force"]["p95"]),
            )
        )
    return rows


def run_summary(
    *,
    scenario: Scenario,
    seed: int,
    replicates: int,
    bands: Sequence[YearlyBand],
    facts: Sequence[dict[str, Any]],
    results_dir: Path | str,
    wall_time_s: float,
    levers: Sequence[LeverInForce] = (),
) -> dict[str, Any]:
    """The JSON object ``run --json`` prints and ``summary.json`` holds."""
    years = [int(y) for y in bands[0].years] if bands else []
    return {
        "scenario": scenario.name,
        "seed": int(seed),
        "replicates": int(replicates),
        "years": years,
        "outcomes": {band.outcome: band_dict(band) for band in bands},
        "levers_in_force": levers_dict(levers),
        "facts": list(facts),
        "uncertainty": uncertainty_of(scenario).describe(),
        "results_dir": str(results_dir),
        "wall_time_s": round(float(wall_time_s), 3),
    }


# ---------------------------------------------------------------------------
# the results folder


class ResultsWriteError(Exception):
    """The results folder could not be written (disk full, permissions): one-line message."""


@dataclass(frozen=True)
class RunRecord:
    """A run written into its results folder: what was simulated, checked and written."""

    run_id: str
    target: Path
    scenario: Scenario
    result: SimulationResult
    facts: list[FactCheck]
    ledger: list[store.LedgerCheck]
    bands: list[YearlyBand]
    summary: dict[str, Any]
    manifest: dict[str, Any]


def record_run(
    target: Path,
    *,
    run_id: str,
    scenario: Scenario,
    result: SimulationResult,
    seed: int,
    wall_time_s: float,
    facts: Sequence[FactCheck] = (),
    force: bool = False,
    argv: Sequence[str] | None = None,
    results_dir: str | None = None,
    files: Mapping[str, bytes] | None = None,
) -> RunRecord:
    """Write the results folder of an ensemble: tables, manifest, summary (and ``files``).

    The ledger identities are checked and the yearly bands of every outcome
    summarised here; ``results_dir`` is what the summary says the folder is
    (default: ``target``).  The folder appears in one atomic move
    (``store.write_results``); it raises ``store.ResultsFolderError`` for an
    occupied target and :class:`ResultsWriteError` when it cannot be written.
    """
    replicates = int(result.replicates.shape[0])
    ledger = store.ledger_checks(result)
    bands = yearly_bands(result, OUTCOME_NAMES)
    fact_rows = [fact.to_dict() for fact in facts]
    summary = run_summary(
        scenario=scenario,
        seed=seed,
        replicates=replicates,
        bands=bands,
        facts=fact_rows,
        results_dir=target if results_dir is None else results_dir,
        wall_time_s=wall_time_s,
        levers=levers_in_force(scenario, result),
    )
    manifest = store.run_manifest(
        run_id=run_id,
        scenario=scenario,
        result=result,
        seed=seed,
        argv=argv,
        wall_time_s=wall_time_s,
        facts=fact_rows,
        ledger=ledger,
    )
    try:
        store.write_results(
            target,
            run_id=run_id,
            result=result,
            start=scenario.start,
            manifest=manifest,
            summary=summary,
            force=force,
            files=files,
        )
    except OSError as exc:
        raise ResultsWriteError(f"cannot write results to {target}: {exc.strerror or exc}") from exc
    return RunRecord(
        run_id=run_id,
        target=target,
        scenario=scenario,
        result=result,
        facts=list(facts),
        ledger=ledger,
        bands=bands,
        summary=summary,
        manifest=manifest,
    )


def run_into_folder(
    scenario: Scenario,
    target: Path,
    *,
    run_id: str,
    seed: int | None = None,
    replicates: int | None = None,
    executor: Executor | None = None,
    chunk_size: int | None = None,
    check: bool = True,
    progress: RunProgress | None = None,
    force: bool = False,
    argv: Sequence[str] | None = None,
    results_dir: str | None = None,
    started: float | None = None,
) -> RunRecord:
    """Simulate ``scenario``, check facts F1-F9 and the ledger, write the results folder.

    ``seed`` and ``replicates`` (default: the scenario's) become the scenario's,
    so the manifest records them and the counterfactual ensembles of the fact
    checks pair with them.  In this process the replicates run in chunks of
    ``chunk_size`` (default :func:`default_chunk_size`); on ``executor``
    (``experiment.executors``) with its own chunking; the numbers are the same.
    ``check=False`` skips the fact checks.  The wall time counts from
    ``started`` (a ``time.perf_counter()`` value; default: now).
    """
    with store.target_lock(target):  # a second writer of the same folder is refused now
        return _run_into_locked_folder(
            scenario,
            target,
            run_id=run_id,
            seed=seed,
            replicates=replicates,
            executor=executor,
            chunk_size=chunk_size,
            check=check,
            progress=progress,
            force=force,
            argv=argv,
            results_dir=results_dir,
            started=started,
        )


def _run_into_locked_folder(
    scenario: Scenario,
    target: Path,
    *,
    run_id: str,
    seed: int | None,
    replicates: int | None,
    executor: Executor | None,
    chunk_size: int | None,
    check: bool,
    progress: RunProgress | None,
    force: bool,
    argv: Sequence[str] | None,
    results_dir: str | None,
    started: float | None,
) -> RunRecord:
    started = time.perf_counter() if started is None else started
    progress = progress or Quiet()
    root_seed = scenario.seed if seed is None else int(seed)
    n_replicates = scenario.replicates if replicates is None else int(replicates)
    scenario = dataclasses.replace(scenario, seed=root_seed, replicates=n_replicates)
    with progress.simulating(scenario, n_replicates) as advance:
        if executor is None:
            result = run_in_chunks(
                scenario,
                replicates=n_replicates,
                seed=root_seed,
                chunk_size=chunk_size or default_chunk_size(n_replicates),
                on_chunk=advance,
            )
        else:
            result = _run_on(executor, scenario, n_replicates, root_seed, advance)
    facts: list[FactCheck] = []
    if check:
        with progress.checking_facts() as one_more:
            facts = check_facts(scenario, result, runner=counting_runner(one_more, executor))
    return record_run(
        target,
        run_id=run_id,
        scenario=scenario,
        result=result,
        seed=root_seed,
        wall_time_s=time.perf_counter() - started,
        facts=facts,
        force=force,
        argv=argv,
        results_dir=results_dir,
    )


def _run_on(
    executor: Executor,
    scenario: Scenario,
    replicates: int,
    seed: int,
    advance: Callable[[int], None],
) -> SimulationResult:
    """The ensemble on an executor, its ``progress(done, total)`` turned into ``advance(n)``."""
    reported = 0

    def progress(done: int, total: int) -> None:
        nonlocal reported
        advance(done - reported)
        reported = done

    return run_ensemble(scenario, replicates, seed=seed, executor=executor, progress=progress)
