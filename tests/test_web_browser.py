"""The dashboard in a real browser: Playwright driving Debian's chromium (no network).

On the full default scenario (2012-2020, 40 replicates a side):

* the default view covers the whole scenario, states the size cap, shows the
  scenario's dated events on a timeline and the outcomes by theme;
* a first comparison (A = B = the scenario) and a what-if (B's exit policy
  0.3 from 2016-04-01) stream: the time from the click to the first bands and
  to all 40 replicates is measured in the page and recorded in
  ``build/test-artifacts/whatif.json`` with the machine's load;
* the B - A band appears and every number shown equals the API's;
* a pasted scenario file is checked as the CLI checks a file.

A screenshot is saved in ``build/test-artifacts/dashboard.png``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .web_live import ARTIFACTS, LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 180_000
#: issue 16: first bands within 2 s of the click, all 40 replicates in under 10 s (2 cores)
FIRST_BANDS_S = 2.0
ALL_REPLICATES_S = 10.0
REPLICATES = 40
SHOWN = (
    "revenue_to_state_usd",
    "restaurant_defectors",
    "escapes_legal_route",
    "arrivals_south_korea",
    "repatriations_from_china",
    "provocations",
)
#: what the what-if test measured (the next test checks the bounds on them)
FIGURES: dict[str, Any] = {}

# serial: the module times the machine (the what-if's figures and their bounds), so it runs
# in the Makefile's pass without xdist, with one server and one browser for all its tests.
pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian chromium missing: run scripts/install_chromium.sh"
    ),
    pytest.mark.serial,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("dash"), workers=2) as srv:
        deadline = time.monotonic() + 120
        while not httpx.get(f"{srv.url}/api/health", timeout=10).json()["warm"]:
            assert time.monotonic() < deadline, "the simulation engine did not warm up"
            time.sleep(0.2)
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


def parse_compact(text: str) -> float:
    """Invert the dashboard's compact number format (+12.3M, 48.1k, 0.73, -5)."""
    m = re.fullmatch(r"([+-]?[0-9.]+)([kMG]?)", text.strip())
    assert m, text
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]


def shown_triple(text: str) -> tuple[float, float, float]:
    """``"median [low, high]"`` as numbers."""
    m = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", text.strip())
    assert m, text
    return tuple(parse_compact(g) for g in m.groups())  # type: ignore[return-value]


def close(shown: float, exact: float) -> bool:
    """A compact number (3 significant digits) shows ``exact``."""
    return shown == pytest.approx(exact, rel=0.006, abs=0.006)


def run_and_time(page: Any) -> dict[str, float]:
    page.click("[data-testid=run]")
    page.wait_for_selector("body[data-done='1']", timeout=TIMEOUT_MS)
    data = page.evaluate("() => ({...document.body.dataset})")
    return {
        "first_bands_s": int(data["firstBandMs"]) / 1000,
        "all_replicates_s": int(data["allReplicatesMs"]) / 1000,
        "results_written_s": int(data["completeMs"]) / 1000,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "comparison": data["comparison"],
    }


def check_numbers_equal_the_api(page: Any, api: httpx.Client, comparison: str) -> dict:
    """Every whole-run number of the summary table is the API's."""
    bands = api.get(f"/api/comparisons/{comparison}/bands").json()
    outcomes = {o["name"]: o for o in api.get("/api/outcomes").json()["outcomes"]}
    for name in SHOWN:
        for slot, side in (("A", bands["a"]), ("B", bands["b"])):
            cell = page.locator(f"[data-testid=total-{slot}-{name}]")
            total = side["totals"][name]
            assert float(cell.get_attribute("data-value")) == total["median"]
            assert cell.get_attribute("data-run-id") == side["id"]
            shown = shown_triple(cell.inner_text())
            for value, exact in zip(
                shown, (total["median"], total["p5"], total["p95"]), strict=True
            ):
                assert close(value, exact), (name, slot, shown, total)
        diff = bands["difference"]["totals"][name]
        cell = page.locator(f"[data-testid=diff-{name}]")
        assert float(cell.get_attribute("data-median")) == diff["median"]
        assert float(cell.get_attribute("data-p5")) == diff["p5"]
        assert float(cell.get_attribute("data-p95")) == diff["p95"]
        shown = shown_triple(cell.inner_text())
        for value, exact in zip(shown, (diff["median"], diff["p5"], diff["p95"]), strict=True):
            assert close(value, exact), (name, shown, diff)
        mean = page.locator(f"[data-testid=mean-{name}]")
        assert float(mean.get_attribute("data-value")) == diff["mean"]
        assert float(mean.get_attribute("data-low")) == diff["mean_low"]
        assert float(mean.get_attribute("data-high")) == diff["mean_high"]
        call = page.locator(f"[data-testid=call-{name}]")
        assert call.get_attribute("data-clear") == str(diff["clear"]).lower()
        assert f"in {diff['b_higher']} of {bands['difference']['pairs']}" in call.inner_text()
        # the row's label is the plain one, its unit the outcome's
        row = cell.locator("xpath=..")
        assert outcomes[name]["label"] in row.inner_text()
    return bands


