"""NPE against ABC-SMC on synthetic truths of baseline-2016: posterior-mean error, coverage, time.

Usage (from the repository root, with the dev environment)::

    python benchmarks/calibration.py --workers 2                  # the full benchmark
    python benchmarks/calibration.py --quick --workers 2          # a few minutes
    python benchmarks/calibration.py --workers 2 --json benchmarks/calibration.json
    python benchmarks/calibration.py --budgets 1000,3000,10000 --abc-budgets 1000,3000
    python benchmarks/calibration.py --checkpoint /tmp/cal-bench ...  # resumes after a kill

The setting (stated in the table): ``baseline-2016`` with a reduced network
(1,000 labour workers at up to 15 sites, 50 restaurants, 20,000 hidden
residents) over 2012-2016, the horizon of the shipped targets up to 2016.
The calibrated parameters are the six of the ABC-SMC benchmark in
``benchmarks/experiments.py`` (uniform priors over their declared ranges);
the others stay at their scenario values.  The summaries are the series and
periods of the shipped targets in that horizon (16 values).

Truths: ``--truths`` parameter vectors drawn from the prior; each one's
observation is one simulation at the truth (its own random stream, disjoint
from every training or ABC simulation), used as point targets (reliability
``high``) by ABC-SMC and observed exactly (``--observation exact``) by NPE.

- **NPE** (amortised): one network per budget (1,000 / 3,000 / 10,000
  training simulations on a Latin hypercube, plus 300 held-out simulations
  for its own certificate), then every truth's posterior from the same
  network.  Simulations run on a Dask LocalCluster of ``--workers``; training
  runs in this process on one thread.
- **ABC-SMC** (pyabc, the project's distance, 100 particles as the CLI
  default): one run per truth with a 10,000-simulation budget, read at the
  generation where the run with budget 1,000 / 3,000 / 10,000 would stop
  (pyabc stops after the generation that reaches the budget; single-core
  sampling is deterministic in the seed, so the run read at a budget is that
  run) and at its CLI default (6 generations, stop below 2 % acceptance).
  The truths run side by side on the same ``--workers`` (one sampler each).

Per method and budget: the posterior-mean error (per truth, the root mean
square over parameters of (posterior mean - truth) / prior width; then the
mean over truths, with a bootstrap 90 % interval), the coverage of the
marginal central 90 % intervals over all (truth, parameter) pairs, the
simulations used and the wall time on the workers.  ABC wall times at the
intermediate budgets are the run's wall time times its share of simulations.
Writes one JSON object (``--json`` appends it as a line) and prints a
Markdown table.

**Budgets.**  ``--budgets`` sets NPE's training budgets and ABC-SMC's readings;
``--abc-budgets`` sets ABC's apart (its runs stop at the largest, so
``--abc-budgets 1000,3000`` costs about 3,000 simulations a truth instead of
10,000).

**Resume after a kill.**  Every finished unit of work (the truths'
observations, one NPE budget, one truth's ABC-SMC run) is written atomically
as one JSON file in ``--checkpoint`` (default: a folder in the system's
temporary directory), under a key of the plan's settings that decide its
contents (truths, held-out simulations, posterior samples, ABC population,
horizon, seed).  Running the same command again loads the finished units and
runs only the rest; the table is the same as an uninterrupted run's (every
unit is deterministic in the seed).  An NPE budget is reused by any plan that
names it; a truth's ABC run by any plan whose largest ABC budget is at most
the one it ran to (a run read at a smaller budget is that budget's run).  Wall
times of resumed units are those measured when they ran; ABC-SMC's wall on
the workers is then the truths' seconds over the workers.  ``--fresh`` ignores
(and replaces) what the checkpoint holds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from experiments import ABC_PARAMS, code_version  # noqa: E402

from lipsteeth.adapters.executors_dask import open_executor  # noqa: E402
from lipsteeth.experiment import calibration as cal  # noqa: E402
from lipsteeth.experiment import npe  # noqa: E402
from lipsteeth.experiment.sbc import coverage_band, coverage_tolerance  # noqa: E402
from lipsteeth.experiment.targets import Target, in_horizon, parse_targets  # noqa: E402
from lipsteeth.scenario import load_scenario  # noqa: E402

REDUCED = {
    "population.labour_workers_initial": 1000,
    "population.labour_sites_max": 15,
    "population.restaurants_initial": 50,
    "wider_flow.hidden_initial": 20000,
}
END = "2016-12-31"
SEED = 20240614


@dataclass(frozen=True)
class Plan:
    truths: int
    npe_budgets: tuple[int, ...]
    abc_budgets: tuple[int, ...]
    abc_population: int
    abc_default_generations: int
    abc_default_min_acceptance: float
    holdout: int
    posterior_samples: int
    end: str = END  # last simulated day (targets up to its year)
    npe_options: tuple[tuple[str, Any], ...] = ()  # NPESettings fields (tests: a small network)

    def unit_key(self) -> str:
        """Hash of what decides a unit's contents (not the budgets: units are per budget)."""
        fields = {
            "truths": self.truths,
            "holdout": self.holdout,
            "posterior_samples": self.posterior_samples,
            "abc_population": self.abc_population,
            "end": self.end,
            "npe_options": [list(kv) for kv in self.npe_options],
            "seed": SEED,
            "overrides": REDUCED,
            "parameters": list(ABC_PARAMS),
        }
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


