"""Certificates of a posterior estimator: SBC, expected coverage, recovery, misspecification.

Everything here takes arrays: held-out parameters ``truths`` (M, D) drawn
from the prior, posterior samples ``samples`` (L, M, D) drawn given each
held-out simulation, and prior bounds.  Nothing here trains or simulates.

**Simulation-based calibration** (Talts et al. 2018).  The rank of a truth
among the L posterior samples of its own simulation is uniform on 0..L when
the posterior is calibrated, for every parameter.  Each parameter's ranks
are tested for uniformity with the Kolmogorov-Smirnov test of ``sbi``
(``check_uniformity_frequentist``); the check passes when no p-value falls
below ``SBC_ALPHA / D`` (Bonferroni): a calibrated posterior fails it with
probability at most ``SBC_ALPHA`` = 1 %.

**Expected coverage** (Hermans et al. 2022; Deistler et al. 2022).  At a
credibility level c, the share of held-out truths inside their c posterior
region: the highest-density region of the joint posterior (a truth is inside
when fewer than c of the samples have a higher posterior density than it) and
the central interval of each marginal (averaged over parameters).  A
calibrated posterior covers c in expectation; the check passes at 50 % and at
90 % when both shares lie within ``Z_COVERAGE`` binomial standard errors of c
(plus one rank step 1/L for the discreteness of the ranks).  With
Z_COVERAGE = 2.576 each of the four comparisons fails a calibrated posterior
with probability about 1 % (the marginal mean, an average of correlated
indicators, a little less), so the coverage check has a false-failure rate
of at most about 4 %, and SBC and coverage together at most about 5 %.

**Parameter recovery** (identifiability).  Per parameter, over the held-out
simulations: the correlation of the posterior mean with the truth, and the
posterior-to-prior width ratio (posterior standard deviation over the
prior's, averaged).  A parameter the data identify has a correlation near 1
and a small width ratio; one they do not has correlation near 0 and a ratio
near 1 (the posterior is the prior).  The labels use the thresholds
``IDENTIFIED`` and ``WEAK``.

**Misspecification.**  Is the observed summary inside the distribution of
the training summaries?  The kernel (MMD) test of ``sbi``
(``calc_misspecification_mmd``, in the space of the standardised summaries)
gives a p-value; each summary is also placed among the training values (its
empirical quantile, and whether it lies outside their range).  The
observation is flagged when the p-value is below ``MISSPEC_ALPHA`` or any
summary lies outside the training range; for an observation drawn from the
model, the flag is raised with probability about MISSPEC_ALPHA + 2K/(N+1)
(K summaries, N training simulations).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SBC_ALPHA = 0.01
Z_COVERAGE = 2.576  # two-sided 99 % normal quantile
CHECK_LEVELS: tuple[float, ...] = (0.5, 0.9)
CURVE_LEVELS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
IDENTIFIED = 0.7  # correlation of posterior mean and truth at or above: identified
WEAK = 0.3  # at or above (and below IDENTIFIED): weakly identified
MISSPEC_ALPHA = 0.05


def marginal_ranks(samples: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """(M, D) number of posterior samples below the truth, per held-out simulation and parameter."""
    samples = np.asarray(samples)
    truths = np.asarray(truths)
    if samples.ndim != 3 or samples.shape[1:] != truths.shape:
        raise ValueError(f"samples {samples.shape} do not match truths {truths.shape}")
    return (samples < truths[None, :, :]).sum(axis=0).astype(np.int64)


def density_ranks(sample_log_prob: np.ndarray, truth_log_prob: np.ndarray) -> np.ndarray:
    """(M,) number of posterior samples with a lower posterior density than the truth."""
    return (np.asarray(sample_log_prob) < np.asarray(truth_log_prob)[None, :]).sum(axis=0)


def ks_pvalues(ranks: np.ndarray, n_samples: int) -> np.ndarray:
    """(D,) Kolmogorov-Smirnov p-values of rank uniformity (``sbi``'s frequentist check)."""
    import torch
    from sbi.diagnostics.sbc import check_uniformity_frequentist

    r = torch.as_tensor(np.asarray(ranks, dtype=np.float32))
    return check_uniformity_frequentist(r, n_samples).numpy().astype(float)


def coverage_tolerance(level: float, n_holdout: int, n_samples: int) -> float:
    """Half-width of the band a calibrated posterior's coverage falls in (99 %)."""
    return Z_COVERAGE * math.sqrt(level * (1 - level) / max(1, n_holdout)) + 1.0 / n_samples


def coverage_band(level: float, tolerance: float) -> tuple[float, float]:
    """The shares a calibrated posterior's coverage at ``level`` falls in (clipped to 0-1)."""
    return max(0.0, level - tolerance), min(1.0, level + tolerance)


def hpd_covered(ranks: np.ndarray, n_samples: int, level: float) -> np.ndarray:
    """Truths inside the ``level`` highest-density region (from ``density_ranks``)."""
    return np.asarray(ranks) / n_samples > 1.0 - level


def central_covered(ranks: np.ndarray, n_samples: int, level: float) -> np.ndarray:
    """Truths inside each marginal's central ``level`` interval (from ``marginal_ranks``)."""
    q = np.asarray(ranks) / n_samples
    return (q > (1 - level) / 2) & (q < (1 + level) / 2)


@dataclass(frozen=True)
class CoverageRow:
    """Expected coverage at one credibility level."""

    level: float
    hpd: float  # share of truths in the joint highest-density region
    marginal: float  # share in the marginal central intervals, averaged over parameters
    tolerance: float
    checked: bool  # one of CHECK_LEVELS

    @property
    def passed(self) -> bool:
        return abs(self.hpd - self.level) <= self.tolerance and (
            abs(self.marginal - self.level) <= self.tolerance
        )

    def to_dict(self) -> dict[str, Any]:
        low, high = coverage_band(self.level, self.tolerance)
        return {
            "level": self.level,
            "hpd": self.hpd,
            "marginal": self.marginal,
            "low": low,
            "high": high,
            "checked": self.checked,
            "passed": self.passed,
        }


def coverage_curve(marginal: np.ndarray, density: np.ndarray, n_samples: int) -> list[CoverageRow]:
    """Expected coverage at ``CURVE_LEVELS`` and ``CHECK_LEVELS`` (sorted by level)."""
    m = int(np.asarray(density).shape[0])
    levels = sorted(set(CURVE_LEVELS) | set(CHECK_LEVELS))
    rows = []
    for c in levels:
        rows.append(
            CoverageRow(
                level=c,
                hpd=float(hpd_covered(density, n_samples, c).mean()),
                marginal=float(central_covered(marginal, n_samples, c).mean()),
                tolerance=coverage_tolerance(c, m, n_samples),
                checked=c in CHECK_LEVELS,
            )
        )
    return rows


def identifiability(
    samples: np.ndarray,
    truths: np.ndarray,
    names: Sequence[str],
    bounds: np.ndarray,
) -> list[dict[str, Any]]:
    """Per parameter: correlation of posterior mean and truth, width ratio, error, label.

    ``samples`` (L, M, D) and ``truths`` (M, D) are in parameter units;
    ``bounds`` (D, 2) is the uniform prior.  ``error`` is the root mean square
    error of the posterior mean as a share of the prior width (a prior-mean
    guess scores about 0.29).
    """
    samples = np.asarray(samples, dtype=float)
    truths = np.asarray(truths, dtype=float)
    width = bounds[:, 1] - bounds[:, 0]
    prior_sd = width / math.sqrt(12.0)
    mean = samples.mean(axis=0)  # (M, D)
    sd = samples.std(axis=0)
    rows = []
    for d, name in enumerate(names):
        t, m = truths[:, d], mean[:, d]
        corr = float(np.corrcoef(m, t)[0, 1]) if np.std(m) > 0 and np.std(t) > 0 else 0.0
        ratio = float(np.mean(sd[:, d]) / prior_sd[d]) if prior_sd[d] > 0 else float("nan")
        error = float(np.sqrt(np.mean((m - t) ** 2)) / width[d]) if width[d] > 0 else 0.0
        label = "identified" if corr >= IDENTIFIED else "weak" if corr >= WEAK else "not identified"
        rows.append(
            {
                "parameter": name,
                "correlation": corr,
                "width_ratio": ratio,
                "error": error,
                "label": label,
            }
        )
    return rows


def misspecification(
    observed: np.ndarray,
    training: np.ndarray,
    names: Sequence[str],
    *,
    standardise: Callable[[np.ndarray], np.ndarray],
    seed: int,
    seeded: Callable[[int], Any],
    n_shuffle: int = 300,
    max_samples: int = 400,
) -> dict[str, Any]:
    """Is the raw ``observed`` summary (K,) inside the raw ``training`` summaries (N, K)?

    The table places each raw summary among the training values; the MMD
    test runs on ``standardise``-d summaries.  ``seeded(seed)`` is a context
    manager that seeds torch (the MMD test shuffles with torch's generator).
    """
    import torch
    from sbi.diagnostics import calc_misspecification_mmd

    obs = np.asarray(observed, dtype=float)
    train = np.asarray(training, dtype=float)
    n = train.shape[0]
    rows = []
    for k, name in enumerate(names):
        col = train[:, k]
        below = float(np.mean(col < obs[k]))
        equal = float(np.mean(col == obs[k]))
        outside = bool(obs[k] < col.min() or obs[k] > col.max())
        rows.append(
            {
                "summary": name,
                "observed": float(obs[k]),
                "quantile": below + 0.5 * equal,
                "train_min": float(col.min()),
                "train_max": float(col.max()),
                "outside": outside,
            }
        )
    with seeded(seed):
        p_value, _ = calc_misspecification_mmd(
            torch.as_tensor(standardise(obs[None, :]), dtype=torch.float32),
            torch.as_tensor(standardise(train), dtype=torch.float32),
            mode="x_space",
            n_shuffle=n_shuffle,
            max_samples=min(max_samples, n),
        )
    p = float(p_value)
    n_outside = sum(1 for r in rows if r["outside"])
    return {
        "mmd_p_value": p,
        "alpha": MISSPEC_ALPHA,
        "outside": n_outside,
        "flagged": bool(p < MISSPEC_ALPHA or n_outside > 0),
        "false_flag_rate": MISSPEC_ALPHA + 2 * len(rows) / (n + 1),
        "summaries": rows,
    }


def sbc_check(ranks: np.ndarray, n_samples: int, names: Sequence[str]) -> dict[str, Any]:
    """KS uniformity of each parameter's ranks, Bonferroni at ``SBC_ALPHA``."""
    p = ks_pvalues(ranks, n_samples)
    threshold = SBC_ALPHA / max(1, len(names))
    return {
        "ks_pvalues": {name: float(v) for name, v in zip(names, p, strict=True)},
        "threshold": threshold,
        "alpha": SBC_ALPHA,
        "min_pvalue": float(np.min(p)) if p.size else float("nan"),
        "failed": [name for name, v in zip(names, p, strict=True) if v < threshold],
        "passed": bool(np.all(p >= threshold)),
    }
