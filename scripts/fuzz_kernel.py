"""The kernel fuzz of issue 17 (item 4) in resumable chunks, each in its own process.

    nice -n 10 .venv/bin/python scripts/fuzz_kernel.py --sets 10000 --out results/fuzz-kernel

Chunk k runs ``tests/test_kernel_fuzz.py``'s fuzz (500 accepted sets at the ends of
their admissible ranges, 11 days on a small network) with hypothesis seed k, in a
child process.  The child records the set it is about to simulate
(``current-K.json``) and every defect (``defects.jsonl``: a non-finite outcome, a
negative stock, any other exception) and goes on; a chunk that finishes writes
``chunk-K.json`` (its counts).  A child that dies (a crash: a signal, no Python error)
or runs past ``--timeout`` (a hang) is recorded in ``defects.jsonl`` with the set it
was running, and the next chunk starts.  Re-running the command resumes: finished
chunks are skipped, and chunks are added until ``--sets`` accepted sets have run.
``summary.json`` holds the counts by outcome and kind, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def write_atomic(path: Path, document: Any) -> None:
    """``document`` as JSON at ``path``, replaced whole (a kill leaves the old or the new)."""
    staged = path.with_suffix(".partial")
    staged.write_text(json.dumps(document))
    os.replace(staged, path)


def append_defect(out: Path, record: dict[str, Any]) -> None:
    with (out / "defects.jsonl").open("a") as defects:
        defects.write(json.dumps(record) + "\n")


def run_chunk(chunk: int, size: int, out: Path) -> None:
    """The child: one chunk of the fuzz, recording as it goes."""
    sys.path.insert(0, str(ROOT))
    from lipsteeth.scenario import load_scenario
    from tests import test_kernel_fuzz as fuzz

    small = load_scenario("baseline-2016").with_overrides(params=fuzz.SMALL, years=fuzz.YEARS)
    counts: Counter[str] = Counter()
    current = out / f"current-{chunk}.json"
    started = time.perf_counter()

    def before(params: dict[str, float], levers: dict[str, float], seed: int) -> None:
        write_atomic(current, {"counts": counts, "set": [[params, levers], seed]})

    def on_defect(
        kind: str, message: str, params: dict[str, float], levers: dict[str, float], seed: int
    ) -> None:
        append_defect(
            out, {"chunk": chunk, "kind": kind, "message": message, "set": [[params, levers], seed]}
        )

    fuzz._fuzz(small, size, counts, seed=chunk, before=before, on_defect=on_defect)
    seconds = time.perf_counter() - started
    write_atomic(out / f"chunk-{chunk}.json", {"counts": counts, "seconds": seconds})
    current.unlink(missing_ok=True)


def summarise(out: Path, wall: float) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for done in out.glob("chunk-*.json"):
        counts.update(json.loads(done.read_text())["counts"])
    kinds: Counter[str] = Counter()
    if (out / "defects.jsonl").exists():
        for line in (out / "defects.jsonl").read_text().splitlines():
            kinds[json.loads(line)["kind"]] += 1
    # sets of chunks that died: what they had run before the crash or hang
    for partial in out.glob("current-*.json"):
        counts.update(json.loads(partial.read_text())["counts"])
    return {"counts": counts, "defects_by_kind": kinds, "wall_seconds_this_call": round(wall)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=10_000, help="accepted sets to simulate")
    parser.add_argument("--chunk", type=int, default=500, help="accepted sets per child")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a hang")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "fuzz-kernel")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.worker is not None:
        run_chunk(args.worker, args.chunk, args.out)
        return 0
    started = time.perf_counter()
    chunk = 0
    while True:
        summary = summarise(args.out, time.perf_counter() - started)
        ran = sum(n for kind, n in summary["counts"].items() if kind != "refused")
        if ran >= args.sets:
            break
        if (args.out / f"chunk-{chunk}.json").exists() or (
            args.out / f"current-{chunk}.json"
        ).exists():
            chunk += 1  # done, or died earlier: its record stays
            continue
        command = [sys.executable, __file__, "--worker", str(chunk), "--chunk", str(args.chunk)]
        command += ["--out", str(args.out)]
        print(f"chunk {chunk}: {ran} accepted sets so far", flush=True)
        try:
            done = subprocess.run(command, timeout=args.timeout, cwd=ROOT)
            failed = f"crash (exit {done.returncode})" if done.returncode else ""
        except subprocess.TimeoutExpired:
            failed = f"hang (over {args.timeout:g} s)"
        if failed:
            current = args.out / f"current-{chunk}.json"
            running = json.loads(current.read_text())["set"] if current.exists() else None
            append_defect(args.out, {"chunk": chunk, "kind": failed, "set": running})
            print(f"chunk {chunk}: {failed}", flush=True)
        chunk += 1
    summary = summarise(args.out, time.perf_counter() - started)
    write_atomic(args.out / "summary.json", summary)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