FULL = Plan(20, (1000, 3000, 10000), (1000, 3000, 10000), 100, 6, 0.02, 300, 1000)
QUICK = Plan(3, (200, 500), (200, 500), 50, 6, 0.02, 60, 400)


def shipped_targets() -> list[Target]:
    folder = ROOT / "src" / "lipsteeth" / "data" / "targets"
    out: list[Target] = []
    for path in sorted(folder.glob("*.csv")):
        out.extend(parse_targets(path.read_text("utf-8"), origin=path.name))
    return out


def setting(end: str = END) -> tuple[Any, list[cal.Prior], list[Target]]:
    base = load_scenario("baseline-2016")
    scenario = base.with_overrides(params=REDUCED, end=end)
    priors = cal.priors_from_scenario(scenario, list(ABC_PARAMS))
    last = min(2016, int(end[:4]))
    usable = [
        t for t in in_horizon(shipped_targets(), range(2012, last + 1)) if t.last_year <= last
    ]
    return scenario, priors, usable


class Checkpoint:
    """Finished units of a benchmark run: one JSON file each, written atomically.

    ``folder`` None keeps nothing (every unit runs).  ``loaded`` lists the
    units read back instead of run, in order.
    """

    def __init__(self, folder: Path | None, *, fresh: bool = False) -> None:
        self.folder = folder
        self.fresh = fresh
        self.loaded: list[str] = []
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _path(self, unit: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{unit}.json"

    def load(self, unit: str) -> dict[str, Any] | None:
        path = self._path(unit)
        if path is None or self.fresh or not path.is_file():
            return None
        payload = json.loads(path.read_text("utf-8"))
        self.loaded.append(unit)
        return payload

    def save(self, unit: str, payload: dict[str, Any]) -> None:
        path = self._path(unit)
        if path is None:
            return
        part = path.with_name(f".{path.name}.{os.getpid()}.part")
        part.write_text(json.dumps({**payload, "code": code_version()}), "utf-8")
        os.replace(part, path)  # atomic: a kill leaves the old file or the new, never half


def point_targets(template: list[Target], values: np.ndarray) -> list[Target]:
    return [
        Target(
            t.series, t.first_year, t.last_year, float(v), float(v), float(v), "high", "synthetic"
        )
        for t, v in zip(template, values, strict=True)
    ]


# ---------------------------------------------------------------------------
# ABC-SMC: one run per truth (in a worker process), read at every budget


@dataclass(frozen=True)
class ABCContext:
    scenario: Any
    priors: tuple[cal.Prior, ...]
    template: tuple[Target, ...]
    plan: Plan


def abc_truth(context: ABCContext, task: tuple[int, np.ndarray]) -> dict[str, Any]:
    import logging

    import pyabc  # noqa: F401 - imported first: it sets its loggers' levels on import

    logging.getLogger("ABC").setLevel(logging.ERROR)
    for name in ("ABC.History", "ABC.Sampler", "ABC.Population", "ABC.Distance", "ABC.Epsilon"):
        logging.getLogger(name).setLevel(logging.ERROR)
    index, observed = task
    plan = context.plan
    targets = point_targets(list(context.template), observed)
    settings = cal.CalibrationSettings(
        population_size=plan.abc_population,
        max_generations=500,
        min_acceptance_rate=0.0,
        max_simulations=max(plan.abc_budgets),
        seed=SEED + 1000 + index,
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = cal.calibrate(
            context.scenario,
            targets,
            list(context.priors),
            settings,
            db_url=f"sqlite:///{tmp}/abc.db",
        )
    wall = time.perf_counter() - start
    gens = result.generations
    per_gen = gens["simulations"].to_numpy(dtype=float)
    offset = result.n_simulations - per_gen.sum()  # pyabc's calibration sample
    cumulative = offset + np.cumsum(per_gen)
    return {
        "truth": index,
        "max_simulations": max(plan.abc_budgets),
        "wall": wall,
        "n_sims": result.n_simulations,
        "generations": [
            {
                **_abc_reading(result, g, cumulative, wall),
                "acceptance_rate": float(gens["acceptance_rate"].iloc[g]),
            }
            for g in range(len(cumulative))
        ],
    }


def abc_readings(unit: dict[str, Any], plan: Plan) -> dict[str, dict[str, Any]]:
    """One truth's run read at each ABC budget (the generation that reaches it) and default."""
    gens = unit["generations"]
    cumulative = np.array([g["simulations"] for g in gens], dtype=float)
    readings: dict[str, dict[str, Any]] = {}
    for budget in plan.abc_budgets:
        hit = np.nonzero(cumulative >= budget)[0]
        readings[str(budget)] = gens[int(hit[0]) if hit.size else len(gens) - 1]
    acceptance = np.array([g["acceptance_rate"] for g in gens], dtype=float)
    low = np.nonzero(acceptance < plan.abc_default_min_acceptance)[0]
    g_default = min(plan.abc_default_generations - 1, int(low[0]) if low.size else 10**9)
    readings["default"] = gens[min(g_default, len(gens) - 1)]
    return readings


def _abc_reading(
    result: cal.CalibrationResult, g: int, cumulative: np.ndarray, wall: float
) -> dict[str, Any]:
    pops = result.populations
    post = pops[pops["generation"] == g]
    w = post["weight"].to_numpy(dtype=float)
    w = w / w.sum()
    mean, low, high = [], [], []
    for p in result.priors:
        x = post[p.name].to_numpy(dtype=float)
        mean.append(float(np.sum(w * x)))
        low.append(cal.weighted_quantile(x, w, 0.05))
        high.append(cal.weighted_quantile(x, w, 0.95))
    sims = float(cumulative[g])
    return {
        "generation": g,
        "simulations": sims,
        "wall": wall * sims / float(cumulative[-1]),
        "mean": mean,
        "low": low,
        "high": high,
    }


# ---------------------------------------------------------------------------
# NPE: one network per budget, every truth from it


def npe_budget(
    scenario: Any,
    priors: list[cal.Prior],
    template: list[Target],
    observed: np.ndarray,
    budget: int,
    plan: Plan,
    executor: Any,
) -> dict[str, Any]:
    settings = npe.NPESettings(
        simulations=budget,
        holdout=plan.holdout,
        posterior_samples=plan.posterior_samples,
        seed=SEED + budget,
        observation="exact",
        **dict(plan.npe_options),
    )
    simulator = npe.ScenarioSimulator(scenario, tuple(priors), tuple(template))
    start = time.perf_counter()
    result = npe.calibrate_npe(simulator, priors, observed[0], settings, executor=executor)
    train_wall = time.perf_counter() - start
    # the training simulations' share of the simulation time (the rest is the certificate)
    share = budget / (budget + plan.holdout)
    means, lows, highs = [], [], []
    t0 = time.perf_counter()
    for i, x in enumerate(observed):
        s = result.trained.sample(x, plan.posterior_samples, seed=SEED + 7 * i)
        means.append(s.mean(axis=0).tolist())
        lows.append(np.quantile(s, 0.05, axis=0).tolist())
        highs.append(np.quantile(s, 0.95, axis=0).tolist())
    sample_wall = time.perf_counter() - t0
    d = result.diagnostics
    return {
        "budget": budget,
        "mean": means,
        "low": lows,
        "high": highs,
        "wall": result.seconds["simulate"] * share + result.seconds["train"] + sample_wall,
        "wall_total": train_wall + sample_wall,
        "seconds": result.seconds,
        "epochs": result.trained.epochs,
        "certificate": {
            "passed": d.passed,
            "sbc": bool(d.sbc["passed"]),
            "coverage_50": d.coverage_at(0.5).hpd,
            "coverage_90": d.coverage_at(0.9).hpd,
            "marginal_90": d.coverage_at(0.9).marginal,
            "identified": [r["parameter"] for r in d.identifiability if r["label"] == "identified"],
        },
    }


# ---------------------------------------------------------------------------
# scores


def scores(
    truths: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray, bounds: np.ndarray
) -> dict[str, Any]:
    width = bounds[:, 1] - bounds[:, 0]
    err = np.sqrt(np.mean(((mean - truths) / width) ** 2, axis=1))  # per truth
    rng = np.random.default_rng(0)
    boot = [float(np.mean(rng.choice(err, err.size))) for _ in range(2000)]
    covered = (truths >= low) & (truths <= high)
    return {
        "error": float(np.mean(err)),
        "error_ci": [float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))],
        "error_median": float(np.median(err)),
        "coverage_90": float(np.mean(covered)),
        "coverage_by_parameter": np.mean(covered, axis=0).tolist(),
        "width_90": float(np.mean((high - low) / width)),
        "per_truth": err.tolist(),
    }


