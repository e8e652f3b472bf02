"""The HTTP service, started for real on a free loopback port: API, jobs, limits, restarts."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.posterior import with_uncertainty
from lipsteeth.scenario import load_scenario

from .web_live import TINY_PARAMS, LiveServer, live_server, wait_run

TINY_RUN = {"scenario": "baseline-2016", "years": 0.25, "replicates": 2, "params": TINY_PARAMS}
#: a run long enough to still be running when the test acts on it
LONG_RUN = {"scenario": "baseline-2016", "years": 5, "replicates": 20}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("serve")) as srv:
        yield srv


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert "\n" not in body["error"]
    return str(body["error"])


# ---------------------------------------------------------------------------
# scenarios and schema


def test_scenarios_schema_and_openapi(client: httpx.Client) -> None:
    names = [s["name"] for s in client.get("/api/scenarios").json()["scenarios"]]
    assert "baseline-2016" in names
    detail = client.get("/api/scenarios/baseline-2016").json()
    levers = {lever["name"]: lever for lever in detail["levers"]}
    assert levers["china_exit_strictness"]["range"] == [0.3, 1.0]
    assert levers["china_exit_strictness"]["provenance"]
    assert detail["document"]["scenario"]["name"] == "baseline-2016"
    assert detail["agents"] > 0
    schema = client.get("/api/schema").json()
    assert "properties" in schema and "parameters" in schema["properties"]
    outcomes = client.get("/api/outcomes").json()["outcomes"]
    assert {o["name"] for o in outcomes} == set(OUTCOME_NAMES)
    spec = client.get("/api/openapi.json").json()
    for path in (
        "/api/scenarios",
        "/api/scenarios/{name}",
        "/api/schema",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/outcomes",
    ):
        assert path in spec["paths"], path
    assert client.get("/api/docs").status_code == 404  # no CDN Swagger UI (issue 17)
    r = client.get("/api/scenarios/no-such-scenario")
    assert r.status_code == 404 and "no-such-scenario" in error_of(r)


# ---------------------------------------------------------------------------
# a run from submission to results


def test_run_lifecycle_and_results_match_the_library(client: httpx.Client) -> None:
    request = {**TINY_RUN, "levers": {"china_exit_strictness": 0.5}, "seed": 11}
    r = client.post("/api/runs", json=request)
    assert r.status_code == 202, r.text
    submitted = r.json()
    run_id = submitted["id"]
    assert r.headers["location"] == f"/api/runs/{run_id}"
    assert submitted["status"] in ("queued", "running")
    assert submitted["progress"]["total"] == 2
    status = wait_run(client, run_id)
    assert status["status"] == "succeeded", status
    assert status["progress"] == {"done": 2, "total": 2, "fraction": 1.0}
    assert status["attempts"] == 1

    # the same run through the library gives the same numbers (with the same parameter
    # draws: the shipped posterior, the overridden parameters held)
    scenario = load_scenario("baseline-2016").with_overrides(
        params=TINY_PARAMS, levers={"china_exit_strictness": 0.5}, years=0.25
    )
    direct = run_scenario(with_uncertainty(scenario), replicates=2, seed=11)
    bands = client.get(f"/api/runs/{run_id}/bands").json()
    assert bands["uncertainty"].startswith("parameters + simulation")

    rows = client.get(
        f"/api/runs/{run_id}/outcomes", params={"variable": "revenue_to_state_usd"}
    ).json()["rows"]
    served = np.array([[row["value"] for row in rows if row["replicate"] == i] for i in (0, 1)])
    assert np.array_equal(served, direct.outcome("revenue_to_state_usd"))

    everything = client.get(f"/api/runs/{run_id}/outcomes").json()
    n_months = direct.monthly.shape[2]
    assert len(everything["rows"]) == 2 * len(OUTCOME_NAMES) * n_months
    assert everything["columns"] == ["replicate", "period", "year", "variable", "value"]

    csv_text = client.get(f"/api/runs/{run_id}/outcomes", params={"format": "csv"}).text
    csv_rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(csv_rows) == len(everything["rows"])
    assert float(csv_rows[0]["value"]) == pytest.approx(everything["rows"][0]["value"])

    parquet = client.get(f"/api/runs/{run_id}/outcomes", params={"format": "parquet"})
    assert parquet.headers["content-type"].startswith("application/vnd.apache.parquet")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == len(everything["rows"])

    yearly = client.get(
        f"/api/runs/{run_id}/outcomes", params={"resolution": "yearly", "format": "json"}
    ).json()
    assert yearly["columns"] == ["replicate", "year", "variable", "value"]

    bands = client.get(f"/api/runs/{run_id}/bands").json()
    assert bands["periods"][0] == "2012-01" and bands["replicates"] == 2
    median = np.median(direct.outcome("revenue_to_state_usd"), axis=0)
    assert np.allclose(bands["outcomes"]["revenue_to_state_usd"]["median"], median)
    total = direct.outcome("revenue_to_state_usd").sum(axis=1)
    assert bands["totals"]["revenue_to_state_usd"]["median"] == pytest.approx(np.median(total))

    listed = [run["id"] for run in client.get("/api/runs").json()["runs"]]
    assert run_id in listed


def test_scenario_document_as_json(client: httpx.Client) -> None:
    document = client.get("/api/scenarios/baseline-2016").json()["document"]
    document["scenario"]["name"] = "my-variant"
    document["levers"]["china_sanctions"]["value"] = 0.5
    r = client.post("/api/runs", json={**TINY_RUN, "scenario": document})
    assert r.status_code == 202, r.text
    status = wait_run(client, r.json()["id"])
    assert status["status"] == "succeeded" and status["scenario"] == "my-variant"


def test_idempotency_key(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "test-key-1"}
    first = client.post("/api/runs", json=TINY_RUN, headers=headers)
    second = client.post("/api/runs", json=TINY_RUN, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    other = client.post("/api/runs", json={**TINY_RUN, "seed": 5}, headers=headers)
    assert other.status_code == 409 and "Idempotency-Key" in error_of(other)
    wait_run(client, first.json()["id"])


# ---------------------------------------------------------------------------
# refused requests: 4xx with a clear message, never a crash


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"scenario": "nope"}, 422, "unknown scenario"),
        ({"scenario": "/etc/passwd"}, 422, "unknown scenario"),
        ({"scenario": "../../secrets.toml"}, 422, "unknown scenario"),
        ({"scenario": {"scenario": {"name": "x", "extends": "/etc/passwd"}}}, 422, "extends"),
        ({"scenario": {"scenario": None}}, 422, "scenario"),
        ({"levers": {"no_such_lever": 1.0}}, 422, "no_such_lever"),
        ({"levers": {"china_exit_strictness": 7.0}}, 422, "china_exit_strictness"),
        ({"params": {"defection.nope": 1.0}}, 422, "defection.nope"),
        ({"years": -1}, 422, "years"),
        ({"years": 60}, 422, "years"),
        ({"replicates": 0}, 422, "replicates"),
        ({"replicates": "many"}, 422, "replicates"),
        ({"years": 40, "replicates": 900}, 422, "agent-days"),
        ({"pickle": "gASVCAAAAAAAAACMBHRlc3SULg=="}, 422, "pickle"),
        ([1, 2, 3], 422, "body"),
    ],
)
def test_bad_run_requests(client: httpx.Client, body: object, status: int, needle: str) -> None:
    r = client.post("/api/runs", json=body)
    assert r.status_code == status, r.text
    assert needle in error_of(r)


def test_malformed_and_oversized_requests(client: httpx.Client, server: LiveServer) -> None:
    r = client.post(
        "/api/runs", content=b'{"scenario": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "malformed JSON" in error_of(r)
    r = client.post(
        "/api/runs",
        content=b"\x80\x04\x95 pickle",
        headers={"content-type": "application/octet-stream"},
    )
    assert 400 <= r.status_code < 500
    big = b'{"label": "' + b"x" * 2_000_000 + b'"}'
    r = client.post("/api/runs", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in error_of(r)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
        for _ in range(40):
            yield b"x" * 50_000

    r = client.post("/api/runs", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = client.get("/api/runs/not-an-id")
    assert r.status_code == 422 and "run_id" in error_of(r)
    r = client.get("/api/runs/" + "0" * 32)
    assert r.status_code == 404
    r = client.get("/api/runs", params={"limit": 10**9})
    assert r.status_code == 422
    r = client.get("/nowhere")
    assert r.status_code == 404 and error_of(r)
    r = client.get("/api/health", headers={"host": "evil.example"})
    assert r.status_code == 400
    assert client.get("/api/health").json()["status"] == "ok"  # still serving
    assert server.process is not None and server.process.poll() is None


def test_results_before_the_run_is_done(client: httpx.Client) -> None:
    r = client.post("/api/runs", json={**LONG_RUN, "seed": 1})
    run_id = r.json()["id"]
    r = client.get(f"/api/runs/{run_id}/outcomes")
    assert r.status_code == 409 and "no results" in error_of(r)
    r = client.get(f"/api/runs/{run_id}/outcomes", params={"variable": "nope"})
    assert r.status_code in (409, 422)
    assert client.delete(f"/api/runs/{run_id}").json()["status"] == "cancelled"


# ---------------------------------------------------------------------------
# cancel, queue limits, restarts


def test_cancel_queued_and_running(tmp_path: Path) -> None:
    with live_server(tmp_path, workers=1) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        running = c.post("/api/runs", json=LONG_RUN).json()["id"]
        queued = c.post("/api/runs", json={**LONG_RUN, "seed": 2}).json()["id"]
        deadline = time.monotonic() + 30
        while c.get(f"/api/runs/{running}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert c.get(f"/api/runs/{queued}").json()["queue_position"] == 0
        assert c.delete(f"/api/runs/{queued}").json()["status"] == "cancelled"
        assert c.delete(f"/api/runs/{running}").json()["status"] == "cancelled"
        health = c.get("/api/health").json()
        assert health["running"] == 0 and health["queued"] == 0
        # the worker slot is free again: a new run completes
        done = c.post("/api/runs", json=TINY_RUN).json()["id"]
        assert wait_run(c, done)["status"] == "succeeded"
        # deleting a finished run removes it and its results
        assert c.delete(f"/api/runs/{done}").json()["status"] == "deleted"
        assert c.get(f"/api/runs/{done}").status_code == 404
        assert not (tmp_path / "runs" / done).exists()


def test_unfinished_runs_are_capped(tmp_path: Path) -> None:
    with (
        live_server(tmp_path, workers=1, extra=["--max-active", "1"]) as srv,
        httpx.Client(base_url=srv.url, timeout=30) as c,
    ):
        first = c.post("/api/runs", json=LONG_RUN)
        assert first.status_code == 202
        second = c.post("/api/runs", json=TINY_RUN)
        assert second.status_code == 429 and "retry later" in error_of(second)
        assert second.headers["retry-after"]
        c.delete(f"/api/runs/{first.json()['id']}")
        assert c.post("/api/runs", json=TINY_RUN).status_code == 202


def _takeover_state(state_dir: Path, job_id: str, recovered: dict) -> str:
    """What keeps a killed server's job from being taken over: its owner, its lock's holders.

    The lock's holders are the processes with the job's lock file open (``/proc/*/fd``),
    with their state and command line, so a failure under load says which one lived on.
    """
    from lipsteeth.adapters.web.jobs import owner_alive
    from lipsteeth.adapters.web.worker import LOCK_FILE, job_lock_free

    folder = state_dir / "runs" / job_id
    db = sqlite3.connect(state_dir / "jobs.sqlite3")
    status, owner = db.execute("SELECT status, owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
    db.close()
    lock = str((folder / LOCK_FILE).resolve())
    holders = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(str(link.readlink()) == lock for link in fd_dir.iterdir()):
                stat = (fd_dir.parent / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                holders.append(f"{fd_dir.parent.name} {stat[0]} ppid {stat[1]}: {cmd[:120]}")
        except OSError:
            continue
    return (
        f"recovered {recovered}; job {status}, owner {owner} alive {owner_alive(owner)}, "
        f"lock free {job_lock_free(folder)}, holders {holders}"
    )


def test_a_restart_loses_no_job(tmp_path: Path) -> None:
    """SIGKILL the server with one run running and two queued; a new server finishes all."""
    # long enough (seconds, not milliseconds) that the running job cannot finish between
    # the status poll and the kill: a one-year, two-replicate job sometimes did
    slow = {"scenario": "baseline-2016", "years": 3, "replicates": 20}
    srv = LiveServer(tmp_path, workers=1).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            ids = [c.post("/api/runs", json={**slow, "seed": s}).json()["id"] for s in (1, 2)]
            ids.append(c.post("/api/runs", json=TINY_RUN).json()["id"])
            deadline = time.monotonic() + 30
            while c.get(f"/api/runs/{ids[0]}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.02)
        srv.kill()
    finally:
        srv.stop()
    again = LiveServer(tmp_path, workers=2).start()
    try:
        with httpx.Client(base_url=again.url, timeout=30) as c:
            # a job whose old processes still hold its lock (they die with the killed
            # server, a moment later) is taken over on a later look (issue 17, item 13).
            # The dispatcher looks only once its fork server is up ("warm"), so the 30 s
            # for the takeover count from then (start-up is not what is tested); under a
            # heavy load the takeover has still been seen to take longer (open)
            deadline = time.monotonic() + 180
            while not c.get("/api/health").json()["warm"]:
                assert time.monotonic() < deadline, "the dispatcher did not start"
                time.sleep(0.1)
            deadline = time.monotonic() + 30
            while True:
                recovered = c.get("/api/health").json()["recovered"]
                # the running job is resumed, or (when its last replicate was written as
                # the server died: seen under load) found finished; the queued two requeued
                if recovered["resumed"] + recovered["finished"] + recovered["requeued"] == 3:
                    break
                assert time.monotonic() < deadline, _takeover_state(tmp_path, ids[0], recovered)
                time.sleep(0.1)
            final = [wait_run(c, i) for i in ids]
            assert [f["status"] for f in final] == ["succeeded"] * 3
            assert recovered["requeued"] == 2
            if recovered["resumed"]:
                assert "resumed" in (final[0]["note"] or "")
            listed = [r["id"] for r in c.get("/api/runs", params={"limit": 1000}).json()["runs"]]
            assert sorted(listed) == sorted(ids)  # none lost, none duplicated
    finally:
        again.stop()


def test_a_job_interrupted_too_often_fails_with_a_reason(tmp_path: Path) -> None:
    srv = LiveServer(tmp_path, workers=1).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            run_id = c.post("/api/runs", json=TINY_RUN).json()["id"]
            wait_run(c, run_id)
    finally:
        srv.stop()
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    with db:
        db.execute("UPDATE jobs SET status = 'running', attempts = 3 WHERE id = ?", (run_id,))
    db.close()
    # the job's results were complete: a server that stops then loses nothing
    with live_server(tmp_path) as again, httpx.Client(base_url=again.url, timeout=30) as c:
        assert c.get(f"/api/runs/{run_id}").json()["status"] == "succeeded"
        assert c.get("/api/health").json()["recovered"]["finished"] == 1
    # results not written yet (the server stopped before the last replicate was combined)
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    with db:
        db.execute("UPDATE jobs SET status = 'running', attempts = 3 WHERE id = ?", (run_id,))
    db.close()
    (tmp_path / "runs" / run_id / "bands.json").unlink()
    with live_server(tmp_path) as again, httpx.Client(base_url=again.url, timeout=30) as c:
        status = c.get(f"/api/runs/{run_id}").json()
        assert status["status"] == "failed"
        assert "server stopped while this run was running" in status["error"]


# ---------------------------------------------------------------------------
# binding and tokens


def test_token_is_checked_on_every_request(tmp_path: Path) -> None:
    token = "s3cret-token-for-tests"
    with live_server(tmp_path, token=token) as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as anonymous:
            for path in ("/api/health", "/api/scenarios", "/", "/api/openapi.json"):
                r = anonymous.get(path)
                assert r.status_code == 401 and "token" in error_of(r)
            r = anonymous.get("/api/health", headers={"Authorization": "Bearer wrong-token-value"})
            assert r.status_code == 401
            r = anonymous.get(f"/?token={token}", follow_redirects=False)
            assert r.status_code == 303 and "lipsteeth_token" in r.headers["set-cookie"]
            assert anonymous.get("/").status_code == 200  # the cookie now carries the token
        with httpx.Client(base_url=srv.url, headers=srv.headers(), timeout=30) as c:
            assert c.get("/api/health").status_code == 200


def test_public_bind_needs_a_token() -> None:
    from lipsteeth.adapters.web.app import Settings

    with pytest.raises(ValueError, match="token"):
        Settings(host="0.0.0.0").check()
    Settings(host="0.0.0.0", token="x" * 16).check()
    with pytest.raises(ValueError, match="16"):
        Settings(token="short").check()
    out = subprocess.run(
        [sys.executable, "-m", "lipsteeth.adapters.web", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2 and "token" in out.stderr


def test_openapi_declares_errors(client: httpx.Client) -> None:
    spec = client.get("/api/openapi.json").json()
    post = spec["paths"]["/api/runs"]["post"]
    assert {"202", "413", "422", "429"} <= set(post["responses"])
    body_schema = json.dumps(post["requestBody"])
    assert "RunRequest" in body_schema


def test_trusted_hosts_are_starlettes_middleware(tmp_path: Path) -> None:
    with (
        live_server(
            tmp_path, extra=["--allowed-host", "dash.example", "--allowed-host", "127.0.0.1"]
        ) as srv,
        httpx.Client(base_url=srv.url, timeout=30) as c,
    ):
        assert c.get("/api/health", headers={"host": "dash.example"}).status_code == 200
        assert c.get("/api/health", headers={"host": "evil.example"}).status_code == 400
        assert c.get("/api/health", headers={"host": "localhost"}).status_code == 400
