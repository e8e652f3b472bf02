"""``lipsteeth compare A B`` (issue 16): a terminal summary of B - A with its paired 90 %
interval, the report in the results tree, ``--from/--to`` and ``--per-year``, the dated
events that differ, and no "clear difference" with fewer than 10 replicates a side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from lipsteeth import services
from lipsteeth.adapters import report as rp
from lipsteeth.adapters.cli import UserError, app
from lipsteeth.adapters.report.differences import MIN_REPLICATES_CLEAR
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.scenario import load_scenario_text

from .web_live import TINY_PARAMS

#: the two dated events B has and A lacks
TWO_EVENTS = """
[[events]]
date = "2012-06-01"
until = "2013-06-30"
kind = "lever"
lever = "china_exit_strictness"
value = 0.2
source = "assumption: test of compare"

[[events]]
date = "2013-02-01"
kind = "missile_test"
count = 4
source = "assumption: test of compare"
"""

SEED = 5


def _record(folder: Path, extra_toml: str, replicates: int) -> Path:
    text = f'[scenario]\nextends = "baseline-2016"\nname = "{folder.name}"\n{extra_toml}'
    scenario = load_scenario_text(text, source=folder.name).with_overrides(
        params=TINY_PARAMS, years=2
    )
    result = run_scenario(scenario, replicates=replicates, seed=SEED)
    services.record_run(
        folder, run_id=folder.name, scenario=scenario, result=result, seed=SEED, wall_time_s=1.0
    )
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Runs of 2012-2013 in a results tree: A and B (B with two more events), 10 replicates
    each and 3 replicates each, all on the same seed (paired)."""
    tree = tmp_path_factory.mktemp("results")
    return {
        "a": _record(tree / "base", "", MIN_REPLICATES_CLEAR),
        "b": _record(tree / "two-events", TWO_EVENTS, MIN_REPLICATES_CLEAR),
        "a3": _record(tree / "base-3", "", 3),
        "b3": _record(tree / "two-events-3", TWO_EVENTS, 3),
    }


def _compare(*args: str) -> Any:
    return CliRunner().invoke(app, ["compare", *args], env={"COLUMNS": "250"})


