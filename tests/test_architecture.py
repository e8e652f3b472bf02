"""Layers import inward only (DESIGN.md) and the public API is curated.

core <- scenario <- experiment <- services <- front ends (adapters): ``core``
imports nothing from the other layers and no I/O libraries; ``scenario`` does
not import experiment, services or adapters; ``experiment`` does not import
services or adapters (nor Dask, files or web).  ``services`` (the use cases every
front end shares, ``services.py``) sits between experiment and the front ends: it
writes results through the store (``adapters.store``, file I/O that every front end
uses the same way) but imports no front end (``adapters.cli``, ``adapters.web``),
console, report or web library.  The import graph of ``adapters`` (with
``services``) has no cycle.
"""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import lipsteeth

PACKAGE = Path(lipsteeth.__file__).resolve().parent

FORBIDDEN = {
    "core": {
        "lipsteeth.scenario",
        "lipsteeth.experiment",
        "lipsteeth.services",
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
    "scenario": {
        "lipsteeth.experiment",
        "lipsteeth.services",
        "lipsteeth.adapters",
        "dask",
        "fastapi",
        "typer",
    },
    "experiment": {
        "lipsteeth.services",
        "lipsteeth.adapters",
        "dask",
        "distributed",
        "fastapi",
        "typer",
        "duckdb",
    },
    # the store (adapters.store) is the results folder's I/O, the same for every front end
    "services": {
        "lipsteeth.adapters.cli",
        "lipsteeth.adapters.web",
        "lipsteeth.adapters.console",
        "lipsteeth.adapters.report",
        "lipsteeth.adapters.figures",
        "lipsteeth.adapters.executors_dask",
        "typer",
        "rich",
        "fastapi",
        "uvicorn",
        "dask",
        "distributed",
    },
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


#: the one place the core touches files: where Numba keeps compiled code (keyed by the
#: digest of the core's sources); the model code itself never does I/O
ALLOWED = {"core/jit.py": {"os", "pathlib"}}


def _layer_files(layer: str) -> list[Path]:
    """The modules of a layer: a package folder, or one module (``services.py``)."""
    module = PACKAGE / f"{layer}.py"
    files = [module] if module.is_file() else sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"layer {layer} has no module"
    return files


def test_layers_import_inward_only():
    offences = []
    for layer, forbidden in FORBIDDEN.items():
        for path in _layer_files(layer):
            allowed = ALLOWED.get(str(path.relative_to(PACKAGE)), set())
            for module in imported_modules(path):
                if module in allowed:
                    continue
                if any(module == f or module.startswith(f + ".") for f in forbidden):
                    offences.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not offences, "\n".join(offences)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere in its code.

    Imports inside functions count too: a late import is how a cycle hides
    (``cli`` and ``cli_experiments`` once imported each other that way).
    ``from package import name`` counts as importing the submodule when
    ``name`` is one, else the package itself.
    """
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in modules else source)
    return {module for module in found if module in modules and module != name}


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (module -> modules it imports) as a path, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                return path[path.index(imported) :] + [imported]
            if imported not in state and (cycle := visit(imported)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_import_cycle_finder_finds_a_cycle():
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_adapters_import_graph_has_no_cycle():
    """No module of ``adapters`` (nor ``services``) imports, even late, one that imports it."""
    paths = [*sorted((PACKAGE / "adapters").rglob("*.py")), PACKAGE / "services.py"]
    modules = {_module_name(path) for path in paths}
    assert {"lipsteeth.adapters.cli", "lipsteeth.adapters.cli.run"} <= modules
    graph = {_module_name(path): _package_imports(path, modules) for path in paths}
    assert "lipsteeth.services" in graph["lipsteeth.adapters.cli.run"]
    cycle = import_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


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


# --------------------------------------------------------------------------- the core


CORE = PACKAGE / "core"
MECHANISM_MODULES = sorted(CORE.glob("m[0-9][0-9]_*.py"))

#: numbers a mechanism may write as literals: structure and arithmetic, not model constants
#: (0.5 and 2 map U(0, 1) to U(-1, 1) and give the lognormal mean; 365 days a year;
#: 1e-9 and 1e-30 guard divisions and logs; small integers index and count)
ALLOWED_FLOATS = {0.0, 0.5, 1.0, 2.0, 365.0, 1e-9, 1e-30}
MAX_STRUCTURAL_INT = 16


def _functions(path: Path) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)]


def _is_compiled(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "compiled":
            return True
    return False


def test_each_mechanism_is_defined_once_and_compiled():
    """Every function of a mechanism module is compiled, and no other package module
    defines a function of the same name: the kernel runs the only definition there is."""
    mechanism_functions = {
        function.name: path.name
        for path in MECHANISM_MODULES
        for function in _functions(path)
        if not function.name.startswith("_")
    }
    assert len(mechanism_functions) > 40
    not_compiled = [
        f"{path.name}:{function.name}"
        for path in MECHANISM_MODULES
        for function in _functions(path)
        if not _is_compiled(function)
    ]
    assert not not_compiled, f"mechanism functions not compiled: {not_compiled}"
    definitions: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for function in _functions(path):
            if function.name in mechanism_functions:
                definitions.setdefault(function.name, []).append(str(path.relative_to(PACKAGE)))
    twice = {name: where for name, where in definitions.items() if len(where) > 1}
    assert not twice, f"defined more than once: {twice}"


def test_the_kernel_needs_only_the_core():
    """Importing the kernel (without the package's public API) loads only core modules.

    So the model the kernel runs is defined by ``lipsteeth/core`` alone: no
    other layer contributes an equation.
    """
    code = (
        "import sys, types\n"
        "package = types.ModuleType('lipsteeth')\n"
        f"package.__path__ = [{str(PACKAGE)!r}]\n"
        "sys.modules['lipsteeth'] = package  # the package without its __init__ (public API)\n"
        "import lipsteeth.core.kernel\n"
        "print(sorted(m for m in sys.modules if m.startswith('lipsteeth.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    modules = ast.literal_eval(loaded)
    assert "lipsteeth.core.kernel" in modules
    assert all(m.startswith("lipsteeth.core.") or m == "lipsteeth.core" for m in modules), modules


def test_no_literal_model_constants_in_the_core():
    """Model constants are parameters (``core/params.py``, values with provenance in the
    scenario files), not literals in the code that runs."""
    offences = []
    for path in [*MECHANISM_MODULES, CORE / "kernel.py"]:
        for function in filter(_is_compiled, _functions(path)):
            for node in ast.walk(function):
                if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
                    continue
                value = node.value
                if isinstance(value, float) and value not in ALLOWED_FLOATS:
                    offences.append(f"{path.name}:{node.lineno}: {value}")
                if isinstance(value, int) and value > MAX_STRUCTURAL_INT:
                    offences.append(f"{path.name}:{node.lineno}: {value}")
    assert not offences, offences


def test_every_parameter_is_read_by_the_core():
    """Each parameter of ``core/params.py`` is read by the core's code (none is dead)."""
    from lipsteeth.core.params import PARAM_GROUPS, Levers

    read: set[str] = set()
    for path in [*MECHANISM_MODULES, CORE / "kernel.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                read.add(node.attr)
    declared = {f.name for cls in PARAM_GROUPS.values() for f in dataclasses.fields(cls)}
    declared |= {f.name for f in dataclasses.fields(Levers)}
    # sizes and shares of the population shape the layout (core/state.py), not an equation
    layout_only = {
        "restaurant_sites_max",
        "staff_per_restaurant",
        "restaurant_share_china",
        "restaurant_share_russia",
        "labour_share_china",
        "labour_share_russia",
    }
    unread = sorted(declared - read - layout_only)
    assert not unread, f"parameters or levers no mechanism reads: {unread}"
