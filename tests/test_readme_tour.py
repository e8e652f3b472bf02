"""The README's command-line tour runs without a traceback (issue 16, "must show").

After a ``make run``-like setup (this venv holds the ``experiments`` and ``web`` extras
``make run`` installs, and its ``bin/`` comes first on ``PATH``, as ``. .venv/bin/activate``
does), every code block of README.md that holds commands is run in order in one fresh
folder, as a shell script: ``lipsteeth ...`` lines, ``python`` lines and ``python``
blocks.  The README's own files come from the README: ``my.toml`` is its scenario
example, ``lax-exit.toml`` the file its levers section describes, ``my_events.csv`` the
shipped event timeline of ``history``.

Only what the README itself allows is shortened: ``lipsteeth run`` gets ``--years 1``
and at most 4 replicates unless the line sets its own (``--years``, ``--replicates``).
A synopsis line (placeholders such as ``SCENARIO`` or ``FILE.csv``, or ``serve``, which
does not return) runs as ``lipsteeth COMMAND --help``; bracketed options of a synopsis
are left out and ``results/RUN``, ``results/A``, ``results/B`` name a folder the tour made.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
PLACEHOLDER = re.compile(r"(?<![\w./-])[A-Z][A-Z_]+(?:\.\w+)?(?![\w-])")
FOLDERS = {
    "results/RUN": "results/quick",
    "results/A": "results/quick",
    "results/B": "results/quick",
}
MAX_TOUR_REPLICATES = 4


def command_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every code block that holds commands (not output, not TOML)."""
    out = []
    for lang, body in BLOCK.findall(text):
        first = next((line for line in body.splitlines() if line.strip()), "")
        if lang == "python" or (lang == "" and first.startswith(("lipsteeth ", "python "))):
            out.append((lang, body))
    return out


def tour_line(line: str) -> str:
    """A README command line as the tour runs it (see the module docstring)."""
    if not line.startswith("lipsteeth"):
        return line
    command, _, _comment = line.partition("  #")
    command = re.sub(r"\s*\[[^\]]*\]", "", command).rstrip()
    for placeholder, folder in FOLDERS.items():
        command = command.replace(placeholder, folder)
    words = command.split()
    sub = words[1] if len(words) > 1 else ""
    if sub == "serve" or PLACEHOLDER.search(command.split("|")[0]):
        return f"lipsteeth {sub} --help"
    if sub == "run":
        head, pipe, tail = command.partition("|")
        head, redirect, target = head.partition(">")
        head = re.sub(
            r"--replicates (\d+)",
            lambda m: f"--replicates {min(int(m.group(1)), MAX_TOUR_REPLICATES)}",
            head,
        ).rstrip()
        if "--replicates" not in head:
            head += " --replicates 2"
        if "--years" not in head:
            head += " --years 1"
        command = head + (f" >{target}" if redirect else "") + (f" |{tail}" if pipe else "")
    return command


def test_tour_lines_are_shortened_only_where_the_readme_allows() -> None:
    assert tour_line("lipsteeth run my.toml --replicates 200 --seed 7") == (
        "lipsteeth run my.toml --replicates 4 --seed 7 --years 1"
    )
    assert tour_line("lipsteeth run --years 3 --replicates 4 --out results/quick") == (
        "lipsteeth run --years 3 --replicates 4 --out results/quick"
    )
    assert tour_line("lipsteeth run --json > summary.json   # one object") == (
        "lipsteeth run --json --replicates 2 --years 1 > summary.json"
    )
    assert tour_line("lipsteeth report results/RUN [--format pdf]  # offline") == (
        "lipsteeth report results/quick"
    )
    assert tour_line("lipsteeth validate SCENARIO --observed FILE.csv [--json]") == (
        "lipsteeth validate --help"
    )
    assert tour_line("lipsteeth serve [--host 127.0.0.1]") == "lipsteeth serve --help"
    assert tour_line("lipsteeth scenarios show baseline-2016   # resolved") == (
        "lipsteeth scenarios show baseline-2016"
    )


def _readme_toml(text: str) -> str:
    (body,) = [body for lang, body in BLOCK.findall(text) if lang == "toml"][:1]
    return body


@pytest.mark.slow  # 204 s on the shared 2-core machine (about 20 commands, each a process)
def test_readme_tour_runs_without_a_traceback(tmp_path: Path) -> None:
    text = README.read_text()
    blocks = command_blocks(text)
    assert len(blocks) >= 5, "the README's tour has gone missing"
    # the files the README tells the reader to write
    (tmp_path / "my.toml").write_text(_readme_toml(text))
    (tmp_path / "lax-exit.toml").write_text(
        '[scenario]\nextends = "baseline-2016"\nname = "lax-exit"\n\n'
        "[levers.china_exit_strictness]\nvalue = 0.3\n"
    )
    events = resources.files("lipsteeth").joinpath("scenarios", "history_events.csv")
    (tmp_path / "my_events.csv").write_bytes(events.read_bytes())
    bin_dir = Path(sys.executable).parent
    assert shutil.which("lipsteeth", path=str(bin_dir)), "lipsteeth is not installed in the venv"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }
    ran = []
    for index, (lang, body) in enumerate(blocks):
        if lang == "python":
            script = tmp_path / f"block_{index}.py"
            script.write_text(body)
            shell = f"python {script.name}"
        else:
            shell = "\n".join(tour_line(line) for line in body.splitlines())
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", shell],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert "Traceback" not in done.stderr + done.stdout, (shell, done.stderr[-3000:])
        assert done.returncode == 0, (shell, done.stderr[-3000:])
        ran.append(shell)
    tour = "\n".join(ran)
    for command in (
        "lipsteeth run",
        "lipsteeth scenarios",
        "lipsteeth compare",
        "lipsteeth report",
    ):
        assert command in tour
    assert (tmp_path / "results" / "quick" / "manifest.json").is_file()
    assert (tmp_path / "summary.json").stat().st_size > 0
