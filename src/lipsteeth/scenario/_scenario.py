"""The resolved, frozen ``Scenario`` and the whole-scenario rules.

A scenario document here is the dict form of a scenario file after
``_models.validate_file`` (and, for a file with ``extends``, after merging into
its parent).  ``build_scenario`` applies the rules that need the whole
scenario (horizon, ranges, sizes, shares), constructs the core ``Params``,
``Levers``, ``Calendar`` and ``Timeline`` and records every value's provenance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, NoReturn, Protocol, TypeVar

import numpy as np

from ..core.params import PARAM_GROUPS, Levers, Params, field_specs
from ..core.timeline import Calendar, Timeline
from . import _toml
from ._errors import ScenarioError, one_line, show
from ._models import LEVER_SPECS, hint, validate_file
from ._timeline import compile_timeline, outside_horizon

MAX_HORIZON_YEARS = 200
MAX_DAYS = int(MAX_HORIZON_YEARS * 365.25)
MAX_POSTS = 5_000_000
#: crossings into China a year at full hardship (M10) a scenario may imply: North Korea's
#: whole population, about 25 million (UN World Population Prospects, 2016).  Above it
#: the wider flow empties the country within a year and the kernel schedules up to 1e12
#: crossers a day (issue 17, item 4: the kernel fuzz's hang)
MAX_CROSSINGS_PER_YEAR = 25_000_000
DAYS_PER_YEAR = 365.25
REQUIRED_HEADER: tuple[str, ...] = ("title", "start", "end", "seed", "replicates")

PARAM_SPECS: dict[str, dict[str, dict[str, Any]]] = {
    group: field_specs(cls) for group, cls in PARAM_GROUPS.items()
}

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(dict[K, V]):
    """A ``dict`` that refuses changes (still JSON-serialisable and picklable)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a Scenario is frozen: use Scenario.with_overrides")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type, tuple[dict[K, V]]]:
        return (type(self), (dict(self),))

    def __copy__(self) -> FrozenDict[K, V]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict[K, V]:
        return self


@dataclass(frozen=True)
class ParameterInfo:
    """One parameter or lever of a resolved scenario, with where its value comes from."""

    key: str  # "defection.contagion" or "lever.china_exit_strictness"
    kind: Literal["parameter", "lever"]
    value: float
    unit: str
    provenance: str
    range: tuple[float, float] | None
    mechanism: str  # "M5"
    doc: str


class ParameterDraws(Protocol):
    """Parameter uncertainty a scenario carries into its runs (``experiment.posterior``).

    It draws one parameter set per replicate; ``Scenario.with_overrides``
    asks it to hold the parameters it overrides at their new values.
    """

    def holding(self, names: Iterable[str]) -> ParameterDraws:
        """The same draws with ``names`` held at the scenario's values."""
        ...

    def replicate_params(
        self, scenario: Scenario, seed: int, replicates: np.ndarray
    ) -> list[Params] | None:
        """One parameter set per replicate index (None: the scenario's own, for all)."""
        ...


#: where packaged posteriors live: ``lipsteeth/scenarios/<name>.posterior.json``
POSTERIOR_SUFFIX = ".posterior.json"


def packaged_posterior(name: str) -> Any:
    """The packaged posterior file ``name`` (a ``Traversable``; it may not exist)."""
    return resources.files("lipsteeth") / "scenarios" / f"{name}{POSTERIOR_SUFFIX}"


def _date(item: np.datetime64) -> str:
    return str(item.astype("datetime64[D]"))


