"""Sensitivity indices (Sobol S1 and ST, Morris mu* and sigma) and their convergence.

:func:`sensitivity_figure` is the one drawing of indices, used by
``lipsteeth sensitivity`` and by the report.  Its input, :class:`IndexBars`,
comes from :func:`index_bars`, fed either with the experiment layer's
:class:`~lipsteeth.experiment.sensitivity.Indices` (:func:`index_bars_of`) or
with the columns of a table of indices read from a results folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, new_figure, styled

if TYPE_CHECKING:
    from ...experiment.sensitivity import Convergence, Indices

#: the indices drawn as bars, in this order, with their legend labels
INDEX_LABELS: dict[str, str] = {
    "S1": "S1 (first order)",
    "ST": "ST (total)",
    "mu_star": "mu* (mean |elementary effect|)",
}
#: what the index axis measures, per method (the units of the indices)
INDEX_AXIS: dict[str, str] = {
    "sobol": "Sobol index: share of the outcome's variance (whiskers: confidence interval)",
    "morris": "mu*: outcome units per factor range (whiskers: confidence interval)",
    "": "index (whiskers: confidence interval)",
}


@dataclass(frozen=True)
class IndexBars:
    """Sensitivity indices of one outcome, ready to draw: factors most influential first."""

    outcome: str
    method: str  # "sobol", "morris" or "" (unknown)
    factors: tuple[str, ...]
    values: Mapping[str, np.ndarray]  # index name -> (F,), keys of INDEX_LABELS only
    errors: Mapping[str, np.ndarray] = field(default_factory=dict)  # half-widths
    sigma: np.ndarray | None = None  # Morris: sigma per factor (interactions)
    note: str = ""


def index_bars(
    outcome: str,
    factors: Sequence[str],
    columns: Mapping[str, np.ndarray],
    *,
    method: str = "",
    note: str = "",
    limit: int = 20,
) -> IndexBars:
    """The ``limit`` most influential factors, ranked by ST (Sobol) or mu* (Morris).

    ``columns`` holds index arrays by name as SALib names them (``S1``,
    ``S1_conf``, ``ST``, ``ST_conf``, ``mu_star``, ``mu_star_conf``, ``sigma``).
    """
    keys = [k for k in INDEX_LABELS if k in columns]
    if not method:
        method = "morris" if "mu_star" in keys else "sobol" if keys else ""
    rank_key = "ST" if "ST" in keys else keys[0] if keys else None
    n = len(factors)
    if rank_key is None:
        order = np.arange(min(n, limit))
    else:
        rank = np.nan_to_num(np.asarray(columns[rank_key], dtype=float), nan=-np.inf)
        order = np.argsort(-rank, kind="stable")[:limit]

    def pick(name: str) -> np.ndarray:
        return np.asarray(columns[name], dtype=float)[order]

    sigma = pick("sigma") if "sigma" in columns else None
    return IndexBars(
        outcome=outcome,
        method=method,
        factors=tuple(str(factors[int(i)]) for i in order),
        values={k: pick(k) for k in keys},
        errors={k: np.nan_to_num(pick(f"{k}_conf")) for k in keys if f"{k}_conf" in columns},
        sigma=sigma,
        note=note,
    )


def index_bars_of(indices: Indices, *, limit: int = 20) -> IndexBars:
    """:func:`index_bars` of the experiment layer's indices of one outcome."""
    what = "trajectories" if indices.method == "morris" else "base samples"
    return index_bars(
        indices.outcome,
        indices.names,
        indices.values,
        method=indices.method,
        note=f"N={indices.n_base} {what}, {indices.n_runs} runs",
        limit=limit,
    )


