"""The dashboard: ``/`` and its static files (plotly.js from the plotly package, no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse

from ..limits import JobError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MEDIA = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)


def plotly_js_path() -> Path | None:
    """The plotly.js bundle shipped inside the ``plotly`` Python package."""
    try:
        path = resources.files("plotly") / "package_data" / "plotly.min.js"
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


@router.get("/")
def index() -> Response:
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-store"}
    )


@router.get("/static/vendor/plotly.min.js")
def plotly_js() -> Response:
    path = plotly_js_path()
    if path is None:
        raise JobError(404, "plotly is not installed (pip install 'lipsteeth[web]')")
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/static/{name}")
def static(
    name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]+\.(js|css|html|svg)$")],
) -> Response:
    path = STATIC_DIR / name
    if not path.is_file():
        raise JobError(404, f"no static file {name}")
    return FileResponse(path, media_type=MEDIA[path.suffix], headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/login")
def login() -> Response:
    return RedirectResponse("/")
