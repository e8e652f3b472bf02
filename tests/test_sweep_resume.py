"""Checkpointed sweeps: kill -9 mid-sweep, resume, and end with exactly the planned runs.

The sweep runs in a real subprocess (the ``lipsteeth`` entry point) on two
local worker processes; it is killed with SIGKILL once a few runs have been
checkpointed, then resumed.  The resumed experiment must hold exactly the
planned runs, once each, with the same numbers as an uninterrupted sweep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lipsteeth.adapters import catalog as cat
from lipsteeth.adapters.cli import main

SWEEP = [
    "sweep",
    "baseline-2016",
    "--design",
    "lhs",
    "--samples",
    "24",
    "--years",
    "0.25",
    "--set",
    "population.labour_workers_initial=3000",
    "--set",
    "population.labour_sites_max=40",
    "--factors",
    "defection.restaurant_hazard_per_year,defection.contagion,china_exit_strictness",
    "--replicates",
    "2",
    "--seed",
    "7",
]
PLANNED = 24


def run_cli(args: list[str]) -> int:
    """The CLI in this process; returns its exit code."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def done_markers(root: Path) -> int:
    return sum(1 for _ in (root / "runs").glob("experiment=*/run=*/part-0.parquet"))


def tables(root: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(root / cat.CATALOG_FILE), read_only=True)
    try:
        return {
            "outcomes": con.execute(
                "SELECT run, replicate, variable, value FROM outcomes "
                "ORDER BY run, replicate, variable"
            ).df(),
            "yearly": con.execute(
                "SELECT run, replicate, year, variable, value FROM outcomes_yearly "
                "ORDER BY run, replicate, year, variable"
            ).df(),
            "parameters": con.execute(
                "SELECT run, name, kind, value FROM parameters ORDER BY run, name"
            ).df(),
            "runs": con.execute("SELECT run, point, seed, replicates FROM runs ORDER BY run").df(),
        }
    finally:
        con.close()


def test_kill_9_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    clean = tmp_path / "clean"
    args = [*SWEEP, "--executor", "processes", "--workers", "2"]
    cmd = [sys.executable, "-c", "from lipsteeth.adapters.cli import main; main()"]
    proc = subprocess.Popen(
        [*cmd, *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "100"},
    )
    deadline = time.monotonic() + 120
    try:
        while done_markers(killed) < 4:
            if proc.poll() is not None:
                pytest.fail(f"sweep ended before it could be killed: {proc.stderr.read()!r}")
            if time.monotonic() > deadline:
                pytest.fail("sweep checkpointed no runs in 120 s")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    (exp_dir,) = (killed / "experiments").iterdir()
    manifest = json.loads((exp_dir / "manifest.json").read_text())
    assert manifest["status"] == "running"
    interrupted_done = done_markers(killed)
    assert 4 <= interrupted_done < PLANNED

    # Without --resume an incomplete experiment is refused (exit 2), nothing changes.
    assert run_cli([*args, "--out", str(killed)]) == 2
    assert done_markers(killed) == interrupted_done

    assert run_cli([*args, "--out", str(killed), "--resume"]) == 0
    assert run_cli([*SWEEP, "--executor", "serial", "--out", str(clean)]) == 0

    manifest = json.loads((exp_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["n_done"] == PLANNED
    assert not list(killed.rglob("*.tmp")), "temporary files left behind"

    a, b = tables(killed), tables(clean)
    assert a["runs"]["run"].tolist() == list(range(PLANNED))  # exactly the plan, once each
    assert a["runs"]["run"].is_unique
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    assert len(a["outcomes"]) == PLANNED * 2 * a["outcomes"]["variable"].nunique()

    # The Parquet datasets read directly (hive partitions experiment=/run=) agree too.
    direct = pd.read_parquet(killed / "outcomes").sort_values(["run", "replicate", "variable"])
    assert sorted(direct["run"].astype(int).unique()) == list(range(PLANNED))
    assert len(direct) == len(a["outcomes"])

    # Resuming a complete experiment reuses it and changes nothing.
    assert run_cli([*args, "--out", str(killed), "--resume"]) == 0
    pd.testing.assert_frame_equal(tables(killed)["outcomes"], a["outcomes"], check_exact=True)


def test_same_name_different_plan_is_refused(tmp_path: Path) -> None:
    small = [*SWEEP[:5], "4", *SWEEP[6:], "--out", str(tmp_path), "--name", "exp1"]
    assert run_cli(small) == 0
    other = [*small[:-4], "--seed", "8", "--out", str(tmp_path), "--name", "exp1"]
    assert run_cli(other) == 2


def test_query_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = [*SWEEP[:5], "4", *SWEEP[6:], "--out", str(tmp_path)]
    assert run_cli(small) == 0
    capsys.readouterr()
    sql = (
        "SELECT e.kind, count(DISTINCT r.run) AS runs FROM experiments e "
        "JOIN runs r USING (experiment) GROUP BY e.kind"
    )
    assert run_cli(["query", str(tmp_path), sql, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"kind": "sweep", "runs": 4}]
    # Wide view of one outcome joined with the factors, as an analyst would write it.
    sql = (
        "SELECT p.run, p.value AS contagion, o.mean FROM parameters p JOIN run_means o "
        "USING (experiment, run) WHERE p.name = 'defection.contagion' "
        "AND o.variable = 'workers_abroad' ORDER BY p.run"
    )
    assert run_cli(["query", str(tmp_path), sql, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "run,contagion,mean" and len(lines) == 5
    # The catalog is read-only through `query`, and bad SQL is one error line.
    assert run_cli(["query", str(tmp_path), "DROP TABLE runs"]) == 2
    assert run_cli(["query", str(tmp_path), "SELEC 1"]) == 2
    # Rebuilding the catalog from Parquet gives the same tables.
    before = tables(tmp_path)
    assert cat.rebuild(tmp_path) == 1
    after = tables(tmp_path)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], check_exact=True)


def test_query_a_run_results_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`query` also reads the folder of a single `lipsteeth run` (its Parquet files as views)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "manifest.json").write_text("{}")
    table = pa.table({"replicate": [0, 0, 1], "variable": ["a", "b", "a"], "value": [1.0, 2, 3]})
    pq.write_table(table, tmp_path / "outcomes.parquet")
    sql = "SELECT variable, sum(value) AS total FROM outcomes GROUP BY 1 ORDER BY 1"
    assert run_cli(["query", str(tmp_path), sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"variable": "a", "total": 4.0},
        {"variable": "b", "total": 2.0},
    ]
    assert run_cli(["query", str(tmp_path / "nowhere"), "SELECT 1"]) == 2


@pytest.mark.parametrize("command", ["sweep", "sensitivity"])
@pytest.mark.parametrize(
    ("option", "value"),
    [("--executor", "gpu"), ("--space", "everything"), ("--workers", "0"), ("--replicates", "0")],
)
def test_bad_experiment_option_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, option: str, value: str
) -> None:
    """A bad option is one error line naming it, exit 2, and no experiment folder."""
    root = tmp_path / "results"
    code = run_cli([command, "baseline-2016", "--samples", "4", "--out", str(root), option, value])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0]
    assert not root.exists() or not any(root.rglob("*"))
