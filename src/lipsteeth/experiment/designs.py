"""Experimental designs over a factor space: grid, Latin hypercube, Saltelli (Sobol), Morris.

A *space* is a list of factors, each a declared uncertainty of the scenario
(``group.name``, a model parameter) or a lever (``name``), with a range.  A
*design* is a matrix of points in that space (one row per point).  Samplers
are SALib's (and its one seed per design), so Saltelli and Morris designs
carry the structure their analyses need; integer parameters are rounded to
whole numbers only when a point is turned into scenario overrides.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..core.params import LEVER_NAMES, PARAM_GROUPS, field_specs

if TYPE_CHECKING:
    from ..scenario import Scenario

FactorKind = Literal["uncertainty", "lever", "dummy"]
#: name of the factor a sensitivity design adds and the model ignores (see :func:`with_dummy`)
DUMMY_FACTOR = "dummy"
DESIGNS: tuple[str, ...] = ("grid", "lhs", "saltelli", "morris")
MAX_GRID_POINTS = 200_000


class DesignError(ValueError):
    """A design cannot be built as asked (one-line message)."""


@dataclass(frozen=True)
class Factor:
    """One dimension of a design: a parameter or lever and its range."""

    name: str
    kind: FactorKind
    low: float
    high: float
    integer: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.high < self.low:
            raise DesignError(f"{self.name}: range [{self.low}, {self.high}] is not valid")


@dataclass(frozen=True)
class Space:
    """The factors a design varies, in a fixed order."""

    factors: tuple[Factor, ...]

    def __post_init__(self) -> None:
        if not self.factors:
            raise DesignError("the space has no factors (declare ranges in the scenario)")
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise DesignError("factor names repeat")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    @property
    def dim(self) -> int:
        return len(self.factors)

    @property
    def bounds(self) -> np.ndarray:
        """(D, 2) low and high of every factor."""
        return np.array([[f.low, f.high] for f in self.factors], dtype=float)

    def problem(self) -> dict[str, Any]:
        """The SALib problem dictionary (a zero-width range is widened by a hair)."""
        bounds = self.bounds.copy()
        flat = bounds[:, 1] <= bounds[:, 0]
        bounds[flat, 1] = bounds[flat, 0] + 1e-12 * np.maximum(1.0, np.abs(bounds[flat, 0]))
        return {"num_vars": self.dim, "names": list(self.names), "bounds": bounds.tolist()}

    def select(self, names: Iterable[str]) -> Space:
        """The sub-space of the named factors (in the order given)."""
        by_name = {f.name: f for f in self.factors}
        chosen = []
        for name in names:
            if name not in by_name:
                raise DesignError(f"{name}: not a factor of this scenario ({_known(by_name)})")
            chosen.append(by_name[name])
        return Space(tuple(chosen))

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"name": f.name, "kind": f.kind, "low": f.low, "high": f.high, "integer": f.integer}
            for f in self.factors
        ]

    @classmethod
    def from_dict(cls, rows: Sequence[Mapping[str, Any]]) -> Space:
        return cls(
            tuple(
                Factor(
                    str(r["name"]),
                    r["kind"],
                    float(r["low"]),
                    float(r["high"]),
                    bool(r.get("integer", False)),
                )
                for r in rows
            )
        )


def _known(by_name: Mapping[str, Any]) -> str:
    names = sorted(by_name)
    return "known: " + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")


def _is_integer_param(name: str) -> bool:
    group, _, field_name = name.partition(".")
    cls = PARAM_GROUPS.get(group)
    if cls is None:
        return False
    return bool(field_specs(cls).get(field_name, {}).get("integer", False))


def space_from_scenario(
    scenario: Scenario,
    *,
    include: Literal["all", "uncertainties", "levers"] = "all",
    only: Sequence[str] | None = None,
) -> Space:
    """The declared uncertainties and/or lever ranges of a scenario as a design space."""
    factors: list[Factor] = []
    if include in ("all", "uncertainties"):
        for name, (low, high) in scenario.uncertainties.items():
            factors.append(
                Factor(name, "uncertainty", float(low), float(high), _is_integer_param(name))
            )
    if include in ("all", "levers"):
        for name, (low, high) in scenario.lever_ranges.items():
            if name not in LEVER_NAMES:
                raise DesignError(f"{name}: not a lever")
            factors.append(Factor(name, "lever", float(low), float(high)))
    if not factors:
        raise DesignError(f"scenario {scenario.name} declares no ranges to vary ({include})")
    space = Space(tuple(factors))
    if only:
        space = space.select(only)
    return space


def with_dummy(space: Space) -> Space:
    """``space`` plus a dummy factor on [0, 1] that the model never reads.

    Sampled like the others, it changes nothing in the runs, so its index is what
    simulation noise and finite sampling alone give: the noise floor.  A factor whose
    index is not above the dummy's is not distinguishable from no effect.
    """
    if DUMMY_FACTOR in space.names:
        raise DesignError(f"{DUMMY_FACTOR}: a factor of the scenario has the dummy's name")
    return Space((*space.factors, Factor(DUMMY_FACTOR, "dummy", 0.0, 1.0)))


@dataclass(frozen=True)
class Design:
    """Points of a design (rows of ``X``) and what the analyses need to read them."""

    method: str
    space: Space
    X: np.ndarray  # (n, D) float, as sampled
    seed: int
    n_base: int  # N of the method: grid levels, LHS size, Saltelli N, Morris trajectories
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return int(self.X.shape[0])

    def point(self, i: int) -> dict[str, float]:
        """Point ``i`` as ``{factor name: value}`` (integer factors rounded)."""
        row = self.X[i]
        out: dict[str, float] = {}
        for f, v in zip(self.space.factors, row, strict=True):
            out[f.name] = float(round(v)) if f.integer else float(v)
        return out

    def overrides(self, i: int) -> tuple[dict[str, float | int], dict[str, float]]:
        """Point ``i`` split into scenario overrides ``(params, levers)``."""
        params: dict[str, float | int] = {}
        levers: dict[str, float] = {}
        for f, v in zip(self.space.factors, self.X[i], strict=True):
            if f.kind == "dummy":  # read by no model: the noise floor of the indices
                continue
            if f.kind == "lever":
                levers[f.name] = float(v)
            else:
                params[f.name] = int(round(v)) if f.integer else float(v)
        return params, levers

    def rows_per_base(self) -> int:
        """Rows of ``X`` per base sample (Saltelli blocks, Morris trajectories)."""
        d = self.space.dim
        if self.method == "saltelli":
            return 2 * d + 2 if self.options.get("calc_second_order") else d + 2
        if self.method == "morris":
            return d + 1
        return 1

    def prefix_rows(self, n_base: int) -> int:
        """Number of leading rows that form the same design with ``n_base`` base samples."""
        return n_base * self.rows_per_base()

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the design except ``X`` (which is re-sampled)."""
        return {
            "method": self.method,
            "space": self.space.to_dict(),
            "seed": self.seed,
            "n_base": self.n_base,
            "n_points": self.n_points,
            "options": dict(self.options),
        }


