"""Fit the uncertain parameters of the embedded scenario ``history`` on outcomes up to 2016.

The record of the fit (targets, method, result) is ``src/lipsteeth/data/history_fit.md``;
this script writes the machine-readable summary ``src/lipsteeth/data/history_fit.json``.

Method (a documented simple fit; the ABC-SMC ``lipsteeth calibrate`` of the experiments
layer can replace it):

1. Missile-test rate (M9) by the method of moments: the rate is scaled so that the mean
   simulated count of 1998-2016 equals the CNS count of 1998-2016 (06b + raw CNS
   database).  The missile process is Poisson with a rate proportional to the parameter,
   so one scaling step, checked by a second full run, suffices.
2. Wider flow (M10) by Nelder-Mead on a loss over the training years 1998-2016.  M10 does
   not feed back into the rest of the model (only Beijing's exodus guard reads its
   crossings, checked not to trigger), so the fit runs the core's own M10 step
   (``core.m10_wider_flow.step_wider_flow``) driven by the daily conditions a full run
   produced (economy index, Beijing's effective aid and border stringency, North Korea's
   border control and the closure lever), with common random numbers across evaluations.
   Arrivals from postings (restaurant and labour defectors) and repatriated workers of the
   full run are added to the M10 arrivals and repatriations.

Loss (training data only, all <= 2016)::

    L = ARD(arrivals 1998-2016)                          # 01, sum|sim - obs| / sum obs
      + 0.25 * mean_y d(repatriations_y, [4800, 8900]) / 4800   # 05, 1998-2006 range
      + 0.25 * mean_k |log-distance(hidden_k, interval_k)|       # 05, hidden-stock estimates

where sim is the mean over replicates and d the distance to the interval (0 inside).

Usage (about 10-30 minutes on two cores; needs the events_file wiring of the loader)::

    python scripts/fit_history.py [--replicates 4] [--evaluations 160]
"""

from __future__ import annotations

import argparse
import json
import math
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from lipsteeth.core import m10_wider_flow as m10
from lipsteeth.core.simulate import SimulationResult, replicate_seeds
from lipsteeth.core.state import PIPELINE_PAD
from lipsteeth.core.step import DelayTables
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.validation import parse_observed
from lipsteeth.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
OBSERVED = ROOT / "src" / "lipsteeth" / "data" / "observed"
OUT = ROOT / "src" / "lipsteeth" / "data" / "history_fit.json"
TRAIN = (1998, 2016)
FIT_PARAMS: tuple[str, ...] = (
    "wider_flow.crossing_rate_per_year",
    "wider_flow.broker_rate_per_year",
    "wider_flow.nk_border_effect",
    "wider_flow.hidden_initial",
    "enforcement.arrest_rate_per_year",
    "wider_flow.broker_border_effect",
)
# the logistic ramp of the lever broker_access: access(t) = 1 / (1 + exp(-(t - mid) / width))
# (t in decimal years), shipped as yearly steps (RAMP_FIRST.. on 1 January, each at the
# ramp's mid-year value; the first value is the lever's 1998 value in history.toml)
RAMP_PARAMS: tuple[str, ...] = ("ramp_midpoint_year", "ramp_width_years")
RAMP_BOUNDS = {"ramp_midpoint_year": (1999.0, 2012.0), "ramp_width_years": (0.3, 6.0)}
RAMP_FIRST = 1998
RAMP_SOURCE = (
    "fitted: data/history_fit.md (yearly step of the logistic ramp of broker access, "
    "midpoint {mid:.2f}, width {width:.2f} years: broker networks and the Southeast Asian "
    "route maturing)"
)
EVENTS = ROOT / "src" / "lipsteeth" / "scenarios" / "history_events.csv"


def ramp_steps(mid: float, width: float) -> list[tuple[int, float]]:
    """(year, value) steps of broker access: the ramp's value at mid-year, rounded to 0.001,
    from RAMP_FIRST until it reaches 0.98 (that step and all later years are 1.0)."""
    steps = []
    for year in range(RAMP_FIRST, 2026):
        value = 1.0 / (1.0 + math.exp(-(year + 0.5 - mid) / width))
        if value >= 0.98:
            steps.append((year, 1.0))
            break
        steps.append((year, round(value, 3)))
    return steps


def ramp_path(scenario: Scenario, mid: float, width: float) -> np.ndarray:
    """Daily broker access of the steps (the same path the shipped lever events give)."""
    years = scenario.calendar.dates.astype("datetime64[Y]").astype(int) + 1970
    path = np.ones(years.size)
    steps = ramp_steps(mid, width)
    for year, value in steps:
        path[years >= year] = value
    path[years < steps[0][0]] = steps[0][1]
    return path


