"""Differences of two runs, B minus A, with their uncertainty.

When both runs used the same seed and replicates (common random numbers),
replicate i of A and of B share their random numbers and the difference is
taken per replicate; otherwise the runs are independent draws.  The
confidence interval of the median difference is a percentile bootstrap
(:func:`scipy.stats.bootstrap`), paired or resampling each run separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import bootstrap

from .provenance import scenario_rows
from .results import Results, month_x, outcome_unit
from .stats import Stat

#: confidence level of the interval of a difference
CONFIDENCE = 0.90
#: bootstrap resamples per interval
RESAMPLES = 1000


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

    @property
    def clear(self) -> bool:
        """The 90 % confidence interval of the difference excludes zero."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def paired_runs(a: Results, b: Results) -> bool:
    """Same seed, replicate indices and parameter draws: replicate i of both shares its
    random numbers and (with parameter uncertainty) its parameter set."""
    return (
        a.manifest.get("seed") is not None
        and a.manifest.get("seed") == b.manifest.get("seed")
        and np.array_equal(a.replicates, b.replicates)
        and _draws(a) == _draws(b)
    )


def _draws(res: Results) -> tuple[Any, ...]:
    """What a run's parameter draws depend on besides the seed: the kind and the posterior.

    Replicate i picks the same particle, and a parameter drawn from the same
    range the same value, in both runs (``experiment.posterior``).
    """
    info = res.manifest.get("uncertainty") or {}
    return (info.get("kind", "none"), (info.get("posterior") or {}).get("sha256"))


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
) -> Difference:
    """Median difference B - A with a bootstrap 90 % CI and the 5-95 % spread of differences.

    Paired (common random numbers): statistics of the per-replicate differences.
    Unpaired: the difference of medians, resampling each run independently; the
    spread is that of differences between independent draws of A and B.
    """
    va = np.asarray(va, dtype=float)
    vb = np.asarray(vb, dtype=float)
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
        return Difference(name, outcome_unit(name), Stat.of(va), Stat.of(vb), paired, *[nan] * 5)
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
    )


def compare_differences(a: Results, b: Results) -> list[Difference]:
    """Whole-run differences of every outcome both runs hold."""
    paired = paired_runs(a, b)
    return [difference(n, a.total(n), b.total(n), paired=paired) for n in a.names if b.has(n)]


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
    return rows
