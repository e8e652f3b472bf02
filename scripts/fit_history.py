"""Fit the uncertain parameters of the embedded scenario ``history`` on outcomes up to 2016.

The record of the fit (targets, method, result) is ``src/lipsteeth/data/history_fit.md``;
this script writes the machine-readable summary ``src/lipsteeth/data/history_fit.json``
and, with ``--write``, the fitted values into ``history.toml`` and the fitted
broker-access ramp into ``history_events.csv``.

Method (a documented simple fit; ``lipsteeth calibrate`` can replace it):

1. Missile-test rate (M9) by the method of moments: the base rate is scaled so that the
   mean simulated count of 1998-2016 equals the CNS count of 1998-2016 (06b); the
   programme's milestones and Pyongyang's defiance make the count not quite
   proportional to the rate, so the scaling is repeated (three steps).
2. The wider flow (M10), Chinese enforcement (M7), North Korea's border control before
   2012 and the ramp of the lever ``broker_access`` (M10) by a Latin hypercube over the
   declared ranges, then Nelder-Mead from its best point, each evaluation a full run of
   the model (every mechanism, so the wider flow's feedbacks through detention capacity,
   Beijing's exodus guard and the economy are in), ``--replicates`` replicates with
   common random numbers (the same seed in every evaluation).  The postings are
   scaled down to ``--network-share`` of their sites (restaurants, labour sites and
   their initial staff; the wider flow at full size): the fitted outcomes are the
   wider flow's, the network feeds them only through its relative remittances
   (the economy index) and a few dozen defectors a year.  ``--only ramp`` skips step 1
   and fits the ramp alone, every other value held at the scenario's (the record keeps
   them under ``fit.held``).

The ramp (``--ramp-form``) is a few parameters, never one value per year:
``logistic`` (midpoint, width) or ``two-stage`` (a plateau share h and two rises,
``h / (1 + exp(-(t - m1) / w1)) + (1 - h) / (1 + exp(-(t - m2) / w2))``); it is shipped
as yearly 1-January steps at its mid-year values.

Loss (training data only, all <= 2016)::

    L = ARD(arrivals 2005-2016) + w ARD(arrivals 1998-2004)       # 01, sum|sim - obs| / sum obs
      + 0.25 * mean_y d(repatriations_y, [4800, 8900]) / 4800     # 05, 1998-2006 range
      + 0.25 * mean_k |log-distance(hidden_k, interval_k)|         # 05, hidden-stock estimates

where sim is the mean over replicates, d the distance to the interval (0 inside) and
w = ``--ramp-up-weight`` (0.1): the validation window counts in full, the ramp-up years
at a tenth (a smooth access path cannot follow both the 2004 peak and the 2005 dip).

Usage (about 20-40 minutes on two cores)::

    python scripts/fit_history.py [--replicates 3] [--design 60] [--evaluations 120] [--write]
    python scripts/fit_history.py --only ramp --ramp-form two-stage --network-share 1.0 \
        --replicates 6 --design 20 --evaluations 110 --simplex 0.4 [--write]   # 18 min
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from lipsteeth.core.simulate import SimulationResult
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.validation import parse_observed
from lipsteeth.scenario import Scenario, load_scenario
from lipsteeth.scenario.events_csv import with_events

ROOT = Path(__file__).resolve().parents[1]
OBSERVED = ROOT / "src" / "lipsteeth" / "data" / "observed"
OUT = ROOT / "src" / "lipsteeth" / "data" / "history_fit.json"
TOML = ROOT / "src" / "lipsteeth" / "scenarios" / "history.toml"
EVENTS = ROOT / "src" / "lipsteeth" / "scenarios" / "history_events.csv"
TRAIN = (1998, 2016)
FIT_PARAMS: tuple[str, ...] = (
    "wider_flow.crossing_rate_per_year",
    "wider_flow.broker_rate_per_year",
    "wider_flow.resident_departure_rate_per_year",
    "wider_flow.nk_border_effect",
    "wider_flow.hidden_initial",
    "wider_flow.resident_arrest_factor",
    "wider_flow.settle_rate_per_year",
    "wider_flow.kin_effect",
    "wider_flow.third_country_share",
    "enforcement.arrest_rate_per_year",
)
# levers whose starting value (the scenario's own, before its dated events) is fitted
FIT_LEVERS: tuple[str, ...] = ("nk_border_control",)
# before Kim Jong Un's tightening (2012, the event sets 0.5): a porous border, not a sealed one
LEVER_BOUNDS = {"nk_border_control": (0.0, 0.45)}
# the ramp of the lever broker_access (t in decimal years), shipped as yearly steps
# (RAMP_FIRST.. on 1 January, each at the ramp's mid-year value; the first value is the
# lever's 1998 value in history.toml).  Two forms (--ramp-form):
#   logistic:   access(t) = 1 / (1 + exp(-(t - mid) / width))
#   two-stage:  access(t) = h / (1 + exp(-(t - mid1) / width1))
#                         + (1 - h) / (1 + exp(-(t - mid2) / width2))
# (two rises with a plateau at h between them: the networks of 2000-2004 and the
# Southeast Asian route that matured after 2005)
RAMP_FORMS: dict[str, tuple[str, ...]] = {
    "logistic": ("ramp_midpoint_year", "ramp_width_years"),
    "two-stage": (
        "ramp_plateau",
        "ramp_first_midpoint_year",
        "ramp_first_width_years",
        "ramp_second_midpoint_year",
        "ramp_second_width_years",
    ),
}
RAMP_BOUNDS = {
    "ramp_midpoint_year": (1999.0, 2012.0),
    "ramp_width_years": (0.3, 6.0),
    "ramp_plateau": (0.05, 0.95),
    # the first rise before the second (no label switching): mid1 <= 2006 <= mid2
    "ramp_first_midpoint_year": (1998.0, 2006.0),
    "ramp_first_width_years": (0.2, 4.0),
    "ramp_second_midpoint_year": (2003.0, 2012.0),
    "ramp_second_width_years": (0.2, 4.0),
}
RAMP_FORMULA = {
    "logistic": "1 / (1 + exp(-(t - midpoint) / width))",
    "two-stage": (
        "plateau / (1 + exp(-(t - midpoint1) / width1)) "
        "+ (1 - plateau) / (1 + exp(-(t - midpoint2) / width2))"
    ),
}
RAMP_FIRST = 1998
RAMP_SOURCE = (
    "fitted: data/history_fit.md (yearly step of the {form} ramp of broker access, {shown}: "
    "broker networks and the Southeast Asian route maturing)"
)
# linear scale (midpoints, the lever, the plateau share); all others log scale
LINEAR = {
    "ramp_midpoint_year",
    "ramp_first_midpoint_year",
    "ramp_second_midpoint_year",
    "ramp_plateau",
    "lever.nk_border_control",
}


def ramp_form(ramp: dict[str, float]) -> str:
    """The ramp form whose parameters ``ramp`` holds."""
    return next(form for form, names in RAMP_FORMS.items() if set(names) == set(ramp))


def ramp_value(ramp: dict[str, float], t: float) -> float:
    """Broker access at decimal year ``t`` (the formulas above)."""

    def rise(mid: float, width: float) -> float:
        return 1.0 / (1.0 + math.exp(-(t - mid) / width))

    if ramp_form(ramp) == "logistic":
        return rise(ramp["ramp_midpoint_year"], ramp["ramp_width_years"])
    h = ramp["ramp_plateau"]
    first = rise(ramp["ramp_first_midpoint_year"], ramp["ramp_first_width_years"])
    second = rise(ramp["ramp_second_midpoint_year"], ramp["ramp_second_width_years"])
    return h * first + (1.0 - h) * second


def ramp_steps(ramp: dict[str, float]) -> list[tuple[int, float]]:
    """(year, value) steps of broker access: the ramp's value at mid-year, rounded to 0.001,
    from RAMP_FIRST until it reaches 0.98 (that step and all later years are 1.0)."""
    steps = []
    for year in range(RAMP_FIRST, 2026):
        value = ramp_value(ramp, year + 0.5)
        if value >= 0.98:
            steps.append((year, 1.0))
            break
        steps.append((year, round(value, 3)))
    return steps


def ramp_source(ramp: dict[str, float]) -> str:
    """The provenance of the ramp's rows (form and fitted values)."""
    form = ramp_form(ramp)
    if form == "logistic":
        shown = (
            f"midpoint {ramp['ramp_midpoint_year']:.2f}, width {ramp['ramp_width_years']:.2f} years"
        )
    else:
        shown = (
            f"plateau {ramp['ramp_plateau']:.3f}, "
            f"midpoints {ramp['ramp_first_midpoint_year']:.2f} and "
            f"{ramp['ramp_second_midpoint_year']:.2f}, "
            f"widths {ramp['ramp_first_width_years']:.2f} and "
            f"{ramp['ramp_second_width_years']:.2f} years"
        )
    return RAMP_SOURCE.format(form=form, shown=shown)