def write_ramp_events(mid: float, width: float) -> None:
    """Replace the broker_access rows of history_events.csv by the fitted steps."""
    lines = EVENTS.read_text().splitlines()
    head = [line for line in lines if line.startswith("#") or line.startswith("date,")]
    rows = [
        line
        for line in lines
        if line.strip() and line not in head and ",lever,broker_access," not in line
    ]
    source = RAMP_SOURCE.format(mid=mid, width=width)
    rows += [
        f'{year}-01-01,lever,broker_access,{value:g},,,,,,,,,"{source}"'
        for year, value in ramp_steps(mid, width)[1:]
    ]
    rows.sort(key=lambda line: line[:10])
    EVENTS.write_text("\n".join(head + rows) + "\n")


def observed(series: str) -> list[Any]:
    rows = []
    for path in sorted(OBSERVED.glob("*.csv")):
        rows += [o for o in parse_observed(path.read_text(), path.name) if o.series == series]
    return [o for o in rows if TRAIN[0] <= o.year <= TRAIN[1]]


def month_years(result: SimulationResult) -> np.ndarray:
    return result.months.astype("datetime64[Y]").astype(int) + 1970


def yearly_sum(result: SimulationResult, name: str) -> tuple[np.ndarray, np.ndarray]:
    years = month_years(result)
    values = result.outcome(name)
    uniq = np.unique(years)
    return uniq, np.stack([values[:, years == y].sum(axis=1) for y in uniq], axis=1)


# --- stage 1: missile-test rate by moments -----------------------------------------------


def missile_moment(result: SimulationResult) -> tuple[float, float]:
    """(observed total, mean simulated total) of missile tests over the training years."""
    obs = observed("missile_tests")
    years, sims = yearly_sum(result, "missile_tests")
    sel = (years >= TRAIN[0]) & (years <= TRAIN[1])
    return float(sum(o.value for o in obs)), float(sims[:, sel].sum(axis=1).mean())


# --- stage 2: the wider flow driven by recorded conditions ------------------------------


class Driver:
    """The core's M10 step, day by day, under the conditions of a recorded full run."""

    def __init__(self, scenario: Scenario, full: SimulationResult) -> None:
        self.scenario = scenario
        cal = scenario.calendar
        self.n_days = cal.n_days
        month = cal.month_index
        self.day_year = cal.dates.astype("datetime64[Y]").astype(int) + 1970
        self.day_month = cal.dates.astype("datetime64[M]").astype(int) % 12 + 1
        self.R = full.monthly.shape[0]
        self.economy = full.outcome("economy_index")[:, month]
        self.aid = full.outcome("food_aid")[:, month]
        self.stringency = full.outcome("border_stringency")[:, month]
        base = scenario.levers
        paths = scenario.timeline.lever_paths

        def path(name: str) -> np.ndarray:
            default = np.full(self.n_days, float(getattr(base, name)))
            given = paths.get(name)
            return default if given is None else np.where(np.isnan(given), default, given)

        self.closure = path("border_closure")
        self.nk_control = path("nk_border_control")
        self.access = path("broker_access")
        years = month_years(full)
        self.years = np.unique(years)
        # arrivals from postings and repatriated workers of the full run, by year
        worker_arrests = (
            full.outcome("arrests_china")
            - full.outcome("arrests_hidden")
            - full.outcome("brokered_intercepted")
        )
        self.extra_arrivals = np.stack(
            [full.outcome("arrivals_from_postings")[:, years == y].sum(axis=1) for y in self.years],
            axis=1,
        ).mean(axis=0)
        self.extra_repatriations = np.stack(
            [worker_arrests[:, years == y].sum(axis=1) for y in self.years], axis=1
        ).mean(axis=0)

    def run(self, overrides: dict[str, float], seed: int = 7) -> dict[str, np.ndarray]:
        """Yearly arrivals, repatriations and mid-year hidden stock (mean over replicates).

        ``overrides`` holds parameter values and, optionally, the broker-access ramp
        (RAMP_PARAMS); without the ramp the scenario's own broker_access path is used."""
        overrides = dict(overrides)
        ramp = [overrides.pop(name, None) for name in RAMP_PARAMS]
        access = self.access if None in ramp else ramp_path(self.scenario, *ramp)
        scenario = self.scenario.with_overrides(params=overrides)
        params = scenario.params
        delays = DelayTables.build(params, PIPELINE_PAD - 1)
        R, T = self.R, self.n_days
        rngs = [np.random.default_rng(s) for s in replicate_seeds(seed, np.arange(R))]
        state = types.SimpleNamespace(
            day=0,
            n_replicates=R,
            hidden=np.full(R, int(round(params.wider_flow.hidden_initial)), dtype=np.int64),
            economy=np.ones(R),
            arrivals_wider=np.zeros((R, T + PIPELINE_PAD), dtype=np.int64),
            repatriations_china=np.zeros((R, T + PIPELINE_PAD), dtype=np.int64),
        )
        hidden_mid = np.zeros((R, self.years.size))
        crossings = np.zeros(R)
        for t in range(T):
            state.day = t
            state.economy = self.economy[:, t]
            cond = types.SimpleNamespace(
                aid=self.aid[:, t],
                stringency=self.stringency[:, t],
                levers=types.SimpleNamespace(
                    border_closure=float(self.closure[t]),
                    nk_border_control=float(self.nk_control[t]),
                    broker_access=float(access[t]),
                ),
            )
            flow = m10.step_wider_flow(rngs, state, params, cond, delays.transit, delays.detention)
            crossings += flow["crossings"]
            if self.day_month[t] == 6 and (t + 1 == T or self.day_month[t + 1] == 7):
                hidden_mid[:, self.day_year[t] - self.years[0]] = state.hidden
        arrivals = np.stack(
            [state.arrivals_wider[:, :T][:, self.day_year == y].sum(axis=1) for y in self.years], 1
        ).mean(axis=0)
        repatriations = np.stack(
            [
                state.repatriations_china[:, :T][:, self.day_year == y].sum(axis=1)
                for y in self.years
            ],
            1,
        ).mean(axis=0)
        return {
            "years": self.years,
            "arrivals": arrivals + self.extra_arrivals,
            "repatriations": repatriations + self.extra_repatriations,
            "hidden_mid": hidden_mid.mean(axis=0),
            "max_crossings_per_year": float(crossings.max() / (T / 365.25)),
        }


