"""Breakdowns of a run: flight attempts by group size, and where each dollar goes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .style import axis_formatter, new_figure, styled


@styled
def group_size_figure(
    panels: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
    *,
    note: str = "",
) -> Figure:
    """Stacked bars per group size: panels of (title, sizes, {outcome: groups per replicate})."""
    n = max(1, len(panels))
    fig = new_figure(4.4 * n, 3.2)
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
    fig = new_figure(4.2 * n, 3.9)
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
        ax.yaxis.set_major_formatter(axis_formatter("USD"))
        ax.set_xticks(years)
        ax.tick_params(axis="x", rotation=45 if len(years) > 6 else 0)
        ax.legend(
            frameon=False, fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2
        )
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    return fig
