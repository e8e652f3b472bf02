"""Reports: self-contained HTML with every section, figures as PNG and SVG, comparisons, CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from lipsteeth import services
from lipsteeth.adapters import figures as fg
from lipsteeth.adapters import report as rp
from lipsteeth.adapters import store
from lipsteeth.adapters.cli import report as report_commands
from lipsteeth.adapters.cli import serve as serve_commands
from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.facts import FactCheck
from lipsteeth.scenario import Scenario, load_scenario, load_scenario_text

from .web_live import ARTIFACTS, TINY_PARAMS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = list(rp.CHROMIUM_ARGS)


def make_results(
    target: Path,
    *,
    levers: dict[str, float] | None = None,
    years: float = 3,
    replicates: int = 3,
    seed: int = 7,
    facts: list[dict[str, Any]] | None = None,
    params: dict[str, float] | None = None,
    base: Scenario | None = None,
) -> tuple[Scenario, Path]:
    """A real results folder of a small-population run, written by the store."""
    scenario = (base or load_scenario("baseline-2016")).with_overrides(
        params=params if params is not None else TINY_PARAMS, levers=levers or {}, years=years
    )
    result = run_scenario(scenario, replicates=replicates, seed=seed)
    manifest = store.run_manifest(
        run_id=target.name,
        scenario=scenario,
        result=result,
        seed=seed,
        argv=["run", "test"],
        wall_time_s=1.0,
        facts=facts or [],
        ledger=store.ledger_checks(result),
    )
    store.write_results(
        target,
        run_id=target.name,
        result=result,
        start=scenario.start,
        manifest=manifest,
        summary={"scenario": scenario.name},
    )
    return scenario, target


def fake_facts() -> list[dict[str, Any]]:
    """Two rows in the facts table format (one consistent, one not)."""
    rows = [
        FactCheck(
            "F1",
            "about 50,000 abroad",
            "workers abroad",
            "40,000-65,000",
            4e4,
            6.5e4,
            5.1e4,
            4.9e4,
            5.3e4,
            True,
            "persons",
            "02_overseas_workers_estimates.csv",
        ),
        FactCheck(
            "F3",
            "a 2016 wave",
            "restaurant defectors 2016",
            "5-50",
            5,
            50,
            2.0,
            0.0,
            6.0,
            False,
            "persons",
            "04_restaurant_worker_group_defections.csv",
        ),
    ]
    return [r.to_dict() for r in rows]


def add_experiment_outputs(folder: Path, scenario: Scenario) -> None:
    """Sensitivity, posterior, validation and PRIM tables like the experiment layer writes."""
    factors = list(scenario.uncertainties)[:5]
    rng = np.random.default_rng(0)
    pq.write_table(
        pa.table(
            {
                "outcome": ["revenue_to_state_usd"] * len(factors),
                "factor": factors,
                "S1": rng.uniform(0, 0.4, len(factors)),
                "S1_conf": rng.uniform(0, 0.05, len(factors)),
                "ST": rng.uniform(0.4, 0.8, len(factors)),
                "ST_conf": rng.uniform(0, 0.05, len(factors)),
            }
        ),
        folder / "sensitivity_sobol.parquet",
    )
    low, high = scenario.uncertainties[factors[0]]
    pq.write_table(
        pa.table(
            {
                factors[0]: rng.uniform(low, high, 200),
                "weight": np.full(200, 1 / 200),
                "generation": np.full(200, 3),
            }
        ),
        folder / "posterior.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "series": ["arrivals_south_korea"] * 3,
                "year": [2012, 2013, 2014],
                "observed": [1502.0, 1514.0, 1397.0],
                "median": [1450.0, 1480.0, 1460.0],
                "p5": [1300.0, 1350.0, 1320.0],
                "p95": [1600.0, 1620.0, 1610.0],
            }
        ),
        folder / "validation.parquet",
    )
    lever_low, lever_high = scenario.lever_ranges["china_exit_strictness"]
    pq.write_table(
        pa.table(
            {
                "box": [1, 1],
                "dimension": ["china_exit_strictness", factors[0]],
                "min": [lever_low, low],
                "max": [(lever_low + lever_high) / 2, high],
            }
        ),
        folder / "prim_boxes.parquet",
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("reports")
    scenario_a, a = make_results(base / "run-a", facts=fake_facts())
    _, b = make_results(base / "run-b", levers={"china_sanctions": 0.6})
    _, c = make_results(base / "run-c", seed=99, replicates=2)
    add_experiment_outputs(a, scenario_a)
    return {"a": a, "b": b, "c": c, "scenario": scenario_a, "base": base}


@pytest.fixture(scope="module")
def report_a(runs: dict[str, Any]) -> Path:
    return rp.write_report(runs["a"])


# ---------------------------------------------------------------------------


_EXTERNAL = [
    re.compile(r"<script\b", re.I),
    re.compile(r"<link\b", re.I),
    re.compile(r"<img\b[^>]*src=[\"']?(?!data:)", re.I),
    re.compile(r"<iframe\b", re.I),
    re.compile(r"url\(\s*['\"]?(?!data:|#)", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"xlink:href=[\"'](?!#)", re.I),
]


def test_report_is_self_contained(report_a: Path) -> None:
    text = report_a.read_text()
    assert report_a.name == "report.html"
    for pattern in _EXTERNAL:
        assert not pattern.search(text), f"external reference: {pattern.pattern}"
    assert "default-src 'none'" in text  # the CSP forbids fetching anything


def test_report_has_every_section(report_a: Path, runs: dict[str, Any]) -> None:
    text = report_a.read_text()
    for sid in (
        "facts",
        "levers",
        "fans",
        "flow",
        "groups",
        "revenue",
        "scenario",
        "sensitivity",
        "calibration",
        "validation",
        "prim",
    ):
        assert f'<section id="{sid}">' in text, sid
    # the facts table: each row with its status
    assert "F1" in text and "F3" in text
    assert text.count('class="status">consistent') == 1
    assert text.count('class="status">NOT consistent') == 1
    # a fan chart for every outcome (SVG text is kept as text)
    for name in OUTCOME_NAMES:
        assert f">{name}<" in text, name
    # every parameter and lever with its provenance
    scenario: Scenario = runs["scenario"]
    for key, info in scenario.provenance.items():
        assert rp.esc(key) in text, key
        assert rp.linkify(info.provenance) in text, key


def test_report_figures_written_as_png_and_svg(report_a: Path) -> None:
    figures = report_a.parent / rp.FIGURES_DIR
    stems = {p.stem for p in figures.glob("*.png")}
    assert stems == {p.stem for p in figures.glob("*.svg")}
    expected = {
        "fan_money",
        "fan_pay",
        "fan_people",
        "fan_defections",
        "fan_enforcement",
        "fan_strategic",
        "fan_levers",
        "flow_of_people",
        "group_sizes",
        "revenue",
        "posterior",
        "validation",
        "prim_boxes",
        "sensitivity_sobol",
    }
    assert expected <= stems
    for stem in stems:
        assert (figures / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (figures / f"{stem}.svg").read_text()[:500]


def test_figures_are_reproducible(runs: dict[str, Any]) -> None:
    res = rp.load_results(runs["b"])
    x = res.x("year")

    def svg() -> str:
        series = [
            fg.Series(n, "USD", res.series(n, "year"))
            for n in ("revenue_to_state_usd", "restaurant_sales_usd")
        ]
        return fg.figure_svg(fg.fan_grid("t", x, series))

    assert svg() == svg()


def test_report_sections_without_experiments_or_facts(runs: dict[str, Any], tmp_path: Path) -> None:
    assert rp.find_extras(runs["b"]) == {}
    text, _ = rp.build_report_html(rp.load_results(runs["b"]), tmp_path)
    assert "were not checked" in text
    for sid in ("sensitivity", "calibration", "validation", "prim"):
        assert f'<section id="{sid}">' not in text
    assert set(rp.find_extras(runs["a"])) == {
        "sensitivity",
        "calibration",
        "validation",
        "discovery",
    }


def test_flow_of_people_balances(runs: dict[str, Any]) -> None:
    res = rp.load_results(runs["a"])
    flow = rp.people_flow(res)
    s = {k: v.mean for k, v in flow.stats.items()}
    attempts = s["attempt_restaurant"] + s["attempt_labour"]
    fates = (
        s["foiled"]
        + s["caught_exit"]
        + s["caught_transit"]
        + s["escaped_legal"]
        + s["escaped_clandestine"]
    )
    assert fates == pytest.approx(attempts)
    assert s["arrived"] + s["in_transit"] == pytest.approx(
        s["escaped_legal"] + s["escaped_clandestine"]
    )
    # attempts by the event log equal the attempt outcomes recorded by the core
    recorded = res.total("attempts_restaurant") + res.total("attempts_labour")
    assert attempts == pytest.approx(float(recorded.mean()))


def test_revenue_parts_add_up(runs: dict[str, Any]) -> None:
    res = rp.load_results(runs["a"])
    for _title, _label, gross, parts in rp.revenue_panels(res):
        assert np.allclose(sum(parts.values()), gross, rtol=1e-9, atol=1e-3)


def test_group_sizes_count_every_attempt(runs: dict[str, Any]) -> None:
    res = rp.load_results(runs["a"])
    groups = rp.group_sizes(res)
    per_replicate = sum(
        float(np.sum(counts)) for _t, _s, stacks in groups.panels for counts in stacks.values()
    )
    recorded = res.total("defection_groups_restaurant") + res.total("defection_groups_labour")
    assert per_replicate == pytest.approx(float(recorded.mean()))


def write_experiment(root: Path, scenario: Scenario) -> None:
    """Experiments as ``lipsteeth sensitivity | calibrate | discover`` write them."""
    factors = list(scenario.uncertainties)[:4]
    space = [
        {"name": f, "kind": "uncertainty", "low": lo, "high": hi, "integer": False}
        for f, (lo, hi) in ((f, scenario.uncertainties[f]) for f in factors)
    ]
    rng = np.random.default_rng(1)
    for exp, kind in (("sens-1", "sensitivity"), ("abc-1", "calibrate"), ("other-1", "sweep")):
        folder = root / "experiments" / exp
        (folder / "analysis").mkdir(parents=True)
        manifest = {
            "experiment": exp,
            "kind": kind,
            "scenario": scenario.name,
            "status": "complete",
            "design": {"method": "lhs", "space": space},
        }
        if exp == "other-1":
            manifest["scenario"] = "some-other-scenario"
        if kind == "calibrate":
            manifest.update(
                stop_reason="epsilon reached", n_runs=120, calibrated_scenario="x-calibrated.toml"
            )
        (folder / "manifest.json").write_text(json.dumps(manifest))
    sens = root / "experiments" / "sens-1"
    pq.write_table(
        pa.table(
            {
                "factor": factors,
                "S1": [0.5, 0.2, 0.1, 0.0],
                "S1_conf": [0.05] * 4,
                "ST": [0.6, 0.3, 0.1, 0.01],
                "ST_conf": [40.0] * 4,
            }
        ),
        sens / "analysis" / "sobol_revenue_to_state_usd.parquet",
    )
    (sens / "sensitivity_sobol.json").write_text(
        json.dumps(
            {
                "outcomes": {
                    "revenue_to_state_usd": {
                        "convergence": {"settled": True, "message": "settled at N=64"}
                    }
                }
            }
        )
    )
    pq.write_table(
        pa.table(
            {
                "box": [1, 1],
                "factor": factors[:2],
                "low": [space[0]["low"], space[1]["low"]],
                "high": [space[0]["high"] * 0.9, space[1]["high"]],
            }
        ),
        sens / "analysis" / "prim_revenue_to_state_usd_gt_1_limits.parquet",
    )
    pq.write_table(
        pa.table({"box": [1], "coverage": [0.8], "density": [0.7], "mass": [0.2]}),
        sens / "analysis" / "prim_revenue_to_state_usd_gt_1_boxes.parquet",
    )
    abc = root / "experiments" / "abc-1" / "analysis"
    columns: dict[str, Any] = {
        "generation": np.repeat([0, 1], 50),
        "particle": np.tile(np.arange(50), 2),
        "weight": np.full(100, 1 / 50),
    }
    for f, (lo, hi) in ((f, scenario.uncertainties[f]) for f in factors):
        columns[f] = rng.uniform(lo, hi, 100)
    columns["distance"] = rng.uniform(0, 1, 100)
    pq.write_table(pa.table(columns), abc / "posterior.parquet")
    pq.write_table(
        pa.table(
            {
                "parameter": factors,
                "prior_low": [scenario.uncertainties[f][0] for f in factors],
                "prior_high": [scenario.uncertainties[f][1] for f in factors],
                "median": [1.0] * 4,
                "low": [0.5] * 4,
                "high": [1.5] * 4,
            }
        ),
        abc / "posterior_summary.parquet",
    )


def test_report_finds_experiments_and_validation(runs: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "run-x"
    shutil.copytree(runs["b"], folder)
    write_experiment(tmp_path, runs["scenario"])
    (folder / "validation.json").write_text(
        json.dumps(
            {
                "observed": "01_arrivals_south_korea",
                "replicates": 3,
                "series": {
                    "arrivals_south_korea": {
                        "unit": "persons",
                        "model_outcome": "arrivals_south_korea",
                        "n": 2,
                        "ard": 0.05,
                        "mase": 0.8,
                        "coverage_90": 0.5,
                        "note": "",
                        "observations": [
                            {
                                "period": "2012",
                                "observed": 1502.0,
                                "low": None,
                                "high": None,
                                "sim_median": 1450.0,
                                "sim_p5": 1300.0,
                                "sim_p95": 1600.0,
                            },
                            {
                                "period": "2013",
                                "observed": 1514.0,
                                "low": None,
                                "high": None,
                                "sim_median": 1480.0,
                                "sim_p5": 1350.0,
                                "sim_p95": 1620.0,
                            },
                        ],
                    }
                },
            }
        )
    )
    extras = rp.find_extras(folder, "baseline-2016")
    assert {k: len(v) for k, v in extras.items()} == {
        "validation": 1,
        "sensitivity": 1,
        "calibration": 1,
        "discovery": 1,
    }  # the other scenario's experiment is left out
    text = rp.write_report(folder).read_text()
    for sid in ("sensitivity", "calibration", "validation", "prim"):
        assert f'<section id="{sid}">' in text, sid
    assert "settled at N=64" in text and "epsilon reached" in text
    assert "Last generation (1): 50 particles" in text
    stems = {p.stem for p in (folder / rp.FIGURES_DIR).glob("*.svg")}
    assert {
        "validation",
        "posterior_abc-1",
        "sensitivity_sobol_revenue_to_state_usd_sens-1",
        "prim_revenue_to_state_usd_gt_1_sens-1",
    } <= stems


HOSTILE = "<script>alert('lipsteeth')</script> & <b>bold</b>"


def test_report_escapes_every_text_of_the_scenario(tmp_path: Path) -> None:
    """A scenario whose title and description hold markup: the report shows it as text."""
    toml = (
        '[scenario]\nname = "hostile"\nextends = "baseline-2016"\n'
        f'title = "{HOSTILE}"\ndescription = "{HOSTILE}"\n'
    )
    base = load_scenario_text(toml)
    _, folder = make_results(tmp_path / "hostile", base=base, years=2, replicates=2)
    text = rp.write_report(folder).read_text()
    assert "<script" not in text and "<b>bold" not in text
    escaped = (
        "&lt;script&gt;alert(&#39;lipsteeth&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    )
    assert text.count(escaped) == 2  # the header's scenario line and its description
    for pattern in _EXTERNAL:
        assert not pattern.search(text), pattern.pattern
    # and the comparison of that run with itself
    cmp = rp.write_comparison(folder, folder, out=tmp_path / "cmp.html").read_text()
    assert "<script" not in cmp


def test_templates_ship_with_the_package() -> None:
    """The report renders from templates that are package data, with autoescape on."""
    from importlib import resources

    from lipsteeth.adapters.report import render

    templates = resources.files("lipsteeth.adapters.report") / "templates"
    names = {p.name for p in templates.iterdir()}
    assert {"page.html.j2", "report.html.j2", "compare.html.j2", "style.css"} <= names
    env = render.environment()
    assert env.autoescape is True
    assert str(env.from_string("{{ x }}").render(x="<i>")) == "&lt;i&gt;"


# ---------------------------------------------------------------------------
# comparison


def test_difference_paired_and_unpaired() -> None:
    a = np.arange(1.0, 11.0)  # ten a side: a clear difference is judged
    paired = rp.difference("x", a, a + 10.0, paired=True)
    assert paired.diff_median == pytest.approx(10.0)
    assert paired.ci_low == pytest.approx(10.0) and paired.ci_high == pytest.approx(10.0)
    assert paired.clear is True
    unpaired = rp.difference("x", a, a + 10.0, paired=False)
    assert unpaired.diff_median == pytest.approx(10.0)
    assert unpaired.diff_p5 < 10.0 < unpaired.diff_p95  # independent draws spread
    same = rp.difference("x", a, a[::-1].copy(), paired=False)
    assert same.clear is False
    # one replicate a side: no interval, and never judged clear or not
    single = rp.difference("x", a[:1], a[:1] + 10.0, paired=True)
    assert single.diff_median == pytest.approx(10.0)
    assert np.isnan(single.ci_low) and np.isnan(single.ci_high) and single.clear is None


def test_comparison_report(runs: dict[str, Any], tmp_path: Path) -> None:
    out = rp.write_comparison(runs["a"], runs["b"], out=tmp_path / "cmp.html")
    text = out.read_text()
    assert "lever.china_sanctions" in text  # the differing input is named
    assert "common random numbers" in text  # same seed and replicates: paired
    for pattern in _EXTERNAL:
        assert not pattern.search(text)
    figures = tmp_path / "cmp_figures"
    assert (figures / "compare_key_outcomes.png").is_file()
    assert (figures / "compare_key_outcomes.svg").is_file()
    # the table's difference is the median of per-replicate differences of the parquet data
    a, b = rp.load_results(runs["a"]), rp.load_results(runs["b"])
    diffs = {d.outcome: d for d in rp.compare_differences(a, b)}
    rev = diffs["revenue_to_state_usd"]
    expected = np.median(b.total("revenue_to_state_usd") - a.total("revenue_to_state_usd"))
    assert rev.paired and rev.diff_median == pytest.approx(expected)
    assert rev.ci_low <= rev.diff_median <= rev.ci_high


def test_comparison_of_unpaired_runs(runs: dict[str, Any], tmp_path: Path) -> None:
    out = rp.write_comparison(runs["a"], runs["c"], out=tmp_path / "u.html")
    assert "independent draws" in out.read_text()
    a, c = rp.load_results(runs["a"]), rp.load_results(runs["c"])
    assert not rp.paired_runs(a, c)


# ---------------------------------------------------------------------------
# levers: set and in force (issue 12, item 8)

#: the exit strictness an analyst sets in the lax run
LAX_EXIT = 0.3


@pytest.fixture(scope="module")
def lever_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two real runs of 2012-2013 written as ``lipsteeth run`` writes them (summary with the
    levers in force): exit strictness as in the baseline (A) and set to 0.3 (B), same seed.

    The nuclear test of February 2013 (an event of record in the baseline) displeases
    Beijing past its laxity threshold, so the exit strictness in force drops to
    set x (1 - discretion x laxity_depth) for some months (M9).
    """
    base = tmp_path_factory.mktemp("levers")
    folders = {}
    for tag, levers in (("strict", {}), ("lax", {"china_exit_strictness": LAX_EXIT})):
        scenario = load_scenario("baseline-2016").with_overrides(
            params=TINY_PARAMS, levers=levers, years=2
        )
        result = run_scenario(scenario, replicates=3, seed=11)
        services.record_run(
            base / tag, run_id=tag, scenario=scenario, result=result, seed=11, wall_time_s=1.0
        )
        folders[tag] = base / tag
    scenario = load_scenario("baseline-2016")
    depth = scenario.levers.beijing_discretion * scenario.params.strategic.laxity_depth
    return {**folders, "lax_factor": 1.0 - depth}


