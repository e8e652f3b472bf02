"""The HTTP service: a JSON API under ``/api`` and the dashboard at ``/`` (FastAPI).

One router per resource (``routes/``)::

    GET    /api/health                      service, queue and limits
    GET    /api/scenarios                   embedded scenarios
    GET    /api/scenarios/{name}            levers (ranges, labels, effective outcomes), events
    POST   /api/scenarios/validate          check a scenario file's text (TOML)
    GET    /api/schema                      JSON Schema of scenario documents
    GET    /api/outcomes                    outcomes: kind, unit, meaning, label, theme
    POST   /api/runs                        submit a run or ensemble -> 202 and a job id
    GET    /api/runs                        recent runs
    GET    /api/runs/{id}                   status and progress
    GET    /api/runs/{id}/bands             quantile bands (partial while running) and totals
    GET    /api/runs/{id}/outcomes          tidy outcomes as JSON, CSV or Parquet
    DELETE /api/runs/{id}                   cancel a queued or running run; delete a finished one
    POST   /api/comparisons                 A and B as a paired comparison -> 202
    GET    /api/comparisons[/{id}]          comparisons and their runs' progress
    GET    /api/comparisons/{id}/bands      A, B and the paired B - A band (streamed)
    DELETE /api/comparisons/{id}            forget a comparison

OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``.

Safety: the service binds 127.0.0.1 unless told otherwise, and anywhere else
only with a token, which is then checked on every request (``Authorization:
Bearer <token>``, or the cookie the dashboard gets from ``/?token=<token>``).
Host names are checked by Starlette's ``TrustedHostMiddleware``: without a
token only loopback names (no DNS rebinding).  Request bodies are capped
(413), runs are capped in agents x days x replicates (422), the number of
unfinished runs is capped (429), and no request can name a file or carry a
pickle: scenarios are embedded names, JSON documents or TOML text that may
not name files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .jobs import JobManager
from .limits import JobError, Limits
from .routes import comparisons, dashboard, runs, scenarios, service
from .routes.dashboard import STATIC_DIR, plotly_js_path

__all__ = ["STATIC_DIR", "Settings", "create_app", "default_state_dir", "plotly_js_path", "serve"]

TOKEN_COOKIE = "lipsteeth_token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


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
    """How the service runs.

    ``allowed_hosts`` are the Host header names accepted; by default the
    loopback names on a loopback bind without a token, any name otherwise
    (the token is then what guards the service).
    """

    state_dir: Path = field(default_factory=default_state_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    workers: int = 2
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: tuple[str, ...] | None = None

    def check(self) -> None:
        """Refuse a non-loopback bind without a token, and a weak token."""
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the token must be at least 16 characters")
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"binding to {self.host} exposes the service beyond this machine: give a "
                "token (--token or LIPSTEETH_TOKEN), which every request must then carry"
            )

    def trusted_hosts(self) -> Sequence[str]:
        if self.allowed_hosts is not None:
            return list(self.allowed_hosts)
        if self.token or not is_loopback(self.host):
            return ["*"]
        return ["127.0.0.1", "localhost", "::1"]


# ---------------------------------------------------------------------------
# middleware (pure ASGI)

#: headers of every response (issue 17, item 15): the dashboard loads its scripts and
#: Plotly from /static only (Plotly writes <style> elements, hence 'unsafe-inline' for
#: styles), no page may frame it, and no response is sniffed into another type
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
        b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (the app's own and the refusals)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


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


#: seconds a request has to send its whole body; a slower one is answered 408 (item 12)
BODY_TIMEOUT = 30.0


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 and bodies slower than ``timeout`` with 408.

    Both before the app sees them (issue 17, item 12: a body trickled a byte at a
    time held its connection for ever).
    """

    def __init__(self, app: ASGIApp, limit: int, timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

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
        deadline = asyncio.get_running_loop().time() + self.timeout
        while more:
            left = deadline - asyncio.get_running_loop().time()
            try:
                msg = await asyncio.wait_for(receive(), timeout=max(left, 0.001))
            except TimeoutError:
                late = f"request body not received within {self.timeout:g} s"
                await _send_json(send, 408, {"error": late}, [(b"connection", b"close")])
                return
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

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _token_ok(self, scope: Scope) -> bool:
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
        if self._token_ok(scope):
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


def _add_error_handlers(app: FastAPI) -> None:
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
            "Submit runs and paired comparisons, follow them, fetch results."
        ),
        openapi_url="/api/openapi.json",
        # FastAPI's Swagger page loads an unpinned UI from a CDN: off (the schema stays at
        # /api/openapi.json for any viewer the user trusts); issue 17, item 15
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.manager = manager
    app.state.settings = settings
    _add_error_handlers(app)
    for router in (
        service.router,
        scenarios.router,
        runs.router,
        comparisons.router,
        dashboard.router,
    ):
        app.include_router(router)
    # added last = outermost: body cap, then host names, then the token
    if settings.token:
        app.add_middleware(TokenGuard, token=settings.token)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts())
    app.add_middleware(BodyLimit, limit=settings.limits.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: on every response, refusals included
    return app


def _version() -> str:
    try:
        import importlib.metadata

        return importlib.metadata.version("lipsteeth")
    except Exception:  # noqa: BLE001
        return "0"


def serve(settings: Settings, *, log_level: str = "warning") -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    from .jobs import isolate_imports
    from .slow_clients import KEEP_ALIVE, GuardedH11Protocol

    isolate_imports()  # before the first job process starts (item 14)

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        server_header=False,
        # slow clients are bounded per address (slow_clients), so the global cap is a
        # last resort, not the limit a few hundred half-open connections reach (item 12)
        http=GuardedH11Protocol,
        limit_concurrency=4096,
        timeout_keep_alive=KEEP_ALIVE,
        h11_max_incomplete_event_size=16 * 1024,
    )
