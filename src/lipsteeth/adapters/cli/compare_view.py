"""The terminal view of ``lipsteeth compare``: Rich tables of what differs and of B - A.

Tables go to stdout (``--json`` replaces them by one JSON object): the inputs and
dated events that differ, every outcome's A, B and B - A with its 90 % interval
over the years compared, optionally year by year for the key outcomes, and where
the report went.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from .. import console as views
from ..report.categories import COMPARE_OUTCOMES
from ..report.compare import clear_text
from ..report.differences import (
    Difference,
    Window,
    compare_differences,
    differing_inputs,
    not_judged_reason,
    paired_runs,
    yearly_differences,
)
from ..report.results import Results


def _interval(d: Difference) -> str:
    return f"[{views.fmt(d.ci_low, d.unit)}, {views.fmt(d.ci_high, d.unit)}]"


def inputs_table(a: Results, b: Results) -> Table:
    """Every input, setting and dated event that differs between A and B."""
    table = Table(title="What differs between the inputs", title_justify="left")
    for column in ("input", "A", "B"):
        table.add_column(column, overflow="fold")
    rows = differing_inputs(a, b)
    for row in rows:
        table.add_row(str(row["input"]), str(row["A"]), str(row["B"]))
    if not rows:
        table.add_row("(none)", "", "")
    return table


def differences_table(diffs: list[Difference], title: str) -> Table:
    """Per outcome: A and B (median [5 %, 95 %]), B - A and its 90 % interval, clear or not."""
    table = Table(title=title, title_justify="left")
    table.add_column("outcome", overflow="fold")
    table.add_column("A median [p5, p95]", justify="right")
    table.add_column("B median [p5, p95]", justify="right")
    table.add_column("B - A", justify="right")
    table.add_column("90 % interval", justify="right")
    table.add_column("clear", justify="center")
    table.add_column("unit", overflow="fold")
    for d in diffs:
        table.add_row(
            d.outcome,
            views.band_text(d.a.median, d.a.p5, d.a.p95, d.unit),
            views.band_text(d.b.median, d.b.p5, d.b.p95, d.unit),
            views.fmt(d.diff_median, d.unit),
            _interval(d),
            clear_text(d),
            d.unit,
        )
    return table


def per_year_table(name: str, rows: list[tuple[int, Difference]]) -> Table:
    """One outcome year by year: A, B, B - A and its 90 % interval."""
    unit = rows[0][1].unit if rows else ""
    table = Table(title=f"{name} by year ({unit})", title_justify="left")
    for column in ("year", "A median", "B median", "B - A", "90 % interval", "clear"):
        table.add_column(column, justify="right")
    for year, d in rows:
        table.add_row(
            str(year),
            views.fmt(d.a.median, unit),
            views.fmt(d.b.median, unit),
            views.fmt(d.diff_median, unit),
            _interval(d),
            clear_text(d),
        )
    return table


def print_comparison(
    a: Results, b: Results, window: Window, *, per_year: bool, report: Path
) -> None:
    """Print the comparison of A and B over ``window`` on stdout."""
    con = views.stdout_console()
    con.print(f"A: {a.scenario_name} ({a.folder}), {a.replicates.size} replicates")
    con.print(f"B: {b.scenario_name} ({b.folder}), {b.replicates.size} replicates")
    con.print(inputs_table(a, b))
    how = (
        "paired per replicate (same seed and replicates: common random numbers)"
        if paired_runs(a, b)
        else "independent runs (different seeds or replicates)"
    )
    title = f"B - A over {window.text()}, {how}; 90 % bootstrap interval of the median difference"
    con.print(differences_table(compare_differences(a, b, window), title))
    reason = not_judged_reason(int(a.replicates.size), int(b.replicates.size))
    if reason is not None:
        con.print(f"note: {reason}")
    if per_year:
        key = [n for n in COMPARE_OUTCOMES if a.has(n) and b.has(n)]
        for name, rows in yearly_differences(a, b, window, key).items():
            con.print(per_year_table(name, rows))
    con.print(f"Report written to {report}")
