"""Persistent run jobs for the service: a SQLite queue and a bounded pool of worker processes.

A submitted job is written to SQLite (``<state-dir>/jobs.sqlite3``, WAL,
synchronous commits) before the submission is acknowledged, so a job the
client was told about survives any crash of the server.  On start, the
manager recovers the queue: queued jobs are queued again; a job that was
running when the server stopped is started again (runs are deterministic and
their results are written atomically, so a rerun gives the same bytes) up to
:data:`MAX_ATTEMPTS` starts, after which it is marked failed with the reason.

Each running job is one child process (``forkserver`` start method, with the
simulation modules preloaded, so starting costs milliseconds and a child that
crashes or is cancelled never takes the server with it).  At most
``workers`` children run at once; the others wait in FIFO order.  A child runs
the replicates one at a time (reporting progress through shared memory),
writes a results folder with :mod:`lipsteeth.adapters.store` and the bands the
dashboard draws, and exits; cancelling a running job terminates its child.

Clients never pass paths or pickles: a job is an embedded scenario name or a
scenario document (JSON), lever and parameter overrides, a horizon, a seed and
a replicate count, validated and resolved to a scenario TOML text here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.sharedctypes
import os
import shutil
import sqlite3
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np

MAX_ATTEMPTS = 3
RESULTS_DIR = "results"
BANDS_FILE = "bands.json"
ERROR_FILE = "error.txt"
SCENARIO_FILE = "scenario.toml"
STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class JobError(Exception):
    """A refused request: ``status`` is the HTTP status, ``message`` one line for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Caps on what one service accepts."""

    max_agent_days: float = 2.5e9  # agents x days x replicates of one run
    max_replicates: int = 1000
    max_years: float = 50.0
    max_active: int = 500  # queued + running jobs
    max_body_bytes: int = 1_000_000
    max_job_seconds: float = 3600.0
    max_jobs_kept: int = 10_000


# ---------------------------------------------------------------------------
# resolving a request to a scenario


@functools.lru_cache(maxsize=32)
def _embedded(name: str) -> Any:
    from ...scenario import load_scenario

    return load_scenario(name)


def embedded_names() -> list[str]:
    """Names of the embedded scenarios (the only names a client may use)."""
    from ...scenario._load import embedded_names as names

    return names()


def scenario_from_document(document: Mapping[str, Any]) -> Any:
    """A Scenario from a JSON scenario document; ``extends`` may name embedded scenarios only."""
    from ...scenario import ScenarioError, load_scenario_text
    from ...scenario._toml import dumps

    try:
        text = dumps(dict(document))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ScenarioError("request", "scenario", f"not a scenario document: {exc}") from None
    return load_scenario_text(text, source="request", base_dir=None)


def agents_of(scenario: Any) -> int:
    """Agent slots a run allocates: restaurant posts plus labour posts."""
    pop = scenario.params.population
    return int(
        pop.restaurant_sites_max * pop.staff_per_restaurant
        + pop.labour_sites_max * pop.labour_site_capacity
    )


@dataclass(frozen=True)
class ResolvedRun:
    """A validated run: the resolved scenario as TOML text plus seed and replicates."""

    scenario_name: str
    scenario_toml: str
    seed: int
    replicates: int
    agents: int
    days: int

    @property
    def agent_days(self) -> float:
        return float(self.agents) * float(self.days) * float(self.replicates)


@dataclass(frozen=True)
class _Resolved:
    name: str
    toml: str
    seed: int
    replicates: int
    agents: int
    days: int


_RESOLVED: dict[str, _Resolved] = {}
_RESOLVED_LOCK = threading.Lock()
_RESOLVED_MAX = 256


def _resolve_scenario(request: Mapping[str, Any]) -> _Resolved:
    """The scenario a request describes, cached by (scenario, overrides, horizon).

    Scenarios are immutable, so many submissions of one setting (a dashboard, a
    load test, seeds of one ensemble) validate and serialise it once.
    """
    key_doc = {k: request.get(k) for k in ("scenario", "params", "levers", "years")}
    key = hashlib.sha256(
        json.dumps(key_doc, sort_keys=True, allow_nan=False, default=str).encode()
    ).hexdigest()
    with _RESOLVED_LOCK:
        hit = _RESOLVED.get(key)
    if hit is not None:
        return hit
    scenario = _build_scenario(request)
    resolved = _Resolved(
        name=scenario.name,
        toml=scenario.to_toml(),
        seed=int(scenario.seed),
        replicates=int(scenario.replicates),
        agents=agents_of(scenario),
        days=int(scenario.calendar.n_days),
    )
    with _RESOLVED_LOCK:
        if len(_RESOLVED) >= _RESOLVED_MAX:
            _RESOLVED.pop(next(iter(_RESOLVED)))
        _RESOLVED[key] = resolved
    return resolved


def resolve_request(request: Mapping[str, Any], limits: Limits) -> ResolvedRun:
    """Validate a run request (already schema-checked) and resolve its scenario.

    Raises :class:`JobError` (422) with a one-line reason for an unknown
    scenario, a bad override or a run larger than the limits.
    """
    years = request.get("years")
    if years is not None and float(years) > limits.max_years:
        raise JobError(
            422, f"years: {years:g} is more than this service allows ({limits.max_years:g})"
        )
    resolved = _resolve_scenario(request)
    replicates = int(request.get("replicates") or resolved.replicates)
    if replicates > limits.max_replicates:
        raise JobError(
            422,
            f"replicates: {replicates} is more than this service allows ({limits.max_replicates})",
        )
    seed = request.get("seed")
    run = ResolvedRun(
        scenario_name=resolved.name,
        scenario_toml=resolved.toml,
        seed=int(resolved.seed if seed is None else seed),
        replicates=replicates,
        agents=resolved.agents,
        days=resolved.days,
    )
    if run.agent_days > limits.max_agent_days:
        raise JobError(
            422,
            f"run too large: {run.agents:,} agents x {run.days:,} days x {replicates} "
            f"replicates = {run.agent_days:.3g} agent-days, more than this service allows "
            f"({limits.max_agent_days:.3g}); use fewer replicates, fewer years or a smaller "
            "population",
        )
    return run


def _build_scenario(request: Mapping[str, Any]) -> Any:
    """The validated Scenario of a request (embedded name or document, plus overrides)."""
    from ...scenario import ScenarioError

    source = request.get("scenario", "baseline-2016")
    try:
        if isinstance(source, str):
            names = embedded_names()
            if source not in names:
                raise JobError(
                    422,
                    f"scenario: unknown scenario {source!r} (embedded: {', '.join(names)}); "
                    "or send a scenario document as a JSON object",
                )
            scenario = _embedded(source)
        elif isinstance(source, Mapping):
            scenario = scenario_from_document(source)
        else:
            raise JobError(422, "scenario: expected an embedded scenario name or a JSON object")
        years = request.get("years")
        params = dict(request.get("params") or {})
        levers = dict(request.get("levers") or {})
        if params or levers or years is not None:
            scenario = scenario.with_overrides(params=params, levers=levers, years=years)
    except ScenarioError as exc:
        raise JobError(422, str(exc)) from None
    return scenario


# ---------------------------------------------------------------------------
# the child process


def _quantiles(block: np.ndarray) -> dict[str, list[float | None]]:
    q = np.quantile(block, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    return {
        key: [None if not np.isfinite(v) else float(v) for v in row]
        for key, row in zip(("p5", "p25", "median", "p75", "p95"), q, strict=True)
    }


def bands_document(result: Any) -> dict[str, Any]:
    """Monthly and yearly quantile bands and whole-run statistics of every outcome."""
    from ...core.outcomes import OUTCOMES
    from ...experiment.summary import yearly

    years, yearly_values = yearly(result)
    months = [str(m) for m in np.asarray(result.months).astype("datetime64[M]")]
    monthly: dict[str, Any] = {}
    annual: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    for i, name in enumerate(result.outcome_names):
        spec = OUTCOMES.get(name)
        kind = spec.kind if spec else "mean"
        values = result.monthly[:, i, :]
        monthly[name] = _quantiles(values)
        annual[name] = _quantiles(yearly_values[:, i, :])
        if kind == "flow":
            whole = values.sum(axis=1)
        elif kind == "stock":
            whole = values[:, -1]
        else:
            whole = values.mean(axis=1)
        q5, q50, q95 = np.quantile(whole, [0.05, 0.5, 0.95])
        totals[name] = {
            "median": float(q50),
            "p5": float(q5),
            "p95": float(q95),
            "mean": float(whole.mean()),
            "statistic": {"flow": "total", "stock": "end", "mean": "average"}.get(kind, kind),
        }
    return {
        "replicates": int(np.asarray(result.replicates).size),
        "months": months,
        "years": [int(y) for y in years],
        "units": {n: (OUTCOMES[n].unit if n in OUTCOMES else "") for n in result.outcome_names},
        "kinds": {n: (OUTCOMES[n].kind if n in OUTCOMES else "mean") for n in result.outcome_names},
        "monthly": monthly,
        "yearly": annual,
        "totals": totals,
    }


def execute_job(
    job_id: str,
    job_dir: str,
    scenario_toml: str,
    seed: int,
    replicates: int,
    progress: Any,
) -> None:
    """Child-process entry: run the replicates, write results and bands, exit 0 (or 1)."""
    _die_with_parent()
    folder = Path(job_dir)
    try:
        _run_job(job_id, folder, scenario_toml, seed, replicates, progress)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a one-line reason
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
        with contextlib.suppress(OSError):
            (folder / ERROR_FILE).write_text(reason + "\n" + traceback.format_exc())
        os._exit(1)


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent (the fork server) dies, so no orphan keeps writing."""
    parent = os.getppid()
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _run_job(
    job_id: str, folder: Path, scenario_toml: str, seed: int, replicates: int, progress: Any
) -> None:
    from ...core.outcomes import OUTCOME_NAMES
    from ...experiment.ensemble import combine, run_scenario
    from ...experiment.posterior import uncertainty_of, with_uncertainty
    from ...experiment.summary import yearly_bands
    from ...scenario import load_scenario_text
    from .. import store
    from ..store import dumps

    started = time.perf_counter()
    scenario = load_scenario_text(scenario_toml, source=f"job {job_id}")
    # parameter uncertainty as `lipsteeth run` holds it by default (the shipped posterior)
    scenario = with_uncertainty(scenario)
    parts = []
    for i in range(replicates):
        parts.append(run_scenario(scenario, seed=seed, replicate_indices=np.array([i])))
        progress.value = i + 1
    result = combine(parts)
    bands = yearly_bands(result, OUTCOME_NAMES)
    wall = time.perf_counter() - started
    target = folder / RESULTS_DIR
    summary = {
        "scenario": scenario.name,
        "seed": int(seed),
        "replicates": int(replicates),
        "years": [int(y) for y in bands[0].years] if bands else [],
        "outcomes": {
            b.outcome: {
                "unit": b.unit,
                "median": [float(v) for v in b.median],
                "p5": [float(v) for v in b.p5],
                "p95": [float(v) for v in b.p95],
            }
            for b in bands
        },
        "facts": [],
        "uncertainty": uncertainty_of(scenario).describe(),
        "results_dir": f"run {job_id}",
        "wall_time_s": round(wall, 3),
    }
    manifest = store.run_manifest(
        run_id=job_id,
        scenario=scenario,
        result=result,
        seed=seed,
        argv=["serve", "job", job_id],
        wall_time_s=wall,
        facts=[],
        ledger=store.ledger_checks(result),
    )
    doc = {**bands_document(result), "uncertainty": summary["uncertainty"]["band"]}
    tmp = folder / f".{BANDS_FILE}.tmp"
    tmp.write_text(dumps(doc))
    store.write_results(
        target,
        run_id=job_id,
        result=result,
        start=scenario.start,
        manifest=manifest,
        summary=summary,
        force=True,
    )
    tmp.replace(folder / BANDS_FILE)


