"""Fan charts: the median and the 50 % and 90 % bands over replicates, per outcome.

:func:`fan_grid` draws small multiples of many outcomes of one run, with
observed series overlaid where ``data/`` holds one; :func:`comparison_grid`
draws two runs side by side and the band of their difference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import matplotlib.axes
import numpy as np
from matplotlib.figure import Figure

from .style import (
    COLOR_A,
    COLOR_B,
    COLOR_DIFF,
    COLOR_OBSERVED,
    Band,
    axis_formatter,
    grid_figure,
    styled,
)


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


def _title_top_left(fig: Figure, text: str) -> None:
    # fixed-margin grids have no layout engine: place the title 0.08 in below the top edge
    fig.suptitle(text, fontsize=9, x=0.01, y=1 - 0.08 / fig.get_figheight(), ha="left", va="top")


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
    fig, axes = grid_figure(rows, cols, 2.0, 1.45)
    step = len(x) <= 3  # a few periods read better as steps than as slopes
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
        ax.yaxis.set_major_formatter(axis_formatter(s.unit))
        ax.margins(x=0.01)
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    _title_top_left(
        fig, f"{title}: median (line), 50 % (dark) and 90 % (light) bands over replicates"
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
    fig, axes = grid_figure(max(1, n), 2, 3.3, 1.45)
    step = len(x) <= 3
    for i in range(n):
        a, b = series_a[i], series_b[i]
        ax = axes[i, 0]
        draw_fan(ax, x, a.values, color=COLOR_A, label=label_a, step=step)
        draw_fan(ax, x, b.values, color=COLOR_B, label=label_b, step=step)
        ax.set_title(a.name, loc="left")
        ax.set_ylabel(a.unit)
        ax.yaxis.set_major_formatter(axis_formatter(a.unit))
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
        if i == 0:
            ax.legend(loc="best", frameon=False)
        dx = axes[i, 1]
        d = diff[i] if diff is not None else b.values - a.values
        draw_fan(dx, x, d, color=COLOR_DIFF, step=step)
        dx.axhline(0.0, color="#777777", linewidth=0.7)
        dx.set_title(f"{b.name}: B minus A", loc="left")
        dx.yaxis.set_major_formatter(axis_formatter(a.unit))
        dx.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    _title_top_left(fig, "Side by side (left) and difference with its 90 % band (right)")
    return fig
