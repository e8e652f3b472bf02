"""Event log: defection groups, closures, openings, provocations, policy changes.

The kernel appends one tuple per event to a typed list (events are rare);
strings are coded as indices into the vocabularies below, whose enums
(``Kind``, ``Sector``, ``Route``, ``Outcome``) are generated from them, so a
new kind or outcome is one new word here.  ``event_columns`` decodes a
replicate's events into the columns the results store writes.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
from numba import types
from numba.typed import List

from .jit import compiled
from .state import COUNTRY_NAMES

EVENT_COLUMNS: tuple[str, ...] = (
    "replicate",
    "day",
    "kind",
    "site",
    "sector",
    "country",
    "size",
    "manager_led",
    "helpers",
    "route",
    "outcome",
    "arrival_day",
    "value",
)

# kinds
DEFECTION_GROUP = "defection_group"
CLOSURE = "closure"
OPENING = "opening"
NUCLEAR_TEST = "nuclear_test"
MISSILE_TEST = "missile_test"
UN_RESOLUTION = "un_resolution"
ADVISORY = "travel_advisory"
ENVOY = "envoy"
POLICY_CHANGE = "policy_change"
CONDITIONAL_POLICY = "conditional_policy"  # a scenario rule fired (core.conditional)

KINDS: tuple[str, ...] = (
    DEFECTION_GROUP,
    CLOSURE,
    OPENING,
    NUCLEAR_TEST,
    MISSILE_TEST,
    UN_RESOLUTION,
    ADVISORY,
    ENVOY,
    POLICY_CHANGE,
    CONDITIONAL_POLICY,
)
SECTORS: tuple[str, ...] = ("", "restaurant", "labour")
COUNTRIES: tuple[str, ...] = ("", *COUNTRY_NAMES)  # code = country index + 1
ROUTES: tuple[str, ...] = ("", "legal", "clandestine", "none")
OUTCOMES: tuple[str, ...] = (
    "",
    "forced",
    "endogenous",
    "foiled",
    "escaped",
    "stopped_at_exit",
    "caught_in_transit",
    "after_attempt",
    "arrears",
    "exit_laxity",
    "collapse_guard",
    "exodus_guard",
    "closure_order",
    "nominee",
    "talks",
    "talks_breakdown",
    "defiance",
    "milestone",
    "activated",
)


def _codes(name: str, words: tuple[str, ...]) -> Any:
    """An IntEnum of a vocabulary: member ``WORD`` has the word's index (Numba constants).

    Typed ``Any``: its members are made from the words, which a type checker cannot see.
    """
    return enum.IntEnum(name, {(word or "none").upper(): i for i, word in enumerate(words)})


Kind: Any = _codes("Kind", KINDS)
Sector: Any = _codes("Sector", SECTORS)
Route: Any = _codes("Route", ROUTES)
Outcome: Any = _codes("Outcome", OUTCOMES)

#: one event: (day kind site sector country size manager_led helpers route outcome
#: arrival_day) as integers, and a value
N_INT_FIELDS = 11
EVENT_TYPE = types.Tuple((types.UniTuple(types.int64, N_INT_FIELDS), types.float64))


@compiled
def new_event_log() -> List:
    """An empty event log (a typed list of ``EVENT_TYPE`` tuples)."""
    return List.empty_list(EVENT_TYPE)


@compiled
def log_event(
    log: List,
    day: int,
    kind: int,
    site: int = -1,
    sector: int = 0,
    country: int = 0,
    size: int = 0,
    manager_led: bool = False,
    helpers: bool = False,
    route: int = 0,
    outcome: int = 0,
    arrival_day: int = -1,
    value: float = np.nan,
) -> None:
    """Append one event; ``country`` is the country index + 1 (0: none)."""
    log.append(
        (
            (
                np.int64(day),
                np.int64(kind),
                np.int64(site),
                np.int64(sector),
                np.int64(country),
                np.int64(size),
                np.int64(1 if manager_led else 0),
                np.int64(1 if helpers else 0),
                np.int64(route),
                np.int64(outcome),
                np.int64(arrival_day),
            ),
            np.float64(value),
        )
    )


@compiled
def event_arrays(log: List) -> tuple[np.ndarray, np.ndarray]:
    """The log as (events, 11) integer fields and (events,) values."""
    n = len(log)
    ints = np.empty((n, N_INT_FIELDS), dtype=np.int64)
    values = np.empty(n)
    for i in range(n):
        event = log[i]
        for j in range(N_INT_FIELDS):
            ints[i, j] = event[0][j]
        values[i] = event[1]
    return ints, values


def event_columns(r: int, ints: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """Decode one replicate's coded events into ``EVENT_COLUMNS`` arrays."""

    def decode(words: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
        return np.asarray(words)[codes] if codes.size else np.asarray([], dtype="<U1")

    n = ints.shape[0]
    return {
        "replicate": np.full(n, r, dtype=np.int64),
        "day": ints[:, 0].copy(),
        "kind": decode(KINDS, ints[:, 1]),
        "site": ints[:, 2].copy(),
        "sector": decode(SECTORS, ints[:, 3]),
        "country": decode(COUNTRIES, ints[:, 4]),
        "size": ints[:, 5].copy(),
        "manager_led": ints[:, 6].astype(bool),
        "helpers": ints[:, 7].astype(bool),
        "route": decode(ROUTES, ints[:, 8]),
        "outcome": decode(OUTCOMES, ints[:, 9]),
        "arrival_day": ints[:, 10].copy(),
        "value": values.copy(),
    }
