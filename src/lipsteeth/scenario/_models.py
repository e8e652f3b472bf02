"""Pydantic models of the scenario file format, built from ``core.params`` metadata.

``core/params.py`` is the single definition of the parameter space: for every
field of every parameter group and of ``Levers`` this module creates (with
``pydantic.create_model``) a model of its scenario entry, whose ``value`` carries
the field's bounds, unit and meaning.  The same models validate scenario files
and generate the JSON Schema, so the two cannot drift apart.

Validation here is per file and per key (types, bounds, units, unknown keys,
dates, event fields).  Rules that need the whole resolved scenario (ranges
inherited through ``extends``, sizes, shares, horizon) live in ``_scenario``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)

from ..core.conditional import MONTH_END_ONLY
from ..core.outcomes import OUTCOME_NAMES
from ..core.params import PARAM_GROUPS, Levers, field_specs
from ..core.timeline import RULE_MODES, UN_PROVISIONS
from . import _toml
from ._errors import ScenarioError, show

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

EVENT_KINDS: tuple[str, ...] = ("lever", "nuclear_test", "missile_test", "un_resolution")
ENTRY_KEYS: tuple[str, ...] = ("value", "range", "unit", "provenance")
HEADER_KEYS: tuple[str, ...] = (
    "name",
    "title",
    "description",
    "start",
    "end",
    "seed",
    "replicates",
    "endogenous_from",
    "extends",
    "replace_events",
    "events_file",
    "posterior",
)
MAX_EVENTS = 10_000
MAX_RULES = 100
MAX_RULE_ACTIONS = 24
MAX_RULE_DAYS = 73_050  # 200 years, the longest horizon
MAX_TEST_COUNT = 1_000
MAX_REPLICATES = 100_000
MAX_SEED = 2**63 - 1
MAX_TEXT = 2_000
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _no_default(schema: dict[str, Any]) -> None:
    """Optional keys are simply absent: drop pydantic's ``"default": null``."""
    schema.pop("default", None)


def absent(**kwargs: Any) -> Any:
    """A key that may be left out (it is then not set, and never ``null``)."""
    return Field(default=None, json_schema_extra=_no_default, **kwargs)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_not_blank)]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _to_date(item: Any) -> Any:
    """Accept a TOML local date or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(item, dt.datetime):
        raise ValueError("expected a date YYYY-MM-DD, not a date-time")
    if isinstance(item, str):
        if not _ISO_DATE.match(item):
            raise ValueError(f"expected an ISO date YYYY-MM-DD (got {_toml.value(item)[:60]})")
        try:
            return dt.date.fromisoformat(item)
        except ValueError:
            raise ValueError(f"not a calendar date: {_toml.value(item)[:60]}") from None
    return item


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_to_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]


def literal(values: tuple[str, ...]) -> Any:
    """``Literal[values...]`` built at run time (the values come from core metadata)."""
    return Literal.__getitem__(values)


def _describe(meta: Mapping[str, Any]) -> str:
    return f"{meta['doc']} [{meta['unit']}] ({meta['mech']})"


def _bounded(meta: Mapping[str, Any], description: str | None = None) -> Any:
    """The type of a value with the field's bounds (integers stay integers)."""
    kwargs: dict[str, Any] = {}
    if math.isfinite(meta["lo"]):
        kwargs["ge"] = int(meta["lo"]) if meta["integer"] else meta["lo"]
    if math.isfinite(meta["hi"]):
        kwargs["le"] = int(meta["hi"]) if meta["integer"] else meta["hi"]
    base: type = int if meta["integer"] else float
    return Annotated[base, Field(description=description, **kwargs)]


def _shorthand(item: Any) -> Any:
    """``contagion = 0.5`` means ``[...contagion] value = 0.5``."""
    return item if isinstance(item, Mapping) else {"value": item}


def _camel(*words: str) -> str:
    return "".join(part.capitalize() for word in words for part in word.split("_"))


