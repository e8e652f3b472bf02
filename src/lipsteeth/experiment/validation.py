"""Validation of a simulated ensemble against observed series (pure: text in, numbers out).

Observed file
-------------
A CSV with the columns ``series,period,value`` and optional ``low,high`` (a
range), plus optional ``reliability``, ``source``, ``note`` and ``unit`` (kept,
not used in the metrics); one row per observation.  ``period`` is a year
(``2016``) or a month (``2016-04``).  A row gives a point ``value``, a range
``low..high``, or both; one-sided ranges ("at least 50,000": ``low`` only) are
allowed.  Parsing takes text; reading files is the adapters' job.

Observation models
------------------
Each series name maps to a model outcome and to how the observing agency saw
it (``SERIES``), so like is compared with like:

* Counts of events (Ministry of Unification arrivals, repatriations, missile
  tests, restaurant defectors, revenue): the outcome summed over the period.
  The model counts an arrival in South Korea on the day the person lands,
  after the route's delay (M6, M10), which is what the Ministry counts.
* Snapshots (workers and restaurants abroad, North Koreans hiding in China):
  the stock at mid-year (end of June) for a yearly period, at the end of the
  month for a month.
* Estimates are rough (stocks of workers, restaurants and hidden people;
  revenue): their observation model multiplies the simulated value by a
  log-normal observation error of relative size ``obs_rel_sd`` (25 % workers,
  15 % restaurants, 50 % hidden stock, 30 % revenue) before the 90 % band is
  taken: the band of what an estimator would report.  Counts (arrivals,
  repatriations, missile and nuclear tests, defectors) have no observation
  error; the ARD and MASE always use the simulated median itself.
* Ranges (``low``/``high``, e.g. repatriations "4,800-8,900 a year") are
  compared as intervals: an interval observation is inside the simulated band
  when the two intervals overlap, and its error is the distance from the
  simulated median to the interval (zero inside it).

Metrics (per series, over the observations in the chosen years)
---------------------------------------------------------------
* ARD, the absolute relative difference of the Flee validation (Suleimenova,
  Bell and Groen 2017, Sci. Rep. 7:13377): sum of absolute errors of the
  simulated median over the sum of observed values (a range's midpoint, or its
  one bound).
* MASE against persistence: the model's mean absolute error over that of the
  persistence forecast, which carries the last observed value before the
  first validation year forward (Hyndman and Koehler 2006 scale errors by a
  naive forecast; here the naive forecast is the one an analyst would have
  had).  Without an observation before the window, the window's first
  observation is the anchor and is left out of both errors.  Below 1 the model
  beats persistence.
* Coverage: the share of observations inside the simulated 90 % band (5 %-95 %
  quantiles over replicates, widened by the observation model), and inside the
  50 % band (25 %-75 %): ``coverage_90``, ``coverage_50``.
* WIS and CRPS (``forecast_scores``): the weighted interval score of the 23
  predictive quantiles (median and 11 central intervals, alpha 0.02-0.9) and
  the CRPS of the whole predictive ensemble, averaged over the observations, in
  the series' unit.  A range is scored at its point nearest the predictive
  median (the lowest score over the range).
* Relative MAE against persistence and against a linear drift
  (``rel_mae_persistence``, ``rel_mae_drift``): the model's MAE over the MAE of
  a benchmark that knows only the observations before the window (the last of
  them carried forward; the least-squares line through them, floored at zero).
  Unlike MASE, which falls back on the window's first observation as its
  anchor, both are null when a benchmark is not defined (no earlier
  observation; fewer than two for the drift) or exact.  With an earlier
  observation of the same period length, ``rel_mae_persistence`` equals MASE.
* ``split``: the same scores over the years before the split year and from it
  (``before_split``, ``from_split``); the benchmarks of ``from_split`` know
  every observation before the split year, as a model calibrated up to then.

Frozen forecasts
----------------
``freeze`` turns an ensemble into a :class:`forecast_scores.Forecast` (members,
median and quantiles of every series and period) without reading any
observation; ``validate`` scores a frozen forecast exactly as it scores the
ensemble it came from.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.outcomes import OUTCOMES
from ..core.simulate import SimulationResult
from .forecast_scores import (
    Forecast,
    PeriodForecast,
    fit_drift,
    forecast_from_dict,
    mean_or_none,
    period_label,
    predictive_sample,
    relative_mae,
    score_observation,
)

REQUIRED_COLUMNS: tuple[str, ...] = ("series", "period", "value")
OPTIONAL_COLUMNS: tuple[str, ...] = ("low", "high", "reliability", "source", "note", "unit")
BAND = (0.05, 0.95)
Z90 = 1.6448536269514722
MAX_ROWS = 100_000
MAX_CHARS = 20_000_000
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


class ObservedError(ValueError):
    """A malformed observed file or an unknown series (one line, naming the row)."""


@dataclass(frozen=True)
class SeriesSpec:
    """How one observed series is produced from the model (its observation model)."""

    name: str
    outcome: str  # model outcome (core.outcomes)
    observation: str  # "count" (summed over the period) or "snapshot" (stock at a date)
    unit: str
    doc: str
    obs_rel_sd: float = 0.0  # relative observation error of estimates (snapshots)


SERIES: dict[str, SeriesSpec] = {
    spec.name: spec
    for spec in (
        SeriesSpec(
            "arrivals_south_korea",
            "arrivals_south_korea",
            "count",
            "persons per period",
            "North Koreans arriving in South Korea (Ministry of Unification entry count), "
            "counted on arrival after the route's delay",
        ),
        SeriesSpec(
            "workers_abroad",
            "workers_abroad",
            "snapshot",
            "persons",
            "North Koreans in state postings abroad (restaurants and labour sites), "
            "mid-year snapshot of a rough estimate",
            obs_rel_sd=0.25,
        ),
        SeriesSpec(
            "restaurants_abroad",
            "restaurants_open",
            "snapshot",
            "restaurants",
            "state-run restaurants operating abroad, mid-year snapshot of a count estimate",
            obs_rel_sd=0.15,
        ),
        SeriesSpec(
            "repatriations_from_china",
            "repatriations_from_china",
            "count",
            "persons per period",
            "North Koreans forcibly returned from China (workers and people in hiding)",
        ),
        SeriesSpec(
            "restaurant_defectors",
            "restaurant_defectors",
            "count",
            "persons per period",
            "restaurant staff and managers who got out of their posting",
        ),
        SeriesSpec(
            "missile_tests",
            "missile_tests",
            "count",
            "missiles per period",
            "missiles tested (CNS definition: at least 500 kg to 300 km)",
        ),
        SeriesSpec(
            "nuclear_tests",
            "nuclear_tests",
            "count",
            "tests per period",
            "nuclear tests",
        ),
        SeriesSpec(
            "revenue_to_state_usd",
            "revenue_to_state_usd",
            "count",
            "USD per period",
            "remittances of restaurants and labour sites to Pyongyang (net to the state), "
            "compared with rough estimates",
            obs_rel_sd=0.3,
        ),
        SeriesSpec(
            "restaurant_revenue_to_state_usd",
            "remittance_restaurants_usd",
            "count",
            "USD per period",
            "remittances of restaurants to Pyongyang, compared with rough estimates",
            obs_rel_sd=0.3,
        ),
        SeriesSpec(
            "hidden_in_china",
            "hidden_in_china",
            "snapshot",
            "persons",
            "North Koreans hiding in China, mid-year snapshot of a very rough estimate",
            obs_rel_sd=0.5,
        ),
    )
}


# --- observed file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One observed value or range of one series over one year or month."""

    series: str
    period: str  # "2016" or "2016-04"
    year: int
    month: int | None
    value: float | None
    low: float | None
    high: float | None
    line: int = 0
    reliability: str = ""
    source: str = ""

    @property
    def reference(self) -> float:
        """The observed magnitude: the value, else the range's midpoint, else its one bound."""
        if self.value is not None:
            return self.value
        if self.low is not None and self.high is not None:
            return 0.5 * (self.low + self.high)
        bound = self.low if self.low is not None else self.high
        assert bound is not None
        return bound

    @property
    def is_range(self) -> bool:
        return self.low is not None or self.high is not None

    @property
    def interval(self) -> tuple[float, float]:
        """The observed interval (a point is a degenerate interval)."""
        if not self.is_range:
            return (self.reference, self.reference)
        low = self.low if self.low is not None else -math.inf
        high = self.high if self.high is not None else math.inf
        return (low, high)

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.year, self.month or 0)


