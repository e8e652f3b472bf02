"""``/api/runs``: submit, follow, cancel runs; fetch their bands and outcomes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import FileResponse

from ..jobs import JobManager
from ..limits import JobError
from ..models import Bands, JobId, OutcomeRows, RunList, RunRequest, RunStatus
from ..streams import check_variables, run_bands
from .common import VALIDATION, errors, manager_of

router = APIRouter(prefix="/api/runs", tags=["runs"])
PARQUET_MEDIA = "application/vnd.apache.parquet"
MAX_TEXT_ROWS = 1_000_000  # JSON and CSV outcomes; Parquet has no limit
Manager = Annotated[JobManager, Depends(manager_of)]
Variables = Annotated[list[str] | None, Query(max_length=200)]


def request_of(body: RunRequest) -> dict[str, Any]:
    """The stored form of a run request (JSON-able, without defaults left unset)."""
    return body.model_dump(mode="json", exclude_none=True)


@router.post(
    "",
    status_code=202,
    response_model=RunStatus,
    responses={
        200: {"model": RunStatus, "description": "Same Idempotency-Key: the existing run"},
        **errors(400, 409, 413, 429),
        **VALIDATION,
    },
)
def submit(
    body: RunRequest,
    response: Response,
    manager: Manager,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=128,
            description="Resubmitting with the same key returns the same run.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Submit a run or ensemble; returns its id at once (202). Poll `links.self`."""
    status, created = manager.submit(request_of(body), idempotency_key=idempotency_key)
    response.status_code = 202 if created else 200
    response.headers["Location"] = status["links"]["self"]
    return status


@router.get("", response_model=RunList, responses=VALIDATION)
def runs(
    manager: Manager,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    status: Annotated[
        Literal["queued", "running", "succeeded", "failed", "cancelled"] | None, Query()
    ] = None,
) -> dict[str, Any]:
    """Recent runs, newest first, as summaries (the full status is at each `links.self`)."""
    return {"runs": manager.list_summaries(limit, status)}


@router.get("/{run_id}", response_model=RunStatus, responses={**errors(404), **VALIDATION})
def run_status(run_id: JobId, manager: Manager) -> dict[str, Any]:
    """A run's status and progress (replicates done of total)."""
    st = manager.status(run_id)
    if st is None:
        raise JobError(404, f"no run {run_id}")
    return st


@router.delete("/{run_id}", response_model=RunStatus, responses={**errors(404), **VALIDATION})
def cancel(run_id: JobId, manager: Manager) -> dict[str, Any]:
    """Cancel a queued or running run; a finished run is deleted with its results."""
    st = manager.cancel(run_id)
    if st is None:
        raise JobError(404, f"no run {run_id}")
    return st


@router.get(
    "/{run_id}/bands",
    response_model=Bands,
    responses={**errors(404, 409), **VALIDATION},
    tags=["results"],
)
def bands(
    run_id: JobId,
    manager: Manager,
    resolution: Annotated[Literal["monthly", "yearly"], Query()] = "monthly",
    variable: Variables = None,
) -> dict[str, Any]:
    """Quantile bands (5, 25, 50, 75, 95 %) per period and whole-run totals of the outcomes.

    While the run is running, the bands hold the replicates finished so far
    (`complete` is false, `replicates` says how many).
    """
    return run_bands(manager, run_id, resolution, variable)


def _finished(manager: JobManager, run_id: str) -> dict[str, Any]:
    st = manager.status(run_id)
    if st is None:
        raise JobError(404, f"no run {run_id}")
    if st["status"] != "succeeded":
        why = f": {st['error']}" if st.get("error") else ""
        raise JobError(409, f"run {run_id} is {st['status']}{why}; no results")
    return st


@router.get(
    "/{run_id}/outcomes",
    response_model=OutcomeRows,
    responses={
        200: {
            "description": "Tidy outcomes: replicate, period (monthly), year, variable, value",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                PARQUET_MEDIA: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **errors(404, 409),
        **VALIDATION,
    },
    tags=["results"],
)
def outcomes(
    run_id: JobId,
    manager: Manager,
    format: Annotated[Literal["json", "csv", "parquet"], Query()] = "json",  # noqa: A002
    resolution: Annotated[Literal["monthly", "yearly"], Query()] = "monthly",
    variable: Variables = None,
) -> Any:
    """A run's outcomes, every replicate, as JSON rows, CSV or Parquet."""
    _finished(manager, run_id)
    folder = manager.results_dir(run_id)
    name = "outcomes.parquet" if resolution == "monthly" else "outcomes_yearly.parquet"
    path = folder / name
    variable = check_variables(variable)
    if format == "parquet" and not variable:
        return FileResponse(path, media_type=PARQUET_MEDIA, filename=f"{run_id}-{name}")
    rows = pq.ParquetFile(path).metadata.num_rows
    if format != "parquet" and not variable and rows > MAX_TEXT_ROWS:
        raise JobError(
            422,
            f"{rows:,} rows are more than {MAX_TEXT_ROWS:,} for {format}: ask for "
            "format=parquet, or name the outcomes you need with variable=...",
        )
    table = pq.read_table(path)
    if variable:
        names = table.column("variable").cast(pa.string())
        table = table.filter(pc.is_in(names, value_set=pa.array(variable)))
    table = table.set_column(
        table.column_names.index("variable"), "variable", table.column("variable").cast(pa.string())
    )
    if "period" in table.column_names:
        table = table.set_column(
            table.column_names.index("period"), "period", table.column("period").cast(pa.string())
        )
    if format == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        return Response(sink.getvalue().to_pybytes(), media_type=PARQUET_MEDIA)
    if format == "csv":
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        return Response(sink.getvalue().to_pybytes(), media_type="text/csv")
    return {
        "id": run_id,
        "resolution": resolution,
        "columns": table.column_names,
        "rows": table.to_pylist(),
    }
