"""Levers as set and in force: the analyst's setting beside what Beijing's discretion made
of it (M9; issue 12, set versus effective levers).

:func:`levers_figure` draws one panel per lever: the set value as a step line, the
value in force as the median over replicates with its 90 % band.  One run's levers,
or two runs' (A and B) overlaid.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from ...experiment.summary import LeverInForce
from .style import COLOR_A, COLOR_B, axis_formatter, panel_grid, styled, suptitle_left

#: the set value's line: dark grey, so the colours stay the runs'
COLOR_SET = "#333333"


@styled
def levers_figure(
    runs: Sequence[tuple[str, Sequence[LeverInForce]]], *, columns: int = 4
) -> Figure:
    """One panel per lever of the first run: set (step line) and in force (median, 90 %).

    ``runs`` holds (label, levers) of one run or of two (A then B, drawn in their
    colours); a lever missing from a later run is left out of its panel.
    """
    first = list(runs[0][1]) if runs else []
    fig, axes = panel_grid(len(first), columns, 2.3, 1.75)
    colours = (COLOR_A, COLOR_B)
    for i, lever in enumerate(first):
        ax = axes[i]
        for k, (label, levers) in enumerate(runs):
            row = next((r for r in levers if r.lever == lever.lever), None)
            if row is None:
                continue
            x = np.asarray(row.years, dtype=float)
            colour = colours[k % len(colours)]
            prefix = f"{label}: " if len(runs) > 1 else ""
            ax.fill_between(x, row.p5, row.p95, color=colour, alpha=0.22, linewidth=0, step="mid")
            ax.step(
                x,
                row.median,
                where="mid",
                color=colour,
                linewidth=1.4,
                label=f"{prefix}in force (median, 90 %)",
            )
            ax.step(
                x,
                row.set_value,
                where="mid",
                color=COLOR_SET if len(runs) == 1 else colour,
                linewidth=1.0,
                linestyle=(0, (4, 2)),
                label=f"{prefix}set",
            )
        ax.set_title(f"{lever.lever}\nin force: {lever.outcome}", loc="left")
        ax.set_ylabel(lever.unit)
        ax.yaxis.set_major_formatter(axis_formatter(lever.unit))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4, integer=True))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
        ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    if first:
        # one legend below the panels: inside one it would hide that panel's lines
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=len(labels),
            frameon=False,
            handlelength=1.6,
        )
    suptitle_left(
        fig,
        "Levers as set (dashed step) and in force after Beijing's and the hosts' "
        "discretion (M9): yearly averages; in force: median and 90 % band over replicates",
    )
    return fig
