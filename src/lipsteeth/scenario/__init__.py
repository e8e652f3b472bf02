"""The scenario boundary: TOML scenario files to validated, frozen ``Scenario`` objects.

A scenario file sets every model parameter and policy lever of
``lipsteeth.core.params`` with its unit, optional uncertainty ``range`` and
provenance, plus dated events (lever changes, forced tests, UN resolutions).
Everything is validated here, against bounds read from the core's field
metadata; every failure is a one-line ``ScenarioError`` naming the source, the
key path and the reason.

>>> from lipsteeth.scenario import load_scenario
>>> scenario = load_scenario("baseline-2016")
>>> scenario.provenance["defection.contagion"].mechanism
'M5'
"""

from __future__ import annotations

from typing import Any

from ._errors import ScenarioError
from ._load import list_scenarios, load_scenario, load_scenario_text
from ._models import json_schema
from ._policy import (
    Policy,
    apply_policy,
    list_policies,
    load_policy,
    load_policy_text,
    policy_names,
)
from ._scenario import (
    ParameterDraws,
    ParameterInfo,
    Scenario,
    check_population,
    check_wider_flow,
    packaged_posterior,
)

__all__ = [
    "ParameterDraws",
    "ParameterInfo",
    "Policy",
    "Scenario",
    "ScenarioError",
    "apply_policy",
    "check_population",
    "check_wider_flow",
    "list_policies",
    "list_scenarios",
    "load_policy",
    "load_policy_text",
    "load_scenario",
    "load_scenario_text",
    "packaged_posterior",
    "policy_names",
    "scenario_schema",
]


def scenario_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the scenario file format.

    Generated from the pydantic models built from ``core.params`` metadata:
    bounds as ``minimum``/``maximum``, units as ``const``, descriptions from
    each field's doc and unit.  Rules spanning several keys (completeness of a
    file without ``extends``, ranges, sizes, shares, horizon) are checked by the
    loader only.
    """
    return json_schema()
