"""Folders a hostile or unlucky user hands the commands (issue 17, item 7 leftovers).

``serve --state-dir`` naming a regular file ended in a NotADirectoryError traceback; a
corrupted ``manifest.json`` or ``plan.parquet`` in a sweep folder in a JSONDecodeError,
AttributeError or ArrowInvalid traceback (a garbage plan only after the sweep had
printed its results as if complete); a run folder's manifest holding JSON that is not
an object was read as empty.  Each is now one ``error:`` line naming the file or the
option, exit 2, and no file of the folder changes.  Two fresh sweeps into one root are
in ``test_two_fresh_sweeps_into_one_root`` (it did not fail on the previous main: the
experiment locks of item 10 already refuse the second of the same experiment, and two
experiments of different names both complete; it guards that), and a sweep finishing
while another writer holds the catalog past its retries says to ``--resume``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import run_cli

SWEEP = [
    "sweep",
    "baseline-2016",
    "--design",
    "lhs",
    "--samples",
    "2",
    "--years",
    "0.05",
    "--factors",
    "defection.contagion",
]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path) and the SHA-256 of its bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one ``error:`` line of a command that must exit 2."""
    capsys.readouterr()
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


# --- serve --state-dir -------------------------------------------------------------------


@pytest.mark.parametrize("under", [False, True], ids=["a-file", "under-a-file"])
def test_serve_state_dir_on_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], under: bool
) -> None:
    regular = tmp_path / "passwd"
    regular.write_text("root:x:0:0\n")
    state = regular / "state" if under else regular
    err = refused(["serve", "--state-dir", str(state), "--port", "8767"], capsys)
    assert "--state-dir" in err and "not a directory" in err and str(regular) in err
    assert "root:x" not in err
    assert regular.read_text() == "root:x:0:0\n"


# --- corrupted sweep folders --------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete two-run sweep (its root), copied by each test before it is damaged."""
    root = tmp_path_factory.mktemp("sweep") / "results"
    assert run_cli([*SWEEP, "--out", str(root)]) == 0
    return root


def _experiment(root: Path) -> Path:
    (folder,) = (root / "experiments").iterdir()
    return folder


CORRUPTIONS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "manifest-garbage": ("manifest.json", lambda p: p.write_bytes(b"garbage{\x00\xff")),
    "manifest-truncated": ("manifest.json", lambda p: p.write_bytes(p.read_bytes()[:100])),
    "manifest-empty": ("manifest.json", lambda p: p.write_bytes(b"")),
    "manifest-a-list": ("manifest.json", lambda p: p.write_text("[1, 2]")),
    "plan-garbage": ("plan.parquet", lambda p: p.write_bytes(b"garbage" * 50)),
    "plan-truncated": ("plan.parquet", lambda p: p.write_bytes(p.read_bytes()[:200])),
}


@pytest.mark.parametrize("resume", [False, True], ids=["again", "resume"])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupted_sweep_file_is_named_and_nothing_changes(
    finished_sweep: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    corruption: str,
    resume: bool,
) -> None:
    root = tmp_path / "results"
    shutil.copytree(finished_sweep, root)
    name, damage = CORRUPTIONS[corruption]
    damaged = _experiment(root) / name
    damage(damaged)
    before = tree_digest(root)
    err = refused([*SWEEP, "--out", str(root), *(["--resume"] if resume else [])], capsys)
    assert str(damaged) in err and "corrupted" in err, err
    assert "garbage" not in err  # the file is named, its content not shown
    assert tree_digest(root) == before


# --- corrupted run folders ---------------------------------------------------------------


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run") / "run"
    args = ["run", "baseline-2016", "--replicates", "2", "--years", "0.1", "--no-facts"]
    assert run_cli([*args, "--out", str(folder)]) == 0
    return folder


@pytest.mark.parametrize(
    "content", [b"garbage{", b'{"scenario": "base', b"[1, 2]"], ids=["garbage", "cut", "list"]
)
@pytest.mark.parametrize("command", ["report", "compare"])
def test_corrupted_run_manifest_is_named(
    run_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    command: str,
) -> None:
    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    (folder / "manifest.json").write_bytes(content)
    before = tree_digest(folder)
    args = {
        "report": ["report", str(folder), "--out", str(tmp_path / "report")],
        "compare": ["compare", str(folder), str(run_folder), "--out", str(tmp_path / "c.html")],
    }[command]
    err = refused(args, capsys)
    assert str(folder / "manifest.json") in err
    assert tree_digest(folder) == before
    assert not (tmp_path / "report").exists() and not (tmp_path / "c.html").exists()


# --- two fresh sweeps into one root --------------------------------------------------------


def test_two_fresh_sweeps_into_one_root(tmp_path: Path) -> None:
    """Started together: the same experiment twice (one wins, the other is refused in one
    line) and two experiments of different names (both complete, both in the catalog)."""
    root = tmp_path / "results"
    command = [str(Path(sys.executable).with_name("lipsteeth")), *SWEEP, "--out", str(root)]
    pairs = [
        ([*command, "--name", "same"], [*command, "--name", "same"]),
        ([*command, "--name", "first"], [*command, "--name", "second"]),
    ]
    for one, other in pairs:
        procs = [
            subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for args in (one, other)
        ]
        outcomes = [(proc.wait(timeout=300), proc.stderr.read()) for proc in procs]  # type: ignore[union-attr]
        codes = sorted(code for code, _ in outcomes)
        if one == other:
            assert codes == [0, 2], outcomes
            (err,) = [err for code, err in outcomes if code == 2]
            assert err.startswith("error: ") and err.count("\n") == 1, err
            assert "being written by another lipsteeth process" in err
        else:
            assert codes == [0, 0], outcomes
    assert run_cli_rows(root) == [("first", 2), ("same", 2), ("second", 2)]


def run_cli_rows(root: Path) -> list[tuple[str, int]]:
    """(experiment, runs done) of every experiment in the root's catalog."""
    import duckdb

    with duckdb.connect(str(root / "catalog.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT experiment, n_done FROM experiments ORDER BY 1").fetchall()
    return [(str(name), int(done)) for name, done in rows]


@pytest.mark.slow  # 10 s of the catalog's lock retries
def test_sweep_finishing_while_another_writer_holds_the_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The catalog held past the retries (another sweep loading a large experiment): one
    line saying the runs are kept, exit 2; ``--resume`` then loads them."""
    root = tmp_path / "results"
    root.mkdir()
    code = (
        "import sys, duckdb\n"
        f"con = duckdb.connect({str(root / 'catalog.duckdb')!r})\n"
        "print('held', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        capsys.readouterr()
        assert run_cli([*SWEEP, "--out", str(root), "--name", "late"]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines
        assert err.startswith("error: ") and "is locked" in err and "--resume" in err, err
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert run_cli([*SWEEP, "--out", str(root), "--name", "late", "--resume"]) == 0
    assert run_cli_rows(root) == [("late", 2)]