def _preload() -> list[str]:
    return [
        "numpy",
        "pyarrow",
        "pyarrow.parquet",
        "lipsteeth.scenario",
        "lipsteeth.experiment.ensemble",
        "lipsteeth.adapters.store",
        "lipsteeth.adapters.web.jobs",
        "lipsteeth.adapters.web._warm",
    ]


@functools.lru_cache(maxsize=1)
def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_preload())
        return ctx
    return multiprocessing.get_context("spawn")


def _noop() -> None:
    """A child that does nothing (starts the fork server)."""


def _warm_up() -> None:
    """Start the fork server (and its preloaded modules) before the first run needs it."""
    with contextlib.suppress(Exception):
        process = _context().Process(target=_noop, daemon=True)
        process.start()
        process.join(timeout=60)


# ---------------------------------------------------------------------------
# the store


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT UNIQUE,
    request_sha256 TEXT NOT NULL,
    request TEXT NOT NULL,
    scenario_name TEXT NOT NULL,
    scenario_toml TEXT NOT NULL,
    seed INTEGER NOT NULL,
    replicates INTEGER NOT NULL,
    agent_days REAL NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    submitted REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
"""

_COLUMNS = (
    "seq, id, idempotency_key, request_sha256, request, scenario_name, seed, replicates, "
    "agent_days, status, progress, attempts, submitted, started, finished, error, note"
)


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class JobStore:
    """SQLite table of jobs; one connection guarded by a lock (calls are short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def insert(
        self,
        job_id: str,
        run: ResolvedRun,
        request: Mapping[str, Any],
        key: str | None,
        max_active: int,
    ) -> tuple[dict[str, Any], bool]:
        """Insert a queued job; returns (row, created).  Same key and body: the old job."""
        body = json.dumps(request, sort_keys=True, allow_nan=False)
        sha = hashlib.sha256(body.encode()).hexdigest()
        with self._tx() as db:
            if key is not None:
                old = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE idempotency_key = ?", (key,)
                ).fetchone()
                if old is not None:
                    if old["request_sha256"] != sha:
                        raise JobError(
                            409,
                            "Idempotency-Key was already used for a different request",
                        )
                    return dict(old), False
            active = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchone()[0]
            if active >= max_active:
                raise JobError(
                    429,
                    f"the service has {active} unfinished runs (limit {max_active}); retry later",
                )
            db.execute(
                "INSERT INTO jobs (id, idempotency_key, request_sha256, request, scenario_name, "
                "scenario_toml, seed, replicates, agent_days, status, submitted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                (
                    job_id,
                    key,
                    sha,
                    body,
                    run.scenario_name,
                    run.scenario_toml,
                    run.seed,
                    run.replicates,
                    run.agent_days,
                    time.time(),
                ),
            )
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row), True

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return dict(row) if row is not None else None

    def scenario_toml(self, job_id: str) -> str:
        with self._lock:
            row = self._db.execute(
                "SELECT scenario_toml FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return str(row[0]) if row is not None else ""

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {_COLUMNS} FROM jobs"
        args: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        query += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        return [dict(r) for r in rows]

    def update(self, job_id: str, **fields: Any) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*fields.values(), job_id))

    def transition(self, job_id: str, expected: tuple[str, ...], **fields: Any) -> bool:
        """Update a job only if its status is one of ``expected``; True if it was."""
        sets = ", ".join(f"{k} = ?" for k in fields)
        marks = ", ".join("?" for _ in expected)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND status IN ({marks})",
                (*fields.values(), job_id, *expected),
            )
            return cur.rowcount == 1

    def delete(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def by_status(self, *statuses: str) -> list[dict[str, Any]]:
        marks = ", ".join("?" for _ in statuses)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status IN ({marks}) ORDER BY seq", statuses
            ).fetchall()
        return [dict(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def oldest_finished(self, keep: int) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') "
                "ORDER BY seq DESC LIMIT -1 OFFSET ?",
                (keep,),
            ).fetchall()
        return [str(r[0]) for r in rows]


# ---------------------------------------------------------------------------
# the manager


@dataclass
class _Running:
    job_id: str
    process: BaseProcess
    progress: Any
    started: float


class JobManager:
    """Queue, run, cancel and recover jobs; ``workers`` child processes at most."""

    def __init__(self, state_dir: Path, *, workers: int = 2, limits: Limits | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.jobs_dir = self.state_dir / "runs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.workers = max(1, int(workers))
        self.limits = limits or Limits()
        self.store = JobStore(self.state_dir / "jobs.sqlite3")
        self._queue: deque[str] = deque()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recovered: dict[str, list[str]] = {"resumed": [], "requeued": [], "failed": []}

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Recover persisted jobs and start dispatching."""
        self._recover()
        threading.Thread(target=_warm_up, name="lipsteeth-warm-up", daemon=True).start()
        self._thread = threading.Thread(target=self._loop, name="lipsteeth-jobs", daemon=True)
        self._thread.start()

    def stop(self, *, wait: float = 5.0) -> None:
        """Stop dispatching; running children are terminated and their jobs left to recovery."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=wait)
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for r in running:
            with contextlib.suppress(Exception):
                r.process.terminate()
                r.process.join(timeout=wait)
        with contextlib.suppress(OSError):
            os.close(self._wake_r)
            os.close(self._wake_w)
        self.store.close()

    def _recover(self) -> None:
        for row in self.store.by_status("running"):
            job_id = row["id"]
            self._clean_partial(job_id)
            if int(row["attempts"]) >= MAX_ATTEMPTS:
                self.store.update(
                    job_id,
                    status="failed",
                    finished=time.time(),
                    error=(
                        f"the server stopped while this run was running, {row['attempts']} "
                        "times; not retried again"
                    ),
                )
                self.recovered["failed"].append(job_id)
            else:
                self.store.update(
                    job_id,
                    status="queued",
                    progress=0,
                    note="resumed: the server stopped while this run was running",
                )
                self._queue.append(job_id)
                self.recovered["resumed"].append(job_id)
        for row in self.store.by_status("queued"):
            if row["id"] not in self._queue:
                self._clean_partial(row["id"])
                self._queue.append(row["id"])
                self.recovered["requeued"].append(row["id"])
        # keep FIFO order by submission
        order = {r["id"]: r["seq"] for r in self.store.by_status("queued")}
        self._queue = deque(sorted(self._queue, key=lambda j: order.get(j, 0)))

    def _clean_partial(self, job_id: str) -> None:
        folder = self.jobs_dir / job_id
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)

    # --- API ---------------------------------------------------------------------

    def submit(
        self, request: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Validate, persist and queue a run; returns (status, created)."""
        run = resolve_request(request, self.limits)
        job_id = uuid.uuid4().hex
        row, created = self.store.insert(
            job_id, run, request, idempotency_key, self.limits.max_active
        )
        if created:
            with self._lock:
                self._queue.append(job_id)
            self._wake()
        return self.describe(row), created

    def status(self, job_id: str) -> dict[str, Any] | None:
        row = self.store.get(job_id)
        return self.describe(row) if row is not None else None

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        """Recent jobs, newest first."""
        return [self.describe(r) for r in self.store.list_jobs(limit, status)]

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job; delete a finished one (and its results)."""
        row = self.store.get(job_id)
        if row is None:
            return None
        if row["status"] in TERMINAL:
            self.store.delete(job_id)
            self._clean_partial(job_id)
            out = self.describe(row)
            out["status"] = "deleted"
            return out
        with self._lock:  # atomic with _launch's start-and-check
            if job_id in self._queue:
                self._queue.remove(job_id)
            running = self._running.pop(job_id, None)
            self.store.transition(
                job_id,
                ("queued", "running"),
                status="cancelled",
                finished=time.time(),
                error="cancelled by the client",
            )
        if running is not None:
            with contextlib.suppress(Exception):
                running.process.terminate()
                running.process.join(timeout=5)
            self._clean_partial(job_id)
        self._wake()
        return self.status(job_id)

    def results_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / RESULTS_DIR

    def bands_path(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / BANDS_FILE

    def describe(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The public status of a job row (live progress for running jobs)."""
        job_id = str(row["id"])
        progress = int(row["progress"] or 0)
        with self._lock:
            running = self._running.get(job_id)
            position = None
            if row["status"] == "queued" and job_id in self._queue:
                position = self._queue.index(job_id)
        if running is not None:
            progress = int(running.progress.value)
        total = int(row["replicates"])
        return {
            "id": job_id,
            "status": str(row["status"]),
            "scenario": str(row["scenario_name"]),
            "seed": int(row["seed"]),
            "replicates": total,
            "agent_days": float(row["agent_days"]),
            "progress": {
                "done": progress,
                "total": total,
                "fraction": round(progress / total, 4) if total else 0.0,
            },
            "queue_position": position,
            "attempts": int(row["attempts"]),
            "submitted": _iso(row["submitted"]),
            "started": _iso(row["started"]),
            "finished": _iso(row["finished"]),
            "error": row["error"],
            "note": row["note"],
            "request": json.loads(row["request"]),
            "links": {
                "self": f"/api/runs/{job_id}",
                "outcomes": f"/api/runs/{job_id}/outcomes",
                "bands": f"/api/runs/{job_id}/bands",
            },
        }

    def health(self) -> dict[str, Any]:
        with self._lock:
            queued, running = len(self._queue), len(self._running)
        return {
            "status": "ok",
            "workers": self.workers,
            "queued": queued,
            "running": running,
            "jobs": self.store.counts(),
            "recovered": {k: len(v) for k, v in self.recovered.items()},
        }

    # --- dispatching -------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError, BlockingIOError):
            os.set_blocking(self._wake_r, False)
            while os.read(self._wake_r, 4096):
                pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap()
                self._launch()
                self._expire()
            except Exception:  # noqa: BLE001 - the dispatcher must never die
                traceback.print_exc()
            with self._lock:
                sentinels = [r.process.sentinel for r in self._running.values()]
            multiprocessing.connection.wait([self._wake_r, *sentinels], timeout=0.5)
            self._drain_wake()

    def _launch(self) -> None:
        while True:
            with self._lock:
                if len(self._running) >= self.workers or not self._queue:
                    return
                job_id = self._queue.popleft()
            row = self.store.get(job_id)
            if row is None or row["status"] != "queued":
                continue
            folder = self.jobs_dir / job_id
            self._clean_partial(job_id)
            folder.mkdir(parents=True, exist_ok=True)
            ctx = _context()
            progress = ctx.Value("i", 0, lock=False)
            process = ctx.Process(
                target=execute_job,
                args=(
                    job_id,
                    str(folder),
                    self.store.scenario_toml(job_id),
                    int(row["seed"]),
                    int(row["replicates"]),
                    progress,
                ),
                name=f"lipsteeth-job-{job_id[:8]}",
                daemon=True,
            )
            if not self.store.transition(
                job_id,
                ("queued",),
                status="running",
                started=time.time(),
                attempts=int(row["attempts"]) + 1,
                progress=0,
            ):
                continue
            process.start()
            with self._lock:
                self._running[job_id] = _Running(job_id, process, progress, time.monotonic())
                row = self.store.get(job_id)  # cancelled while the child was starting?
                if row is None or row["status"] != "running":
                    self._running.pop(job_id, None)
                    stale: _Running | None = _Running(job_id, process, progress, 0.0)
                else:
                    stale = None
            if stale is not None:
                with contextlib.suppress(Exception):
                    process.terminate()
                    process.join(timeout=5)
                self._clean_partial(job_id)

    def _reap(self) -> None:
        with self._lock:
            done = [r for r in self._running.values() if not r.process.is_alive()]
            for r in done:
                self._running.pop(r.job_id, None)
        for r in done:
            r.process.join(timeout=1)
            code = r.process.exitcode
            folder = self.jobs_dir / r.job_id
            ok = code == 0 and (folder / BANDS_FILE).is_file()
            if ok:
                self.store.transition(
                    r.job_id,
                    ("running",),
                    status="succeeded",
                    finished=time.time(),
                    progress=int(r.progress.value),
                )
            else:
                reason = self._failure_reason(folder, code)
                self.store.transition(
                    r.job_id, ("running",), status="failed", finished=time.time(), error=reason
                )
        if done:
            self._prune()

    def _failure_reason(self, folder: Path, code: int | None) -> str:
        with contextlib.suppress(OSError):
            text = (folder / ERROR_FILE).read_text().splitlines()
            if text:
                return text[0]
        if code is not None and code < 0:
            return f"the worker process was killed by signal {-code}"
        return f"the worker process exited with code {code} without results"

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [
                r for r in self._running.values() if now - r.started > self.limits.max_job_seconds
            ]
            for r in late:
                self._running.pop(r.job_id, None)
        for r in late:
            with contextlib.suppress(Exception):
                r.process.terminate()
                r.process.join(timeout=5)
            self.store.transition(
                r.job_id,
                ("running",),
                status="failed",
                finished=time.time(),
                error=f"the run took longer than {self.limits.max_job_seconds:g} s and was stopped",
            )
            self._clean_partial(r.job_id)

    def _prune(self) -> None:
        for job_id in self.store.oldest_finished(self.limits.max_jobs_kept):
            self.store.delete(job_id)
            self._clean_partial(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any] | None:
        """Block until a job is finished (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status(job_id)
            if st is None or st["status"] in TERMINAL:
                return st
            time.sleep(0.05)
        return self.status(job_id)
