"""PDF output: the HTML page printed by headless Chromium, else the figures by matplotlib."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..figures import FigureFiles, compact
from ..store import atomic_path
from .results import Results

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def html_to_pdf(html_path: Path, pdf_path: Path, *, chromium: Path | None = None) -> bool:
    """Print an HTML file to PDF with headless Chromium; False if Chromium is unavailable."""
    chromium = CHROMIUM if chromium is None else chromium
    if not chromium.exists():
        return False
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.pdf(path=str(pdf_path), format="A4", landscape=True, print_background=True)
        finally:
            browser.close()
    return True


def pdf_fallback(pdf_path: Path, title: str, res: Results, written: Sequence[FigureFiles]) -> None:
    """A multi-page PDF of the facts table and every figure (matplotlib only)."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    with PdfPages(pdf_path, metadata={"Title": title, "CreationDate": None}) as pdf:
        page = Figure(figsize=(11.7, 8.3))
        lines = [title, ""]
        for f in res.manifest.get("facts") or []:
            mark = {True: "ok ", False: "NO "}.get(f.get("consistent"), "-- ")
            lines.append(
                f"{mark} {f.get('id')}: {f.get('statistic')}  target {f.get('target')}  "
                f"median {compact(f.get('median'))}"
            )
        page.text(0.03, 0.97, "\n".join(lines), va="top", family="monospace", fontsize=7)
        pdf.savefig(page)
        for files in written:
            fig = Figure(figsize=(11.7, 8.3))
            ax = fig.add_axes((0, 0, 1, 1))
            ax.imshow(imread(files.png))
            ax.axis("off")
            pdf.savefig(fig)


def write_pdf(
    html_path: Path, pdf_path: Path, title: str, res: Results, written: Sequence[FigureFiles]
) -> None:
    """``pdf_path`` from the page at ``html_path`` (or the fallback), written atomically."""
    with atomic_path(pdf_path) as tmp:
        if not html_to_pdf(html_path, tmp):
            pdf_fallback(tmp, title, res, written)
