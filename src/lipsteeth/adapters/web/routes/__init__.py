"""The API's routers, one per resource, and the dashboard's."""

from __future__ import annotations

from . import comparisons, dashboard, runs, scenarios, service

__all__ = ["comparisons", "dashboard", "runs", "scenarios", "service"]
