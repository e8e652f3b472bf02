"""Policy robustness and policy search: the regret heat map and the Pareto set's coordinates.

:func:`regret_figure` is the heat map of ``lipsteeth robust`` and its report section:
policies by objectives, each cell a regret metric (90th-percentile regret by default)
scaled by the largest of that objective's column, so objectives in USD and in tests
share one colour scale; the cell text is the regret in the objective's unit.
:func:`parallel_figure` draws the Pareto set of ``lipsteeth optimize``: one line per
solution through its lever values and objective metrics, each axis scaled to [0, 1] of
its own range over the set (the labels give the range).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, compact, new_figure, styled


@styled
def regret_figure(
    regret: np.ndarray,
    policies: Sequence[str],
    objectives: Sequence[str],
    *,
    units: Sequence[str] | None = None,
    metric: str = "90th-percentile regret",
) -> Figure:
    """Heat map of ``regret`` ``(P, K)``: darker is worse; 0 is the best policy of a column."""
    regret = np.asarray(regret, dtype=float)
    n_p, n_k = regret.shape
    scale = np.nanmax(np.where(np.isfinite(regret), regret, np.nan), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shown = np.where(scale > 0, regret / np.where(scale > 0, scale, 1.0), 0.0)
    fig = new_figure(max(5.5, 1.1 * n_k + 2.5), 0.45 * n_p + 1.8)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(np.arange(n_k), list(objectives), rotation=30, ha="right")
    ax.set_yticks(np.arange(n_p), list(policies))
    for p in range(n_p):
        for k in range(n_k):
            value = regret[p, k]
            unit = units[k] if units is not None else ""
            text = "n/a" if not np.isfinite(value) else compact(float(value), unit)
            ax.text(
                k,
                p,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[p, k] > 0.6 else "#111111",
            )
    fig.colorbar(image, ax=ax, label="share of the column's largest")
    ax.set_title(f"{metric} by policy and objective (0: no regret)", loc="left")
    return fig


@styled
def parallel_figure(
    values: np.ndarray,
    axes: Sequence[str],
    *,
    highlight: Sequence[int] = (),
    title: str = "Pareto set",
) -> Figure:
    """Parallel coordinates of ``values`` ``(S, A)``: one line per solution, axes in [0, 1]."""
    values = np.asarray(values, dtype=float)
    n_s, n_a = values.shape
    low = np.nanmin(values, axis=0) if n_s else np.zeros(n_a)
    high = np.nanmax(values, axis=0) if n_s else np.ones(n_a)
    span = np.where(high > low, high - low, 1.0)
    scaled = (values - low) / span
    fig = new_figure(max(6.5, 1.2 * n_a + 1.5), 4.4)
    ax = fig.add_subplot()
    x = np.arange(n_a)
    for s in range(n_s):
        emphasis = s in set(highlight)
        ax.plot(
            x,
            scaled[s],
            color=PALETTE[1] if emphasis else PALETTE[0],
            alpha=0.9 if emphasis else 0.45,
            linewidth=1.6 if emphasis else 0.9,
            marker="o",
            markersize=2.5,
        )
    for j in range(n_a):
        ax.axvline(j, color="#888888", linewidth=0.5)
        ax.annotate(
            compact(float(low[j])), (j, 0), xytext=(2, -10), textcoords="offset points", fontsize=6
        )
        ax.annotate(
            compact(float(high[j])), (j, 1), xytext=(2, 4), textcoords="offset points", fontsize=6
        )
    ax.set_xticks(x, list(axes), rotation=30, ha="right")
    ax.set_ylim(-0.08, 1.08)
    ax.set_yticks([])
    ax.set_title(f"{title}: {n_s} solutions (each axis: lowest to highest in the set)", loc="left")
    return fig
