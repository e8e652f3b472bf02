"""The ``lipsteeth`` command line (Typer + Rich): the app, its commands and the entry point.

One module per command group, each adding its commands with ``register(app)``:

- ``run``: simulate a scenario into a results folder (``lipsteeth.services``);
- ``scenarios``: ``scenarios list | show | schema``;
- ``sweep``, ``sensitivity``, ``calibrate``, ``discover``, ``query``: the experiment
  commands, one module each;
- ``policies``: ``policies list | show`` (the policy library);
- ``robust``: ``robust`` (policies over sampled futures); ``optimize``: the lever
  search (NSGA-II);
- ``validate``: scores against observed series, frozen forecasts;
- ``report``: ``report`` and ``compare``;
- ``serve``: the API and dashboard.

``options`` declares the options several commands share; ``inputs`` holds
:class:`UserError` and the checks every command makes; ``experiment_inputs`` and
``experiment_runs`` hold what the experiment commands share (their option checks;
planned, checkpointed runs and their display).  Command modules import these,
never this package or each other, so the package has no import cycle
(tests/test_architecture.py).

Every refused input (a bad scenario, a bad option value, a missing file, an
occupied output folder, a missing optional dependency) ends with one line
``error: <message>`` on stderr, exit code 2, no traceback and nothing written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

import typer

from ...core.simulate import NonFiniteOutcomeError
from ...scenario import ScenarioError
from ..catalog import CatalogError
from . import (
    calibrate,
    discover,
    facts,
    optimize,
    policies,
    query,
    report,
    robust,
    run,
    scenarios,
    sensitivity,
    serve,
    sweep,
    validate,
)
from .inputs import EXIT_USAGE, UserError, fail, missing_extra

__all__ = ["UserError", "app", "fail", "main"]

app = typer.Typer(
    name="lipsteeth",
    help=(
        "Simulate North Korea's overseas restaurant and labour network, worker defections, "
        "Chinese enforcement and the China-DPRK relationship (aggregate dynamics of a "
        "synthetic population; no real person is scored or identified)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# The order of registration is the order of ``lipsteeth --help``.
for _group in (
    run,
    scenarios,
    policies,
    sweep,
    sensitivity,
    calibrate,
    discover,
    query,
    robust,
    optimize,
    report,
    serve,
    validate,
    facts,
):
    _group.register(app)


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()
    sys.exit(EXIT_USAGE)


def _click_class(name: str) -> type[Exception]:
    """A Click exception class as Typer raises it (Typer may vendor its own Click)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise LookupError(name)  # pragma: no cover


_ClickException = _click_class("ClickException")


def _command(args: Sequence[str]) -> str:
    """The command named on the command line (for messages)."""
    words = [arg for arg in args if not arg.startswith("-")]
    return f"lipsteeth {words[0]}" if words else "lipsteeth"


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry: run the app, turning refused inputs into one ``error:`` line."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="lipsteeth", standalone_mode=False)
    except (UserError, ScenarioError, NonFiniteOutcomeError, CatalogError) as exc:
        _refuse(str(exc))
    except ModuleNotFoundError as exc:
        message = missing_extra(exc, _command(args))
        if message is None:
            raise
        _refuse(message)
    except _ClickException as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare command group: show its help
            sys.stdout.write(message + "\n")
            sys.exit(0)
        _refuse(message)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
