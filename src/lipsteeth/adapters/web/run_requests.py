"""From a client's run request to a validated scenario (TOML text, seed, replicates).

Clients never pass paths or pickles: a request names an embedded scenario,
carries a scenario document (JSON) or a scenario file's text (TOML, pasted or
uploaded in the dashboard), plus lever and parameter overrides, dated lever
changes, a horizon, a seed and a replicate count.  Scenario text is loaded as
the CLI loads a file (``lipsteeth.scenario.load_scenario_text``) except that
it may not name files: ``extends`` names embedded scenarios only and
``events_file`` is refused.  Every refusal is a :class:`JobError` (422) with
one line naming the key path.

A dated lever change becomes a lever event of the scenario (``kind = "lever"``
from ``start`` through ``end``), appended after the scenario's own events.  The
scenario layer applies events in date order, a later event overriding an
earlier one on the days they share: a scenario event dated after the change's
start still holds on its own days.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .limits import JobError, Limits

UPLOAD_SOURCE = "uploaded scenario"
CHANGE_SOURCE = "dashboard"


@functools.lru_cache(maxsize=32)
def embedded(name: str) -> Any:
    """An embedded scenario by name (cached: scenarios are frozen)."""
    from ...scenario import load_scenario

    return load_scenario(name)


def embedded_names() -> list[str]:
    """Names of the embedded scenarios (the only names a client may use)."""
    from ...scenario._load import embedded_names as names

    return names()


def scenario_from_document(document: Mapping[str, Any], source: str = "request") -> Any:
    """A Scenario from a JSON scenario document; ``extends`` may name embedded scenarios only."""
    from ...scenario import ScenarioError, load_scenario_text
    from ...scenario._toml import dumps

    try:
        text = dumps(dict(document))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ScenarioError(source, "scenario", f"not a scenario document: {exc}") from None
    return load_scenario_text(text, source=source, base_dir=None)


def scenario_from_text(text: str) -> Any:
    """A Scenario from TOML text sent by a client (no file may be named)."""
    from ...scenario import load_scenario_text

    return load_scenario_text(text, source=UPLOAD_SOURCE, base_dir=None)


def agents_of(scenario: Any) -> int:
    """Agent slots a run allocates: restaurant posts plus labour posts."""
    pop = scenario.params.population
    return int(
        pop.restaurant_sites_max * pop.staff_per_restaurant
        + pop.labour_sites_max * pop.labour_site_capacity
    )


@dataclass(frozen=True)
class ResolvedRun:
    """A validated run: the resolved scenario as TOML text plus seed and replicates."""

    scenario_name: str
    scenario_toml: str
    seed: int
    replicates: int
    agents: int
    days: int
    start: str
    end: str

    @property
    def agent_days(self) -> float:
        return float(self.agents) * float(self.days) * float(self.replicates)

    @property
    def content_sha256(self) -> str:
        """Identity of the numbers this run gives (runs are deterministic in these)."""
        key = f"{self.seed}\n{self.replicates}\n{self.scenario_toml}"
        return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class _Resolved:
    name: str
    toml: str
    seed: int
    replicates: int
    agents: int
    days: int
    start: str
    end: str


_RESOLVED: dict[str, _Resolved] = {}
_RESOLVED_LOCK = threading.Lock()
_RESOLVED_MAX = 256
_KEY_FIELDS = ("scenario", "scenario_toml", "params", "levers", "changes", "years")


def _resolve_scenario(request: Mapping[str, Any], limits: Limits) -> _Resolved:
    """The scenario a request describes, cached by (scenario, overrides, changes, horizon).

    Scenarios are immutable, so many submissions of one setting (a dashboard, a
    load test, seeds of one ensemble) validate and serialise it once.
    """
    key_doc = {k: request.get(k) for k in _KEY_FIELDS}
    key = hashlib.sha256(
        json.dumps(key_doc, sort_keys=True, allow_nan=False, default=str).encode()
    ).hexdigest()
    with _RESOLVED_LOCK:
        hit = _RESOLVED.get(key)
    if hit is not None:
        return hit
    scenario = build_scenario(request, limits)
    resolved = _Resolved(
        name=scenario.name,
        toml=scenario.to_toml(),
        seed=int(scenario.seed),
        replicates=int(scenario.replicates),
        agents=agents_of(scenario),
        days=int(scenario.calendar.n_days),
        start=str(scenario.start),
        end=str(scenario.end),
    )
    with _RESOLVED_LOCK:
        if len(_RESOLVED) >= _RESOLVED_MAX:
            _RESOLVED.pop(next(iter(_RESOLVED)))
        _RESOLVED[key] = resolved
    return resolved


def resolve_request(request: Mapping[str, Any], limits: Limits) -> ResolvedRun:
    """Validate a run request (already schema-checked) and resolve its scenario.

    Raises :class:`JobError` (422) with a one-line reason for an unknown
    scenario, a bad override or change, or a run larger than the limits.
    """
    years = request.get("years")
    if years is not None and float(years) > limits.max_years:
        raise JobError(
            422, f"years: {years:g} is more than this service allows ({limits.max_years:g})"
        )
    resolved = _resolve_scenario(request, limits)
    replicates = int(request.get("replicates") or resolved.replicates)
    if replicates > limits.max_replicates:
        raise JobError(
            422,
            f"replicates: {replicates} is more than this service allows ({limits.max_replicates})",
        )
    seed = request.get("seed")
    run = ResolvedRun(
        scenario_name=resolved.name,
        scenario_toml=resolved.toml,
        seed=int(resolved.seed if seed is None else seed),
        replicates=replicates,
        agents=resolved.agents,
        days=resolved.days,
        start=resolved.start,
        end=resolved.end,
    )
    if run.agent_days > limits.max_agent_days:
        most = limits.replicates_allowed(run.agents, run.days)
        raise JobError(
            422,
            f"replicates: run too large: {run.agents:,} agents x {run.days:,} days x "
            f"{replicates} replicates = {run.agent_days:.3g} agent-days, more than this "
            f"service allows ({limits.max_agent_days:.3g} agent-days: at most {most} "
            "replicates of this scenario and horizon); use fewer replicates, fewer years "
            "or a smaller population",
        )
    return run


def base_scenario(request: Mapping[str, Any]) -> Any:
    """The scenario a request starts from: an embedded name, a document or TOML text."""
    text = request.get("scenario_toml")
    source = request.get("scenario", "baseline-2016")
    if text is not None:
        if "scenario" in request and source != "baseline-2016":
            raise JobError(422, "scenario_toml: give either scenario or scenario_toml, not both")
        return scenario_from_text(str(text))
    if isinstance(source, str):
        names = embedded_names()
        if source not in names:
            raise JobError(
                422,
                f"scenario: unknown scenario {source!r} (embedded: {', '.join(names)}); "
                "or send a scenario document as a JSON object, or its TOML as scenario_toml",
            )
        return embedded(source)
    if isinstance(source, Mapping):
        return scenario_from_document(source)
    raise JobError(422, "scenario: expected an embedded scenario name or a JSON object")


def build_scenario(request: Mapping[str, Any], limits: Limits | None = None) -> Any:
    """The validated Scenario of a request (base scenario, overrides, dated changes)."""
    from ...scenario import ScenarioError

    limits = limits or Limits()
    try:
        scenario = base_scenario(request)
        years = request.get("years")
        params = dict(request.get("params") or {})
        levers = dict(request.get("levers") or {})
        if params or levers or years is not None:
            scenario = scenario.with_overrides(params=params, levers=levers, years=years)
        changes = list(request.get("changes") or [])
        if changes:
            scenario = with_changes(scenario, changes, limits)
    except ScenarioError as exc:
        raise JobError(422, str(exc)) from None
    return scenario


def _day(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        got = str(value)[:40]
        raise JobError(422, f"{path}: expected a date YYYY-MM-DD (got {got!r})") from None


def with_changes(scenario: Any, changes: list[Mapping[str, Any]], limits: Limits) -> Any:
    """``scenario`` with each dated lever change appended as a lever event."""
    from ...core.params import Levers, field_specs

    if len(changes) > limits.max_changes:
        raise JobError(422, f"changes: {len(changes)} changes, more than {limits.max_changes}")
    specs = field_specs(Levers)
    first = dt.date.fromisoformat(str(scenario.start))
    last = dt.date.fromisoformat(str(scenario.end))
    document = scenario.to_dict()
    events = list(document["events"])
    for k, change in enumerate(changes):
        path = f"changes[{k}]"
        lever = str(change.get("lever", "")).removeprefix("lever.")
        if lever not in specs:
            raise JobError(422, f"{path}.lever: unknown lever {lever[:60]!r}")
        value = float(change["value"])
        lo, hi = float(specs[lever]["lo"]), float(specs[lever]["hi"])
        if not lo <= value <= hi:
            raise JobError(
                422, f"{path}.value: {value:g} outside the bounds [{lo:g}, {hi:g}] of {lever}"
            )
        start = _day(change.get("start"), f"{path}.start")
        if not first <= start <= last:
            raise JobError(
                422,
                f"{path}.start: {start} is outside the scenario's horizon {first} to {last}",
            )
        event: dict[str, Any] = {
            "date": start.isoformat(),
            "kind": "lever",
            "lever": lever,
            "value": value,
            "source": f"{CHANGE_SOURCE}: {lever} set to {value:g} from {start}",
        }
        if change.get("end") is not None:
            end = _day(change["end"], f"{path}.end")
            if end < start:
                raise JobError(422, f"{path}.end: {end} is before the start {start}")
            event["until"] = end.isoformat()
            event["source"] += f" through {end}"
        events.append(event)
    document["events"] = events
    return scenario_from_document(document, source=scenario.source)


# ---------------------------------------------------------------------------
# what the dashboard shows of a scenario


def lever_infos(scenario: Any) -> list[dict[str, Any]]:
    """Every lever of a scenario: value, declared range, core bounds, label, effective outcome."""
    from ...core.params import Levers, field_specs
    from .labels import LEVER_VIEWS, LEVERS

    specs = field_specs(Levers)
    order = {view.name: k for k, view in enumerate(LEVERS)}
    out = []
    for key, info in scenario.provenance.items():
        if info.kind != "lever":
            continue
        name = key.removeprefix("lever.")
        spec = specs.get(name, {})
        view = LEVER_VIEWS.get(name)
        out.append(
            {
                "name": name,
                "label": view.label if view else name.replace("_", " ").capitalize(),
                "hint": view.hint if view else info.doc,
                "main": bool(view and view.main),
                "effective_outcome": view.effective_outcome if view else None,
                "value": float(info.value),
                "unit": info.unit,
                "doc": info.doc,
                "mechanism": info.mechanism,
                "minimum": _finite(spec.get("lo")),
                "maximum": _finite(spec.get("hi")),
                "range": [float(v) for v in info.range] if info.range else None,
                "provenance": info.provenance,
            }
        )
    out.sort(key=lambda lever: (order.get(lever["name"], len(order)), lever["name"]))
    return out


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


def event_infos(scenario: Any) -> list[dict[str, Any]]:
    """The scenario's dated events (inputs), in date order, as plain JSON."""
    out = []
    for index, event in enumerate(scenario.events):
        item = {k: (v if isinstance(v, int | float | str) else str(v)) for k, v in event.items()}
        item["index"] = index
        out.append(item)
    out.sort(key=lambda e: (str(e["date"]), e["index"]))
    return out


