"""A real ``lipsteeth`` service in a child process on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
#: ``lipsteeth serve``, the console script of the venv the tests run in
SERVE = (str(Path(sys.executable).with_name("lipsteeth")), "serve")
ARTIFACTS = Path(os.environ.get("LIPSTEETH_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
TERMINAL = {"succeeded", "failed", "cancelled"}

#: a population small enough that a one-year replicate takes a fraction of a second
TINY_PARAMS: dict[str, float] = {
    "population.restaurant_sites_max": 12,
    "population.restaurants_initial": 8,
    "population.labour_sites_max": 4,
    "population.labour_workers_initial": 400,
    "wider_flow.hidden_initial": 2000.0,
    "wider_flow.crossing_rate_per_year": 500.0,
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """``python -m lipsteeth.adapters.web`` with its own state directory."""

    state_dir: Path
    port: int = field(default_factory=free_port)
    workers: int = 2
    extra: Sequence[str] = ()
    token: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: the program and its first arguments; default ``python -m lipsteeth.adapters.web``
    command: Sequence[str] = (sys.executable, "-m", "lipsteeth.adapters.web")
    #: the working directory of the server (default: the repository)
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def start(self, timeout: float = 60.0) -> LiveServer:
        """Start the server and wait until ``/api/health`` answers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.state_dir / f"server-{self.port}.log"
        cmd = [
            *self.command,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            "--workers",
            str(self.workers),
            *self.extra,
        ]
        if self.token:
            cmd += ["--token", self.token]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.cwd or ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.url}/api/health", headers=self.headers(), timeout=2)
                if r.status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful: the app stops its workers), then SIGKILL the group if needed."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._kill_group()

    def kill(self) -> None:
        """SIGKILL the server process only (a crash); its workers die with it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def _kill_group(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def live_server(state_dir: Path, **kwargs: object) -> Iterator[LiveServer]:
    """A started server, stopped at the end."""
    server = LiveServer(state_dir, **kwargs)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_run(
    client: httpx.Client, run_id: str, timeout: float = 120.0, interval: float = 0.1
) -> dict:
    """Poll a run until it is finished; returns its final status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/runs/{run_id}")
        r.raise_for_status()
        status = r.json()
        if status["status"] in TERMINAL:
            return status
        time.sleep(interval)
    raise TimeoutError(f"run {run_id} not finished after {timeout} s")
