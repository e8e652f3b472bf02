"""Named records: the compiled kernel's parameters, levers, state and outcomes by name.

The kernel reads ``p.restaurants.gross_sales_per_day``, ``lever.china_exit_strictness``,
``net.displeasure`` or writes ``out.arrivals_south_korea`` instead of indexing
positional arrays with hand-kept constants.  Every record type here is generated
from the definition it stands for, so adding a parameter, a lever, a state
variable or an outcome is one edit in that definition:

* ``PARAM_DTYPE``: one nested record per parameter group of ``params.PARAM_GROUPS``;
* ``LEVER_DTYPE``: the fields of ``params.Levers`` (the levers in force on a day);
* state and scratch records from dataclasses whose fields say their dtype
  (``slot``): see ``state.NetworkState``, ``state.SiteState``, ``state.SiteDay``
  and ``m09_strategic.Policy``;
* ``outcomes.OUTCOME_DTYPE``: one float field per outcome.

NumPy record arrays are typed by Numba's fast path for arrays (a nested
namedtuple of the same values took about 0.1 ms to type on every call).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

import numpy as np

from .params import LEVER_NAMES, PARAM_GROUPS, Levers, Params


def slot(dtype: type | str, doc: str) -> Any:
    """A dataclass field describing one record field: its NumPy dtype and meaning."""
    return field(metadata={"dtype": np.dtype(dtype), "doc": doc})


def record_dtype(cls: type) -> np.dtype:
    """The record dtype of a dataclass whose fields are ``slot``s (declaration order)."""
    return np.dtype([(f.name, f.metadata["dtype"]) for f in dataclasses.fields(cls)])


PARAM_DTYPE = np.dtype(
    [
        (group, [(f.name, np.float64) for f in dataclasses.fields(cls)])
        for group, cls in PARAM_GROUPS.items()
    ]
)
LEVER_DTYPE = np.dtype([(name, np.float64) for name in LEVER_NAMES])


def param_record(params: Params) -> np.ndarray:
    """``params`` as a (1,) record array of ``PARAM_DTYPE``, the form the kernel takes."""
    values = tuple(
        tuple(float(getattr(getattr(params, group), f.name)) for f in dataclasses.fields(cls))
        for group, cls in PARAM_GROUPS.items()
    )
    return np.array([values], dtype=PARAM_DTYPE)


def lever_records(matrix: np.ndarray) -> np.ndarray:
    """(days, levers) lever values (``LEVER_NAMES`` order) as a (days,) ``LEVER_DTYPE`` array."""
    return np.ascontiguousarray(matrix, dtype=np.float64).view(LEVER_DTYPE)[:, 0].copy()


def lever_record(levers: Levers) -> np.ndarray:
    """One day's levers as a (1,) ``LEVER_DTYPE`` array."""
    return np.array([tuple(float(getattr(levers, n)) for n in LEVER_NAMES)], dtype=LEVER_DTYPE)
