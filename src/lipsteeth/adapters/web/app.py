"""The HTTP service: a JSON API under ``/api`` and the dashboard at ``/`` (FastAPI).

Endpoints (OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``)::

    GET    /api/health                  service and queue state
    GET    /api/scenarios               embedded scenarios
    GET    /api/scenarios/{name}        one scenario: levers (with ranges) and its document
    GET    /api/schema                  JSON Schema of scenario documents
    GET    /api/outcomes                outcome names, kinds, units and meanings
    POST   /api/runs                    submit a run or ensemble -> 202 and a job id
    GET    /api/runs                    recent runs
    GET    /api/runs/{id}               status and progress
    GET    /api/runs/{id}/bands         quantile bands (monthly or yearly) and run totals
    GET    /api/runs/{id}/outcomes      tidy outcomes as JSON, CSV or Parquet
    DELETE /api/runs/{id}               cancel a queued or running run; delete a finished one

Safety: the service binds 127.0.0.1 unless told otherwise, and anywhere else
only with a token, which is then checked on every request (``Authorization:
Bearer <token>``, or the cookie the dashboard gets from ``/?token=<token>``).
Without a token only loopback host names are accepted (no DNS rebinding).
Request bodies are capped (413), runs are capped in agents x days x
replicates (422), the number of unfinished runs is capped (429), and no
request can name a file or carry a pickle: scenarios are embedded names or
JSON documents.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...core.outcomes import OUTCOMES
from .jobs import JobError, JobManager, Limits

STATIC_DIR = Path(__file__).resolve().parent / "static"
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
TOKEN_COOKIE = "lipsteeth_token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
PARQUET_MEDIA = "application/vnd.apache.parquet"
MAX_TEXT_ROWS = 1_000_000  # JSON and CSV outcomes; Parquet has no limit


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_state_dir() -> Path:
    """``$LIPSTEETH_STATE_DIR``, else ``~/.lipsteeth/serve``."""
    env = os.environ.get("LIPSTEETH_STATE_DIR")
    return Path(env) if env else Path.home() / ".lipsteeth" / "serve"


@dataclass(frozen=True)
class Settings:
    """How the service runs."""

    state_dir: Path = field(default_factory=default_state_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    workers: int = 2
    limits: Limits = field(default_factory=Limits)

    def check(self) -> None:
        """Refuse a non-loopback bind without a token, and a weak token."""
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the token must be at least 16 characters")
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"binding to {self.host} exposes the service beyond this machine: give a "
                "token (--token or LIPSTEETH_TOKEN), which every request must then carry"
            )


# ---------------------------------------------------------------------------
# API models (the OpenAPI schema)


class ErrorBody(BaseModel):
    """Every refused request: one line saying what is wrong."""

    error: str = Field(description="What was wrong with the request, in one line.")


class ValidationItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A request the service cannot accept (422): the schema or the model refuses it."""

    error: str = Field(description="What was wrong with the request, in one line.")
    detail: list[ValidationItem] = Field(
        default_factory=list, description="Schema errors, if the schema refused it."
    )


class ScenarioSummary(BaseModel):
    name: str
    title: str


class ScenarioList(BaseModel):
    scenarios: list[ScenarioSummary]


class LeverInfo(BaseModel):
    name: str
    value: float
    unit: str
    doc: str
    mechanism: str
    minimum: float | None = Field(description="Lowest value the model accepts.")
    maximum: float | None = Field(description="Highest value the model accepts.")
    range: list[float] | None = Field(description="The span an analyst may explore, if declared.")
    provenance: str


class ScenarioDetail(BaseModel):
    name: str
    title: str
    description: str
    start: str
    end: str
    seed: int
    replicates: int
    agents: int
    levers: list[LeverInfo]
    document: dict[str, Any] = Field(
        description="The resolved scenario document (the TOML file format as JSON)."
    )


class OutcomeInfo(BaseModel):
    name: str
    kind: Literal["flow", "stock", "mean"]
    unit: str
    doc: str