def _entry_model(prefix: str, name: str, meta: Mapping[str, Any]) -> Any:
    """Model of one ``[parameters.<group>.<name>]`` or ``[levers.<name>]`` table, plus shorthand."""
    number = _bounded(meta)
    unit_type = literal((meta["unit"],))
    model = create_model(
        _camel(prefix, name),
        __config__=STRICT,
        __doc__=_describe(meta),
        value=(_bounded(meta, f"{meta['doc']}, in {meta['unit']}"), ...),
        range=(
            list[number],  # type: ignore[valid-type]
            absent(
                min_length=2,
                max_length=2,
                description="[low, high]: a declared uncertainty (for sweeps and calibration)",
            ),
        ),
        unit=(unit_type, absent(description="must equal the core unit if given")),
        provenance=(
            Text,
            absent(description="fact id, data source, or 'assumption: reason'"),
        ),
    )
    return Annotated[
        model,
        BeforeValidator(_shorthand, json_schema_input_type=model | number),
    ]


def _optional_fields(entries: Mapping[str, Any]) -> dict[str, Any]:
    return {name: (kind, absent()) for name, kind in entries.items()}


def _build_parameters() -> type[BaseModel]:
    groups: dict[str, Any] = {}
    for group, cls in PARAM_GROUPS.items():
        entries = {name: _entry_model(group, name, meta) for name, meta in field_specs(cls).items()}
        groups[group] = create_model(
            _camel(group, "parameters"),
            __config__=STRICT,
            __doc__=(cls.__doc__ or group).strip(),
            **_optional_fields(entries),
        )
    return create_model(
        "Parameters",
        __config__=STRICT,
        __doc__="Model parameters by group (core/params.py).",
        **_optional_fields(groups),
    )


def _build_levers() -> type[BaseModel]:
    entries = {
        name: _entry_model("lever", name, meta) for name, meta in field_specs(Levers).items()
    }
    return create_model(
        "Levers",
        __config__=STRICT,
        __doc__="Policy levers: baseline values (the event timeline can move them).",
        **_optional_fields(entries),
    )


class ScenarioHeader(BaseModel):
    """The ``[scenario]`` table."""

    model_config = STRICT

    name: str = absent(pattern=NAME_PATTERN, description="short identifier (letters, digits, -_.)")
    title: str = absent(min_length=1, max_length=300, description="one-line title")
    description: str = absent(max_length=20_000, description="what the scenario is about")
    start: IsoDate = absent(description="first simulated day")
    end: IsoDate = absent(description="last simulated day (inclusive)")
    seed: int = absent(ge=0, le=MAX_SEED, description="root seed of the experiment")
    replicates: int = absent(ge=1, le=MAX_REPLICATES, description="number of replicates")
    endogenous_from: IsoDate = absent(
        description="first day the strategic model (M9) generates tests, resolutions and "
        "advisories (default: start)"
    )
    extends: str = absent(
        min_length=1,
        max_length=MAX_TEXT,
        description="embedded scenario name, or path (ending in .toml) relative to this file",
    )
    replace_events: bool = absent(
        description="with extends: drop the parent's events instead of appending to them"
    )
    events_file: str = absent(
        min_length=1,
        max_length=MAX_TEXT,
        description="CSV event timeline (lipsteeth.scenario.events_csv), relative to this file; "
        "its events come before this file's [[events]]",
    )
    posterior: str = absent(
        pattern=NAME_PATTERN,
        description="packaged posterior of the scenario's calibration "
        "(lipsteeth/scenarios/<name>.posterior.json): the parameter uncertainty a run "
        "draws from by default (inherited through extends)",
    )


LEVER_SPECS = field_specs(Levers)
if TYPE_CHECKING:
    LeverName = str
else:
    LeverName = literal(tuple(LEVER_SPECS))
EventSource = Annotated[Text, Field(description="where the event comes from")]


class LeverEvent(BaseModel):
    """A lever set to ``value`` from ``date`` through ``until`` (or to the end)."""

    model_config = STRICT

    date: IsoDate
    kind: Literal["lever"]
    lever: LeverName
    value: float = Field(description="within the lever's bounds")
    until: IsoDate = absent(description="last day (inclusive) the value holds")
    source: EventSource


class NuclearTestEvent(BaseModel):
    """Forced nuclear tests on ``date``."""

    model_config = STRICT

    date: IsoDate
    kind: Literal["nuclear_test"]
    count: int = Field(default=1, ge=1, le=MAX_TEST_COUNT, description="tests on that day")
    source: EventSource


