"""Static figures for reports and papers (matplotlib, no pyplot, no global state).

Every function here takes plain NumPy arrays and returns a
:class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PNG and
SVG (reproducible bytes: no dates in the metadata, a fixed SVG hash salt) and
returns the SVG text for inlining into a self-contained HTML report.

Figures:

* fan charts (median, 50 % and 90 % bands over replicates) of many outcomes,
  with observed series overlaid where ``data/`` holds one (:func:`fan_grid`);
* the flow of people from postings to attempts, routes, capture or escape and
  arrival in South Korea (:func:`flow_figure`, an alluvial diagram whose band
  widths are on a log scale so that tens of defectors show next to tens of
  thousands of workers);
* the group-size distribution of flight attempts (:func:`group_size_figure`);
* the revenue decomposition of restaurants and labour sites
  (:func:`revenue_figure`);
* experiment outputs: sensitivity indices, posterior marginals, validation
  overlays and PRIM boxes;
* comparison of two runs: both fans and the difference band
  (:func:`comparison_grid`).
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

#: the house style, applied only inside this module's functions (rcParams stay untouched)
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text: small, searchable SVG
    "svg.hashsalt": "lipsteeth",  # stable element ids
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

F = TypeVar("F", bound=Callable[..., Any])


def styled(func: F) -> F:
    """Run ``func`` with the house style (``matplotlib.rc_context``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
            return func(*args, **kwargs)

    return cast(F, wrapper)


#: colours of runs A and B, of observed data and of the bands
COLOR_A = "#1f5fa8"
COLOR_B = "#c8501e"
COLOR_DIFF = "#4a7a2c"
COLOR_OBSERVED = "#111111"
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
PNG_DPI = 150


# ---------------------------------------------------------------------------
# numbers


@dataclass(frozen=True)
class Band:
    """Quantiles over replicates (axis 0) of a (R, T) block: 5, 25, 50, 75 and 95 %."""

    p5: np.ndarray
    p25: np.ndarray
    p50: np.ndarray
    p75: np.ndarray
    p95: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Band:
        """Bands of ``values`` (R, T); NaN replicates are ignored."""
        block = np.asarray(values, dtype=float)
        if block.ndim == 1:
            block = block[None, :]
        if block.shape[0] == 0 or np.all(np.isnan(block)):
            nan = np.full(block.shape[1:], np.nan)
            return cls(nan, nan, nan, nan, nan)
        q = np.nanquantile(block, QUANTILES, axis=0)
        return cls(q[0], q[1], q[2], q[3], q[4])


def compact(value: float | None, unit: str = "") -> str:
    """A short human number: 12.3M, 48.1k, 512, 0.73."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit.startswith(("share", "index", "prob")):
        return f"{value:.2f}"
    a = abs(value)
    for limit, div, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if a >= limit:
            q = value / div
            digits = 2 if abs(q) < 10 else 1 if abs(q) < 100 else 0
            return f"{q:.{digits}f}{suffix}"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 10:
        return f"{value:.1f}".removesuffix(".0")
    if a == 0:
        return "0"
    return f"{value:.3g}"


def _axis_formatter(unit: str) -> matplotlib.ticker.FuncFormatter:
    return matplotlib.ticker.FuncFormatter(lambda v, _pos: compact(v, unit))


# ---------------------------------------------------------------------------
# output


@dataclass(frozen=True)
class FigureFiles:
    """Where a figure was written, and its SVG text for inlining."""

    stem: str
    png: Path
    svg: Path
    svg_text: str


@styled
def figure_svg(fig: Figure) -> str:
    """The SVG text of ``fig`` (no XML prolog, no date), for inline HTML."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


@styled
def save_figure(fig: Figure, folder: Path, stem: str) -> FigureFiles:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.svg`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{stem}.png"
    svg = folder / f"{stem}.svg"
    fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
    fig.set_layout_engine("none")  # keep the layout just computed: lay out once, not twice
    svg_text = figure_svg(fig)
    svg.write_text('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + svg_text)
    return FigureFiles(stem=stem, png=png, svg=svg, svg_text=svg_text)


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _grid_figure(
    rows: int, cols: int, cell_w: float, cell_h: float, *, top: float = 0.45
) -> tuple[Figure, np.ndarray]:
    """A figure of rows x cols axes with fixed margins in inches (no layout engine: fast)."""
    left, right, bottom = 0.62, 0.12, 0.32
    wspace_in, hspace_in = 0.62, 0.5
    width = left + right + cols * cell_w + (cols - 1) * wspace_in
    height = top + bottom + rows * cell_h + (rows - 1) * hspace_in
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wspace_in / cell_w,
        hspace=hspace_in / cell_h,
    )
    return fig, axes


# ---------------------------------------------------------------------------
# fan charts


@dataclass(frozen=True)
class Series:
    """One outcome's values over replicates: (R, T) against the shared x axis."""

    name: str
    unit: str
    values: np.ndarray
    doc: str = ""


@dataclass(frozen=True)
class Observed:
    """An observed series to overlay: x positions, values and optional low/high bounds."""

    label: str
    x: np.ndarray
    y: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None


def draw_fan(
    ax: matplotlib.axes.Axes,
    x: np.ndarray,
    values: np.ndarray,
    *,
    color: str = COLOR_A,
    label: str | None = None,
    step: bool = False,
) -> Band:
    """Median line, 50 % and 90 % bands of (R, T) ``values`` on ``ax``; returns the bands."""
    band = Band.of(values)
    where: Literal["mid"] | None = "mid" if step else None
    ax.fill_between(x, band.p5, band.p95, color=color, alpha=0.18, linewidth=0, step=where)
    ax.fill_between(x, band.p25, band.p75, color=color, alpha=0.35, linewidth=0, step=where)
    if step:
        ax.step(x, band.p50, where="mid", color=color, linewidth=1.3, label=label)
    else:
        ax.plot(x, band.p50, color=color, linewidth=1.3, label=label)
    return band


def draw_observed(ax: matplotlib.axes.Axes, obs: Observed) -> None:
    """Observed points (and their low-high span, if given) on ``ax``."""
    if obs.low is not None and obs.high is not None:
        ax.vlines(obs.x, obs.low, obs.high, color=COLOR_OBSERVED, linewidth=1.0, alpha=0.7)
    ax.plot(
        obs.x,
        obs.y,
        linestyle="none",
        marker="o",
        markersize=3.2,
        markerfacecolor="white",
        markeredgecolor=COLOR_OBSERVED,
        label=obs.label,
    )


@styled
def fan_grid(
    title: str,
    x: np.ndarray,
    series: Sequence[Series],
    *,
    observed: Mapping[str, Observed] | None = None,
    columns: int = 4,
) -> Figure:
    """Small multiples: one fan chart per outcome, observed data overlaid where known."""
    observed = observed or {}
    n = max(1, len(series))
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = _grid_figure(rows, cols, 2.0, 1.45)
    step = len(x) <= 3
    for i, ax in enumerate(axes.flat):
        if i >= len(series):
            ax.set_visible(False)
            continue
        s = series[i]
        draw_fan(ax, x, s.values, step=step)
        if s.name in observed:
            draw_observed(ax, observed[s.name])
            ax.legend(loc="best", frameon=False, handlelength=1.0)
        ax.set_title(s.name, loc="left")
        ax.set_ylabel(s.unit)
        ax.yaxis.set_major_formatter(_axis_formatter(s.unit))
        ax.margins(x=0.01)
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    fig.suptitle(
        f"{title}: median (line), 50 % (dark) and 90 % (light) bands over replicates",
        fontsize=9,
        x=0.01,
        y=1 - 0.08 / fig.get_figheight(),
        ha="left",
        va="top",
    )
    return fig


@styled
def comparison_grid(
    x: np.ndarray,
    series_a: Sequence[Series],
    series_b: Sequence[Series],
    *,
    label_a: str,
    label_b: str,
    diff: Sequence[np.ndarray] | None = None,
) -> Figure:
    """Per outcome: the fans of A and B overlaid, and B minus A with its 90 % band."""
    n = len(series_a)
    rows = max(1, n)
    fig, axes = _grid_figure(rows, 2, 3.3, 1.45)
    step = len(x) <= 3
    for i in range(n):
        a, b = series_a[i], series_b[i]
        ax = axes[i, 0]
        draw_fan(ax, x, a.values, color=COLOR_A, label=label_a, step=step)
        draw_fan(ax, x, b.values, color=COLOR_B, label=label_b, step=step)
        ax.set_title(a.name, loc="left")
        ax.set_ylabel(a.unit)
        ax.yaxis.set_major_formatter(_axis_formatter(a.unit))
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
        if i == 0:
            ax.legend(loc="best", frameon=False)
        dx = axes[i, 1]
        d = diff[i] if diff is not None else b.values - a.values
        band = draw_fan(dx, x, d, color=COLOR_DIFF, step=step)
        del band
        dx.axhline(0.0, color="#777777", linewidth=0.7)
        dx.set_title(f"{b.name}: B minus A", loc="left")
        dx.yaxis.set_major_formatter(_axis_formatter(a.unit))
        dx.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    fig.suptitle(
        "Side by side (left) and difference with its 90 % band (right)",
        fontsize=9,
        x=0.01,
        y=1 - 0.08 / fig.get_figheight(),
        ha="left",
        va="top",
    )
    return fig


# ---------------------------------------------------------------------------
# flow of people


@dataclass(frozen=True)
class FlowNode:
    """A box of the flow diagram: column, label, value (mean over replicates) and a note."""

    key: str
    label: str
    column: int
    value: float
    note: str = ""
    color: str = "#8aa6c8"


@dataclass(frozen=True)
class FlowLink:
    """A band between two nodes carrying ``value`` persons."""

    source: str
    target: str
    value: float


@dataclass
class _Placed:
    node: FlowNode
    y0: float
    height: float
    out_cursor: float = 0.0
    in_cursor: float = 0.0
    extras: dict[str, float] = field(default_factory=dict)


def log_width(value: float) -> float:
    """Band width on a log scale: 0 for nothing, log10(1 + value) otherwise."""
    return math.log10(1.0 + max(0.0, float(value)))


@styled
def flow_figure(nodes: Sequence[FlowNode], links: Sequence[FlowLink], *, title: str = "") -> Figure:
    """An alluvial flow diagram; heights and band widths are log10(1 + persons)."""
    by_key = {n.key: n for n in nodes}
    out_w: dict[str, float] = {n.key: 0.0 for n in nodes}
    in_w: dict[str, float] = {n.key: 0.0 for n in nodes}
    for link in links:
        w = log_width(link.value)
        out_w[link.source] += w
        in_w[link.target] += w
    heights = {n.key: max(log_width(n.value), out_w[n.key], in_w[n.key], 0.15) for n in nodes}
    columns = sorted({n.column for n in nodes})
    gap = 0.9
    col_height = {
        c: sum(heights[n.key] for n in nodes if n.column == c)
        + gap * (sum(1 for n in nodes if n.column == c) - 1)
        for c in columns
    }
    total = max(col_height.values()) if col_height else 1.0
    placed: dict[str, _Placed] = {}
    for c in columns:
        y = total - (total - col_height[c]) / 2.0
        for n in (n for n in nodes if n.column == c):
            h = heights[n.key]
            placed[n.key] = _Placed(n, y - h, h)
            y -= h + gap
    fig = _new_figure(11.0, 5.6)
    ax = fig.add_subplot()
    node_w = 0.16
    for link in links:
        w = log_width(link.value)
        if w <= 0:
            continue
        s, t = placed[link.source], placed[link.target]
        x0 = s.node.column + node_w
        x1 = t.node.column
        s_top = s.y0 + s.height - s.out_cursor
        t_top = t.y0 + t.height - t.in_cursor
        s.out_cursor += w
        t.in_cursor += w
        xm = (x0 + x1) / 2.0
        verts = [
            (x0, s_top),
            (xm, s_top),
            (xm, t_top),
            (x1, t_top),
            (x1, t_top - w),
            (xm, t_top - w),
            (xm, s_top - w),
            (x0, s_top - w),
            (x0, s_top),
        ]
        codes = [
            MplPath.MOVETO,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.LINETO,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CURVE4,
            MplPath.CLOSEPOLY,
        ]
        ax.add_patch(
            PathPatch(
                MplPath(verts, codes),
                facecolor=by_key[link.target].color,
                edgecolor="none",
                alpha=0.45,
            )
        )
    for p in placed.values():
        ax.add_patch(
            Rectangle(
                (p.node.column, p.y0),
                node_w,
                p.height,
                facecolor=p.node.color,
                edgecolor="#333333",
                linewidth=0.5,
            )
        )
        text = f"{p.node.label}\nmean {compact(p.node.value)}"
        if p.node.note:
            text += f"\n{p.node.note}"
        ax.text(
            p.node.column + node_w + 0.04,
            p.y0 + p.height / 2.0,
            text,
            va="center",
            ha="left",
            fontsize=7,
        )
    ax.set_xlim(-0.1, (max(columns) if columns else 0) + 1.0)
    ax.set_ylim(-0.3, total + 0.3)
    ax.axis("off")
    ax.set_title(
        (title + "\n" if title else "")
        + "Heights and band widths: log10(1 + persons); numbers: mean over replicates, "
        "run total (median [5-95 %] below)",
        loc="left",
        fontsize=8,
    )
    return fig


# ---------------------------------------------------------------------------
# defection groups


@styled
def group_size_figure(
    panels: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
    *,
    note: str = "",
) -> Figure:
    """Stacked bars per group size: panels of (title, sizes, {outcome: groups per replicate})."""
    n = max(1, len(panels))
    fig = _new_figure(4.4 * n, 3.2)
    axes = fig.subplots(1, n, squeeze=False)[0]
    palette = {
        "escaped": "#3b8f4c",
        "stopped_at_exit": "#c8501e",
        "caught_in_transit": "#e0a030",
        "foiled": "#7d4b9a",
    }
    for ax, (title, sizes, stacks) in zip(axes, panels, strict=False):
        bottom = np.zeros(len(sizes))
        for outcome, counts in stacks.items():
            ax.bar(
                sizes,
                counts,
                bottom=bottom,
                color=palette.get(outcome, "#888888"),
                label=outcome.replace("_", " "),
                width=0.8,
            )
            bottom = bottom + counts
        ax.set_title(title, loc="left")
        ax.set_xlabel("group size (persons)")
        ax.set_ylabel("groups per replicate (mean)")
        if len(sizes):
            ax.set_xticks(sizes if len(sizes) <= 20 else sizes[:: max(1, len(sizes) // 20)])
        else:
            ax.text(0.5, 0.5, "no flight attempts", transform=ax.transAxes, ha="center")
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
        if stacks:
            ax.legend(frameon=False, loc="upper right")
    if note:
        fig.suptitle(note, fontsize=8, x=0.01, ha="left")
    return fig


# ---------------------------------------------------------------------------
# revenue


@styled
def revenue_figure(
    years: np.ndarray,
    panels: Sequence[tuple[str, str, np.ndarray, Mapping[str, np.ndarray]]],
) -> Figure:
    """Stacked yearly bars of where each dollar goes; the line is the gross income.

    ``panels``: (title, gross label, gross (Y,), {part: (Y,)}) with means over
    replicates, so the parts add up to the gross.
    """
    n = max(1, len(panels))
    fig = _new_figure(4.2 * n, 3.9)
    axes = fig.subplots(1, n, squeeze=False)[0]
    colors = ["#b23a48", "#f2a541", "#6c8ead", "#7fb069", "#999999"]
    for ax, (title, gross_label, gross, parts) in zip(axes, panels, strict=False):
        pos = np.zeros(len(years))
        neg = np.zeros(len(years))
        for (name, values), color in zip(parts.items(), colors, strict=False):
            v = np.asarray(values, dtype=float)
            up = np.where(v > 0, v, 0.0)
            down = np.where(v < 0, v, 0.0)
            ax.bar(years, up, bottom=pos, color=color, label=name, width=0.75)
            ax.bar(years, down, bottom=neg, color=color, width=0.75)
            pos = pos + up
            neg = neg + down
        ax.plot(years, gross, color="#111111", marker="o", markersize=3, label=gross_label)
        ax.axhline(0.0, color="#555555", linewidth=0.6)
        ax.set_title(title, loc="left")
        ax.set_ylabel("USD per year (mean over replicates)")
        ax.yaxis.set_major_formatter(_axis_formatter("USD"))
        ax.set_xticks(years)
        ax.tick_params(axis="x", rotation=45 if len(years) > 6 else 0)
        ax.legend(
            frameon=False, fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2
        )
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    return fig


# ---------------------------------------------------------------------------
# experiments


@styled
def bar_indices_figure(
    title: str,
    factors: Sequence[str],
    values: Mapping[str, np.ndarray],
    errors: Mapping[str, np.ndarray] | None = None,
    xlim: tuple[float, float] | None = None,
) -> Figure:
    """Horizontal grouped bars of sensitivity indices (e.g. S1 and ST) per factor.

    ``xlim`` keeps the axis on the indices when confidence intervals are huge
    (small samples); whiskers beyond it are clipped.
    """
    errors = errors or {}
    k = max(1, len(values))
    n = len(factors)
    fig = _new_figure(6.5, 0.28 * n + 1.2)
    ax = fig.add_subplot()
    y = np.arange(n)
    h = 0.8 / k
    for j, (name, v) in enumerate(values.items()):
        ax.barh(
            y + (j - (k - 1) / 2) * h,
            v,
            height=h,
            xerr=errors.get(name),
            label=name,
            error_kw={"linewidth": 0.6},
        )
    ax.set_yticks(y, list(factors))
    ax.invert_yaxis()
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.axvline(0.0, color="#555555", linewidth=0.6)
    ax.set_title(title, loc="left")
    ax.legend(frameon=False)
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    return fig


@styled
def posterior_figure(
    marginals: Sequence[tuple[str, np.ndarray, np.ndarray, tuple[float, float] | None]],
) -> Figure:
    """Weighted histograms of posterior samples: (name, values, weights, prior range)."""
    n = max(1, len(marginals))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = _new_figure(2.6 * cols, 2.0 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(marginals):
            ax.set_visible(False)
            continue
        name, values, weights, prior = marginals[i]
        finite = np.isfinite(values)
        ax.hist(
            values[finite],
            bins=20,
            weights=weights[finite],
            color=COLOR_A,
            alpha=0.75,
            density=True,
        )
        if prior is not None:
            ax.axvspan(prior[0], prior[1], color="#cccccc", alpha=0.35, zorder=0, label="prior")
        ax.set_title(name, loc="left", fontsize=7.5)
        ax.set_yticks([])
    fig.suptitle(
        "Calibration posterior (weighted); grey: prior range", fontsize=9, x=0.01, ha="left"
    )
    return fig


@styled
def validation_figure(
    panels: Sequence[tuple[str, np.ndarray, Band, Observed]],
) -> Figure:
    """Simulated bands against observed points, one panel per series."""
    n = max(1, len(panels))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _new_figure(3.2 * cols, 2.3 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(panels):
            ax.set_visible(False)
            continue
        name, x, band, obs = panels[i]
        ax.fill_between(x, band.p5, band.p95, color=COLOR_A, alpha=0.18, linewidth=0)
        ax.fill_between(x, band.p25, band.p75, color=COLOR_A, alpha=0.35, linewidth=0)
        ax.plot(x, band.p50, color=COLOR_A, linewidth=1.2, label="simulated")
        draw_observed(ax, obs)
        ax.set_title(name, loc="left")
        ax.legend(frameon=False)
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    fig.suptitle("Validation: simulated vs observed", fontsize=9, x=0.01, ha="left")
    return fig


@styled
def prim_figure(
    boxes: Sequence[tuple[str, Sequence[tuple[str, float, float]]]],
) -> Figure:
    """PRIM boxes: each restricted dimension as a bar over its [0, 1]-scaled range."""
    dims = sorted({d for _, rows in boxes for d, _, _ in rows})
    n = max(1, len(dims))
    fig = _new_figure(6.5, 0.32 * n + 1.2)
    ax = fig.add_subplot()
    k = max(1, len(boxes))
    h = 0.8 / k
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (label, rows) in enumerate(boxes):
        for m, (d, lo, hi) in enumerate(rows):
            i = dims.index(d)
            ax.barh(
                i + (j - (k - 1) / 2) * h,
                hi - lo,
                left=lo,
                height=h,
                color=colors[j % len(colors)],
                label=label if m == 0 else None,
            )
    ax.set_yticks(np.arange(len(dims)), dims)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("restricted range, scaled to the explored range")
    ax.set_title("PRIM boxes", loc="left")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(frameon=False)
    return fig