def scenario_detail(scenario: Any, limits: Limits, name: str | None = None) -> dict[str, Any]:
    """What ``GET /api/scenarios/{name}`` and ``POST /api/scenarios/validate`` return."""
    agents = agents_of(scenario)
    days = int(scenario.calendar.n_days)
    return {
        "name": name or scenario.name,
        "title": scenario.title,
        "description": scenario.description,
        "start": str(scenario.start),
        "end": str(scenario.end),
        "endogenous_from": str(scenario.endogenous_from),
        "days": days,
        "seed": int(scenario.seed),
        "replicates": int(scenario.replicates),
        "agents": agents,
        "max_replicates": limits.replicates_allowed(agents, days),
        "levers": lever_infos(scenario),
        "events": event_infos(scenario),
        "document": json.loads(json.dumps(scenario.to_dict(), default=str)),
    }


def set_lever_paths(scenario: Any, names: list[str]) -> dict[str, list[float]]:
    """Monthly mean of each lever's set value (its value, moved by the dated events).

    The set value is the analyst's input before Beijing's discretion (M9); the
    value in force is the matching outcome (``labels.LEVERS``).
    """
    month_index = np.asarray(scenario.calendar.month_index)
    counts = np.bincount(month_index).astype(float)
    out: dict[str, list[float]] = {}
    for name in names:
        daily = np.full(scenario.calendar.n_days, float(getattr(scenario.levers, name)))
        path = scenario.timeline.lever_paths.get(name)
        if path is not None:
            set_days = ~np.isnan(path)
            daily[set_days] = path[set_days]
        out[name] = [float(v) for v in np.bincount(month_index, weights=daily) / counts]
    return out
