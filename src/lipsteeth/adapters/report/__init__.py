"""Reports of results folders: one self-contained HTML file, figures as PNG and SVG.

``write_report(folder)`` reads a results folder written by
:mod:`lipsteeth.adapters.store` and writes, inside it::

    report.html                 self-contained: inline CSS and SVG, no script, no fetch
    figures/*.png, *.svg        every figure of the report, for papers

The report holds the run's provenance, the facts F1-F9 table, the ledger
checks, fan charts of every outcome (observed data from ``data/`` overlaid
where a series exists), the flow of people, the group-size distribution of
flight attempts, the revenue decomposition, any experiment outputs found in
the folder (``sensitivity*.parquet``, ``posterior*.parquet``,
``validation*.parquet``, ``prim*.parquet``) and the scenario with every
parameter, its value, range, unit, mechanism and provenance.

``write_comparison(a, b)`` writes a report of two runs side by side with the
levers of each as set and in force and the difference of every outcome and its
uncertainty (``comparison_dict`` gives the same as JSON): paired per replicate when
both runs used the same seed and replicates (common random numbers), else
from independent draws, with bootstrap confidence intervals of the
difference of medians.

``--format pdf`` prints the HTML with headless Chromium when it is
installed (``scripts/install_chromium.sh``); otherwise the figures and the
facts are written to a multi-page PDF with matplotlib.

The package is split by what it does:

* loading: :mod:`.results` (outcomes, events, manifest), :mod:`.extras`
  (experiment outputs), :mod:`.observed` (data overlays), :mod:`.files`;
* statistics: :mod:`.stats` (bands, flow of people, group sizes, revenue),
  :mod:`.differences` (B - A with bootstrap intervals), :mod:`.experiments`
  (experiment tables read into figure inputs), :mod:`.provenance`;
* rendering: :mod:`.render` (Jinja2 with autoescape), :mod:`.sections`,
  :mod:`.run_report`, :mod:`.compare`, :mod:`.pdf`, and ``templates/``.
"""

from __future__ import annotations

from .categories import COMPARE_OUTCOMES
from .compare import build_comparison_html, comparison_dict, write_comparison
from .differences import Difference, compare_differences, difference, paired_runs
from .extras import EXTRA_PATTERNS, Extra, find_extras
from .files import FIGURES_DIR, REPORT_FILE, REPORT_PDF, Format, ReportError
from .observed import observed_yearly
from .pdf import CHROMIUM, CHROMIUM_ARGS, html_to_pdf, pdf_fallback
from .provenance import scenario_rows
from .render import esc, fmt_cell, linkify
from .results import Results, load_results
from .run_report import build_report_html, write_report
from .stats import GroupSizes, PeopleFlow, Stat, group_sizes, people_flow, revenue_panels

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "COMPARE_OUTCOMES",
    "EXTRA_PATTERNS",
    "FIGURES_DIR",
    "REPORT_FILE",
    "REPORT_PDF",
    "Difference",
    "Extra",
    "Format",
    "GroupSizes",
    "PeopleFlow",
    "ReportError",
    "Results",
    "Stat",
    "build_comparison_html",
    "comparison_dict",
    "build_report_html",
    "compare_differences",
    "difference",
    "esc",
    "find_extras",
    "fmt_cell",
    "group_sizes",
    "html_to_pdf",
    "linkify",
    "load_results",
    "observed_yearly",
    "paired_runs",
    "pdf_fallback",
    "people_flow",
    "revenue_panels",
    "scenario_rows",
    "write_comparison",
    "write_report",
]
