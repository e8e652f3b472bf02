"""The flow of people: postings, flight attempts, their fate by route, arrival in South Korea.

An alluvial diagram whose box heights and band widths are on a log scale
(log10(1 + persons)), so that tens of defectors show next to tens of
thousands of workers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from .style import compact, new_figure, styled


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
    fig = new_figure(11.0, 5.6)
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
