"""``lipsteeth serve``: the API and the dashboard (``adapters.web``, the ``web`` extra).

``register(app)`` adds it to the main Typer app (``adapters.cli``).  Refused
inputs (a bad port, a public address without a token, the web extra missing)
raise ``UserError``: one ``error:`` line, exit 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .inputs import fail as _fail
from .inputs import require_extra


def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; beyond loopback a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="Where jobs and results persist (default: $LIPSTEETH_STATE_DIR or "
            "~/.lipsteeth/serve).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="LIPSTEETH_TOKEN",
            help="Bearer token every request must carry (required off loopback).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Runs executed at once.")] = 2,
    max_agent_days: Annotated[
        float | None,
        typer.Option("--max-agent-days", help="Cap on agents x days x replicates per run."),
    ] = None,
    max_replicates: Annotated[
        int | None, typer.Option("--max-replicates", help="Cap on replicates per run.")
    ] = None,
    max_active: Annotated[
        int | None, typer.Option("--max-active", help="Cap on unfinished runs (429 beyond).")
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option("--max-body-bytes", help="Cap on request bodies (413 beyond).")
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Host header name to accept (repeat; default: loopback names without a token).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (under /api, OpenAPI at /api/docs) and the dashboard (at /)."""
    require_extra("lipsteeth serve", ["fastapi", "uvicorn"])
    from ..web.app import Settings, default_state_dir, serve
    from ..web.jobs import Limits

    if not 0 < port < 65536:
        _fail(f"--port must be between 1 and 65535 (got {port})")
    if workers < 1 or workers > (os.cpu_count() or 1) * 8:
        _fail(f"--workers must be between 1 and {(os.cpu_count() or 1) * 8} (got {workers})")
    base = Limits()
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "max_agent_days": max_agent_days,
            "max_replicates": max_replicates,
            "max_active": max_active,
            "max_body_bytes": max_body_bytes,
        }.items()
        if v is not None
    }
    for key, value in overrides.items():
        if value <= 0:
            _fail(f"--{key.replace('_', '-')} must be positive (got {value})")
    limits = Limits(**{**base.__dict__, **overrides})
    settings = Settings(
        state_dir=state_dir or default_state_dir(),
        host=host,
        port=port,
        token=token or None,
        workers=workers,
        limits=limits,
        allowed_hosts=tuple(allowed_host) if allowed_host else None,
    )
    try:
        settings.check()
    except ValueError as exc:
        _fail(str(exc))
    check_state_dir(settings.state_dir)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    sys.stderr.write(
        f"lipsteeth: serving http://{shown}:{port}/ (API docs /api/docs), state in "
        f"{settings.state_dir}\n"
    )
    serve(settings, log_level=log_level)


def check_state_dir(state_dir: Path) -> None:
    """Refuse a state directory that is a file, or under one, or cannot be made (item 7).

    ``--state-dir /etc/passwd`` ended in a NotADirectoryError traceback; now one line,
    exit 2, before anything is created.
    """
    existing = state_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is" if existing == state_dir else f"is under {existing}, which is"
        _fail(f"--state-dir {state_dir} {what} not a directory")
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"--state-dir {state_dir}: cannot create it ({exc.strerror or exc})")
    if not os.access(state_dir, os.W_OK | os.X_OK):
        _fail(f"--state-dir {state_dir} is not writable")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the main app."""
    app.command("serve")(serve_command)
