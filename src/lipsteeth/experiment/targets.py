"""Calibration targets: observed values or ranges of model outcomes, with their reliability.

A targets table has the columns ``series,period,value,low,high,reliability,source``:

- ``series`` is a model outcome (``lipsteeth.core.outcomes``), compared by
  calendar year with the outcome's own aggregation (flows summed over the
  year, stocks at year end, means averaged);
- ``period`` is a year (``2016``) or a span (``2012-2016``); a span is compared
  as the mean of the yearly values over the span;
- ``value`` is a point estimate, ``low``/``high`` a range (either end may be
  empty: "at least", "at most"); with only a value the target is a point;
- ``reliability`` is the grade of ``data/SOURCES.md`` (high, medium-high,
  medium, low-medium, low), which sets the target's weight in the distance;
- ``source`` says where the numbers come from.

The distance of a simulated value ``m`` to a target is how far ``m`` lies
outside the target's range, in units of the target's scale (half its width,
at least 10 % of its size), so a range target costs nothing inside the range
and a point target is matched up to its 10 % scale.  The total distance is
the reliability-weighted root mean square over the targets in the simulated
horizon.  Parsing takes text: reading files is the adapters' job.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.outcomes import OUTCOMES, to_years
from ..core.simulate import SimulationResult

COLUMNS: tuple[str, ...] = ("series", "period", "value", "low", "high", "reliability", "source")
RELIABILITY_WEIGHTS: dict[str, float] = {
    "high": 1.0,
    "medium-high": 0.8,
    "medium": 0.6,
    "low-medium": 0.4,
    "low": 0.25,
}
RELATIVE_SCALE = 0.1


class TargetError(ValueError):
    """A targets table is malformed (one-line message naming the row)."""


@dataclass(frozen=True)
class Target:
    """One observed value or range of one outcome over one year or span."""

    series: str
    first_year: int
    last_year: int
    value: float | None
    low: float
    high: float
    reliability: str
    source: str

    @property
    def key(self) -> str:
        period = (
            str(self.first_year)
            if self.first_year == self.last_year
            else f"{self.first_year}-{self.last_year}"
        )
        return f"{self.series}@{period}"

    @property
    def weight(self) -> float:
        return RELIABILITY_WEIGHTS[self.reliability]

    @property
    def centre(self) -> float:
        """The value, or the middle of the range (the finite end if one is open)."""
        if self.value is not None:
            return self.value
        if math.isfinite(self.low) and math.isfinite(self.high):
            return 0.5 * (self.low + self.high)
        return self.low if math.isfinite(self.low) else self.high

    @property
    def scale(self) -> float:
        """Half the range width, at least 10 % of the target's size, at least 1."""
        width = self.high - self.low if math.isfinite(self.high - self.low) else 0.0
        return max(0.5 * width, RELATIVE_SCALE * abs(self.centre), 1.0)

    def deviation(self, simulated: float) -> float:
        """Distance outside the range, in units of the scale (0 inside)."""
        outside = max(0.0, self.low - simulated, simulated - self.high)
        return outside / self.scale

    def to_row(self) -> dict[str, str]:
        def num(x: float | None) -> str:
            return "" if x is None or not math.isfinite(x) else repr(float(x))

        return {
            "series": self.series,
            "period": self.key.partition("@")[2],
            "value": num(self.value),
            "low": num(self.low),
            "high": num(self.high),
            "reliability": self.reliability,
            "source": self.source,
        }