def ramp_events(ramp: dict[str, float]) -> list[dict[str, Any]]:
    """The broker-access steps as scenario events (the first is the lever's 1998 value)."""
    source = ramp_source(ramp)
    return [
        {
            "date": f"{year}-01-01",
            "kind": "lever",
            "lever": "broker_access",
            "value": value,
            "source": source,
        }
        for year, value in ramp_steps(ramp)[1:]
    ]


def with_ramp(scenario: Scenario, ramp: dict[str, float]) -> Scenario:
    """``scenario`` with its broker-access events replaced by the ramp's steps."""
    others = [e for e in scenario.events if e.get("lever") != "broker_access"]
    steps = ramp_steps(ramp)
    variant = scenario.with_overrides(levers={"broker_access": steps[0][1]})
    return with_events(variant, others + ramp_events(ramp))


def observed(series: str) -> list[Any]:
    rows = []
    for path in sorted(OBSERVED.glob("*.csv")):
        rows += [o for o in parse_observed(path.read_text(), path.name) if o.series == series]
    return [o for o in rows if TRAIN[0] <= o.year <= TRAIN[1]]


def yearly(result: SimulationResult, name: str, how: str = "sum") -> dict[int, float]:
    """Mean over replicates of a yearly sum (or mid-year value) of an outcome."""
    years = result.months.astype("datetime64[Y]").astype(int) + 1970
    months = result.months.astype("datetime64[M]").astype(int) % 12 + 1
    values = result.outcome(name)
    out = {}
    for y in np.unique(years):
        if how == "sum":
            out[int(y)] = float(values[:, years == y].sum(axis=1).mean())
        else:
            sel = (years == y) & (months == 6)
            out[int(y)] = float(values[:, sel].mean()) if sel.any() else math.nan
    return out