@dataclass(frozen=True, eq=False, repr=False)
class Scenario:
    """A validated, resolved, frozen scenario: what the core needs, plus provenance.

    Two scenarios are equal when their resolved documents (``to_dict()``) are
    equal; ``source`` (where it was read from) does not count.
    """

    name: str
    title: str
    description: str
    source: str
    start: np.datetime64
    end: np.datetime64  # inclusive
    seed: int
    replicates: int
    params: Params
    levers: Levers
    calendar: Calendar
    timeline: Timeline
    uncertainties: dict[str, tuple[float, float]]  # "group.name" -> (low, high)
    lever_ranges: dict[str, tuple[float, float]]  # lever name -> (low, high)
    provenance: dict[str, ParameterInfo]  # "group.name" and "lever.name"
    events: tuple[dict[str, Any], ...]
    endogenous_from: np.datetime64  # first day M9 generates tests, resolutions, advisories
    posterior: str | None = None  # packaged posterior of its calibration (header key)
    rules: tuple[dict[str, Any], ...] = ()  # conditional policies ([[rules]]), in order
    # Parameter uncertainty of its runs (not part of the document: the caller chooses
    # it, experiment.posterior.with_uncertainty); None: the parameters as set.
    parameter_draws: ParameterDraws | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return (
            f"Scenario(name={self.name!r}, {_date(self.start)}..{_date(self.end)}, "
            f"seed={self.seed}, replicates={self.replicates}, events={len(self.events)}, "
            f"uncertainties={len(self.uncertainties)}, source={self.source!r})"
        )

    def events_outside_horizon(self) -> list[dict[str, Any]]:
        """The dated events that have no day inside the horizon, so are not simulated.

        One dict per event: ``key`` (its path, ``events[i]``, in :meth:`to_dict`'s list),
        ``date``, ``kind`` and ``reason`` (for example "dated 2016-01-06, after the
        horizon's end 2014-12-31": a ``--years`` that cuts the timeline off).
        """
        start = self.start.astype("datetime64[D]")
        end = self.end.astype("datetime64[D]")
        outside = []
        for index, event in enumerate(self.events):
            reason = outside_horizon(event, start, end)
            if reason is not None:
                outside.append(
                    {
                        "key": f"events[{index}]",
                        "date": str(event["date"]),
                        "kind": str(event["kind"]),
                        "reason": reason,
                    }
                )
        return outside

    # --- export ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as a JSON-able dict in the file format's shape.

        ``tomllib.loads(s.to_toml()) == s.to_dict()``.
        """
        header = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "start": _date(self.start),
            "end": _date(self.end),
            "endogenous_from": _date(self.endogenous_from),
            "seed": self.seed,
            "replicates": self.replicates,
        }
        if self.posterior is not None:
            header["posterior"] = self.posterior
        parameters: dict[str, dict[str, Any]] = {group: {} for group in PARAM_GROUPS}
        levers: dict[str, Any] = {}
        for info in self.provenance.values():
            entry: dict[str, Any] = {"value": info.value}
            if info.range is not None:
                entry["range"] = list(info.range)
            entry["unit"] = info.unit
            entry["provenance"] = info.provenance
            group, name = info.key.split(".", 1)
            if info.kind == "lever":
                levers[name] = entry
            else:
                parameters[group][name] = entry
        document = {
            "scenario": header,
            "parameters": parameters,
            "levers": levers,
            "events": [dict(event) for event in self.events],
        }
        if self.rules:
            document["rules"] = [_plain(rule) for rule in self.rules]
        return document

    def to_toml(self) -> str:
        """The resolved scenario as a scenario file (no ``extends``) that loads back equal."""
        head = (
            f"# lipsteeth scenario {self.name!r}, resolved from {one_line(self.source)}.\n"
            "# Every value with its unit, declared range and provenance.\n\n"
        )
        return head + _toml.dumps(self.to_dict())

    # --- variants ----------------------------------------------------------------------

    def with_overrides(
        self,
        params: Mapping[str, float] | None = None,
        levers: Mapping[str, float] | None = None,
        years: float | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Scenario:
        """A re-validated copy with some values, or the horizon, changed.

        ``params`` keys are ``"group.name"``, ``levers`` keys are lever names
        (``"lever.name"`` also accepted).  Integer parameters accept integral
        floats (``90.0``) but not ``90.5``.  An overridden entry's provenance
        becomes ``"override: <value> (was <old>)"``; when the new value lies
        outside the entry's declared range (but within the core bounds) the
        range is widened to include it, so the result stays a valid scenario.
        ``years`` sets ``end = start + round(years * 365.25) - 1`` days (from the
        new ``start`` if given); give ``years`` or ``end``, not both.  Raises
        ``ScenarioError`` on an unknown key or an invalid value.
        """
        document = self.to_dict()
        for key, new in (params or {}).items():
            group, _, name = str(key).partition(".")
            specs = PARAM_SPECS.get(group, {})
            if name not in specs:
                known = [f"{g}.{n}" for g, fields in PARAM_SPECS.items() for n in fields]
                raise ScenarioError(
                    self.source, f"parameters.{key}", "unknown parameter" + hint(str(key), known)
                )
            _override(document["parameters"][group][name], new, specs[name])
        for key, new in (levers or {}).items():
            name = str(key).removeprefix("lever.")
            if name not in LEVER_SPECS:
                raise ScenarioError(
                    self.source, f"levers.{name}", "unknown lever" + hint(name, list(LEVER_SPECS))
                )
            _override(document["levers"][name], new, LEVER_SPECS[name])
        header = document["scenario"]
        if start is not None:
            header["start"] = _iso(start)
        if end is not None:
            if years is not None:
                raise ScenarioError(self.source, "years", "give either years or end, not both")
            header["end"] = _iso(end)
        if years is not None:
            header["end"] = _end_after(header["start"], years, self.source)
        changed = from_document(document, self.source)
        if self.parameter_draws is None:
            return changed
        # an overridden parameter takes the value given, in every replicate
        draws = self.parameter_draws.holding(str(key) for key in (params or {}))
        return dataclasses.replace(changed, parameter_draws=draws)


def _plain(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as a plain dict (its actions too), the file's shape."""
    return {k: [dict(a) for a in v] if k == "actions" else v for k, v in rule.items()}