class OutcomeList(BaseModel):
    outcomes: list[OutcomeInfo]


ScenarioName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
JobId = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="Run id (32 hex digits).")]


class RunRequest(BaseModel):
    """A run or ensemble: a scenario plus overrides. No paths, no pickles."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scenario: ScenarioName | dict[str, Any] = Field(
        default="baseline-2016",
        description=(
            "An embedded scenario name, or a whole scenario document (the scenario file "
            "format as JSON; `extends` may name embedded scenarios only)."
        ),
    )
    levers: dict[str, float] = Field(
        default_factory=dict,
        max_length=64,
        description='Lever overrides, e.g. {"china_exit_strictness": 0.3}.',
    )
    params: dict[str, float] = Field(
        default_factory=dict,
        max_length=512,
        description='Parameter overrides by "group.name", e.g. {"defection.contagion": 0.2}.',
    )
    years: float | None = Field(
        default=None, gt=0, le=200, description="Horizon in years from the scenario start."
    )
    replicates: int | None = Field(
        default=None, ge=1, le=100_000, description="Replicates (default: the scenario's)."
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Root seed (default: the scenario's)."
    )
    label: str | None = Field(default=None, max_length=200, description="Free text for you.")


class RunProgress(BaseModel):
    done: int
    total: int
    fraction: float


class RunStatus(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "deleted"]
    scenario: str
    seed: int
    replicates: int
    agent_days: float
    progress: RunProgress
    queue_position: int | None
    attempts: int
    submitted: str | None
    started: str | None
    finished: str | None
    error: str | None
    note: str | None
    request: dict[str, Any]
    links: dict[str, str]


class RunList(BaseModel):
    runs: list[RunStatus]


class Quantiles(BaseModel):
    p5: list[float | None]
    p25: list[float | None]
    median: list[float | None]
    p75: list[float | None]
    p95: list[float | None]


class RunTotal(BaseModel):
    median: float | None
    p5: float | None
    p95: float | None
    mean: float | None
    statistic: str


class Bands(BaseModel):
    id: str
    resolution: Literal["monthly", "yearly"]
    periods: list[str]
    replicates: int
    uncertainty: str = Field(
        default="simulation only",
        description="What the bands hold: 'parameters + simulation' or 'simulation only'.",
    )
    units: dict[str, str]
    kinds: dict[str, str]
    outcomes: dict[str, Quantiles]
    totals: dict[str, RunTotal]


class OutcomeRows(BaseModel):
    id: str
    resolution: Literal["monthly", "yearly"]
    columns: list[str]
    rows: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    workers: int
    queued: int
    running: int
    jobs: dict[str, int]
    recovered: dict[str, int]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of the error responses an endpoint may give."""
    text = {
        400: "Bad request",
        401: "Missing or wrong token",
        404: "No such resource",
        409: "Conflict with the run's state",
        413: "Request body too large",
        429: "Too many unfinished runs",
    }
    out: dict[int | str, dict[str, Any]] = {
        c: {"model": ErrorBody, "description": text.get(c, "Error")} for c in codes
    }
    return out


_VALIDATION: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorBody, "description": "Invalid request"}
}