def missile_total(result: SimulationResult) -> float:
    by_year = yearly(result, "missile_tests")
    return sum(v for y, v in by_year.items() if TRAIN[0] <= y <= TRAIN[1])


def interval_distance(x: float, low: float | None, high: float | None) -> float:
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    return max(low - x, 0.0, x - high)


def log_interval_distance(x: float, low: float | None, high: float | None) -> float:
    x = max(x, 1.0)
    lo = -math.inf if low is None else math.log(low)
    hi = math.inf if high is None else math.log(high)
    return max(lo - math.log(x), 0.0, math.log(x) - hi)


def loss_parts(result: SimulationResult, ramp_up_weight: float = 0.1) -> dict[str, float]:
    arrivals = yearly(result, "arrivals_south_korea")
    repatriations = yearly(result, "repatriations_from_china")
    hidden = yearly(result, "hidden_in_china", how="mid")
    obs = observed("arrivals_south_korea")

    def ard_of(first: int, last: int) -> float:
        rows = [o for o in obs if first <= o.year <= last]
        return sum(abs(arrivals[o.year] - o.value) for o in rows) / sum(o.value for o in rows)

    # the validation window (2005-2016) counts in full, the ramp-up years 1998-2004 at
    # --ramp-up-weight (0.1): a smooth access path cannot follow the 2004 peak (1,898) and
    # the 2005 dip (1,384) both, and the fit is judged on 2005-2016
    ard_window, ard_ramp_up = ard_of(2005, TRAIN[1]), ard_of(TRAIN[0], 2004)
    ard = ard_window + ramp_up_weight * ard_ramp_up
    rep = [o for o in observed("repatriations_from_china") if o.low is not None and o.value is None]
    rep_d = float(
        np.mean([interval_distance(repatriations[o.year], o.low, o.high) / 4800 for o in rep])
    )
    hid_d = []
    for o in observed("hidden_in_china"):
        x = hidden[o.year]
        if o.value is not None and o.low is None and o.high is None:
            hid_d.append(abs(math.log(max(x, 1.0) / o.value)))
        else:
            hid_d.append(log_interval_distance(x, o.low, o.high))
    return {
        "ard_arrivals": float(ard),  # weighted, see the docstring
        "ard_arrivals_2005_2016": float(ard_window),
        "ard_arrivals_1998_2004": float(ard_ramp_up),
        "repatriations": rep_d,
        "hidden": float(np.mean(hid_d)),
        "loss": float(ard + 0.25 * rep_d + 0.25 * np.mean(hid_d)),
    }


