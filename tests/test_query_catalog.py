"""``lipsteeth query`` joins outcomes with factors, over sweeps and run folders (issue 16).

- a sweep's factor levels and every run folder under the results root are in the catalog:
  ``factors`` (a column per factor) joins ``outcomes_wide`` (a column per outcome) on
  experiment and run, and the numbers are those of the Parquet files;
- ``lipsteeth run`` registers its folder in the root's catalog; ``query`` registers the
  folders written since, reloads one written again and drops one removed;
- a parameter drawn per replicate is no factor of a run;
- ``sensitivity`` and ``discover`` results are catalog tables (``sensitivity_indices``,
  ``prim_boxes``);
- the catalog builds no SQL text from paths (the relational API): a results root whose
  path holds quotes works, and no ``execute``/``sql`` call of catalog.py, catalog_tables.py or
  sql_readonly.py takes an f-string or names ``read_parquet``.

Everything is real: the CLI in-process, DuckDB files, Parquet written by the model.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import lipsteeth
from lipsteeth import services
from lipsteeth.adapters import catalog as cat
from lipsteeth.core.outcomes import OUTCOMES
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.sweep import horizon_metrics
from lipsteeth.scenario import load_scenario_text

from .support import run_cli
from .web_live import TINY_PARAMS

SEED = 11
#: TINY_PARAMS as a scenario file sets them (a declared range moves with its value)
TINY_RANGES = {
    "population.restaurants_initial": [6, 10],
    "population.labour_workers_initial": [300, 500],
    "wider_flow.hidden_initial": [1500.0, 2500.0],
    "wider_flow.crossing_rate_per_year": [400.0, 600.0],
}
TINY_TOML = "".join(
    f"[parameters.{key}]\nvalue = {value}\n"
    + (f"range = {TINY_RANGES[key]}\n" if key in TINY_RANGES else "")
    for key, value in TINY_PARAMS.items()
)
#: a scenario file for `lipsteeth run`: the tiny population, China's sanctions at 0.4
RUN_TOML = f"""[scenario]
extends = "baseline-2016"
name = "tiny-sanctions"

[levers.china_sanctions]
value = 0.4

{TINY_TOML}"""

SWEEP = [
    "sweep",
    "baseline-2016",
    "--design",
    "grid",
    "--samples",
    "2",
    "--factors",
    "china_exit_strictness",
    "--years",
    "0.25",
    *[arg for key, value in TINY_PARAMS.items() for arg in ("--set", f"{key}={value}")],
    "--replicates",
    "2",
    "--seed",
    "7",
    "--name",
    "exit-grid",
]

MORRIS = [
    "sensitivity",
    "baseline-2016",
    "--method",
    "morris",
    "--samples",
    "4",
    "--factors",
    "enforcement.arrest_rate_per_year,defection.contagion",
    "--outcome",
    "arrests_china",
    "--years",
    "0.1",
    *[arg for key, value in TINY_PARAMS.items() for arg in ("--set", f"{key}={value}")],
    "--seed",
    "5",
    "--name",
    "morris4",
]

JOIN = (
    "SELECT experiment, run, f.china_exit_strictness AS exit, f.china_sanctions AS sanctions, "
    "avg(o.arrivals_south_korea) AS arrivals, avg(o.workers_abroad) AS workers "
    "FROM factors f JOIN outcomes_wide o USING (experiment, run) "
    "WHERE experiment <> 'morris4' GROUP BY ALL ORDER BY experiment, run"
)


def record(folder: Path, sanctions: float) -> np.ndarray:
    """A run folder written by the services layer; its whole-horizon values (R, V)."""
    scenario = load_scenario_text(
        f'[scenario]\nextends = "baseline-2016"\nname = "{folder.name}"\n', source=folder.name
    ).with_overrides(params=TINY_PARAMS, levers={"china_sanctions": sanctions}, years=0.25)
    result = run_scenario(scenario, replicates=3, seed=SEED)
    services.record_run(
        folder,
        run_id=folder.name,
        scenario=scenario,
        result=result,
        seed=SEED,
        wall_time_s=1.0,
        force=True,
    )
    return horizon_metrics(result)


def query_json(root: Path, sql: str, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert run_cli(["query", str(root), sql, "--format", "json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def catalog_rows(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / cat.CATALOG_FILE), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A results root (its path holds both quote characters): a 2-level grid sweep over
    China's exit strictness, a run folder from `lipsteeth run` (sanctions 0.4) and two
    written by the services layer (sanctions 0.1 and 0.5)."""
    root = tmp_path_factory.mktemp("catalog") / 'it\'s "results"'
    assert run_cli([*SWEEP, "--out", str(root)]) == 0
    scenario_file = root.parent / "tiny-sanctions.toml"
    scenario_file.write_text(RUN_TOML)
    run_args = ["run", str(scenario_file), "--years", "0.25", "--replicates", "2"]
    assert run_cli([*run_args, "--no-facts", "--seed", "3", "--out", str(root / "cli-run")]) == 0
    expected = {
        "low": record(root / "sanctions-low", 0.1),
        "high": record(root / "sanctions-high", 0.5),
    }
    assert run_cli([*MORRIS, "--out", str(root)]) == 0
    arrests = cat.ExperimentStore.open(root, "morris4").metric("arrests_china")
    threshold = float(arrests.median())
    discover = ["discover", str(root), "--experiment", "morris4", "--outcome", "arrests_china"]
    assert run_cli([*discover, "--threshold", f"{threshold:.17g}"]) == 0
    return {"root": root, "expected": expected}