class MissileTestEvent(BaseModel):
    """Forced missile tests on ``date``."""

    model_config = STRICT

    date: IsoDate
    kind: Literal["missile_test"]
    count: int = Field(default=1, ge=1, le=MAX_TEST_COUNT, description="tests on that day")
    source: EventSource


_RESOLUTION_FIELDS: dict[str, Any] = {
    "date": (IsoDate, ...),
    "kind": (Literal["un_resolution"], ...),
    "resolution": (str, absent(min_length=1, max_length=100, description="resolution number")),
    **{
        name: (
            float,
            Field(default=0.0, ge=0.0, le=1.0, description=_describe(LEVER_SPECS[name])),
        )
        for name in UN_PROVISIONS
    },
    "source": (EventSource, ...),
}
UNResolutionEvent: Any = create_model(
    "UNResolutionEvent",
    __config__=STRICT,
    __doc__="A UN Security Council resolution: provision floors (missing provisions are 0).",
    **_RESOLUTION_FIELDS,
)

Event = Annotated[
    LeverEvent | NuclearTestEvent | MissileTestEvent | UNResolutionEvent,
    Field(discriminator="kind"),
]

if TYPE_CHECKING:
    TriggerName = str
else:
    TriggerName = literal(tuple(n for n in OUTCOME_NAMES if n not in MONTH_END_ONLY))


class RuleAction(BaseModel):
    """What a rule in force does to one lever: ``add`` to its value that day, or ``set`` it."""

    model_config = STRICT

    lever: LeverName
    add: float = absent(description="added to the lever's value of the day (clipped to bounds)")
    set: float = absent(description="the lever's value while the rule is in force")


class RuleEntry(BaseModel):
    """A conditional policy: a trigger on an outcome and the levers it moves (issue 15)."""

    model_config = STRICT

    name: str = Field(min_length=1, max_length=100, description="unique within the scenario")
    when: TriggerName = Field(description="the outcome the trigger reads (a daily outcome)")
    window_days: int = Field(
        default=1, ge=1, le=MAX_RULE_DAYS, description="days before each day the trigger reads"
    )
    above: float = absent(description="fires when the window's statistic exceeds this")
    below: float = absent(description="fires when the window's statistic is under this")
    mode: literal(RULE_MODES) = Field(  # type: ignore[valid-type]
        default="after",
        description="after: in force `days` days once fired; while: each day the condition holds",
    )
    days: int = absent(ge=1, le=MAX_RULE_DAYS, description="days in force (mode after)")
    cooldown_days: int = Field(
        default=0, ge=0, le=MAX_RULE_DAYS, description="idle days after an activation ends"
    )
    max_activations: int = Field(default=0, ge=0, le=1_000_000, description="cap (0: none)")
    first: IsoDate = absent(alias="from", description="first day the rule may fire")
    until: IsoDate = absent(description="last day the rule may fire")
    source: EventSource
    actions: list[RuleAction] = Field(min_length=1, max_length=MAX_RULE_ACTIONS)


ParametersModel = _build_parameters()
LeversModel = _build_levers()

ScenarioFile: Any = create_model(
    "ScenarioFile",
    __config__=STRICT,
    __doc__=(
        "A lipsteeth scenario file (TOML). A file without `extends` must set every parameter "
        "and lever, each with its provenance; a file with `extends` overrides its parent "
        "(bare numbers allowed) and appends events and rules unless `replace_events` is true."
    ),
    scenario=(ScenarioHeader, ...),
    parameters=(ParametersModel, absent()),
    levers=(LeversModel, absent()),
    events=(list[Event], absent(max_length=MAX_EVENTS)),
    rules=(list[RuleEntry], absent(max_length=MAX_RULES)),
)


# --- validation with one-line errors ------------------------------------------------------


