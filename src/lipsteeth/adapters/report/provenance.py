"""Every parameter and lever of a run's scenario with its value, range, unit and provenance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _param_meta() -> dict[str, dict[str, Any]]:
    """Mechanism and doc of every parameter and lever, from the core's field metadata."""
    try:
        from ...core.params import PARAM_GROUPS, Levers, field_specs
    except ImportError:  # pragma: no cover - core always present
        return {}
    meta: dict[str, dict[str, Any]] = {}
    for group, cls in PARAM_GROUPS.items():
        for name, spec in field_specs(cls).items():
            meta[f"{group}.{name}"] = spec
    for name, spec in field_specs(Levers).items():
        meta[f"lever.{name}"] = spec
    return meta


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _scenario_row(key: str, kind: str, entry: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    entry = entry if isinstance(entry, dict) else {"value": entry}
    span = entry.get("range")
    return {
        "key": key,
        "kind": kind,
        "value": _value_text(entry.get("value")),
        "range": f"{_value_text(span[0])} - {_value_text(span[1])}" if span else "",
        "unit": entry.get("unit", spec.get("unit", "")),
        "mechanism": spec.get("mech", ""),
        "meaning": spec.get("doc", ""),
        "provenance": entry.get("provenance", ""),
    }


def scenario_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per parameter and lever of a resolved scenario document, with provenance."""
    meta = _param_meta()
    rows: list[dict[str, Any]] = []
    for name, entry in (document.get("levers") or {}).items():
        rows.append(_scenario_row(f"lever.{name}", "lever", entry, meta.get(f"lever.{name}", {})))
    for group, entries in (document.get("parameters") or {}).items():
        for name, entry in entries.items():
            key = f"{group}.{name}"
            rows.append(_scenario_row(key, "parameter", entry, meta.get(key, {})))
    return rows


def scenario_ranges(document: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Declared range of every uncertain parameter (``group.name``) and lever (both names)."""
    ranges: dict[str, tuple[float, float]] = {}
    for group, entries in (document.get("parameters") or {}).items():
        for name, entry in entries.items():
            if isinstance(entry, dict) and "range" in entry:
                ranges[f"{group}.{name}"] = (float(entry["range"][0]), float(entry["range"][1]))
    for name, entry in (document.get("levers") or {}).items():
        if isinstance(entry, dict) and "range" in entry:
            span = (float(entry["range"][0]), float(entry["range"][1]))
            ranges[name] = span
            ranges[f"lever.{name}"] = span
    return ranges


def _action_text(action: Mapping[str, Any]) -> str:
    if "add" in action:
        return f"{action['lever']} {float(action['add']):+.6g}"
    return f"{action['lever']} = {_value_text(float(action['set']))}"


def rule_rows(
    document: Mapping[str, Any], activations: Mapping[int, float] | None = None
) -> list[dict[str, Any]]:
    """One row per conditional policy (``[[rules]]``) of a resolved scenario document.

    ``activations`` (rule index -> mean activations per replicate, from the run's
    events of kind ``conditional_policy``), when given, fills the ``fired`` column.
    """
    rows = []
    for index, rule in enumerate(document.get("rules") or []):
        above = "above" in rule
        test = f"{'>' if above else '<'} {_value_text(rule['above' if above else 'below'])}"
        window = rule.get("window_days", 1)
        span = f"{rule.get('from', 'start')} to {rule.get('until', 'end')}"
        if rule.get("mode", "after") == "after":
            holds = f"{rule['days']} days after firing"
        else:
            holds = "while the condition holds"
        row = {
            "rule": rule["name"],
            "trigger": f"{rule['when']} over {window} day{'s' if window != 1 else ''} {test}",
            "in force": holds,
            "actions": "; ".join(_action_text(a) for a in rule["actions"]),
            "cool-down (days)": rule.get("cooldown_days", 0),
            "cap": rule.get("max_activations", 0) or "none",
            "may fire": span,
            "provenance": rule.get("source", ""),
        }
        if activations is not None:
            row["fired (mean per replicate)"] = f"{activations.get(index, 0.0):.2f}"
        rows.append(row)
    return rows