def _iso(item: Any) -> Any:
    """Dates given as ``datetime.date`` or ``numpy.datetime64`` become ISO strings."""
    if isinstance(item, np.datetime64):
        return str(item.astype("datetime64[D]"))
    if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
        return item.isoformat()
    return item


def _end_after(start: Any, years: Any, source: str) -> str:
    """ISO end date ``years`` after ``start`` (inclusive horizon)."""
    if isinstance(years, bool) or not isinstance(years, numbers.Real):
        raise ScenarioError(source, "years", f"expected a number of years (got {show(years)})")
    span = float(years)
    if not math.isfinite(span) or span <= 0:
        raise ScenarioError(source, "years", f"must be a positive number (got {show(years)})")
    days = round(span * DAYS_PER_YEAR)
    if days > MAX_DAYS:
        raise ScenarioError(
            source, "years", f"horizon of {span:g} years is longer than {MAX_HORIZON_YEARS} years"
        )
    if days < 2:
        raise ScenarioError(source, "years", f"horizon of {span:g} years is shorter than 2 days")
    try:
        first = dt.date.fromisoformat(str(start))
        return (first + dt.timedelta(days=days - 1)).isoformat()
    except (ValueError, OverflowError) as exc:
        raise ScenarioError(source, "scenario.start", f"cannot add {span:g} years: {exc}") from None


def _coerce(item: Any, meta: Mapping[str, Any]) -> Any:
    """NumPy scalars to Python numbers; integral floats to ``int`` for integer fields."""
    if isinstance(item, bool | np.bool_):
        return item
    if isinstance(item, numbers.Integral):
        return int(item)
    if isinstance(item, numbers.Real):
        number = float(item)
        if meta["integer"] and number.is_integer():
            return int(number)
        return number
    return item


def _override(entry: dict[str, Any], new: Any, meta: Mapping[str, Any]) -> None:
    new = _coerce(new, meta)
    old = entry["value"]
    entry["value"] = new
    entry["provenance"] = f"override: {show(new)} (was {show(old)})"
    number = isinstance(new, int | float) and not isinstance(new, bool)
    if number and "range" in entry and meta["lo"] <= new <= meta["hi"]:
        low, high = entry["range"]
        entry["range"] = [min(low, new), max(high, new)]


# --- whole-scenario rules ------------------------------------------------------------------


def _entries(document: Mapping[str, Any]) -> Iterable[tuple[str, str, dict[str, Any], dict]]:
    """(path, key, entry, meta) of every parameter and lever of a complete document."""
    for group, specs in PARAM_SPECS.items():
        for name, meta in specs.items():
            entry = document["parameters"][group][name]
            yield f"parameters.{group}.{name}", f"{group}.{name}", entry, meta
    for name, meta in LEVER_SPECS.items():
        yield f"levers.{name}", f"lever.{name}", document["levers"][name], meta