# ---------------------------------------------------------------------------
# middleware (pure ASGI)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, before the app sees them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body larger than {self.limit:,} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _send_json(send, 400, {"error": "malformed Content-Length header"})
                    return
                if length > self.limit:
                    await _send_json(send, 413, {"error": message})
                    return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _send_json(send, 413, {"error": message})
                return
            chunks.append(body)
            more = bool(msg.get("more_body", False))
        data = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class TokenGuard:
    """Every request must carry the token (header or cookie); ``/?token=`` sets the cookie."""

    def __init__(self, app: ASGIApp, token: str | None, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts

    def _host_ok(self, scope: Scope) -> bool:
        if not self.allowed_hosts:
            return True
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1")
                host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
                return host in self.allowed_hosts
        return False

    def _token_ok(self, scope: Scope) -> bool:
        assert self.token is not None
        want = self.token.encode()
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return hmac.compare_digest(value[7:].strip(), want)
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    key, _, val = part.strip().partition("=")
                    if key == TOKEN_COOKIE and hmac.compare_digest(val.encode(), want):
                        return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self._host_ok(scope):
            await _send_json(send, 400, {"error": "host name not allowed"})
            return
        if self.token is None or self._token_ok(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("path") == "/" and scope.get("method") == "GET":
            query = scope.get("query_string", b"").decode("latin-1")
            for part in query.split("&"):
                key, _, val = part.partition("=")
                if key == "token" and hmac.compare_digest(val.encode(), self.token.encode()):
                    cookie = (
                        f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    ).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 303,
                            "headers": [
                                (b"location", b"/"),
                                (b"set-cookie", cookie),
                                (b"content-length", b"0"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": b""})
                    return
        await _send_json(
            send,
            401,
            {"error": "this service needs a token: send 'Authorization: Bearer <token>'"},
            [(b"www-authenticate", b"Bearer")],
        )


# ---------------------------------------------------------------------------
# the app


def _lever_infos(scenario: Any) -> list[LeverInfo]:
    from ...core.params import Levers, field_specs

    specs = field_specs(Levers)
    out = []
    for key, info in scenario.provenance.items():
        if info.kind != "lever":
            continue
        name = key.removeprefix("lever.")
        spec = specs.get(name, {})
        out.append(
            LeverInfo(
                name=name,
                value=float(info.value),
                unit=info.unit,
                doc=info.doc,
                mechanism=info.mechanism,
                minimum=_finite(spec.get("lo")),
                maximum=_finite(spec.get("hi")),
                range=[float(v) for v in info.range] if info.range else None,
                provenance=info.provenance,
            )
        )
    return out


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


def _one_line(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:3]:
        if e.get("type") == "json_invalid":
            where = e.get("loc", ())[-1] if e.get("loc") else "?"
            why = (e.get("ctx") or {}).get("error", "")
            parts.append(
                f"malformed JSON body at character {where}{': ' + str(why) if why else ''}"
            )
            continue
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI application (the job manager starts with the app's lifespan)."""
    settings = settings or Settings()
    settings.check()
    manager = JobManager(settings.state_dir, workers=settings.workers, limits=settings.limits)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        manager.start()
        try:
            yield
        finally:
            manager.stop()

    app = FastAPI(
        title="lipsteeth",
        version=_version(),
        description=(
            "Simulation of North Korea's overseas restaurant and labour network, worker "
            "defections, Chinese enforcement and the China-DPRK relationship: aggregate "
            "dynamics of a synthetic population (no real person is scored or identified). "
            "Submit runs, follow them, fetch results."
        ),
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.manager = manager
    app.state.settings = settings

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        detail = [
            {
                "loc": [p if isinstance(p, int | str) else str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in errors
        ]
        return JSONResponse({"error": _one_line(errors), "detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(JobError)
    async def _job(_request: Request, exc: JobError) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status == 429 else None
        body: dict[str, Any] = {"error": exc.message}
        if exc.status == 422:
            body["detail"] = []
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": f"internal error ({type(exc).__name__}); the service keeps running"},
            status_code=500,
        )

    def _not_found(what: str) -> JobError:
        return JobError(404, what)

    # --- scenarios ---------------------------------------------------------------

    @app.get("/api/health", response_model=Health, tags=["service"])
    def health() -> dict[str, Any]:
        """Service state: workers, queue, job counts, jobs recovered at start."""
        return manager.health()

    @app.get("/api/scenarios", response_model=ScenarioList, tags=["scenarios"])
    def scenarios() -> dict[str, Any]:
        """The embedded scenarios (name and title)."""
        from ...scenario import ScenarioError
        from .jobs import _embedded, embedded_names

        out = []
        for name in embedded_names():
            try:
                title = _embedded(name).title
            except ScenarioError as exc:  # a broken file must not hide the others
                title = f"(cannot be loaded: {exc})"
            out.append({"name": name, "title": title})
        return {"scenarios": out}

    @app.get(
        "/api/scenarios/{name}",
        response_model=ScenarioDetail,
        responses={**_errors(404), **_VALIDATION},
        tags=["scenarios"],
    )
    def scenario(name: Annotated[str, PathParam(max_length=64)]) -> dict[str, Any]:
        """One embedded scenario: its levers with ranges and provenance, and its document."""
        from ...scenario import ScenarioError
        from .jobs import _embedded, agents_of, embedded_names

        if name not in embedded_names():
            raise _not_found(f"no embedded scenario {name!r}")
        try:
            s = _embedded(name)
        except ScenarioError as exc:
            raise JobError(422, str(exc)) from None
        return {
            "name": s.name,
            "title": s.title,
            "description": s.description,
            "start": str(s.start),
            "end": str(s.end),
            "seed": int(s.seed),
            "replicates": int(s.replicates),
            "agents": agents_of(s),
            "levers": _lever_infos(s),
            "document": json.loads(json.dumps(s.to_dict(), default=str)),
        }

    @app.get("/api/schema", response_model=dict[str, Any], tags=["scenarios"])
    def schema() -> dict[str, Any]:
        """JSON Schema of scenario documents (the TOML file format)."""
        from ...scenario import scenario_schema

        return scenario_schema()

    @app.get("/api/outcomes", response_model=OutcomeList, tags=["scenarios"])
    def outcomes_list() -> dict[str, Any]:
        """Every outcome a run records: kind (flow, stock, mean), unit and meaning."""
        return {
            "outcomes": [
                {"name": s.name, "kind": s.kind, "unit": s.unit, "doc": s.doc}
                for s in OUTCOMES.values()
            ]
        }

    # --- runs ----------------------------------------------------------------------

    @app.post(
        "/api/runs",
        status_code=202,
        response_model=RunStatus,
        responses={
            200: {"model": RunStatus, "description": "Same Idempotency-Key: the existing run"},
            **_errors(400, 409, 413, 429),
            **_VALIDATION,
        },
        tags=["runs"],
    )
    def submit(
        body: RunRequest,
        response: Response,
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
        request = body.model_dump(exclude_none=True)
        status, created = manager.submit(request, idempotency_key=idempotency_key)
        response.status_code = 202 if created else 200
        response.headers["Location"] = status["links"]["self"]
        return status

    @app.get("/api/runs", response_model=RunList, responses=_VALIDATION, tags=["runs"])
    def runs(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        status: Annotated[
            Literal["queued", "running", "succeeded", "failed", "cancelled"] | None, Query()
        ] = None,
    ) -> dict[str, Any]:
        """Recent runs, newest first."""
        return {"runs": manager.list_jobs(limit, status)}

    @app.get(
        "/api/runs/{run_id}",
        response_model=RunStatus,
        responses={**_errors(404), **_VALIDATION},
        tags=["runs"],
    )
    def run_status(run_id: JobId) -> dict[str, Any]:
        """A run's status and progress (replicates done of total)."""
        st = manager.status(run_id)
        if st is None:
            raise _not_found(f"no run {run_id}")
        return st

    @app.delete(
        "/api/runs/{run_id}",
        response_model=RunStatus,
        responses={**_errors(404), **_VALIDATION},
        tags=["runs"],
    )
    def cancel(run_id: JobId) -> dict[str, Any]:
        """Cancel a queued or running run; a finished run is deleted with its results."""
        st = manager.cancel(run_id)
        if st is None:
            raise _not_found(f"no run {run_id}")
        return st

    def _finished(run_id: str) -> dict[str, Any]:
        st = manager.status(run_id)
        if st is None:
            raise _not_found(f"no run {run_id}")
        if st["status"] != "succeeded":
            why = f": {st['error']}" if st.get("error") else ""
            raise JobError(409, f"run {run_id} is {st['status']}{why}; no results")
        return st

    @app.get(
        "/api/runs/{run_id}/bands",
        response_model=Bands,
        responses={**_errors(404, 409), **_VALIDATION},
        tags=["results"],
    )
    def bands(
        run_id: JobId,
        resolution: Annotated[Literal["monthly", "yearly"], Query()] = "monthly",
    ) -> dict[str, Any]:
        """Quantile bands (5, 25, 50, 75, 95 %) of every outcome, and whole-run totals."""
        _finished(run_id)
        doc = json.loads(manager.bands_path(run_id).read_text())
        periods = doc["months"] if resolution == "monthly" else [str(y) for y in doc["years"]]
        return {
            "id": run_id,
            "resolution": resolution,
            "periods": periods,
            "replicates": doc["replicates"],
            "uncertainty": doc.get("uncertainty", "simulation only"),
            "units": doc["units"],
            "kinds": doc["kinds"],
            "outcomes": doc[resolution],
            "totals": doc["totals"],
        }

    @app.get(
        "/api/runs/{run_id}/outcomes",
        response_model=OutcomeRows,
        responses={
            200: {
                "description": "Tidy outcomes: replicate, period (monthly), year, variable, value",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    PARQUET_MEDIA: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **_errors(404, 409),
            **_VALIDATION,
        },
        tags=["results"],
    )
    def outcomes(
        run_id: JobId,
        format: Annotated[Literal["json", "csv", "parquet"], Query()] = "json",  # noqa: A002
        resolution: Annotated[Literal["monthly", "yearly"], Query()] = "monthly",
        variable: Annotated[list[str] | None, Query(max_length=200)] = None,
    ) -> Any:
        """A run's outcomes, every replicate, as JSON rows, CSV or Parquet."""
        _finished(run_id)
        folder = manager.results_dir(run_id)
        name = "outcomes.parquet" if resolution == "monthly" else "outcomes_yearly.parquet"
        path = folder / name
        if variable:
            unknown = sorted(set(variable) - set(OUTCOMES))
            if unknown:
                raise JobError(422, f"variable: unknown outcome(s) {', '.join(unknown[:5])}")
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
            table.column_names.index("variable"),
            "variable",
            table.column("variable").cast(pa.string()),
        )
        if "period" in table.column_names:
            table = table.set_column(
                table.column_names.index("period"),
                "period",
                table.column("period").cast(pa.string()),
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

    # --- dashboard -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(
            STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-store"}
        )

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        path = plotly_js_path()
        if path is None:
            raise JobError(404, "plotly is not installed (pip install 'lipsteeth[web]')")
        return FileResponse(
            path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    @app.get("/static/{name}", include_in_schema=False)
    def static(
        name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]+\.(js|css|html|svg)$")],
    ) -> Response:
        path = STATIC_DIR / name
        if not path.is_file():
            raise JobError(404, f"no static file {name}")
        media = {
            ".js": "text/javascript",
            ".css": "text/css",
            ".html": "text/html",
            ".svg": "image/svg+xml",
        }[path.suffix]
        return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/login", include_in_schema=False)
    def login() -> Response:
        return RedirectResponse("/")

    allowed: tuple[str, ...] = () if settings.token else LOOPBACK_NAMES
    if not is_loopback(settings.host):
        allowed = ()
    app.add_middleware(TokenGuard, token=settings.token, allowed_hosts=allowed)
    app.add_middleware(BodyLimit, limit=settings.limits.max_body_bytes)  # outermost
    return app


def plotly_js_path() -> Path | None:
    """The plotly.js bundle shipped inside the ``plotly`` Python package."""
    try:
        path = resources.files("plotly") / "package_data" / "plotly.min.js"
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


def _version() -> str:
    try:
        import importlib.metadata

        return importlib.metadata.version("lipsteeth")
    except Exception:  # noqa: BLE001
        return "0"


def serve(settings: Settings, *, log_level: str = "warning") -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        server_header=False,
        limit_concurrency=256,
        timeout_keep_alive=5,
    )
