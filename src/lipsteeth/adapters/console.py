"""Rich rendering of runs for people: outcome bands, facts, ledger checks, scenarios.

Human output goes to stdout; progress bars go to stderr, so ``--json`` keeps
stdout to exactly one JSON object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ..experiment.facts import FactCheck
from ..experiment.summary import LeverInForce, YearlyBand
from .store import RESULTS_FILES, LedgerCheck


def stdout_console() -> Console:
    """Console for human-readable results."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """Console for progress and messages that must stay off stdout."""
    return Console(stderr=True, highlight=False)


def fmt(value: float | None, unit: str = "") -> str:
    """Compact number: 12.3M, 41.1k, 4548, 0.73; shares, indices, probabilities keep 2 decimals."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit.startswith(("share", "index")) or unit == "probability":
        return f"{value:.2f}"
    a = abs(value)
    if a >= 1e9:
        return f"{_sig3(value / 1e9)}G"
    if a >= 1e6:
        return f"{_sig3(value / 1e6)}M"
    if a >= 1e4:
        return f"{_sig3(value / 1e3)}k"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 1:
        return _sig3(value)
    if a == 0:
        return "0"
    if a >= 0.001:
        return f"{value:.3f}"
    return f"{value:.2e}"


def _sig3(value: float) -> str:
    """About three significant digits with fixed decimals (13.0, not 13)."""
    rounded = float(f"{value:.3g}")
    a = abs(rounded)
    decimals = 2 if a < 10 else 1 if a < 100 else 0
    return f"{rounded:.{decimals}f}"


def band_text(median: float, p5: float, p95: float, unit: str = "") -> Text:
    """Median in bold over its 90 % band in dim."""
    text = Text(fmt(median, unit), style="bold")
    text.append(f"\n[{fmt(p5, unit)}, {fmt(p95, unit)}]", style="dim")
    return text


def years_per_table(width: int, n_years: int, first_width: int, year_width: int) -> int:
    """Year columns per table so that each table fits ``width`` (tables share the load)."""
    fit = max(1, (width - first_width - 1) // year_width)
    if fit >= n_years:
        return max(1, n_years)
    return math.ceil(n_years / math.ceil(n_years / fit))


def outcome_bands_tables(bands: Sequence[YearlyBand], title: str, width: int = 120) -> list[Table]:
    """Outcomes by year (median over [p5, p95]), split so each table fits ``width``."""
    if not bands:
        return []
    years = [int(y) for y in bands[0].years]
    cells = {
        band.outcome: [
            band_text(float(band.median[j]), float(band.p5[j]), float(band.p95[j]), band.unit)
            for j in range(len(years))
        ]
        for band in bands
    }
    # each column: its widest line plus two spaces of padding and one border
    first_width = max(len(line) for b in bands for line in (b.outcome, b.unit)) + 4
    year_width = max(
        len(line) for row in cells.values() for c in row for line in c.plain.split("\n")
    )
    step = years_per_table(width, len(years), first_width, max(year_width, 4) + 3)
    tables = []
    for first in range(0, len(years), step):
        cols = range(first, min(first + step, len(years)))
        table = Table(
            title=Text(title) if first == 0 else None, title_justify="left", show_lines=True
        )
        table.add_column("outcome", style="cyan", no_wrap=True)
        for j in cols:
            table.add_column(str(years[j]), justify="right", no_wrap=True)
        for band in bands:
            name = Text(band.outcome, style="cyan")
            name.append(f"\n{band.unit}", style="dim")
            table.add_row(name, *(cells[band.outcome][j] for j in cols))
        tables.append(table)
    return tables


def levers_as_bands(rows: Sequence[LeverInForce]) -> list[YearlyBand]:
    """Each lever's setting and what was in force, as two rows of an outcome-bands table."""
    bands = []
    for row in rows:
        bands.append(
            YearlyBand(
                f"{row.lever} (set)",
                row.unit,
                row.years,
                row.set_value,
                row.set_value,
                row.set_value,
            )
        )
        bands.append(
            YearlyBand(
                f"  in force: {row.outcome}", row.unit, row.years, row.median, row.p5, row.p95
            )
        )
    return bands


def consistent_text(consistent: bool | None) -> Text:
    """``yes``, ``no``, or ``not evaluated`` (None: the row's window is not simulated)."""
    if consistent is None:
        return Text("not evaluated", style="dim")
    return Text("yes", style="bold green") if consistent else Text("no", style="bold red")


def facts_table(facts: Sequence[FactCheck]) -> Table:
    """The facts of SYSTEM.md against the simulated median and 90 % band."""
    table = Table(title="Facts (SYSTEM.md F1-F9)", title_justify="left", show_lines=True)
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("statement", ratio=3)
    table.add_column("target", ratio=1)
    table.add_column(Text("simulated median [p5, p95]"), justify="right", ratio=1)
    table.add_column("consistent", justify="center", no_wrap=True)
    for fact in facts:
        simulated = Text(fmt(fact.median, fact.unit), style="bold")
        simulated.append(f" [{fmt(fact.p5, fact.unit)}, {fmt(fact.p95, fact.unit)}]")
        if fact.unit:
            simulated.append(f" {fact.unit}", style="dim")
        statement = Text(fact.statement)
        if fact.statistic:
            statement.append(f"\n{fact.statistic}", style="dim")
        if not fact.covered:
            simulated = Text("n/a (window not simulated)", style="dim")
        verdict = consistent_text(fact.consistent if fact.covered else None)
        table.add_row(fact.id, statement, fact.target, simulated, verdict)
    if not facts:
        table.add_row("", "not checked (run --no-facts)", "", "", "")
    return table


def ledger_table(checks: Sequence[LedgerCheck]) -> Table:
    """Stock-flow identities and how many replicates satisfy them."""
    table = Table(title="Ledger identities", title_justify="left")
    table.add_column("identity")
    table.add_column("replicates holding", justify="right")
    table.add_column("max |residual|", justify="right")
    table.add_column("holds", justify="center")
    for check in checks:
        table.add_row(
            check.identity,
            f"{check.holding}/{check.replicates}",
            f"{check.max_abs_residual:.3g}",
            consistent_text(check.holds),
        )
    return table


def results_location(folder: Path) -> Group:
    """Where a run was written, and what is in the folder."""
    head = Text("Results written to ", style="bold")
    head.append(str(folder), style="bold cyan")
    files = Text("  " + "  ".join(RESULTS_FILES), style="dim")
    return Group(head, files)


def scenarios_table(scenarios: Sequence[tuple[str, str]]) -> Table:
    """Embedded scenarios by name and title."""
    table = Table(title="Embedded scenarios", title_justify="left")
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("title")
    for name, title in scenarios:
        table.add_row(name, title)
    return table


def replicate_progress(console: Console) -> Progress:
    """Progress bar over replicates (on the given console, normally stderr)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("replicates"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def counterfactual_progress(console: Console) -> Progress:
    """Spinner counting the counterfactual ensembles the fact checks run."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed} counterfactual ensembles"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
