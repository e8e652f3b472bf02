"""The dashboard in a real browser: Playwright driving Debian's chromium (no network).

Opens the dashboard served by a real server, runs setting A, changes a lever,
runs again, waits for the chart to change, checks that the numbers shown are
the API's, runs setting B and checks the difference column, and saves a
screenshot in ``build/test-artifacts/dashboard.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

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
OUTCOME = "revenue_to_state_usd"
TIMEOUT_MS = 120_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium missing: run scripts/install_chromium.sh"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("dash"), workers=2) as srv:
        yield srv


def parse_compact(text: str) -> float:
    """Invert the dashboard's compact number format (12.3M, 48.1k, 0.73)."""
    m = re.fullmatch(r"(-?[0-9.]+)([kMG]?)", text.strip())
    assert m, text
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]


def check_cell_against_api(page: object, api: httpx.Client, slot: str, name: str) -> str:
    """The whole-run cell of ``slot`` shows the API's median and 90 % band; returns the run id."""
    cell = page.locator(f"[data-testid=total-{slot}-{name}]")  # type: ignore[attr-defined]
    run_id = cell.get_attribute("data-run-id")
    shown_value = float(cell.get_attribute("data-value"))
    text = cell.inner_text()
    totals = api.get(f"/api/runs/{run_id}/bands").json()["totals"][name]
    assert shown_value == totals["median"]
    median, low, high = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", text).groups()  # type: ignore[union-attr]
    for shown, exact in ((median, totals["median"]), (low, totals["p5"]), (high, totals["p95"])):
        assert parse_compact(shown) == pytest.approx(exact, rel=0.006, abs=0.006)
    return str(run_id)


def chart_state(page: object, slot: str) -> tuple[str | None, str | None, list[float]]:
    div = page.locator(f"[data-testid=chart-{slot}-{OUTCOME}]")  # type: ignore[attr-defined]
    medians = page.evaluate(  # type: ignore[attr-defined]
        "(id) => { const d = document.getElementById(id);"
        " return d && d.data ? d.data[d.data.length - 1].y : []; }",
        f"chart-{slot}-{OUTCOME}",
    )
    return div.get_attribute("data-run-id"), div.get_attribute("data-median-last"), medians


def test_dashboard_change_lever_run_and_compare(server: LiveServer) -> None:
    from playwright.sync_api import sync_playwright

    requests_outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p, httpx.Client(base_url=server.url, timeout=30) as api:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.on(
                "request",
                lambda r: None if r.url.startswith(server.url) else requests_outside.append(r.url),
            )
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=TIMEOUT_MS)
            page.fill("[data-testid=years]", "1")
            page.fill("[data-testid=replicates]", "2")

            # run A with the scenario's levers
            page.click("[data-testid=run-A]")
            page.wait_for_selector("body[data-run-a]", timeout=TIMEOUT_MS)
            first_id, first_last, first_medians = chart_state(page, "A")
            assert first_id and first_medians
            assert check_cell_against_api(page, api, "A", OUTCOME) == first_id

            # change a lever (the remittance quota), run A again, wait for the chart to change
            page.locator("[data-testid=lever-A-restaurant_quota_usd]").fill("150000")
            assert page.locator("[data-testid=value-A-restaurant_quota_usd]").inner_text() == "150k"
            page.click("[data-testid=run-A]")
            page.wait_for_function(
                "(id) => document.body.dataset.runA && document.body.dataset.runA !== id",
                arg=first_id,
                timeout=TIMEOUT_MS,
            )
            page.wait_for_function(
                "([id, old]) => { const d = document.getElementById(id);"
                " return d && d.dataset.medianLast && d.dataset.medianLast !== old; }",
                arg=[f"chart-A-{OUTCOME}", first_last],
                timeout=TIMEOUT_MS,
            )
            second_id, _, second_medians = chart_state(page, "A")
            assert second_id != first_id and second_medians != first_medians
            assert check_cell_against_api(page, api, "A", OUTCOME) == second_id
            # the chart shows the API's median line, month by month
            bands = api.get(f"/api/runs/{second_id}/bands").json()
            assert second_medians == pytest.approx(bands["outcomes"][OUTCOME]["median"])
            # the lever reached the run
            request = api.get(f"/api/runs/{second_id}").json()["request"]
            assert request["levers"] == {"restaurant_quota_usd": 150000.0}

            # setting B with the scenario's levers: side by side, and the difference
            page.click("[data-testid=run-B]")
            page.wait_for_selector("body[data-run-b]", timeout=TIMEOUT_MS)
            b_id = check_cell_against_api(page, api, "B", OUTCOME)
            assert b_id == page.locator(f"[data-testid=chart-B-{OUTCOME}]").get_attribute(
                "data-run-id"
            )
            diff = float(page.locator(f"[data-testid=diff-{OUTCOME}]").get_attribute("data-value"))
            a_total = api.get(f"/api/runs/{second_id}/bands").json()["totals"][OUTCOME]["median"]
            b_total = api.get(f"/api/runs/{b_id}/bands").json()["totals"][OUTCOME]["median"]
            assert diff == pytest.approx(b_total - a_total)
            assert b_total == pytest.approx(
                api.get(f"/api/runs/{first_id}/bands").json()["totals"][OUTCOME]["median"]
            )  # B repeats A's first setting: same seed, same numbers

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert not errors, errors
    assert not requests_outside, requests_outside  # no CDN: plotly.js comes from the service
