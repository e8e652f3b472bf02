"""Scenario discovery with PRIM: the boxes' limits and the peeling trajectories.

:func:`prim_figure` is the one drawing of PRIM boxes, used by
``lipsteeth discover`` (through :func:`prim_boxes_of` a
:class:`~lipsteeth.experiment.discovery.DiscoveryResult`) and by the report
(from a table of box limits in a results folder).  Both scale each limit to
the explored range of its factor with :func:`scaled_limits`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, new_figure, styled

if TYPE_CHECKING:
    from ...experiment.discovery import DiscoveryResult

#: at most this many boxes in one figure
MAX_BOXES = 6


@dataclass(frozen=True)
class PrimBox:
    """One box: the restricted range of each factor, scaled to [0, 1] of its explored range."""

    label: str
    limits: Mapping[str, tuple[float, float]]


def scaled_limits(
    limits: Mapping[str, tuple[float, float]], bounds: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Limits as shares of each factor's explored range (0: its low end, 1: its high end).

    A factor without known bounds is scaled to its own limits (it then spans 0 to 1).
    """
    out: dict[str, tuple[float, float]] = {}
    for name, (lo, hi) in limits.items():
        r0, r1 = bounds.get(name, (lo, hi))
        span = (r1 - r0) or 1.0
        out[name] = (float((lo - r0) / span), float((hi - r0) / span))
    return out


def prim_boxes_of(
    result: DiscoveryResult, bounds: Mapping[str, tuple[float, float]]
) -> list[PrimBox]:
    """The boxes PRIM found, each scaled to the design's factor ranges ``bounds``."""
    return [PrimBox(f"box {b.index}", scaled_limits(b.limits, bounds)) for b in result.boxes]


@styled
def prim_figure(boxes: Sequence[PrimBox], *, title: str = "PRIM boxes") -> Figure:
    """Each box's restricted factors as bars over their scaled range, one colour per box."""
    shown = list(boxes)[:MAX_BOXES]
    dims = sorted({d for box in shown for d in box.limits})
    fig = new_figure(6.5, 0.32 * max(1, len(dims)) + 1.2)
    ax = fig.add_subplot()
    k = max(1, len(shown))
    h = 0.8 / k
    for j, box in enumerate(shown):
        for m, (d, (lo, hi)) in enumerate(box.limits.items()):
            ax.barh(
                dims.index(d) + (j - (k - 1) / 2) * h,
                hi - lo,
                left=lo,
                height=h,
                color=PALETTE[j % len(PALETTE)],
                label=box.label if m == 0 else None,
            )
    ax.set_yticks(np.arange(len(dims)), dims)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("restricted range, as a share of the explored range")
    ax.set_title(title, loc="left")
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    if shown and any(box.limits for box in shown):
        ax.legend(frameon=False)
    return fig


@styled
def peeling_figure(result: DiscoveryResult) -> Figure:
    """PRIM peeling trajectories: density against coverage, colour = restricted factors."""
    fig = new_figure(6.5, 4.6)
    ax = fig.add_subplot()
    points = None
    for box in result.boxes:
        t = box.trajectory
        points = ax.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=12)
        ax.plot(t["coverage"], t["density"], linewidth=0.6, color="#888888")
        ax.scatter([box.coverage], [box.density], marker="*", s=160, color="#c8501e", zorder=5)
        ax.annotate(
            f"box {box.index}",
            (box.coverage, box.density),
            fontsize=7,
            xytext=(5, 5),
            textcoords="offset points",
        )
    if points is not None:
        fig.colorbar(points, ax=ax, label="restricted factors")
    ax.set_xlabel("coverage")
    ax.set_ylabel("density")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    word = ">" if result.direction == "above" else "<"
    ax.set_title(
        f"PRIM peeling: {result.outcome} {word} {result.threshold:g} "
        f"({result.n_of_interest} of {result.n_points} runs)",
        loc="left",
    )
    return fig
