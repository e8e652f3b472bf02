"""Bands as the service serves them: a run's (partial while it runs) and a comparison's.

A running run's bands are computed from the replicates already on disk, so the
dashboard's fan charts fill in as replicates finish; a finished run's come from
its ``bands.json``, computed by the same function (:func:`.bands.bands_of`)
on the same numbers.  Results are cached per (run, replicates on disk).
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

from ...core.outcomes import OUTCOMES
from .bands import SIMULATION_NOISE, bands_of, paired_difference, uncertainty_text
from .jobs import JobManager
from .labels import LEVERS
from .limits import JobError

_CACHE: OrderedDict[Hashable, Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 64


def _cached(key: Hashable, build: Any) -> Any:
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = build()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return value


def check_variables(variables: list[str] | None) -> list[str] | None:
    if not variables:
        return None
    unknown = sorted(set(variables) - set(OUTCOMES))
    if unknown:
        raise JobError(422, f"variable: unknown outcome(s) {', '.join(unknown[:5])}")
    return list(dict.fromkeys(variables))


def status_of(manager: JobManager, run_id: str) -> dict[str, Any]:
    status = manager.status(run_id)
    if status is None:
        raise JobError(404, f"no run {run_id}")
    return status


def _select(doc: dict[str, Any], resolution: str, names: list[str] | None) -> dict[str, Any]:
    keep = names or list(doc[resolution])
    periods = doc["months"] if resolution == "monthly" else [str(y) for y in doc["years"]]
    return {
        "periods": periods,
        "units": {n: doc["units"][n] for n in keep},
        "kinds": {n: doc["kinds"][n] for n in keep},
        "outcomes": {n: doc[resolution][n] for n in keep},
        "totals": doc["totals"],
    }


def run_bands(
    manager: JobManager,
    run_id: str,
    resolution: str = "monthly",
    variables: list[str] | None = None,
    *,
    partial: bool = True,
) -> dict[str, Any]:
    """A run's bands: final when it has succeeded, partial while replicates finish."""
    names = check_variables(variables)
    status = status_of(manager, run_id)
    state = status["status"]
    total = int(status["replicates"])
    if state == "succeeded":
        path = manager.bands_path(run_id)
        doc = _cached(("final", run_id), lambda: json.loads(path.read_text()))
        on_disk = manager.replicate_indices(run_id) or list(range(total))
        return {
            "id": run_id,
            "status": state,
            "complete": True,
            "resolution": resolution,
            "replicates": int(doc["replicates"]),
            "replicate_indices": on_disk,
            "total": total,
            "uncertainty": doc.get("uncertainty", SIMULATION_NOISE),
            **_select(doc, resolution, names),
        }
    if state not in ("running", "queued") or not partial:
        why = f": {status['error']}" if status.get("error") else ""
        raise JobError(409, f"run {run_id} is {state}{why}; no results")
    indices = manager.replicate_indices(run_id)
    if not indices:
        raise JobError(409, f"run {run_id} is {state}; no replicate has finished yet")
    # only the outcomes asked for: a dashboard polls while the run's children need the cores
    key = ("partial", run_id, tuple(indices), tuple(names or ()))

    def build() -> dict[str, Any]:
        found = manager.replicate_outcomes(run_id, names)
        if found is None:
            raise JobError(409, f"run {run_id} is {state}; no replicate has finished yet")
        kept, monthly, months, kept_names = found
        held = _uncertainty_of(manager.scenario_toml(run_id))
        return {"indices": kept, "doc": bands_of(monthly, months, kept_names, held)}

    built = _cached(key, build)
    doc = built["doc"]
    return {
        "id": run_id,
        "status": state,
        "complete": False,
        "resolution": resolution,
        "replicates": int(doc["replicates"]),
        "replicate_indices": built["indices"],
        "total": total,
        "uncertainty": doc["uncertainty"],
        **_select(doc, resolution, names),
    }


@functools.lru_cache(maxsize=64)
def _uncertainty_of(scenario_toml: str) -> str:
    """What a run's bands hold (its children draw as ``worker`` does: the shipped posterior)."""
    from ...experiment.posterior import with_uncertainty
    from ...scenario import load_scenario_text

    return uncertainty_text(with_uncertainty(load_scenario_text(scenario_toml, source="run")))


@functools.lru_cache(maxsize=64)
def _set_levers_of(scenario_toml: str) -> dict[str, list[float]]:
    from ...scenario import load_scenario_text
    from .run_requests import set_lever_paths

    scenario = load_scenario_text(scenario_toml, source="run")
    names = [view.name for view in LEVERS if view.effective_outcome]
    return set_lever_paths(scenario, names)


def set_levers(manager: JobManager, run_id: str, resolution: str) -> dict[str, list[float]]:
    """Monthly (or yearly mean) set value of each lever that has an effective outcome."""
    monthly = _set_levers_of(manager.scenario_toml(run_id))
    if resolution == "monthly":
        return monthly
    meta_months = manager.months(run_id)
    if meta_months is None:
        return {}
    years = meta_months.astype("datetime64[Y]").astype(int)
    out = {}
    for name, values in monthly.items():
        v = np.asarray(values)
        out[name] = [float(v[years == y].mean()) for y in np.unique(years)]
    return out


def comparison_bands(
    manager: JobManager,
    comparison_id: str,
    resolution: str = "monthly",
    variables: list[str] | None = None,
) -> dict[str, Any]:
    """Both sides' bands and the paired B - A band over their common finished replicates."""
    names = check_variables(variables)
    comparison = manager.comparison(comparison_id)
    if comparison is None:
        raise JobError(404, f"no comparison {comparison_id}")
    sides: dict[str, Any] = {}
    for side in ("a", "b"):
        run_id = comparison[f"{side}_id"]
        try:
            sides[side] = run_bands(manager, run_id, resolution, names)
        except JobError as exc:
            if (
                exc.status == 409
                and comparison[side]
                and comparison[side]["status"]
                in (
                    "queued",
                    "running",
                )
            ):
                sides[side] = None  # nothing finished yet on this side
            elif exc.status == 404:
                raise JobError(409, f"run {run_id} of this comparison was deleted") from None
            else:
                raise
    difference = None
    a, b = sides["a"], sides["b"]
    if a is not None and b is not None:
        difference = _difference(manager, comparison, a, b, resolution, names)
    periods = (a or b or {}).get("periods", [])
    return {
        "id": comparison_id,
        "status": comparison["status"],
        "complete": bool(a and b and a["complete"] and b["complete"]),
        "resolution": resolution,
        "periods": periods,
        "a": a,
        "b": b,
        "difference": difference,
        "runs": {
            side.upper(): {
                "id": comparison[f"{side}_id"],
                "status": comparison[side]["status"] if comparison[side] else "deleted",
                "progress": comparison[side]["progress"] if comparison[side] else None,
            }
            for side in ("a", "b")
        },
        "set_levers": {
            side.upper(): set_levers(manager, comparison[f"{side}_id"], resolution)
            for side in ("a", "b")
        },
    }


def _difference(
    manager: JobManager,
    comparison: dict[str, Any],
    a: dict[str, Any],
    b: dict[str, Any],
    resolution: str,
    names: list[str] | None,
) -> dict[str, Any] | None:
    a_id, b_id = comparison["a_id"], comparison["b_id"]
    key = (
        "diff",
        a_id,
        tuple(a["replicate_indices"]),
        b_id,
        tuple(b["replicate_indices"]),
        tuple(names or ()),
    )

    def build() -> dict[str, Any] | None:
        found_a = manager.replicate_outcomes(a_id, names)
        found_b = manager.replicate_outcomes(b_id, names)
        if found_a is None or found_b is None:
            return None
        a_idx, a_monthly, months, all_names = found_a
        b_idx, b_monthly, b_months, b_names = found_b
        if list(b_names) != list(all_names) or b_months.shape != months.shape:
            raise JobError(409, "the two runs of this comparison have different outcomes")
        return paired_difference(a_monthly, a_idx, b_monthly, b_idx, months, all_names)

    doc = _cached(key, build)
    if doc is None:
        return None
    keep = names or list(doc["monthly"])
    return {
        "pairs": doc["pairs"],
        "replicates": doc["replicates"],
        "min_pairs_for_a_call": doc["min_pairs_for_a_call"],
        "method": doc["method"],
        "outcomes": {n: doc[resolution][n] for n in keep} if doc["pairs"] else {},
        "totals": doc["totals"],
    }
