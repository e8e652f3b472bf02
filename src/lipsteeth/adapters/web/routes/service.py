"""``/api/health``: the service's state, its queue and the limits it enforces."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ..jobs import JobManager
from ..models import Health
from .common import manager_of

router = APIRouter(prefix="/api", tags=["service"])


@router.get("/health", response_model=Health)
def health(manager: Annotated[JobManager, Depends(manager_of)]) -> dict[str, Any]:
    """Service state: engine warm, workers, queue, job counts, jobs recovered, limits."""
    limits = dataclasses.asdict(manager.limits)
    limits.pop("max_jobs_kept", None)
    return {**manager.health(), "limits": limits}
