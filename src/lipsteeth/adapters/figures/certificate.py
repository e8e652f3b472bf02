"""The certificate of an NPE posterior: SBC ranks, expected coverage, parameter recovery.

:class:`Certificate` holds what the checks of :mod:`lipsteeth.experiment.sbc`
found, as plain data: the JSON summary ``NPEResult.certificate()`` returns
(and ``lipsteeth calibrate --method npe`` writes as ``npe_diagnostics.json``)
and the rank table.  :func:`certificate_of` makes it from an
:class:`~lipsteeth.experiment.npe.NPEResult` (the command),
:func:`certificate_from` from the files (the report), so both draw the same
figure from the same numbers.

:func:`certificate_figure` is the one drawing, three panels:

1. SBC: per parameter, the empirical CDF of the normalised ranks minus the
   uniform CDF, with the band the pass rule allows (the Kolmogorov-Smirnov
   critical value at 1 % / D, asymptotic); a line leaving the band is a
   miscalibrated parameter (above the band early: truths rank low, the
   posterior sits too high; an S shape: overconfident).
2. Expected coverage: the share of held-out truths inside their c posterior
   region against c, for the joint highest-density region and the mean of the
   marginal central intervals, with the tolerance band of the pass rule.
3. Recovery (identifiability): per parameter, the correlation of the posterior
   mean with the truth on held-out simulations, coloured by the width ratio
   (posterior over prior standard deviation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ...experiment.sbc import IDENTIFIED, WEAK
from .style import COLOR_A, COLOR_B, COLOR_OUTSIDE, new_figure, styled

if TYPE_CHECKING:
    from ...experiment.npe import NPEResult


@dataclass(frozen=True)
class Certificate:
    """The checks of one NPE posterior, as the figure and the tables show them."""

    experiment: str
    names: tuple[str, ...]
    ranks: np.ndarray  # (M, D + 1): marginal ranks per parameter, then the joint density rank
    n_samples: int  # posterior samples per held-out simulation (ranks lie in 0..n_samples)
    sbc: Mapping[str, Any]  # passed, failed, min_pvalue, alpha, ...
    coverage_curve: tuple[Mapping[str, Any], ...]  # level, hpd, marginal, low, high, checked
    coverage_passed: bool
    identifiability: tuple[Mapping[str, Any], ...]  # parameter, correlation, width_ratio, ...
    misspecification: Mapping[str, Any]
    passed: bool
    rules: Mapping[str, str] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    wall_seconds: float | None = None

    @property
    def n_holdout(self) -> int:
        return int(self.ranks.shape[0])

    @property
    def coverage_levels(self) -> tuple[Mapping[str, Any], ...]:
        """The checked levels (50 % and 90 %)."""
        return tuple(r for r in self.coverage_curve if r.get("checked"))


def certificate_from(
    payload: Mapping[str, Any],
    ranks: np.ndarray,
    *,
    experiment: str,
    wall_seconds: float | None = None,
) -> Certificate:
    """A :class:`Certificate` from the JSON summary of ``NPEResult.certificate()`` and ranks."""
    names = tuple(str(r["parameter"]) for r in payload["identifiability"])
    ranks = np.asarray(ranks, dtype=float)
    if ranks.ndim != 2 or ranks.shape[1] != len(names) + 1:
        raise ValueError(f"ranks of shape {ranks.shape} for {len(names)} parameters")
    coverage = payload["coverage"]
    return Certificate(
        experiment=experiment,
        names=names,
        ranks=ranks,
        n_samples=int(payload["sbc"]["n_samples"]),
        sbc=payload["sbc"],
        coverage_curve=tuple(coverage["curve"]),
        coverage_passed=bool(coverage["passed"]),
        identifiability=tuple(payload["identifiability"]),
        misspecification=payload["misspecification"],
        passed=bool(payload["passed"]),
        rules=payload.get("rules") or {},
        training=payload.get("training") or {},
        wall_seconds=wall_seconds,
    )


def certificate_of(result: NPEResult, experiment: str) -> Certificate:
    """The certificate of an NPE calibration just run."""
    return certificate_from(result.certificate(), result.diagnostics.ranks, experiment=experiment)


def ks_band(n_holdout: int, n_params: int, alpha: float = 0.01) -> float:
    """Asymptotic KS critical distance at level ``alpha / n_params`` (Bonferroni)."""
    level = alpha / max(1, n_params)
    return math.sqrt(-0.5 * math.log(level / 2)) / math.sqrt(max(1, n_holdout))


def number(value: Any) -> float:
    """A float of a certificate's value (JSON writes NaN as null: back to NaN)."""
    return math.nan if value is None else float(value)