def _section(text: str, sid: str) -> str:
    start = text.index(f'<section id="{sid}">')
    return text[start : text.index("</section>", start)]


def _table_rows(html: str) -> list[dict[str, str]]:
    """The first table of an HTML fragment as rows of header -> cell text."""
    header = re.findall(r"<th>(.*?)</th>", html.split("</thead>")[0])
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def test_report_shows_levers_set_and_in_force(lever_runs: dict[str, Any]) -> None:
    """Set 0.3: the report shows 0.3 set and less in force, the lowest month at
    0.3 x (1 - discretion x laxity_depth), while a lever discretion leaves alone (border
    stringency) shows the same number set and in force; the figures come from the run."""
    folder = lever_runs["lax"]
    text = _section(rp.write_report(folder).read_text(), "levers")
    assert "<h2>Levers: set and in force</h2>" in text
    rows = {row["lever"]: row for row in _table_rows(text)}
    exit_row = rows["china_exit_strictness"]
    assert exit_row["in force as"] == "exit_strictness"
    assert _number(exit_row["set"]) == pytest.approx(LAX_EXIT)
    assert _number(exit_row["in force: median"]) < LAX_EXIT - 0.005
    assert _number(exit_row["in force - set"]) < -0.005
    assert _number(exit_row["lowest month"]) == pytest.approx(
        LAX_EXIT * lever_runs["lax_factor"], rel=1e-3
    )
    assert _number(exit_row["highest month"]) == pytest.approx(LAX_EXIT, rel=1e-3)
    border = rows["china_border_stringency"]
    assert border["set"] == border["in force: median"] == border["lowest month"]
    # the whole-run median in force is that of the monthly outcomes the folder holds
    res = rp.load_results(folder)
    by_replicate = res.series("exit_strictness", "month").mean(axis=1)
    assert _number(exit_row["in force: median"]) == pytest.approx(
        float(np.median(by_replicate)), rel=1e-3
    )
    # by year: 2012 as set, 2013 (after the February test) below it
    years = _table_rows(text.split("<summary>china_exit_strictness by year</summary>")[1])
    by_year = {row["year"]: row for row in years}
    assert set(by_year) == {"2012", "2013"}
    assert _number(by_year["2013"]["in force: median"]) < _number(by_year["2013"]["set"])
    figures = folder / rp.FIGURES_DIR
    assert (figures / "levers_in_force.png").is_file()
    assert "china_exit_strictness" in (figures / "levers_in_force.svg").read_text()


