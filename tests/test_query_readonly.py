"""``lipsteeth query`` is read-only in fact (issue 17, items 1-3).

- ``--refresh`` on a root that holds a calibration keeps its posterior, and a rebuild
  that fails leaves the old catalog as it was (built aside, swapped in atomically);
- on a run folder the query cannot ATTACH and change another experiment's catalog;
- every statement of item 3 (COPY, EXPORT, file readers, INSTALL, several statements,
  PRAGMA, SET, an unbounded scan) is refused with one line and exit 2, on a run folder
  and on a catalog alike, and writes nothing.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lipsteeth.adapters import catalog as cat

from .support import run_cli

SWEEP = [
    "sweep",
    "baseline-2016",
    "--design",
    "lhs",
    "--samples",
    "4",
    "--years",
    "0.25",
    "--set",
    "population.labour_workers_initial=3000",
    "--set",
    "population.labour_sites_max=40",
    "--factors",
    "defection.restaurant_hazard_per_year,defection.contagion",
    "--replicates",
    "2",
    "--seed",
    "7",
    "--name",
    "sweep1",
]


def add_calibration(root: Path, name: str = "cal1") -> pd.DataFrame:
    """A calibration's files and catalog rows, written as ``calibrate`` writes them."""
    rng = np.random.default_rng(3)
    posterior = pd.DataFrame(
        {
            "generation": np.repeat([0, 1], 5),
            "particle": np.tile(np.arange(5), 2),
            "weight": np.full(10, 0.2),
            "distance": rng.random(10),
            "defection.contagion": rng.random(10),
            "china_exit_strictness": rng.random(10),
        }
    )
    store = cat.ExperimentStore(root, name)
    store.path.mkdir(parents=True)
    store.write_analysis("posterior", posterior)
    manifest = {
        "experiment": name,
        "kind": "calibrate",
        "scenario": "baseline-2016",
        "status": cat.STATUS_COMPLETE,
        "priors": [{"name": "defection.contagion"}, {"name": "china_exit_strictness"}],
        "n_runs": 40,
        "replicates": 1,
        "created": "2026-12-01T00:00:00+00:00",
    }
    cat.atomic_text(cat.dumps(manifest), store.path / cat.MANIFEST)
    cat.register_calibration(store, posterior, ["defection.contagion", "china_exit_strictness"])
    return posterior


def counts(root: Path) -> dict[str, int]:
    con = duckdb.connect(str(root / cat.CATALOG_FILE), read_only=True)
    try:
        return {
            t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in ("experiments", "posteriors", "outcomes", "runs", "parameters")
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep") / "results"
    assert run_cli([*SWEEP, "--out", str(root)]) == 0
    add_calibration(root)
    return root


@pytest.fixture
def root(sweep_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(sweep_root, copy)
    return copy


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    table = pa.table({"replicate": [0, 0, 1], "variable": ["a", "b", "a"], "value": [1.0, 2, 3]})
    pq.write_table(table, folder / "outcomes.parquet")
    return folder


# --- item 1: an atomic rebuild that understands every experiment kind -------------------


def test_refresh_keeps_a_calibration(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = counts(root)
    assert before["posteriors"] == 20 and before["experiments"] == 2 and before["outcomes"] > 0
    sql = "SELECT kind, count(*) AS n FROM experiments GROUP BY kind ORDER BY kind"
    capsys.readouterr()
    assert run_cli(["query", str(root), "--refresh", sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"kind": "calibrate", "n": 1},
        {"kind": "sweep", "n": 1},
    ]
    assert counts(root) == before
    assert not list(root.glob(".catalog.duckdb.rebuild-*")), "the aside copy was left behind"


def test_failed_rebuild_leaves_the_catalog(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = counts(root)
    (root / "experiments" / "cal1" / "analysis" / "posterior.parquet").write_bytes(b"garbage")
    capsys.readouterr()
    assert run_cli(["query", str(root), "--refresh", "SELECT 1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: catalog rebuild failed") and "\n" not in err
    assert counts(root) == before
    assert not list(root.glob(".catalog.duckdb.rebuild-*"))


# --- item 2: a run folder's query cannot reach another catalog --------------------------


def test_run_folder_query_cannot_attach_a_catalog(
    root: Path, run_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = counts(root)
    catalog = str(root / cat.CATALOG_FILE)
    for sql in (
        f"ATTACH '{catalog}' AS c; DELETE FROM c.outcomes",
        f"ATTACH '{catalog}' AS c",
        f"SELECT count(*) FROM read_parquet('{root}/outcomes/**/*.parquet')",
    ):
        assert run_cli(["query", str(run_folder), sql]) == 2, sql
    assert counts(root) == before


# --- item 3: one SELECT, sealed -----------------------------------------------------------

HOSTILE = [
    "COPY outcomes TO '{out}/copy.csv'",
    "EXPORT DATABASE '{out}/export'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_json_auto('/etc/hostname')",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT 1; SELECT 2",
    "SELECT 1; COPY (SELECT 1) TO '{out}/copy.csv'",
    "PRAGMA version",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "CREATE TABLE t AS SELECT 1",
    "DELETE FROM outcomes",
    "DROP VIEW outcomes",
    "ATTACH '{out}/new.duckdb' AS n",
    "CALL pragma_version()",
    "SELECT * FROM read_parquet('/work/main/**/*.parquet')",
]


@pytest.mark.parametrize("where", ["run folder", "catalog"])
@pytest.mark.parametrize("template", HOSTILE)
def test_each_hostile_statement_is_refused(
    where: str,
    template: str,
    root: Path,
    run_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = run_folder if where == "run folder" else root
    capsys.readouterr()
    assert run_cli(["query", str(target), template.format(out=out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "root:" not in captured.out  # nothing of /etc/passwd printed
    assert not any(out.iterdir()), "the statement wrote a file"


@pytest.mark.parametrize("where", ["run folder", "catalog"])
def test_unbounded_query_stops_at_the_timeout(
    where: str, root: Path, run_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = run_folder if where == "run folder" else root
    started = time.monotonic()
    sql = "SELECT count(*) FROM range(1000000000000)"
    assert run_cli(["query", str(target), sql, "--timeout", "1"]) == 2
    assert time.monotonic() - started < 20
    assert "--timeout" in capsys.readouterr().err


def test_memory_hungry_query_is_refused(
    run_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT list(range) FROM range(400000000)"
    assert run_cli(["query", str(run_folder), sql]) == 2
    assert "memory limit" in capsys.readouterr().err


def test_row_cap(run_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT * FROM range(100000)"
    assert run_cli(["query", str(run_folder), sql, "--max-rows", "10", "--format", "csv"]) == 2
    assert "--max-rows 10" in capsys.readouterr().err
    assert run_cli(["query", str(run_folder), sql, "--max-rows", "10", "--limit", "5"]) == 0
    assert "more than 10 row(s), first 5 shown" in " ".join(capsys.readouterr().out.split())
    assert run_cli(["query", str(run_folder), "SELECT * FROM range(7)", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["range", *map(str, range(7))]


def test_reading_selects_still_work(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "WITH m AS (SELECT run, mean FROM run_means WHERE variable = 'workers_abroad') "
        "SELECT count(*) AS n FROM m"
    )
    capsys.readouterr()
    assert run_cli(["query", str(root), sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 4}]
