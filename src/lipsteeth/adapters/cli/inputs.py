"""What every command refuses the same way: bad option values, missing scenarios and extras.

A command refuses an input by raising :class:`UserError` (:func:`fail`);
the entry point (``adapters.cli.main``) prints it as one line ``error:
<message>`` on stderr and exits with code 2, before anything is written.

Optional dependencies (the ``experiments`` and ``web`` extras of
``pyproject.toml``) are imported where a command needs them;
:func:`require_extra` checks them before a command writes anything, and
:func:`missing_extra` names the extra and its install command for any missing
one the entry point catches.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

from ...experiment.budget import Budget
from ...scenario import Scenario, load_scenario

DEFAULT_SCENARIO = "baseline-2016"
MAX_REPLICATES = 100_000
MAX_YEARS = 200
EXIT_USAGE = 2

#: top-level modules of the optional dependencies and the extra that installs each
#: (``[project.optional-dependencies]`` of pyproject.toml)
OPTIONAL_MODULES: dict[str, str] = {
    "dask": "experiments",
    "distributed": "experiments",
    "SALib": "experiments",
    "pyabc": "experiments",
    "ema_workbench": "experiments",
    "pandas": "experiments",
    "scoringrules": "experiments",
    "sbi": "experiments",
    "torch": "experiments",
    "pymoo": "experiments",
    "fastapi": "web",
    "uvicorn": "web",
    "plotly": "web",
}


class UserError(Exception):
    """An input the command refuses: printed as one ``error:`` line, exit code 2."""


def fail(message: str) -> NoReturn:
    """Refuse the command with a one-line message."""
    raise UserError(message)


# ---------------------------------------------------------------------------
# optional dependencies


def install_command(extra: str) -> str:
    """How to install an extra into the checkout's virtual environment (``make run``'s)."""
    return f".venv/bin/pip install -e '.[{extra}]'"


def missing_extra(exc: ModuleNotFoundError, what: str = "this command") -> str | None:
    """The one-line refusal for a missing optional module, or None if ``exc`` is another."""
    top = (exc.name or "").partition(".")[0]
    extra = OPTIONAL_MODULES.get(top)
    if extra is None:
        return None
    return f"{what} needs the '{extra}' extra ({top} is not installed): {install_command(extra)}"


def require_extra(what: str, modules: Iterable[str]) -> None:
    """Refuse ``what`` now, before anything is written, if an optional module is missing."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            message = missing_extra(exc, what)
            if message is None:
                raise
            fail(message)


# ---------------------------------------------------------------------------
# the scenario argument and option ranges


def looks_like_path(name_or_path: str) -> bool:
    """A scenario argument that names a file rather than an embedded scenario."""
    return name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path


def load(name_or_path: str) -> Scenario:
    """Load a scenario by embedded name or TOML path, refusing a missing file in one line."""
    if looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.exists():
            fail(f"{name_or_path}: no such scenario file")
        if not path.is_file():
            fail(f"{name_or_path}: not a file")
    try:
        return load_scenario(name_or_path)
    except OSError as exc:
        fail(f"{name_or_path}: cannot read: {exc.strerror or exc}")


def events_outside_warning(scenario: Scenario, shown: int = 4) -> str | None:
    """One ``warning:`` line naming the dated events the horizon cuts off (None if none).

    They are not simulated; ``lipsteeth run`` also records them in ``manifest.json``
    (``events_outside_horizon``).
    """
    outside = scenario.events_outside_horizon()
    if not outside:
        return None
    listed = "; ".join(f"{e['key']} {e['kind']} {e['reason']}" for e in outside[:shown])
    more = f"; and {len(outside) - shown} more" if len(outside) > shown else ""
    return (
        f"warning: {scenario.source}: {len(outside)} dated event(s) outside the horizon "
        f"{scenario.start} to {scenario.end} are not simulated: {listed}{more}"
    )


def check_range(
    option: str,
    value: float | None,
    low: float,
    high: float | None = None,
    *,
    open_low: bool = False,
) -> None:
    """Refuse an option value outside [low, high] (or (low, high]), naming the option."""
    if value is None:
        return
    if not math.isfinite(value):
        fail(f"{option} must be a finite number (got {value:g})")
    below = value <= low if open_low else value < low
    if high is None and below:
        fail(f"{option} must be {'>' if open_low else '>='} {low:g} (got {value:g})")
    if high is not None and (below or value > high):
        bounds = f"{'above' if open_low else 'at least'} {low:g} and at most {high:g}"
        fail(f"{option} must be {bounds} (got {value:g})")


# ---------------------------------------------------------------------------
# work and memory limits (issue 17, item 6)

#: post-days a command may plan without --allow-large: about 21 hours of one core at the
#: kernel's 1.3e8 post-days a second (measured: 2 replicates of baseline-2016, 9 years,
#: 3.2 s on this machine; one such replicate is 2.1e9 post-days)
WORK_LIMIT_POST_DAYS = 1e13


def memory_limit_bytes() -> float:
    """Half the machine's physical memory (the rest is the system's and the other users')."""
    import os

    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) / 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8e9


def check_budget(what: str, budget: Budget, *, allow_large: bool) -> None:
    """Refuse ``what`` in one line if its estimate exceeds a limit (unless ``allow_large``)."""
    if allow_large:
        return
    reason = budget.over(memory_limit=memory_limit_bytes(), work_limit=WORK_LIMIT_POST_DAYS)
    if reason is not None:
        fail(f"{what} {reason}; reduce it, or pass --allow-large to start it anyway")
