"""A resumed sweep accepts only its own, intact checkpoints (issue 17, item 9).

A checkpoint replaced by another run's valid Parquet used to be accepted on
``--resume`` (exit 0, wrong numbers in the catalog), and a manifest edited to
``complete`` made a sweep with missing runs reuse its results.  Each run's marker now
records the experiment, run, point, seed and the SHA-256 of its outcome files; a
checkpoint that does not match is rerun, and the resumed experiment equals an
uninterrupted one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
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
    "0.1",
    "--set",
    "population.labour_workers_initial=3000",
    "--set",
    "population.labour_sites_max=40",
    "--factors",
    "defection.restaurant_hazard_per_year,defection.contagion",
    "--replicates",
    "2",
    "--seed",
    "11",
    "--name",
    "exp",
]


def outcomes(root: Path) -> pd.DataFrame:
    con = duckdb.connect(str(root / cat.CATALOG_FILE), read_only=True)
    try:
        return con.execute(
            "SELECT run, replicate, variable, value FROM outcomes ORDER BY run, replicate, variable"
        ).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    assert run_cli([*SWEEP, "--out", str(root)]) == 0
    return root


def mark_running(root: Path) -> None:
    path = root / "experiments" / "exp" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["status"] = "running"
    path.write_text(json.dumps(manifest))


def test_swapped_checkpoint_is_rerun(clean: Path, tmp_path: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(clean, root)
    mark_running(root)
    # run 1's outcomes replaced by run 0's: valid Parquet, wrong numbers
    part = "outcomes/experiment=exp/run={}/part-0.parquet"
    shutil.copy(root / part.format(0), root / part.format(1))
    assert run_cli([*SWEEP, "--out", str(root), "--resume"]) == 0
    pd.testing.assert_frame_equal(outcomes(root), outcomes(clean), check_exact=True)


def test_marker_of_another_run_is_rerun(clean: Path, tmp_path: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(clean, root)
    mark_running(root)
    for table in ("outcomes", "outcomes_yearly", "runs"):
        src = root / table / "experiment=exp" / "run=0" / "part-0.parquet"
        shutil.copy(src, root / table / "experiment=exp" / "run=2" / "part-0.parquet")
    assert run_cli([*SWEEP, "--out", str(root), "--resume"]) == 0
    pd.testing.assert_frame_equal(outcomes(root), outcomes(clean), check_exact=True)


def test_status_edited_to_complete_does_not_reuse_missing_runs(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "r"
    shutil.copytree(clean, root)
    for table in ("outcomes", "outcomes_yearly", "runs"):
        shutil.rmtree(root / table / "experiment=exp" / "run=3")
    # the manifest still says complete: without --resume it is refused, not reused
    assert run_cli([*SWEEP, "--out", str(root)]) == 2
    assert "incomplete (3 of 4 runs done)" in capsys.readouterr().err
    assert run_cli([*SWEEP, "--out", str(root), "--resume"]) == 0
    pd.testing.assert_frame_equal(outcomes(root), outcomes(clean), check_exact=True)
