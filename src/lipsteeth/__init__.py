"""lipsteeth: North Korea's overseas revenue network, defections, and the China-DPRK relationship.

A calibrated simulation of aggregate dynamics on a synthetic population
(SYSTEM.md mechanisms M1-M10).  It never scores or identifies real people.

Public API (checked by tests/test_architecture.py)::

    from lipsteeth import load_scenario, run_scenario, check_facts
    scenario = load_scenario("baseline-2016")
    result = run_scenario(scenario, replicates=20)
    facts = check_facts(scenario, result)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .core.outcomes import OUTCOMES
from .core.params import Levers, Params
from .core.simulate import SimulationResult, simulate
from .experiment.ensemble import run_scenario
from .experiment.facts import FactCheck, check_facts
from .scenario import Scenario, ScenarioError, list_scenarios, load_scenario

try:
    __version__ = version("lipsteeth")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "OUTCOMES",
    "FactCheck",
    "Levers",
    "Params",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "__version__",
    "check_facts",
    "list_scenarios",
    "load_scenario",
    "run_scenario",
    "simulate",
]
