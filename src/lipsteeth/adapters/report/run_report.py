"""The report of one run: ``report.html`` (and ``report.pdf``) with figures as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

from ..figures import FigureFiles
from .files import FIGURES_DIR, REPORT_FILE, REPORT_PDF, Format, atomic_write, check_format
from .pdf import write_pdf
from .render import FigureBook, render
from .results import Results, load_results
from .sections import (
    Section,
    calibration_section,
    certificate_section,
    facts_section,
    fans_section,
    files_section,
    flow_section,
    groups_section,
    header_meta,
    ledger_section,
    levers_section,
    numbers_section,
    prim_section,
    revenue_section,
    robustness_section,
    scenario_section,
    search_section,
    sensitivity_section,
    validation_section,
)


def build_report_html(res: Results, out_dir: Path) -> tuple[str, list[FigureFiles]]:
    """The HTML text of a run's report; figures are written to ``out_dir/figures``."""
    book = FigureBook(out_dir, out_dir / FIGURES_DIR)
    sections: list[Section] = [
        facts_section(res),
        ledger_section(res),
        numbers_section(res),
        levers_section(res, book),
        fans_section(res, book),
        flow_section(res, book),
        groups_section(res, book),
        revenue_section(res, book),
    ]
    extras = res.extras
    if "sensitivity" in extras:
        sections.append(sensitivity_section(extras["sensitivity"], book))
    if "calibration" in extras:
        sections.append(calibration_section(res, extras["calibration"], book))
        if (certificates := certificate_section(extras["calibration"], book)) is not None:
            sections.append(certificates)
    if "validation" in extras:
        sections.append(validation_section(extras["validation"], book))
    if "discovery" in extras:
        sections.append(prim_section(res, extras["discovery"], book))
    if "robustness" in extras:
        sections.append(robustness_section(extras["robustness"], book))
    if "search" in extras:
        sections.append(search_section(extras["search"], book))
    sections.append(scenario_section(res))
    sections.append(files_section(res, book.written))
    scenario = res.manifest.get("scenario", {}).get("scenario", {})
    text = render(
        "report.html.j2",
        title=f"lipsteeth report: {res.scenario_name}",
        description=scenario.get("description", ""),
        run_meta=header_meta(res),
        sections=sections,
    )
    return text, book.written


def write_report(
    folder: str | Path, *, fmt: Format = "html", out: str | Path | None = None
) -> Path:
    """Write ``report.html`` (and ``report.pdf`` for ``fmt="pdf"``) for a results folder.

    Figures go to ``<folder>/figures`` (or next to ``out``).  Returns the path of
    the report in the requested format.
    """
    check_format(fmt)
    res = load_results(folder)
    html_path = Path(out) if out is not None and fmt == "html" else res.folder / REPORT_FILE
    if out is not None and fmt == "pdf":
        html_path = Path(out).with_suffix(".html")
    out_dir = html_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    text, written = build_report_html(res, out_dir)
    atomic_write(html_path, text)
    if fmt == "html":
        return html_path
    pdf_path = Path(out) if out is not None else res.folder / REPORT_PDF
    write_pdf(html_path, pdf_path, f"lipsteeth report: {res.scenario_name}", res, written)
    return pdf_path
