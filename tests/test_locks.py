"""One writer per results folder, and no stale staging folders (issue 17, items 10-11).

Two ``run --out SAME --force`` at once both exited 0 and one result silently replaced
the other; two ``sweep --resume`` on one folder ran the same work twice.  The second
writer is refused with one line while the first holds the advisory lock.  The hidden
``.partial-*`` folders of killed runs are removed by the next run into that parent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lipsteeth.adapters import store

from .support import run_cli

RUN = ["run", "baseline-2016", "--replicates", "2", "--years", "0.05"]
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
    "--name",
    "locked",
]


def holder(path: Path, lock: Path | None = None) -> subprocess.Popen[bytes]:
    """Another process holding ``path``'s lock until its stdin closes."""
    lock_arg = "None" if lock is None else f"Path({str(lock)!r})"
    code = (
        "import sys; from pathlib import Path; from lipsteeth.adapters import store\n"
        f"with store.target_lock(Path({str(path)!r}), {lock_arg}):\n"
        "    print('held', flush=True); sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
    return proc


def release(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def test_second_run_into_a_locked_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out"
    proc = holder(target)
    try:
        assert run_cli([*RUN, "--out", str(target), "--force"]) == 2
        # the last line is the refusal (a warning about events outside the horizon may
        # come first)
        errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error: ")]
        assert len(errors) == 1 and "another lipsteeth process" in errors[0]
        assert not target.exists()
    finally:
        release(proc)
    assert run_cli([*RUN, "--out", str(target), "--force"]) == 0  # free again


def test_second_sweep_resume_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = holder(tmp_path / "experiments" / "locked", tmp_path / ".experiment-locked.lock")
    try:
        assert run_cli([*SWEEP, "--out", str(tmp_path), "--resume"]) == 2
        assert "another lipsteeth process" in capsys.readouterr().err
        assert not (tmp_path / "experiments" / "locked").exists()
    finally:
        release(proc)


def test_stale_partial_folders_are_cleaned(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".r.partial-{dead.pid}-abc"
    stale.mkdir()
    (stale / "outcomes.parquet").write_bytes(b"half")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = tmp_path / f".r.partial-{alive.pid}-def"
        busy.mkdir()
        assert run_cli([*RUN, "--out", str(tmp_path / "out")]) == 0
        assert not stale.exists(), "a dead writer's staging folder was left"
        assert busy.exists(), "a live writer's staging folder was removed"
    finally:
        alive.kill()
        alive.wait()
    assert store.clean_stale_staging(tmp_path) == [busy]