def _scale(name: str, v: float) -> float:
    return v if name in LINEAR else math.log(v)


def decode(
    x: np.ndarray, names: tuple[str, ...], bounds: list[tuple[float, float]]
) -> dict[str, float]:
    out = {}
    for name, xi, (lo, hi) in zip(names, x, bounds, strict=True):
        u = 1.0 / (1.0 + math.exp(-float(xi)))
        v = _scale(name, lo) + u * (_scale(name, hi) - _scale(name, lo))
        out[name] = float(v if name in LINEAR else math.exp(v))
    return out


def encode(
    values: dict[str, float], names: tuple[str, ...], bounds: list[tuple[float, float]]
) -> np.ndarray:
    x = []
    for name, (lo, hi) in zip(names, bounds, strict=True):
        u = (_scale(name, values[name]) - _scale(name, lo)) / (_scale(name, hi) - _scale(name, lo))
        u = min(max(u, 1e-3), 1 - 1e-3)
        x.append(math.log(u / (1 - u)))
    return np.array(x)


def variant(scenario: Scenario, values: dict[str, float]) -> Scenario:
    values = dict(values)
    ramp = {k: values.pop(k) for k in list(values) if k.startswith("ramp_")}
    levers = {k[len("lever.") :]: values.pop(k) for k in list(values) if k.startswith("lever.")}
    return with_ramp(scenario.with_overrides(params=values, levers=levers), ramp)


def write_toml(values: dict[str, float]) -> None:
    """Write the fitted values into history.toml (value lines of the fitted parameters)."""
    text = TOML.read_text()
    for name, value in values.items():
        group, param = name.split(".")
        header = f"[parameters.{group}.{param}]\n"
        shown = f"{value:.4g}" if abs(value) < 1e4 else f"{round(value)}"
        if header in text:
            start = text.index(header)
            end = text.find("\n\n", start)
            block = re.sub(r"value = [^\n]*", f"value = {shown}", text[start:end], count=1)
            text = text[:start] + block + text[end:]
        else:
            text += (
                f"\n{header}value = {shown}\n"
                'provenance = "calibrated (data/history_fit.md) on arrivals 1998-2016 (01), '
                'repatriations 1998-2006 (05) and hidden-stock estimates (05)"\n'
            )
    TOML.write_text(text)


def write_levers(values: dict[str, float]) -> None:
    """Write fitted starting values of levers into history.toml."""
    text = TOML.read_text()
    for name, value in values.items():
        start = text.index(f"[levers.{name}]\n")
        end = text.find("\n\n", start)
        block = re.sub(r"value = [^\n]*", f"value = {value:.3g}", text[start:end], count=1)
        text = text[:start] + block + text[end:]
    TOML.write_text(text)


