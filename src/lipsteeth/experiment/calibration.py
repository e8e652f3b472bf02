"""Calibration by ABC-SMC (pyabc) against observed targets.

The priors are uniform over the scenario's declared uncertainty ranges (or a
chosen subset).  A particle is a scenario with those parameters overridden;
its summary statistics are the simulated values of the targets that fall in
the scenario's horizon (``targets.result_statistics``) and its distance is
the reliability-weighted distance of ``targets.distance``.

pyabc samples and keeps its history in a database; which database and which
sampler (single core, or Dask through ``adapters.executors_dask``) are given
by the caller, so this module touches neither files nor clusters itself.  The
run stops on whichever comes first: the tolerance ``min_epsilon``, the
generation limit, an acceptance rate below ``min_acceptance_rate``, or the
simulation budget.

A particle's simulation seed is a hash of the calibration seed and its
parameter values: a particle is a deterministic function of its parameters,
and two different particles never share a random stream.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .designs import _is_integer_param
from .ensemble import run_scenario
from .targets import Target, distance, horizon_years, in_horizon, result_statistics

if TYPE_CHECKING:
    import pandas as pd

    from ..scenario import Scenario


class CalibrationError(ValueError):
    """A calibration cannot run as asked (one-line message)."""


@dataclass(frozen=True)
class Prior:
    """A uniform prior on one parameter (``group.name``)."""

    name: str
    low: float
    high: float
    integer: bool = False

    @property
    def key(self) -> str:
        """The parameter's name in pyabc (letters, digits and underscores only)."""
        return re.sub(r"\W", "_", self.name)


#: the most uncertainties a calibration takes by default (issue 14: NPE and ABC-SMC are
#: built for 6-30 parameters; baseline-2016 declares over a hundred)
MAX_DEFAULT_PARAMETERS = 30


def default_parameters(scenario: Scenario) -> list[str]:
    """What a calibration calibrates when the user names nothing (issue 14).

    The parameters of the scenario's shipped posterior (the recipe its calibration
    to data up to 2016 used: scripts/calibrate_posteriors.py), if it ships one; else
    every declared uncertainty, if there are at most ``MAX_DEFAULT_PARAMETERS``.
    """
    declared = list(scenario.uncertainties)
    if scenario.posterior is not None:
        from .posterior import packaged

        shipped = [name for name in packaged(scenario.posterior).names if name in declared]
        if shipped:
            return shipped
    if len(declared) > MAX_DEFAULT_PARAMETERS:
        raise CalibrationError(
            f"{scenario.name} declares {len(declared)} uncertainties and ships no posterior "
            f"naming a subset: name at most {MAX_DEFAULT_PARAMETERS} to calibrate (--params)"
        )
    return declared


def priors_from_scenario(scenario: Scenario, names: Sequence[str] | None = None) -> list[Prior]:
    """Uniform priors over the declared ranges of ``names`` (default: ``default_parameters``)."""
    declared = dict(scenario.uncertainties)
    chosen = list(names) if names else default_parameters(scenario)
    priors = []
    for name in chosen:
        if name not in declared:
            raise CalibrationError(
                f"{name}: not a declared uncertainty of {scenario.name} (declare a range)"
            )
        low, high = declared[name]
        if not high > low:
            raise CalibrationError(f"{name}: its range [{low}, {high}] is empty")
        priors.append(Prior(name, float(low), float(high), _is_integer_param(name)))
    if not priors:
        raise CalibrationError(f"{scenario.name} declares no uncertainties to calibrate")
    return priors


@dataclass(frozen=True)
class CalibrationSettings:
    """Population size, stopping rules, replicates per particle and seed."""

    population_size: int = 100
    max_generations: int = 8
    min_epsilon: float = 0.0
    min_acceptance_rate: float = 0.02
    max_simulations: int | None = None
    replicates: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.population_size < 2:
            raise CalibrationError("the population needs at least 2 particles")
        if self.max_generations < 1:
            raise CalibrationError("at least 1 generation")
        if self.replicates < 1:
            raise CalibrationError("at least 1 replicate per particle")
        if not 0 <= self.min_acceptance_rate < 1:
            raise CalibrationError("min_acceptance_rate must be in [0, 1)")


def particle_seed(base: int, values: Mapping[str, float]) -> int:
    """A 63-bit seed from the calibration seed and the particle's parameter values."""
    text = json.dumps([int(base), sorted((k, repr(float(v))) for k, v in values.items())])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