def paired_difference(first: Sequence[float], second: Sequence[float]) -> dict[str, Any]:
    """Per-truth error of one method minus another's on the same truths (issue 14's claim).

    The truths are resampled in pairs (2,000 bootstrap draws, seed 0), so the interval
    holds what the two methods share (a hard truth is hard for both) out of the
    comparison; ``first_not_worse`` counts the truths where ``first`` errs no more.
    """
    diff = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    rng = np.random.default_rng(0)
    boot = [float(np.mean(rng.choice(diff, diff.size))) for _ in range(2000)]
    return {
        "mean": float(np.mean(diff)),
        "ci": [float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))],
        "first_not_worse": int(np.sum(diff <= 0)),
        "truths": int(diff.size),
    }


def npe_against_abc(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each NPE budget's per-truth error against ABC-SMC's at its largest budget."""
    abc = [r for r in rows if r["method"] == "ABC-SMC" and r["budget"].isdigit()]
    if not abc:
        return []
    top = max(abc, key=lambda r: int(r["budget"]))
    return [
        {
            "npe_budget": int(r["budget"]),
            "abc_budget": int(top["budget"]),
            **paired_difference(r["per_truth"], top["per_truth"]),
        }
        for r in rows
        if r["method"] == "NPE"
    ]


def run(
    plan: Plan, workers: int, mode: str, checkpoint: Checkpoint | None = None
) -> dict[str, Any]:
    checkpoint = checkpoint or Checkpoint(None)
    scenario, priors, template = setting(plan.end)
    bounds = npe.bounds_of(priors)
    simulator = npe.ScenarioSimulator(scenario, tuple(priors), tuple(template))
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with open_executor("dask", workers) as executor:
        obs = checkpoint.load("observations")
        if obs is None:
            truths = npe.prior_draws(priors, plan.truths, SEED, npe.STREAM_OBSERVED)
            (observed,) = npe.simulate_sets(
                simulator, [(npe.STREAM_OBSERVED, truths)], SEED, executor
            )
            checkpoint.save(
                "observations", {"truths": truths.tolist(), "observed": observed.tolist()}
            )
            say(f"observations of {plan.truths} truths simulated")
        else:
            truths, observed = np.array(obs["truths"]), np.array(obs["observed"])
            say(f"observations of {plan.truths} truths loaded from the checkpoint")
        for budget in plan.npe_budgets:
            t = time.perf_counter()
            res = checkpoint.load(f"npe-{budget}")
            if res is None:
                res = npe_budget(scenario, priors, template, observed, budget, plan, executor)
                checkpoint.save(f"npe-{budget}", res)
            sc = scores(
                truths, np.array(res["mean"]), np.array(res["low"]), np.array(res["high"]), bounds
            )
            rows.append(
                {
                    "method": "NPE",
                    "budget": str(budget),
                    "simulations": budget,
                    **sc,
                    "wall": res["wall"],
                    "detail": {k: res[k] for k in ("seconds", "epochs", "certificate")},
                }
            )
            say(
                f"NPE {budget}: error {sc['error']:.3f} coverage {sc['coverage_90']:.3f} "
                f"({time.perf_counter() - t:.0f} s)"
            )
        t = time.perf_counter()
        context = ABCContext(scenario, tuple(priors), tuple(template), plan)
        need = max(plan.abc_budgets)
        abc: list[dict[str, Any] | None] = []
        for i in range(plan.truths):
            unit = checkpoint.load(f"abc-truth-{i}")
            abc.append(unit if unit is not None and unit["max_simulations"] >= need else None)
        missing = [i for i, unit in enumerate(abc) if unit is None]
        resumed_abc = len(missing) < plan.truths
        tasks = [(i, observed[i]) for i in missing]

        def progress(done: int, total: int) -> None:
            say(f"ABC truths {done}/{total} to run ({time.perf_counter() - t:.0f} s)")

        def finished(k: int, unit: dict[str, Any]) -> None:
            checkpoint.save(f"abc-truth-{unit['truth']}", unit)

        for i, unit in zip(
            missing,
            executor.map(abc_truth, tasks, progress, on_result=finished, context=context),
            strict=True,
        ):
            abc[i] = unit
        abc_wall = time.perf_counter() - t
    units = [u for u in abc if u is not None]
    readings = [abc_readings(u, plan) for u in units]
    core_seconds = sum(u["wall"] for u in units)
    for key in [*map(str, plan.abc_budgets), "default"]:
        reads = [r[key] for r in readings]
        sc = scores(
            truths,
            np.array([r["mean"] for r in reads]),
            np.array([r["low"] for r in reads]),
            np.array([r["high"] for r in reads]),
            bounds,
        )
        sims = float(np.mean([r["simulations"] for r in reads]))
        read_seconds = sum(r["wall"] for r in reads)
        # wall on the workers: the truths' seconds at this reading, shared by the workers
        # (this session's wall in that share when every truth ran in it)
        wall = (
            read_seconds / workers
            if resumed_abc
            else abc_wall * read_seconds / max(core_seconds, 1e-9)
        )
        rows.append(
            {
                "method": "ABC-SMC",
                "budget": key,
                "simulations": sims,
                **sc,
                "wall": wall,
                "detail": {"generations": [r["generation"] for r in reads]},
            }
        )
    return {
        "benchmark": "calibration",
        "mode": mode,
        "setting": {
            "scenario": "baseline-2016",
            "overrides": REDUCED,
            "horizon": f"2012-01-01..{plan.end}",
            "parameters": list(ABC_PARAMS),
            "summaries": [t.key for t in template],
            "truths": plan.truths,
            "plan": {**plan.__dict__, "npe_options": dict(plan.npe_options)},
        },
        "rows": rows,
        "npe_against_abc": npe_against_abc(rows),
        "abc_wall": abc_wall,
        "resumed": list(checkpoint.loaded),
        "checkpoint": None if checkpoint.folder is None else str(checkpoint.folder),
        "wall_seconds": time.perf_counter() - started,
        "workers": workers,
        "code": code_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }


def certificate_note(certificate: dict[str, Any], holdout: int, samples: int) -> str:
    """An NPE unit's certificate in words: pass or FAIL, and which check missed which way.

    The coverage bands are the certificate's own (``sbc.coverage_tolerance``); a
    coverage above its band is a posterior too wide (conservative), below it too
    narrow (over-confident), which matters more to an analyst.
    """
    checks = [("SBC", "pass" if certificate["sbc"] else "FAIL")]
    for label, key, level in (
        ("joint 50 %", "coverage_50", 0.5),
        ("joint 90 %", "coverage_90", 0.9),
        ("marginal 90 %", "marginal_90", 0.9),
    ):
        share = certificate[key]
        lo, hi = coverage_band(level, coverage_tolerance(level, holdout, samples))
        verdict = "too wide" if share > hi else "too narrow" if share < lo else "in"
        checks.append((label, f"{share:.3f} {verdict} {lo:.3f}-{hi:.3f}"))
    head = f"certificate {'pass' if certificate['passed'] else 'FAIL'} on {holdout} held-out"
    return f"{head} ({'; '.join(f'{label} {text}' for label, text in checks)})"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| method | budget | simulations per truth | posterior-mean error (90 % CI) | "
        "90 % coverage | 90 % width | wall (s, 2 workers, all truths) | note |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    plan = report["setting"]["plan"]
    holdout = plan["holdout"]
    # the certificate ranks each truth among this many posterior draws (its 1/L rank step)
    sbc_samples = int(plan.get("npe_options", {}).get("sbc_samples", npe.NPESettings.sbc_samples))
    for r in report["rows"]:
        lo, hi = r["error_ci"]
        if r["method"] == "NPE":
            sims = f"{r['simulations']:,.0f} for all truths"
            note = certificate_note(r["detail"]["certificate"], holdout, sbc_samples)
        else:
            sims = f"{r['simulations']:,.0f}"
            gens = r["detail"]["generations"]
            note = f"generations {min(gens)}-{max(gens)} (0-based)"
        lines.append(
            f"| {r['method']} | {r['budget']} | {sims} | {r['error']:.3f} ({lo:.3f}-{hi:.3f}) "
            f"| {r['coverage_90']:.3f} | {r['width_90']:.3f} | {r['wall']:,.0f} | {note} |"
        )
    for c in report.get("npe_against_abc", []):
        lo, hi = c["ci"]
        lines.append(
            f"\nNPE at {c['npe_budget']:,} minus ABC-SMC at {c['abc_budget']:,}, per truth: "
            f"{c['mean']:+.3f} (90 % CI {lo:+.3f} to {hi:+.3f}); NPE errs no more on "
            f"{c['first_not_worse']} of {c['truths']} truths."
        )
    return "\n".join(lines)


def parse_budgets(option: str, text: str) -> tuple[int, ...]:
    """``1000,3000`` -> (1000, 3000): positive integers, no repeats (ValueError otherwise)."""
    try:
        budgets = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option} must be comma-separated whole numbers (got {text!r})") from None
    if not budgets or min(budgets) < 20 or len(set(budgets)) != len(budgets):
        raise ValueError(f"{option}: budgets must be distinct and at least 20 (got {text!r})")
    return budgets


def default_checkpoint(plan: Plan) -> Path:
    return Path(tempfile.gettempdir()) / "lipsteeth-calibration-benchmark" / plan.unit_key()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 truths, budgets 200 and 500")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--truths", type=int, default=None)
    p.add_argument("--budgets", default=None, help="NPE budgets and ABC readings: 1000,3000")
    p.add_argument("--abc-budgets", default=None, help="ABC-SMC's budgets (default: --budgets)")
    p.add_argument("--holdout", type=int, default=None, help="NPE held-out simulations")
    p.add_argument("--checkpoint", type=Path, default=None, help="finished units (resume)")
    p.add_argument("--fresh", action="store_true", help="ignore the checkpoint's units")
    p.add_argument("--json", type=Path, default=None, help="append the result as one JSON line")
    args = p.parse_args(argv)
    code_version()  # the commit of the code this process loads (units record it)
    plan = QUICK if args.quick else FULL
    try:
        if args.workers < 1:
            raise ValueError(f"--workers must be at least 1 (got {args.workers})")
        if args.truths is not None:
            if args.truths < 2:
                raise ValueError(f"--truths must be at least 2 (got {args.truths})")
            plan = replace(plan, truths=args.truths)
        if args.holdout is not None:
            if args.holdout < 20:
                raise ValueError(f"--holdout must be at least 20 (got {args.holdout})")
            plan = replace(plan, holdout=args.holdout)
        if args.budgets is not None:
            budgets = parse_budgets("--budgets", args.budgets)
            plan = replace(plan, npe_budgets=budgets, abc_budgets=budgets)
        if args.abc_budgets is not None:
            plan = replace(plan, abc_budgets=parse_budgets("--abc-budgets", args.abc_budgets))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = args.checkpoint or default_checkpoint(plan)
    if args.checkpoint is not None:
        folder = folder / plan.unit_key()
    print(f"checkpoint: {folder}", file=sys.stderr, flush=True)
    report = run(
        plan, args.workers, "quick" if args.quick else "full", Checkpoint(folder, fresh=args.fresh)
    )
    print(markdown(report))
    if args.json:
        with args.json.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(report) + "\n")
    print(
        json.dumps({k: report[k] for k in ("mode", "wall_seconds", "workers", "code", "resumed")})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