def test_compare_prints_a_table_and_writes_into_the_results_tree(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = _compare(str(runs["a"]), str(runs["b"]))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "B - A over 2012-2013, paired per replicate" in out
    a, b = rp.load_results(runs["a"]), rp.load_results(runs["b"])
    for name in a.names:  # one row per outcome
        assert f"│ {name} " in out, name
    # the row of missile tests holds the paired median difference of the parquet data
    d = np.median(b.total("missile_tests") - a.total("missile_tests"))
    row = next(line for line in out.splitlines() if "│ missile_tests " in line)
    cells = [c.strip() for c in row.split("│")]
    assert float(cells[4]) == pytest.approx(d)
    # the report goes beside A in the results tree, nothing into the current directory
    report = runs["a"].parent / f"compare-{runs['a'].name}-vs-{runs['b'].name}.html"
    assert report.is_file() and f"Report written to {report}" in out.replace("\n", "")
    assert list(elsewhere.iterdir()) == []


def test_compare_lists_the_events_that_differ(runs: dict[str, Path], tmp_path: Path) -> None:
    result = _compare(str(runs["a"]), str(runs["b"]), "--json", "--out", str(tmp_path / "c.html"))
    assert result.exit_code == 0, result.output
    inputs = json.loads(result.stdout)["differing_inputs"]
    events = [row for row in inputs if row["input"].startswith("event")]
    assert [(row["input"], row["B"]) for row in events] == [
        ("event (only in B)", "2012-06-01 lever china_exit_strictness = 0.2 until 2013-06-30"),
        ("event (only in B)", "2013-02-01 missile_test (count 4)"),
    ]
    text = _compare(str(runs["a"]), str(runs["b"]), "--out", str(tmp_path / "d.html")).stdout
    assert "2013-02-01 missile_test (count 4)" in text and "(none)" not in text
    # the other way round they are only in A; a run against itself differs in nothing
    back = json.loads(
        _compare(str(runs["b"]), str(runs["a"]), "--json", "--out", str(tmp_path / "e.html")).stdout
    )
    assert [r["input"] for r in back["differing_inputs"] if r["input"].startswith("event")] == [
        "event (only in A)"
    ] * 2
    same = json.loads(
        _compare(str(runs["a"]), str(runs["a"]), "--json", "--out", str(tmp_path / "f.html")).stdout
    )
    assert same["differing_inputs"] == []


def test_compare_from_to_and_per_year(runs: dict[str, Path], tmp_path: Path) -> None:
    args = [str(runs["a"]), str(runs["b"]), "--json", "--out", str(tmp_path / "c.html")]
    whole = json.loads(_compare(*args, "--per-year").stdout)
    assert whole["window"] == {"from": 2012, "to": 2013}
    one = json.loads(_compare(*args, "--from", "2013", "--to", "2013").stdout)
    assert one["window"] == {"from": 2013, "to": 2013}
    html = (tmp_path / "c.html").read_text()
    assert "Differences over 2013" in html
    assert (tmp_path / "c_figures" / "compare_key_outcomes.svg").is_file()
    a, b = rp.load_results(runs["a"]), rp.load_results(runs["b"])
    year = int(np.searchsorted(a.years, 2013))
    for name in ("missile_tests", "exit_strictness", "escapes_legal_route"):
        expected = np.median(b.series(name, "year")[:, year] - a.series(name, "year")[:, year])
        assert one["differences"][name]["b_minus_a"] == pytest.approx(expected)
        by_year = {row["year"]: row for row in whole["per_year"][name]}
        assert sorted(by_year) == [2012, 2013]
        assert by_year[2013]["b_minus_a"] == pytest.approx(expected)
        low, high = by_year[2013]["ci90"]
        assert low <= by_year[2013]["b_minus_a"] <= high
    # B's exit strictness of 0.2 from June 2012 to June 2013 is in force in both years
    assert whole["per_year"]["exit_strictness"][0]["b_minus_a"] < 0
    text = _compare(str(runs["a"]), str(runs["b"]), "--per-year", "--out", str(tmp_path / "d.html"))
    assert "provocations by year (tests)" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "2030"],
            "--from 2030 is outside the years compared (both runs cover 2012-2013)",
        ),
        (["--to", "2011"], "--to 2011 is outside the years compared"),
        (["--from", "2013", "--to", "2012"], "--from 2013 is after --to 2012"),
    ],
)
def test_compare_refuses_years_outside_the_runs(
    runs: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "c.html"
    result = _compare(str(runs["a"]), str(runs["b"]), *args, "--out", str(out))
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception)
    assert not out.exists()


def test_no_clear_difference_below_ten_replicates_a_side(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    few = _compare(str(runs["a3"]), str(runs["b3"]), "--out", str(tmp_path / "c.html"))
    assert few.exit_code == 0, few.output
    flat = " ".join(few.stdout.split())
    assert "clear difference not judged: A has 3 replicates and B 3; at least 10 a side" in flat
    doc = json.loads(
        _compare(
            str(runs["a3"]), str(runs["b3"]), "--json", "--out", str(tmp_path / "d.html")
        ).stdout
    )
    assert doc["clear_not_judged"].startswith("clear difference not judged")
    assert {d["clear"] for d in doc["differences"].values()} == {None}
    html = (tmp_path / "c.html").read_text()
    assert "not judged" in html and "at least 10 a side" in html
    # with ten a side it is judged: the exit strictness in force, lowered by B's event, is
    # clearly lower in every replicate
    full = json.loads(
        _compare(str(runs["a"]), str(runs["b"]), "--json", "--out", str(tmp_path / "e.html")).stdout
    )
    assert full["clear_not_judged"] is None
    assert {type(d["clear"]) for d in full["differences"].values()} == {bool}
    exit_strictness = full["differences"]["exit_strictness"]
    assert exit_strictness["clear"] is True and exit_strictness["ci90"][1] < 0


def test_difference_is_judged_from_ten_replicates() -> None:
    nine = np.arange(9.0)
    assert rp.difference("x", nine, nine + 10.0, paired=True).clear is None
    ten = np.arange(10.0)
    assert rp.difference("x", ten, ten + 10.0, paired=True).clear is True
    assert rp.difference("x", ten, ten[::-1].copy(), paired=False).clear is False