def format_path(loc: tuple[Any, ...]) -> str:
    """``("events", 3, "value")`` -> ``"events[3].value"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


def _known_keys(parent: tuple[Any, ...]) -> list[str]:
    """Keys allowed in the table at ``parent`` (for 'did you mean' hints)."""
    if not parent:
        return ["scenario", "parameters", "levers", "events", "rules"]
    head, rest = parent[0], parent[1:]
    if head == "scenario" and not rest:
        return list(HEADER_KEYS)
    if head == "parameters":
        if not rest:
            return list(PARAM_GROUPS)
        if len(rest) == 1 and rest[0] in PARAM_GROUPS:
            return [f.name for f in dataclasses.fields(PARAM_GROUPS[rest[0]])]
        return list(ENTRY_KEYS)
    if head == "levers":
        return list(LEVER_SPECS) if not rest else list(ENTRY_KEYS)
    if head == "events":
        keys = ["date", "kind", "source", "lever", "value", "until", "count", "resolution"]
        return keys + list(UN_PROVISIONS)
    if head == "rules":
        if len(rest) >= 2 and rest[1] == "actions":
            return list(RuleAction.model_fields)
        return [f.alias or name for name, f in RuleEntry.model_fields.items()]
    return []


def hint(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _got(item: Any) -> str:
    if isinstance(item, Mapping):
        return "a table"
    if isinstance(item, list | tuple):
        return "an array"
    try:
        return _toml.value(item)[:60]
    except TypeError:
        return show(item)


def _reason(error: Mapping[str, Any]) -> tuple[tuple[Any, ...], str]:
    loc: tuple[Any, ...] = tuple(error["loc"])
    # A discriminated union puts the event kind into the location: drop it.
    if len(loc) >= 3 and loc[0] == "events" and isinstance(loc[1], int) and loc[2] in EVENT_KINDS:
        loc = loc[:2] + loc[3:]
    kind, message = error["type"], str(error["msg"])
    item = error.get("input")
    if kind == "extra_forbidden":
        return loc, "unknown key" + hint(str(loc[-1]), _known_keys(loc[:-1]))
    if kind == "missing":
        return loc, "required key is missing"
    if kind == "union_tag_not_found":
        return (*loc, "kind"), f"missing event kind (one of {', '.join(EVENT_KINDS)})"
    if kind == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", ""))
        reason = f"unknown event kind {tag!r}" + hint(tag, list(EVENT_KINDS))
        return (*loc, "kind"), reason + f"; one of {', '.join(EVENT_KINDS)}"
    if kind == "literal_error" and message.count("'") > 4:
        expected = re.findall(r"'([^']*)'", message)
        return loc, f"unknown value {_got(item)}" + hint(str(item), expected)
    if kind == "string_pattern_mismatch" and loc == ("scenario", "name"):
        return loc, f"use letters, digits, '-', '_' and '.' (at most 64) (got {_got(item)})"
    if kind in ("too_short", "too_long") and loc[-1] == "range":
        count = len(item) if isinstance(item, list | tuple) else "?"
        return loc, f"expected [low, high] (got {count} items)"
    if kind in ("value_error", "assertion_error"):
        return loc, re.sub(r"^(Value|Assertion) error, ", "", message)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"expected a table (got {_got(item)})"
    return loc, f"{message} (got {_got(item)})"


def scenario_error(exc: ValidationError, source: str) -> ScenarioError:
    """The first problem of a pydantic error as a one-line ``ScenarioError``."""
    errors = exc.errors(include_url=False)
    loc, reason = _reason(errors[0])
    if len(errors) > 1:
        more = len(errors) - 1
        reason += f" [+{more} more problem{'s' if more > 1 else ''}]"
    return ScenarioError(source, format_path(loc), reason)


def _event_record(event: BaseModel) -> dict[str, Any]:
    """A validated event as a plain dict: ISO dates, defaults filled, no absent keys."""
    record: dict[str, Any] = {}
    for name, item in event.model_dump().items():
        if item is None:
            continue
        record[name] = item.isoformat() if isinstance(item, dt.date) else item
    return record


def _check_event(record: Mapping[str, Any], index: int, source: str) -> None:
    """Event rules that one field's type cannot express."""
    if record["kind"] != "lever":
        return
    meta = LEVER_SPECS[record["lever"]]
    if not meta["lo"] <= record["value"] <= meta["hi"]:
        raise ScenarioError(
            source,
            f"events[{index}].value",
            f"{record['value']!r} outside the bounds [{meta['lo']}, {meta['hi']}] "
            f"of lever {record['lever']}",
        )
    if "until" in record and record["until"] < record["date"]:
        raise ScenarioError(
            source,
            f"events[{index}].until",
            f"until {record['until']} is before the event date {record['date']}",
        )