def _index_limits(bars: IndexBars) -> tuple[float, float]:
    # whiskers from small samples can be far wider than the indices: the axis reaches at
    # most twice the largest index (whiskers beyond are clipped); Sobol keeps its [0, 1] scale
    values = np.concatenate([v[np.isfinite(v)] for v in bars.values.values()] or [[0.0]])
    ends = np.concatenate([v + bars.errors.get(k, 0.0) for k, v in bars.values.items()] or [[0.0]])
    ends = ends[np.isfinite(ends)]
    top = float(values.max()) if values.size else 0.0
    low = min(0.0, float(values.min()) if values.size else 0.0)
    high = max(top, min(float(ends.max()) if ends.size else top, 2.0 * top), 1e-9)
    if "ST" in bars.values:
        low, high = min(-0.05, low), max(1.0, high)
    pad = 0.05 * (high - low)
    return low - pad, high + pad


@styled
def sensitivity_figure(bars: IndexBars) -> Figure:
    """Horizontal bars of each index per factor, most influential on top.

    Morris indices (with ``sigma``) get a second panel: mu* against sigma,
    the diagonal separating mostly additive factors (below) from factors that
    act through interactions or non-linearity (above).
    """
    k = max(1, len(bars.values))
    n = max(1, len(bars.factors))
    panels = 2 if bars.sigma is not None else 1
    fig = new_figure(6.5 + 4.5 * (panels - 1), 0.28 * n + 1.4)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    y = np.arange(len(bars.factors))
    h = 0.8 / k
    for j, (name, v) in enumerate(bars.values.items()):
        ax.barh(
            y + (j - (k - 1) / 2) * h,
            v,
            height=h,
            xerr=bars.errors.get(name),
            label=INDEX_LABELS.get(name, name),
            color=PALETTE[j % len(PALETTE)],
            error_kw={"linewidth": 0.6, "capsize": 1.5},
        )
    ax.set_yticks(y, list(bars.factors))
    ax.invert_yaxis()
    ax.set_xlim(*_index_limits(bars))
    ax.axvline(0.0, color="#555555", linewidth=0.6)
    ax.set_xlabel(INDEX_AXIS.get(bars.method, INDEX_AXIS[""]))
    ax.legend(frameon=False)
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    method = {"sobol": "Sobol indices", "morris": "Morris screening"}.get(bars.method, "Indices")
    title = f"{method} of {bars.outcome or 'the outcome'}: top {len(bars.factors)} factors"
    ax.set_title(title + (f" ({bars.note})" if bars.note else ""), loc="left")
    if bars.sigma is not None and "mu_star" in bars.values:
        sx = axes[1]
        mu = bars.values["mu_star"]
        sx.scatter(mu, bars.sigma, color=PALETTE[0], s=12)
        for i in range(min(8, len(bars.factors))):
            sx.annotate(bars.factors[i], (mu[i], bars.sigma[i]), fontsize=6.5)
        both = np.concatenate([mu[np.isfinite(mu)], bars.sigma[np.isfinite(bars.sigma)]])
        lim = float(both.max()) if both.size and both.max() > 0 else 1.0
        sx.plot([0, lim], [0, lim], linestyle="--", color="#888888", linewidth=0.8)
        sx.set_xlabel("mu*")
        sx.set_ylabel("sigma (interactions, non-linearity)")
        sx.set_title("mu* against sigma", loc="left")
        sx.grid(True, linewidth=0.3, alpha=0.5)
    return fig


@styled
def convergence_figure(conv: Convergence, *, limit: int = 8) -> Figure:
    """The ranking index of the most influential factors against the base sample size."""
    last = conv.values[-1]
    order = [int(i) for i in np.argsort(-np.nan_to_num(last, nan=-1.0))[:limit]]
    fig = new_figure(6.5, 3.8)
    ax = fig.add_subplot()
    for j, i in enumerate(order):
        ax.plot(
            conv.sizes,
            conv.values[:, i],
            marker="o",
            markersize=3,
            color=PALETTE[j % len(PALETTE)],
            label=conv.names[i],
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(conv.sizes, [str(s) for s in conv.sizes])
    ax.set_xlabel("base sample size N")
    ax.set_ylabel(conv.key)
    state = "settled" if conv.settled else "NOT settled"
    ax.set_title(
        f"Convergence: {state} (max change {conv.max_change:.3f}, tolerance {conv.tolerance})",
        loc="left",
    )
    ax.legend(frameon=False, ncol=2)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    return fig
