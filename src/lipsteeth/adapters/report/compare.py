"""The comparison of two runs: inputs that differ, every outcome's B - A, charts, facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import figures as fg
from ..figures import FigureFiles
from .categories import COMPARE_OUTCOMES
from .differences import (
    RESAMPLES,
    Difference,
    Window,
    common_periods,
    common_window,
    compare_differences,
    differing_inputs,
    independent_diffs,
    not_judged_reason,
    paired_runs,
    yearly_differences,
)
from .files import FIGURES_DIR, Format, atomic_write, check_format, safe_name
from .pdf import write_pdf
from .render import FigureBook, Table, render
from .results import Results, load_results, unit_label
from .sections import IN_FORCE_NOTE, Section, month_extremes, section


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
                "horizon": f"{h.get('start')} to {h.get('end')}",
                "folder": str(r.folder),
            }
        )
    return Table.of(rows)


def clear_text(d: Difference) -> str:
    """``yes``, ``no``, or ``not judged`` (too few replicates a side)."""
    return "not judged" if d.clear is None else ("yes" if d.clear else "no")


def _differences_table(a: Results, b: Results, window: Window) -> Table:
    rows = []
    for d in compare_differences(a, b, window):
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
                "clear difference": clear_text(d),
                "unit": d.unit,
                "_clear": bool(d.clear),
            }
        )
    return Table.of(rows, row_class=lambda r: "ok" if r["_clear"] else "")


def _charts(a: Results, b: Results, book: FigureBook, paired: bool, window: Window) -> Any:
    """The key outcomes of both runs side by side and their difference over ``window``
    (None if none)."""
    resolution = "year" if window.last - window.first + 1 >= 3 else "month"
    x, ia, ib = common_periods(a, b, resolution)
    inside = (np.floor(x) >= window.first) & (np.floor(x) <= window.last)
    x, ia, ib = x[inside], ia[inside], ib[inside]
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


def _verdict(fact: dict[str, Any]) -> Any:
    """A fact row's verdict: True, False, "not evaluated" (window not simulated) or None."""
    if not fact:
        return None
    if not fact.get("covered", True) or fact.get("consistent") is None:
        return "not evaluated"
    return fact.get("consistent")


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
                "A consistent": _verdict(ra),
                "B median": rb.get("median"),
                "B consistent": _verdict(rb),
            }
        )
    return Table.of(rows)


def _levers_table(a: Results, b: Results) -> Table:
    """Each lever of A and B: set, in force (median and 90 % band) and its lowest month."""
    rows = []
    by_run = [(tag, r, {row.lever: row for row in r.levers}) for tag, r in (("A", a), ("B", b))]
    names = list(dict.fromkeys(lever for _, _, levers in by_run for lever in levers))
    for name in names:
        first = next(levers[name] for _, _, levers in by_run if name in levers)
        item: dict[str, Any] = {"lever": name, "in force as": first.outcome, "unit": first.unit}
        for tag, r, levers in by_run:
            row = levers.get(name)
            if row is None:  # a folder written before the levers in force were recorded
                item.update({f"{tag} set": None, f"{tag} in force [5-95 %]": None})
                item[f"{tag} lowest month"] = None
                continue
            item[f"{tag} set"] = row.run_set
            item[f"{tag} in force [5-95 %]"] = (
                f"{fg.compact(row.run_median, row.unit)} "
                f"[{fg.compact(row.run_p5, row.unit)}, {fg.compact(row.run_p95, row.unit)}]"
            )
            item[f"{tag} lowest month"] = month_extremes(r, row.outcome)[0]
        rows.append(item)
    return Table.of(rows, css="numbers")


def _levers_chart(a: Results, b: Results, book: FigureBook) -> Any:
    """Set and in force by year, A and B overlaid (None when neither run records them)."""
    if not (a.levers or b.levers):
        return None
    runs = [(f"{tag}: {r.scenario_name}", r.levers) for tag, r in (("A", a), ("B", b))]
    if not a.levers:  # panels follow the first run's levers
        runs = runs[::-1]
    return book.add(fg.levers_figure(runs), "compare_levers_in_force")


def _finite(value: float) -> float | None:
    """A number for JSON, which has no NaN (None where it is not finite)."""
    return float(value) if np.isfinite(value) else None


def lever_run_dict(res: Results) -> dict[str, Any]:
    """One run's levers as set and in force over the whole run (M9), for ``compare --json``:
    set, in force (median, 5 %, 95 % over replicates) and the lowest and highest month."""
    levers = {}
    for row in res.levers:
        low, high = month_extremes(res, row.outcome)
        levers[row.lever] = {
            "effective_outcome": row.outcome,
            "unit": row.unit,
            "set": row.run_set,
            "in_force": {"median": row.run_median, "p5": row.run_p5, "p95": row.run_p95},
            "in_force_lowest_month": _finite(low),
            "in_force_highest_month": _finite(high),
        }
    return levers