def _number(text: str, what: str, where: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise TargetError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TargetError(f"{where}: {what} must be finite")
    return value


def _period(text: str, where: str) -> tuple[int, int]:
    text = text.strip()
    first, sep, last = text.partition("-")
    try:
        a = int(first)
        b = int(last) if sep else a
    except ValueError:
        raise TargetError(f"{where}: period {text!r} is not YEAR or YEAR-YEAR") from None
    if b < a:
        raise TargetError(f"{where}: period {text!r} ends before it starts")
    return a, b


def parse_targets(text: str, *, origin: str = "targets") -> list[Target]:
    """Targets from CSV text (header ``series,period,value,low,high,reliability,source``)."""
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TargetError(f"{origin}: missing column(s) {', '.join(missing)}")
    targets: list[Target] = []
    for n, row in enumerate(reader, start=2):
        where = f"{origin} line {n}"
        series = (row["series"] or "").strip()
        if not series or series.startswith("#"):
            continue
        if series not in OUTCOMES:
            raise TargetError(f"{where}: {series!r} is not a model outcome")
        first, last = _period(row["period"] or "", where)
        value = _number(row["value"] or "", "value", where)
        low = _number(row["low"] or "", "low", where)
        high = _number(row["high"] or "", "high", where)
        if value is None and low is None and high is None:
            raise TargetError(f"{where}: give a value or a range")
        if low is None and high is None:
            low = high = value
        low = -math.inf if low is None else low
        high = math.inf if high is None else high
        if high < low:
            raise TargetError(f"{where}: high {high} is below low {low}")
        reliability = (row["reliability"] or "").strip().lower()
        if reliability not in RELIABILITY_WEIGHTS:
            raise TargetError(
                f"{where}: reliability {reliability!r} is not one of "
                + ", ".join(RELIABILITY_WEIGHTS)
            )
        source = (row["source"] or "").strip()
        if not source:
            raise TargetError(f"{where}: every target needs a source")
        targets.append(Target(series, first, last, value, low, high, reliability, source))
    if not targets:
        raise TargetError(f"{origin}: no targets")
    keys = [t.key for t in targets]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise TargetError(f"{origin}: repeated target(s) {', '.join(dupes)}")
    return targets


def targets_csv(targets: Iterable[Target]) -> str:
    """CSV text of targets (the inverse of ``parse_targets``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for t in targets:
        writer.writerow(t.to_row())
    return buf.getvalue()


def horizon_years(start: object, end: object) -> tuple[int, int]:
    """First and last calendar year of a horizon given as dates (``datetime64`` or ISO text)."""
    return int(str(start)[:4]), int(str(end)[:4])


def in_horizon(targets: Sequence[Target], years: Iterable[int]) -> list[Target]:
    """The targets whose whole period lies in the simulated years."""
    have = set(int(y) for y in years)
    return [t for t in targets if all(y in have for y in range(t.first_year, t.last_year + 1))]


def yearly_values(result: SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    """Calendar years and (R, V, Y) yearly values of a simulation."""
    month_years = result.months.astype("datetime64[Y]").astype(int) + 1970
    years, values = to_years(result.monthly, month_years)
    return years.astype(int), values


def statistics(
    targets: Sequence[Target],
    years: np.ndarray,
    yearly: np.ndarray,
    outcome_names: Sequence[str],
) -> dict[str, float]:
    """Simulated value of each target (mean over replicates), by target key."""
    out: dict[str, float] = {}
    index = {int(y): j for j, y in enumerate(years)}
    for t in targets:
        v = list(outcome_names).index(t.series)
        cols = [index[y] for y in range(t.first_year, t.last_year + 1)]
        out[t.key] = float(yearly[:, v, cols].mean())
    return out


def result_statistics(targets: Sequence[Target], result: SimulationResult) -> dict[str, float]:
    """Simulated value of each target in the horizon of ``result``."""
    years, yearly = yearly_values(result)
    return statistics(in_horizon(targets, years), years, yearly, result.outcome_names)


def distance(targets: Sequence[Target], simulated: Mapping[str, float]) -> float:
    """Reliability-weighted root mean square of the deviations of the simulated targets."""
    num = 0.0
    den = 0.0
    for t in targets:
        if t.key not in simulated:
            continue
        m = simulated[t.key]
        d = t.deviation(m) if math.isfinite(m) else 1e6
        num += t.weight * d * d
        den += t.weight
    if den == 0:
        raise TargetError("no target falls in the simulated horizon")
    return math.sqrt(num / den)


def deviations(targets: Sequence[Target], simulated: Mapping[str, float]) -> list[dict]:
    """Per-target table: target, simulated value, deviation and weight."""
    rows = []
    for t in targets:
        if t.key not in simulated:
            continue
        m = simulated[t.key]
        rows.append(
            {
                "target": t.key,
                "low": t.low,
                "high": t.high,
                "value": t.value,
                "simulated": m,
                "deviation": t.deviation(m),
                "reliability": t.reliability,
                "weight": t.weight,
            }
        )
    return rows
