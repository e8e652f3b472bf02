"""Speed of the experiment layer: a large ensemble, a Sobol sweep, one ABC-SMC calibration.

Usage (from the repository root, with the dev environment)::

    python benchmarks/experiments.py ensemble --replicates 1000 --workers 2
    python benchmarks/experiments.py sobol --samples 512 --years 1 --workers 2
    python benchmarks/experiments.py abc --workers 2
    python benchmarks/experiments.py all --json benchmarks/experiments.json

``ensemble`` runs replicates of the default scenario through an executor
(Dask LocalCluster by default) and checks the result equals a serial run of
a few of the same replicates.  ``sobol`` runs ``lipsteeth sensitivity``
(checkpointed, resumable with ``--resume``) on the scenario's declared
uncertainties.  ``abc`` runs ``lipsteeth calibrate`` on the packaged targets.
Each prints and returns wall time, runs and throughput.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lipsteeth.adapters.cli import main as cli_main
from lipsteeth.adapters.executors_dask import open_executor
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.executors import run_ensemble
from lipsteeth.scenario import load_scenario

ABC_PARAMS = (
    "defection.restaurant_hazard_per_year",
    "defection.contagion",
    "restaurants.gross_sales_per_day",
    "wider_flow.crossing_rate_per_year",
    "wider_flow.broker_rate_per_year",
    "enforcement.arrest_rate_per_year",
)


@functools.cache
def code_version() -> str:
    """The commit the measured code comes from (``+ changes`` when the tree is dirty).

    Read once per process: a long run called again later (a checkpoint unit written
    hours in) reports the commit it started on, not a checkout made since.
    """
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" + changes" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_seconds_per_replicate(replicates: int = 8) -> float:
    """CPU time of one batch of replicates in this process (insensitive to other load)."""
    scenario = load_scenario("baseline-2016")
    start = time.process_time()
    run_scenario(scenario, replicate_indices=np.arange(replicates))
    return (time.process_time() - start) / replicates


def bench_ensemble(replicates: int, workers: int, executor: str, chunk: int | None) -> dict:
    scenario = load_scenario("baseline-2016")
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    with open_executor(executor, workers) as ex:
        ready = time.perf_counter()
        result = run_ensemble(scenario, replicates, scenario.seed, ex, chunk)
        done = time.perf_counter()
        name = ex.name
    print(f"ensemble: {replicates} replicates in {done - started:.1f} s", flush=True)
    check = run_scenario(scenario, replicate_indices=np.array([0, replicates - 1]))
    same = bool(
        np.array_equal(result.monthly[[0, -1]], check.monthly)
        and np.array_equal(result.replicates[[0, -1]], check.replicates)
    )
    out = {
        "benchmark": "ensemble",
        "scenario": scenario.name,
        "days": int(scenario.calendar.n_days),
        "replicates": replicates,
        "executor": name,
        "load_average_before": load_before,
        "workers": workers,
        "wall_seconds": round(done - started, 2),
        "startup_seconds": round(ready - started, 2),
        "simulation_seconds": round(done - ready, 2),
        "replicates_per_second": round(replicates / (done - ready), 3),
        "matches_serial": same,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out), flush=True)
    out["cpu_seconds_per_replicate_batched_8"] = round(cpu_seconds_per_replicate(), 3)
    print(json.dumps(out), flush=True)
    return out


def _cli(args: list[str]) -> None:
    try:
        cli_main(args)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"lipsteeth {' '.join(args)} exited with {exc.code}") from None


def bench_sobol(samples: int, years: float | None, workers: int, out: Path, resume: bool) -> dict:
    scenario = load_scenario("baseline-2016")
    dim = len(scenario.uncertainties)
    runs = samples * (dim + 2)
    args = [
        "sensitivity",
        "baseline-2016",
        "--method",
        "sobol",
        "--samples",
        str(samples),
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--name",
        f"bench-sobol-{samples}-{years or 'full'}",
    ]
    for outcome in (
        "revenue_to_state_usd",
        "arrivals_south_korea",
        "repatriations_from_china",
        "restaurant_defectors",
    ):
        args += ["--outcome", outcome]
    if years:
        args += ["--years", str(years)]
    if resume:
        args.append("--resume")
    started = time.perf_counter()
    _cli(args)
    wall = time.perf_counter() - started
    folder = out / "experiments" / f"bench-sobol-{samples}-{years or 'full'}"
    manifest = json.loads((folder / "manifest.json").read_text())
    report = json.loads((folder / "sensitivity_sobol.json").read_text())
    result = {
        "benchmark": "sobol",
        "samples": samples,
        "uncertainties": dim,
        "runs": runs,
        "years": years or "full",
        "workers": workers,
        "wall_seconds": round(wall, 1),
        "last_session_seconds": manifest.get("last_session_seconds"),
        "runs_per_second": round(runs / max(wall, 1e-9), 2),
        "settled": {o: r["convergence"]["settled"] for o, r in report["outcomes"].items()},
        "top_factor": {o: r["indices"][0]["factor"] for o, r in report["outcomes"].items()},
        "folder": str(folder),
    }
    print(json.dumps(result))
    return result


def bench_abc(workers: int, years: float, population: int, generations: int, out: Path) -> dict:
    name = f"bench-abc-{population}x{generations}"
    args = [
        "calibrate",
        "baseline-2016",
        "--params",
        ",".join(ABC_PARAMS),
        "--population",
        str(population),
        "--generations",
        str(generations),
        "--years",
        str(years),
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--name",
        name,
        "--force",
    ]
    started = time.perf_counter()
    _cli(args)
    wall = time.perf_counter() - started
    folder = out / "experiments" / name
    manifest = json.loads((folder / "manifest.json").read_text())
    result = {
        "benchmark": "abc-smc",
        "parameters": list(ABC_PARAMS),
        "targets": manifest["targets"],
        "years": years,
        "population": population,
        "generations": generations,
        "workers": workers,
        "simulations": manifest["n_runs"],
        "stop_reason": manifest["stop_reason"],
        "wall_seconds": round(wall, 1),
        "calibration_seconds": manifest["wall_seconds"],
        "folder": str(folder),
    }
    print(json.dumps(result))
    return result


RECORD = Path(__file__).with_name("experiments.json")


def markdown_section(record: Path = RECORD) -> list[str]:
    """Markdown lines summarising the recorded experiment-layer runs (for BENCHMARKS.md)."""
    if not record.exists():
        return []
    runs = json.loads(record.read_text())
    lines = [
        "## Experiment layer (`benchmarks/experiments.py`, the full default model)\n",
        f"Recorded in `{record.name}` by `python benchmarks/experiments.py WHICH --workers 2 "
        f"--json benchmarks/{record.name}` (one line per run, newest last); wall times "
        "include Dask start-up.  Load average (1, 5, 15 min) = other work on this shared "
        "2-core machine, recorded with the run; code = the commit measured.\n",
        "| run | what | simulations | wall (s) | throughput | result | load average | code |",
        "|---|---|---:|---:|---|---|---|---|",
    ]
    for r in runs:
        load = r.get("load_average_before") or r.get("machine", {}).get("load_average_1_5_15")
        load_text = ", ".join(f"{x:g}" for x in load) if load else ""
        if r["benchmark"] == "ensemble":
            what = (
                f"{r['replicates']:,} replicates of `{r['scenario']}` ({r['days']:,} days) "
                f"on {r['workers']} {r['executor']} workers"
            )
            sims = f"{r['replicates']:,}"
            rate = f"{r['replicates_per_second']:.3g} replicates/s"
            result = f"equals serial: {'yes' if r['matches_serial'] else 'NO'}"
        elif r["benchmark"] == "sobol":
            what = (
                f"Sobol (Saltelli) N={r['samples']} over {r['uncertainties']} declared "
                f"uncertainties, {r['years']} year(s), {r['workers']} Dask workers"
            )
            sims = f"{r['runs']:,}"
            rate = f"{r['runs_per_second']:.3g} runs/s"
            unsettled = [o for o, ok in r["settled"].items() if not ok]
            result = (
                "indices settled for all outcomes"
                if not unsettled
                else "not settled (convergence warning): " + ", ".join(unsettled)
            )
        else:
            what = (
                f"ABC-SMC on {len(r['parameters'])} parameters, {r['population']} particles, "
                f"up to {r['generations']} generations, {r['years']} years, "
                f"{r['workers']} Dask workers"
            )
            sims = f"{r['simulations']:,}"
            rate = f"{r['simulations'] / max(r['wall_seconds'], 1e-9):.3g} simulations/s"
            result = f"stopped on: {r['stop_reason']}"
        lines.append(
            f"| {r['benchmark']} | {what} | {sims} | {r['wall_seconds']:,.0f} | {rate} "
            f"| {result} | {load_text} | {r.get('code', '')} |"
        )
    lines.append("")
    return lines


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("which", choices=["ensemble", "sobol", "abc", "all"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--executor", default="dask")
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--years", type=float, default=1.0, help="Sobol horizon (0 = full).")
    p.add_argument("--abc-years", type=float, default=5.0)
    p.add_argument("--population", type=int, default=100)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="Append results to this JSON file.")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    code_version()  # the commit of the code this process loads
    out = args.out or Path(tempfile.mkdtemp(prefix="lipsteeth-bench-"))
    results = []
    if args.which in ("ensemble", "all"):
        results.append(
            bench_ensemble(args.replicates, args.workers, args.executor, args.chunk_size)
        )
    if args.which in ("sobol", "all"):
        results.append(
            bench_sobol(args.samples, args.years or None, args.workers, out, args.resume)
        )
    if args.which in ("abc", "all"):
        results.append(
            bench_abc(args.workers, args.abc_years, args.population, args.generations, out)
        )
    if args.json:
        previous = json.loads(args.json.read_text()) if args.json.exists() else []
        previous.extend({**r, "machine": machine(), "code": code_version()} for r in results)
        args.json.write_text(json.dumps(previous, indent=2) + "\n")


if __name__ == "__main__":
    main()
