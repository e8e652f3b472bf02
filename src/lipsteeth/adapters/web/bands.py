"""Quantile bands over replicates, and the paired B - A band of two runs.

Both work on (R, V, M) arrays of monthly outcomes (replicates, outcomes,
months) in the order of ``core.outcomes.OUTCOME_NAMES``, so a run's final
bands and its streamed partial bands come from the same function on the same
numbers.

A paired comparison pairs replicate ``i`` of A with replicate ``i`` of B: the
core draws replicate ``i`` of any setting from child ``i`` of the root seed
(``core.simulate.replicate_seeds``), so with the same seed both settings share
their random numbers (common random numbers) and the per-replicate difference
holds the effect of the change plus far less noise than two independent runs.
The difference band is a percentile interval of those per-replicate
differences; the interval of the mean difference is a bootstrap
(``scipy.stats.bootstrap``, percentile method, fixed seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import bootstrap

from ...core.outcomes import OUTCOMES, kind_of, to_years

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_KEYS = ("p5", "p25", "median", "p75", "p95")
STATISTIC = {"flow": "total", "stock": "end", "mean": "average"}
#: a paired comparison with fewer pairs makes no call on a clear difference (issue 16)
MIN_PAIRS_FOR_A_CALL = 10
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20160406
CONFIDENCE = 0.90
#: what a band of this service holds: simulation noise only (``--uncertainty none``) ...
SIMULATION_NOISE = (
    "simulation noise only: every replicate uses the scenario's parameter values "
    "(no parameter uncertainty)"
)
#: ... or parameter uncertainty and simulation noise, as ``lipsteeth run`` by default
PARAMETERS_AND_NOISE = (
    "parameters + simulation: each replicate draws its parameter values from the "
    "scenario's posterior or declared ranges (parameter uncertainty) and its own "
    "simulation noise"
)


def uncertainty_text(scenario: Any) -> str:
    """What the bands of a run of ``scenario`` hold (``experiment.posterior``, issue 13)."""
    from ...experiment.posterior import SIMULATION_ONLY, uncertainty_of

    return (
        SIMULATION_NOISE
        if uncertainty_of(scenario).label == SIMULATION_ONLY
        else (PARAMETERS_AND_NOISE)
    )


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def quantile_band(block: np.ndarray) -> dict[str, list[float | None]]:
    """5, 25, 50, 75 and 95 % quantiles over the leading axis of (R, T)."""
    q = np.quantile(block, QUANTILES, axis=0)
    return {key: _finite(row) for key, row in zip(QUANTILE_KEYS, q, strict=True)}


def quantile_bands(block: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """:func:`quantile_band` of each outcome of (R, V, T), in one pass over the array."""
    q = np.quantile(block, QUANTILES, axis=0)  # (5, V, T)
    q = np.where(np.isfinite(q), q, np.nan)
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        out[name] = {
            key: [None if v != v else v for v in q[k, i].tolist()]
            for k, key in enumerate(QUANTILE_KEYS)
        }
    return out


def whole_run(monthly: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """(R, V) whole-run statistic per replicate: flows summed, stocks at the end, means averaged."""
    # the whole run as one "year" of the core's aggregation
    return to_years(monthly, np.zeros(monthly.shape[2], dtype=np.int64), names)[1][:, :, 0]


def month_years(months: np.ndarray) -> np.ndarray:
    return np.asarray(months).astype("datetime64[Y]").astype(int) + 1970


def bands_of(
    monthly: np.ndarray,
    months: np.ndarray,
    names: Sequence[str],
    uncertainty: str = SIMULATION_NOISE,
) -> dict[str, Any]:
    """Monthly and yearly bands and whole-run statistics of every outcome of (R, V, M).

    ``uncertainty`` says what the replicates vary (shown beside every band).
    """
    years, annual_values = to_years(monthly, month_years(months), names)
    whole = whole_run(monthly, names)
    monthly_bands = quantile_bands(monthly, names)
    yearly_bands = quantile_bands(annual_values, names)
    q5, q50, q95 = np.quantile(whole, [0.05, 0.5, 0.95], axis=0)
    means = whole.mean(axis=0)
    totals: dict[str, Any] = {}
    for i, name in enumerate(names):
        totals[name] = {
            "median": float(q50[i]),
            "p5": float(q5[i]),
            "p95": float(q95[i]),
            "mean": float(means[i]),
            "statistic": STATISTIC.get(kind_of(name), "average"),
        }
    return {
        "replicates": int(monthly.shape[0]),
        "months": [str(m) for m in np.asarray(months).astype("datetime64[M]")],
        "years": [int(y) for y in years],
        "units": {n: (OUTCOMES[n].unit if n in OUTCOMES else "") for n in names},
        "kinds": {n: kind_of(n) for n in names},
        "monthly": monthly_bands,
        "yearly": yearly_bands,
        "totals": totals,
        "uncertainty": uncertainty,
    }


def _bootstrap_mean_interval(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """90 % bootstrap intervals of the mean of each column of (n, V) paired differences."""
    low = diffs.mean(axis=0).copy()
    high = low.copy()
    varied = np.ptp(diffs, axis=0) > 0  # constant columns: the interval is the point
    if diffs.shape[0] >= 2 and varied.any():
        result = bootstrap(
            (diffs[:, varied],),
            np.mean,
            axis=0,
            vectorized=True,
            n_resamples=BOOTSTRAP_RESAMPLES,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
        low[varied] = result.confidence_interval.low
        high[varied] = result.confidence_interval.high
    return low, high


def paired_difference(
    a_monthly: np.ndarray,
    a_replicates: Sequence[int],
    b_monthly: np.ndarray,
    b_replicates: Sequence[int],
    months: np.ndarray,
    names: Sequence[str],
) -> dict[str, Any]:
    """The B - A band per outcome over the replicate indices both runs have finished."""
    a_index = {int(r): k for k, r in enumerate(a_replicates)}
    b_index = {int(r): k for k, r in enumerate(b_replicates)}
    common = sorted(set(a_index) & set(b_index))
    out: dict[str, Any] = {
        "pairs": len(common),
        "replicates": common,
        "monthly": {},
        "yearly": {},
        "totals": {},
        "min_pairs_for_a_call": MIN_PAIRS_FOR_A_CALL,
        "method": (
            f"paired over {len(common)} common replicates (same seed, same replicate "
            "indices: common random numbers); band: 5-95 % and 25-75 % of the "
            "per-replicate differences B - A; interval of the mean: "
            f"{CONFIDENCE:.0%} bootstrap ({BOOTSTRAP_RESAMPLES} resamples, percentile)"
        ),
    }
    if not common:
        return out
    a = a_monthly[[a_index[r] for r in common]]
    b = b_monthly[[b_index[r] for r in common]]
    diff = b - a
    years, a_years = to_years(a, month_years(months), names)
    _, b_years = to_years(b, month_years(months), names)
    whole = whole_run(b, names) - whole_run(a, names)
    enough = len(common) >= MIN_PAIRS_FOR_A_CALL
    if enough:  # fewer pairs make no call: the bootstrap would only cost time while streaming
        low, high = _bootstrap_mean_interval(whole)
    else:
        low = high = np.full(whole.shape[1], np.nan)
    out["monthly"] = quantile_bands(diff, names)
    out["yearly"] = quantile_bands(b_years - a_years, names)
    quantiles = np.quantile(whole, QUANTILES, axis=0)  # (5, V)
    for i, name in enumerate(names):
        d = whole[:, i]
        q = quantiles[:, i]
        clear: bool | None = None
        if enough:
            clear = bool(low[i] > 0 or high[i] < 0)
        out["totals"][name] = {
            **{key: float(v) for key, v in zip(QUANTILE_KEYS, q, strict=True)},
            "mean": float(d.mean()),
            "mean_low": float(low[i]) if enough else None,
            "mean_high": float(high[i]) if enough else None,
            "b_higher": int((d > 0).sum()),
            "b_lower": int((d < 0).sum()),
            "clear": clear,
            "statistic": STATISTIC.get(kind_of(name), "average"),
        }
    out["years"] = [int(y) for y in years]
    return out
