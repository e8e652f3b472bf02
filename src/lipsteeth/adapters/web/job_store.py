"""The SQLite table of jobs and comparisons (``<state-dir>/jobs.sqlite3``, WAL, synchronous).

A job is in this table before its submission is acknowledged, so a job the
client was told about survives any crash of the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .limits import JobError
from .run_requests import ResolvedRun

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
    note TEXT,
    content_sha256 TEXT,
    start_date TEXT,
    end_date TEXT,
    days INTEGER,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE TABLE IF NOT EXISTS comparisons (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    a_id TEXT NOT NULL,
    b_id TEXT NOT NULL,
    created REAL NOT NULL,
    label TEXT
);
"""

#: columns added after the first release, with their types (added to old state folders)
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("content_sha256", "TEXT"),
    ("start_date", "TEXT"),
    ("end_date", "TEXT"),
    ("days", "INTEGER"),
    ("owner", "TEXT"),
)

#: what a listing shows of a job: no request document, no scenario text (issue 17, item 15)
_SUMMARY_COLUMNS = (
    "seq, id, scenario_name, seed, replicates, status, progress, submitted, finished, "
    "start_date, end_date, days"
)

_COLUMNS = (
    "seq, id, idempotency_key, request_sha256, request, scenario_name, seed, replicates, "
    "agent_days, status, progress, attempts, submitted, started, finished, error, note, owner"
)


def iso_time(t: float | None) -> str | None:
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
        columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(jobs)")}
        for column, kind in _ADDED_COLUMNS:  # a state folder of an earlier version
            if column not in columns:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_content ON jobs(content_sha256)")

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
        *,
        reuse: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Insert a queued job; returns (row, created).  Same key and body: the old job.

        With ``reuse``, a queued, running or succeeded job with the same content
        (scenario, seed, replicates) is returned instead of a new one.
        """
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
            if reuse:
                same = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE content_sha256 = ? AND status IN "
                    "('queued', 'running', 'succeeded') ORDER BY seq DESC LIMIT 1",
                    (run.content_sha256,),
                ).fetchone()
                if same is not None:
                    return dict(same), False
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
                "scenario_toml, seed, replicates, agent_days, status, submitted, content_sha256, "
                "start_date, end_date, days) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
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
                    run.content_sha256,
                    run.start,
                    run.end,
                    run.days,
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

    def list_jobs(
        self, limit: int = 100, status: str | None = None, *, summary: bool = False
    ) -> list[dict[str, Any]]:
        """Newest first; with ``summary`` only the listing's columns (no request, no TOML)."""
        query = f"SELECT {_SUMMARY_COLUMNS if summary else _COLUMNS} FROM jobs"
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

    def insert_comparison(
        self, comparison_id: str, a_id: str, b_id: str, label: str | None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO comparisons (id, a_id, b_id, created, label) VALUES (?, ?, ?, ?, ?)",
                (comparison_id, a_id, b_id, time.time(), label),
            )

    def get_comparison(self, comparison_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, a_id, b_id, created, label FROM comparisons WHERE id = ?",
                (comparison_id,),
            ).fetchone()
        return dict(row) if row is not None else None

    def list_comparisons(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, a_id, b_id, created, label FROM comparisons ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(r) for r in rows]

    def delete_comparison(self, comparison_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM comparisons WHERE id = ?", (comparison_id,))

    def oldest_finished(self, keep: int) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') "
                "ORDER BY seq DESC LIMIT -1 OFFSET ?",
                (keep,),
            ).fetchall()
        return [str(r[0]) for r in rows]
