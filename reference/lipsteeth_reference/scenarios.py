"""Scenario helpers shared by the agreement tests and the benchmarks.

``load`` reads a scenario through the package's scenario layer
(``lipsteeth.scenario.load_scenario``) and falls back to a minimal reader of
the embedded TOML while that layer is not available.  ``shrink``, ``window``,
``set_params``, ``set_levers`` and ``set_lever_path`` derive the reduced settings
the tests and benchmarks run (population scaled by replacing ``Population``
values, a calendar window, baseline levers, a dated lever event).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from lipsteeth.core.params import PARAM_GROUPS, Levers, Params
from lipsteeth.core.timeline import UN_PROVISIONS, Calendar, Timeline


@dataclass(frozen=True)
class Setting:
    """Everything a run needs: parameters, levers, calendar and timeline."""

    params: Params
    levers: Levers
    calendar: Calendar
    timeline: Timeline

    @property
    def n_workers(self) -> int:
        """Posts filled on the first day (restaurants open x staff + labourers)."""
        pop = self.params.population
        labour = min(pop.labour_workers_initial, pop.labour_sites_max * pop.labour_site_capacity)
        return pop.restaurants_initial * pop.staff_per_restaurant + labour


def load(name: str = "baseline-2016") -> Setting:
    """The named embedded scenario as a Setting (scenario layer, or the fallback reader)."""
    try:
        from lipsteeth.scenario import load_scenario
    except ImportError:
        return _load_toml(name)
    sc = load_scenario(name)
    return Setting(sc.params, sc.levers, sc.calendar, sc.timeline)


def _load_toml(name: str) -> Setting:
    """Minimal reader of an embedded scenario file (values, levers, dated events)."""
    text = resources.files("lipsteeth").joinpath("scenarios", f"{name}.toml").read_text()
    doc = tomllib.loads(text)
    meta = doc["scenario"]
    groups = {
        group: cls(**{k: v["value"] for k, v in doc["parameters"][group].items()})
        for group, cls in PARAM_GROUPS.items()
    }
    params = Params(**groups)
    levers = Levers(**{k: v["value"] for k, v in doc["levers"].items()})
    start = np.datetime64(meta["start"], "D")
    n_days = int((np.datetime64(meta["end"], "D") - start) // np.timedelta64(1, "D")) + 1
    calendar = Calendar(start, n_days)
    paths: dict[str, np.ndarray] = {}
    nuclear = np.zeros(n_days, dtype=np.int64)
    missile = np.zeros(n_days, dtype=np.int64)
    resolution = np.full((n_days, len(UN_PROVISIONS)), np.nan)
    for event in doc.get("events", []):
        day = calendar.day_of(event["date"])
        if not 0 <= day < n_days:
            continue
        kind = event["kind"]
        if kind == "lever":
            path = paths.setdefault(event["lever"], np.full(n_days, np.nan))
            until = calendar.day_of(event["until"]) + 1 if "until" in event else n_days
            path[day:until] = event["value"]
        elif kind == "nuclear_test":
            nuclear[day] += 1
        elif kind == "missile_test":
            missile[day] += 1
        elif kind == "un_resolution":
            resolution[day] = [event.get(k, 0.0) for k in UN_PROVISIONS]
    timeline = Timeline(
        n_days=n_days,
        lever_paths=paths,
        forced_nuclear=nuclear,
        forced_missile=missile,
        forced_resolution=resolution,
        endogenous_from=calendar.day_of(meta["endogenous_from"]),
    )
    return Setting(params, levers, calendar, timeline)


def set_params(setting: Setting, **groups: dict[str, Any]) -> Setting:
    """Replace parameter values by group: ``set_params(s, defection={"contagion": 0.5})``."""
    params = setting.params
    changes = {g: dataclasses.replace(getattr(params, g), **v) for g, v in groups.items()}
    return dataclasses.replace(setting, params=dataclasses.replace(params, **changes))


def set_levers(setting: Setting, **levers: float) -> Setting:
    """Replace baseline lever values."""
    return dataclasses.replace(setting, levers=dataclasses.replace(setting.levers, **levers))


def shrink(
    setting: Setting,
    restaurants: int,
    staff: int,
    labour_sites: int,
    capacity: int,
    open_share: float = 0.5,
    labour_fill: float = 0.8,
) -> Setting:
    """Scale the population: site pools, posts per site, open restaurants and labourers.

    ``open_share`` of the restaurant pool is open on the first day (the default
    scenario opens 100 of 200) and ``labour_fill`` of the labour posts are
    filled (40,000 of 60,000 posts), so openings and labour growth still work.
    """
    return set_params(
        setting,
        population={
            "restaurant_sites_max": restaurants,
            "restaurants_initial": int(round(open_share * restaurants)),
            "staff_per_restaurant": staff,
            "labour_sites_max": labour_sites,
            "labour_site_capacity": capacity,
            "labour_workers_initial": int(round(labour_fill * labour_sites * capacity)),
        },
    )


def scale_to_workers(setting: Setting, workers: int) -> Setting:
    """Scale the site pools (posts per site and sector mix kept) to about ``workers`` on day 0."""
    pop = setting.params.population
    factor = workers / setting.n_workers
    restaurants = max(1, int(round(pop.restaurant_sites_max * factor)))
    labour_sites = max(1, int(round(pop.labour_sites_max * factor)))
    open_share = pop.restaurants_initial / pop.restaurant_sites_max
    capacity_total = pop.labour_sites_max * pop.labour_site_capacity
    fill = pop.labour_workers_initial / capacity_total
    return shrink(
        setting,
        restaurants,
        pop.staff_per_restaurant,
        labour_sites,
        pop.labour_site_capacity,
        open_share=open_share,
        labour_fill=fill,
    )


def window(setting: Setting, start: str, n_days: int) -> Setting:
    """The days [start, start + n_days) of a setting: calendar, lever paths and forced events."""
    first = setting.calendar.day_of(start)
    stop = first + n_days
    if first < 0 or stop > setting.calendar.n_days:
        raise ValueError("window outside the scenario calendar")
    tl = setting.timeline
    calendar = Calendar(np.datetime64(start, "D"), n_days)
    timeline = Timeline(
        n_days=n_days,
        lever_paths={k: v[first:stop].copy() for k, v in tl.lever_paths.items()},
        forced_nuclear=tl.nuclear()[first:stop].copy(),
        forced_missile=tl.missile()[first:stop].copy(),
        forced_resolution=tl.resolution()[first:stop].copy(),
        endogenous_from=max(tl.endogenous_from - first, 0),
        rules=tuple(rule.shifted(first) for rule in tl.rules),
    )
    return dataclasses.replace(setting, calendar=calendar, timeline=timeline)


def set_lever_path(
    setting: Setting, lever: str, value: float, start: str, until: str | None = None
) -> Setting:
    """A dated lever event: ``lever`` at ``value`` from ``start`` to ``until`` (inclusive).

    The same meaning as a scenario's ``kind = "lever"`` event (without ``until``
    the value holds to the end); days outside the calendar are ignored.
    """
    cal, tl = setting.calendar, setting.timeline
    first = max(cal.day_of(start), 0)
    stop = cal.n_days if until is None else min(cal.day_of(until) + 1, cal.n_days)
    paths = {k: v.copy() for k, v in tl.lever_paths.items()}
    path = paths.setdefault(lever, np.full(cal.n_days, np.nan))
    if first < stop:
        path[first:stop] = value
    return dataclasses.replace(setting, timeline=dataclasses.replace(tl, lever_paths=paths))
