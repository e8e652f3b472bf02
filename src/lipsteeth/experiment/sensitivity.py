"""Global sensitivity indices (SALib) and a check that they have settled.

Sobol (on a Saltelli design): first-order S1 and total ST indices with their
bootstrap confidence intervals.  Morris (on trajectories): mu* (mean absolute
elementary effect), its confidence interval, sigma.

The convergence check recomputes the indices on the leading part of the same
design (a Saltelli or Morris design cut after ``n`` base samples is itself a
valid design of size ``n``), at ``N/8, N/4, N/2, N``, and calls the indices
settled when the last doubling moved none of them by more than the
tolerance.  A sample that is not settled gets a warning, not a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .designs import Design

METHODS: tuple[str, ...] = ("sobol", "morris")


class SensitivityError(ValueError):
    """Indices cannot be computed (one-line message)."""


@dataclass(frozen=True)
class Indices:
    """Sensitivity indices of one outcome, one row per factor.

    ``columns`` name the index arrays: S1, S1_conf, ST, ST_conf for Sobol;
    mu, mu_star, mu_star_conf, sigma for Morris.  ``key`` is the index used to
    rank factors and judge convergence (ST, or mu* scaled by its largest value).
    """

    method: str
    outcome: str
    names: tuple[str, ...]
    values: dict[str, np.ndarray]
    n_base: int
    n_runs: int
    key: str

    def ranking(self) -> list[int]:
        """Factor positions, most influential first."""
        return [int(i) for i in np.argsort(-np.nan_to_num(self.values[self.key], nan=-1.0))]

    def records(self) -> list[dict[str, Any]]:
        """One dict per factor (name plus every index), most influential first."""
        out = []
        for i in self.ranking():
            row: dict[str, Any] = {"factor": self.names[i]}
            row.update({k: float(v[i]) for k, v in self.values.items()})
            out.append(row)
        return out


@dataclass(frozen=True)
class Convergence:
    """Indices at increasing sample sizes and whether the last doubling settled them."""

    sizes: tuple[int, ...]
    key: str
    values: np.ndarray  # (len(sizes), D) of the key index
    names: tuple[str, ...]
    tolerance: float
    max_change: float
    settled: bool
    message: str
    extra: dict[str, Any] = field(default_factory=dict)


def _check(design: Design, Y: np.ndarray) -> np.ndarray:
    Y = np.asarray(Y, dtype=float).reshape(-1)
    if Y.size != design.n_points:
        raise SensitivityError(f"{Y.size} outcome values for {design.n_points} design points")
    if not np.all(np.isfinite(Y)):
        raise SensitivityError(f"{int((~np.isfinite(Y)).sum())} runs have no finite outcome")
    return Y


def _base_prefix(
    design: Design, Y: np.ndarray, n_base: int | None, method: str, need: str
) -> tuple[np.ndarray, int, int]:
    """Outcomes of the design's first ``n_base`` base samples: (values, n_base, rows)."""
    if design.method != method:
        raise SensitivityError(f"{need} design, not {design.method}")
    Y = _check(design, Y)
    n = design.n_base if n_base is None else int(n_base)
    rows = design.prefix_rows(n)
    return Y[:rows], n, rows