def test_report_of_a_folder_without_levers_in_force(report_a: Path) -> None:
    """A folder whose summary predates the levers in force says so instead of a table."""
    text = _section(report_a.read_text(), "levers")
    assert "does not record the levers in force" in text and "<table" not in text


def test_comparison_shows_levers_of_both_runs(lever_runs: dict[str, Any], tmp_path: Path) -> None:
    out = rp.write_comparison(lever_runs["strict"], lever_runs["lax"], out=tmp_path / "c.html")
    text = _section(out.read_text(), "levers")
    exit_row = next(r for r in _table_rows(text) if r["lever"] == "china_exit_strictness")
    assert _number(exit_row["A set"]) == pytest.approx(0.95)
    assert _number(exit_row["B set"]) == pytest.approx(LAX_EXIT)
    factor = lever_runs["lax_factor"]
    assert _number(exit_row["A lowest month"]) == pytest.approx(0.95 * factor, rel=1e-3)
    assert _number(exit_row["B lowest month"]) == pytest.approx(LAX_EXIT * factor, rel=1e-3)
    assert (tmp_path / "c_figures" / "compare_levers_in_force.svg").is_file()


def test_cli_compare_json(lever_runs: dict[str, Any], tmp_path: Path) -> None:
    """``compare --json``: one JSON object with both runs' levers set and in force."""
    out = tmp_path / "c.html"
    result = CliRunner().invoke(
        _cli(),
        ["compare", str(lever_runs["strict"]), str(lever_runs["lax"]), "--json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().count("\n") == 0
    both = json.loads(result.stdout)
    assert both["report"] == str(out) and out.is_file()
    assert both["paired"] is True
    factor = lever_runs["lax_factor"]
    for tag, run_name, set_value in (("a", "strict", 0.95), ("b", "lax", LAX_EXIT)):
        lever = both[tag]["levers"]["china_exit_strictness"]
        assert lever["effective_outcome"] == "exit_strictness"
        assert lever["set"] == pytest.approx(set_value)
        in_force = lever["in_force"]
        assert in_force["p5"] <= in_force["median"] <= in_force["p95"] < set_value
        assert lever["in_force_lowest_month"] == pytest.approx(set_value * factor, rel=1e-6)
        summary = json.loads((lever_runs[run_name] / "summary.json").read_text())
        run = summary["levers_in_force"]["china_exit_strictness"]["run"]
        assert in_force["median"] == pytest.approx(run["in_force"]["median"])
    arrivals = both["differences"]["arrivals_south_korea"]
    assert arrivals["ci90"][0] <= arrivals["b_minus_a"] <= arrivals["ci90"][1]


# ---------------------------------------------------------------------------
# CLI and errors


def _cli() -> typer.Typer:
    app = typer.Typer()
    report_commands.register(app)
    serve_commands.register(app)
    return app


def test_cli_report_and_compare(
    runs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_report(folder: Path, *, fmt: str, out: Path | None) -> Path:
        calls.append(("report", folder, fmt, out))
        return tmp_path / "r.html"

    def fake_compare(a: Any, b: Any, *, out: Path | None, fmt: str, window: Any) -> Path:
        calls.append(("compare", a.folder, b.folder, fmt, out))
        return tmp_path / "c.html"

    monkeypatch.setattr(rp, "write_report", fake_report)
    monkeypatch.setattr(rp, "write_comparison", fake_compare)
    runner = CliRunner()
    result = runner.invoke(_cli(), ["report", str(runs["b"]), "--format", "pdf"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "r.html")
    result = runner.invoke(
        _cli(), ["compare", str(runs["a"]), str(runs["b"]), "--out", str(tmp_path / "c.html")]
    )
    assert result.exit_code == 0, result.output
    assert calls == [
        ("report", runs["b"], "pdf", None),
        ("compare", runs["a"], runs["b"], "html", tmp_path / "c.html"),
    ]


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    from lipsteeth.adapters.cli import UserError

    runner = CliRunner()
    result = runner.invoke(_cli(), ["report", str(tmp_path / "missing")])
    assert isinstance(result.exception, UserError)
    assert "no such results folder" in str(result.exception)
    (tmp_path / "empty").mkdir()
    result = runner.invoke(_cli(), ["report", str(tmp_path / "empty")])
    assert "not a results folder" in str(result.exception)
    result = runner.invoke(_cli(), ["report", str(tmp_path), "--format", "docx"])
    assert "--format" in str(result.exception)


def test_cli_serve_refuses_public_bind_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from lipsteeth.adapters.cli import UserError

    monkeypatch.delenv("LIPSTEETH_TOKEN", raising=False)
    result = CliRunner().invoke(_cli(), ["serve", "--host", "0.0.0.0"])
    assert isinstance(result.exception, UserError)
    assert "token" in str(result.exception)


# ---------------------------------------------------------------------------
# in a browser, offline; PDF


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="run scripts/install_chromium.sh")


@needs_chromium
def test_report_renders_offline_in_chromium(report_a: Path) -> None:
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(report_a.resolve().as_uri(), wait_until="load")
            n_svg = page.locator("figure svg").count()
            facts_rows = page.locator("section#facts tbody tr").count()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"))
        finally:
            browser.close()
    assert requested == [report_a.resolve().as_uri()]
    assert n_svg >= 8
    assert facts_rows == 2


@needs_chromium
def test_report_pdf(report_a: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    assert rp.html_to_pdf(report_a, pdf)
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 50_000


def test_report_pdf_without_chromium(report_a: Path, runs: dict[str, Any], tmp_path: Path) -> None:
    assert not rp.html_to_pdf(report_a, tmp_path / "x.pdf", chromium=tmp_path / "no-chromium")
    figures = [
        fg.FigureFiles(p.stem, p, p.with_suffix(".svg"), "")
        for p in sorted((report_a.parent / rp.FIGURES_DIR).glob("fan_*.png"))
    ]
    pdf = tmp_path / "fallback.pdf"
    rp.pdf_fallback(pdf, "t", rp.load_results(runs["a"]), figures)
    assert pdf.read_bytes()[:5] == b"%PDF-"


# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_report_of_a_default_period_run_with_facts(tmp_path: Path) -> None:
    """The whole default period with the real facts check, at a reduced population."""
    from lipsteeth.experiment.facts import check_facts

    scenario = load_scenario("baseline-2016").with_overrides(params=TINY_PARAMS)
    result = run_scenario(scenario, replicates=2)
    facts = [f.to_dict() for f in check_facts(scenario, result, counterfactual_replicates=1)]
    target = tmp_path / "full"
    manifest = store.run_manifest(
        run_id="full",
        scenario=scenario,
        result=result,
        seed=scenario.seed,
        argv=[],
        wall_time_s=0.0,
        facts=facts,
        ledger=store.ledger_checks(result),
    )
    store.write_results(
        target, run_id="full", result=result, start=scenario.start, manifest=manifest, summary={}
    )
    text = rp.write_report(target).read_text()
    for fid in ("F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9"):
        assert f"<td>{fid}</td>" in text
    assert "observed (01_defector_arrivals)" in text  # observed overlay on the yearly fans