def _rule_record(rule: RuleEntry) -> dict[str, Any]:
    """A validated rule as a plain dict in the file's shape (``from``, ISO dates, defaults)."""
    record: dict[str, Any] = {}
    for name, item in rule.model_dump(by_alias=True).items():
        if item is None:
            continue
        if name == "actions":
            item = [{k: v for k, v in action.items() if v is not None} for action in item]
        record[name] = item.isoformat() if isinstance(item, dt.date) else item
    return record


def check_rule(record: Mapping[str, Any], index: int, source: str) -> None:
    """Rule constraints that one field's type cannot express (one-line ``ScenarioError``)."""
    where = f"rules[{index}]"
    if ("above" in record) == ("below" in record):
        raise ScenarioError(source, f"{where}.above", "give exactly one of above or below")
    if record["mode"] == "after" and "days" not in record:
        raise ScenarioError(source, f"{where}.days", "required for mode 'after'")
    if record["mode"] == "while" and "days" in record:
        raise ScenarioError(
            source, f"{where}.days", "mode 'while' is in force while the condition holds"
        )
    if "from" in record and "until" in record and record["until"] < record["from"]:
        raise ScenarioError(
            source, f"{where}.until", f"until {record['until']} is before from {record['from']}"
        )
    for a, action in enumerate(record["actions"]):
        path = f"{where}.actions[{a}]"
        if ("add" in action) == ("set" in action):
            raise ScenarioError(source, f"{path}.add", "give exactly one of add or set")
        meta = LEVER_SPECS[action["lever"]]
        if "set" in action and not meta["lo"] <= action["set"] <= meta["hi"]:
            raise ScenarioError(
                source,
                f"{path}.set",
                f"{action['set']!r} outside the bounds [{meta['lo']}, {meta['hi']}] "
                f"of lever {action['lever']}",
            )
        span = meta["hi"] - meta["lo"]
        if "add" in action and not abs(action["add"]) <= span:
            raise ScenarioError(
                source,
                f"{path}.add",
                f"{action['add']!r} is more than the span {span} of lever {action['lever']}",
            )


def check_rule_names(rules: Sequence[Mapping[str, Any]], source: str) -> None:
    """Rule names are unique in a resolved scenario (the report and the log use them)."""
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule["name"] in seen:
            raise ScenarioError(
                source, f"rules[{index}].name", f"another rule is named {rule['name']!r}"
            )
        seen.add(rule["name"])


def validate_file(data: Any, source: str) -> dict[str, Any]:
    """One scenario document (parsed TOML) checked key by key.

    Returns the keys the file sets (absent keys stay absent), with shorthand
    expanded, dates as ``datetime.date`` and events as plain dicts (ISO dates,
    defaults filled).  Raises ``ScenarioError`` on the first problem.
    """
    try:
        model = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise scenario_error(exc, source) from None
    document: dict[str, Any] = {"scenario": model.scenario.model_dump(exclude_unset=True)}
    if "parameters" in model.model_fields_set:
        document["parameters"] = model.parameters.model_dump(exclude_unset=True)
    if "levers" in model.model_fields_set:
        document["levers"] = model.levers.model_dump(exclude_unset=True)
    if "events" in model.model_fields_set:
        document["events"] = [_event_record(event) for event in model.events]
        for index, record in enumerate(document["events"]):
            _check_event(record, index, source)
    if "rules" in model.model_fields_set:
        document["rules"] = [_rule_record(rule) for rule in model.rules]
        for index, record in enumerate(document["rules"]):
            check_rule(record, index, source)
        check_rule_names(document["rules"], source)
    return document


@functools.cache
def _schema_text() -> str:
    schema: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(ScenarioFile.model_json_schema(mode="validation"))
    schema["title"] = "lipsteeth scenario"
    return json.dumps(schema)


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the scenario file format (a fresh copy each call)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema
