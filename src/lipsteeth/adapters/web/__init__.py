"""The HTTP service (FastAPI) and the dashboard: ``create_app``, ``serve``, ``Settings``."""

from __future__ import annotations

from .app import Settings, create_app, serve
from .jobs import JobManager
from .limits import Limits

__all__ = ["JobManager", "Limits", "Settings", "create_app", "serve"]
