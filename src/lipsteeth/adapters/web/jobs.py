"""Persistent run jobs for the service: a SQLite queue and a bounded pool of worker processes.

A submitted job is written to SQLite (``<state-dir>/jobs.sqlite3``, WAL,
synchronous commits) before the submission is acknowledged, so a job the
client was told about survives any crash of the server.  On start, the
manager recovers the queue: queued jobs are queued again; a job that was
running when the server stopped is started again up to :data:`MAX_ATTEMPTS`
starts, after which it is marked failed with the reason.  A running job is
marked with its owner (the server's pid and start time) and its processes hold
a lock on its folder; one whose owner or processes still live is left alone
and taken over only once they are gone, so no job runs twice at once.  Finished replicates
are files (:mod:`.worker`), so a restarted job runs only those it lacks.

Work is scheduled by replicate, not by job: at most ``workers`` child
processes run at once (``forkserver`` start method with the simulation
modules preloaded, so a child starts in milliseconds; a child that crashes or
is cancelled never takes the server with it).  A free slot goes first to the
oldest queued job (so two jobs submitted together, the sides of a comparison,
advance side by side), then as a helper to the oldest running job that still
has unclaimed replicates (so a lone job uses every core).

A comparison pairs two runs with the same seed, replicate count and horizon
(:mod:`.bands`).  Runs are deterministic in (scenario, seed, replicates), so a
comparison reuses a finished or unfinished run with the same content instead
of computing it again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import multiprocessing.connection
import os
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np

from .job_store import JobStore, iso_time
from .limits import JobError, Limits
from .run_requests import (
    ResolvedRun,
    agents_of,
    embedded,
    embedded_names,
    resolve_request,
    scenario_from_document,
)
from .worker import (
    BANDS_FILE,
    ERROR_FILE,
    REPS_DIR,
    RESULTS_DIR,
    execute_job,
    finished_replicates,
    job_lock_free,
    preload,
    read_meta,
    rep_path,
)

__all__ = [
    "JobError",
    "JobManager",
    "JobStore",
    "Limits",
    "ResolvedRun",
    "agents_of",
    "embedded",
    "embedded_names",
    "resolve_request",
    "scenario_from_document",
]

MAX_ATTEMPTS = 3
SCENARIO_FILE = "scenario.toml"
STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
REUSABLE: tuple[str, ...] = ("queued", "running", "succeeded")


def isolate_imports() -> None:
    """Job processes import nothing from the directory the service was started in.

    Issue 17, item 14: multiprocessing starts the fork server and the resource
    tracker as ``python -c ...``, which puts the working directory at the head of
    ``sys.path`` before the first import, and then hands the fork server the
    service's own ``sys.path``; a ``token.py`` where ``serve`` was started was
    executed.  Called once by the service's process (:func:`.app.serve`), before any
    job process: ``PYTHONSAFEPATH`` (Python 3.11+, inherited by every child) stops
    the ``-c`` prepend, and the working directory (``''`` or its absolute path)
    leaves ``sys.path``, which the fork server receives.  The package is installed,
    so it is found without either.  (A ``JobManager`` used inside another program,
    as the tests do, leaves that program's environment and path alone.)
    """
    os.environ["PYTHONSAFEPATH"] = "1"
    here = {"", "."}
    with contextlib.suppress(OSError):
        here.add(os.path.realpath(os.getcwd()))
    unsafe = [p for p in sys.path if p in here or os.path.realpath(p or ".") in here]
    for entry in unsafe:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


@functools.lru_cache(maxsize=1)
def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(preload())
        return ctx
    return multiprocessing.get_context("spawn")


def _start_ticks(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot, Linux), None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if fields[0] not in ("Z", "X") else None


def owner_token(pid: int | None = None) -> str:
    """``pid:start`` of a server process: the owner a running job is marked with.

    The start time tells a live owner from a later process that got the same pid.
    """
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_ticks(pid) or '?'}"


def owner_alive(owner: str | None) -> bool:
    """Is the server that marked a job as its own still running?"""
    if not owner:
        return False
    pid_text, _, start = owner.partition(":")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    if start == "?" or not Path("/proc/self/stat").is_file():
        return True
    return _start_ticks(pid) == start


def _noop() -> None:
    """A child that does nothing (starts the fork server)."""


def _warm_up(ready: threading.Event) -> None:
    """Start the fork server (and its preloaded modules) before the first run needs it."""
    try:
        with contextlib.suppress(Exception):
            process = _context().Process(target=_noop, daemon=True)
            process.start()
            process.join(timeout=120)
    finally:
        ready.set()


# ---------------------------------------------------------------------------
# the manager


@dataclass
class _Running:
    """A job with its children, its list of replicates to run and its shared counters."""

    job_id: str
    todo: list[int]
    next_position: Any  # shared: the next position in ``todo`` to claim
    done: Any  # shared: replicates on disk
    started: float  # monotonic, for the time cap
    started_epoch: float
    seed: int
    replicates: int
    scenario_toml: str
    processes: list[BaseProcess] = field(default_factory=list)
    failed: str | None = None

    def unclaimed(self) -> int:
        return max(0, len(self.todo) - int(self.next_position.value))


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
        self.warm = threading.Event()
        #: jobs this server found after another stopped: resumed (running, taken over),
        #: requeued (queued), finished (its results complete as that server died), failed
        self.recovered: dict[str, list[str]] = {
            "resumed": [],
            "requeued": [],
            "finished": [],
            "failed": [],
        }
        self.owner = owner_token()
        #: running jobs of another live server on this state (left to it; adopted if it dies)
        self._foreign: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Recover persisted jobs and start dispatching."""
        self._recover()
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
            _terminate(r.processes, wait)
        with contextlib.suppress(OSError):
            os.close(self._wake_r)
            os.close(self._wake_w)
        self.store.close()

    def _recover(self) -> None:
        for row in self.store.by_status("running"):
            self._recover_running(row)
        for row in self.store.by_status("queued"):
            if row["id"] not in self._queue:
                self._clean_partial(row["id"])
                self._queue.append(row["id"])
                self.recovered["requeued"].append(row["id"])
        # keep FIFO order by submission
        order = {r["id"]: r["seq"] for r in self.store.by_status("queued")}
        self._queue = deque(sorted(self._queue, key=lambda j: order.get(j, 0)))

    def _recover_running(self, row: Mapping[str, Any]) -> None:
        """A job marked running by a server that is not this one: leave it or take it over.

        Issue 17, item 13: while the server that started it lives (its owner mark,
        :func:`owner_alive`) or any of its job processes still holds the job's lock
        (:func:`.worker.job_lock_free`), the job is left alone and looked at again;
        once both are gone it is queued again (or, after :data:`MAX_ATTEMPTS` starts,
        failed), so it never runs twice at once.
        """
        job_id = str(row["id"])
        if row["owner"] == self.owner:
            return
        if owner_alive(row["owner"]) or not job_lock_free(self.jobs_dir / job_id):
            self._foreign.add(job_id)
            return
        self._foreign.discard(job_id)
        if (self.jobs_dir / job_id / BANDS_FILE).is_file():  # finished as the server died
            if self.store.transition(
                job_id,
                ("running",),
                status="succeeded",
                finished=time.time(),
                progress=row["replicates"],
            ):
                self.recovered["finished"].append(job_id)
            return
        self._clean_partial(job_id)
        if int(row["attempts"]) >= MAX_ATTEMPTS:
            self.store.transition(
                job_id,
                ("running",),
                status="failed",
                finished=time.time(),
                error=(
                    f"the server stopped while this run was running, {row['attempts']} "
                    "times; not retried again"
                ),
            )
            self.recovered["failed"].append(job_id)
            return
        kept = len(finished_replicates(self.jobs_dir / job_id))
        if self.store.transition(
            job_id,
            ("running",),
            status="queued",
            progress=kept,
            owner=None,
            note=(
                f"resumed: the server stopped while this run was running ({kept} replicates "
                "were kept)"
            ),
        ):
            with self._lock:
                self._queue.append(job_id)
            self.recovered["resumed"].append(job_id)

    def _adopt(self) -> None:
        """Look again at the running jobs of another server (see :meth:`_recover_running`)."""
        for job_id in list(self._foreign):
            row = self.store.get(job_id)
            if row is None or row["status"] != "running":
                self._foreign.discard(job_id)  # finished, cancelled or deleted by its owner
            else:
                self._recover_running(row)

    def _clean_partial(self, job_id: str) -> None:
        """Remove what an interrupted job half-wrote; keep its finished replicates."""
        folder = self.jobs_dir / job_id
        if not folder.exists():
            return
        shutil.rmtree(folder / RESULTS_DIR, ignore_errors=True)
        for item in [*folder.glob(".*.tmp"), *(folder / REPS_DIR).glob(".*")]:
            with contextlib.suppress(OSError):
                item.unlink()
        with contextlib.suppress(OSError):
            (folder / ERROR_FILE).unlink()
        for index in finished_replicates(folder):  # a replicate counts only with its result
            if not rep_path(folder, index, ".result.pkl").is_file():
                with contextlib.suppress(OSError):
                    rep_path(folder, index).unlink()

    def _remove(self, job_id: str) -> None:
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)

    # --- API ---------------------------------------------------------------------

    def submit(
        self,
        request: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        reuse: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Validate, persist and queue a run; returns (status, created)."""
        run = resolve_request(request, self.limits)
        return self._insert(run, request, idempotency_key, reuse)

    def _insert(
        self, run: ResolvedRun, request: Mapping[str, Any], key: str | None, reuse: bool
    ) -> tuple[dict[str, Any], bool]:
        job_id = uuid.uuid4().hex
        row, created = self.store.insert(
            job_id, run, request, key, self.limits.max_active, reuse=reuse
        )
        if created:
            with self._lock:
                self._queue.append(job_id)
            self._wake()
        return self.describe(row), created

    def compare(
        self, a: Mapping[str, Any], b: Mapping[str, Any], label: str | None = None
    ) -> dict[str, Any]:
        """A paired comparison of two runs (same seed, replicates and horizon)."""
        run_a = resolve_request(a, self.limits)
        b = dict(b)
        b.setdefault("seed", run_a.seed)
        b.setdefault("replicates", run_a.replicates)
        run_b = resolve_request(b, self.limits)
        for what, left, right in (
            ("seed", run_a.seed, run_b.seed),
            ("replicates", run_a.replicates, run_b.replicates),
            ("start", run_a.start, run_b.start),
            ("end", run_a.end, run_b.end),
        ):
            if left != right:
                raise JobError(
                    422,
                    f"b.{what}: a paired comparison needs the same {what} for A and B "
                    f"(A: {left}, B: {right})",
                )
        active = self.store.counts()
        unfinished = active.get("queued", 0) + active.get("running", 0)
        if unfinished + 2 > self.limits.max_active:
            raise JobError(
                429,
                f"the service has {unfinished} unfinished runs (limit "
                f"{self.limits.max_active}); retry later",
            )
        status_a, _ = self._insert(run_a, a, None, True)
        status_b, _ = self._insert(run_b, b, None, True)
        comparison_id = uuid.uuid4().hex
        self.store.insert_comparison(comparison_id, status_a["id"], status_b["id"], label)
        return self.comparison(comparison_id) or {}

    def comparison(self, comparison_id: str) -> dict[str, Any] | None:
        row = self.store.get_comparison(comparison_id)
        if row is None:
            return None
        return self.describe_comparison(row)

    def describe_comparison(self, row: Mapping[str, Any]) -> dict[str, Any]:
        a, b = self.status(str(row["a_id"])), self.status(str(row["b_id"]))
        statuses = [s["status"] if s else "deleted" for s in (a, b)]
        if "deleted" in statuses or "failed" in statuses or "cancelled" in statuses:
            overall = next(s for s in ("deleted", "failed", "cancelled") if s in statuses)
        elif statuses == ["succeeded", "succeeded"]:
            overall = "succeeded"
        elif "running" in statuses:
            overall = "running"
        else:
            overall = "queued" if statuses == ["queued", "queued"] else "running"
        comparison_id = str(row["id"])
        return {
            "id": comparison_id,
            "status": overall,
            "label": row["label"],
            "created": iso_time(row["created"]),
            "a": a,
            "b": b,
            "a_id": str(row["a_id"]),
            "b_id": str(row["b_id"]),
            "links": {
                "self": f"/api/comparisons/{comparison_id}",
                "bands": f"/api/comparisons/{comparison_id}/bands",
            },
        }

    def list_comparisons(self, limit: int = 100) -> list[dict[str, Any]]:
        return [self.describe_comparison(r) for r in self.store.list_comparisons(limit)]

    def delete_comparison(self, comparison_id: str) -> dict[str, Any] | None:
        """Forget a comparison (its runs stay: other comparisons may share them)."""
        out = self.comparison(comparison_id)
        if out is not None:
            self.store.delete_comparison(comparison_id)
            out["status"] = "deleted"
        return out

    def status(self, job_id: str) -> dict[str, Any] | None:
        row = self.store.get(job_id)
        return self.describe(row) if row is not None else None

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        """Recent jobs, newest first, in full (with each job's request document)."""
        return [self.describe(r) for r in self.store.list_jobs(limit, status)]

    def list_summaries(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        """Recent jobs, newest first, as summaries: a listing of 1000 jobs stays small.

        Issue 17, item 15: the listing echoed every job's full request (8.2 MB for
        1000 jobs); the request stays at ``/api/runs/{id}``.
        """
        return [summarize(r) for r in self.store.list_jobs(limit, status, summary=True)]

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job; delete a finished one (and its results)."""
        row = self.store.get(job_id)
        if row is None:
            return None
        if row["status"] in TERMINAL:
            self.store.delete(job_id)
            self._remove(job_id)
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
            _terminate(running.processes, 5)
        self._remove(job_id)
        self._wake()
        return self.status(job_id)

    def results_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / RESULTS_DIR

    def bands_path(self, job_id: str) -> Path:
        return self.jobs_dir / job_id / BANDS_FILE

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def scenario_toml(self, job_id: str) -> str:
        return self.store.scenario_toml(job_id)

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
            progress = int(running.done.value)
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
            "submitted": iso_time(row["submitted"]),
            "started": iso_time(row["started"]),
            "finished": iso_time(row["finished"]),
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
            children = sum(len(r.processes) for r in self._running.values())
        return {
            "status": "ok",
            "warm": self.warm.is_set(),
            "workers": self.workers,
            "children": children,
            "queued": queued,
            "running": running,
            "jobs": self.store.counts(),
            "recovered": {k: len(v) for k, v in self.recovered.items()},
        }

    # --- streamed replicates -------------------------------------------------------

    def replicate_indices(self, job_id: str) -> list[int]:
        """Indices of the replicates of a job on disk (finished), in order."""
        return finished_replicates(self.jobs_dir / job_id)

    def months(self, job_id: str) -> np.ndarray | None:
        """The months of a job's outcomes (known once a replicate has finished)."""
        meta = read_meta(self.jobs_dir / job_id)
        return np.array(meta["months"], dtype="datetime64[M]") if meta else None

    def replicate_outcomes(
        self, job_id: str, names: list[str] | None = None
    ) -> tuple[list[int], np.ndarray, np.ndarray, list[str]] | None:
        """(replicate indices, (R, V, M) monthly outcomes, months, outcome names) on disk.

        Only the rows of ``names`` (all outcomes if None) are returned.  None
        while no replicate is finished.
        """
        folder = self.jobs_dir / job_id
        meta = read_meta(folder)
        indices = finished_replicates(folder)
        if meta is None or not indices:
            return None
        all_names = list(meta["outcome_names"])
        rows = [all_names.index(n) for n in names] if names is not None else None
        blocks, kept = [], []
        for index in indices:
            try:
                block = np.load(rep_path(folder, index), allow_pickle=False)
            except (OSError, ValueError):  # deleted under us (cancel): skip it
                continue
            blocks.append(block if rows is None else block[rows])
            kept.append(index)
        if not blocks:
            return None
        months = np.array(meta["months"], dtype="datetime64[M]")
        return kept, np.stack(blocks), months, (all_names if names is None else list(names))

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
        # The fork server is started from this thread, which lives as long as the service:
        # the fork server asks for SIGKILL when its parent thread ends (``_warm``), and each
        # child when the fork server ends, so no child outlives a killed server.
        _warm_up(self.warm)
        while not self._stop.is_set():
            try:
                self._reap()
                self._adopt()
                self._launch()
                self._expire()
            except Exception:  # noqa: BLE001 - the dispatcher must never die
                traceback.print_exc()
            with self._lock:
                sentinels = [p.sentinel for r in self._running.values() for p in r.processes]
            multiprocessing.connection.wait([self._wake_r, *sentinels], timeout=0.5)
            self._drain_wake()

    def _busy(self) -> int:
        return sum(len(r.processes) for r in self._running.values())

    def _launch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._busy() >= self.workers:
                    return
                job_id = self._queue.popleft() if self._queue else None
                helped = None
                if job_id is None:
                    helped = next(
                        (
                            r
                            for r in self._running.values()
                            if r.failed is None and r.unclaimed() > len(r.processes)
                        ),
                        None,
                    )
                    if helped is None:
                        return
            if helped is not None:
                self._spawn(helped, finalize_now=False)
                continue
            assert job_id is not None
            self._start_job(job_id)

    def _start_job(self, job_id: str) -> None:
        row = self.store.get(job_id)
        if row is None or row["status"] != "queued":
            return
        folder = self.jobs_dir / job_id
        self._clean_partial(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        total = int(row["replicates"])
        have = set(finished_replicates(folder))
        todo = [i for i in range(total) if i not in have]
        ctx = _context()
        now = time.time()
        running = _Running(
            job_id=job_id,
            todo=todo,
            next_position=ctx.Value("i", 0),
            done=ctx.Value("i", total - len(todo)),
            started=time.monotonic(),
            started_epoch=float(row["started"] or now) if row["attempts"] else now,
            seed=int(row["seed"]),
            replicates=total,
            scenario_toml=self.store.scenario_toml(job_id),
        )
        if not self.store.transition(
            job_id,
            ("queued",),
            status="running",
            started=now,
            attempts=int(row["attempts"]) + 1,
            progress=total - len(todo),
            owner=self.owner,
        ):
            return
        with self._lock:
            self._running[job_id] = running
        self._spawn(running, finalize_now=not todo)
        with self._lock:  # cancelled while the child was starting?
            row = self.store.get(job_id)
            stale = row is None or row["status"] != "running"
            if stale:
                self._running.pop(job_id, None)
        if stale:
            _terminate(running.processes, 5)
            self._remove(job_id)

    def _spawn(self, running: _Running, *, finalize_now: bool) -> None:
        process = _context().Process(
            target=execute_job,
            args=(
                running.job_id,
                str(self.jobs_dir / running.job_id),
                running.scenario_toml,
                running.seed,
                running.replicates,
                running.todo,
                running.next_position,
                running.done,
                finalize_now,
                running.started_epoch,
            ),
            name=f"lipsteeth-job-{running.job_id[:8]}",
            daemon=True,
        )
        process.start()
        with self._lock:
            running.processes.append(process)

    def _reap(self) -> None:
        finished: list[_Running] = []
        with self._lock:
            for r in list(self._running.values()):
                for p in [p for p in r.processes if not p.is_alive()]:
                    r.processes.remove(p)
                    p.join(timeout=1)
                    if p.exitcode != 0 and r.failed is None:
                        r.failed = self._failure_reason(self.jobs_dir / r.job_id, p.exitcode)
                if r.failed is not None and r.processes:
                    _terminate(r.processes, 5)
                    r.processes.clear()
                if not r.processes and (r.failed is not None or r.unclaimed() == 0):
                    self._running.pop(r.job_id, None)
                    finished.append(r)
        for r in finished:
            folder = self.jobs_dir / r.job_id
            if r.failed is None and (folder / BANDS_FILE).is_file():
                self.store.transition(
                    r.job_id,
                    ("running",),
                    status="succeeded",
                    finished=time.time(),
                    progress=int(r.done.value),
                )
            else:
                reason = r.failed or self._failure_reason(folder, 0)
                self.store.transition(
                    r.job_id,
                    ("running",),
                    status="failed",
                    finished=time.time(),
                    error=reason,
                    progress=int(r.done.value),
                )
        if finished:
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
            _terminate(r.processes, 5)
            self.store.transition(
                r.job_id,
                ("running",),
                status="failed",
                finished=time.time(),
                error=f"the run took longer than {self.limits.max_job_seconds:g} s and was stopped",
            )
            self._remove(r.job_id)

    def _prune(self) -> None:
        for job_id in self.store.oldest_finished(self.limits.max_jobs_kept):
            self.store.delete(job_id)
            self._remove(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any] | None:
        """Block until a job is finished (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status(job_id)
            if st is None or st["status"] in TERMINAL:
                return st
            time.sleep(0.05)
        return self.status(job_id)


def summarize(row: Mapping[str, Any]) -> dict[str, Any]:
    """A job row as a listing shows it: what it is and where it stands, no request."""
    job_id = str(row["id"])
    days = row["days"]
    return {
        "id": job_id,
        "status": str(row["status"]),
        "scenario": str(row["scenario_name"]),
        "created": iso_time(row["submitted"]),
        "finished": iso_time(row["finished"]),
        "seed": int(row["seed"]),
        "replicates": int(row["replicates"]),
        "done": int(row["progress"] or 0),
        # simulated horizon; unknown for jobs stored by a version before these columns
        "years": round(int(days) / 365.25, 2) if days is not None else None,
        "start": row["start_date"],
        "end": row["end_date"],
        "links": {"self": f"/api/runs/{job_id}"},
    }


def _terminate(processes: list[BaseProcess], wait: float) -> None:
    for process in list(processes):
        with contextlib.suppress(Exception):
            process.terminate()
    for process in list(processes):
        with contextlib.suppress(Exception):
            process.join(timeout=wait)