def interval_distance(x: float, low: float | None, high: float | None) -> float:
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    return max(low - x, 0.0, x - high)


def log_interval_distance(x: float, low: float | None, high: float | None) -> float:
    x = max(x, 1.0)
    lo = -math.inf if low is None else math.log(low)
    hi = math.inf if high is None else math.log(high)
    return max(lo - math.log(x), 0.0, math.log(x) - hi)


def loss_parts(sim: dict[str, np.ndarray]) -> dict[str, float]:
    years = list(int(y) for y in sim["years"])
    arrivals = observed("arrivals_south_korea")
    err = sum(abs(sim["arrivals"][years.index(o.year)] - o.value) for o in arrivals)
    ard = err / sum(o.value for o in arrivals)
    rep = [o for o in observed("repatriations_from_china") if o.low is not None and o.value is None]
    rep_d = np.mean(
        [
            interval_distance(sim["repatriations"][years.index(o.year)], o.low, o.high) / 4800
            for o in rep
        ]
    )
    hid = observed("hidden_in_china")
    hid_d = []
    for o in hid:
        x = sim["hidden_mid"][years.index(o.year)]
        if o.value is not None and o.low is None and o.high is None:
            hid_d.append(abs(math.log(max(x, 1.0) / o.value)))
        else:
            hid_d.append(log_interval_distance(x, o.low, o.high))
    return {
        "ard_arrivals": float(ard),
        "repatriations": float(rep_d),
        "hidden": float(np.mean(hid_d)),
        "loss": float(ard + 0.25 * rep_d + 0.25 * np.mean(hid_d)),
    }


ALL_PARAMS = FIT_PARAMS + RAMP_PARAMS
LINEAR = {"ramp_midpoint_year"}  # searched on a linear scale; all others on a log scale


def _scale(name: str, v: float) -> float:
    return v if name in LINEAR else math.log(v)


def transform(
    scenario: Scenario, ramp_start: tuple[float, float]
) -> tuple[list[tuple[float, float]], np.ndarray]:
    """Ranges of the fitted unknowns and the start point (unit-cube logits)."""
    bounds = [scenario.uncertainties[name] for name in FIT_PARAMS]
    bounds += [RAMP_BOUNDS[name] for name in RAMP_PARAMS]
    values = [scenario.provenance[name].value for name in FIT_PARAMS] + list(ramp_start)
    x0 = []
    for name, (lo, hi), v in zip(ALL_PARAMS, bounds, values, strict=True):
        u = (_scale(name, v) - _scale(name, lo)) / (_scale(name, hi) - _scale(name, lo))
        u = min(max(u, 1e-3), 1 - 1e-3)
        x0.append(math.log(u / (1 - u)))
    return bounds, np.array(x0)