def copy_of(tree: dict[str, object], tmp_path: Path) -> Path:
    copy = tmp_path / 'it\'s "copy"'
    shutil.copytree(tree["root"], copy)  # type: ignore[arg-type]
    return copy


def test_run_registers_its_folder_in_the_roots_catalog(tree: dict[str, object]) -> None:
    root: Path = tree["root"]  # type: ignore[assignment]
    rows = catalog_rows(root, "SELECT experiment, kind, n_runs, path FROM experiments")
    assert ("cli-run", "run", 1, str(root / "cli-run")) in rows
    assert ("exit-grid", "sweep", 2, str(root / "experiments" / "exit-grid")) in rows
    # record_run wrote two folders the catalog has not seen: no query yet, so not in it
    assert {r[0] for r in rows} == {"cli-run", "exit-grid", "morris4"}


def test_factors_join_outcomes_in_one_query(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of(tree, tmp_path)
    rows = query_json(root, JOIN, capsys)
    by_name = {(r["experiment"], r["run"]): r for r in rows}
    assert set(by_name) == {
        ("cli-run", 0),
        ("exit-grid", 0),
        ("exit-grid", 1),
        ("sanctions-high", 0),
        ("sanctions-low", 0),
    }
    # the sweep: its grid levels beside the means of its runs' Parquet files
    plan = pq.read_table(root / "experiments" / "exit-grid" / cat.PLAN).to_pandas()
    assert sorted(plan["china_exit_strictness"]) == sorted(
        by_name[("exit-grid", run)]["exit"] for run in (0, 1)
    )
    assert len(set(plan["china_exit_strictness"])) == 2
    for run, level in zip(plan["run"], plan["china_exit_strictness"], strict=True):
        row = by_name[("exit-grid", int(run))]
        assert row["exit"] == level and row["sanctions"] is None  # not a factor of the sweep
        part = root / "outcomes" / "experiment=exit-grid" / f"run={run}" / cat.PART
        stored = pq.read_table(part).to_pandas()
        means = stored.groupby(stored["variable"].astype(str))["value"].mean()
        assert row["arrivals"] == pytest.approx(means["arrivals_south_korea"], rel=1e-12)
        assert row["workers"] == pytest.approx(means["workers_abroad"], rel=1e-12)
    # run folders: the levers they ran with, and whole-horizon values as a sweep reduces them
    assert by_name[("cli-run", 0)]["sanctions"] == 0.4
    names = list(OUTCOMES)
    for name, level in (("sanctions-low", 0.1), ("sanctions-high", 0.5)):
        row = by_name[(name, 0)]
        horizon = tree["expected"][name.split("-")[1]]  # type: ignore[index]
        assert row["sanctions"] == level and row["exit"] == 0.95
        arrivals = horizon[:, names.index("arrivals_south_korea")].mean()
        assert row["arrivals"] == pytest.approx(arrivals, rel=1e-12)
        workers = horizon[:, names.index("workers_abroad")].mean()
        assert row["workers"] == pytest.approx(workers, rel=1e-12)
    # the example of the issue: one SQL, factor against outcome
    grouped = query_json(
        root,
        "SELECT f.china_sanctions AS s, avg(o.arrivals_south_korea) AS a FROM factors f "
        "JOIN outcomes_wide o USING (experiment, run) WHERE f.china_sanctions IS NOT NULL "
        "GROUP BY 1 ORDER BY 1",
        capsys,
    )
    assert [g["s"] for g in grouped] == [0.1, 0.4, 0.5]


def test_every_replicate_and_year_of_a_run_folder(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of(tree, tmp_path)
    horizon = tree["expected"]["low"]  # type: ignore[index]
    rows = query_json(
        root,
        "SELECT replicate, arrivals_south_korea AS a, restaurants_open AS r FROM outcomes_wide "
        "WHERE experiment = 'sanctions-low' ORDER BY replicate",
        capsys,
    )
    names = list(OUTCOMES)
    assert [r["replicate"] for r in rows] == [0, 1, 2]
    for r in rows:  # a flow summed, a stock at the last month
        assert r["a"] == pytest.approx(horizon[r["replicate"], names.index("arrivals_south_korea")])
        assert r["r"] == pytest.approx(horizon[r["replicate"], names.index("restaurants_open")])
    yearly = query_json(
        root,
        "SELECT replicate, year, arrivals_south_korea AS a FROM outcomes_yearly_wide "
        "WHERE experiment = 'sanctions-low' ORDER BY replicate, year",
        capsys,
    )
    stored = pq.read_table(root / "sanctions-low" / "outcomes_yearly.parquet").to_pandas()
    stored = stored[stored["variable"].astype(str) == "arrivals_south_korea"]
    assert [(r["replicate"], r["year"], r["a"]) for r in yearly] == [
        (int(x.replicate), int(x.year), float(x.value))
        for x in stored.sort_values(["replicate", "year"]).itertuples()
    ]


def test_a_run_folders_events_are_in_the_catalog(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of(tree, tmp_path)
    stored = pq.read_table(root / "sanctions-low" / "events.parquet").to_pandas()
    assert len(stored) > 0
    rows = query_json(
        root,
        'SELECT kind, count(*) AS n, min("date") AS first FROM events '
        "WHERE experiment = 'sanctions-low' GROUP BY kind ORDER BY kind",
        capsys,
    )
    counts = stored.groupby(stored["kind"].astype(str)).size()
    assert {r["kind"]: r["n"] for r in rows} == counts.to_dict()
    firsts = stored.groupby(stored["kind"].astype(str))["date"].min()
    assert [r["first"][:10] for r in rows] == [str(firsts[r["kind"]]) for r in rows]
    shutil.rmtree(root / "sanctions-low")  # a removed folder takes its events with it
    gone = query_json(
        root, "SELECT count(*) AS n FROM events WHERE experiment = 'sanctions-low'", capsys
    )
    assert gone == [{"n": 0}]


def test_a_drawn_parameter_is_no_factor_of_a_run(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lipsteeth run` draws parameters from the shipped posterior per replicate: those are
    left out; the fixed ones (the tiny population) and every lever are factors."""
    root = copy_of(tree, tmp_path)
    manifest = json.loads((root / "cli-run" / "manifest.json").read_text())
    drawn = manifest["uncertainty"]["from_posterior"]
    assert "defection.contagion" in drawn
    rows = query_json(
        root, "SELECT name, kind, value FROM parameters WHERE experiment = 'cli-run'", capsys
    )
    names = {r["name"]: r for r in rows}
    assert not set(drawn) & set(names)
    assert not set(manifest["uncertainty"]["from_ranges"]) & set(names)
    assert names["population.restaurant_sites_max"]["value"] == 12
    assert names["population.restaurant_sites_max"]["kind"] == "parameter"
    assert names["china_sanctions"] == {"name": "china_sanctions", "kind": "lever", "value": 0.4}


def test_query_registers_new_folders_and_drops_gone_ones(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of(tree, tmp_path)
    sql = "SELECT experiment, f.china_sanctions AS s FROM factors f ORDER BY experiment, run"
    before = {r["experiment"]: r["s"] for r in query_json(root, sql, capsys)}
    assert before["sanctions-low"] == 0.1
    shutil.rmtree(root / "sanctions-high")
    record(root / "sanctions-low", 0.3)  # the same folder written again
    # a run folder being written (hidden until its atomic move) is not registered
    shutil.copytree(root / "cli-run", root / ".cli-run-2.partial-x")
    after = {r["experiment"]: r["s"] for r in query_json(root, sql, capsys)}
    assert "sanctions-high" not in after and after["sanctions-low"] == 0.3
    assert set(after) == set(before) - {"sanctions-high"}
    counts = catalog_rows(root, "SELECT count(*) FROM outcomes WHERE experiment = 'sanctions-high'")
    assert counts == [(0,)]
    # a rebuild from the files holds the same rows
    assert run_cli(["query", str(root), "--refresh", sql, "--format", "json"]) == 0
    assert {r["experiment"]: r["s"] for r in json.loads(capsys.readouterr().out)} == after


def test_a_root_of_run_folders_only_and_the_default_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first `lipsteeth run` writes its folder alone into ./results (no catalog beside
    it); `lipsteeth query "SQL"` reads ./results and builds the catalog from the folder."""
    (tmp_path / "tiny.toml").write_text(RUN_TOML)
    monkeypatch.chdir(tmp_path)
    args = ["run", "tiny.toml", "--years", "0.25", "--replicates", "2", "--no-facts"]
    assert run_cli(args) == 0
    root = tmp_path / "results"
    (folder,) = root.iterdir()
    assert cat.is_run_folder(folder)
    capsys.readouterr()
    sql = "SELECT f.china_sanctions AS s, count(*) AS n FROM factors f JOIN outcomes_wide o "
    sql += "USING (experiment, run) GROUP BY 1"
    assert run_cli(["query", sql, "--format", "json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out) == [{"s": 0.4, "n": 2}]
    assert (root / cat.CATALOG_FILE).is_file()
    assert run_cli(["query", str(root)]) == 2  # a folder and no SQL: one line
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: give the SQL") and "\n" not in err


def test_a_colliding_name_is_skipped_with_a_warning(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of(tree, tmp_path)
    shutil.copytree(root / "sanctions-low", root / "exit-grid")  # a sweep's name
    rows = query_json(root, "SELECT kind FROM experiments WHERE experiment = 'exit-grid'", capsys)
    assert rows == [{"kind": "sweep"}]
    assert run_cli(["query", str(root), "SELECT 1"]) == 0
    assert "warning: not in the catalog:" in capsys.readouterr().err


def test_a_broken_run_folder_keeps_no_other_out(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder whose table is no Parquet is left out with a warning naming it; the
    folders beside it are registered, by a query and by a rebuild alike."""
    root = copy_of(tree, tmp_path)
    shutil.copytree(root / "sanctions-low", root / "broken")
    shutil.copytree(root / "sanctions-low", root / "fine")
    (root / "broken" / "outcomes_yearly.parquet").write_bytes(b"not parquet")
    capsys.readouterr()
    sql = "SELECT experiment FROM experiments WHERE kind = 'run' ORDER BY 1"
    for refresh in ([], ["--refresh"]):
        assert run_cli(["query", str(root), *refresh, sql, "--format", "json"]) == 0
        captured = capsys.readouterr()
        names = [r["experiment"] for r in json.loads(captured.out)]
        assert "fine" in names and "broken" not in names
        if not refresh:
            assert "broken" in captured.err and "outcomes_yearly.parquet" in captured.err


def test_sensitivity_indices_and_prim_boxes_are_catalog_tables(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sensitivity` and `discover` put their results in the catalog as they write them
    (no --refresh), with the numbers of their reports, and a rebuild keeps them."""
    root: Path = tree["root"]  # type: ignore[assignment]
    folder = root / "experiments" / "morris4"
    report = json.loads((folder / "sensitivity_morris.json").read_text())
    expected = sorted(
        (row["factor"], index, value)
        for row in report["outcomes"]["arrests_china"]["indices"]
        for index, value in row.items()
        if index != "factor"
    )
    sql = (
        "SELECT factor, index_name, value FROM sensitivity_indices WHERE experiment = "
        "'morris4' AND method = 'morris' AND outcome = 'arrests_china' ORDER BY ALL"
    )
    assert catalog_rows(root, sql) == expected
    assert {"mu_star", "sigma"} <= {index for _, index, _ in expected}
    (found,) = folder.glob("prim_arrests_china_gt_*.json")
    boxes = json.loads(found.read_text())
    assert boxes["boxes"], "PRIM found no box"
    expected_boxes = sorted(
        (number, factor, low, high, box["density"])
        for number, box in enumerate(boxes["boxes"])
        for factor, (low, high) in box["limits"].items()
    )
    sql = (
        "SELECT box, factor, low, high, density FROM prim_boxes WHERE experiment = 'morris4' "
        "AND outcome = 'arrests_china' AND direction = 'above' ORDER BY ALL"
    )
    assert catalog_rows(root, sql) == expected_boxes
    copy = copy_of(tree, tmp_path)
    assert run_cli(["query", str(copy), "--refresh", "SELECT 1"]) == 0
    assert catalog_rows(copy, sql) == expected_boxes


def test_experiment_metric_from_the_catalog_and_from_parquet(tree: dict[str, object]) -> None:
    """The relational reads of a sweep's metric agree, through the catalog and without it."""
    root: Path = tree["root"]  # type: ignore[assignment]
    store = cat.ExperimentStore.open(root, "exit-grid")
    frame = pd.concat(
        pq.read_table(root / "outcomes" / "experiment=exit-grid" / f"run={run}" / cat.PART)
        .to_pandas()
        .assign(run=run)
        for run in (0, 1)
    )
    frame = frame[frame["variable"].astype(str) == "arrivals_south_korea"]
    expected = frame.groupby("run")["value"].mean()
    from_catalog = store.metric("arrivals_south_korea")
    np.testing.assert_allclose(from_catalog.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert "arrivals_south_korea" in store.metric_names()
    alone = cat.ExperimentStore(root, "exit-grid")
    # no catalog: the same numbers from the Parquet files, through a path with quotes
    moved = root / cat.CATALOG_FILE
    hidden = root.parent / "catalog.hidden"
    shutil.copy(moved, hidden)
    moved.unlink()
    try:
        np.testing.assert_allclose(
            alone.metric("arrivals_south_korea").to_numpy(), expected.to_numpy(), rtol=1e-12
        )
        yearly = alone.metric("arrivals_south_korea@2012").to_numpy()
        assert yearly.shape == (2,) and np.all(np.isfinite(yearly))
    finally:
        shutil.copy(hidden, moved)


def test_a_run_folder_with_quotes_in_its_path_is_queried(
    tree: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    folder: Path = tree["root"] / "sanctions-high"  # type: ignore[operator]
    rows = query_json(folder, "SELECT count(DISTINCT replicate) AS n FROM outcomes", capsys)
    assert rows == [{"n": 3}]


SQL_CALLS = ("execute", "sql", "query")


@pytest.mark.parametrize("module", ["catalog.py", "catalog_tables.py", "sql_readonly.py"])
def test_no_sql_text_is_built_from_values(module: str) -> None:
    """No execute/sql call takes an f-string, a concatenation or a read_parquet text:
    paths and values reach DuckDB as relations and bound parameters (issue 16)."""
    path = Path(lipsteeth.__file__).parent / "adapters" / module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offenders = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in SQL_CALLS or not node.args:
            continue
        first = node.args[0]
        built = isinstance(first, (ast.JoinedStr, ast.BinOp)) or (
            isinstance(first, ast.Call) and getattr(first.func, "attr", "") == "format"
        )
        text = first.value if isinstance(first, ast.Constant) else ""
        if built or "read_parquet" in str(text):
            offenders.append(f"{module}:{node.lineno}")
    assert offenders == []


def test_a_read_only_root_is_queried_as_it_is(
    tree: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A results root on a read-only file system (a shared archive, issue 16): a run folder
    written since the last query cannot be registered, so the query reads the catalog as
    it is, with one warning line, and exits 0."""
    root = copy_of(tree, tmp_path)
    sql = "SELECT DISTINCT experiment FROM factors ORDER BY experiment"
    before = [r["experiment"] for r in query_json(root, sql, capsys)]
    record(root / "sanctions-later", 0.2)  # not registered: no query since
    mount = tmp_path / "read-only"
    mount.mkdir()
    bind = ["mount", "--bind", "-o", "ro", str(root), str(mount)]
    if subprocess.run(bind, capture_output=True).returncode != 0:
        pytest.skip("a read-only bind mount needs root (mount --bind -o ro)")
    try:
        with pytest.raises(OSError):
            (mount / "probe").write_text("")
        capsys.readouterr()
        assert run_cli(["query", str(mount), sql, "--format", "json"]) == 0
        captured = capsys.readouterr()
        assert [r["experiment"] for r in json.loads(captured.out)] == before
        assert "sanctions-later" not in before
        warnings = captured.err.strip().splitlines()
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith("warning: run folders written since are not in the catalog")
    finally:
        subprocess.run(["umount", str(mount)], check=True)
