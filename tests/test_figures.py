"""Figures: one drawing function per kind of figure, matplotlib's object API, no pyplot.

The report and the experiment commands draw sensitivity indices, posteriors,
PRIM boxes and validations with the same functions of
``lipsteeth.adapters.figures``; importing that package selects no backend.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lipsteeth
from lipsteeth.adapters import figures as fg
from lipsteeth.adapters.report.experiments import prim_boxes, sensitivity_bars
from lipsteeth.adapters.report.extras import Extra
from lipsteeth.experiment.discovery import Box, DiscoveryResult
from lipsteeth.experiment.sensitivity import Indices

PACKAGE = Path(lipsteeth.__file__).resolve().parent
ADAPTERS = PACKAGE / "adapters"
FIGURES = ADAPTERS / "figures"

#: the kinds of figure that were once drawn twice, the one function that draws each now,
#: and the modules that must call it (the report and the command of the experiment)
SHARED: dict[str, tuple[str, tuple[str, ...]]] = {
    "sensitivity indices": (
        "sensitivity_figure",
        ("report/sections.py", "cli/sensitivity.py"),
    ),
    "posterior": ("posterior_figure", ("report/sections.py", "cli/calibrate.py")),
    "PRIM boxes": ("prim_figure", ("report/sections.py", "cli/discover.py")),
    "validation": ("validation_figure", ("report/sections.py", "cli/validate.py")),
    "NPE certificate": ("certificate_figure", ("report/sections.py", "cli/calibrate.py")),
}
#: the duplicates they replace
GONE = (
    "sobol_tornado",
    "morris_chart",
    "bar_indices_figure",
    "posterior_chart",
    "box_limits_chart",
    "convergence_chart",
    "abc_diagnostics_chart",
    "peeling_chart",
    "diagnostics_chart",
    "diagnostics_figure",
)


def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def _defined(tree: ast.Module) -> set[str]:
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _called(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def _imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_each_figure_kind_is_drawn_by_exactly_one_function() -> None:
    trees = _trees()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lipsteeth.adapters.figures_experiments")
    assert not (ADAPTERS / "report.py").exists() and not (ADAPTERS / "figures.py").exists()
    defined_where: dict[str, list[Path]] = {}
    for path, tree in trees.items():
        for name in _defined(tree):
            defined_where.setdefault(name, []).append(path)
    gone = {name: defined_where[name] for name in GONE if name in defined_where}
    assert not gone, f"old duplicate drawing functions still defined: {gone}"
    for kind, (function, callers) in SHARED.items():
        where = defined_where.get(function, [])
        assert len(where) == 1 and where[0].parent == FIGURES, (kind, where)
        for caller in callers:
            assert function in _called(trees[ADAPTERS / caller]), (kind, caller)


def test_only_the_figures_package_draws() -> None:
    """Outside ``figures/`` matplotlib is used only to bind PNGs into the fallback PDF."""
    users = {
        path.relative_to(PACKAGE).as_posix()
        for path, tree in _trees().items()
        if any(m == "matplotlib" or m.startswith("matplotlib.") for m in _imports(tree))
        and FIGURES not in path.parents
    }
    assert users == {"adapters/report/pdf.py"}


def test_no_pyplot_and_no_backend_selection_in_the_package() -> None:
    for path, tree in _trees().items():
        assert not any("pyplot" in m for m in _imports(tree)), path
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if node.func.attr == "use" and getattr(owner, "id", "") == "matplotlib":
                    raise AssertionError(f"{path}: matplotlib.use(...)")


def test_importing_and_drawing_leave_matplotlib_state_alone() -> None:
    """In a fresh interpreter: import, draw and save; pyplot never loads, no backend is chosen."""
    code = (
        "import sys, matplotlib, numpy as np\n"
        "import lipsteeth.adapters.figures as fg, lipsteeth.adapters.report\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.rcParams._get_backend_or_none() is None\n"
        # dict.items: reading rcParams['backend'] through the mapping would resolve it
        "before = dict(dict.items(matplotlib.rcParams))\n"
        "s = fg.Series('x', 'persons', np.arange(12.0).reshape(3, 4))\n"
        "png = fg.png_bytes(fg.fan_grid('t', np.arange(4.0), [s]))\n"
        "assert png[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.rcParams._get_backend_or_none() is None\n"
        "assert dict(dict.items(matplotlib.rcParams)) == before\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def _sobol_indices() -> Indices:
    names = ("a.x", "a.y", "b.z")
    values = {
        "S1": np.array([0.1, 0.5, 0.02]),
        "S1_conf": np.array([0.02, 0.05, 0.01]),
        "ST": np.array([0.2, 0.7, 0.05]),
        "ST_conf": np.array([0.03, 0.04, 0.02]),
    }
    return Indices("sobol", "revenue_to_state_usd", names, values, 64, 512, "ST")


def test_report_and_command_give_the_same_sensitivity_figure_input(tmp_path: Path) -> None:
    """The command's indices and the table it writes lead to the same bars."""
    indices = _sobol_indices()
    path = tmp_path / "sobol_revenue_to_state_usd.parquet"
    pq.write_table(pa.Table.from_pylist(indices.records()), path)
    extra = Extra("sensitivity", "x", path, pq.read_table(path), {"outcome": indices.outcome})
    (from_table,) = sensitivity_bars(extra)
    from_command = fg.index_bars_of(indices)
    assert from_table.factors == from_command.factors == ("a.y", "a.x", "b.z")
    assert from_table.method == from_command.method == "sobol"
    for key in ("S1", "ST"):
        np.testing.assert_allclose(from_table.values[key], from_command.values[key])
        np.testing.assert_allclose(from_table.errors[key], from_command.errors[key])
    svg = fg.figure_svg(fg.sensitivity_figure(from_command))
    assert "share of the outcome" in svg and "a.y" in svg


