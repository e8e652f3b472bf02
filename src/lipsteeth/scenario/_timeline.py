"""Compile a scenario's dated events into the core ``Timeline`` arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.timeline import UN_PROVISIONS, Calendar, Rule, RuleAction, Timeline


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def outside_horizon(
    event: Mapping[str, Any], start: np.datetime64, end: np.datetime64
) -> str | None:
    """Why ``event`` has no day inside ``start``-``end`` (inclusive), or None if it has one.

    A lever event counts from ``date`` through ``until`` (or the end), so one that began
    before the start and is still in force at it is inside; a test or resolution is a day.
    """
    first = np.datetime64(event["date"], "D")
    last = np.datetime64(event["until"], "D") if event.get("until") else None
    if first > end:
        return f"dated {first}, after the horizon's end {end}"
    if event.get("kind") == "lever":
        if last is not None and last < start:
            return f"in force {first} to {last}, before the horizon's start {start}"
        return None
    if first < start:
        return f"dated {first}, before the horizon's start {start}"
    return None


def compile_rules(rules: Sequence[Mapping[str, Any]], calendar: Calendar) -> tuple[Rule, ...]:
    """The core ``Rule`` of each validated ``[[rules]]`` entry, dates as day indices."""
    compiled = []
    for rule in rules:
        actions = tuple(
            RuleAction(
                lever=a["lever"], value=float(a["add"] if "add" in a else a["set"]), add="add" in a
            )
            for a in rule["actions"]
        )
        above = "above" in rule
        window: dict[str, int] = {}
        if "from" in rule:
            window["first_day"] = max(calendar.day_of(rule["from"]), 0)
        if "until" in rule:
            window["last_day"] = calendar.day_of(rule["until"])
        compiled.append(
            Rule(
                name=rule["name"],
                when=rule["when"],
                threshold=float(rule["above"] if above else rule["below"]),
                above=above,
                mode=rule["mode"],
                actions=actions,
                days=int(rule.get("days", 1)),
                window_days=int(rule["window_days"]),
                cooldown_days=int(rule["cooldown_days"]),
                max_activations=int(rule["max_activations"]),
                **window,
            )
        )
    return tuple(compiled)


def compile_timeline(
    events: Sequence[Mapping[str, Any]],
    calendar: Calendar,
    endogenous_from: np.datetime64,
    rules: Sequence[Mapping[str, Any]] = (),
) -> Timeline:
    """The per-day inputs of ``events`` on ``calendar``.

    * A lever event sets the lever's path (NaN elsewhere) from its date through
      ``until`` (inclusive) or to the end; the part of its span inside the
      horizon applies.  Events are applied in date order (file order breaks
      ties), so a later event overrides an earlier one on the days they share.
      Only levers with an event inside the horizon get a path.
    * Nuclear and missile test counts add up on their day.
    * A resolution sets its day's row of provision floors in ``UN_PROVISIONS``
      order (zeros for a resolution without provisions); two resolutions on one
      day keep the larger floor of each provision.  Other days are NaN.
    * Rules (conditional policies) become ``core.timeline.Rule``s, their dates day indices.
    * Events outside the horizon are ignored.  ``endogenous_from`` becomes a
      day index clipped to ``[0, n_days]``.
    """
    n_days = calendar.n_days
    last = n_days - 1

    def day(date: str) -> int:
        return calendar.day_of(date)

    paths: dict[str, np.ndarray] = {}
    nuclear = np.zeros(n_days, dtype=np.int64)
    missile = np.zeros(n_days, dtype=np.int64)
    resolution = np.full((n_days, len(UN_PROVISIONS)), np.nan)
    order = sorted(range(len(events)), key=lambda i: (events[i]["date"], i))
    for index in order:
        event = events[index]
        first = day(event["date"])
        kind = event["kind"]
        if kind == "lever":
            stop = day(event["until"]) if "until" in event else last
            lo, hi = max(first, 0), min(stop, last)
            if lo > hi:
                continue
            path = paths.setdefault(event["lever"], np.full(n_days, np.nan))
            path[lo : hi + 1] = float(event["value"])
        elif not 0 <= first <= last:
            continue
        elif kind == "nuclear_test":
            nuclear[first] += int(event["count"])
        elif kind == "missile_test":
            missile[first] += int(event["count"])
        elif kind == "un_resolution":
            row = np.array([float(event.get(name, 0.0)) for name in UN_PROVISIONS])
            resolution[first] = np.fmax(resolution[first], row)
    first_day = np.datetime64(calendar.start).astype("datetime64[D]")
    endogenous = int((endogenous_from.astype("datetime64[D]") - first_day).astype(np.int64))
    return Timeline(
        n_days=n_days,
        lever_paths={name: _read_only(paths[name]) for name in sorted(paths)},
        forced_nuclear=_read_only(nuclear),
        forced_missile=_read_only(missile),
        forced_resolution=_read_only(resolution),
        endogenous_from=min(max(endogenous, 0), n_days),
        rules=compile_rules(rules, calendar),
    )
