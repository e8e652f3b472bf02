"""Bounding a value to an interval inside compiled code (the scalar ``np.clip``)."""

from __future__ import annotations

from .jit import compiled


@compiled(inline="always")
def clip(x: float, lo: float, hi: float) -> float:
    """``x`` bounded to [lo, hi]; NaN stays NaN only if both bounds let it (as min/max do)."""
    return min(max(x, lo), hi)
