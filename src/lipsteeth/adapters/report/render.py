"""Rendering: the Jinja2 environment (autoescape on), cell formatting, tables and figures.

Templates live in ``templates/`` (package data).  Every value a template
prints is escaped unless it is :class:`markupsafe.Markup`: only the SVG text
matplotlib writes and the links :func:`linkify` builds are marked safe.
"""

from __future__ import annotations

import importlib.metadata
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup, escape

from ..figures import FigureFiles, compact, save_figure

_URL = re.compile(r"(https?://[^\s;,'\"<>)]+)")


def esc(value: Any) -> Markup:
    """HTML-escaped text of ``value`` (None as the empty string)."""
    return escape("" if value is None else str(value))


def linkify(text: Any) -> Markup:
    """Escaped text with URLs as links (links are not fetched when the page is viewed)."""
    parts = _URL.split("" if text is None else str(text))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(Markup('<a href="{0}" rel="noreferrer noopener">{0}</a>').format(part))
        else:
            out.append(esc(part))
    return Markup("").join(out)


def fmt_cell(value: Any) -> Markup:
    """A table cell: numbers compact, None as n/a, booleans yes/no, the rest escaped."""
    if value is None:
        return Markup("n/a")
    if isinstance(value, bool | np.bool_):
        return Markup("yes" if value else "no")
    if isinstance(value, int | np.integer):
        return Markup(f"{int(value):,}")
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return Markup("n/a" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e7):
            return Markup(f"{v:.3g}")
        return Markup(f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}")
    return linkify(value)


@dataclass(frozen=True)
class Table:
    """An HTML table of dict rows: its columns, the row cells, and CSS classes."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    css: str = ""
    row_classes: tuple[str, ...] = ()
    cell_classes: Mapping[str, str] = field(default_factory=dict)  # column -> class

    @classmethod
    def of(
        cls,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str] | None = None,
        *,
        css: str = "",
        row_class: Callable[[Mapping[str, Any]], str] | None = None,
        cell_classes: Mapping[str, str] | None = None,
    ) -> Table:
        """A table of ``rows``; columns default to the first row's keys not starting with _."""
        cols = tuple(columns or [c for c in (rows[0] if rows else {}) if not c.startswith("_")])
        return cls(
            columns=cols,
            rows=tuple(tuple(r.get(c) for c in cols) for r in rows),
            css=css,
            row_classes=tuple(row_class(r) for r in rows) if row_class else (),
            cell_classes=dict(cell_classes or {}),
        )

    def row_class(self, i: int) -> str:
        """The CSS class of row ``i`` ('' for none)."""
        return self.row_classes[i] if i < len(self.row_classes) else ""


@dataclass(frozen=True)
class FigureRef:
    """A figure written for the report: its inline SVG and its files relative to the page."""

    stem: str
    svg: Markup
    png_path: str
    svg_path: str


@dataclass
class FigureBook:
    """Writes figures to ``figures_dir`` and remembers them (for the file list and the PDF)."""

    out_dir: Path
    figures_dir: Path
    written: list[FigureFiles] = field(default_factory=list)

    def add(self, fig: Any, stem: str) -> FigureRef:
        """Save ``fig`` as PNG and SVG; the reference a template shows it by."""
        files = save_figure(fig, self.figures_dir, stem)
        self.written.append(files)

        def shown(path: Path) -> str:
            return str(
                path.relative_to(self.out_dir) if path.is_relative_to(self.out_dir) else path
            )

        # matplotlib's SVG writer escapes every text it holds: the SVG is safe to inline
        return FigureRef(files.stem, Markup(files.svg_text), shown(files.png), shown(files.svg))


def version() -> str:
    """The installed lipsteeth version ('?' when it is not installed)."""
    try:
        return importlib.metadata.version("lipsteeth")
    except importlib.metadata.PackageNotFoundError:
        return "?"


@cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape, undefined names refused."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lipsteeth.adapters.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = fmt_cell
    env.filters["linkify"] = linkify
    env.filters["compact"] = compact
    env.globals["version"] = version
    return env


def render(template: str, **context: Any) -> str:
    """Render a template of the package with ``context``."""
    return environment().get_template(template).render(**context)