def test_default_view_covers_the_whole_scenario(server: LiveServer, browser: Any) -> None:
    api = httpx.Client(base_url=server.url, timeout=30)
    detail = api.get("/api/scenarios/baseline-2016").json()
    themes = api.get("/api/outcomes").json()["themes"]
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-warm='1']", timeout=TIMEOUT_MS)
    assert page.input_value("[data-testid=years]") == ""
    horizon = page.inner_text("[data-testid=horizon]")
    assert f"{detail['start']} to {detail['end']}" in horizon
    assert page.input_value("[data-testid=replicates]") == str(REPLICATES)
    cap = page.locator("[data-testid=cap]")
    assert int(cap.get_attribute("data-max")) == detail["max_replicates"] >= REPLICATES
    assert f"at most {detail['max_replicates']} replicates" in cap.inner_text()
    assert page.get_attribute("[data-testid=timeline]", "data-events") == str(len(detail["events"]))
    legends = page.locator("#outcome-list legend").all_inner_texts()
    assert legends == themes
    # slider ranges are the scenario's declared ranges
    exit_range = next(lv for lv in detail["levers"] if lv["name"] == "china_exit_strictness")
    slider = page.locator("[data-testid=lever-B-china_exit_strictness]")
    assert [float(slider.get_attribute("min")), float(slider.get_attribute("max"))] == exit_range[
        "range"
    ]
    # charts span the whole horizon (the x-axis is not clipped to the data)
    x_range = page.evaluate(
        "() => document.getElementById('chart-A-revenue_to_state_usd').layout.xaxis.range"
    )
    assert x_range == [detail["start"], detail["end"]]
    page.close()
    assert not errors, errors


def test_what_if_streams_and_shows_the_paired_band(server: LiveServer, browser: Any) -> None:
    requests_outside: list[str] = []
    errors: list[str] = []
    api = httpx.Client(base_url=server.url, timeout=30)
    page = browser.new_page(viewport={"width": 1500, "height": 1600})
    page.on(
        "request",
        lambda r: None if r.url.startswith(server.url) else requests_outside.append(r.url),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-warm='1']", timeout=TIMEOUT_MS)

    # 1. the scenario as it is, A and B alike (one run of 40 replicates serves both)
    baseline = run_and_time(page)
    first = api.get(f"/api/comparisons/{baseline['comparison']}").json()
    assert first["a_id"] == first["b_id"]  # identical settings are one run
    assert first["a"]["progress"]["done"] == REPLICATES

    # 2. the what-if: B's exit policy 0.3 from 2016-04-01; A is reused, B runs
    page.locator("[data-testid=lever-B-china_exit_strictness]").fill("0.3")
    page.fill("[data-testid=from-B-china_exit_strictness]", "2016-04-01")
    assert page.inner_text("[data-testid=value-B-china_exit_strictness]") == "0.30"
    what_if = run_and_time(page)
    comparison = api.get(f"/api/comparisons/{what_if['comparison']}").json()
    assert comparison["a_id"] == first["a_id"]  # A reused: same scenario, seed and replicates
    assert comparison["b"]["request"]["changes"] == [
        {"lever": "china_exit_strictness", "value": 0.3, "start": "2016-04-01"}
    ]
    assert comparison["b"]["seed"] == comparison["a"]["seed"]

    # the B - A band is drawn, over all pairs, and equals the API's
    bands = check_numbers_equal_the_api(page, api, what_if["comparison"])
    assert bands["difference"]["pairs"] == REPLICATES
    for name in SHOWN:
        chart = page.locator(f"[data-testid=chart-D-{name}]")
        assert chart.get_attribute("data-pairs") == str(REPLICATES)
        drawn = page.evaluate(
            "(id) => document.getElementById(id).data.at(-1).y", f"chart-D-{name}"
        )
        assert drawn == pytest.approx(
            [v if v is not None else None for v in bands["difference"]["outcomes"][name]["median"]]
        )
    # before the change A and B are the same futures: the paired difference is exactly 0
    months = bands["periods"]
    before = months.index("2016-03")
    for name in SHOWN:
        band = bands["difference"]["outcomes"][name]
        assert band["p5"][: before + 1] == [0.0] * (before + 1)
        assert band["p95"][: before + 1] == [0.0] * (before + 1)
    # the set lever and the value in force, side by side
    set_b = bands["set_levers"]["B"]["china_exit_strictness"]
    assert set_b[before] == pytest.approx(0.95) and set_b[before + 1] == pytest.approx(0.3)
    effective = page.locator("[data-testid=effective-B-china_exit_strictness]")
    assert (
        float(effective.get_attribute("data-value"))
        == (bands["b"]["totals"]["exit_strictness"]["median"])
    )
    assert page.inner_text("[data-testid=uncertainty]") == bands["b"]["uncertainty"]

    shot = ARTIFACTS / "dashboard.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()
    assert not errors, errors
    assert not requests_outside, requests_outside  # no CDN: plotly.js comes from the service
    FIGURES.update(
        {
            "scenario": "baseline-2016 (2012-2020, full default population)",
            "replicates_per_side": REPLICATES,
            "cores": os.cpu_count(),
            "first_comparison_A_equals_B": baseline,
            "what_if_exit_policy_from_2016_04_01": what_if,
            "bounds_s": {"first_bands": FIRST_BANDS_S, "all_replicates": ALL_REPLICATES_S},
            "reference_one_replicate_s": reference_replicate_seconds(),
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        }
    )
    (ARTIFACTS / "whatif.json").write_text(json.dumps(FIGURES, indent=2) + "\n")
    print(f"\nwhat-if timings: {json.dumps(FIGURES)}")


