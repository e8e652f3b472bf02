"""Commands ``lipsteeth report``, ``lipsteeth compare`` and ``lipsteeth serve``.

``register(app)`` adds them to the main Typer app (``adapters/cli.py``).
Refused inputs raise ``cli.UserError`` (imported when a command runs, so this
module can be imported before or after ``cli``): one ``error:`` line, exit 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from .cli_options import ReportFormatOption


def _fail(message: str) -> NoReturn:
    from .cli import UserError

    raise UserError(message)


def report_command(
    results: Annotated[Path, typer.Argument(help="A results folder (from `lipsteeth run`).")],
    fmt: ReportFormatOption = "html",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report here (default: RESULTS/report.<format>)."),
    ] = None,
) -> None:
    """Write a self-contained HTML (or PDF) report of a results folder, figures as PNG and SVG."""
    from .report import ReportError, write_report

    if fmt not in ("html", "pdf"):
        _fail(f"--format must be html or pdf (got {fmt!r})")
    try:
        path = write_report(results, fmt=fmt, out=out)  # type: ignore[arg-type]
    except ReportError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the report: {exc.strerror or exc}")
    sys.stdout.write(f"{path}\n")


def compare_command(
    results_a: Annotated[Path, typer.Argument(help="Results folder A.")],
    results_b: Annotated[Path, typer.Argument(help="Results folder B.")],
    fmt: ReportFormatOption = "html",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report path (default: ./compare-<A>-vs-<B>.<format>)."),
    ] = None,
) -> None:
    """Compare two runs side by side: every outcome, B minus A and its uncertainty."""
    from .report import ReportError, write_comparison

    if fmt not in ("html", "pdf"):
        _fail(f"--format must be html or pdf (got {fmt!r})")
    try:
        path = write_comparison(results_a, results_b, out=out, fmt=fmt)  # type: ignore[arg-type]
    except ReportError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the comparison: {exc.strerror or exc}")
    sys.stdout.write(f"{path}\n")


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
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (under /api, OpenAPI at /api/docs) and the dashboard (at /)."""
    try:
        from .web.app import Settings, default_state_dir, serve
        from .web.jobs import Limits
    except ModuleNotFoundError as exc:
        _fail(
            f"the service needs the web extra ({exc.name} is missing): pip install 'lipsteeth[web]'"
        )
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
    )
    try:
        settings.check()
    except ValueError as exc:
        _fail(str(exc))
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    sys.stderr.write(
        f"lipsteeth: serving http://{shown}:{port}/ (API docs /api/docs), state in "
        f"{settings.state_dir}\n"
    )
    serve(settings, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add ``report``, ``compare`` and ``serve`` to the main app."""
    app.command("report")(report_command)
    app.command("compare")(compare_command)
    app.command("serve")(serve_command)
