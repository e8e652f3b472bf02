"""Figures of experiments (matplotlib, Agg backend): sensitivity, convergence, ABC, PRIM.

Each function draws one PNG at ``path`` and returns the path.  Figures are
written through a temporary file and moved into place (atomic).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..experiment.calibration import CalibrationResult, PosteriorSample  # noqa: E402
from ..experiment.discovery import DiscoveryResult  # noqa: E402
from ..experiment.sensitivity import Convergence, Indices  # noqa: E402

DPI = 120


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _top(indices: Indices, limit: int) -> list[int]:
    return indices.ranking()[:limit]


def sobol_tornado(indices: Indices, path: Path, *, limit: int = 20) -> Path:
    """Horizontal bars of ST and S1 with confidence intervals, most influential on top."""
    order = _top(indices, limit)[::-1]
    names = [indices.names[i] for i in order]
    y = np.arange(len(order))
    v = indices.values
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(order) + 1.6))
    ax.barh(
        y + 0.2,
        v["ST"][order],
        0.4,
        xerr=v["ST_conf"][order],
        label="ST (total)",
        color="#3b6ea8",
        capsize=2,
    )
    ax.barh(
        y - 0.2,
        v["S1"][order],
        0.4,
        xerr=v["S1_conf"][order],
        label="S1 (first order)",
        color="#e0a040",
        capsize=2,
    )
    ax.set_yticks(y, names, fontsize=8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("Sobol index (bars: 95 % bootstrap interval)")
    ax.set_title(f"Sobol indices of {indices.outcome} (N={indices.n_base}, {indices.n_runs} runs)")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def morris_chart(indices: Indices, path: Path, *, limit: int = 20) -> Path:
    """mu* bars with intervals, and mu* against sigma."""
    order = _top(indices, limit)[::-1]
    names = [indices.names[i] for i in order]
    v = indices.values
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 0.35 * len(order) + 1.6))
    y = np.arange(len(order))
    ax1.barh(y, v["mu_star"][order], xerr=v["mu_star_conf"][order], color="#3b6ea8", capsize=2)
    ax1.set_yticks(y, names, fontsize=8)
    ax1.set_xlabel("mu* (mean |elementary effect|)")
    ax1.set_title(f"Morris screening of {indices.outcome} ({indices.n_base} trajectories)")
    ax2.scatter(v["mu_star"], v["sigma"], color="#3b6ea8")
    for i in _top(indices, 8):
        ax2.annotate(indices.names[i], (v["mu_star"][i], v["sigma"][i]), fontsize=7)
    lim = float(np.nanmax([v["mu_star"].max(initial=0), v["sigma"].max(initial=0)])) or 1.0
    ax2.plot([0, lim], [0, lim], ls="--", color="grey", lw=0.8)
    ax2.set_xlabel("mu*")
    ax2.set_ylabel("sigma (interactions, non-linearity)")
    return _save(fig, path)


def convergence_chart(conv: Convergence, path: Path, *, limit: int = 8) -> Path:
    """The tracked index of the most influential factors against the sample size."""
    last = conv.values[-1]
    order = [int(i) for i in np.argsort(-np.nan_to_num(last, nan=-1.0))[:limit]]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i in order:
        ax.plot(conv.sizes, conv.values[:, i], marker="o", label=conv.names[i])
    ax.set_xscale("log", base=2)
    ax.set_xticks(conv.sizes, [str(s) for s in conv.sizes])
    ax.set_xlabel("base sample size N")
    ax.set_ylabel(conv.key)
    state = "settled" if conv.settled else "NOT settled"
    ax.set_title(f"Convergence: {state} (max change {conv.max_change:.3f}, tol {conv.tolerance})")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def posterior_chart(result: PosteriorSample, path: Path, *, title: str | None = None) -> Path:
    """Weighted posterior histogram of each parameter against its uniform prior."""
    post = result.posterior()
    n = len(result.priors)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    w = post["weight"].to_numpy(dtype=float)
    for k, prior in enumerate(result.priors):
        ax = axes[k // cols][k % cols]
        x = post[prior.name].to_numpy(dtype=float)
        bins = np.linspace(prior.low, prior.high, 21)
        ax.hist(
            x, bins=bins, weights=w, density=True, color="#3b6ea8", alpha=0.8, label="posterior"
        )
        ax.hlines(
            1.0 / (prior.high - prior.low),
            prior.low,
            prior.high,
            color="#e0a040",
            lw=2,
            label="prior",
        )
        ax.set_title(prior.name, fontsize=9)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    if title is None and isinstance(result, CalibrationResult):
        title = (
            f"ABC-SMC posterior vs prior (generation {result.last_generation}, "
            f"{result.n_simulations} simulations)"
        )
    fig.suptitle(title or f"{result.method.upper()} posterior vs prior")
    fig.tight_layout()
    return _save(fig, path)


def abc_diagnostics_chart(result: CalibrationResult, path: Path) -> Path:
    """Epsilon, acceptance rate and effective sample size per generation."""
    g = result.generations
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(g["generation"], g["epsilon"], marker="o")
    axes[0].set_title("tolerance epsilon")
    axes[1].plot(g["generation"], g["acceptance_rate"], marker="o")
    axes[1].set_title("acceptance rate")
    axes[1].axhline(result.settings.min_acceptance_rate, ls="--", color="grey", lw=0.8)
    axes[2].plot(g["generation"], g["ess"], marker="o")
    axes[2].set_title("effective sample size")
    for ax in axes:
        ax.set_xlabel("generation")
    fig.suptitle(result.stop_reason, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def peeling_chart(result: DiscoveryResult, path: Path) -> Path:
    """PRIM peeling trajectories: density against coverage, colour = restricted factors."""
    fig, ax = plt.subplots(figsize=(7, 5))
    sc = None
    for box in result.boxes:
        t = box.trajectory
        sc = ax.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=14)
        ax.plot(t["coverage"], t["density"], lw=0.6, color="grey")
        ax.scatter([box.coverage], [box.density], marker="*", s=220, color="red", zorder=5)
        ax.annotate(
            f"box {box.index}",
            (box.coverage, box.density),
            fontsize=8,
            xytext=(5, 5),
            textcoords="offset points",
        )
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="restricted factors")
    ax.set_xlabel("coverage")
    ax.set_ylabel("density")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    word = ">" if result.direction == "above" else "<"
    ax.set_title(
        f"PRIM peeling: {result.outcome} {word} {result.threshold:g} "
        f"({result.n_of_interest} of {result.n_points} runs)"
    )
    return _save(fig, path)


def box_limits_chart(
    result: DiscoveryResult, bounds: dict[str, tuple[float, float]], path: Path
) -> Path:
    """Each box's limits on its restricted factors, scaled to the factor ranges."""
    rows: list[tuple[int, str, float, float]] = []
    for box in result.boxes:
        for name, (lo, hi) in box.limits.items():
            blo, bhi = bounds.get(name, (lo, hi))
            span = (bhi - blo) or 1.0
            rows.append((box.index, name, (lo - blo) / span, (hi - blo) / span))
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(1, len(rows)) + 1.4))
    for k, (b, _name, lo, hi) in enumerate(rows):
        ax.plot([lo, hi], [k, k], lw=6, color=f"C{b}", solid_capstyle="butt")
    ax.set_yticks(range(len(rows)), [f"box {b}: {n}" for b, n, _, _ in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the factor's range")
    ax.set_title("PRIM box limits")
    return _save(fig, path)


def ensure_names(paths: Sequence[Path]) -> list[str]:
    """File names of written figures (for summaries)."""
    return [p.name for p in paths]
