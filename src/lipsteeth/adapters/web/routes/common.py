"""What every router shares: the job manager of the app and the documented error answers."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ..jobs import JobManager
from ..limits import Limits
from ..models import ErrorBody, ValidationErrorBody


def manager_of(request: Request) -> JobManager:
    """The app's job manager (a FastAPI dependency)."""
    manager: JobManager = request.app.state.manager
    return manager


def limits_of(request: Request) -> Limits:
    limits: Limits = request.app.state.manager.limits
    return limits


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of the error responses an endpoint may give."""
    text = {
        400: "Bad request",
        401: "Missing or wrong token",
        404: "No such resource",
        409: "Conflict with the run's state",
        413: "Request body too large",
        429: "Too many unfinished runs",
    }
    return {c: {"model": ErrorBody, "description": text.get(c, "Error")} for c in codes}


VALIDATION: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorBody, "description": "Invalid request"}
}