@dataclass(frozen=True)
class CalibrationModel:
    """The pyabc model: parameters -> simulated target statistics (picklable)."""

    scenario: Scenario
    priors: tuple[Prior, ...]
    targets: tuple[Target, ...]
    replicates: int = 1
    seed: int = 0

    def values(self, parameters: Mapping[str, float]) -> dict[str, float]:
        """pyabc parameters back to ``group.name`` values (integers rounded)."""
        out = {}
        for p in self.priors:
            v = float(parameters[p.key])
            out[p.name] = float(round(v)) if p.integer else v
        return out

    def simulate(self, values: Mapping[str, float]) -> dict[str, float]:
        """Target statistics of one particle."""
        scenario = self.scenario.with_overrides(
            params={
                p.name: (int(values[p.name]) if p.integer else values[p.name]) for p in self.priors
            }
        )
        result = run_scenario(
            scenario,
            seed=particle_seed(self.seed, values),
            replicate_indices=np.arange(self.replicates),
        )
        return result_statistics(list(self.targets), result)

    def __call__(self, parameters: Mapping[str, float]) -> dict[str, float]:
        return self.simulate(self.values(parameters))


@dataclass(frozen=True)
class TargetDistance:
    """pyabc distance ``d(x, x0)``: the targets' weighted distance of ``x`` (``x0`` unused)."""

    targets: tuple[Target, ...]

    def __call__(self, x: Mapping[str, float], x_0: Mapping[str, float] | None = None) -> float:
        return distance(list(self.targets), x)