def decode(x: np.ndarray, bounds: list[tuple[float, float]]) -> dict[str, float]:
    out = {}
    for name, xi, (lo, hi) in zip(ALL_PARAMS, x, bounds, strict=True):
        u = 1.0 / (1.0 + math.exp(-float(xi)))
        v = _scale(name, lo) + u * (_scale(name, hi) - _scale(name, lo))
        out[name] = float(v if name in LINEAR else math.exp(v))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--design", type=int, default=150)
    parser.add_argument("--scenario", default="history")
    parser.add_argument(
        "--ramp-start", type=float, nargs=2, default=(2005.3, 1.9), metavar=("MID", "WIDTH")
    )
    parser.add_argument(
        "--write-events",
        action="store_true",
        help="rewrite the broker_access rows of history_events.csv from the fitted ramp",
    )
    args = parser.parse_args()
    started = time.time()
    scenario = load_scenario(args.scenario)
    record: dict[str, Any] = {
        "scenario": args.scenario,
        "training_years": list(TRAIN),
        "replicates": args.replicates,
        "seed": scenario.seed,
    }

    # stage 1: missile-test rate by moments
    base_rate = scenario.params.strategic.missile_rate_per_year
    full = run_scenario(scenario, replicates=args.replicates)
    obs_total, sim_total = missile_moment(full)
    rate = base_rate * obs_total / sim_total
    scenario = scenario.with_overrides(params={"strategic.missile_rate_per_year": rate})
    full = run_scenario(scenario, replicates=args.replicates)
    _, check_total = missile_moment(full)
    record["missile_moment"] = {
        "start_rate_per_year": base_rate,
        "observed_total_1998_2016": obs_total,
        "simulated_total_at_start": sim_total,
        "fitted_rate_per_year": rate,
        "simulated_total_at_fit": check_total,
    }
    print("missile rate", base_rate, "->", rate, "check", check_total, "vs", obs_total, flush=True)

    # stage 2: the wider flow
    driver = Driver(scenario, full)
    bounds, x0 = transform(scenario, tuple(args.ramp_start))
    trace: list[dict[str, Any]] = []

    def objective(x: np.ndarray) -> float:
        values = decode(x, bounds)
        sim = driver.run(values)
        parts = loss_parts(sim)
        trace.append({**values, **parts})
        print(len(trace), {k: round(v, 4) for k, v in {**values, **parts}.items()}, flush=True)
        return parts["loss"]

    start_parts = loss_parts(driver.run(decode(x0, bounds)))
    # global stage: a Latin hypercube over the declared ranges (log scale)
    design = qmc.LatinHypercube(d=len(ALL_PARAMS), seed=20160406).random(args.design)
    design = np.clip(design, 1e-3, 1 - 1e-3)
    scored = []
    for u in design:
        x = np.log(u / (1 - u))
        scored.append((objective(x), x))
    best_design = min(scored, key=lambda item: item[0])
    x_start = best_design[1] if best_design[0] < start_parts["loss"] else x0
    fit = minimize(
        objective,
        x_start,
        method="Nelder-Mead",
        options={"maxfev": args.evaluations, "xatol": 1e-3, "fatol": 1e-4, "initial_simplex": None},
    )
    best = decode(fit.x, bounds)
    best_sim = driver.run(best)
    ramp = {name: best.pop(name) for name in RAMP_PARAMS}
    steps = ramp_steps(ramp["ramp_midpoint_year"], ramp["ramp_width_years"])
    record["broker_access_ramp"] = {
        **ramp,
        "form": "1 / (1 + exp(-(t - midpoint) / width)), yearly steps at mid-year values",
        "initial_1998": steps[0][1],
        "steps": [[f"{year}-01-01", value] for year, value in steps[1:]],
    }
    record["wider_flow_fit"] = {
        "method": (
            f"Latin hypercube of {args.design} points over the declared ranges (log scale), "
            "then Nelder-Mead (scipy) from the best point on the logit of the log-scaled "
            "ranges; common random numbers (seed 7) in every evaluation"
        ),
        "parameters": list(ALL_PARAMS),
        "bounds": {name: list(b) for name, b in zip(ALL_PARAMS, bounds, strict=True)},
        "start": decode(x0, bounds),
        "start_loss": start_parts,
        "fitted": best,
        "fitted_loss": loss_parts(best_sim),
        "evaluations": int(fit.nfev) + args.design,
        "converged": bool(fit.success),
        "message": str(fit.message),
        "simulated_at_fit": {
            "years": [int(y) for y in best_sim["years"]],
            "arrivals": [float(v) for v in best_sim["arrivals"]],
            "repatriations": [float(v) for v in best_sim["repatriations"]],
            "hidden_mid_year": [float(v) for v in best_sim["hidden_mid"]],
            "max_crossings_per_year": best_sim["max_crossings_per_year"],
        },
        "trace": trace,
    }
    record["wall_time_s"] = round(time.time() - started, 1)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    if args.write_events:
        write_ramp_events(ramp["ramp_midpoint_year"], ramp["ramp_width_years"])
    print(json.dumps({k: v for k, v in record["wider_flow_fit"].items() if k != "trace"}, indent=1))


if __name__ == "__main__":
    main()
