"""Paired comparisons, dated lever changes, scenario text and streamed bands over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from lipsteeth.adapters.web.run_requests import build_scenario
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.posterior import with_uncertainty

from .web_live import TINY_PARAMS, LiveServer, live_server, wait_run

#: one year of the small population, a change in its middle
YEAR_RUN = {"scenario": "baseline-2016", "years": 1, "replicates": 12, "params": TINY_PARAMS}
CHANGE = {"lever": "china_exit_strictness", "value": 0.3, "start": "2012-07-01"}
OUTCOME = "escapes_legal_route"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("compare")) as srv:
        yield srv


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def wait_comparison(client: httpx.Client, comparison_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/comparisons/{comparison_id}").json()
        if status["status"] in ("succeeded", "failed", "cancelled", "deleted"):
            return status
        time.sleep(0.1)
    raise TimeoutError(comparison_id)


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert isinstance(body.get("error"), str) and "\n" not in body["error"], body
    return str(body["error"])


def test_paired_comparison_equals_the_library(client: httpx.Client) -> None:
    r = client.post(
        "/api/comparisons", json={"a": YEAR_RUN, "b": {**YEAR_RUN, "changes": [CHANGE]}}
    )
    assert r.status_code == 202, r.text
    comparison = wait_comparison(client, r.json()["id"])
    assert comparison["status"] == "succeeded", comparison
    assert comparison["a"]["seed"] == comparison["b"]["seed"]  # B took A's seed
    bands = client.get(f"/api/comparisons/{comparison['id']}/bands").json()
    assert bands["complete"] and bands["difference"]["pairs"] == 12

    # the same two settings through the library, the same replicate indices and seed
    seed = comparison["a"]["seed"]
    # (with the parameter draws the service's runs hold: the shipped posterior, paired)
    a = run_scenario(with_uncertainty(build_scenario(YEAR_RUN)), replicates=12, seed=seed)
    b = run_scenario(
        with_uncertainty(build_scenario({**YEAR_RUN, "changes": [CHANGE]})),
        replicates=12,
        seed=seed,
    )
    d = b.outcome(OUTCOME) - a.outcome(OUTCOME)
    band = bands["difference"]["outcomes"][OUTCOME]
    assert band["median"] == pytest.approx(np.median(d, axis=0))
    assert band["p95"] == pytest.approx(np.quantile(d, 0.95, axis=0))
    whole = d.sum(axis=1)
    total = bands["difference"]["totals"][OUTCOME]
    assert total["mean"] == pytest.approx(whole.mean())
    assert total["p5"] == pytest.approx(np.quantile(whole, 0.05))
    assert total["mean_low"] <= total["mean"] <= total["mean_high"]
    # before the change both settings are the same futures: the difference is exactly 0
    months = bands["periods"]
    june = months.index("2012-06")
    for name, q in bands["difference"]["outcomes"].items():
        assert q["p5"][: june + 1] == [0.0] * (june + 1), name
        assert q["p95"][: june + 1] == [0.0] * (june + 1), name
    # the set lever and its value in force
    set_b = bands["set_levers"]["B"]["china_exit_strictness"]
    assert set_b[june] == pytest.approx(0.95) and set_b[june + 1] == pytest.approx(0.3)
    assert bands["set_levers"]["A"]["china_exit_strictness"][-1] == pytest.approx(0.95)
    assert "exit_strictness" in bands["b"]["outcomes"]
    assert "parameter uncertainty" in bands["a"]["uncertainty"]


def test_identical_runs_are_reused(client: httpx.Client) -> None:
    request = {**YEAR_RUN, "seed": 77, "replicates": 3}
    first = client.post("/api/comparisons", json={"a": request, "b": request}).json()
    assert first["a_id"] == first["b_id"]
    wait_comparison(client, first["id"])
    again = client.post(
        "/api/comparisons", json={"a": request, "b": {**request, "changes": [CHANGE]}}
    ).json()
    assert again["a_id"] == first["a_id"]  # the finished run is not computed again
    assert again["a"]["status"] == "succeeded"
    assert wait_comparison(client, again["id"])["status"] == "succeeded"
    listed = [c["id"] for c in client.get("/api/comparisons").json()["comparisons"]]
    assert {first["id"], again["id"]} <= set(listed)
    assert client.delete(f"/api/comparisons/{first['id']}").json()["status"] == "deleted"
    assert client.get(f"/api/comparisons/{first['id']}").status_code == 404
    assert client.get(f"/api/runs/{first['a_id']}").json()["status"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"a": YEAR_RUN, "b": {**YEAR_RUN, "seed": 5, "replicates": 12}}, "b.seed"),
        ({"a": YEAR_RUN, "b": {**YEAR_RUN, "replicates": 4}}, "b.replicates"),
        ({"a": YEAR_RUN, "b": {**YEAR_RUN, "years": 2}}, "b.end"),
        (
            {"a": YEAR_RUN, "b": {**YEAR_RUN, "changes": [{**CHANGE, "start": "2019-01-01"}]}},
            "changes[0].start",
        ),
        (
            {"a": YEAR_RUN, "b": {**YEAR_RUN, "changes": [{**CHANGE, "lever": "nope"}]}},
            "changes[0].lever",
        ),
        (
            {"a": YEAR_RUN, "b": {**YEAR_RUN, "changes": [{**CHANGE, "value": 3}]}},
            "changes[0].value",
        ),
        ({"a": YEAR_RUN, "b": {**YEAR_RUN, "changes": [{**CHANGE, "start": "soon"}]}}, "start"),
        ({"a": {"replicates": 61}, "b": {}}, "at most 60 replicates"),
        ({"a": YEAR_RUN}, "b"),
    ],
)
def test_bad_comparisons_are_refused(client: httpx.Client, body: dict, needle: str) -> None:
    r = client.post("/api/comparisons", json=body)
    assert r.status_code == 422, r.text
    assert needle in error_of(r)


def test_the_full_default_runs_with_forty_replicates(client: httpx.Client) -> None:
    detail = client.get("/api/scenarios/baseline-2016").json()
    assert detail["max_replicates"] >= 40
    assert client.get("/api/health").json()["limits"]["max_agent_days"] >= (
        40 * detail["agents"] * detail["days"]
    )
    r = client.post("/api/runs", json={"replicates": 40, "seed": 3})
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    # bands stream: partial while running, over the replicates finished so far
    deadline = time.monotonic() + 120
    while True:
        b = client.get(f"/api/runs/{run_id}/bands", params={"variable": OUTCOME})
        if b.status_code == 200:
            break
        assert b.status_code == 409 and "no replicate" in error_of(b)
        assert time.monotonic() < deadline
        time.sleep(0.1)
    partial = b.json()
    assert not partial["complete"] and 1 <= partial["replicates"] < 40
    assert list(partial["outcomes"]) == [OUTCOME]
    assert partial["periods"][0] == "2012-01" and partial["periods"][-1] == "2020-12"
    assert client.delete(f"/api/runs/{run_id}").json()["status"] == "cancelled"


def test_scenario_text_is_validated_like_a_file(client: httpx.Client) -> None:
    good = (
        '[scenario]\nname = "mine"\nextends = "baseline-2016"\n\n'
        '[levers.china_sanctions]\nvalue = 0.5\nprovenance = "assumption: half the sanctions"\n'
    )
    detail = client.post("/api/scenarios/validate", json={"toml": good}).json()
    assert detail["name"] == "mine"
    assert next(lv for lv in detail["levers"] if lv["name"] == "china_sanctions")["value"] == 0.5
    for text, needle in (
        (good.replace("0.5", "4.0"), "uploaded scenario: levers.china_sanctions"),
        (good.replace('"baseline-2016"', '"../secret.toml"'), "scenario.extends"),
        (good + 'events_file = "x.csv"\n', "events_file"),
        (
            '[scenario]\nname = "x"\nextends = "baseline-2016"\nevents_file = "/etc/passwd"\n',
            "may not name files",
        ),
        ("[scenario\n", "line 1"),
        ("x = 1\n", "uploaded scenario"),
    ):
        r = client.post("/api/scenarios/validate", json={"toml": text})
        assert r.status_code == 422, text
        message = error_of(r)
        assert needle in message, message
        assert "Traceback" not in message
    # a run from the text, equal to the library's run of it
    run = {"scenario_toml": good, "years": 0.25, "replicates": 2, "params": TINY_PARAMS}
    r = client.post("/api/runs", json=run)
    assert r.status_code == 202, r.text
    status = wait_run(client, r.json()["id"])
    assert status["status"] == "succeeded" and status["scenario"] == "mine"
    r = client.post("/api/runs", json={**run, "scenario": "history"})
    assert r.status_code == 422 and "not both" in error_of(r)


def test_a_restarted_job_keeps_its_finished_replicates(tmp_path: Path) -> None:
    request = {"replicates": 6, "seed": 9}  # the whole default: about 0.3 s a replicate
    srv = LiveServer(tmp_path, workers=1).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            run_id = c.post("/api/runs", json=request).json()["id"]
            deadline = time.monotonic() + 120
            while c.get(f"/api/runs/{run_id}").json()["progress"]["done"] < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        srv.kill()
    finally:
        srv.stop()
    kept = sorted(p.name for p in (tmp_path / "runs" / run_id / "reps").glob("*.npy"))
    assert len(kept) >= 2
    before = {name: (tmp_path / "runs" / run_id / "reps" / name).stat().st_mtime for name in kept}
    with live_server(tmp_path, workers=2) as again, httpx.Client(base_url=again.url) as c:
        status = wait_run(c, run_id, timeout=180)
        assert status["status"] == "succeeded" and status["attempts"] == 2
        assert f"{len(kept)} replicates were kept" in status["note"]
        for name, mtime in before.items():  # not run again
            assert (tmp_path / "runs" / run_id / "reps" / name).stat().st_mtime == mtime
        # and the results are those of an uninterrupted run
        served = c.get(
            f"/api/runs/{run_id}/outcomes", params={"variable": "revenue_to_state_usd"}
        ).json()["rows"]
        direct = run_scenario(with_uncertainty(build_scenario(request)), replicates=6, seed=9)
        values = np.array([[r["value"] for r in served if r["replicate"] == i] for i in range(6)])
        assert np.array_equal(values, direct.outcome("revenue_to_state_usd"))
