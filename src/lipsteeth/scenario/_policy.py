"""Named policies: what Beijing (or an analyst) sets, as a TOML file applied to a scenario.

A policy file (``lipsteeth/policies/<name>.toml`` or a user's file) holds::

    [policy]
    name = "max-pressure"           # letters, digits, -_. (the file name for a shipped one)
    title = "..."
    description = "..."
    from = "2017-01-01"             # optional: the day the levers take effect (see below)

    [levers.china_sanctions]        # a scenario's lever entry: value, and its source
    value = 0.9
    source = "assumption: ..."

    [[events]]                      # a scenario's [[events]], appended to the scenario's
    ...

Applying a policy (:func:`apply_policy`) takes the scenario's resolved document,
sets the policy's levers and appends its events, then validates the result as
every scenario is validated.  Without ``from`` a lever replaces the scenario's
baseline value (its provenance becomes ``policy <name>: <source>``; a declared
lever range is widened to hold it).  With ``from`` each lever becomes a lever
event from that day to the end, so the scenario's own history before it (the
calibrated years of ``baseline-2016``) is left as it was; a scenario event of
the same lever dated later still wins from its date (events apply in date
order).  The policy's own events come after its levers, in file order.

    [[rules]]                       # a scenario's [[rules]] (conditional policies)
    ...

A policy's ``[[rules]]`` are appended to the scenario's; with ``from``, a rule
without its own ``from`` may fire from the policy's day on (the scenario's
history before it stays as it was).

Every failure is one-line :class:`ScenarioError` naming the policy file and the key
path (``max-pressure.toml: levers.china_sanctions.value: ...``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from ..core.params import Levers, field_specs
from ._errors import ScenarioError
from ._files import read_regular_file
from ._models import (
    MAX_RULES,
    NAME_PATTERN,
    STRICT,
    Event,
    IsoDate,
    RuleEntry,
    Text,
    _bounded,
    _camel,
    _check_event,
    _event_record,
    _optional_fields,
    _reason,
    _rule_record,
    absent,
    check_rule,
    check_rule_names,
    format_path,
    hint,
)
from ._scenario import Scenario, from_document

MAX_POLICY_BYTES = 1_000_000
MAX_POLICY_EVENTS = 1_000
POLICY_KEYS: tuple[str, ...] = ("policy", "levers", "events", "rules")
LEVER_SPECS = field_specs(Levers)


class PolicyHeader(BaseModel):
    """The ``[policy]`` table."""

    model_config = STRICT

    name: str = absent(pattern=NAME_PATTERN, description="short identifier (letters, digits, -_.)")
    title: str = absent(min_length=1, max_length=300, description="one-line title")
    description: str = absent(max_length=20_000, description="what the policy does and why")
    from_: IsoDate = absent(
        alias="from",
        description="the day the policy's levers take effect (default: the scenario's start, "
        "replacing its baseline values)",
    )


def _lever_entry(name: str, meta: Mapping[str, Any]) -> Any:
    return create_model(
        _camel("policy", name),
        __config__=STRICT,
        __doc__=f"{meta['doc']} [{meta['unit']}] ({meta['mech']})",
        value=(_bounded(meta, f"{meta['doc']}, in {meta['unit']}"), ...),
        source=(Text, ...),
    )


PolicyLevers: Any = create_model(
    "PolicyLevers",
    __config__=STRICT,
    __doc__="The levers a policy sets: value and source (a fact id, a data file, or "
    "'assumption: reason').",
    **_optional_fields({name: _lever_entry(name, meta) for name, meta in LEVER_SPECS.items()}),
)

PolicyFile: Any = create_model(
    "PolicyFile",
    __config__=STRICT,
    __doc__="A lipsteeth policy file (TOML): levers and events applied to a scenario.",
    policy=(PolicyHeader, ...),
    levers=(PolicyLevers, absent()),
    events=(list[Event], absent(max_length=MAX_POLICY_EVENTS)),
    rules=(list[RuleEntry], absent(max_length=MAX_RULES)),
)


@dataclass(frozen=True)
class Policy:
    """A validated policy: header, the levers it sets (value, source) and its events."""

    name: str
    title: str
    description: str
    source: str  # the file (or "policies/<name>.toml" for a shipped one)
    start: dt.date | None  # ``from``: the day its levers take effect (None: baseline values)
    levers: Mapping[str, tuple[float, str]]
    events: tuple[Mapping[str, Any], ...]
    text: str  # the file as read (manifests record its SHA-256)
    rules: tuple[Mapping[str, Any], ...] = ()  # conditional policies (core.conditional)

    def to_dict(self) -> dict[str, Any]:
        """The policy as a JSON-able dict (``policies show`` prints it as TOML)."""
        header: dict[str, Any] = {"name": self.name, "title": self.title}
        if self.description:
            header["description"] = self.description
        if self.start is not None:
            header["from"] = self.start.isoformat()
        return {
            "policy": header,
            "levers": {k: {"value": v, "source": s} for k, (v, s) in self.levers.items()},
            "events": [dict(e) for e in self.events],
            **({"rules": [_plain_rule(r) for r in self.rules]} if self.rules else {}),
        }


def _plain_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [dict(a) for a in v] if k == "actions" else v for k, v in rule.items()}


def _policy_reason(error: Mapping[str, Any]) -> tuple[str, str]:
    loc, reason = _reason(error)
    if loc and loc[-1] == "from_":
        loc = (*loc[:-1], "from")
    if error["type"] == "extra_forbidden" and len(loc) == 1:
        reason = "unknown key" + hint(str(loc[0]), list(POLICY_KEYS))
    elif error["type"] == "extra_forbidden" and len(loc) == 3 and loc[0] == "levers":
        reason = "unknown key" + hint(str(loc[-1]), ["value", "source"])
    elif error["type"] == "extra_forbidden" and len(loc) == 2 and loc[0] == "policy":
        reason = "unknown key" + hint(str(loc[-1]), ["name", "title", "description", "from"])
    return format_path(loc), reason


def validate_policy(data: Any, source: str, text: str = "") -> Policy:
    """A parsed policy document checked key by key (one-line ``ScenarioError``)."""
    try:
        model = PolicyFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        path, reason = _policy_reason(errors[0])
        if len(errors) > 1:
            more = len(errors) - 1
            reason += f" [+{more} more problem{'s' if more > 1 else ''}]"
        raise ScenarioError(source, path, reason) from None
    header = model.policy
    for key in ("name", "title"):
        if getattr(header, key) is None:
            raise ScenarioError(source, f"policy.{key}", "required key is missing")
    levers: dict[str, tuple[float, str]] = {}
    if "levers" in model.model_fields_set:
        for name, entry in model.levers.model_dump(exclude_unset=True).items():
            levers[name] = (float(entry["value"]), str(entry["source"]))
    events: list[dict[str, Any]] = []
    if "events" in model.model_fields_set:
        events = [_event_record(event) for event in model.events]
        for index, record in enumerate(events):
            _check_event(record, index, source)
    rules: list[dict[str, Any]] = []
    if "rules" in model.model_fields_set:
        rules = [_rule_record(rule) for rule in model.rules]
        for index, record in enumerate(rules):
            check_rule(record, index, source)
        check_rule_names(rules, source)
    return Policy(
        rules=tuple(rules),
        name=header.name,
        title=header.title,
        description=header.description or "",
        source=source,
        start=header.from_,
        levers=levers,
        events=tuple(events),
        text=text,
    )


# ---------------------------------------------------------------------------
# reading


def _policies_dir() -> Traversable:
    return resources.files("lipsteeth").joinpath("policies")


def policy_names() -> list[str]:
    """Names of the policies shipped in ``lipsteeth/policies``."""
    return sorted(
        item.name.removesuffix(".toml")
        for item in _policies_dir().iterdir()
        if item.name.endswith(".toml") and item.is_file()
    )


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ScenarioError(source, "document", "malformed TOML: nested too deeply") from None
    except ValueError as exc:
        message = " ".join(str(exc).split())
        raise ScenarioError(source, "document", f"malformed TOML: {message}") from None


def load_policy_text(text: str, source: str = "<string>") -> Policy:
    """A policy from TOML text (``source`` names it in errors)."""
    if len(text) > MAX_POLICY_BYTES:
        raise ScenarioError(source, "file", f"larger than {MAX_POLICY_BYTES:,} characters")
    return validate_policy(_parse(text, source), source, text)


def load_policy(name_or_path: str | os.PathLike[str]) -> Policy:
    """A shipped policy by name (``"max-pressure"``) or a policy file by path."""
    text_name = str(name_or_path)
    names = policy_names()
    is_path = isinstance(name_or_path, os.PathLike) or text_name.endswith(".toml")
    is_path = is_path or "/" in text_name or "\\" in text_name
    if not is_path and text_name in names:
        source = f"policies/{text_name}.toml"
        text = _policies_dir().joinpath(f"{text_name}.toml").read_text(encoding="utf-8")
        policy = load_policy_text(text, source)
        if policy.name != text_name:
            raise ScenarioError(source, "policy.name", f"must be the file name {text_name!r}")
        return policy
    if not is_path and not Path(text_name).is_file():
        raise ScenarioError(
            text_name,
            "policy",
            f"no shipped policy or file of that name{hint(text_name, names)} "
            f"(shipped: {', '.join(names)})",
        )
    raw = read_regular_file(Path(text_name), text_name, MAX_POLICY_BYTES, "policy file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            text_name, "file", f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    return load_policy_text(text, text_name)


def list_policies() -> list[tuple[str, str]]:
    """``(name, title)`` of every shipped policy, by name."""
    return [(name, load_policy(name).title) for name in policy_names()]


# ---------------------------------------------------------------------------
# applying


def policy_document(scenario_document: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """The scenario document with the policy's levers set and its events appended.

    Pure: no validation (``apply_policy`` validates).  See the module docstring
    for how ``from`` changes what a lever does.
    """
    document: dict[str, Any] = {
        "scenario": dict(scenario_document["scenario"]),
        "parameters": {
            group: {name: dict(entry) for name, entry in entries.items()}
            for group, entries in scenario_document["parameters"].items()
        },
        "levers": {name: dict(entry) for name, entry in scenario_document["levers"].items()},
        "events": [dict(event) for event in scenario_document.get("events", ())],
    }
    header = document["scenario"]
    name = f"{header['name']}.{policy.name}"
    header["name"] = name if len(name) <= 64 else name[:64]
    header["title"] = f"{header.get('title', header['name'])} / policy {policy.title}"[:300]
    added: list[dict[str, Any]] = []
    for lever, (value, source) in policy.levers.items():
        provenance = f"policy {policy.name}: {source}"
        if policy.start is None:
            entry = document["levers"][lever]
            entry["value"] = value
            entry["provenance"] = provenance
            if "range" in entry:
                low, high = entry["range"]
                entry["range"] = [min(low, value), max(high, value)]
        else:
            added.append(
                {
                    "date": policy.start.isoformat(),
                    "kind": "lever",
                    "lever": lever,
                    "value": value,
                    "source": provenance,
                }
            )
    for event in policy.events:
        added.append({**event, "source": f"policy {policy.name}: {event['source']}"})
    document["events"].extend(added)
    rules = [_plain_rule(rule) for rule in scenario_document.get("rules", ())]
    for rule in policy.rules:
        own = _plain_rule(rule)
        own["source"] = f"policy {policy.name}: {rule['source']}"
        if policy.start is not None and "from" not in own:
            own["from"] = policy.start.isoformat()
        rules.append(own)
    if rules:
        document["rules"] = rules
    return document


def apply_policy(scenario: Scenario | Mapping[str, Any], policy: Policy) -> Scenario:
    """The scenario under ``policy``, validated as every scenario is (one-line errors).

    ``scenario`` is a ``Scenario`` or its resolved document (``Scenario.to_dict()``).  A
    scenario's parameter uncertainty (``parameter_draws``) carries over: a policy sets
    levers and events only, so every policy draws the same parameter sets for the same
    seed (common random numbers across policies).
    """
    document: Mapping[str, Any]
    if isinstance(scenario, Scenario):
        document, source_name = scenario.to_dict(), scenario.source
        draws = scenario.parameter_draws
    else:
        document, source_name = scenario, str(scenario["scenario"].get("name"))
        draws = None
    merged = policy_document(document, policy)
    n_before = len(document.get("events", ()))
    n_rules_before = len(document.get("rules", ()))
    try:
        applied = from_document(merged, f"{source_name} + {policy.source}")
    except ScenarioError as exc:
        # an error in an appended event names it in the policy's terms
        path = exc.path
        if path.startswith("events[") and "]" in path:
            index = int(path[len("events[") : path.index("]")])
            if index >= n_before:
                offset = index - n_before - (len(policy.levers) if policy.start else 0)
                where = f"events[{offset}]" if offset >= 0 else "policy.from"
                raise ScenarioError(
                    policy.source, where + path[path.index("]") + 1 :], exc.reason
                ) from None
        if path.startswith("rules[") and "]" in path:
            index = int(path[len("rules[") : path.index("]")])
            if index >= n_rules_before:
                where = f"rules[{index - n_rules_before}]"
                raise ScenarioError(
                    policy.source, where + path[path.index("]") + 1 :], exc.reason
                ) from None
        raise
    if draws is not None:
        applied = dataclasses.replace(applied, parameter_draws=draws)
    return applied
