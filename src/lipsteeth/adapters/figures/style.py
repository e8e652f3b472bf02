"""The house style and the output of every figure: PNG and SVG, reproducible bytes.

Figures are :class:`matplotlib.figure.Figure` objects drawn through their own
axes; nothing here touches pyplot's global state or selects a backend
(``Figure.savefig`` picks the canvas for the format).  :func:`styled` applies
the house style inside a drawing function only, so ``rcParams`` stay as the
caller left them.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from ..store import atomic_bytes

#: the house style, applied only inside this package's functions (rcParams stay untouched)
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

#: colours of runs A and B, of differences, of observed data; then the palette of boxes
COLOR_A = "#1f5fa8"
COLOR_B = "#c8501e"
COLOR_DIFF = "#4a7a2c"
COLOR_OBSERVED = "#111111"
COLOR_INSIDE = "#3b8f4c"
COLOR_OUTSIDE = "#c8501e"
COLOR_UNSCORED = "#888888"
PALETTE: tuple[str, ...] = (
    "#1f5fa8",
    "#e0a040",
    "#3b8f4c",
    "#c8501e",
    "#7d4b9a",
    "#6c8ead",
    "#b23a48",
    "#7fb069",
)
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
PNG_DPI = 150

F = TypeVar("F", bound=Callable[..., Any])


def styled(func: F) -> F:
    """Run ``func`` with the house style (``matplotlib.rc_context``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
            return func(*args, **kwargs)

    return cast(F, wrapper)


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


def axis_formatter(unit: str) -> matplotlib.ticker.FuncFormatter:
    """Tick labels in :func:`compact` numbers."""
    return matplotlib.ticker.FuncFormatter(lambda v, _pos: compact(v, unit))


# ---------------------------------------------------------------------------
# layout


def new_figure(width: float, height: float) -> Figure:
    """A figure laid out by matplotlib's constrained layout engine."""
    return Figure(figsize=(width, height), layout="constrained")


def grid_figure(
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


def panel_grid(n: int, max_cols: int, cell_w: float, cell_h: float) -> tuple[Figure, np.ndarray]:
    """Small multiples for ``n`` panels, at most ``max_cols`` a row; unused axes hidden."""
    n = max(1, n)
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    fig = new_figure(cell_w * cols, cell_h * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def suptitle_left(fig: Figure, *paragraphs: str, fontsize: float = 9) -> None:
    """The figure's title, flush left, each paragraph wrapped to the figure's width."""
    # about 0.55 em per character: a narrow figure gets its title on several lines
    width = max(30, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))
    lines = [line for text in paragraphs if text for line in textwrap.wrap(text, width)]
    fig.suptitle("\n".join(lines), fontsize=fontsize, x=0.01, ha="left")


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
def png_bytes(fig: Figure) -> bytes:
    """The PNG bytes of ``fig`` (no software tag: the same figure gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buf.getvalue()


def write_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (temporary file, then rename)."""
    atomic_bytes(png_bytes(fig), path)
    return path


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
