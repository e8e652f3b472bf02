"""Static figures for reports, papers and the experiment commands (matplotlib's object API).

Every drawing function takes plain data (NumPy arrays and the small
dataclasses below) and returns a :class:`matplotlib.figure.Figure`; nothing
uses pyplot's global state and importing this package selects no backend.
:func:`save_figure` writes a figure as PNG and SVG (reproducible bytes: no
dates in the metadata, a fixed SVG hash salt) and returns the SVG text for a
self-contained HTML report; :func:`write_png` writes one PNG atomically.

Each kind of figure is drawn by one function, whoever calls it:

=====================  ==============================  ===========================
kind                   drawn by                        fed from experiment objects
=====================  ==============================  ===========================
fan charts             :func:`fan_grid`
two runs compared      :func:`comparison_grid`
flow of people         :func:`flow_figure`
group sizes            :func:`group_size_figure`
revenue decomposition  :func:`revenue_figure`
sensitivity indices    :func:`sensitivity_figure`      :func:`index_bars_of`
convergence            :func:`convergence_figure`
posterior              :func:`posterior_figure`        :func:`marginals_of`
ABC-SMC diagnostics    :func:`abc_diagnostics_figure`
NPE certificate        :func:`certificate_figure`      :func:`certificate_of`
PRIM boxes             :func:`prim_figure`             :func:`prim_boxes_of`
PRIM peeling           :func:`peeling_figure`
levers set, in force   :func:`levers_figure`           (``LeverInForce`` rows)
validation             :func:`validation_figure`       :func:`validation_panels`
policy regret          :func:`regret_figure`
Pareto set             :func:`parallel_figure`
=====================  ==============================  ===========================
"""

from __future__ import annotations

from .breakdowns import group_size_figure, revenue_figure
from .calibration import (
    Marginal,
    abc_diagnostics_figure,
    marginals_of,
    posterior_figure,
    posterior_note,
)
from .certificate import Certificate, certificate_figure, certificate_from, certificate_of
from .discovery import PrimBox, peeling_figure, prim_boxes_of, prim_figure, scaled_limits
from .fans import Observed, Series, comparison_grid, draw_fan, draw_observed, fan_grid
from .flow import FlowLink, FlowNode, flow_figure, log_width
from .levers import levers_figure
from .robustness import parallel_figure, regret_figure
from .sensitivity import (
    IndexBars,
    convergence_figure,
    index_bars,
    index_bars_of,
    sensitivity_figure,
)
from .style import (
    COLOR_A,
    COLOR_B,
    COLOR_DIFF,
    COLOR_OBSERVED,
    PNG_DPI,
    QUANTILES,
    STYLE,
    Band,
    FigureFiles,
    compact,
    figure_svg,
    png_bytes,
    save_figure,
    styled,
    write_png,
)
from .validation import (
    ValidationPanel,
    ValidationPoint,
    scores_text,
    validation_figure,
    validation_panels,
)

__all__ = [
    "COLOR_A",
    "COLOR_B",
    "COLOR_DIFF",
    "COLOR_OBSERVED",
    "PNG_DPI",
    "QUANTILES",
    "STYLE",
    "Band",
    "Certificate",
    "FigureFiles",
    "FlowLink",
    "FlowNode",
    "IndexBars",
    "Marginal",
    "Observed",
    "PrimBox",
    "Series",
    "ValidationPanel",
    "ValidationPoint",
    "abc_diagnostics_figure",
    "certificate_figure",
    "certificate_from",
    "certificate_of",
    "compact",
    "comparison_grid",
    "convergence_figure",
    "draw_fan",
    "draw_observed",
    "fan_grid",
    "figure_svg",
    "flow_figure",
    "group_size_figure",
    "index_bars",
    "index_bars_of",
    "levers_figure",
    "log_width",
    "marginals_of",
    "peeling_figure",
    "png_bytes",
    "posterior_figure",
    "parallel_figure",
    "posterior_note",
    "prim_boxes_of",
    "prim_figure",
    "regret_figure",
    "revenue_figure",
    "save_figure",
    "scaled_limits",
    "scores_text",
    "sensitivity_figure",
    "styled",
    "validation_figure",
    "validation_panels",
    "write_png",
]
