"""The figure of an NPE posterior's certificate: SBC ranks, expected coverage, recovery.

``diagnostics_figure(section)`` takes the section data of
``adapters.npe_results.section_data`` (plain lists and arrays) and returns a
matplotlib ``Figure`` in the house style of ``adapters.figures``;
``diagnostics_chart`` writes it as a PNG (atomic) for a calibration's
``figures/`` folder.

Panels:

1. SBC: per parameter, the empirical CDF of the normalised ranks minus the
   uniform CDF, with the band the pass rule allows (the Kolmogorov-Smirnov
   critical value at 1 % / D, asymptotic); a line leaving the band is a
   miscalibrated parameter (above the band early: truths rank low, the
   posterior sits too high; an S shape: overconfident).
2. Expected coverage: the share of held-out truths inside their c posterior
   region against c, for the joint highest-density region and the mean of the
   marginal central intervals, with the tolerance band of the pass rule.
3. Recovery (identifiability): per parameter, the correlation of the posterior
   mean with the truth on held-out simulations, coloured by the width ratio.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .figures import styled


def ks_band(n_holdout: int, n_params: int, alpha: float = 0.01) -> float:
    """Asymptotic KS critical distance at level ``alpha / n_params`` (Bonferroni)."""
    level = alpha / max(1, n_params)
    return math.sqrt(-0.5 * math.log(level / 2)) / math.sqrt(max(1, n_holdout))


@styled
def diagnostics_figure(section: Mapping[str, Any]) -> Figure:
    """SBC rank ECDFs, the expected-coverage curve and the recovery bars of one posterior."""
    names = list(section["names"])
    ranks = np.asarray(section["ranks"], dtype=float)  # (M, D + 1)
    n_samples = int(section["n_samples"])
    m = ranks.shape[0]
    d = len(names)
    failed = set(section["sbc"].get("failed", []))
    fig = Figure(figsize=(10.5, 3.4 + 0.16 * d), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[3.2, 0.6 + 0.16 * d])
    ax1 = fig.add_subplot(grid[0, 0])
    grid_q = np.linspace(0, 1, 101)
    for k, name in enumerate(names):
        q = np.sort(ranks[:, k] / n_samples)
        ecdf = np.searchsorted(q, grid_q, side="right") / m
        bad = name in failed
        ax1.plot(
            grid_q,
            ecdf - grid_q,
            lw=1.4 if bad else 0.6,
            color="#c0392b" if bad else "#3b6ea8",
            alpha=1.0 if bad else 0.45,
            label=name if bad else None,
        )
    band = ks_band(m, d, float(section["sbc"].get("alpha", 0.01)))
    ax1.fill_between(grid_q, -band, band, color="#cccccc", alpha=0.5, lw=0, label="pass band")
    ax1.axhline(0, color="black", lw=0.5)
    ax1.set_xlabel("normalised rank of the truth among posterior samples")
    ax1.set_ylabel("ECDF - uniform")
    verdict = "pass" if section["sbc"].get("passed") else "FAIL"
    ax1.set_title(f"SBC: {d} parameters, {m} held-out simulations ({verdict})", loc="left")
    ax1.legend(frameon=False, fontsize=6)

    ax2 = fig.add_subplot(grid[0, 1])
    curve = section["coverage"]
    levels = np.array([r["level"] for r in curve])
    ax2.fill_between(
        levels,
        [r["low"] for r in curve],
        [r["high"] for r in curve],
        color="#cccccc",
        alpha=0.5,
        lw=0,
        label="tolerance",
    )
    ax2.plot([0, 1], [0, 1], color="black", lw=0.5)
    ax2.plot(levels, [r["hpd"] for r in curve], marker="o", ms=3, color="#3b6ea8", label="joint")
    ax2.plot(
        levels,
        [r["marginal"] for r in curve],
        marker="s",
        ms=3,
        color="#e0a040",
        label="marginals (mean)",
    )
    for r in curve:
        if r["checked"]:
            ax2.axvline(r["level"], color="grey", lw=0.5, ls="--")
    ax2.set_xlim(0, 1)
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("credibility level")
    ax2.set_ylabel("share of truths covered")
    verdict = "pass" if section.get("coverage_passed") else "FAIL"
    ax2.set_title(f"Expected coverage at 50 % and 90 % ({verdict})", loc="left")
    ax2.legend(frameon=False, loc="upper left")

    ax3 = fig.add_subplot(grid[1, :])
    rows = sorted(section["identifiability"], key=lambda r: r["correlation"])
    y = np.arange(len(rows))
    ratio = np.array([min(1.2, max(0.0, float(r["width_ratio"]))) for r in rows])
    colors = [(0.23 + 0.6 * min(1, v), 0.43, 0.66 - 0.4 * min(1, v)) for v in ratio]
    ax3.barh(y, [r["correlation"] for r in rows], color=colors)
    for yy, r in zip(y, rows, strict=True):
        ax3.annotate(
            f" {r['width_ratio']:.2f}", (max(0.0, r["correlation"]), yy), va="center", fontsize=6
        )
    ax3.set_yticks(y, [r["parameter"] for r in rows], fontsize=6)
    ax3.axvline(0.7, color="grey", lw=0.5, ls="--")
    ax3.axvline(0.3, color="grey", lw=0.5, ls=":")
    ax3.set_xlim(min(0.0, min((r["correlation"] for r in rows), default=0.0)), 1.1)
    ax3.set_xlabel(
        "correlation of posterior mean with truth (held-out); number: posterior/prior width"
    )
    ax3.set_title("Parameter recovery (identifiability)", loc="left")
    return fig


def diagnostics_chart(section: Mapping[str, Any], path: Path) -> Path:
    """Write ``diagnostics_figure`` as a PNG at ``path`` (through a temporary file)."""
    fig = diagnostics_figure(section)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, metadata={"Software": None})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