def require_complete(document: Mapping[str, Any], source: str) -> None:
    """A scenario without ``extends`` sets its header, every value and every provenance."""
    header = document["scenario"]
    for key in REQUIRED_HEADER:
        if key not in header:
            raise ScenarioError(
                source, f"scenario.{key}", "required key is missing (no `extends` to inherit it)"
            )
    for group, specs in PARAM_SPECS.items():
        entries = document.get("parameters", {}).get(group)
        if entries is None:
            raise ScenarioError(
                source,
                f"parameters.{group}",
                "missing group: a scenario without `extends` sets every parameter",
            )
        for name in specs:
            if name not in entries:
                raise ScenarioError(
                    source,
                    f"parameters.{group}.{name}",
                    "missing parameter: a scenario without `extends` sets every parameter",
                )
    for name in LEVER_SPECS:
        if name not in document.get("levers", {}):
            raise ScenarioError(
                source,
                f"levers.{name}",
                "missing lever: a scenario without `extends` sets every lever",
            )
    require_provenance(document, source)


def require_provenance(document: Mapping[str, Any], source: str) -> None:
    """Every parameter and lever the document sets carries its provenance."""
    tables = [
        (f"parameters.{group}.{name}", entry)
        for group, entries in document.get("parameters", {}).items()
        for name, entry in entries.items()
    ]
    tables += [(f"levers.{name}", entry) for name, entry in document.get("levers", {}).items()]
    for path, entry in tables:
        if "provenance" not in entry:
            raise ScenarioError(
                source,
                f"{path}.provenance",
                "missing provenance: give a fact id, a data source or 'assumption: reason'",
            )


def _check_ranges(document: Mapping[str, Any], source: str) -> None:
    for path, _, entry, _meta in _entries(document):
        if "range" not in entry:
            continue
        low, high = entry["range"]
        if low > high:
            raise ScenarioError(source, f"{path}.range", f"low {low!r} is above high {high!r}")
        if not low <= entry["value"] <= high:
            raise ScenarioError(
                source, f"{path}.value", f"{entry['value']!r} outside its range [{low!r}, {high!r}]"
            )


def _check_population(document: Mapping[str, Any], source: str) -> None:
    """Absurd sizes and impossible shares of the overseas network."""
    pop = {name: entry["value"] for name, entry in document["parameters"]["population"].items()}
    check_population(pop, source)


def check_population(pop: Mapping[str, Any], source: str) -> None:
    """The population rules on a complete set of ``population`` values (also for draws)."""
    path = "parameters.population"
    posts = (
        pop["restaurant_sites_max"] * pop["staff_per_restaurant"]
        + pop["labour_sites_max"] * pop["labour_site_capacity"]
    )
    if posts > MAX_POSTS:
        raise ScenarioError(
            source,
            path,
            f"{posts:,} posts (restaurant_sites_max*staff_per_restaurant + "
            f"labour_sites_max*labour_site_capacity) exceed the limit of {MAX_POSTS:,}",
        )
    if pop["restaurants_initial"] > pop["restaurant_sites_max"]:
        raise ScenarioError(
            source,
            f"{path}.restaurants_initial.value",
            f"{pop['restaurants_initial']} restaurants open at start exceed "
            f"restaurant_sites_max = {pop['restaurant_sites_max']}",
        )
    capacity = pop["labour_sites_max"] * pop["labour_site_capacity"]
    if pop["labour_workers_initial"] > capacity:
        raise ScenarioError(
            source,
            f"{path}.labour_workers_initial.value",
            f"{pop['labour_workers_initial']:,} labourers at start exceed the "
            f"{capacity:,} posts (labour_sites_max*labour_site_capacity)",
        )
    for kind in ("restaurant", "labour"):
        china, russia = pop[f"{kind}_share_china"], pop[f"{kind}_share_russia"]
        if china + russia > 1.0:
            raise ScenarioError(
                source,
                f"{path}.{kind}_share_russia.value",
                f"{kind}_share_china + {kind}_share_russia = {china + russia:g} exceeds 1",
            )


def _check_wider_flow(document: Mapping[str, Any], source: str) -> None:
    wider_flow = {
        name: entry["value"] for name, entry in document["parameters"]["wider_flow"].items()
    }
    check_wider_flow(wider_flow, source)


