"""Layers import inward only (DESIGN.md) and the public API is curated.

core <- scenario <- experiment <- adapters: ``core`` imports nothing from the
other layers and no I/O libraries; ``scenario`` does not import experiment or
adapters; ``experiment`` does not import adapters (nor Dask, files or web).
"""

from __future__ import annotations

import ast
from pathlib import Path

import lipsteeth

PACKAGE = Path(lipsteeth.__file__).resolve().parent

FORBIDDEN = {
    "core": {
        "lipsteeth.scenario",
        "lipsteeth.experiment",
        "lipsteeth.adapters",
        "pydantic",
        "typer",
        "rich",
        "pyarrow",
        "duckdb",
        "matplotlib",
        "dask",
        "distributed",
        "fastapi",
        "logging",
        "os",
        "pathlib",
        "io",
        "json",
        "tomllib",
    },
    "scenario": {"lipsteeth.experiment", "lipsteeth.adapters", "dask", "fastapi", "typer"},
    "experiment": {"lipsteeth.adapters", "dask", "distributed", "fastapi", "typer", "duckdb"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = "lipsteeth." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
    return found


def test_layers_import_inward_only():
    offences = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for module in imported_modules(path):
                if any(module == f or module.startswith(f + ".") for f in forbidden):
                    offences.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not offences, "\n".join(offences)


def test_public_api_is_curated():
    assert sorted(lipsteeth.__all__) == sorted(
        [
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
    )
    for name in lipsteeth.__all__:
        assert hasattr(lipsteeth, name), name
