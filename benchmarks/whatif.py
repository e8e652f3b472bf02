"""The dashboard's what-if through the real service, timed (issue 16), on one or more revisions.

For each revision a ``lipsteeth`` service (``python -m lipsteeth.adapters.web``,
``--workers 2``) starts on a loopback port with its own state directory, on
the current checkout or on a ``git archive`` of an earlier revision; once it
is warm, two comparisons go through its API as the dashboard sends them:

1. the scenario as it is, A and B alike (one run of ``--replicates`` serves both);
2. the what-if: B's China exit strictness 0.3 from 2016-04-01 (A is reused).

Per comparison it records when B's first replicate is on disk (the first
bands), when all of B's replicates are (the dashboard's "all replicates"), and
when the run has succeeded (results folder written).  Revisions take turns
within each repeat, so load on a shared machine hits them alike; the ratio of
the medians is the speed-up.  The browser test (``tests/test_web_browser.py``)
measures the same two times in Chromium, with the bounds of issue 16.

    python benchmarks/whatif.py 933898d HEAD --repeats 3
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "baseline-2016"
WHAT_IF = [{"lever": "china_exit_strictness", "value": 0.3, "start": "2016-04-01"}]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _source(revision: str, scratch: Path) -> tuple[str, Path]:
    """(short hash, ``src`` folder) of ``revision``; HEAD with local changes is the checkout."""
    short = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", revision],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if revision == "HEAD":
        return short, ROOT / "src"
    tree = scratch / short
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", short, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return short, tree / "src"


class Service:
    """One service process on ``src``, warm and ready for comparisons."""

    def __init__(self, src: Path, state_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        env = {**os.environ, "PYTHONPATH": str(src)}
        self.log = open(state_dir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        port = self.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "lipsteeth.adapters.web", "--host", "127.0.0.1"]
        command += ["--port", port, "--state-dir", str(state_dir), "--workers", "2"]
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        self.api = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 300  # a fresh checkout compiles the kernel first
        while True:
            try:
                if self.api.get("/api/health").json().get("warm"):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the service on {src} did not warm up; see {self.log.name}")
            time.sleep(0.2)

    def compare(self, changes: list[dict], replicates: int) -> dict[str, float]:
        """Seconds from the request to B's first replicate, all of B's, B succeeded."""
        side = {"scenario": SCENARIO, "replicates": replicates}
        started = time.monotonic()
        reply = self.api.post(
            "/api/comparisons", json={"a": side, "b": {**side, "changes": changes}}
        )
        reply.raise_for_status()
        comparison = reply.json()["id"]
        first = every = None
        while True:
            status = self.api.get(f"/api/comparisons/{comparison}").json()
            now = time.monotonic() - started
            done = status["b"]["progress"]["done"]
            first = now if first is None and done > 0 else first
            every = now if every is None and done >= replicates else every
            if {status["a"]["status"], status["b"]["status"]} == {"succeeded"}:
                return {
                    "first_bands_s": first or now,
                    "all_replicates_s": every or now,
                    "results_written_s": now,
                }
            if "failed" in (status["a"]["status"], status["b"]["status"]):
                raise RuntimeError(f"comparison {comparison} failed: {status}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.api.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revisions", nargs="+", help="git revisions; the first is the reference")
    ap.add_argument("--replicates", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    times: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="lipsteeth-whatif-") as scratch:
        sources = [_source(rev, Path(scratch)) for rev in args.revisions]
        for repeat in range(args.repeats):
            for (short, src), rev in zip(sources, args.revisions, strict=True):
                state = Path(scratch) / f"state-{short}-{repeat}"
                state.mkdir()
                service = Service(src, state)
                try:
                    for label, changes in (("A=B", []), ("what-if", WHAT_IF)):
                        timing = service.compare(changes, args.replicates)
                        for key, value in timing.items():
                            times.setdefault(f"{rev} ({short})", {}).setdefault(
                                f"{label} {key}", []
                            ).append(value)
                finally:
                    service.stop()
    medians = {rev: {k: statistics.median(v) for k, v in t.items()} for rev, t in times.items()}
    print(
        f"{SCENARIO}, {args.replicates} replicates a side, 2 job processes, "
        f"{args.repeats} repeats (medians, seconds); load {os.getloadavg()[0]:.1f}"
    )
    reference = next(iter(medians.values()))
    for rev, values in medians.items():
        print(f"  {rev}")
        for key, value in values.items():
            print(f"    {key:32s} {value:6.2f}  ({reference[key] / value:.2f}x the first)")
    return medians


if __name__ == "__main__":
    main()