def _hint(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _cell_number(text: str, where: str) -> float | None:
    text = text.strip().replace("_", "")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ObservedError(f"{where}: not a number: {text[:40]!r}") from None
    if not math.isfinite(number):
        raise ObservedError(f"{where}: must be a finite number (got {text[:40]!r})")
    if number < 0:
        raise ObservedError(f"{where}: must not be negative (got {text[:40]!r})")
    return number


def parse_period(text: str, where: str) -> tuple[int, int | None]:
    """``"2016"`` -> (2016, None); ``"2016-04"`` -> (2016, 4)."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise ObservedError(f"{where}: expected a year YYYY or a month YYYY-MM (got {text!r})")
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    if month is not None and not 1 <= month <= 12:
        raise ObservedError(f"{where}: month {month} is not between 01 and 12")
    if not 1800 <= year <= 2300:
        raise ObservedError(f"{where}: year {year} out of range")
    return year, month


def parse_observed(text: str, source: str = "<observed>") -> list[Observation]:
    """Observations of a CSV text (see the module doc), in file order.

    Raises :class:`ObservedError` with ``"<source>: line N: <column>: <reason>"``
    on the first problem: missing or unknown columns, an unknown series, a
    malformed period or number, a row with neither value nor range, a value
    outside its own range, ``low`` above ``high``, a negative number.
    Lines starting with ``#`` and blank lines are skipped.
    """
    if len(text) > MAX_CHARS:
        raise ObservedError(f"{source}: larger than {MAX_CHARS:,} characters")
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ObservedError(f"{source}: empty file (expected a header series,period,value)")
    try:
        rows = list(csv.reader(io.StringIO("\n".join(line for _, line in lines)), strict=True))
    except csv.Error as exc:
        raise ObservedError(f"{source}: malformed CSV: {exc}") from None
    if len(rows) != len(lines):
        raise ObservedError(f"{source}: malformed CSV: a quoted cell spans several lines")
    header_line = lines[0][0]
    header = [cell.strip() for cell in rows[0]]
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    for column in header:
        if column not in known:
            raise ObservedError(
                f"{source}: line {header_line}: unknown column {column!r}{_hint(column, known)} "
                f"(columns: {','.join(REQUIRED_COLUMNS)} and optional {','.join(OPTIONAL_COLUMNS)})"
            )
        if header.count(column) > 1:
            raise ObservedError(f"{source}: line {header_line}: column {column!r} appears twice")
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise ObservedError(
                f"{source}: line {header_line}: missing column {column!r} "
                f"(required: {','.join(REQUIRED_COLUMNS)})"
            )
    if len(rows) - 1 > MAX_ROWS:
        raise ObservedError(f"{source}: more than {MAX_ROWS:,} observations")
    if len(rows) == 1:
        raise ObservedError(f"{source}: no observations after the header")
    out = []
    for (number, _), cells in zip(lines[1:], rows[1:], strict=True):
        at = f"{source}: line {number}"
        if len(cells) != len(header):
            raise ObservedError(f"{at}: {len(cells)} cells where the header has {len(header)}")
        row = {column: cell.strip() for column, cell in zip(header, cells, strict=True)}
        name = row["series"]
        if name not in SERIES:
            raise ObservedError(
                f"{at}: series: unknown series {name!r}{_hint(name, SERIES)} "
                f"(known: {', '.join(SERIES)})"
            )
        year, month = parse_period(row["period"], f"{at}: period")
        value = _cell_number(row["value"], f"{at}: value")
        low = _cell_number(row.get("low", ""), f"{at}: low")
        high = _cell_number(row.get("high", ""), f"{at}: high")
        if value is None and low is None and high is None:
            raise ObservedError(f"{at}: value: give a value, a range low..high, or both")
        if low is not None and high is not None and low > high:
            raise ObservedError(f"{at}: low: {low:g} is above high {high:g}")
        if value is not None and low is not None and value < low:
            raise ObservedError(f"{at}: value: {value:g} is below its low {low:g}")
        if value is not None and high is not None and value > high:
            raise ObservedError(f"{at}: value: {value:g} is above its high {high:g}")
        out.append(
            Observation(
                series=name,
                period=row["period"],
                year=year,
                month=month,
                value=value,
                low=low,
                high=high,
                line=number,
                reliability=row.get("reliability", ""),
                source=row.get("source", ""),
            )
        )
    return out


# --- simulated values under the observation model ----------------------------------------


def _month_keys(result: SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    years = result.months.astype("datetime64[Y]").astype(int) + 1970
    months = result.months.astype("datetime64[M]").astype(int) % 12 + 1
    return years, months


def _complete_months(result: SimulationResult, start: np.datetime64 | None) -> np.ndarray:
    """Whether each simulated month is covered by the calendar from its first to its last day.

    ``start`` is the calendar's first day (default: the first day of the first month).
    """
    first_days = result.months.astype("datetime64[D]")
    first = first_days[0] if start is None else np.asarray(start, dtype="datetime64[D]")
    end = first + result.n_days  # exclusive
    next_first = (result.months + 1).astype("datetime64[D]")
    return np.asarray((first_days >= first) & (next_first <= end))


def simulated_values(
    result: SimulationResult,
    series: str,
    year: int,
    month: int | None,
    start: np.datetime64 | None = None,
) -> np.ndarray | None:
    """Simulated (R,) values of ``series`` for one period under its observation model.

    None when the period is not completely inside the simulated horizon (which
    begins on ``start``, default the first day of the result's first month).
    """
    spec = SERIES[series]
    kind = OUTCOMES[spec.outcome].kind
    values = result.outcome(spec.outcome)  # (R, M)
    years, months = _month_keys(result)
    complete = _complete_months(result, start)
    if spec.observation == "snapshot":
        want = month if month is not None else 6
        sel = np.flatnonzero((years == year) & (months == want) & complete)
        return None if sel.size == 0 else values[:, sel[0]].astype(float)
    if month is not None:
        sel = np.flatnonzero((years == year) & (months == month) & complete)
        return None if sel.size == 0 else values[:, sel[0]].astype(float)
    sel = np.flatnonzero((years == year) & complete)
    if sel.size != 12:
        return None
    block = values[:, sel]
    if kind == "stock":
        return block[:, -1].astype(float)
    if kind == "mean":
        return block.mean(axis=1)
    return block.sum(axis=1)


def _band(samples: np.ndarray, rel_sd: float) -> tuple[float, float, float]:
    """Median of replicate values and the 90 % band of their predictive distribution.

    The band is widened by the log-normal observation error of estimates
    (``forecast_scores.predictive_sample``).
    """
    samples = np.asarray(samples, dtype=float)
    median = float(np.median(samples))
    lo, hi = np.quantile(predictive_sample(samples, rel_sd), BAND)
    return median, float(lo), float(hi)


def interval_error(point: float, interval: tuple[float, float]) -> float:
    """Distance from ``point`` to a closed interval (zero inside it)."""
    low, high = interval
    return max(low - point, 0.0, point - high)


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


# --- metrics ------------------------------------------------------------------------------


def ard(errors: Sequence[float], observed: Sequence[float]) -> float | None:
    """Absolute relative difference: sum of absolute errors over sum of observed values."""
    total = float(np.sum(np.abs(observed)))
    if not errors or total == 0:
        return None
    return float(np.sum(np.abs(errors))) / total


def mase(model_errors: Sequence[float], reference_errors: Sequence[float]) -> float | None:
    """Mean absolute model error over mean absolute error of the reference forecast."""
    if not model_errors or len(model_errors) != len(reference_errors):
        return None
    scale = float(np.mean(np.abs(reference_errors)))
    if scale == 0:
        return None
    return float(np.mean(np.abs(model_errors))) / scale


def coverage(inside: Sequence[bool]) -> float | None:
    """Share of observations inside the simulated band."""
    return float(np.mean(inside)) if len(inside) else None


@dataclass(frozen=True)
class Comparison:
    """One observation beside its simulated distribution and its scores."""

    observation: Observation
    median: float
    p5: float
    p95: float
    error: float
    inside: bool  # inside the 90 % band
    p25: float = math.nan
    p75: float = math.nan
    inside_50: bool = False
    scored_at: float = math.nan  # where WIS and CRPS take the observation (forecast_scores)
    wis: float = math.nan
    crps: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        obs = self.observation
        return {
            "period": obs.period,
            "value": obs.value,
            "low": obs.low,
            "high": obs.high,
            "observed": obs.reference,
            "sim_median": self.median,
            "sim_p5": self.p5,
            "sim_p25": self.p25,
            "sim_p75": self.p75,
            "sim_p95": self.p95,
            "abs_error": self.error,
            "inside_50": self.inside_50,
            "inside_90": self.inside,
            "scored_at": self.scored_at,
            "wis": self.wis,
            "crps": self.crps,
            "line": obs.line,
        }


@dataclass(frozen=True)
class Benchmark:
    """The benchmark forecasts of one scored observation (None: not defined)."""

    period: str
    persistence: float | None
    drift: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"period": self.period, "persistence": self.persistence, "drift": self.drift}


@dataclass(frozen=True)
class WindowScores:
    """All scores of one series over the years ``first_year..last_year`` (None: open end)."""

    first_year: int | None
    last_year: int | None
    comparisons: tuple[Comparison, ...]
    ard: float | None
    mase: float | None
    anchor: Observation | None
    anchor_in_window: bool
    wis: float | None
    crps: float | None
    coverage_50: float | None
    coverage_90: float | None
    rel_mae_persistence: float | None
    rel_mae_drift: float | None
    benchmarks: tuple[Benchmark, ...]
    note: str = ""

    def scores(self) -> dict[str, Any]:
        anchor = None
        if self.anchor is not None:
            anchor = {
                "period": self.anchor.period,
                "value": self.anchor.reference,
                "in_window": self.anchor_in_window,
            }
        return {
            "n": len(self.comparisons),
            "ard": self.ard,
            "mase": self.mase,
            "wis": self.wis,
            "crps": self.crps,
            "coverage_50": self.coverage_50,
            "coverage_90": self.coverage_90,
            "rel_mae_persistence": self.rel_mae_persistence,
            "rel_mae_drift": self.rel_mae_drift,
            "persistence_anchor": anchor,
            "note": self.note,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.first_year,
            "to": self.last_year,
            **self.scores(),
            "benchmarks": [b.to_dict() for b in self.benchmarks],
        }


@dataclass(frozen=True)
class SeriesReport:
    """Metrics of one series over the validation window (and its sub-windows at a split)."""

    series: str
    unit: str
    outcome: str
    observation: str
    comparisons: tuple[Comparison, ...]
    ard: float | None
    mase: float | None
    coverage: float | None  # in the 90 % band
    anchor: Observation | None
    anchor_in_window: bool
    note: str = ""
    whole: WindowScores | None = None
    windows: Mapping[str, WindowScores] = field(default_factory=dict)

    @property
    def wis(self) -> float | None:
        return None if self.whole is None else self.whole.wis

    @property
    def crps(self) -> float | None:
        return None if self.whole is None else self.whole.crps

    @property
    def coverage_50(self) -> float | None:
        return None if self.whole is None else self.whole.coverage_50

    @property
    def rel_mae_persistence(self) -> float | None:
        return None if self.whole is None else self.whole.rel_mae_persistence

    @property
    def rel_mae_drift(self) -> float | None:
        return None if self.whole is None else self.whole.rel_mae_drift

    def to_dict(self) -> dict[str, Any]:
        scores = self.whole.scores() if self.whole is not None else {}
        scores.update(
            {"n": len(self.comparisons), "ard": self.ard, "mase": self.mase, "note": self.note}
        )
        scores["coverage_90"] = self.coverage
        benchmarks = {b.period: b for b in self.whole.benchmarks} if self.whole else {}
        observations = []
        for c in self.comparisons:
            row = c.to_dict()
            bench = benchmarks.get(c.observation.period)
            row["persistence_forecast"] = None if bench is None else bench.persistence
            row["drift_forecast"] = None if bench is None else bench.drift
            observations.append(row)
        return {
            "unit": self.unit,
            "model_outcome": self.outcome,
            "observation_model": self.observation,
            **scores,
            **{name: window.to_dict() for name, window in self.windows.items()},
            "observations": observations,
        }


@dataclass(frozen=True)
class ValidationReport:
    """Per-series metrics and the observations that could not be compared."""

    series: dict[str, SeriesReport]
    skipped: tuple[tuple[Observation, str], ...] = field(default_factory=tuple)
    first_year: int | None = None
    last_year: int | None = None
    split: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.first_year,
            "to": self.last_year,
            "split": self.split,
            "series": {name: report.to_dict() for name, report in self.series.items()},
            "skipped": [
                {"series": obs.series, "period": obs.period, "line": obs.line, "reason": why}
                for obs, why in self.skipped
            ],
        }


def _in_window(obs: Observation, first: int | None, last: int | None) -> bool:
    return (first is None or obs.year >= first) and (last is None or obs.year <= last)


# --- where the forecast of a period comes from -------------------------------------------


class _ResultSource:
    """Forecasts computed from a simulated ensemble."""

    def __init__(self, result: SimulationResult, start: np.datetime64 | None) -> None:
        self.result = result
        self.start = start

    def forecast(
        self, series: str, year: int, month: int | None
    ) -> tuple[PeriodForecast | None, str]:
        samples = simulated_values(self.result, series, year, month, self.start)
        if samples is None:
            return None, "period not completely inside the simulated horizon"
        return PeriodForecast.from_members(samples, SERIES[series].obs_rel_sd), ""


class _FrozenSource:
    """Forecasts read from a frozen forecast."""

    def __init__(self, forecast: Forecast) -> None:
        self.frozen = forecast

    def forecast(
        self, series: str, year: int, month: int | None
    ) -> tuple[PeriodForecast | None, str]:
        if series not in self.frozen.periods:
            return None, "series not in the frozen forecast"
        found = self.frozen.lookup(series, year, month)
        if found is None:
            return None, "period not in the frozen forecast"
        return found, ""


def _same_scale(spec: SeriesSpec, a: Observation, b: Observation) -> bool:
    """Whether ``a`` can forecast ``b``: any two snapshots; counts of the same period length."""
    return spec.observation == "snapshot" or (a.month is None) == (b.month is None)


def _benchmark(spec: SeriesSpec, priors: Sequence[Observation], obs: Observation) -> Benchmark:
    """Persistence and drift forecasts of ``obs`` from earlier observations of the same scale."""
    usable = [p for p in priors if _same_scale(spec, p, obs)]
    persistence = None
    if usable:
        persistence = max(usable, key=lambda o: (o.sort_key, o.line)).reference
    fit = fit_drift(
        [period_x(p.year, p.month, spec.observation) for p in usable],
        [p.reference for p in usable],
    )
    drift = None
    if fit is not None:
        drift = fit.predict(period_x(obs.year, obs.month, spec.observation))
    return Benchmark(obs.period, persistence, drift)


def _window_scores(
    spec: SeriesSpec,
    comparisons: Sequence[Comparison],
    rows: Sequence[Observation],
    first: int | None,
    last: int | None,
) -> WindowScores:
    """Scores over some comparisons; ``rows`` (all of the series) give the earlier observations."""
    priors = [o for o in rows if first is not None and o.year < first]
    note = ""
    anchor: Observation | None = None
    anchor_in_window = False
    scored = list(comparisons)
    if priors:
        anchor = max(priors, key=lambda o: (o.sort_key, o.line))
    elif len(comparisons) > 1:
        anchor, anchor_in_window = comparisons[0].observation, True
        scored = list(comparisons[1:])
        note = "no observation before the window: its first observation anchors persistence"
    mase_value = None
    if anchor is not None and scored:
        reference = anchor.reference
        mase_value = mase(
            [c.error for c in scored],
            [interval_error(reference, c.observation.interval) for c in scored],
        )
        if mase_value is None:
            note = (note + "; " if note else "") + "persistence is exact: MASE undefined"
    benchmarks = tuple(_benchmark(spec, priors, c.observation) for c in comparisons)
    model_errors = [c.error for c in comparisons]
    relative: dict[str, float | None] = {}
    for kind in ("persistence", "drift"):
        forecasts = [getattr(b, kind) for b in benchmarks]
        errors = [
            None if f is None else interval_error(f, c.observation.interval)
            for f, c in zip(forecasts, comparisons, strict=True)
        ]
        relative[kind] = relative_mae(model_errors, errors)
        if comparisons and relative[kind] is None:
            if any(f is None for f in forecasts):
                few = (
                    "no earlier observation" if kind == "persistence" else "under two earlier ones"
                )
                why = f"rel_mae_{kind} null: {few} of the same period length"
            else:
                why = f"rel_mae_{kind} null: the {kind} benchmark is exact"
            note = (note + "; " if note else "") + why
    if not comparisons:
        note = "no observation inside the window and the simulated horizon"
    return WindowScores(
        first_year=first,
        last_year=last,
        comparisons=tuple(comparisons),
        ard=ard(model_errors, [c.observation.reference for c in comparisons]),
        mase=mase_value,
        anchor=anchor,
        anchor_in_window=anchor_in_window,
        wis=mean_or_none([c.wis for c in comparisons]),
        crps=mean_or_none([c.crps for c in comparisons]),
        coverage_50=coverage([c.inside_50 for c in comparisons]),
        coverage_90=coverage([c.inside for c in comparisons]),
        rel_mae_persistence=relative["persistence"],
        rel_mae_drift=relative["drift"],
        benchmarks=benchmarks,
        note=note,
    )


def _series_report(
    name: str,
    rows: Sequence[Observation],
    first_year: int | None,
    last_year: int | None,
    split: int | None,
    source: _ResultSource | _FrozenSource,
    skipped: list[tuple[Observation, str]],
) -> SeriesReport:
    spec = SERIES[name]
    window = [o for o in rows if _in_window(o, first_year, last_year)]
    comparisons: list[Comparison] = []
    for obs in sorted(window, key=lambda o: o.sort_key):
        forecast, why = source.forecast(name, obs.year, obs.month)
        if forecast is None:
            skipped.append((obs, why))
            continue
        scores = score_observation(forecast, obs.interval)
        comparisons.append(
            Comparison(
                observation=obs,
                median=forecast.median,
                p5=scores.p5,
                p95=scores.p95,
                error=interval_error(forecast.median, obs.interval),
                inside=scores.inside_90,
                p25=scores.p25,
                p75=scores.p75,
                inside_50=scores.inside_50,
                scored_at=scores.scored_at,
                wis=scores.wis,
                crps=scores.crps,
            )
        )
    whole = _window_scores(spec, comparisons, rows, first_year, last_year)
    windows: dict[str, WindowScores] = {}
    if split is not None:
        windows["before_split"] = _window_scores(
            spec,
            [c for c in comparisons if c.observation.year < split],
            rows,
            first_year,
            split - 1,
        )
        windows["from_split"] = _window_scores(
            spec, [c for c in comparisons if c.observation.year >= split], rows, split, last_year
        )
    return SeriesReport(
        series=name,
        unit=spec.unit,
        outcome=spec.outcome,
        observation=spec.observation,
        comparisons=whole.comparisons,
        ard=whole.ard,
        mase=whole.mase,
        coverage=whole.coverage_90,
        anchor=whole.anchor,
        anchor_in_window=whole.anchor_in_window,
        note=whole.note,
        whole=whole,
        windows=windows,
    )


def validate(
    result: SimulationResult | Forecast,
    observations: Sequence[Observation],
    *,
    first_year: int | None = None,
    last_year: int | None = None,
    start: np.datetime64 | None = None,
    split: int | None = None,
) -> ValidationReport:
    """Compare an ensemble (or a frozen forecast) with observations over ``first_year..last_year``.

    Observations before ``first_year`` are not scored; they anchor the
    persistence forecast of MASE and feed the persistence and drift benchmarks.
    With ``split``, each series is also scored over the sub-windows
    ``first_year..split-1`` (``before_split``) and ``split..last_year``
    (``from_split``); the benchmarks of the second know every observation
    before the split.  Observations whose period is not completely simulated
    (or not in the frozen forecast) are listed in ``skipped``.
    """
    if first_year is not None and last_year is not None and first_year > last_year:
        raise ObservedError(f"--from {first_year} is after --to {last_year}")
    if split is not None and (
        (first_year is not None and split <= first_year)
        or (last_year is not None and split > last_year)
    ):
        raise ObservedError(f"--split {split} is not after --from and at most --to")
    source: _ResultSource | _FrozenSource = (
        _FrozenSource(result) if isinstance(result, Forecast) else _ResultSource(result, start)
    )
    by_series: dict[str, list[Observation]] = {}
    for obs in observations:
        by_series.setdefault(obs.series, []).append(obs)
    skipped: list[tuple[Observation, str]] = []
    reports: dict[str, SeriesReport] = {}
    for name in SERIES:  # a stable order
        rows = by_series.get(name)
        if not rows or not any(_in_window(o, first_year, last_year) for o in rows):
            continue
        reports[name] = _series_report(name, rows, first_year, last_year, split, source, skipped)
    return ValidationReport(
        series=reports,
        skipped=tuple(skipped),
        first_year=first_year,
        last_year=last_year,
        split=split,
    )


def freeze(
    result: SimulationResult,
    series: Sequence[str],
    *,
    first_year: int,
    last_year: int,
    split: int | None,
    seed: int,
    monthly: bool = False,
    start: np.datetime64 | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Forecast:
    """The forecast of ``series`` for every complete year ``first_year..last_year`` (and month).

    Reads no observation: what it writes is fixed before any is seen.  Each
    period holds the members (one simulated value per replicate under the
    series' observation model), their median and the predictive quantiles.
    """
    periods: dict[str, dict[str, PeriodForecast]] = {}
    info: dict[str, dict[str, Any]] = {}
    months: list[int | None] = [None, *range(1, 13)] if monthly else [None]
    for name in series:
        spec = SERIES[name]
        info[name] = {
            "unit": spec.unit,
            "model_outcome": spec.outcome,
            "observation_model": spec.observation,
            "obs_rel_sd": spec.obs_rel_sd,
        }
        periods[name] = {}
        for year in range(first_year, last_year + 1):
            for month in months:
                samples = simulated_values(result, name, year, month, start)
                if samples is not None:
                    periods[name][period_label(year, month)] = PeriodForecast.from_members(
                        samples, spec.obs_rel_sd
                    )
    return Forecast(
        periods=periods,
        series_info=info,
        first_year=first_year,
        last_year=last_year,
        split=split,
        replicates=int(result.monthly.shape[0]),
        seed=int(seed),
        meta=dict(meta or {}),
    )


def read_frozen(doc: Any, source: str = "<frozen>") -> Forecast:
    """A frozen forecast of a parsed JSON document (``FrozenForecastError`` naming the field)."""
    return forecast_from_dict(doc, SERIES, source)


# --- bands for figures and synthetic observations ----------------------------------------


@dataclass(frozen=True)
class SimulatedBand:
    """Median and 90 % band of a series per year (or per month) over the horizon."""

    series: str
    periods: tuple[str, ...]
    x: np.ndarray  # decimal year of each period (mid-period for counts)
    median: np.ndarray
    p5: np.ndarray
    p95: np.ndarray


def simulated_band(
    result: SimulationResult,
    series: str,
    monthly: bool = False,
    start: np.datetime64 | None = None,
) -> SimulatedBand:
    """The series' simulated median and 90 % band for every complete period of the horizon."""
    spec = SERIES[series]
    years, months = _month_keys(result)
    periods: list[tuple[int, int | None]] = []
    if monthly:
        periods = [(int(y), int(m)) for y, m in zip(years, months, strict=True)]
    else:
        periods = [(int(y), None) for y in np.unique(years)]
    labels, xs, med, lo, hi = [], [], [], [], []
    for year, month in periods:
        samples = simulated_values(result, series, year, month, start)
        if samples is None:
            continue
        median, p5, p95 = _band(samples, spec.obs_rel_sd)
        labels.append(f"{year}" if month is None else f"{year}-{month:02d}")
        xs.append(period_x(year, month, spec.observation))
        med.append(median)
        lo.append(p5)
        hi.append(p95)
    return SimulatedBand(
        series, tuple(labels), np.array(xs), np.array(med), np.array(lo), np.array(hi)
    )


def period_x(year: int, month: int | None, observation: str) -> float:
    """Decimal-year position of a period (a snapshot at its date, a count at mid-period)."""
    if month is None:
        return year + 0.5
    if observation == "snapshot":
        return year + month / 12.0
    return year + (month - 0.5) / 12.0


def synthetic_observed(
    result: SimulationResult,
    series: Sequence[str],
    replicate: int,
    *,
    monthly: bool = False,
    years: Sequence[int] | None = None,
    start: np.datetime64 | None = None,
) -> str:
    """Observed-file text made of one simulated replicate (row ``replicate`` of the result).

    Used to test validation: validated against the other replicates of the same
    scenario, such a file has an ARD near 0 and a coverage near 90 %.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["series", "period", "value", "source"])
    all_years, all_months = _month_keys(result)
    chosen = sorted(set(int(y) for y in all_years)) if years is None else list(years)
    for name in series:
        for year in chosen:
            months: list[int | None] = list(range(1, 13)) if monthly else [None]
            for month in months:
                samples = simulated_values(result, name, year, month, start)
                if samples is None:
                    continue
                period = f"{year}" if month is None else f"{year}-{month:02d}"
                value = float(samples[replicate])
                writer.writerow([name, period, repr(value), f"synthetic: replicate {replicate}"])
    return out.getvalue()


def subset(result: SimulationResult, keep: np.ndarray) -> SimulationResult:
    """The result restricted to some replicate rows (events are dropped)."""
    keep = np.asarray(keep)
    ledger = dataclasses.replace(
        result.ledger,
        **{f.name: getattr(result.ledger, f.name)[keep] for f in dataclasses.fields(result.ledger)},
    )
    return SimulationResult(
        replicates=result.replicates[keep],
        months=result.months,
        outcome_names=result.outcome_names,
        monthly=result.monthly[keep],
        events={},
        ledger=ledger,
        n_days=result.n_days,
    )


def series_table() -> list[dict[str, str]]:
    """Series names, units, model outcomes and observation models (for docs and ``--help``)."""
    return [
        {
            "series": spec.name,
            "unit": spec.unit,
            "model_outcome": spec.outcome,
            "observation": spec.observation
            + (f" (obs. error {spec.obs_rel_sd:.0%})" if spec.obs_rel_sd else ""),
            "doc": spec.doc,
        }
        for spec in SERIES.values()
    ]


def observations_by_series(observations: Iterable[Observation]) -> Mapping[str, list[Observation]]:
    """Observations grouped by series name (file order kept)."""
    grouped: dict[str, list[Observation]] = {}
    for obs in observations:
        grouped.setdefault(obs.series, []).append(obs)
    return grouped
