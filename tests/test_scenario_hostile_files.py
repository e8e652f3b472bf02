"""Scenario and event files from a hostile user: one-line ScenarioError, no content echoed.

Issue 17, items 7-8: ``extends`` naming a file with a NUL byte, a symlink loop,
``/dev/zero``, a named pipe; a dotted key 126 KB deep; ``events_file`` pointing at
``/proc/self/environ``.  Each used to escape as another exception, eat memory, hang,
or print the environment.  Each is a ``ScenarioError`` within seconds here (the pipe
case runs in a thread with a deadline, so a regression fails instead of hanging).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from lipsteeth.scenario import ScenarioError, load_scenario

BASELINE = "baseline-2016"


def child(path: Path, extends: str) -> Path:
    path.write_text(f'[scenario]\nname = "child"\nextends = "{extends}"\n', encoding="utf-8")
    return path


def refused(path: Path, seconds: float = 20.0) -> ScenarioError:
    """The ScenarioError of loading ``path``, within ``seconds`` (fails on a hang)."""
    outcome: list[BaseException | None] = [None]

    def load() -> None:
        try:
            load_scenario(path)
        except BaseException as exc:  # noqa: BLE001 - recorded and judged below
            outcome[0] = exc

    worker = threading.Thread(target=load, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"loading hung for {time.monotonic() - started:.0f} s"
    exc = outcome[0]
    assert isinstance(exc, ScenarioError), repr(exc)
    assert "\n" not in str(exc)
    return exc


def test_extends_with_a_nul_byte(tmp_path: Path) -> None:
    assert "NUL byte" in str(refused(child(tmp_path / "c.toml", "a\\u0000.toml")))


def test_extends_a_symlink_loop(tmp_path: Path) -> None:
    os.symlink(tmp_path / "loop2.toml", tmp_path / "loop1.toml")
    os.symlink(tmp_path / "loop1.toml", tmp_path / "loop2.toml")
    assert "loop" in str(refused(child(tmp_path / "c.toml", "loop1.toml")))


def test_extends_dev_zero(tmp_path: Path) -> None:
    assert "not a regular file" in str(refused(child(tmp_path / "c.toml", "/dev/zero")))


def test_extends_a_named_pipe(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.toml")
    assert "not a regular file" in str(refused(child(tmp_path / "c.toml", "pipe.toml")))


def test_scenario_path_is_a_device() -> None:
    assert "not a regular file" in str(refused(Path("/dev/zero")))


def test_oversized_scenario_file(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * 5_000_001)
    assert "larger than" in str(refused(big))


def test_deeply_dotted_key_is_refused_before_parsing(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a" + ".a" * 63_000 + " = 1\n")
    started = time.monotonic()
    exc = refused(deep)
    assert time.monotonic() - started < 5
    assert "line 1" in str(exc) and "a.a.a" not in str(exc)


@pytest.mark.parametrize(
    "line",
    [
        "x = {a" + ".a" * 63_000 + " = 1}",
        "x = [{a" + ".a" * 63_000 + " = 1}]",
        "x = {b = 2, 'q'" + ".q" * 63_000 + " = 1}",
        "x = {b = {c" + ".c" * 12 + " = 1}}",
    ],
    ids=["inline-table", "array-of-inline-tables", "second-key-quoted", "nested-9-parts"],
)
def test_deeply_dotted_key_in_an_inline_table_is_refused(tmp_path: Path, line: str) -> None:
    """The key check read only the key before the line's first '=': an inline table's
    dotted key of 63,000 parts took tomllib 5 s (hours for a 5 MB line)."""
    deep = tmp_path / "deep.toml"
    deep.write_text(f'[scenario]\nname = "x"\n{line}\n')
    started = time.monotonic()
    exc = refused(deep)
    assert time.monotonic() - started < 1
    assert "line 3" in str(exc) and ".a.a" not in str(exc) and ".c.c" not in str(exc)


def test_commas_and_equals_in_strings_still_load(tmp_path: Path) -> None:
    """Only text that is a key counts: a provenance with commas, dots and '=' loads."""
    child = tmp_path / "c.toml"
    child.write_text(
        f'[scenario]\nname = "child"\nextends = "{BASELINE}"\n'
        "[parameters.wider_flow.beta_aid]\nvalue = 1.0\n"
        'provenance = "assumption: see a.b.c.d.e.f.g.h.i.j, where x.y.z.u.v.w.p.q.r = 2, {k = 1}"\n'
    )
    assert load_scenario(child).params.wider_flow.beta_aid == 1.0


def test_deep_table_header_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text('[scenario]\nname = "x"\n[' + ".".join(["p"] * 9) + "]\nx = 1\n")
    assert "more than 8 parts" in str(refused(deep))


def test_events_file_is_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIPSTEETH_SECRET_PROBE", "hunter2-do-not-print")
    scenario = tmp_path / "c.toml"
    scenario.write_text(
        f'[scenario]\nname = "child"\nextends = "{BASELINE}"\nevents_file = "/proc/self/environ"\n',
        encoding="utf-8",
    )
    message = str(refused(scenario))
    assert "hunter2" not in message and "LIPSTEETH_SECRET_PROBE" not in message
    assert "/proc/self/environ" in message


def test_text_file_as_events_names_the_line_not_the_text(tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("password: swordfish, token=abc\nmore\n")
    scenario = tmp_path / "c.toml"
    scenario.write_text(
        f'[scenario]\nname = "child"\nextends = "{BASELINE}"\nevents_file = "notes.csv"\n',
        encoding="utf-8",
    )
    message = str(refused(scenario))
    assert "swordfish" not in message and "line 1" in message