def reference_replicate_seconds() -> float:
    """One replicate of the full default scenario in this process, now (the machine's pace).

    On a quiet 2-core machine 40 replicates take about 20 of these on each core.
    """
    import numpy as np

    from lipsteeth.experiment.ensemble import run_scenario
    from lipsteeth.scenario import load_scenario

    scenario = load_scenario("baseline-2016")
    run_scenario(scenario.with_overrides(years=0.01), replicate_indices=np.array([0]))
    started = time.perf_counter()
    run_scenario(scenario, replicate_indices=np.array([0]))
    return round(time.perf_counter() - started, 3)


@pytest.mark.slow
def test_what_if_times_are_within_the_bounds() -> None:
    """The figures the previous test recorded: first bands <= 2 s, 40 replicates < 10 s.

    A bound on wall time holds only on a machine that is not shared: this check runs in
    ``make test-all`` (marked slow), not in ``make test``, and there after the rest of the
    suite, in its own pytest process without xdist (the module is marked ``serial``), so
    no other test shares the 2 cores with it. Under xdist beside
    another worker's slow tests it measured 9.6 and 11.1 s (load 2.9; 2026-12-02), alone
    5.8 and 6.5 s. The figures themselves are always written to
    build/test-artifacts/whatif.json.
    """
    if not FIGURES:
        pytest.fail("the what-if test did not record its figures")
    for what in ("first_comparison_A_equals_B", "what_if_exit_policy_from_2016_04_01"):
        timing = FIGURES[what]
        assert timing["first_bands_s"] <= FIRST_BANDS_S, FIGURES
        assert timing["all_replicates_s"] < ALL_REPLICATES_S, FIGURES


def test_a_pasted_scenario_is_checked_like_a_file(server: LiveServer, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=TIMEOUT_MS)
    page.click("#own-scenario summary")
    bad = (
        '[scenario]\nname = "mine"\nextends = "baseline-2016"\n\n'
        '[levers.china_sanctions]\nvalue = 4.0\nprovenance = "assumption: test"\n'
    )
    page.fill("[data-testid=toml]", bad)
    page.click("[data-testid=toml-use]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=toml-status]').textContent.startsWith('error')"
    )
    message = page.inner_text("[data-testid=toml-status]")
    assert message.startswith("error: uploaded scenario: levers.china_sanctions")
    assert "\n" not in message and "/" not in message.split(":", 2)[1]
    with_file = (
        '[scenario]\nname = "mine"\nextends = "baseline-2016"\nevents_file = "/etc/passwd"\n'
    )
    page.fill("[data-testid=toml]", with_file)
    page.click("[data-testid=toml-use]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=toml-status]')"
        ".textContent.includes('events_file')"
    )
    good = bad.replace("value = 4.0", "value = 0.5")
    page.fill("[data-testid=toml]", good)
    page.click("[data-testid=toml-use]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=toml-status]').textContent.startsWith('using')"
    )
    assert page.input_value("[data-testid=scenario]") == "uploaded:mine"
    slider = page.locator("[data-testid=lever-A-china_sanctions]")
    assert float(slider.input_value()) == 0.5
    page.close()