def _verdict(flag: Any) -> str:
    return "pass" if flag else "FAIL"


def _sbc_panel(ax: Any, cert: Certificate) -> None:
    failed = set(cert.sbc.get("failed") or [])
    grid_q = np.linspace(0, 1, 101)
    m = max(1, cert.n_holdout)
    for k, name in enumerate(cert.names):
        q = np.sort(cert.ranks[:, k] / cert.n_samples)
        ecdf = np.searchsorted(q, grid_q, side="right") / m
        bad = name in failed
        ax.plot(
            grid_q,
            ecdf - grid_q,
            lw=1.4 if bad else 0.6,
            color=COLOR_OUTSIDE if bad else COLOR_A,
            alpha=1.0 if bad else 0.45,
            label=name if bad else None,
        )
    band = ks_band(cert.n_holdout, len(cert.names), float(cert.sbc.get("alpha", 0.01)))
    ax.fill_between(grid_q, -band, band, color="#cccccc", alpha=0.5, lw=0, label="pass band")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("normalised rank of the truth among posterior samples")
    ax.set_ylabel("ECDF - uniform")
    ax.set_title(
        f"SBC: {len(cert.names)} parameters, {cert.n_holdout} held-out simulations "
        f"({_verdict(cert.sbc.get('passed'))})",
        loc="left",
    )
    ax.legend(frameon=False, fontsize=6)


def _coverage_panel(ax: Any, cert: Certificate) -> None:
    curve = cert.coverage_curve
    levels = np.array([r["level"] for r in curve], dtype=float)
    ax.fill_between(
        levels,
        [r["low"] for r in curve],
        [r["high"] for r in curve],
        color="#cccccc",
        alpha=0.5,
        lw=0,
        label="tolerance",
    )
    ax.plot([0, 1], [0, 1], color="black", lw=0.5)
    ax.plot(levels, [r["hpd"] for r in curve], marker="o", ms=3, color=COLOR_A, label="joint")
    ax.plot(
        levels,
        [r["marginal"] for r in curve],
        marker="s",
        ms=3,
        color=COLOR_B,
        label="marginals (mean)",
    )
    for r in cert.coverage_levels:
        ax.axvline(r["level"], color="grey", lw=0.5, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("credibility level")
    ax.set_ylabel("share of truths covered")
    ax.set_title(
        f"Expected coverage at 50 % and 90 % ({_verdict(cert.coverage_passed)})", loc="left"
    )
    ax.legend(frameon=False, loc="upper left")


def _recovery_panel(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    corr = [number(r["correlation"]) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (math.isnan(corr[i]), corr[i]))
    y = np.arange(len(rows))
    widths = [number(rows[i]["width_ratio"]) for i in order]
    ratio = np.clip(np.nan_to_num(np.array(widths, dtype=float), nan=1.0), 0.0, 1.0)
    # blue: the data narrowed the prior; orange-red: the posterior is as wide as the prior
    colors = [(0.12 + 0.66 * v, 0.37, 0.66 - 0.54 * v) for v in ratio]
    ax.barh(y, [np.nan_to_num(corr[i]) for i in order], color=colors)
    for yy, i, w in zip(y, order, widths, strict=True):
        ax.annotate(f" {w:.2f}", (max(0.0, np.nan_to_num(corr[i])), yy), va="center", fontsize=6)
    ax.set_yticks(y, [str(rows[i]["parameter"]) for i in order], fontsize=6)
    ax.axvline(IDENTIFIED, color="grey", lw=0.5, ls="--")
    ax.axvline(WEAK, color="grey", lw=0.5, ls=":")
    ax.set_xlim(min(0.0, float(np.nanmin(corr)) if rows and not np.isnan(corr).all() else 0.0), 1.1)
    ax.set_xlabel(
        "correlation of posterior mean with truth (held-out); number: posterior/prior width"
    )
    ax.set_title("Parameter recovery (identifiability)", loc="left")


@styled
def certificate_figure(cert: Certificate) -> Figure:
    """SBC rank ECDFs, the expected-coverage curve and the recovery bars of one posterior."""
    d = len(cert.names)
    fig = new_figure(10.5, 3.4 + 0.16 * d)
    grid = fig.add_gridspec(2, 2, height_ratios=[3.2, 0.6 + 0.16 * d])
    _sbc_panel(fig.add_subplot(grid[0, 0]), cert)
    _coverage_panel(fig.add_subplot(grid[0, 1]), cert)
    _recovery_panel(fig.add_subplot(grid[1, :]), cert.identifiability)
    return fig
