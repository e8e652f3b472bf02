"""Scenario discovery: PRIM boxes in factor space where an outcome crosses a threshold.

Cases of interest are the runs whose outcome is above (or below) the
threshold.  PRIM (EMA Workbench's implementation) peels the factor space
towards a box dense in cases of interest; the peeling trajectory trades
coverage (share of all cases of interest inside the box) against density
(share of the box's runs that are cases of interest).  From each trajectory
we select the densest box whose coverage is at least ``min_coverage`` (ties:
the larger coverage), the usual analyst's choice made reproducible.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


class DiscoveryError(ValueError):
    """Scenario discovery cannot run as asked (one-line message)."""


@dataclass(frozen=True)
class Box:
    """One PRIM box: limits on the restricted factors, with its statistics."""

    index: int
    limits: dict[str, tuple[float, float]]  # restricted factors only
    coverage: float
    density: float
    mass: float
    n_points: int
    n_of_interest: int
    selected_step: int
    trajectory: pd.DataFrame  # step, coverage, density, mass, res_dim, n, k
    meets_threshold: bool = True

    def records(self) -> list[dict[str, Any]]:
        """One dict per restricted factor."""
        return [
            {"box": self.index, "factor": k, "low": lo, "high": hi}
            for k, (lo, hi) in self.limits.items()
        ]

    def contains(self, X: pd.DataFrame) -> np.ndarray:
        """Which rows of ``X`` fall inside the box."""
        inside = np.ones(len(X), dtype=bool)
        for k, (lo, hi) in self.limits.items():
            col = X[k].to_numpy(dtype=float)
            inside &= (col >= lo) & (col <= hi)
        return inside


@dataclass(frozen=True)
class DiscoveryResult:
    """Boxes found, in order, and what they were looking for."""

    boxes: tuple[Box, ...]
    outcome: str
    threshold: float
    direction: str  # "above" | "below"
    n_points: int
    n_of_interest: int
    factors: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)


def cases_of_interest(y: np.ndarray, threshold: float, *, below: bool = False) -> np.ndarray:
    """Boolean cases of interest: ``y > threshold`` (or ``y < threshold``)."""
    y = np.asarray(y, dtype=float)
    return y < threshold if below else y > threshold


def _select_step(trajectory: pd.DataFrame, min_coverage: float) -> int:
    cov = trajectory["coverage"].to_numpy(dtype=float)
    den = trajectory["density"].to_numpy(dtype=float)
    ok = np.nonzero(cov >= min_coverage)[0]
    if ok.size == 0:
        return 0
    best = den[ok].max()
    candidates = ok[np.isclose(den[ok], best, rtol=0, atol=1e-12)]
    return int(candidates[np.argmax(cov[candidates])])


def prim(
    X: pd.DataFrame,
    interest: np.ndarray,
    *,
    outcome: str = "y",
    threshold: float = float("nan"),
    direction: str = "above",
    density_threshold: float = 0.5,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
    max_boxes: int = 1,
    min_coverage: float = 0.5,
) -> DiscoveryResult:
    """Up to ``max_boxes`` PRIM boxes for the boolean ``interest`` over factors ``X``.

    ``density_threshold`` is PRIM's own: a box whose density falls short of it
    ends the search.
    """
    import pandas as pd

    interest = np.asarray(interest, dtype=bool)
    if len(X) != interest.size:
        raise DiscoveryError(f"{interest.size} outcomes for {len(X)} runs")
    if len(X) < 10:
        raise DiscoveryError(f"PRIM needs more runs than {len(X)}")
    n_interest = int(interest.sum())
    if n_interest == 0:
        raise DiscoveryError("no run is a case of interest: move the threshold")
    if n_interest == interest.size:
        raise DiscoveryError("every run is a case of interest: move the threshold")
    X = X.astype(float).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim as ema_prim

        logging.getLogger("EMA").setLevel(logging.WARNING)
        algo = ema_prim.Prim(
            X,
            interest.astype(int),
            threshold=density_threshold,
            peel_alpha=peel_alpha,
            paste_alpha=paste_alpha,
            mass_min=mass_min,
        )
        init = algo.box_init
        boxes: list[Box] = []
        for b in range(max_boxes):
            found = algo.find_box()
            if found is None:
                break
            traj = found.peeling_trajectory.reset_index(drop=True).copy()
            traj.insert(0, "step", np.arange(len(traj)))
            meets = bool(traj["density"].max() >= density_threshold) and len(traj) > 1
            step = _select_step(traj, min_coverage)
            found.select(step)
            lims = found.box_lims[step]
            limits = {}
            for name in X.columns:
                lo, hi = float(lims[name].iloc[0]), float(lims[name].iloc[1])
                if lo != float(init[name].iloc[0]) or hi != float(init[name].iloc[1]):
                    limits[str(name)] = (lo, hi)
            if not limits:  # PRIM's "dump box": nothing left to restrict
                break
            row = traj.iloc[step]
            boxes.append(
                Box(
                    index=b,
                    limits=limits,
                    coverage=float(row["coverage"]),
                    density=float(row["density"]),
                    mass=float(row["mass"]),
                    n_points=int(row["n"]),
                    n_of_interest=int(row["k"]),
                    selected_step=step,
                    trajectory=traj[
                        ["step", "coverage", "density", "mass", "res_dim", "n", "k"]
                    ].astype(float),
                    meets_threshold=meets,
                )
            )
            if not meets:
                break
    return DiscoveryResult(
        tuple(boxes),
        outcome,
        float(threshold),
        direction,
        len(X),
        n_interest,
        tuple(str(c) for c in X.columns),
        {
            "density_threshold": density_threshold,
            "peel_alpha": peel_alpha,
            "paste_alpha": paste_alpha,
            "mass_min": mass_min,
            "max_boxes": max_boxes,
            "min_coverage": min_coverage,
            "pandas": pd.__version__,
        },
    )


def discover(
    X: pd.DataFrame,
    y: np.ndarray,
    threshold: float,
    *,
    outcome: str = "y",
    below: bool = False,
    **settings: Any,
) -> DiscoveryResult:
    """PRIM boxes where ``y`` is above (or below) ``threshold``."""
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(y)
    if not keep.all():
        X = X.loc[keep].reset_index(drop=True)
        y = y[keep]
    return prim(
        X,
        cases_of_interest(y, threshold, below=below),
        outcome=outcome,
        threshold=threshold,
        direction="below" if below else "above",
        **settings,
    )


def varying_factors(X: pd.DataFrame, names: Sequence[str] | None = None) -> list[str]:
    """Columns of ``X`` that take more than one value (PRIM cannot restrict the others)."""
    cols = list(names) if names else list(X.columns)
    return [c for c in cols if X[c].nunique() > 1]
