"""``/api/comparisons``: two settings run as a paired comparison, and their B - A band."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from ..jobs import JobManager
from ..limits import JobError
from ..models import (
    ComparisonBands,
    ComparisonId,
    ComparisonList,
    ComparisonRequest,
    ComparisonStatus,
)
from ..streams import comparison_bands
from .common import VALIDATION, errors, manager_of
from .runs import request_of

router = APIRouter(prefix="/api/comparisons", tags=["comparisons"])
Manager = Annotated[JobManager, Depends(manager_of)]


@router.post(
    "",
    status_code=202,
    response_model=ComparisonStatus,
    responses={**errors(400, 413, 429), **VALIDATION},
)
def create(body: ComparisonRequest, response: Response, manager: Manager) -> dict[str, Any]:
    """Run A and B as a pair: B takes A's seed and replicate count unless it sets them
    (they must match, with the horizon: the pairs share their random numbers).

    A side identical to a run already finished or under way reuses it.
    """
    out = manager.compare(request_of(body.a), request_of(body.b), body.label)
    response.headers["Location"] = out["links"]["self"]
    return out


@router.get("", response_model=ComparisonList, responses=VALIDATION)
def comparisons(
    manager: Manager, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Recent comparisons, newest first."""
    return {"comparisons": manager.list_comparisons(limit)}


@router.get(
    "/{comparison_id}",
    response_model=ComparisonStatus,
    responses={**errors(404), **VALIDATION},
)
def comparison(comparison_id: ComparisonId, manager: Manager) -> dict[str, Any]:
    """A comparison's state and the status and progress of its two runs."""
    out = manager.comparison(comparison_id)
    if out is None:
        raise JobError(404, f"no comparison {comparison_id}")
    return out


@router.delete(
    "/{comparison_id}",
    response_model=ComparisonStatus,
    responses={**errors(404), **VALIDATION},
)
def forget(comparison_id: ComparisonId, manager: Manager) -> dict[str, Any]:
    """Forget a comparison; its runs stay (delete them under /api/runs)."""
    out = manager.delete_comparison(comparison_id)
    if out is None:
        raise JobError(404, f"no comparison {comparison_id}")
    return out


@router.get(
    "/{comparison_id}/bands",
    response_model=ComparisonBands,
    responses={**errors(404, 409), **VALIDATION},
    tags=["results"],
)
def bands(
    comparison_id: ComparisonId,
    manager: Manager,
    resolution: Annotated[Literal["monthly", "yearly"], Query()] = "monthly",
    variable: Annotated[list[str] | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """A's and B's bands and the paired B - A band, over the replicates finished so far.

    The B - A band is a percentile interval of the per-replicate differences
    over the replicate indices both runs have finished; whole-run totals add
    the mean difference with its 90 % bootstrap interval and a call on a clear
    difference (none with fewer than 10 pairs).
    """
    return comparison_bands(manager, comparison_id, resolution, variable)
