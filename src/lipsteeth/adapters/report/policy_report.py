"""The report of a ``lipsteeth robust`` or ``lipsteeth optimize`` experiment folder.

``write_policy_report(folder)`` writes ``report.html`` (self-contained, figures also as
PNG and SVG in ``figures/``) into the experiment folder
(``<results root>/experiments/<id>``): the robustness section (metrics, rankings,
regret heat map, PRIM boxes) or the search section (Pareto set, parallel coordinates,
the set's robustness), the same sections a run's report shows for the experiments of
its scenario.
"""

from __future__ import annotations

from pathlib import Path

from .extras import policy_extra
from .files import FIGURES_DIR, REPORT_FILE, ReportError, atomic_write, read_json
from .render import FigureBook, render
from .sections import robustness_section, search_section

POLICY_KINDS = ("robust", "optimize")


def is_policy_experiment(folder: Path) -> bool:
    """Whether ``folder`` is a ``robust`` or ``optimize`` experiment (by its manifest)."""
    manifest = Path(folder) / "manifest.json"
    return manifest.is_file() and read_json(manifest).get("kind") in POLICY_KINDS


def write_policy_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the experiment's ``report.html`` (or ``out``); returns its path."""
    folder = Path(folder)
    manifest = read_json(folder / "manifest.json")
    if manifest.get("status") != "complete":
        raise ReportError(f"{folder}: the experiment is not complete (run it with --resume)")
    extra = policy_extra(folder, manifest)
    if extra is None:
        raise ReportError(f"{folder}: no analysis tables of a robust or optimize experiment")
    html_path = Path(out) if out is not None else folder / REPORT_FILE
    out_dir = html_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    book = FigureBook(out_dir, out_dir / FIGURES_DIR)
    if manifest.get("kind") == "robust":
        sections = [robustness_section([extra], book)]
        title = f"lipsteeth robust: {manifest.get('scenario')}"
    else:
        sections = [search_section([extra], book)]
        title = f"lipsteeth optimize: {manifest.get('scenario')}"
    run_meta = [
        ("experiment", manifest.get("experiment", folder.name)),
        ("scenario", manifest.get("scenario")),
        ("seed", manifest.get("seed")),
        ("command", " ".join(manifest.get("command_line") or [])),
        ("lipsteeth", (manifest.get("versions") or {}).get("lipsteeth")),
    ]
    text = render(
        "report.html.j2", title=title, description="", run_meta=run_meta, sections=sections
    )
    atomic_write(html_path, text)
    return html_path
