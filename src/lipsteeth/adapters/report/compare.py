"""The comparison of two runs: inputs that differ, every outcome's B - A, charts, facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import figures as fg
from ..figures import FigureFiles
from .categories import COMPARE_OUTCOMES
from .differences import (
    RESAMPLES,
    common_periods,
    compare_differences,
    differing_inputs,
    independent_diffs,
    paired_runs,
)
from .files import FIGURES_DIR, Format, atomic_write, check_format, safe_name
from .pdf import write_pdf
from .render import FigureBook, Table, render
from .results import Results, load_results, unit_label
from .sections import Section, section, uncertainty_text


def _runs_table(a: Results, b: Results) -> Table:
    rows = []
    for tag, r in (("A", a), ("B", b)):
        m = r.manifest
        h = m.get("horizon", {})
        rows.append(
            {
                "run": tag,
                "scenario": m.get("scenario_name"),
                "run id": m.get("run_id"),
                "seed": m.get("seed"),
                "replicates": int(r.replicates.size),
                "bands hold": uncertainty_text(m),
                "horizon": f"{h.get('start')} to {h.get('end')}",
                "folder": str(r.folder),
            }
        )
    return Table.of(rows)


def _differences_table(a: Results, b: Results) -> Table:
    rows = []
    for d in compare_differences(a, b):
        rows.append(
            {
                "outcome": d.outcome,
                "A median [5-95 %]": d.a.text(d.unit),
                "B median [5-95 %]": d.b.text(d.unit),
                "B - A": d.diff_median,
                "90 % CI": f"{fg.compact(d.ci_low, d.unit)} to {fg.compact(d.ci_high, d.unit)}",
                "spread of B - A [5-95 %]": (
                    f"{fg.compact(d.diff_p5, d.unit)} to {fg.compact(d.diff_p95, d.unit)}"
                ),
                "clear difference": d.clear,
                "unit": d.unit,
                "_clear": d.clear,
            }
        )
    return Table.of(rows, row_class=lambda r: "ok" if r["_clear"] else "")


def _charts(a: Results, b: Results, book: FigureBook, paired: bool) -> Any:
    """The key outcomes of both runs side by side and their difference (None if none)."""
    resolution = "year" if min(a.years.size, b.years.size) >= 3 else "month"
    x, ia, ib = common_periods(a, b, resolution)
    chosen = [n for n in COMPARE_OUTCOMES if a.has(n) and b.has(n)]
    if not (x.size and chosen):
        return None
    period = " per year" if resolution == "year" else " per month"
    sa = [fg.Series(n, unit_label(n, period), a.series(n, resolution)[:, ia]) for n in chosen]
    sb = [fg.Series(n, unit_label(n, period), b.series(n, resolution)[:, ib]) for n in chosen]
    if paired:
        diff = [s_b.values - s_a.values for s_a, s_b in zip(sa, sb, strict=True)]
    else:
        diff = [independent_diffs(s_a.values, s_b.values) for s_a, s_b in zip(sa, sb, strict=True)]
    fig = fg.comparison_grid(
        x,
        sa,
        sb,
        label_a=f"A: {a.scenario_name}",
        label_b=f"B: {b.scenario_name}",
        diff=diff,
    )
    return book.add(fig, "compare_key_outcomes")


def _facts_side_by_side(a: Results, b: Results) -> Table | None:
    fa = {(f.get("id"), f.get("statistic")): f for f in a.manifest.get("facts") or []}
    fb = {(f.get("id"), f.get("statistic")): f for f in b.manifest.get("facts") or []}
    if not (fa or fb):
        return None
    rows = []
    for k in dict.fromkeys([*fa, *fb]):
        ra, rb = fa.get(k, {}), fb.get(k, {})
        rows.append(
            {
                "id": k[0],
                "statistic": k[1],
                "target": ra.get("target") or rb.get("target"),
                "A median": ra.get("median"),
                "A consistent": ra.get("consistent"),
                "B median": rb.get("median"),
                "B consistent": rb.get("consistent"),
            }
        )
    return Table.of(rows)


def build_comparison_html(
    a: Results, b: Results, out_dir: Path, figures_dir: Path | None = None
) -> tuple[str, list[FigureFiles]]:
    """HTML of a side-by-side comparison of two runs (figures in ``figures_dir``)."""
    book = FigureBook(out_dir, figures_dir or out_dir / FIGURES_DIR)
    paired = paired_runs(a, b)
    sections: list[Section] = [
        section("runs", "The two runs", "table", table=_runs_table(a, b)),
        section(
            "inputs",
            "What differs between the inputs",
            "table",
            table=Table.of(differing_inputs(a, b)),
        ),
        section(
            "differences",
            "Differences over the whole run",
            "compare_differences",
            paired=paired,
            resamples=RESAMPLES,
            table=_differences_table(a, b),
        ),
        section(
            "charts",
            "Side by side, by outcome",
            "compare_charts",
            paired=paired,
            figure=_charts(a, b, book, paired),
        ),
    ]
    facts = _facts_side_by_side(a, b)
    if facts is not None:
        sections.append(section("facts", "Facts F1-F9, side by side", "table", table=facts))
    text = render(
        "compare.html.j2",
        title=f"lipsteeth comparison: {a.scenario_name} vs {b.scenario_name}",
        folder_a=str(a.folder),
        folder_b=str(b.folder),
        sections=sections,
    )
    return text, book.written


def write_comparison(
    folder_a: str | Path,
    folder_b: str | Path,
    *,
    out: str | Path | None = None,
    fmt: Format = "html",
) -> Path:
    """Write a comparison report of two results folders; returns its path.

    Default: ``compare-<A>-vs-<B>.html`` in the current directory, figures in
    ``compare-<A>-vs-<B>_figures/`` next to it.
    """
    check_format(fmt)
    a = load_results(folder_a)
    b = load_results(folder_b)
    stem = safe_name(f"compare-{a.folder.name}-vs-{b.folder.name}")
    target = Path(out) if out is not None else Path.cwd() / f"{stem}.{fmt}"
    html_path = target if fmt == "html" else target.with_suffix(".html")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    figures_dir = html_path.parent / f"{html_path.stem}_figures"
    text, written = build_comparison_html(a, b, html_path.parent, figures_dir)
    atomic_write(html_path, text)
    if fmt == "html":
        return html_path
    write_pdf(html_path, target, f"comparison {a.scenario_name} vs {b.scenario_name}", a, written)
    return target
