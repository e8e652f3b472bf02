"""A command whose optional dependency is missing says so in one line and exits 2.

``make run`` installs the ``experiments`` and ``web`` extras, so every command
of the README works after it; a partial install (``pip install -e .``) must
still answer a command that needs an extra with the extra's name and install
command, no traceback, nothing written.  The missing module is simulated in a
fresh interpreter by ``sys.modules[name] = None`` (``import name`` then raises
``ModuleNotFoundError`` as if it were not installed).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from lipsteeth.adapters.cli.inputs import OPTIONAL_MODULES

ROOT = Path(__file__).resolve().parents[1]


def _cli_without(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # as if not installed\n"
        "from lipsteeth.adapters.cli import main\n"
        f"main({args!r})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def _expected(command: str, module: str, extra: str) -> str:
    return (
        f"error: {command} needs the '{extra}' extra ({module} is not installed): "
        f".venv/bin/pip install -e '.[{extra}]'\n"
    )


@pytest.mark.parametrize(
    ("module", "args", "command", "extra"),
    [
        (
            "distributed",
            ["run", "--workers", "2", "--years", "0.5", "--replicates", "2", "--out", "out"],
            "lipsteeth run --workers/--scheduler",
            "experiments",
        ),
        (
            "SALib",
            ["sensitivity", "baseline-2016", "--samples", "4", "--out", "out"],
            "lipsteeth sensitivity",
            "experiments",
        ),
        ("fastapi", ["serve", "--port", "8765"], "lipsteeth serve", "web"),
    ],
)
def test_missing_extra_is_one_line_and_exit_2(
    tmp_path: Path, module: str, args: list[str], command: str, extra: str
) -> None:
    done = _cli_without(module, args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr == _expected(command, module, extra)
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == [], "nothing is written"


def test_a_late_missing_optional_module_is_caught_by_the_entry_point(tmp_path: Path) -> None:
    """A missing optional module no command checked up front is still one line, exit 2;
    a missing module that is not optional is a bug and keeps its traceback."""
    code = (
        "import sys\n"
        "import lipsteeth.adapters.cli as cli\n"
        "@cli.app.command('needs-module')\n"
        "def needs_module(name: str) -> None:\n"
        "    raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "cli.main(['needs-module', sys.argv[1]])\n"
    )
    optional = subprocess.run(
        [sys.executable, "-c", code, "pyabc"], capture_output=True, text=True, cwd=tmp_path
    )
    assert optional.returncode == 2
    assert optional.stderr == _expected("lipsteeth needs-module", "pyabc", "experiments")
    bug = subprocess.run(
        [sys.executable, "-c", code, "lipsteeth_missing_part"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "lipsteeth_missing_part" in bug.stderr


def _requirement_names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings, with the extras they name."""
    names: set[str] = set()
    for requirement in requirements:
        match = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement)
        assert match, requirement
        names.add(match.group(1))
        names.update(part.strip() for part in (match.group(2) or "").split(",") if part.strip())
    return {re.sub(r"[-_.]+", "-", name).lower() for name in names}


def test_each_optional_module_is_in_the_extra_it_names() -> None:
    """The install command a refusal prints installs the missing module."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    providers = packages_distributions()
    for module, extra in OPTIONAL_MODULES.items():
        assert extra in extras, (module, extra)
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])}
        assert dists, f"{module} is not installed in the test environment"
        assert dists & _requirement_names(extras[extra]), (module, extra, dists)


def test_make_run_installs_the_extras_every_command_needs() -> None:
    """``make run`` sets up every command the README shows (issue 16)."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP_RUN):", 1)[1].split("\n\n", 1)[0]
    assert '-e ".[experiments,web]"' in recipe, recipe
    assert set(OPTIONAL_MODULES.values()) == {"experiments", "web"}