def difference_dict(d: Difference) -> dict[str, Any]:
    """One outcome's B - A for JSON: medians, the difference and its 90 % interval, clear
    (None when not judged: fewer than 10 replicates a side)."""
    return {
        "unit": d.unit,
        "a_median": _finite(d.a.median),
        "b_median": _finite(d.b.median),
        "b_minus_a": _finite(d.diff_median),
        "ci90": [_finite(d.ci_low), _finite(d.ci_high)],
        "clear": d.clear,
    }


def comparison_dict(
    a: Results, b: Results, window: Window | None = None, per_year: bool = False
) -> dict[str, Any]:
    """The comparison as one JSON object (``lipsteeth compare --json``): each run with its
    levers set and in force (:func:`lever_run_dict`), the inputs and events that differ, and
    every outcome's B - A over ``window`` (and per year with ``per_year``)."""
    window = window or common_window(a, b)

    def run(r: Results) -> dict[str, Any]:
        m = r.manifest
        return {
            "folder": str(r.folder),
            "scenario": r.scenario_name,
            "run_id": m.get("run_id"),
            "seed": m.get("seed"),
            "replicates": int(r.replicates.size),
            "levers": lever_run_dict(r),
        }

    doc: dict[str, Any] = {
        "a": run(a),
        "b": run(b),
        "paired": paired_runs(a, b),
        "window": {"from": window.first, "to": window.last},
        "clear_not_judged": not_judged_reason(int(a.replicates.size), int(b.replicates.size)),
        "differing_inputs": [
            {k: v for k, v in row.items() if k != "provenance (B)"}
            for row in differing_inputs(a, b)
        ],
        "differences": {d.outcome: difference_dict(d) for d in compare_differences(a, b, window)},
    }
    if per_year:
        doc["per_year"] = {
            name: [{"year": year, **difference_dict(d)} for year, d in rows]
            for name, rows in yearly_differences(a, b, window).items()
        }
    return doc


def build_comparison_html(
    a: Results,
    b: Results,
    out_dir: Path,
    figures_dir: Path | None = None,
    window: Window | None = None,
) -> tuple[str, list[FigureFiles]]:
    """HTML of a side-by-side comparison of two runs (figures in ``figures_dir``)."""
    book = FigureBook(out_dir, figures_dir or out_dir / FIGURES_DIR)
    paired = paired_runs(a, b)
    window = window or common_window(a, b)
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
            f"Differences over {window.text()}",
            "compare_differences",
            paired=paired,
            resamples=RESAMPLES,
            not_judged=not_judged_reason(int(a.replicates.size), int(b.replicates.size)),
            table=_differences_table(a, b, window),
        ),
        section(
            "charts",
            "Side by side, by outcome",
            "compare_charts",
            paired=paired,
            figure=_charts(a, b, book, paired, window),
        ),
        section(
            "levers",
            "Levers: set and in force, A and B",
            "compare_levers",
            note=IN_FORCE_NOTE,
            table=_levers_table(a, b),
            figure=_levers_chart(a, b, book),
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


def default_comparison_path(a: Results, b: Results, fmt: Format = "html") -> Path:
    """Where a comparison goes by default: in the results tree, beside run A's folder
    (``<A's parent>/compare-<A>-vs-<B>.<format>``), never the current directory."""
    stem = safe_name(f"compare-{a.folder.name}-vs-{b.folder.name}")
    return a.folder.resolve().parent / f"{stem}.{fmt}"


def write_comparison(
    folder_a: str | Path | Results,
    folder_b: str | Path | Results,
    *,
    out: str | Path | None = None,
    fmt: Format = "html",
    window: Window | None = None,
) -> Path:
    """Write a comparison report of two results folders; returns its path.

    Default: :func:`default_comparison_path` (beside A in the results tree), figures in
    ``compare-<A>-vs-<B>_figures/`` next to it.  ``window``: the years compared (default
    all the years both runs cover).
    """
    check_format(fmt)
    a = folder_a if isinstance(folder_a, Results) else load_results(folder_a)
    b = folder_b if isinstance(folder_b, Results) else load_results(folder_b)
    target = Path(out) if out is not None else default_comparison_path(a, b, fmt)
    html_path = target if fmt == "html" else target.with_suffix(".html")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    figures_dir = html_path.parent / f"{html_path.stem}_figures"
    text, written = build_comparison_html(a, b, html_path.parent, figures_dir, window)
    atomic_write(html_path, text)
    if fmt == "html":
        return html_path
    write_pdf(html_path, target, f"comparison {a.scenario_name} vs {b.scenario_name}", a, written)
    return target
