"""Bounding values to an interval, cheaply.

``np.clip`` goes through a Python dispatch layer that costs several
microseconds per call; the model clips a dozen small (R,) and (R, S) arrays
every simulated day, so that overhead alone was about 8 % of a day at 2,600
workers (BENCHMARKS.md profile).  ``clip`` gives the same values (NaN
propagates; a lower bound above the upper one yields the upper bound, as in
``np.clip``) with two ufunc calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def clip(x: Any, low: Any, high: Any) -> Any:
    """``np.clip(x, low, high)``: the same values, without its dispatch overhead."""
    return np.minimum(np.maximum(x, low), high)