def write_ramp(ramp: dict[str, float]) -> None:
    """Replace the broker_access rows of history_events.csv by the fitted steps and the
    lever's 1998 value in history.toml."""
    lines = EVENTS.read_text().splitlines()
    head = [line for line in lines if line.startswith("#") or line.startswith("date,")]
    rows = [
        line
        for line in lines
        if line.strip() and line not in head and ",lever,broker_access," not in line
    ]
    source = ramp_source(ramp)
    rows += [
        f'{year}-01-01,lever,broker_access,{value:g},,,,,,,,,"{source}"'
        for year, value in ramp_steps(ramp)[1:]
    ]
    rows.sort(key=lambda line: line[:10])
    EVENTS.write_text("\n".join(head + rows) + "\n")
    text = TOML.read_text()
    start = text.index("[levers.broker_access]\n")
    end = text.find("\n\n", start)
    block = re.sub(
        r"value = [^\n]*", f"value = {ramp_steps(ramp)[0][1]:g}", text[start:end], count=1
    )
    TOML.write_text(text[:start] + block + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--design", type=int, default=60)
    parser.add_argument("--evaluations", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ramp-form", choices=sorted(RAMP_FORMS), default="two-stage")
    parser.add_argument(
        "--ramp-start",
        type=float,
        nargs="+",
        default=None,
        help="start values of the ramp's parameters, in the order of RAMP_FORMS[--ramp-form]",
    )
    parser.add_argument(
        "--only",
        choices=("all", "ramp"),
        default="all",
        help="ramp: fit the ramp alone, every other value (and the missile rate) held at "
        "the scenario's",
    )
    parser.add_argument(
        "--ramp-up-weight", type=float, default=0.1, help="weight of ARD 1998-2004 in the loss"
    )
    parser.add_argument("--network-share", type=float, default=0.2)
    parser.add_argument(
        "--simplex", type=float, default=0.5, help="initial simplex step, logit units"
    )
    parser.add_argument("--write", action="store_true", help="write history.toml and the ramp")
    args = parser.parse_args()
    ramp_names = RAMP_FORMS[args.ramp_form]
    ramp_start = (
        args.ramp_start
        or {
            "logistic": (2005.3, 1.9),
            "two-stage": (0.5, 2001.5, 1.0, 2007.0, 1.0),
        }[args.ramp_form]
    )
    if len(ramp_start) != len(ramp_names):
        parser.error(f"--ramp-start takes {len(ramp_names)} values: {', '.join(ramp_names)}")
    started = time.time()
    scenario = load_scenario("history")
    record: dict[str, Any] = {
        "scenario": "history",
        "training_years": list(TRAIN),
        "replicates": args.replicates,
        "seed": args.seed,
    }

    pop = scenario.params.population

    def smaller(n: int) -> int:
        return max(1, round(n * args.network_share))

    network = {
        "population.restaurant_sites_max": smaller(pop.restaurant_sites_max),
        "population.restaurants_initial": smaller(pop.restaurants_initial),
        "population.labour_sites_max": smaller(pop.labour_sites_max),
        "population.labour_workers_initial": smaller(pop.labour_workers_initial),
    }
    record["network"] = {"share": args.network_share, **network}

    def run(s: Scenario) -> SimulationResult:
        return run_scenario(
            s.with_overrides(params=network), seed=args.seed, replicates=args.replicates
        )

    rate = scenario.params.strategic.missile_rate_per_year
    if args.only == "all":
        # stage 1: missile-test rate by moments
        obs_total = float(sum(o.value for o in observed("missile_tests")))
        steps = []
        for _ in range(3):
            s = scenario.with_overrides(params={"strategic.missile_rate_per_year": rate})
            total = missile_total(run(s))
            steps.append({"rate_per_year": rate, "simulated_total": total})
            rate *= obs_total / max(total, 1e-9)
            print("missile rate step", steps[-1], "->", rate, flush=True)
        scenario = scenario.with_overrides(params={"strategic.missile_rate_per_year": rate})
        record["missile_moment"] = {
            "observed_total_1998_2016": obs_total,
            "steps": steps,
            "fitted_rate_per_year": rate,
        }
    else:
        previous = json.loads(OUT.read_text()) if OUT.exists() else {}
        record["missile_moment"] = {
            **previous.get("missile_moment", {}),
            "note": "held (--only ramp): the rate of the previous fit",
            "fitted_rate_per_year": rate,
        }

    # stage 2: the wider flow, enforcement and the ramp (or the ramp alone)
    held = () if args.only == "ramp" else FIT_PARAMS
    held_levers = () if args.only == "ramp" else FIT_LEVERS
    names = held + tuple(f"lever.{n}" for n in held_levers) + ramp_names
    bounds = [scenario.uncertainties[name] for name in held]
    bounds += [LEVER_BOUNDS[name] for name in held_levers]
    bounds += [RAMP_BOUNDS[name] for name in ramp_names]
    start = {name: scenario.provenance[name].value for name in held}
    start.update({f"lever.{n}": scenario.provenance[f"lever.{n}"].value for n in held_levers})
    start.update(zip(ramp_names, ramp_start, strict=True))
    trace: list[dict[str, Any]] = []

    def objective(x: np.ndarray) -> float:
        values = decode(x, names, bounds)
        parts = loss_parts(run(variant(scenario, values)), args.ramp_up_weight)
        trace.append({**values, **parts})
        print(len(trace), {k: round(v, 4) for k, v in {**values, **parts}.items()}, flush=True)
        return parts["loss"]

    x0 = encode(start, names, bounds)
    scored = [(objective(x0), x0)]
    design = np.clip(
        qmc.LatinHypercube(d=len(names), seed=20160406).random(args.design), 1e-3, 1 - 1e-3
    )
    scored += [(objective(np.log(u / (1 - u))), np.log(u / (1 - u))) for u in design]
    best_loss, x_start = min(scored, key=lambda item: item[0])
    # an initial simplex of --simplex logit units along each axis (0.5 by default): scipy's
    # default (5 % of each coordinate) is too small to leave a noisy start point's
    # neighbourhood; a polish from a fitted point takes a smaller step
    step = args.simplex * np.eye(len(x_start))
    simplex = np.vstack([x_start] + [x_start + step[i] for i in range(len(x_start))])
    fit = minimize(
        objective,
        x_start,
        method="Nelder-Mead",
        options={
            "maxfev": args.evaluations,
            "xatol": 1e-3,
            "fatol": 1e-4,
            "initial_simplex": simplex,
        },
    )
    best = decode(fit.x, names, bounds)
    best_parts = loss_parts(run(variant(scenario, best)), args.ramp_up_weight)
    ramp = {name: best[name] for name in ramp_names}
    record["broker_access_ramp"] = {
        **ramp,
        "form": f"{RAMP_FORMULA[args.ramp_form]}, yearly steps at mid-year values",
        "steps": [[f"{year}-01-01", value] for year, value in ramp_steps(ramp)],
    }
    record["fit"] = {
        "method": (
            f"start point and a Latin hypercube of {args.design} points over the declared "
            "ranges (log scale), then Nelder-Mead (scipy) from the best on the logit of the "
            f"log-scaled ranges; full runs of {args.replicates} replicates with common random "
            f"numbers (seed {args.seed})"
            + ("; the ramp alone, every other value held" if args.only == "ramp" else "")
        ),
        "command": "python scripts/fit_history.py " + " ".join(sys.argv[1:]),
        "ramp_up_weight": args.ramp_up_weight,
        "parameters": list(names),
        "bounds": {name: list(b) for name, b in zip(names, bounds, strict=True)},
        "start": start,
        "fitted": best,
        "fitted_loss": best_parts,
        "evaluations": len(trace),
        "converged": bool(fit.success),
        "trace": trace,
    }
    if args.only == "ramp":
        record["fit"]["held"] = {
            **{name: scenario.provenance[name].value for name in FIT_PARAMS},
            **{f"lever.{n}": scenario.provenance[f"lever.{n}"].value for n in FIT_LEVERS},
        }
    record["wall_time_s"] = round(time.time() - started, 1)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    if args.write:
        if args.only == "all":
            write_toml(
                {"strategic.missile_rate_per_year": rate, **{k: best[k] for k in FIT_PARAMS}}
            )
            write_levers({name: best[f"lever.{name}"] for name in FIT_LEVERS})
        write_ramp(ramp)
    print(json.dumps({k: v for k, v in record["fit"].items() if k != "trace"}, indent=1))


if __name__ == "__main__":
    main()
