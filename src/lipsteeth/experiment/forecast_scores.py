"""Probabilistic forecast scores and frozen forecasts (pure: numbers and dicts in, numbers out).

The forecast of one series in one period
-----------------------------------------
The ensemble gives ``R`` simulated values of the observed quantity (one per
replicate, under the series' observation model: ``validation.SERIES``).  The
*predictive distribution* is what an observer would report: for counts the
``R`` values themselves; for rough estimates (``obs_rel_sd > 0``) each value
times ``OBS_ERROR_DRAWS`` fixed draws of a log-normal observation error of
relative size ``obs_rel_sd`` with mean one (``R * 400`` values).  A
:class:`PeriodForecast` holds the ``R`` members, the median of the members
(used by ARD and MASE, as before) and the predictive quantiles at
:data:`QUANTILE_LEVELS`, the 23 levels of the COVID-19 Forecast Hub
(0.01, 0.025, 0.05, 0.10, 0.15, ..., 0.90, 0.95, 0.975, 0.99), computed with
``numpy.quantile`` (linear interpolation).

Scores of one observation (lower is better for WIS and CRPS)
-------------------------------------------------------------
* WIS, the weighted interval score of Bracher et al. (2021, PLoS Comput. Biol.
  17:e1008618), from the 23 quantiles: the predictive median and the 11
  central intervals with alpha = 0.02, 0.05, 0.1, 0.2, ..., 0.9, with the
  canonical weights (1/2 for the median's absolute error, alpha/2 for each
  interval score), divided by K + 1/2 = 11.5 (``scoringrules.weighted_interval_score``).
* CRPS of the empirical predictive distribution (all its values, not the 23
  quantiles): E|X - y| - E|X - X'| / 2 (``scoringrules.crps_ensemble``, its
  default quantile-decomposition estimator).
* Both use scoringrules' numba backend (its default, and the one its own tests
  cover): in scoringrules 0.10 the numpy backend of the WIS adds
  ``w_median * median`` where ``w_median * |y - median|`` belongs
  (``test_wis_from_known_quantiles`` catches it).
* A range observation (``low..high``, or one bound only) does not say where in
  the range the truth lies: WIS and CRPS are taken at the point of the range
  nearest the predictive median, which is where both scores (convex in the
  observation, smallest at the median) are lowest over the range: the score of
  the most favourable reading, as the absolute error of ARD is zero inside the
  range.  A point observation is scored at its value.
* Coverage: the observation (or its range) lies inside the central 50 %
  interval (quantiles 0.25 to 0.75) or the 90 % interval (0.05 to 0.95) when
  the two intervals overlap.

Benchmarks for the relative mean absolute error
-----------------------------------------------
Both benchmarks know only the observations *before* the scored window (a
range enters as its midpoint, or its one bound), of the same series and, for
counts, of the same period length (a monthly count says nothing about a
year's sum):

* persistence: the last earlier observation, carried forward;
* drift: the least-squares line through all earlier observations (observed
  magnitude against the period's position in decimal years,
  ``validation.period_x``), extrapolated to each scored period and floored at
  zero (every series is non-negative).  It needs at least two earlier
  observations at different periods; with fewer it is not defined.

The relative MAE is the model's mean absolute error (of the members' median,
as in ARD) over the benchmark's, both over the same scored observations.  It is
null (never a made-up number) when a benchmark is not defined for every scored
observation, or when the benchmark is exact (zero error).

Frozen forecasts
----------------
:class:`Forecast` holds the per-period forecasts of some series over some
years, with the scenario's hash, seed, replicate count, split year and
versions.  ``to_dict`` / ``forecast_from_dict`` are its JSON form; reading
refuses a malformed document with one line naming the field, and checks that
the stored median and quantiles are those of the stored members.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

QUANTILE_LEVELS: tuple[float, ...] = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.35,
    0.4,
    0.45,
    0.5,
    0.55,
    0.6,
    0.65,
    0.7,
    0.75,
    0.8,
    0.85,
    0.9,
    0.95,
    0.975,
    0.99,
)
OBS_ERROR_DRAWS = 400
OBS_ERROR_SEED = 0
FROZEN_FORMAT = "lipsteeth-frozen-forecast"
FROZEN_VERSION = 1
_QUANTILE_RTOL = 1e-9
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2}))?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FrozenForecastError(ValueError):
    """A malformed frozen forecast (one line, naming the field)."""


# --- the predictive distribution -----------------------------------------------------------


def _obs_error_factors(rel_sd: float) -> np.ndarray:
    """The fixed multiplicative observation errors (log-normal, mean one) of size ``rel_sd``."""
    noise = np.random.default_rng(OBS_ERROR_SEED).standard_normal(OBS_ERROR_DRAWS)
    sigma = math.sqrt(math.log1p(rel_sd**2))
    return np.exp(sigma * noise - 0.5 * sigma**2)


def predictive_sample(members: np.ndarray, rel_sd: float) -> np.ndarray:
    """All values of the predictive distribution: the members, widened by observation error."""
    members = np.asarray(members, dtype=float)
    if rel_sd <= 0:
        return members
    return (members[:, None] * _obs_error_factors(rel_sd)[None, :]).ravel()


@dataclass(frozen=True)
class PeriodForecast:
    """The forecast of one series for one period: members, their median, predictive quantiles."""

    members: np.ndarray  # (R,) simulated values under the observation model
    rel_sd: float
    median: float  # median of the members (ARD, MASE)
    quantiles: np.ndarray  # predictive quantiles at QUANTILE_LEVELS

    @classmethod
    def from_members(cls, members: np.ndarray, rel_sd: float) -> PeriodForecast:
        members = np.asarray(members, dtype=float)
        sample = predictive_sample(members, rel_sd)
        return cls(
            members=members,
            rel_sd=float(rel_sd),
            median=float(np.median(members)),
            quantiles=np.quantile(sample, QUANTILE_LEVELS),
        )

    def quantile(self, level: float) -> float:
        return float(self.quantiles[QUANTILE_LEVELS.index(level)])

    def central(self, mass: float) -> tuple[float, float]:
        """The central interval holding ``mass`` (0.5: quantiles 0.25-0.75; 0.9: 0.05-0.95)."""
        tail = round((1.0 - mass) / 2.0, 6)
        return self.quantile(tail), self.quantile(round(1.0 - tail, 6))

    @property
    def predictive_median(self) -> float:
        return self.quantile(0.5)

    def sample(self) -> np.ndarray:
        return predictive_sample(self.members, self.rel_sd)


# --- scores of one observation -------------------------------------------------------------


def scoring_point(interval: tuple[float, float], median: float) -> float:
    """Where an observed interval (one-sided or a point) is scored: its point nearest the median."""
    low, high = interval
    return float(min(max(median, low), high))


def crps(sample: np.ndarray, y: float) -> float:
    """CRPS of the empirical distribution of ``sample`` at the observation ``y``."""
    import scoringrules as sr

    return float(sr.crps_ensemble(float(y), np.asarray(sample, dtype=float), backend="numba"))


def wis(quantiles: Sequence[float] | np.ndarray, levels: Sequence[float], y: float) -> float:
    """Weighted interval score of quantiles at symmetric ``levels`` (containing 0.5) at ``y``.

    Each level ``tau < 0.5`` pairs with ``1 - tau`` into the central interval of
    ``alpha = 2 tau``; canonical weights (scoringrules' defaults).
    """
    import scoringrules as sr

    q = {round(float(level), 9): float(v) for level, v in zip(levels, quantiles, strict=True)}
    if 0.5 not in q:
        raise ValueError("WIS needs the median (level 0.5)")
    lows = sorted(level for level in q if level < 0.5)
    for level in lows:
        if round(1.0 - level, 9) not in q:
            raise ValueError(f"WIS needs level {1 - level:g} to pair with {level:g}")
    lower = np.array([q[level] for level in lows])
    upper = np.array([q[round(1.0 - level, 9)] for level in lows])
    alpha = np.array([2.0 * level for level in lows])
    return float(sr.weighted_interval_score(float(y), q[0.5], lower, upper, alpha, backend="numba"))


def covered(interval: tuple[float, float], band: tuple[float, float]) -> bool:
    """Whether an observed interval (a point is a degenerate one) overlaps a band."""
    return interval[0] <= band[1] and band[0] <= interval[1]


@dataclass(frozen=True)
class ObservationScores:
    """Model scores of one observation."""

    scored_at: float
    wis: float
    crps: float
    p25: float
    p75: float
    p5: float
    p95: float
    inside_50: bool
    inside_90: bool


def score_observation(forecast: PeriodForecast, interval: tuple[float, float]) -> ObservationScores:
    """WIS, CRPS and 50 %/90 % coverage of one observation (see the module doc)."""
    y = scoring_point(interval, forecast.predictive_median)
    p25, p75 = forecast.central(0.5)
    p5, p95 = forecast.central(0.9)
    return ObservationScores(
        scored_at=y,
        wis=wis(forecast.quantiles, QUANTILE_LEVELS, y),
        crps=crps(forecast.sample(), y),
        p25=p25,
        p75=p75,
        p5=p5,
        p95=p95,
        inside_50=covered(interval, (p25, p75)),
        inside_90=covered(interval, (p5, p95)),
    )


# --- benchmarks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftFit:
    """Least-squares line of earlier observations: value = level + slope * (x - x_last)."""

    n: int
    x_last: float
    level: float  # the line's value at the last earlier observation's position
    slope_per_year: float

    def predict(self, x: float) -> float:
        return max(0.0, self.level + self.slope_per_year * (x - self.x_last))


def fit_drift(xs: Sequence[float], values: Sequence[float]) -> DriftFit | None:
    """The drift benchmark of earlier observations; None with fewer than two distinct positions."""
    x = np.asarray(xs, dtype=float)
    v = np.asarray(values, dtype=float)
    if x.size < 2 or np.unique(x).size < 2:
        return None
    x_last = float(x.max())
    slope, level = np.polyfit(x - x_last, v, 1)  # centred: well conditioned
    return DriftFit(n=int(x.size), x_last=x_last, level=float(level), slope_per_year=float(slope))


def relative_mae(
    model_errors: Sequence[float], benchmark_errors: Sequence[float | None]
) -> float | None:
    """Mean absolute model error over the benchmark's; None if a benchmark is missing or exact."""
    if not model_errors or len(model_errors) != len(benchmark_errors):
        return None
    if any(e is None for e in benchmark_errors):
        return None
    scale = float(np.mean([abs(float(e)) for e in benchmark_errors if e is not None]))
    if scale == 0:
        return None
    return float(np.mean(np.abs(model_errors))) / scale


def mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


# --- frozen forecasts --------------------------------------------------------------------------


def period_label(year: int, month: int | None) -> str:
    return f"{year}" if month is None else f"{year}-{month:02d}"


@dataclass(frozen=True)
class Forecast:
    """Per-period forecasts of some series over the years ``first_year..last_year``.

    ``meta`` holds the provenance (scenario name and hash, seed, replicates,
    core digest, horizon, versions, creation time), written and read back verbatim.
    """

    periods: Mapping[str, Mapping[str, PeriodForecast]]  # series -> period label -> forecast
    series_info: Mapping[str, Mapping[str, Any]]  # series -> unit, observation, outcome, rel sd
    first_year: int
    last_year: int
    split: int | None
    replicates: int
    seed: int
    meta: Mapping[str, Any] = field(default_factory=dict)

    def lookup(self, series: str, year: int, month: int | None) -> PeriodForecast | None:
        return self.periods.get(series, {}).get(period_label(year, month))

    def to_dict(self) -> dict[str, Any]:
        meta = {k: v for k, v in self.meta.items() if k not in _RESERVED}
        return {
            "format": FROZEN_FORMAT,
            "format_version": FROZEN_VERSION,
            **meta,
            "seed": int(self.seed),
            "replicates": int(self.replicates),
            "split": self.split,
            "from": int(self.first_year),
            "to": int(self.last_year),
            "quantile_levels": list(QUANTILE_LEVELS),
            "obs_error": {"draws": OBS_ERROR_DRAWS, "seed": OBS_ERROR_SEED},
            "series": {
                name: {
                    **dict(self.series_info[name]),
                    "periods": {
                        label: {
                            "median": pf.median,
                            "quantiles": [float(q) for q in pf.quantiles],
                            "members": [float(m) for m in pf.members],
                        }
                        for label, pf in periods.items()
                    },
                }
                for name, periods in self.periods.items()
            },
        }


_RESERVED = frozenset(
    {
        "format",
        "format_version",
        "seed",
        "replicates",
        "split",
        "from",
        "to",
        "quantile_levels",
        "obs_error",
        "series",
    }
)


def _need(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise FrozenForecastError(f"{where}{key}: missing")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise FrozenForecastError(f"{where}{key}: expected {names}, got {type(value).__name__}")
    return value


def _numbers(values: Any, where: str, n: int | None = None) -> np.ndarray:
    if not isinstance(values, list):
        raise FrozenForecastError(f"{where}: expected a list of numbers")
    if n is not None and len(values) != n:
        raise FrozenForecastError(f"{where}: {len(values)} numbers where {n} are expected")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise FrozenForecastError(f"{where}: not a finite number: {str(v)[:40]!r}")
        if v < 0:
            raise FrozenForecastError(f"{where}: negative value {v!r}")
    return np.asarray(values, dtype=float)


def forecast_from_dict(
    doc: Any, known_series: Collection[str], source: str = "<frozen>"
) -> Forecast:
    """The :class:`Forecast` of a frozen document (``FrozenForecastError`` names a bad field)."""
    at = f"{source}: "
    if not isinstance(doc, dict):
        raise FrozenForecastError(f"{source}: expected a JSON object")
    if doc.get("format") != FROZEN_FORMAT:
        raise FrozenForecastError(f"{at}format: expected {FROZEN_FORMAT!r}")
    if _need(doc, "format_version", int, at) != FROZEN_VERSION:
        raise FrozenForecastError(
            f"{at}format_version: {doc['format_version']} is not {FROZEN_VERSION}"
        )
    _need(doc, "scenario", str, at)
    hashes = _need(doc, "scenario_sha256", dict, at)
    resolved = hashes.get("resolved_toml")
    if not isinstance(resolved, str) or not _SHA256.match(resolved):
        raise FrozenForecastError(f"{at}scenario_sha256.resolved_toml: expected 64 hex digits")
    seed = _need(doc, "seed", int, at)
    if seed < 0:
        raise FrozenForecastError(f"{at}seed: must be >= 0")
    replicates = _need(doc, "replicates", int, at)
    if replicates < 1:
        raise FrozenForecastError(f"{at}replicates: must be >= 1")
    first = _need(doc, "from", int, at)
    last = _need(doc, "to", int, at)
    if first > last:
        raise FrozenForecastError(f"{at}from: {first} is after to {last}")
    split = doc.get("split", "missing")
    if split == "missing":
        raise FrozenForecastError(f"{at}split: missing")
    if split is not None:
        if isinstance(split, bool) or not isinstance(split, int):
            raise FrozenForecastError(f"{at}split: expected int or null")
        if not first < split <= last:
            raise FrozenForecastError(
                f"{at}split: {split} must be after from ({first}) and at most to ({last})"
            )
    levels = _need(doc, "quantile_levels", list, at)
    if levels != list(QUANTILE_LEVELS):
        raise FrozenForecastError(f"{at}quantile_levels: not the 23 levels of this version")
    obs_error = _need(doc, "obs_error", dict, at)
    if obs_error != {"draws": OBS_ERROR_DRAWS, "seed": OBS_ERROR_SEED}:
        raise FrozenForecastError(f"{at}obs_error: not the observation-error draws of this version")
    series_doc = _need(doc, "series", dict, at)
    if not series_doc:
        raise FrozenForecastError(f"{at}series: no series")
    periods: dict[str, dict[str, PeriodForecast]] = {}
    info: dict[str, dict[str, Any]] = {}
    for name, entry in series_doc.items():
        where = f"{at}series.{name}"
        if name not in known_series:
            raise FrozenForecastError(f"{where}: unknown series {name!r}")
        if not isinstance(entry, dict):
            raise FrozenForecastError(f"{where}: expected an object")
        rel_sd = _need(entry, "obs_rel_sd", (int, float), where + ".")
        if not math.isfinite(rel_sd) or rel_sd < 0:
            raise FrozenForecastError(f"{where}.obs_rel_sd: must be a finite number >= 0")
        info[name] = {k: v for k, v in entry.items() if k != "periods"}
        period_doc = _need(entry, "periods", dict, where + ".")
        periods[name] = {}
        for label, body in period_doc.items():
            here = f"{where}.periods.{label}"
            match = _PERIOD.match(str(label))
            if not match or not first <= int(match.group(1)) <= last:
                raise FrozenForecastError(f"{here}: not a period YYYY or YYYY-MM in {first}-{last}")
            if match.group(2) and not 1 <= int(match.group(2)) <= 12:
                raise FrozenForecastError(f"{here}: month out of range")
            if not isinstance(body, dict):
                raise FrozenForecastError(f"{here}: expected an object")
            members = _numbers(body.get("members"), here + ".members", replicates)
            quantiles = _numbers(body.get("quantiles"), here + ".quantiles", len(QUANTILE_LEVELS))
            median = body.get("median")
            if isinstance(median, bool) or not isinstance(median, (int, float)):
                raise FrozenForecastError(f"{here}.median: expected a number")
            expected = PeriodForecast.from_members(members, float(rel_sd))
            if not math.isclose(median, expected.median, rel_tol=_QUANTILE_RTOL, abs_tol=1e-12):
                raise FrozenForecastError(f"{here}.median: not the median of its members")
            if not np.allclose(quantiles, expected.quantiles, rtol=_QUANTILE_RTOL, atol=1e-12):
                raise FrozenForecastError(f"{here}.quantiles: not the quantiles of its members")
            periods[name][str(label)] = PeriodForecast(
                members=members, rel_sd=float(rel_sd), median=float(median), quantiles=quantiles
            )
    meta = {k: v for k, v in doc.items() if k not in _RESERVED}
    return Forecast(
        periods=periods,
        series_info=info,
        first_year=first,
        last_year=last,
        split=split,
        replicates=replicates,
        seed=seed,
        meta=meta,
    )
