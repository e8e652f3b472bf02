"""The service's answers to hostile requests (issue 17, item 15), on a real server.

Strict types (``years: true``, ``replicates: "5"`` are 422, not coerced), a NaN in a
posted scenario document is 422 (it was 500), every response carries a CSP,
``X-Frame-Options`` and ``nosniff``, and there is no Swagger page loading a UI from a
CDN.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from .web_live import TINY_PARAMS, LiveServer, live_server

SUMMARY_KEYS = {
    "id",
    "status",
    "scenario",
    "created",
    "finished",
    "seed",
    "replicates",
    "done",
    "years",
    "start",
    "end",
    "links",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("serve")) as srv:
        yield srv


@pytest.fixture()
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.mark.parametrize(
    "body",
    [
        {"years": True},
        {"replicates": "5"},
        {"replicates": 2.0},
        {"seed": "1"},
        {"levers": {"china_exit_strictness": "0.3"}},
        {"levers": {"china_exit_strictness": True}},
    ],
    ids=["years-bool", "replicates-str", "replicates-float", "seed-str", "lever-str", "lever-bool"],
)
def test_strict_types(client: httpx.Client, body: dict) -> None:
    r = client.post("/api/runs", json={"scenario": "baseline-2016", **body})
    assert r.status_code == 422, r.text


def test_integer_where_a_number_is_due_is_accepted(client: httpx.Client) -> None:
    r = client.post(
        "/api/runs",
        json={"scenario": "baseline-2016", "years": 1, "replicates": 2, "levers": {"pandemic": 0}},
    )
    assert r.status_code in (200, 201, 202), r.text


def test_nan_in_a_scenario_document_is_422(client: httpx.Client) -> None:
    text = '{"scenario": {"scenario": {"name": "x", "extends": "baseline-2016"}, '
    text += '"parameters": {"defection": {"contagion": NaN}}}}'
    r = client.post("/api/runs", content=text, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("path", ["/", "/api/health", "/api/scenarios", "/api/no-such-thing"])
def test_security_headers(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_no_cdn_swagger(client: httpx.Client) -> None:
    assert client.get("/api/docs").status_code == 404
    assert client.get("/api/openapi.json").status_code == 200
    page = client.get("/").text
    assert "cdn." not in page and "https://" not in page


def test_run_listing_is_summaries_not_requests(client: httpx.Client) -> None:
    """``GET /api/runs?limit=1000`` lists summaries; it echoed each full request (8.2 MB)."""
    document = client.get("/api/scenarios/baseline-2016").json()["document"]
    posted = {"scenario": document, "years": 0.25, "replicates": 2, "params": TINY_PARAMS}
    ids = []
    for seed in (11, 12, 13):
        r = client.post("/api/runs", json={**posted, "seed": seed})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    request_bytes = len(json.dumps(posted))
    r = client.get("/api/runs", params={"limit": 1000})
    assert r.status_code == 200, r.text
    listed = {run["id"]: run for run in r.json()["runs"]}
    assert set(ids) <= set(listed)
    for run_id in ids:
        run = listed[run_id]
        assert set(run) == SUMMARY_KEYS, sorted(run)
        assert run["scenario"] == document["scenario"]["name"]
        assert run["replicates"] == 2 and run["years"] == pytest.approx(0.25, abs=0.01)
        assert run["created"] and run["links"]["self"] == f"/api/runs/{run_id}"
        assert len(json.dumps(run)) < min(600, request_bytes / 4)
    # the full request is still one run's status away
    assert client.get(f"/api/runs/{ids[0]}").json()["request"]["seed"] == 11
