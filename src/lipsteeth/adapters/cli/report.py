"""Commands ``lipsteeth report`` and ``lipsteeth compare``.

``register(app)`` adds them to the main Typer app (``adapters.cli``).
Refused inputs raise ``UserError``: one ``error:`` line, exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .inputs import fail as _fail
from .options import JsonOption, ReportFormatOption


def report_command(
    results: Annotated[Path, typer.Argument(help="A results folder (from `lipsteeth run`).")],
    fmt: ReportFormatOption = "html",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report here (default: RESULTS/report.<format>)."),
    ] = None,
) -> None:
    """Write a self-contained HTML (or PDF) report of a results folder, figures as PNG and SVG."""
    from ..report import ReportError, write_report

    if fmt not in ("html", "pdf"):
        _fail(f"--format must be html or pdf (got {fmt!r})")
    try:
        path = write_report(results, fmt=fmt, out=out)  # type: ignore[arg-type]
    except ReportError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the report: {exc.strerror or exc}")
    sys.stdout.write(f"{path}\n")


def compare_command(
    results_a: Annotated[Path, typer.Argument(help="Results folder A.")],
    results_b: Annotated[Path, typer.Argument(help="Results folder B.")],
    fmt: ReportFormatOption = "html",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report path (default: ./compare-<A>-vs-<B>.<format>)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two runs side by side: levers set and in force, every outcome's B minus A.

    With ``--json`` the report is written all the same and stdout holds one JSON object:
    the report's path, each run with its levers as set and in force (M9), every outcome's
    B - A with its 90 % interval.
    """
    from ..report import ReportError, comparison_dict, load_results, write_comparison

    if fmt not in ("html", "pdf"):
        _fail(f"--format must be html or pdf (got {fmt!r})")
    try:
        path = write_comparison(results_a, results_b, out=out, fmt=fmt)  # type: ignore[arg-type]
    except ReportError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the comparison: {exc.strerror or exc}")
    if not as_json:
        sys.stdout.write(f"{path}\n")
        return
    both = comparison_dict(load_results(results_a), load_results(results_b))
    sys.stdout.write(json.dumps({"report": str(path), **both}) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``compare`` to the main app."""
    app.command("report")(report_command)
    app.command("compare")(compare_command)