def grid(space: Space, levels: int) -> Design:
    """Full factorial grid with ``levels`` evenly spaced values per factor (ends included)."""
    if levels < 1:
        raise DesignError("a grid needs at least 1 level per factor")
    total = levels**space.dim
    if total > MAX_GRID_POINTS:
        raise DesignError(
            f"a {levels}-level grid over {space.dim} factors has {total:,} points "
            f"(limit {MAX_GRID_POINTS:,}); choose factors with --factors or use lhs"
        )
    axes = [
        np.linspace(f.low, f.high, levels) if levels > 1 else np.array([(f.low + f.high) / 2])
        for f in space.factors
    ]
    X = np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, space.dim)
    return Design("grid", space, X, seed=0, n_base=levels)


def lhs(space: Space, n: int, seed: int) -> Design:
    """Latin hypercube of ``n`` points (SALib's sampler)."""
    from SALib.sample import latin

    if n < 1:
        raise DesignError("a Latin hypercube needs at least 1 point")
    X = latin.sample(space.problem(), n, seed=seed)
    return Design("lhs", space, np.asarray(X, dtype=float), seed=seed, n_base=n)


def saltelli(space: Space, n: int, seed: int, *, calc_second_order: bool = False) -> Design:
    """Saltelli's extension of a scrambled Sobol sequence: ``n * (D + 2)`` points.

    With ``calc_second_order`` it is ``n * (2D + 2)``.  ``n`` should be a power of 2.
    """
    from SALib.sample import sobol as sobol_sample

    if n < 2 or n & (n - 1):
        raise DesignError(f"Saltelli samples must be a power of 2 (got {n})")
    X = sobol_sample.sample(
        space.problem(), n, calc_second_order=calc_second_order, scramble=True, seed=seed
    )
    return Design(
        "saltelli",
        space,
        np.asarray(X, dtype=float),
        seed=seed,
        n_base=n,
        options={"calc_second_order": calc_second_order},
    )


def morris(space: Space, n: int, seed: int, *, num_levels: int = 4) -> Design:
    """``n`` Morris trajectories of ``D + 1`` points each on a ``num_levels`` grid."""
    from SALib.sample import morris as morris_sample

    if n < 2:
        raise DesignError("Morris needs at least 2 trajectories")
    X = morris_sample.sample(space.problem(), n, num_levels=num_levels, seed=seed)
    return Design(
        "morris",
        space,
        np.asarray(X, dtype=float),
        seed=seed,
        n_base=n,
        options={"num_levels": num_levels},
    )


def make_design(method: str, space: Space, samples: int, seed: int, **options: Any) -> Design:
    """Build a design by name (``grid``, ``lhs``, ``saltelli``, ``morris``)."""
    if method == "grid":
        return grid(space, samples)
    if method == "lhs":
        return lhs(space, samples, seed)
    if method == "saltelli":
        return saltelli(space, samples, seed, **options)
    if method == "morris":
        return morris(space, samples, seed, **options)
    raise DesignError(f"unknown design {method!r} (choose from {', '.join(DESIGNS)})")


def design_from_dict(data: Mapping[str, Any]) -> Design:
    """Rebuild a design from ``Design.to_dict()`` (samplers are deterministic in the seed)."""
    space = Space.from_dict(data["space"])
    design = make_design(
        str(data["method"]), space, int(data["n_base"]), int(data["seed"]), **data["options"]
    )
    if design.n_points != int(data["n_points"]):
        raise DesignError("the design re-sampled with a different number of points")
    return design
