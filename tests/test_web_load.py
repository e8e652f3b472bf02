"""Load on loopback: 50 concurrent clients submit small runs and poll them to the end.

Bounded in count (50 runs of 91 days and 1 replicate on a small population)
and in time (120 s).  All complete; none is lost or duplicated.  The p50 and
p95 latencies of submission and status calls are printed and written to
``build/test-artifacts/load.json``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import numpy as np
import pytest

from .web_live import ARTIFACTS, TERMINAL, TINY_PARAMS, LiveServer, live_server

CLIENTS = 50
DEADLINE_S = 120.0
POLL_S = 0.2


@dataclass
class ClientLog:
    """What one client saw."""

    index: int
    run_id: str | None = None
    submit_s: float = 0.0
    status_s: list[float] = field(default_factory=list)
    final: dict | None = None
    error: str | None = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("load"), workers=2) as srv:
        yield srv


def one_client(url: str, log: ClientLog, start: threading.Barrier, stop_at: float) -> None:
    body = {
        "scenario": "baseline-2016",
        "years": 0.25,
        "replicates": 1,
        "seed": 1000 + log.index,
        "params": TINY_PARAMS,
        "label": f"load client {log.index}",
    }
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            start.wait(timeout=30)
            t = time.perf_counter()
            r = client.post("/api/runs", json=body)
            log.submit_s = time.perf_counter() - t
            assert r.status_code == 202, r.text
            log.run_id = r.json()["id"]
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                r = client.get(f"/api/runs/{log.run_id}")
                log.status_s.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                if r.json()["status"] in TERMINAL:
                    log.final = r.json()
                    return
                time.sleep(POLL_S)
            log.error = "deadline"
    except Exception as exc:  # noqa: BLE001 - reported by the test
        log.error = f"{type(exc).__name__}: {exc}"


def test_fifty_concurrent_clients(server: LiveServer) -> None:
    logs = [ClientLog(i) for i in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    started = time.monotonic()
    stop_at = started + DEADLINE_S
    threads = [
        threading.Thread(target=one_client, args=(server.url, log, barrier, stop_at))
        for log in logs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE_S + 30)
    wall = time.monotonic() - started

    errors = [(log.index, log.error) for log in logs if log.error]
    assert not errors, errors
    ids = [log.run_id for log in logs]
    assert len(set(ids)) == CLIENTS  # none duplicated
    assert all(log.final and log.final["status"] == "succeeded" for log in logs), [
        (log.final or {}).get("error") for log in logs
    ]
    assert all(log.final and log.final["attempts"] == 1 for log in logs)  # each ran once
    with httpx.Client(base_url=server.url, timeout=30) as client:
        listed = client.get("/api/runs", params={"limit": 1000}).json()["runs"]
        assert sorted(r["id"] for r in listed) == sorted(ids)  # none lost, none extra
        seeds = {r["id"]: r["seed"] for r in listed}
        assert {seeds[log.run_id] for log in logs} == {1000 + i for i in range(CLIENTS)}
        health = client.get("/api/health").json()
        assert health["jobs"] == {"succeeded": CLIENTS}
        assert health["queued"] == 0 and health["running"] == 0

    submit = np.array([log.submit_s for log in logs]) * 1000
    status = np.concatenate([log.status_s for log in logs]) * 1000
    numbers = {
        "clients": CLIENTS,
        "wall_s": round(wall, 2),
        "status_calls": int(status.size),
        "submit_ms": {
            "p50": round(float(np.percentile(submit, 50)), 1),
            "p95": round(float(np.percentile(submit, 95)), 1),
            "max": round(float(submit.max()), 1),
        },
        "status_ms": {
            "p50": round(float(np.percentile(status, 50)), 1),
            "p95": round(float(np.percentile(status, 95)), 1),
            "max": round(float(status.max()), 1),
        },
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(numbers, indent=2) + "\n")
    print(f"\nload test: {json.dumps(numbers)}")
    assert wall < DEADLINE_S
    assert numbers["submit_ms"]["p95"] < 5000
    assert numbers["status_ms"]["p95"] < 2000