class PosteriorSample:
    """What every calibration result offers: a weighted posterior sample over its priors.

    Subclasses set ``priors``, ``targets`` and ``method`` and implement
    ``posterior()`` (one row per particle: ``weight`` and one column per
    prior) and ``description()`` (how the sample was made, for provenance).
    """

    priors: tuple[Prior, ...]
    targets: tuple[Target, ...]
    method: str

    def posterior(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def description(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Per parameter: prior range, weighted posterior median, mean and central interval."""
        import pandas as pd

        post = self.posterior()
        w = post["weight"].to_numpy(dtype=float)
        rows = []
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        for p in self.priors:
            x = post[p.name].to_numpy(dtype=float)
            rows.append(
                {
                    "parameter": p.name,
                    "prior_low": p.low,
                    "prior_high": p.high,
                    "median": weighted_quantile(x, w, 0.5),
                    "mean": float(np.sum(w * x) / np.sum(w)),
                    "low": weighted_quantile(x, w, lo_q),
                    "high": weighted_quantile(x, w, hi_q),
                    "level": level,
                }
            )
        return pd.DataFrame(rows)

    def point_estimate(self) -> dict[str, float]:
        """Weighted posterior medians (integer parameters rounded)."""
        summary = self.summary()
        out = {}
        for p, median in zip(self.priors, summary["median"], strict=True):
            out[p.name] = float(round(median)) if p.integer else float(median)
        return out


@dataclass
class CalibrationResult(PosteriorSample):
    """ABC-SMC: posterior, per-generation diagnostics and what stopped the run."""

    priors: tuple[Prior, ...]
    targets: tuple[Target, ...]
    populations: pd.DataFrame  # generation, particle, weight, distance, one column per prior
    generations: pd.DataFrame  # generation, epsilon, simulations, particles, acceptance, ess, ...
    n_simulations: int
    stop_reason: str
    wall_seconds: float
    settings: CalibrationSettings
    extra: dict[str, Any] = field(default_factory=dict)
    method: str = "abc"

    @property
    def last_generation(self) -> int:
        return int(self.generations["generation"].max())

    def posterior(self) -> pd.DataFrame:
        """Particles of the last generation (with weights summing to 1)."""
        df = self.populations
        return df[df["generation"] == self.last_generation].reset_index(drop=True)

    def description(self) -> str:
        return (
            f"ABC-SMC ({self.settings.population_size} particles, generation "
            f"{self.last_generation}, {self.n_simulations} simulations)"
        )


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Quantile ``q`` of the weighted sample ``x`` (inverse of the weighted empirical CDF)."""
    order = np.argsort(x)
    x, w = np.asarray(x, dtype=float)[order], np.asarray(w, dtype=float)[order]
    cdf = np.cumsum(w) / np.sum(w)
    i = int(np.searchsorted(cdf, q, side="left"))
    return float(x[min(i, x.size - 1)])


def effective_sample_size(w: np.ndarray) -> float:
    """Kish's effective sample size of importance weights."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2)) if w.size and np.sum(w**2) > 0 else 0.0


def calibrate(
    scenario: Scenario,
    targets: Sequence[Target],
    priors: Sequence[Prior],
    settings: CalibrationSettings,
    *,
    db_url: str,
    sampler: Any = None,
) -> CalibrationResult:
    """ABC-SMC of ``priors`` against the ``targets`` in the scenario's horizon.

    ``db_url`` is pyabc's history database (``sqlite:///path/abc.db``);
    ``sampler`` a pyabc sampler (default: single core in this process).
    """
    import pyabc

    first, last = horizon_years(scenario.start, scenario.end)
    usable = tuple(in_horizon(list(targets), list(range(first, last + 1))))
    if not usable:
        raise CalibrationError(f"no target falls in {scenario.name}'s horizon ({first}-{last})")
    priors = tuple(priors)
    model = CalibrationModel(scenario, priors, usable, settings.replicates, settings.seed)
    prior = pyabc.Distribution(
        **{p.key: pyabc.RV("uniform", p.low, p.high - p.low) for p in priors}
    )
    abc = pyabc.ABCSMC(
        model,
        prior,
        TargetDistance(usable),
        population_size=settings.population_size,
        sampler=sampler or pyabc.sampler.SingleCoreSampler(),
    )
    observed = {t.key: t.centre for t in usable}
    np.random.seed(settings.seed % 2**32)
    abc.new(db_url, observed)
    start = time.perf_counter()
    history = abc.run(
        minimum_epsilon=settings.min_epsilon,
        max_nr_populations=settings.max_generations,
        min_acceptance_rate=settings.min_acceptance_rate,
        max_total_nr_simulations=(settings.max_simulations if settings.max_simulations else np.inf),
    )
    wall = time.perf_counter() - start
    return _collect(history, priors, usable, settings, wall)


def _collect(
    history: Any,
    priors: tuple[Prior, ...],
    targets: tuple[Target, ...],
    settings: CalibrationSettings,
    wall: float,
) -> CalibrationResult:
    import pandas as pd

    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0].sort_values("t").reset_index(drop=True)
    frames = []
    gen_rows = []
    previous_end = None
    for _, row in pops.iterrows():
        t = int(row["t"])
        df, w = history.get_distribution(m=0, t=t)
        frame = pd.DataFrame(
            {p.name: df[p.key].to_numpy(dtype=float) for p in priors}, index=df.index
        )
        frame.insert(0, "weight", np.asarray(w, dtype=float))
        frame.insert(0, "particle", np.arange(len(frame)))
        frame.insert(0, "generation", t)
        frames.append(frame.reset_index(drop=True))
        samples = int(row["samples"])
        particles = int(row["particles"])
        end = row["population_end_time"]
        seconds: float | None = (
            float((end - previous_end).total_seconds()) if previous_end is not None else None
        )
        previous_end = end
        gen_rows.append(
            {
                "generation": t,
                "epsilon": float(row["epsilon"]),
                "simulations": samples,
                "particles": particles,
                "acceptance_rate": particles / samples if samples else float("nan"),
                "ess": effective_sample_size(np.asarray(w)),
                "seconds": seconds,
            }
        )
    populations = pd.concat(frames, ignore_index=True)
    generations = pd.DataFrame(gen_rows)
    distances = _distances(history, generations["generation"].tolist())
    if distances is not None:
        populations = populations.merge(distances, on=["generation", "particle"], how="left")
    n_sims = int(history.total_nr_simulations)
    last = generations.iloc[-1]
    if last["epsilon"] <= settings.min_epsilon:
        reason = f"tolerance reached (epsilon {last['epsilon']:.4g} <= {settings.min_epsilon:g})"
    elif last["acceptance_rate"] < settings.min_acceptance_rate:
        reason = (
            f"acceptance rate {last['acceptance_rate']:.3g} fell below "
            f"{settings.min_acceptance_rate:g}"
        )
    elif settings.max_simulations and n_sims >= settings.max_simulations:
        reason = f"simulation budget reached ({n_sims} >= {settings.max_simulations})"
    elif len(generations) >= settings.max_generations:
        reason = f"generation limit reached ({settings.max_generations})"
    else:
        reason = "stopped by pyabc"
    return CalibrationResult(
        priors, targets, populations, generations, n_sims, reason, wall, settings
    )


def _distances(history: Any, generations: list[int]) -> pd.DataFrame | None:
    """Accepted particles' distances per generation (None if pyabc cannot give them)."""
    import pandas as pd

    frames = []
    try:
        for t in generations:
            wd = history.get_weighted_distances(t=t)
            frames.append(
                pd.DataFrame(
                    {
                        "generation": t,
                        "particle": np.arange(len(wd)),
                        "distance": wd["distance"].to_numpy(dtype=float),
                    }
                )
            )
    except Exception:  # pragma: no cover - older pyabc
        return None
    return pd.concat(frames, ignore_index=True)


def synthetic_targets(
    scenario: Scenario,
    values: Mapping[str, float],
    series: Sequence[tuple[str, int, int]],
    *,
    replicates: int = 4,
    seed: int = 0,
    reliability: str = "high",
) -> list[Target]:
    """Point targets simulated from ``scenario`` at known parameter ``values``.

    ``series`` lists ``(outcome, first_year, last_year)``.  Used to check that
    calibration recovers parameters from the model's own output.
    """
    scenario = scenario.with_overrides(params=dict(values)) if values else scenario
    result = run_scenario(scenario, seed=seed, replicate_indices=np.arange(replicates))
    stubs = [Target(s, a, b, 0.0, 0.0, 0.0, reliability, "synthetic") for s, a, b in series]
    stats = result_statistics(stubs, result)
    out = []
    for t in stubs:
        v = stats[t.key]
        out.append(
            Target(
                t.series,
                t.first_year,
                t.last_year,
                v,
                v,
                v,
                reliability,
                f"synthetic: simulated at {dict(values)} (seed {seed})",
            )
        )
    return out


def calibrated_toml(
    scenario: Scenario,
    result: PosteriorSample,
    *,
    name: str,
    note: str = "",
    level: float = 0.9,
) -> str:
    """A complete scenario file: ``scenario`` with the calibrated parameters set.

    Each calibrated parameter takes its weighted posterior median; its
    provenance says so and gives the posterior interval and the targets.  The
    declared range is kept (it is the prior: later sweeps explore the same
    space).  The text is checked by loading it back.
    """
    from ..scenario import load_scenario_text

    summary = result.summary(level)
    estimate = result.point_estimate()
    calibrated = scenario.with_overrides(
        params={
            p.name: (int(estimate[p.name]) if p.integer else estimate[p.name])
            for p in result.priors
        }
    )
    text = calibrated.to_toml()
    sources = sorted({t.key for t in result.targets})
    for p, row in zip(result.priors, summary.itertuples(index=False), strict=True):
        provenance = (
            f"calibrated: weighted posterior median of {result.description()}, "
            f"{int(level * 100)} % interval "
            f"[{row.low:.6g}, {row.high:.6g}], prior [{p.low:.6g}, {p.high:.6g}]; "
            f"targets: {', '.join(sources)}" + (f"; {note}" if note else "")
        )
        text = _replace_in_table(
            text, f"[parameters.{p.name}]", "provenance", json.dumps(provenance)
        )
    text = _replace_in_table(text, "[scenario]", "name", json.dumps(name))
    title = f"{scenario.title} (calibrated)"
    text = _replace_in_table(text, "[scenario]", "title", json.dumps(title))
    text = text.replace(
        f"# lipsteeth scenario {scenario.name!r}",
        f"# lipsteeth scenario {name!r}, calibrated from {scenario.name!r}",
        1,
    )
    loaded = load_scenario_text(text, f"{name}.toml")
    for p in result.priors:
        want = estimate[p.name]
        got = loaded.provenance[p.name].value
        if not math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12):
            raise CalibrationError(f"{p.name}: calibrated value did not round-trip")
    return text


def _replace_in_table(text: str, header: str, key: str, new_value: str) -> str:
    """Replace ``key = ...`` (a one-line value) inside the TOML table ``header``."""
    lines = text.split("\n")
    try:
        start = lines.index(header)
    except ValueError:
        raise CalibrationError(f"{header} not found in the scenario text") from None
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.startswith("["):
            break
        if line.startswith(f"{key} = "):
            lines[i] = f"{key} = {new_value}"
            return "\n".join(lines)
    raise CalibrationError(f"{key} not found in {header}")


def is_finite_result(result: CalibrationResult) -> bool:
    """True when every posterior value and weight is finite."""
    post = result.posterior()
    cols = ["weight", *[p.name for p in result.priors]]
    return bool(np.all(np.isfinite(post[cols].to_numpy(dtype=float)))) and math.isfinite(
        float(result.generations["epsilon"].iloc[-1])
    )