def test_report_and_command_give_the_same_prim_boxes(tmp_path: Path) -> None:
    bounds = {"a.x": (0.0, 10.0), "b.z": (-1.0, 1.0)}
    box = Box(1, {"a.x": (2.0, 7.0), "b.z": (0.0, 1.0)}, 0.8, 0.7, 0.2, 100, 30, 5, pd.DataFrame())
    result = DiscoveryResult((box,), "y", 0.5, "above", 100, 30, ("a.x", "b.z"))
    path = tmp_path / "prim_y_gt_0_5_limits.parquet"
    pq.write_table(pa.Table.from_pylist(box.records()), path)
    extra = Extra("discovery", "x", path, pq.read_table(path), {"bounds": bounds})
    from_table = prim_boxes(extra, {})
    from_command = fg.prim_boxes_of(result, bounds)
    assert from_table == from_command
    assert from_command[0].limits == {"a.x": (0.2, 0.7), "b.z": (0.5, 1.0)}


def test_validation_figure_draws_scored_unscored_and_ranges() -> None:
    panel = fg.ValidationPanel(
        series="restaurants_abroad",
        x=np.array([2012.5, 2013.5]),
        p5=np.array([80.0, 90.0]),
        median=np.array([100.0, 110.0]),
        p95=np.array([120.0, 130.0]),
        points=(
            fg.ValidationPoint(2012.5, 100.0, inside=True),
            fg.ValidationPoint(2013.5, None, 60.0, None, inside=False),
            fg.ValidationPoint(2011.5, 130.0),
        ),
        unit="restaurants",
        scores=fg.scores_text(0.1, None, 0.5),
        window=(2012.0, 2014.0),
    )
    fig = fg.validation_figure([panel], title="tiny vs observed")
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_ylim()[0] == 0.0  # counts: the axis starts at zero
    assert "ARD 0.10  MASE -  in band 50%" in ax.get_title(loc="left")
    assert fg.png_bytes(fig)[:4] == b"\x89PNG"


def test_write_png_is_atomic_and_reproducible(tmp_path: Path) -> None:
    def draw() -> bytes:
        fig = fg.sensitivity_figure(fg.index_bars_of(_sobol_indices()))
        return fg.write_png(fig, tmp_path / "sub" / "s.png").read_bytes()

    assert draw() == draw()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["s.png"]  # no temporary left
