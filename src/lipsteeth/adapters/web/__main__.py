"""``python -m lipsteeth.adapters.web``: run the service (the same as ``lipsteeth serve``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .app import Settings, default_state_dir, serve
from .limits import Limits


def main(argv: list[str] | None = None) -> int:
    """Parse options and serve until interrupted."""
    defaults = Limits()
    ap = argparse.ArgumentParser(prog="python -m lipsteeth.adapters.web")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--state-dir", type=Path, default=None)
    ap.add_argument("--token", default=os.environ.get("LIPSTEETH_TOKEN"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-agent-days", type=float, default=defaults.max_agent_days)
    ap.add_argument("--max-replicates", type=int, default=defaults.max_replicates)
    ap.add_argument("--max-years", type=float, default=defaults.max_years)
    ap.add_argument("--max-active", type=int, default=defaults.max_active)
    ap.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes)
    ap.add_argument("--max-job-seconds", type=float, default=defaults.max_job_seconds)
    ap.add_argument(
        "--allowed-host",
        action="append",
        default=None,
        help="Host header name to accept (repeat; default: loopback names without a token)",
    )
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    settings = Settings(
        state_dir=args.state_dir or default_state_dir(),
        host=args.host,
        port=args.port,
        token=args.token or None,
        workers=args.workers,
        limits=Limits(
            max_agent_days=args.max_agent_days,
            max_replicates=args.max_replicates,
            max_years=args.max_years,
            max_active=args.max_active,
            max_body_bytes=args.max_body_bytes,
            max_job_seconds=args.max_job_seconds,
        ),
        allowed_hosts=tuple(args.allowed_host) if args.allowed_host else None,
    )
    try:
        settings.check()
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    serve(settings, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
