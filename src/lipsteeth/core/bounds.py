"""Bounding a value to an interval inside compiled code (the scalar ``np.clip``)."""

from __future__ import annotations

from typing import Any

from .jit import compiled


@compiled(inline="always")
def clip(x: float, lo: float, hi: float) -> float:
    """``x`` bounded to [lo, hi]; NaN stays NaN only if both bounds let it (as min/max do)."""
    return min(max(x, lo), hi)


#: largest Poisson mean drawn: far above any daily count the model can mean (a million
#: tests or crossings a day), far below where the sampler's int64 result overflows
#: (a mean of ~9.2e18 wraps to a negative count; issue 17, item 4)
POISSON_MEAN_MAX = 1e12


@compiled(inline="always")
def poisson(g: Any, mean: float) -> int:
    """A Poisson count with ``mean`` saturated at ``POISSON_MEAN_MAX`` (0 if mean <= 0)."""
    if not mean > 0.0:
        return 0
    return g.poisson(min(mean, POISSON_MEAN_MAX))
