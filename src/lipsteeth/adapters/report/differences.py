"""Differences of two runs, B minus A, with their uncertainty.

When both runs used the same seed and replicates (common random numbers),
replicate i of A and of B share their random numbers and the difference is
taken per replicate; otherwise the runs are independent draws.  The
confidence interval of the median difference is a percentile bootstrap
(:func:`scipy.stats.bootstrap`), paired or resampling each run separately.

A "clear difference" (an interval that excludes zero) is judged only with at
least :data:`MIN_REPLICATES_CLEAR` replicates a side: below that the
percentile bootstrap of a median has only a handful of distinct values to draw
from, and its 90 % interval covers far less than 90 %.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import bootstrap

from .files import ReportError
from .provenance import scenario_rows
from .results import Results, month_x, outcome_unit
from .stats import Stat

#: confidence level of the interval of a difference
CONFIDENCE = 0.90
#: bootstrap resamples per interval
RESAMPLES = 1000
#: replicates a side below which no difference is called clear (see the module docstring)
MIN_REPLICATES_CLEAR = 10


@dataclass(frozen=True)
class Window:
    """Calendar years ``first`` to ``last`` (inclusive) of a comparison."""

    first: int
    last: int

    def text(self) -> str:
        """``2012-2020``, or one year."""
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def not_judged_reason(n_a: int, n_b: int) -> str | None:
    """Why no difference is called clear with these replicate counts (None: it is judged)."""
    if min(n_a, n_b) >= MIN_REPLICATES_CLEAR:
        return None
    return (
        f"clear difference not judged: A has {n_a} replicates and B {n_b}; at least "
        f"{MIN_REPLICATES_CLEAR} a side are needed, since the bootstrap interval of a median "
        "of fewer draws covers far less than 90 %"
    )


@dataclass(frozen=True)
class Difference:
    """B minus A of one outcome's whole-run value, with its uncertainty."""

    outcome: str
    unit: str
    a: Stat
    b: Stat
    paired: bool
    diff_median: float
    ci_low: float
    ci_high: float
    diff_p5: float
    diff_p95: float
    judged: bool = True

    @property
    def clear(self) -> bool | None:
        """The 90 % confidence interval of the difference excludes zero (None: not judged,
        fewer than :data:`MIN_REPLICATES_CLEAR` replicates a side)."""
        if not self.judged:
            return None
        return bool(self.ci_low > 0 or self.ci_high < 0)


def paired_runs(a: Results, b: Results) -> bool:
    """Same seed and replicate indices: replicate i of both shares its random numbers."""
    return (
        a.manifest.get("seed") is not None
        and a.manifest.get("seed") == b.manifest.get("seed")
        and np.array_equal(a.replicates, b.replicates)
    )


