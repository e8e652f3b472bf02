"""Calibration: posterior marginals against their priors, and ABC-SMC diagnostics.

:func:`posterior_figure` is the one drawing of a posterior, used by
``lipsteeth calibrate`` (through :func:`marginals_of` any
:class:`~lipsteeth.experiment.calibration.PosteriorSample`, ABC-SMC or NPE) and by the
report (from a posterior table in a results folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .style import COLOR_A, COLOR_B, new_figure, panel_grid, styled, suptitle_left

if TYPE_CHECKING:
    from ...experiment.calibration import CalibrationResult, PosteriorSample

#: at most this many marginals in one figure
MAX_MARGINALS = 24


@dataclass(frozen=True)
class Marginal:
    """Weighted posterior samples of one parameter, and its uniform prior range if known."""

    name: str
    values: np.ndarray
    weights: np.ndarray
    prior: tuple[float, float] | None = None


def marginals_of(result: PosteriorSample) -> list[Marginal]:
    """The posterior sample (ABC-SMC: the last generation) of every parameter, with its prior."""
    post = result.posterior()
    weights = post["weight"].to_numpy(dtype=float)
    return [
        Marginal(p.name, post[p.name].to_numpy(dtype=float), weights, (p.low, p.high))
        for p in result.priors
    ]


@styled
def posterior_figure(marginals: Sequence[Marginal], *, note: str = "") -> Figure:
    """Weighted histograms of posterior samples; the prior's range and uniform density beside."""
    shown = list(marginals)[:MAX_MARGINALS]
    fig, axes = panel_grid(len(shown), 4, 2.6, 2.0)
    for ax, m in zip(axes, shown, strict=False):
        values = np.asarray(m.values, dtype=float)
        weights = np.asarray(m.weights, dtype=float)
        finite = np.isfinite(values) & np.isfinite(weights)
        prior = m.prior if m.prior is not None and m.prior[1] > m.prior[0] else None
        # bins over the prior's range show how far the data narrowed it
        bins = np.linspace(prior[0], prior[1], 21) if prior is not None else 20
        if finite.any() and weights[finite].sum() > 0:
            ax.hist(
                values[finite],
                bins=bins,
                weights=weights[finite],
                density=True,
                color=COLOR_A,
                alpha=0.75,
                label="posterior",
            )
        if prior is not None:
            ax.axvspan(prior[0], prior[1], color="#cccccc", alpha=0.35, zorder=0)
            ax.hlines(
                1.0 / (prior[1] - prior[0]),
                prior[0],
                prior[1],
                color=COLOR_B,
                linewidth=1.5,
                label="prior",
            )
        ax.set_title(m.name, loc="left", fontsize=7.5)
        ax.set_yticks([])
    if shown:
        axes[0].legend(frameon=False)
    suptitle_left(
        fig,
        "Calibration posterior (weighted) against the uniform prior (grey: its range)"
        + (f"; {note}" if note else ""),
    )
    return fig


def posterior_note(result: PosteriorSample) -> str:
    """Which sample a posterior figure shows and what it cost."""
    from ...experiment.calibration import CalibrationResult

    if isinstance(result, CalibrationResult):
        return f"ABC-SMC generation {result.last_generation}, {result.n_simulations} simulations"
    samples = len(result.posterior())
    simulations = getattr(result, "n_simulations", None)
    cost = f", {simulations} simulations" if simulations is not None else ""
    return f"{result.method.upper()}: {samples} posterior samples{cost}"


@styled
def abc_diagnostics_figure(result: CalibrationResult) -> Figure:
    """Tolerance epsilon, acceptance rate and effective sample size per generation."""
    g = result.generations
    fig = new_figure(11.0, 3.0)
    axes = fig.subplots(1, 3)
    for ax, column, title in (
        (axes[0], "epsilon", "tolerance epsilon"),
        (axes[1], "acceptance_rate", "acceptance rate"),
        (axes[2], "ess", "effective sample size"),
    ):
        ax.plot(g["generation"], g[column], marker="o", markersize=3, color=COLOR_A)
        ax.set_title(title, loc="left")
        ax.set_xlabel("generation")
        ax.grid(True, linewidth=0.3, alpha=0.5)
    axes[1].axhline(
        result.settings.min_acceptance_rate, linestyle="--", color="#888888", linewidth=0.8
    )
    suptitle_left(fig, result.stop_reason)
    return fig
