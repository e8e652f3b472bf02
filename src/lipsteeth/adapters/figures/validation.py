"""Validation: the simulated median and 90 % band of each series against observed values.

:func:`validation_figure` is the one drawing of a validation, used by
``lipsteeth validate`` (through :func:`validation_panels` a
:class:`~lipsteeth.experiment.validation.ValidationReport`) and by the report
(from ``validation.json`` or a validation table in a results folder).
Scored observations are green inside the band and red outside; observations
not scored are grey open circles; an observed range is a vertical bar, with a
triangle where it is open-ended; a dashed line marks the split year of an
in-sample / out-of-sample validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .style import (
    COLOR_A,
    COLOR_INSIDE,
    COLOR_OUTSIDE,
    COLOR_UNSCORED,
    new_figure,
    styled,
    suptitle_left,
)

if TYPE_CHECKING:
    from ...experiment.validation import Observation, SimulatedBand, ValidationReport

#: at most this many series in one figure
MAX_PANELS = 12


@dataclass(frozen=True)
class ValidationPoint:
    """One observation: a value and/or a range; ``inside`` the band when it was scored."""

    x: float
    value: float | None
    low: float | None = None
    high: float | None = None
    inside: bool | None = None  # None: not scored


@dataclass(frozen=True)
class ValidationPanel:
    """One series: the simulated band on ``x`` and the observations beside it."""

    series: str
    x: np.ndarray
    p5: np.ndarray
    median: np.ndarray
    p95: np.ndarray
    points: tuple[ValidationPoint, ...] = ()
    unit: str = ""
    scores: str = ""  # e.g. "ARD 0.05  MASE 0.80  in band 50%"
    window: tuple[float | None, float | None] = (None, None)  # edges of the scored years
    split: float | None = None  # first year of the out-of-sample sub-window


def scores_text(ard: float | None, mase: float | None, coverage: float | None) -> str:
    """The scores of a series in one line."""

    def num(v: float | None) -> str:
        return "-" if v is None or not math.isfinite(v) else f"{v:.2f}"

    text = f"ARD {num(ard)}  MASE {num(mase)}"
    return text + (f"  in band {coverage:.0%}" if coverage is not None else "")


def validation_panels(
    report: ValidationReport,
    band_of: Callable[[str, bool], SimulatedBand],
    observations: Sequence[Observation] = (),
) -> list[ValidationPanel]:
    """Panels of a validation: each series' band and every observation.

    ``band_of(series, monthly)`` gives the simulated band of a series (from
    an ensemble over its horizon, or from a frozen forecast's periods).
    """
    from ...experiment.validation import SERIES, period_x

    panels = []
    for name, series in report.series.items():
        spec = SERIES[name]
        monthly = (
            any(c.observation.month is not None for c in series.comparisons)
            and spec.observation == "count"
        )
        band = band_of(name, monthly)
        points = []
        for comp in series.comparisons:
            obs = comp.observation
            low, high = obs.interval if obs.is_range else (None, None)
            points.append(
                ValidationPoint(
                    period_x(obs.year, obs.month, spec.observation),
                    obs.value,
                    low if low is None or math.isfinite(low) else None,
                    high if high is None or math.isfinite(high) else None,
                    comp.inside,
                )
            )
        scored = {c.observation for c in series.comparisons}
        for obs in observations:
            if obs.series == name and obs not in scored and obs.value is not None:
                points.append(
                    ValidationPoint(period_x(obs.year, obs.month, spec.observation), obs.value)
                )
        first = report.first_year
        last = report.last_year
        panels.append(
            ValidationPanel(
                series=name,
                x=band.x,
                p5=band.p5,
                median=band.median,
                p95=band.p95,
                points=tuple(points),
                unit=spec.unit,
                scores=scores_text(series.ard, series.mase, series.coverage),
                window=(
                    None if first is None else float(first),
                    None if last is None else float(last + 1),
                ),
                split=None if report.split is None else float(report.split),
            )
        )
    return panels


def _draw_point(ax: Any, p: ValidationPoint) -> None:
    color = {True: COLOR_INSIDE, False: COLOR_OUTSIDE, None: COLOR_UNSCORED}[p.inside]
    if p.low is not None or p.high is not None:
        lo = p.low if p.low is not None else p.value
        hi = p.high if p.high is not None else p.value
        if lo is not None and hi is not None:
            ax.vlines(p.x, lo, hi, color=color, linewidth=2.5, alpha=0.8)
        if p.high is None and lo is not None:  # open above: "at least"
            ax.plot([p.x], [lo], marker="^", color=color)
        if p.low is None and hi is not None:  # open below: "at most"
            ax.plot([p.x], [hi], marker="v", color=color)
    if p.value is not None and math.isfinite(p.value):
        face = "white" if p.inside is None else color
        ax.plot(
            [p.x],
            [p.value],
            marker="o",
            markersize=4,
            color=color,
            markerfacecolor=face,
            linestyle="none",
        )


@styled
def validation_figure(panels: Sequence[ValidationPanel], *, title: str = "") -> Figure:
    """One panel per series: the simulated median and 90 % band, observations beside it."""
    shown = list(panels)[:MAX_PANELS]
    n = max(1, len(shown))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = new_figure(3.6 * cols, 2.6 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes, shown, strict=False):
        if panel.x.size == 1:  # one period: a band has no width, draw it as a bar
            x0 = float(panel.x[0])
            ax.vlines(x0, panel.p5, panel.p95, color=COLOR_A, alpha=0.35, linewidth=8)
            ax.plot(panel.x, panel.median, marker="_", markersize=12, color=COLOR_A)
            ax.set_xlim(x0 - 1.0, x0 + 1.0)
        elif panel.x.size:
            ax.fill_between(panel.x, panel.p5, panel.p95, color=COLOR_A, alpha=0.22, linewidth=0)
            ax.plot(panel.x, panel.median, color=COLOR_A, linewidth=1.2, label="simulated")
        for point in panel.points:
            _draw_point(ax, point)
        for edge in panel.window:
            if edge is not None:
                ax.axvline(edge, color="#888888", linewidth=0.8, linestyle=":")
        if panel.split is not None:
            ax.axvline(panel.split, color="black", linewidth=0.8, linestyle="--")
        drawn = [*panel.p5, *[v for p in panel.points for v in (p.value, p.low, p.high)]]
        flat = np.array([v for v in drawn if v is not None], dtype=float)
        flat = flat[np.isfinite(flat)]
        if flat.size and flat.min() >= 0:  # counts and levels: the axis starts at zero
            ax.set_ylim(bottom=0)
        ax.set_title(panel.series + (f"\n{panel.scores}" if panel.scores else ""), loc="left")
        ax.set_ylabel(panel.unit)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))  # calendar years
        ax.grid(True, linewidth=0.3, alpha=0.5)
    legend = (
        "blue: simulated median and 90 % band; observed: green inside the band, red outside, "
        "grey circles not scored"
    )
    splits = {panel.split for panel in shown if panel.split is not None}
    if splits:
        legend += f"; dashed: split {int(min(splits))}"
    suptitle_left(fig, title, legend, fontsize=8.5)
    return fig
