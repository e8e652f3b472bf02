"""A web job's results folder is the one ``services.record_run`` writes (issue 16).

The service is started for real on a loopback port; a tiny run is submitted over HTTP.
Its results folder (tables, manifest, summary) must equal what the services layer writes
for the same ensemble computed by the library: one implementation of a results folder
for ``lipsteeth run``, ``validate`` and the web jobs.  Before, the worker wrote its own
summary (no levers as set and in force) and manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from lipsteeth import services
from lipsteeth.adapters import store
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.posterior import with_uncertainty
from lipsteeth.scenario import load_scenario

from .web_live import TINY_PARAMS, live_server, wait_run

SEED = 13
LEVERS = {"china_sanctions": 0.3}
REQUEST = {
    "scenario": "baseline-2016",
    "years": 0.25,
    "replicates": 2,
    "params": TINY_PARAMS,
    "levers": LEVERS,
    "seed": SEED,
}
#: manifest entries that differ between two writes of one ensemble by their nature:
#: when and how long, and where the scenario text came from (the job's TOML, not a name,
#: so its file and text hashes differ; the resolved scenario itself, ``scenario``, is equal)
OCCASION = {"created", "wall_time_s", "scenario_source", "scenario_sha256"}


def test_a_jobs_results_folder_is_written_by_the_services_layer(tmp_path: Path) -> None:
    with (
        live_server(tmp_path / "state") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        r = client.post("/api/runs", json=REQUEST)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert wait_run(client, job_id)["status"] == "succeeded", server.log()
        served = server.state_dir / "runs" / job_id / "results"
        summary = json.loads((served / store.SUMMARY_FILE).read_text())
        manifest = json.loads((served / store.MANIFEST_FILE).read_text())

    scenario = load_scenario("baseline-2016").with_overrides(
        params=TINY_PARAMS, levers=LEVERS, years=0.25
    )
    scenario = with_uncertainty(scenario)
    result = run_scenario(scenario, replicates=2, seed=SEED)
    direct = services.record_run(
        tmp_path / "direct",
        run_id=job_id,
        scenario=scenario,
        result=result,
        seed=SEED,
        wall_time_s=summary["wall_time_s"],
        argv=["serve", "job", job_id],
        results_dir=f"run {job_id}",
    )
    assert summary == direct.summary
    assert summary["levers_in_force"]["china_sanctions"]["run"]["set"] == 0.3
    assert manifest["command_line"] == ["lipsteeth", "serve", "job", job_id]
    assert {k: v for k, v in manifest.items() if k not in OCCASION} == {
        k: v for k, v in direct.manifest.items() if k not in OCCASION
    }
    for name in store.RESULTS_FILES:  # the same bytes, so the same writer
        if name.endswith(".parquet"):
            assert (served / name).read_bytes() == (tmp_path / "direct" / name).read_bytes(), name