def sobol(
    design: Design,
    Y: np.ndarray,
    *,
    outcome: str = "y",
    n_base: int | None = None,
    seed: int = 0,
    conf_level: float = 0.95,
    num_resamples: int = 200,
) -> Indices:
    """Sobol S1 and ST (with confidence intervals) on the first ``n_base`` base samples."""
    from SALib.analyze import sobol as sobol_analyze

    Yn, n, rows = _base_prefix(design, Y, n_base, "saltelli", "Sobol indices need a Saltelli")
    names = design.space.names
    if np.var(Yn) <= 0:
        zeros = np.zeros(len(names))
        values = {"S1": zeros, "S1_conf": zeros, "ST": zeros, "ST_conf": zeros}
    else:
        res = sobol_analyze.analyze(
            design.space.problem(),
            Yn,
            calc_second_order=bool(design.options.get("calc_second_order", False)),
            num_resamples=num_resamples,
            conf_level=conf_level,
            print_to_console=False,
            seed=seed,
        )
        values = {k: np.asarray(res[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    return Indices("sobol", outcome, names, values, n, rows, "ST")


def morris(
    design: Design,
    Y: np.ndarray,
    *,
    outcome: str = "y",
    n_base: int | None = None,
    seed: int = 0,
    conf_level: float = 0.95,
    num_resamples: int = 200,
) -> Indices:
    """Morris mu, mu* (with confidence interval) and sigma on the first ``n_base`` trajectories."""
    from SALib.analyze import morris as morris_analyze

    Yn, n, rows = _base_prefix(design, Y, n_base, "morris", "Morris indices need a Morris")
    res = morris_analyze.analyze(
        design.space.problem(),
        design.X[:rows],
        Yn,
        num_resamples=num_resamples,
        conf_level=conf_level,
        print_to_console=False,
        num_levels=int(design.options.get("num_levels", 4)),
        seed=seed,
    )
    values = {
        k: np.asarray(res[k], dtype=float) for k in ("mu", "mu_star", "mu_star_conf", "sigma")
    }
    top = float(np.nanmax(values["mu_star"])) if values["mu_star"].size else 0.0
    values["mu_star_scaled"] = values["mu_star"] / top if top > 0 else values["mu_star"] * 0.0
    return Indices("morris", outcome, design.space.names, values, n, rows, "mu_star_scaled")


def analyze(design: Design, Y: np.ndarray, *, outcome: str = "y", seed: int = 0) -> Indices:
    """Sobol indices on a Saltelli design, Morris indices on a Morris design."""
    if design.method == "saltelli":
        return sobol(design, Y, outcome=outcome, seed=seed)
    if design.method == "morris":
        return morris(design, Y, outcome=outcome, seed=seed)
    raise SensitivityError(f"no sensitivity method for a {design.method} design")


def convergence_sizes(n_base: int, steps: int = 4, minimum: int = 4) -> tuple[int, ...]:
    """``N/2^(steps-1), ..., N/2, N`` (sizes below ``minimum`` dropped)."""
    sizes = sorted({n_base // 2**k for k in range(steps)} - {0})
    kept = tuple(s for s in sizes if s >= minimum)
    return kept or (n_base,)


def convergence(
    design: Design,
    Y: np.ndarray,
    *,
    outcome: str = "y",
    tolerance: float = 0.05,
    steps: int = 4,
    seed: int = 0,
) -> Convergence:
    """Indices recomputed at increasing sample sizes; settled if the last doubling is small.

    For Sobol the tracked index is ST (S1 is reported in ``extra``); for Morris
    it is mu* divided by the largest mu* (so the tolerance is relative).
    """
    sizes = convergence_sizes(design.n_base, steps)
    runs = [analyze_at(design, Y, n, outcome=outcome, seed=seed) for n in sizes]
    key = runs[-1].key
    values = np.array([r.values[key] for r in runs])
    extra: dict[str, Any] = {}
    if design.method == "saltelli":
        extra["S1"] = np.array([r.values["S1"] for r in runs])
    if len(sizes) < 2:
        return Convergence(
            sizes,
            key,
            values,
            design.space.names,
            tolerance,
            float("nan"),
            False,
            f"only one sample size ({sizes[0]}): convergence not checked; use more samples",
            extra,
        )
    change = np.abs(values[-1] - values[-2])
    if "S1" in extra:
        change = np.maximum(change, np.abs(extra["S1"][-1] - extra["S1"][-2]))
    max_change = float(np.nanmax(change)) if change.size else 0.0
    settled = bool(max_change <= tolerance)
    worst = design.space.names[int(np.nanargmax(change))] if change.size else ""
    if settled:
        message = (
            f"settled: from N={sizes[-2]} to N={sizes[-1]} no index moved more than "
            f"{max_change:.3f} (tolerance {tolerance})"
        )
    else:
        message = (
            f"NOT settled: from N={sizes[-2]} to N={sizes[-1]} {worst} moved by "
            f"{max_change:.3f} (tolerance {tolerance}); use more samples"
        )
    return Convergence(
        sizes, key, values, design.space.names, tolerance, max_change, settled, message, extra
    )


def analyze_at(
    design: Design, Y: np.ndarray, n_base: int, *, outcome: str = "y", seed: int = 0
) -> Indices:
    """Indices on the first ``n_base`` base samples of the design."""
    if design.method == "saltelli":
        return sobol(design, Y, outcome=outcome, n_base=n_base, seed=seed)
    if design.method == "morris":
        return morris(design, Y, outcome=outcome, n_base=n_base, seed=seed)
    raise SensitivityError(f"no sensitivity method for a {design.method} design")


def ishigami(
    x1: np.ndarray | float,
    x2: np.ndarray | float,
    x3: np.ndarray | float,
    a: float = 7.0,
    b: float = 0.1,
) -> np.ndarray | float:
    """Ishigami's function (inputs uniform on [-pi, pi])."""
    return np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)


def ishigami_model(values: Mapping[str, float], rng: np.random.Generator) -> dict[str, float]:
    """Ishigami's function of factors ``x1, x2, x3`` as a sweep ``FunctionModel`` function."""
    return {"y": float(ishigami(values["x1"], values["x2"], values["x3"]))}


def linear_model(values: Mapping[str, float], rng: np.random.Generator) -> dict[str, float]:
    """``y = sum_i (i + 1) * x_i`` over factors ``x0, x1, ...`` (known Morris effects)."""
    return {"y": float(sum((int(k[1:]) + 1) * v for k, v in values.items()))}


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict[str, np.ndarray]:
    """Analytic first-order and total Sobol indices of Ishigami's function."""
    pi = np.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    s1 = np.array([v1, v2, 0.0]) / var
    st = np.array([v1 + v13, v2, v13]) / var
    return {"S1": s1, "ST": st}
