"""Event log: defection groups, closures, openings, provocations, policy changes.

Events are rare, so they are appended to Python lists during a run and turned
into NumPy arrays once at the end (one array per column).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


@dataclass
class EventLog:
    rows: list[tuple] = field(default_factory=list)

    def add(
        self,
        replicate: int,
        day: int,
        kind: str,
        *,
        site: int = -1,
        sector: str = "",
        country: str = "",
        size: int = 0,
        manager_led: bool = False,
        helpers: bool = False,
        route: str = "",
        outcome: str = "",
        arrival_day: int = -1,
        value: float = float("nan"),
    ) -> None:
        self.rows.append(
            (
                replicate,
                day,
                kind,
                site,
                sector,
                country,
                size,
                manager_led,
                helpers,
                route,
                outcome,
                arrival_day,
                value,
            )
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        rows = sorted(self.rows, key=lambda row: (row[0], row[1]))
        dtypes = {
            "replicate": np.int64,
            "day": np.int64,
            "site": np.int64,
            "size": np.int64,
            "manager_led": bool,
            "helpers": bool,
            "arrival_day": np.int64,
            "value": np.float64,
        }
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(EVENT_COLUMNS)
        out: dict[str, np.ndarray] = {}
        for name, values in zip(EVENT_COLUMNS, columns, strict=True):
            out[name] = np.asarray(values, dtype=dtypes.get(name, np.str_))
            if name not in dtypes and out[name].size == 0:
                out[name] = np.asarray([], dtype="<U1")
        return out
