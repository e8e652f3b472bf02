"""Experiment outputs that belong in a run's report: sensitivity, posterior, validation, PRIM.

In the results folder itself: ``validation.json`` (``lipsteeth validate``)
and any ``sensitivity*``, ``posterior*``, ``calibration*``, ``validation*``
and ``prim*`` Parquet tables.  Beside it: the complete experiments of the
same scenario (``experiments/<id>/analysis/*.parquet``, with their manifests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from .files import read_json, read_parquet, safe_name

EXTRA_PATTERNS: dict[str, tuple[str, ...]] = {
    "sensitivity": ("sensitivity*.parquet",),
    "calibration": ("posterior*.parquet", "calibration*.parquet"),
    "validation": ("validation*.parquet",),
    "discovery": ("prim*.parquet",),
}
#: tables of ``lipsteeth robust`` and ``lipsteeth optimize`` experiments (``analysis/``)
ROBUST_TABLES: tuple[str, ...] = ("robust_metrics", "robust_ranking", "robust_prim")
SEARCH_TABLES: tuple[str, ...] = ("pareto", "pareto_robustness")


@dataclass(frozen=True)
class Extra:
    """One experiment output found for a report: a table and what is known around it."""

    family: str  # sensitivity | calibration | validation | discovery
    label: str  # shown as the subsection title
    path: Path
    table: pa.Table | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    slug: str = ""

    def figure_stem(self, prefix: str, suffix: str = "") -> str:
        """A file stem for a figure of this output: ``<prefix>_<slug>`` (once)."""
        slug = safe_name(self.slug or self.path.stem)
        stem = slug if slug.startswith(prefix) else f"{prefix}_{slug}"
        return stem + suffix


def experiment_dirs(folder: Path, scenario_name: str) -> list[tuple[Path, dict[str, Any]]]:
    """Complete experiments of the same scenario next to or inside a results folder.

    ``lipsteeth sweep | sensitivity | calibrate | discover`` write to
    ``<results root>/experiments/<id>/``; a run folder ``<results root>/<run-id>``
    picks up the experiments of its scenario from its root.
    """
    found: list[tuple[Path, dict[str, Any]]] = []
    seen: set[Path] = set()
    for root in (folder / "experiments", folder.parent / "experiments"):
        if not root.is_dir():
            continue
        for manifest_path in sorted(root.glob("*/manifest.json")):
            path = manifest_path.parent.resolve()
            if path in seen:
                continue
            seen.add(path)
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(manifest, dict):
                continue
            if manifest.get("scenario") != scenario_name:
                continue
            if manifest.get("status", "complete") != "complete":
                continue
            found.append((manifest_path.parent, manifest))
    return found


def design_bounds(manifest: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The explored range of every factor of an experiment's design."""
    space = (manifest.get("design") or {}).get("space") or []
    out: dict[str, tuple[float, float]] = {}
    for f in space:
        if isinstance(f, dict) and {"name", "low", "high"} <= set(f):
            out[str(f["name"])] = (float(f["low"]), float(f["high"]))
    return out


def find_extras(folder: Path, scenario_name: str | None = None) -> dict[str, list[Extra]]:
    """Experiment outputs for a results folder, by family (see the module's docstring).

    Without ``scenario_name`` only the folder itself is searched.
    """
    out: dict[str, list[Extra]] = {}

    def add(extra: Extra) -> None:
        out.setdefault(extra.family, []).append(extra)

    for family, patterns in EXTRA_PATTERNS.items():
        for pattern in patterns:
            for path in sorted(folder.glob(pattern)):
                if path.is_file():
                    add(Extra(family, path.name, path, read_parquet(path), slug=path.stem))
    validation_json = folder / "validation.json"
    if validation_json.is_file():
        payload = read_json(validation_json)
        if isinstance(payload.get("series"), dict):
            add(
                Extra("validation", "validation.json", validation_json, None, payload, "validation")
            )
    if scenario_name is None:
        return out
    for path, manifest in experiment_dirs(folder, scenario_name):
        exp = str(manifest.get("experiment") or path.name)
        analysis = path / "analysis"
        policy_analysis = policy_extra(path, manifest)
        if policy_analysis is not None:
            add(policy_analysis)
            continue
        bounds = design_bounds(manifest)
        for table_path in sorted(analysis.glob("*.parquet")):
            stem = table_path.stem
            if stem.endswith(("_convergence", "_trajectory", "_boxes")) or stem == "generations":
                continue
            label = f"experiment {exp}: {stem}"
            if stem.startswith(("sobol_", "morris_")):
                method = stem.split("_", 1)[0]
                report = read_json(path / f"sensitivity_{method}.json")
                outcome = stem.split("_", 1)[1]
                conv = ((report.get("outcomes") or {}).get(outcome) or {}).get("convergence", {})
                meta = {"outcome": outcome, "method": method, "convergence": conv}
                add(
                    Extra(
                        "sensitivity",
                        label,
                        table_path,
                        read_parquet(table_path),
                        meta,
                        f"{stem}_{exp}",
                    )
                )
            elif stem == "posterior":
                summary_path = analysis / "posterior_summary.parquet"
                summary = read_parquet(summary_path) if summary_path.is_file() else None
                meta = {"summary": summary, "manifest": manifest}
                add(
                    Extra(
                        "calibration",
                        label,
                        table_path,
                        read_parquet(table_path),
                        meta,
                        f"posterior_{exp}",
                    )
                )
            elif stem.startswith("prim_") and stem.endswith("_limits"):
                stats_path = analysis / f"{stem.removesuffix('_limits')}_boxes.parquet"
                stats = read_parquet(stats_path) if stats_path.is_file() else None
                meta = {"bounds": bounds, "stats": stats}
                add(
                    Extra(
                        "discovery",
                        label,
                        table_path,
                        read_parquet(table_path),
                        meta,
                        f"{stem.removesuffix('_limits')}_{exp}",
                    )
                )
    return out


def policy_extra(path: Path, manifest: Mapping[str, Any]) -> Extra | None:
    """A ``robust`` or ``optimize`` experiment folder as one report input (None otherwise).

    ``robust``: family ``robustness``, its metrics table with the ranking and PRIM tables
    in ``meta``; ``optimize``: family ``search``, its Pareto set with the set's robustness
    table.  ``meta["summary"]`` is the experiment's ``summary.json``.
    """
    kind = manifest.get("kind")
    analysis = path / "analysis"
    exp = str(manifest.get("experiment") or path.name)
    if kind == "robust":
        names, family, main = ROBUST_TABLES, "robustness", "robust_metrics"
    elif kind == "optimize":
        names, family, main = SEARCH_TABLES, "search", "pareto"
    else:
        return None
    main_path = analysis / f"{main}.parquet"
    if not main_path.is_file():
        return None
    tables = {
        name: read_parquet(analysis / f"{name}.parquet")
        for name in names
        if (analysis / f"{name}.parquet").is_file()
    }
    meta = {"tables": tables, "manifest": manifest, "summary": read_json(path / "summary.json")}
    return Extra(family, f"experiment {exp}", main_path, tables[main], meta, f"{kind}_{exp}")