def check_wider_flow(wider_flow: Mapping[str, Any], source: str) -> None:
    """Crossings at full hardship (M10) within North Korea's population a year.

    The squeeze is at most 1 (M9: the economy index is never below 0), so the
    highest crossing rate a run can reach, before border control, closure and aid,
    is ``crossing_rate_per_year`` x exp(``beta_economy``).
    """
    rate, beta = wider_flow["crossing_rate_per_year"], wider_flow["beta_economy"]
    at_full_hardship = rate * math.exp(beta)
    if at_full_hardship > MAX_CROSSINGS_PER_YEAR:
        raise ScenarioError(
            source,
            "parameters.wider_flow.beta_economy.value",
            f"crossing_rate_per_year*exp(beta_economy) = {rate:g}*exp({beta:g}) = "
            f"{at_full_hardship:.3g} crossings a year at full hardship exceed North Korea's "
            f"population of {MAX_CROSSINGS_PER_YEAR:,}",
        )


def build_scenario(document: Mapping[str, Any], source: str) -> Scenario:
    """The frozen ``Scenario`` of a complete, validated document (see module doc)."""
    header = document["scenario"]
    start_date: dt.date = header["start"]
    end_date: dt.date = header["end"]
    if end_date <= start_date:
        raise ScenarioError(
            source, "scenario.end", f"end {end_date} is not after start {start_date}"
        )
    n_days = (end_date - start_date).days + 1
    if n_days > MAX_DAYS:
        raise ScenarioError(
            source,
            "scenario.end",
            f"horizon of {n_days:,} days is longer than {MAX_HORIZON_YEARS} years",
        )
    _check_ranges(document, source)
    _check_population(document, source)
    _check_wider_flow(document, source)

    infos: dict[str, ParameterInfo] = {}
    uncertainties: dict[str, tuple[float, float]] = {}
    lever_ranges: dict[str, tuple[float, float]] = {}
    for _, key, entry, meta in _entries(document):
        lever = key.startswith("lever.")
        span = tuple(entry["range"]) if "range" in entry else None
        infos[key] = ParameterInfo(
            key=key,
            kind="lever" if lever else "parameter",
            value=entry["value"],
            unit=meta["unit"],
            provenance=entry["provenance"],
            range=span,
            mechanism=meta["mech"],
            doc=meta["doc"],
        )
        if span is not None:
            low, high = float(span[0]), float(span[1])
            if lever:
                lever_ranges[key.removeprefix("lever.")] = (low, high)
            else:
                uncertainties[key] = (low, high)
    start = np.datetime64(start_date, "D")
    end = np.datetime64(end_date, "D")
    endogenous_from = np.datetime64(header.get("endogenous_from", start_date), "D")
    events = tuple(FrozenDict(event) for event in document.get("events", ()))
    rules = tuple(
        FrozenDict({**rule, "actions": tuple(FrozenDict(a) for a in rule["actions"])})
        for rule in document.get("rules", ())
    )
    # the packaged posterior is read (and a missing one refused) when a run draws from it
    posterior = header.get("posterior")
    try:
        params = Params(
            **{
                group: cls(**{n: e["value"] for n, e in document["parameters"][group].items()})
                for group, cls in PARAM_GROUPS.items()
            }
        )
        levers = Levers(**{name: entry["value"] for name, entry in document["levers"].items()})
        calendar = Calendar(start=start, n_days=n_days)
        timeline = compile_timeline(events, calendar, endogenous_from, rules)
        return Scenario(
            name=header["name"],
            title=header["title"],
            description=header.get("description", ""),
            source=source,
            start=start,
            end=end,
            seed=header["seed"],
            replicates=header["replicates"],
            params=params,
            levers=levers,
            calendar=calendar,
            timeline=timeline,
            uncertainties=FrozenDict(uncertainties),
            lever_ranges=FrozenDict(lever_ranges),
            provenance=FrozenDict(infos),
            events=events,
            endogenous_from=endogenous_from,
            posterior=posterior,
            rules=rules,
        )
    except (TypeError, ValueError, KeyError, OverflowError) as exc:  # a bug, not user input
        raise ScenarioError(source, "scenario", f"cannot build the scenario: {exc}") from exc


def from_document(data: Any, source: str) -> Scenario:
    """A complete scenario document (no ``extends``) validated and built."""
    document = validate_file(data, source)
    header = document["scenario"]
    if "name" not in header:
        raise ScenarioError(source, "scenario.name", "required key is missing")
    for key in ("extends", "replace_events"):
        if key in header:
            raise ScenarioError(source, f"scenario.{key}", "not allowed here")
    require_complete(document, source)
    return build_scenario(document, source)
