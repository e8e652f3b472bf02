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
    results: Annotated[
        Path,
        typer.Argument(
            help="A results folder (from `lipsteeth run`), or a robust or optimize experiment "
            "folder (results/experiments/<id>)."
        ),
    ],
    fmt: ReportFormatOption = "html",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report here (default: RESULTS/report.<format>)."),
    ] = None,
) -> None:
    """Write a self-contained HTML (or PDF) report of a results folder, figures as PNG and SVG."""
    from ..report import ReportError, write_report
    from ..report.policy_report import is_policy_experiment, write_policy_report

    if fmt not in ("html", "pdf"):
        _fail(f"--format must be html or pdf (got {fmt!r})")
    try:
        if is_policy_experiment(results):  # a `robust` or `optimize` experiment folder
            if fmt != "html":
                _fail("a robust or optimize experiment's report is HTML only (--format html)")
            path = write_policy_report(results, out)
        else:
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
        typer.Option(
            "--out",
            help="Report path (default: beside A in the results tree, compare-A-vs-B.FORMAT).",
        ),
    ] = None,
    as_json: JsonOption = False,
    from_year: Annotated[
        int | None, typer.Option("--from", help="First calendar year compared (default: all).")
    ] = None,
    to_year: Annotated[
        int | None, typer.Option("--to", help="Last calendar year compared (default: all).")
    ] = None,
    per_year: Annotated[
        bool, typer.Option("--per-year", help="Also give B - A year by year.")
    ] = False,
) -> None:
    """Compare two runs side by side: inputs and events that differ, levers set and in force,
    every outcome's B minus A with its paired 90 % interval.

    Prints a summary table (per outcome: A, B, B - A and its 90 % interval) and writes the
    report beside A in the results tree.  With ``--json`` stdout holds one JSON object
    instead: the report's path, each run with its levers as set and in force (M9), the
    differing inputs, every outcome's B - A with its 90 % interval (per year with
    ``--per-year``).  No difference is called clear with fewer than 10 replicates a side.
    """
    from ..report import ReportError, comparison_dict, load_results, write_comparison
    from ..report.differences import common_window

    if fmt not in ("html", "pdf"):
        _fail(f"--format must be html or pdf (got {fmt!r})")
    try:
        a, b = load_results(results_a), load_results(results_b)
        window = common_window(a, b, from_year, to_year)
        path = write_comparison(a, b, out=out, fmt=fmt, window=window)  # type: ignore[arg-type]
    except ReportError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the comparison: {exc.strerror or exc}")
    if as_json:
        both = comparison_dict(a, b, window, per_year=per_year)
        sys.stdout.write(json.dumps({"report": str(path), **both}) + "\n")
        return
    from .compare_view import print_comparison

    print_comparison(a, b, window, per_year=per_year, report=path)


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``compare`` to the main app."""
    app.command("report")(report_command)
    app.command("compare")(compare_command)