def _median_of_differences(vb: np.ndarray, va: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(vb - va, axis=axis)


def _difference_of_medians(vb: np.ndarray, va: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(vb, axis=axis) - np.median(va, axis=axis)


def _interval(
    vb: np.ndarray, va: np.ndarray, *, paired: bool, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median difference (NaN below two draws a side)."""
    if min(vb.size, va.size) < 2:  # one draw says nothing about the spread
        return math.nan, math.nan
    ci = bootstrap(
        (vb, va),
        _median_of_differences if paired else _difference_of_medians,
        paired=paired,
        vectorized=True,
        n_resamples=n_boot,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return float(ci.low), float(ci.high)


def difference(
    name: str,
    va: np.ndarray,
    vb: np.ndarray,
    *,
    paired: bool,
    n_boot: int = RESAMPLES,
    seed: int = 0,
    min_replicates: int = MIN_REPLICATES_CLEAR,
) -> Difference:
    """Median difference B - A with a bootstrap 90 % CI and the 5-95 % spread of differences.

    Paired (common random numbers): statistics of the per-replicate differences.
    Unpaired: the difference of medians, resampling each run independently; the
    spread is that of differences between independent draws of A and B.  With
    fewer than ``min_replicates`` a side the difference is not judged clear or not.
    """
    va = np.asarray(va, dtype=float)
    vb = np.asarray(vb, dtype=float)
    judged = min(va.size, vb.size) >= min_replicates
    nan = math.nan
    if paired:
        keep = np.isfinite(va) & np.isfinite(vb)
        fa, fb = va[keep], vb[keep]
        spread = fb - fa
        med = float(np.median(spread)) if spread.size else nan
    else:
        fa, fb = va[np.isfinite(va)], vb[np.isfinite(vb)]
        spread = np.subtract.outer(fb, fa).ravel()
        med = float(np.median(fb) - np.median(fa)) if fa.size and fb.size else nan
    if spread.size == 0:
        return Difference(
            name,
            outcome_unit(name),
            Stat.of(va),
            Stat.of(vb),
            paired,
            nan,
            nan,
            nan,
            nan,
            nan,
            judged=judged,
        )
    lo, hi = _interval(fb, fa, paired=paired, n_boot=n_boot, seed=seed)
    s5, s95 = np.quantile(spread, [0.05, 0.95])
    return Difference(
        name,
        outcome_unit(name),
        Stat.of(va),
        Stat.of(vb),
        paired,
        med,
        lo,
        hi,
        float(s5),
        float(s95),
        judged=judged,
    )


def common_window(
    a: Results, b: Results, first: int | None = None, last: int | None = None
) -> Window:
    """The calendar years both runs cover, cut to ``first``-``last`` (``--from``/``--to``).

    Raises :class:`ReportError` naming the option when the years are outside what both
    runs cover or ``first`` is after ``last``.
    """
    common = np.intersect1d(a.years, b.years)
    if common.size == 0:
        raise ReportError("the two runs cover no calendar year in common")
    low, high = int(common[0]), int(common[-1])
    span = f"both runs cover {low}-{high}"
    for option, year in (("--from", first), ("--to", last)):
        if year is not None and not low <= year <= high:
            raise ReportError(f"{option} {year} is outside the years compared ({span})")
    window = Window(low if first is None else first, high if last is None else last)
    if window.first > window.last:
        raise ReportError(f"--from {window.first} is after --to {window.last}")
    return window


def compare_differences(a: Results, b: Results, window: Window | None = None) -> list[Difference]:
    """Differences of every outcome both runs hold, over ``window`` (default: the whole run:
    flows summed, stocks at its last month, means averaged)."""
    paired = paired_runs(a, b)
    span = None if window is None else (window.first, window.last)
    return [
        difference(n, a.total(n, span), b.total(n, span), paired=paired)
        for n in a.names
        if b.has(n)
    ]


def yearly_differences(
    a: Results, b: Results, window: Window, names: list[str] | None = None
) -> dict[str, list[tuple[int, Difference]]]:
    """Per calendar year of ``window``, B - A of each outcome (``names``: default all)."""
    paired = paired_runs(a, b)
    years = [y for y in np.intersect1d(a.years, b.years) if window.first <= y <= window.last]
    chosen = names if names is not None else [n for n in a.names if b.has(n)]
    out: dict[str, list[tuple[int, Difference]]] = {}
    for name in chosen:
        sa, sb = a.series(name, "year"), b.series(name, "year")
        out[name] = [
            (
                int(y),
                difference(
                    name,
                    sa[:, int(np.searchsorted(a.years, y))],
                    sb[:, int(np.searchsorted(b.years, y))],
                    paired=paired,
                ),
            )
            for y in years
        ]
    return out


def independent_diffs(va: np.ndarray, vb: np.ndarray, max_pairs: int = 4000) -> np.ndarray:
    """(K, T) differences between independent draws of B and A (all pairs, subsampled)."""
    ra, rb = va.shape[0], vb.shape[0]
    pairs = np.array(np.meshgrid(np.arange(rb), np.arange(ra), indexing="ij")).reshape(2, -1)
    if pairs.shape[1] > max_pairs:
        keep = np.random.default_rng(0).choice(pairs.shape[1], max_pairs, replace=False)
        pairs = pairs[:, np.sort(keep)]
    return vb[pairs[0]] - va[pairs[1]]


def common_periods(
    a: Results, b: Results, resolution: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x positions and the indices of the periods both runs cover."""
    if resolution == "year":
        common = np.intersect1d(a.years, b.years)
        return (
            common.astype(float),
            np.searchsorted(a.years, common),
            np.searchsorted(b.years, common),
        )
    common = np.intersect1d(a.months, b.months)
    return month_x(common), np.searchsorted(a.months, common), np.searchsorted(b.months, common)


def differing_inputs(a: Results, b: Results) -> list[dict[str, Any]]:
    """Every input whose value differs between the runs: levers, parameters, seed, horizon."""
    ra = {r["key"]: r for r in scenario_rows(a.manifest.get("scenario") or {})}
    rb = {r["key"]: r for r in scenario_rows(b.manifest.get("scenario") or {})}
    rows = []
    for key in sorted(set(ra) | set(rb)):
        va = ra.get(key, {}).get("value")
        vb = rb.get(key, {}).get("value")
        if va != vb:
            rows.append(
                {
                    "input": key,
                    "A": va,
                    "B": vb,
                    "provenance (B)": rb.get(key, {}).get("provenance", ""),
                }
            )

    def plain(label: str, va: Any, vb: Any) -> None:
        if va != vb:
            rows.append({"input": label, "A": va, "B": vb, "provenance (B)": ""})

    plain("seed", a.manifest.get("seed"), b.manifest.get("seed"))
    ha, hb = a.manifest.get("horizon", {}), b.manifest.get("horizon", {})
    for key in ("start", "end"):
        plain(f"horizon {key}", ha.get(key), hb.get(key))
    plain("replicates", a.replicates.size, b.replicates.size)
    for event, only_in in differing_events(a, b):
        label = event_label(event)
        rows.append(
            {
                "input": f"event (only in {only_in})",
                "A": label if only_in == "A" else "",
                "B": label if only_in == "B" else "",
                "provenance (B)": str(event.get("source", "")) if only_in == "B" else "",
            }
        )
    return rows


def event_label(event: Mapping[str, Any]) -> str:
    """A dated scenario event in a few words: date, kind and what it sets."""
    detail = ", ".join(
        f"{key} {event[key]}"
        for key in sorted(event)
        if key not in ("date", "kind", "source", "until", "lever", "value")
    )
    text = f"{event.get('date')} {event.get('kind')}"
    if "lever" in event:
        text += f" {event['lever']} = {event.get('value')}"
    if event.get("until"):
        text += f" until {event['until']}"
    return f"{text} ({detail})" if detail else text


def _event_key(event: Mapping[str, Any]) -> str:
    """What an event does (its source is left out: the same input cited twice is one input)."""
    return json.dumps({k: v for k, v in event.items() if k != "source"}, sort_keys=True)


def differing_events(a: Results, b: Results) -> list[tuple[dict[str, Any], str]]:
    """The dated events of one run's scenario that the other's lacks, with ``"A"`` or ``"B"``
    (counted as multisets: an event twice in A and once in B is once only in A)."""
    events = {
        tag: list((r.manifest.get("scenario") or {}).get("events") or [])
        for tag, r in (("A", a), ("B", b))
    }
    counts = {tag: Counter(_event_key(e) for e in evs) for tag, evs in events.items()}
    out: list[tuple[dict[str, Any], str]] = []
    for tag, other in (("A", "B"), ("B", "A")):
        extra = counts[tag] - counts[other]
        for event in events[tag]:
            key = _event_key(event)
            if extra[key] > 0:
                extra[key] -= 1
                out.append((dict(event), tag))
    return sorted(out, key=lambda item: (str(item[0].get("date")), item[1]))
