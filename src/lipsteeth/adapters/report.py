"""Reports of results folders: one self-contained HTML file, figures as PNG and SVG.

``write_report(folder)`` reads a results folder written by
:mod:`lipsteeth.adapters.store` and writes, inside it::

    report.html                 self-contained: inline CSS and SVG, no script, no fetch
    figures/*.png, *.svg        every figure of the report, for papers

The report holds the run's provenance, the facts F1-F9 table, the ledger
checks, fan charts of every outcome (observed data from ``data/`` overlaid
where a series exists), the flow of people, the group-size distribution of
flight attempts, the revenue decomposition, any experiment outputs found in
the folder (``sensitivity*.parquet``, ``posterior*.parquet``,
``validation*.parquet``, ``prim*.parquet``) and the scenario with every
parameter, its value, range, unit, mechanism and provenance.

``write_comparison(a, b)`` writes a report of two runs side by side with the
difference of every outcome and its uncertainty: paired per replicate when
both runs used the same seed and replicates (common random numbers), else
from independent draws, with bootstrap confidence intervals of the
difference of medians.

``--format pdf`` prints the HTML with headless Chromium when it is
installed (``scripts/install_chromium.sh``); otherwise the figures and the
facts are written to a multi-page PDF with matplotlib.
"""

from __future__ import annotations

import csv
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.outcomes import OUTCOMES
from . import figures as fg
from . import figures_npe, npe_results

REPORT_FILE = "report.html"
REPORT_PDF = "report.pdf"
FIGURES_DIR = "figures"
EXTRA_PATTERNS: dict[str, tuple[str, ...]] = {
    "sensitivity": ("sensitivity*.parquet",),
    "calibration": ("posterior*.parquet", "calibration*.parquet"),
    "validation": ("validation*.parquet",),
    "discovery": ("prim*.parquet",),
}
MAX_TABLE_ROWS = 200
#: outcomes drawn in comparison charts (the comparison table has every outcome)
COMPARE_OUTCOMES: tuple[str, ...] = (
    "revenue_to_state_usd",
    "remittance_restaurants_usd",
    "workers_abroad",
    "restaurants_open",
    "pay_level_restaurant",
    "restaurant_defectors",
    "escapes_legal_route",
    "escapes_clandestine_route",
    "arrivals_south_korea",
    "repatriations_from_china",
    "restaurant_closures",
    "provocations",
    "relations_index",
)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

Format = Literal["html", "pdf"]

#: outcome groups of the fan charts (names not listed fall into "other outcomes")
CATEGORIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "money",
        "Money: revenue, remittances, pay and hours (M1, M3)",
        (
            "revenue_to_state_usd",
            "remittance_restaurants_usd",
            "remittance_labour_usd",
            "restaurant_sales_usd",
            "restaurant_costs_usd",
            "restaurant_wages_usd",
            "restaurant_retained_usd",
            "labour_fees_usd",
            "labour_costs_usd",
            "labour_wages_usd",
            "labour_retained_usd",
            "restaurant_arrears_usd",
            "pay_level_restaurant",
            "hours_restaurant",
            "salary_suspended_restaurants",
            "stress_restaurant",
            "stress_labour",
        ),
    ),
    (
        "people",
        "People abroad, restaurants and control (M1, M4, M8)",
        (
            "workers_abroad",
            "workers_restaurant",
            "workers_labour",
            "restaurants_open",
            "hires",
            "rotations_home",
            "recalls",
            "restaurant_openings",
            "restaurant_closures",
            "closures_after_attempts",
            "surveillance_level",
            "screening_level",
        ),
    ),
    (
        "defections",
        "Defections and routes (M5, M6)",
        (
            "attempts_restaurant",
            "attempts_labour",
            "restaurant_defectors",
            "labour_defectors",
            "defection_groups_restaurant",
            "defection_groups_labour",
            "manager_led_groups",
            "foiled_at_site",
            "stopped_at_exit",
            "caught_in_transit",
            "escapes_legal_route",
            "escapes_clandestine_route",
            "broker_fees_usd",
        ),
    ),
    (
        "enforcement",
        "Arrivals, enforcement and the wider flow (M6, M7, M10)",
        (
            "arrivals_south_korea",
            "arrivals_from_postings",
            "border_crossings",
            "hidden_in_china",
            "arrests_china",
            "arrests_hidden",
            "brokered_intercepted",
            "repatriations_from_china",
            "repatriations_other_hosts",
            "repatriated_severe_punishment",
            "broker_departures",
            "returns_home",
        ),
    ),
    (
        "strategic",
        "The strategic layer: tests, sanctions, aid, relations (M9)",
        (
            "missile_tests",
            "nuclear_tests",
            "provocations",
            "un_resolutions",
            "envoys",
            "relations_index",
            "displeasure",
            "economy_index",
            "exit_strictness",
            "border_stringency",
            "china_sanctions",
            "food_aid",
            "travel_advisory",
            "un_workers_level",
            "trade_loss",
        ),
    ),
)


class ReportError(Exception):
    """A report cannot be made (one-line message)."""


# ---------------------------------------------------------------------------
# reading a results folder


def _kind(name: str) -> str:
    spec = OUTCOMES.get(name)
    return spec.kind if spec is not None else "mean"


def _unit(name: str) -> str:
    spec = OUTCOMES.get(name)
    return spec.unit if spec is not None else ""


def _unit_label(name: str, period: str) -> str:
    """The unit of an outcome, with " per year" (or month) for flows."""
    unit = _unit(name)
    return f"{unit}{period}" if _kind(name) == "flow" else unit


def _doc(name: str) -> str:
    spec = OUTCOMES.get(name)
    return spec.doc if spec is not None else ""


def _pivot(
    table: pa.Table, time_column: str
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, np.ndarray]:
    """Tidy (replicate, time, variable, value) to replicates, names, times and (R, V, T)."""
    rep = np.asarray(table.column("replicate").to_numpy(), dtype=np.int64)
    var = np.asarray(table.column("variable").cast(pa.string()).to_numpy(zero_copy_only=False))
    times = table.column(time_column).to_numpy()
    if time_column == "period":
        times = np.asarray(times).astype("datetime64[M]")
    else:
        times = np.asarray(times, dtype=np.int64)
    values = np.asarray(table.column("value").to_numpy(), dtype=float)
    reps, ri = np.unique(rep, return_inverse=True)
    names, vi = np.unique(var.astype(str), return_inverse=True)
    uniq_t, ti = np.unique(times, return_inverse=True)
    block = np.full((reps.size, names.size, uniq_t.size), np.nan)
    block[ri, vi, ti] = values
    return reps, tuple(str(n) for n in names), uniq_t, block


@dataclass
class Results:
    """A results folder in memory: outcomes (R, V, T) by month and year, events, extras."""

    folder: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    replicates: np.ndarray
    names: tuple[str, ...]
    months: np.ndarray  # datetime64[M]
    monthly: np.ndarray  # (R, V, M)
    years: np.ndarray  # int
    yearly: np.ndarray  # (R, V, Y)
    events: dict[str, np.ndarray]
    extras: dict[str, list[Extra]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Scenario name and run id."""
        return str(self.manifest.get("run_id") or self.manifest.get("scenario_name") or "run")

    @property
    def scenario_name(self) -> str:
        return str(self.manifest.get("scenario_name", "?"))

    @property
    def n_days(self) -> int:
        horizon = self.manifest.get("horizon", {})
        return int(horizon.get("days", 0) or 0)

    def has(self, name: str) -> bool:
        return name in self.names

    def resolution(self) -> Literal["year", "month"]:
        """Years when the run covers at least three calendar years, else months."""
        return "year" if self.years.size >= 3 else "month"

    def x(self, resolution: str) -> np.ndarray:
        """Float x positions: calendar years, or mid-month as fractional years."""
        if resolution == "year":
            return self.years.astype(float)
        m = self.months.astype("datetime64[M]").astype(np.int64)
        return 1970 + m // 12 + (m % 12) / 12.0 + 1 / 24.0

    def series(self, name: str, resolution: str) -> np.ndarray:
        """(R, T) values of an outcome by month or year."""
        block = self.yearly if resolution == "year" else self.monthly
        return block[:, self.names.index(name), :]

    def total(self, name: str) -> np.ndarray:
        """(R,) whole-run value: flows summed, stocks at the end, means averaged."""
        values = self.monthly[:, self.names.index(name), :]
        kind = _kind(name)
        if kind == "flow":
            return np.nansum(values, axis=1)
        if kind == "stock":
            return values[:, -1]
        return np.nanmean(values, axis=1)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"{path}: cannot read Parquet: {exc}") from None


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
        slug = _safe(self.slug or self.path.stem)
        stem = slug if slug.startswith(prefix) else f"{prefix}_{slug}"
        return stem + suffix


def _experiment_dirs(folder: Path, scenario_name: str) -> list[tuple[Path, dict[str, Any]]]:
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


def _design_bounds(manifest: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    space = (manifest.get("design") or {}).get("space") or []
    out: dict[str, tuple[float, float]] = {}
    for f in space:
        if isinstance(f, dict) and {"name", "low", "high"} <= set(f):
            out[str(f["name"])] = (float(f["low"]), float(f["high"]))
    return out


def find_extras(folder: Path, scenario_name: str | None = None) -> dict[str, list[Extra]]:
    """Experiment outputs for a results folder, by family.

    In the folder itself: ``validation.json`` (``lipsteeth validate``) and any
    ``sensitivity*``, ``posterior*``, ``calibration*``, ``validation*`` and
    ``prim*`` Parquet tables.  Beside it: the complete experiments of the same
    scenario (``experiments/<id>/analysis/*.parquet``, with their manifests).
    """
    out: dict[str, list[Extra]] = {}

    def add(extra: Extra) -> None:
        out.setdefault(extra.family, []).append(extra)

    for family, patterns in EXTRA_PATTERNS.items():
        for pattern in patterns:
            for path in sorted(folder.glob(pattern)):
                if path.is_file():
                    add(Extra(family, path.name, path, _read_parquet(path), slug=path.stem))
    validation_json = folder / "validation.json"
    if validation_json.is_file():
        payload = _read_json(validation_json)
        if isinstance(payload.get("series"), dict):
            add(
                Extra("validation", "validation.json", validation_json, None, payload, "validation")
            )
    if scenario_name is None:
        return out
    for path, manifest in _experiment_dirs(folder, scenario_name):
        exp = str(manifest.get("experiment") or path.name)
        analysis = path / "analysis"
        bounds = _design_bounds(manifest)
        for table_path in sorted(analysis.glob("*.parquet")):
            stem = table_path.stem
            if stem.endswith(("_convergence", "_trajectory", "_boxes")) or stem == "generations":
                continue
            label = f"experiment {exp}: {stem}"
            if stem.startswith(("sobol_", "morris_")):
                method = stem.split("_", 1)[0]
                report = _read_json(path / f"sensitivity_{method}.json")
                outcome = stem.split("_", 1)[1]
                conv = ((report.get("outcomes") or {}).get(outcome) or {}).get("convergence", {})
                meta = {"outcome": outcome, "method": method, "convergence": conv}
                add(
                    Extra(
                        "sensitivity",
                        label,
                        table_path,
                        _read_parquet(table_path),
                        meta,
                        f"{stem}_{exp}",
                    )
                )
            elif stem == "posterior":
                summary_path = analysis / "posterior_summary.parquet"
                summary = _read_parquet(summary_path) if summary_path.is_file() else None
                meta = {"summary": summary, "manifest": manifest}
                add(
                    Extra(
                        "calibration",
                        label,
                        table_path,
                        _read_parquet(table_path),
                        meta,
                        f"posterior_{exp}",
                    )
                )
            elif stem.startswith("prim_") and stem.endswith("_limits"):
                stats_path = analysis / f"{stem.removesuffix('_limits')}_boxes.parquet"
                stats = _read_parquet(stats_path) if stats_path.is_file() else None
                meta = {"bounds": bounds, "stats": stats}
                add(
                    Extra(
                        "discovery",
                        label,
                        table_path,
                        _read_parquet(table_path),
                        meta,
                        f"{stem.removesuffix('_limits')}_{exp}",
                    )
                )
    return out


def load_results(folder: str | Path) -> Results:
    """Read a results folder (outcomes, events, manifest, summary, experiment outputs)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such results folder")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ReportError(f"{folder}: not a results folder (no manifest.json)")
    manifest = _read_json(manifest_path)
    summary = _read_json(folder / "summary.json")
    monthly_path = folder / "outcomes.parquet"
    if not monthly_path.is_file():
        raise ReportError(f"{folder}: not a results folder (no outcomes.parquet)")
    reps, names, months, monthly = _pivot(_read_parquet(monthly_path), "period")
    yearly_path = folder / "outcomes_yearly.parquet"
    if yearly_path.is_file():
        reps_y, names_y, years, yearly = _pivot(_read_parquet(yearly_path), "year")
        order = [names_y.index(n) for n in names]
        yearly = yearly[:, order, :]
    else:
        years = np.unique(months.astype("datetime64[Y]").astype(np.int64) + 1970)
        yearly = _to_years(monthly, months, names, years)
    events: dict[str, np.ndarray] = {}
    events_path = folder / "events.parquet"
    if events_path.is_file():
        table = _read_parquet(events_path)
        for column in table.column_names:
            events[column] = np.asarray(table.column(column).to_numpy(zero_copy_only=False))
    return Results(
        folder=folder,
        manifest=manifest,
        summary=summary,
        replicates=reps,
        names=names,
        months=months,
        monthly=monthly,
        years=np.asarray(years, dtype=np.int64),
        yearly=yearly,
        events=events,
        extras=find_extras(folder, str(manifest.get("scenario_name") or "") or None),
    )


def _to_years(
    monthly: np.ndarray, months: np.ndarray, names: Sequence[str], years: np.ndarray
) -> np.ndarray:
    month_years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    out = np.zeros(monthly.shape[:2] + (years.size,))
    for j, y in enumerate(years):
        block = monthly[:, :, month_years == y]
        for i, name in enumerate(names):
            kind = _kind(name)
            if kind == "flow":
                out[:, i, j] = block[:, i].sum(axis=1)
            elif kind == "stock":
                out[:, i, j] = block[:, i, -1]
            else:
                out[:, i, j] = block[:, i].mean(axis=1)
    return out


# ---------------------------------------------------------------------------
# observed data (shipped in lipsteeth/data) for overlays


def _data_rows(name: str) -> list[dict[str, str]]:
    try:
        text = (resources.files("lipsteeth") / "data" / name).read_text(encoding="utf-8")
    except (OSError, FileNotFoundError):
        return []
    return list(csv.DictReader(text.splitlines()))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def observed_yearly() -> dict[str, fg.Observed]:
    """Observed yearly series in ``data/`` that match a model outcome."""
    out: dict[str, fg.Observed] = {}
    arrivals = [
        (int(r["period"]), _number(r["value_total"]))
        for r in _data_rows("01_defector_arrivals_south_korea.csv")
        if re.fullmatch(r"\d{4}", r.get("period", "").strip())
    ]
    arrivals = [(y, v) for y, v in arrivals if v is not None]
    if arrivals:
        out["arrivals_south_korea"] = fg.Observed(
            "observed (01_defector_arrivals)",
            np.array([y for y, _ in arrivals], dtype=float),
            np.array([v for _, v in arrivals], dtype=float),
        )
    missiles = [
        (int(r["year"]), _number(r.get("cns_missile_tests")))
        for r in _data_rows("06b_missile_tests_per_year.csv")
        if re.fullmatch(r"\d{4}", r.get("year", "").strip())
    ]
    missiles = [(y, v) for y, v in missiles if v is not None]
    if missiles:
        out["missile_tests"] = fg.Observed(
            "observed (06b CNS)",
            np.array([y for y, _ in missiles], dtype=float),
            np.array([v for _, v in missiles], dtype=float),
        )
    test_years = [r.get("date", "")[:4] for r in _data_rows("06a_nuclear_tests.csv")]
    tests = [int(y) for y in test_years if y.isdigit()]
    if tests:
        span = np.arange(min(tests), max(tests) + 1)
        counts = np.array([tests.count(int(y)) for y in span], dtype=float)
        out["nuclear_tests"] = fg.Observed("observed (06a)", span.astype(float), counts)
    restaurants = []
    for r in _data_rows("03_restaurants_abroad.csv"):
        if r.get("metric") != "restaurants_count" or "worldwide" not in r.get("scope", ""):
            continue
        year = re.search(r"(\d{4})", r.get("year", ""))
        value = _number(r.get("value"))
        if year and value is not None:
            restaurants.append((int(year.group(1)), value))
    if restaurants:
        out["restaurants_open"] = fg.Observed(
            "observed (03, worldwide)",
            np.array([y for y, _ in restaurants], dtype=float),
            np.array([v for _, v in restaurants], dtype=float),
        )
    return out


def _clip_observed(obs: fg.Observed, x: np.ndarray) -> fg.Observed | None:
    if x.size == 0:
        return None
    keep = (obs.x >= x.min() - 0.5) & (obs.x <= x.max() + 0.5)
    if not keep.any():
        return None
    return fg.Observed(obs.label, obs.x[keep], obs.y[keep])


# ---------------------------------------------------------------------------
# derived tables


@dataclass(frozen=True)
class Stat:
    """Mean, median and 90 % band over replicates."""

    mean: float
    median: float
    p5: float
    p95: float

    @classmethod
    def of(cls, values: np.ndarray) -> Stat:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(math.nan, math.nan, math.nan, math.nan)
        q5, q50, q95 = np.quantile(v, [0.05, 0.5, 0.95])
        return cls(float(v.mean()), float(q50), float(q5), float(q95))

    def text(self, unit: str = "") -> str:
        return (
            f"{fg.compact(self.median, unit)} "
            f"[{fg.compact(self.p5, unit)}, {fg.compact(self.p95, unit)}]"
        )


def _per_replicate(res: Results, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    position = {int(r): i for i, r in enumerate(res.replicates)}
    out = np.zeros(res.replicates.size)
    for r, w in zip(rows, weights, strict=True):
        i = position.get(int(r))
        if i is not None:
            out[i] += float(w)
    return out


def _groups(res: Results) -> dict[str, np.ndarray]:
    ev = res.events
    if not ev or "kind" not in ev:
        return {}
    sel = ev["kind"].astype(str) == "defection_group"
    return {k: v[sel] for k, v in ev.items()}


@dataclass(frozen=True)
class PeopleFlow:
    """Nodes and links of the flow of people, with per-node statistics."""

    nodes: list[fg.FlowNode]
    links: list[fg.FlowLink]
    stats: dict[str, Stat]


def people_flow(res: Results) -> PeopleFlow:
    """Workers -> attempts -> foiled, caught or escaped by route -> arrived in South Korea."""
    g = _groups(res)
    n_rep = res.replicates.size
    zeros = np.zeros(n_rep)
    posted = zeros.copy()
    if res.has("workers_abroad"):
        posted = posted + res.monthly[:, res.names.index("workers_abroad"), 0]
    if res.has("hires"):
        posted = posted + res.total("hires")

    def persons(mask: np.ndarray) -> np.ndarray:
        if not g:
            return zeros.copy()
        return _per_replicate(res, g["replicate"][mask], g["size"][mask])

    if g:
        sector = g["sector"].astype(str)
        outcome = g["outcome"].astype(str)
        route = g["route"].astype(str)
        arrival = g["arrival_day"].astype(np.int64)
        horizon = res.n_days or int(1e12)
    else:
        sector = outcome = route = np.array([], dtype=str)
        arrival = np.array([], dtype=np.int64)
        horizon = 0
    per: dict[str, np.ndarray] = {"posted": posted}
    for s in ("restaurant", "labour"):
        per[f"attempt_{s}"] = persons(sector == s)
    attempted = per["attempt_restaurant"] + per["attempt_labour"]
    per["stayed"] = np.maximum(posted - attempted, 0.0)
    per["foiled"] = persons(outcome == "foiled")
    per["caught_exit"] = persons(outcome == "stopped_at_exit")
    per["caught_transit"] = persons(outcome == "caught_in_transit")
    per["escaped_legal"] = persons((outcome == "escaped") & (route == "legal"))
    per["escaped_clandestine"] = persons((outcome == "escaped") & (route == "clandestine"))
    escaped = outcome == "escaped"
    per["arrived"] = persons(escaped & (arrival >= 0) & (arrival < horizon))
    per["in_transit"] = persons(escaped & ((arrival < 0) | (arrival >= horizon)))
    per["repatriated"] = per["caught_exit"] + per["caught_transit"]
    stats = {k: Stat.of(v) for k, v in per.items()}

    def node(key: str, label: str, column: int, color: str) -> fg.FlowNode:
        st = stats[key]
        note = f"median {fg.compact(st.median)} [{fg.compact(st.p5)}-{fg.compact(st.p95)}]"
        return fg.FlowNode(key, label, column, st.mean, note, color)

    nodes = [
        node("posted", "in postings (start + hires)", 0, "#8aa6c8"),
        node("stayed", "did not try to flee", 1, "#c9d5e3"),
        node("attempt_restaurant", "tried to flee: restaurants", 1, "#e3a857"),
        node("attempt_labour", "tried to flee: labour sites", 1, "#d4b483"),
        node("foiled", "foiled at the site", 2, "#7d4b9a"),
        node("caught_exit", "stopped at China's exit check", 2, "#c8501e"),
        node("caught_transit", "caught on the broker route", 2, "#e07b39"),
        node("escaped_legal", "escaped: legal route", 2, "#3b8f4c"),
        node("escaped_clandestine", "escaped: broker route", 2, "#6dbb6f"),
        node("repatriated", "arrested and repatriated", 3, "#a23b2a"),
        node("arrived", "arrived in South Korea", 3, "#1f5fa8"),
        node("in_transit", "still in transit at the end", 3, "#9ab7d3"),
    ]
    links: list[fg.FlowLink] = []

    def link(src: str, dst: str, values: np.ndarray) -> None:
        mean = float(np.mean(values)) if values.size else 0.0
        if mean > 0:
            links.append(fg.FlowLink(src, dst, mean))

    link("posted", "stayed", per["stayed"])
    for s in ("restaurant", "labour"):
        link("posted", f"attempt_{s}", per[f"attempt_{s}"])
        for key, mask in (
            ("foiled", outcome == "foiled"),
            ("caught_exit", outcome == "stopped_at_exit"),
            ("caught_transit", outcome == "caught_in_transit"),
            ("escaped_legal", (outcome == "escaped") & (route == "legal")),
            ("escaped_clandestine", (outcome == "escaped") & (route == "clandestine")),
        ):
            link(f"attempt_{s}", key, persons((sector == s) & mask))
    link("caught_exit", "repatriated", per["caught_exit"])
    link("caught_transit", "repatriated", per["caught_transit"])
    for key, r in (("escaped_legal", "legal"), ("escaped_clandestine", "clandestine")):
        sel = escaped & (route == r)
        link(key, "arrived", persons(sel & (arrival >= 0) & (arrival < horizon)))
        link(key, "in_transit", persons(sel & ((arrival < 0) | (arrival >= horizon))))
    return PeopleFlow(nodes, links, stats)


@dataclass(frozen=True)
class GroupSizes:
    """Groups per replicate by sector, size and outcome, and summary shares."""

    panels: list[tuple[str, np.ndarray, dict[str, np.ndarray]]]
    rows: list[dict[str, Any]]
    note: str


def group_sizes(res: Results) -> GroupSizes:
    """The group-size distribution of flight attempts, per sector, stacked by outcome."""
    g = _groups(res)
    n_rep = max(1, res.replicates.size)
    panels: list[tuple[str, np.ndarray, dict[str, np.ndarray]]] = []
    rows: list[dict[str, Any]] = []
    if not g:
        return GroupSizes([], [], "no flight attempts in this run")
    size = g["size"].astype(np.int64)
    outcome = g["outcome"].astype(str)
    sector = g["sector"].astype(str)
    manager = g["manager_led"].astype(bool)
    order = ("escaped", "stopped_at_exit", "caught_in_transit", "foiled")
    for s in ("restaurant", "labour"):
        sel = sector == s
        if not sel.any():
            panels.append((f"{s} groups", np.array([], dtype=int), {}))
            continue
        sizes = np.arange(1, int(size[sel].max()) + 1)
        stacks: dict[str, np.ndarray] = {}
        for o in (*order, *sorted(set(outcome[sel]) - set(order))):
            m = sel & (outcome == o)
            if m.any():
                stacks[o] = np.bincount(size[m], minlength=sizes.size + 1)[1:] / n_rep
        panels.append((f"{s} groups", sizes, stacks))
        for k in sizes:
            m = sel & (size == k)
            if not m.any():
                continue
            rows.append(
                {
                    "sector": s,
                    "size": int(k),
                    "groups per replicate": float(m.sum() / n_rep),
                    "escaped": float((m & (outcome == "escaped")).sum() / n_rep),
                    "manager-led share": float(manager[m].mean()),
                }
            )
    rest = sector == "restaurant"
    esc = rest & (outcome == "escaped")
    persons_total = float(size[esc].sum())
    grouped = float(size[esc & (size >= 2)].sum())
    share = grouped / persons_total if persons_total > 0 else math.nan
    led = float(manager[rest].mean()) if rest.any() else math.nan
    note = (
        f"Restaurant defectors who escaped in groups of 2+: "
        f"{'n/a' if math.isnan(share) else f'{share:.0%}'}; "
        f"restaurant attempts led by a manager: {'n/a' if math.isnan(led) else f'{led:.0%}'}"
    )
    return GroupSizes(panels, rows, note)


REVENUE_PANELS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Restaurants: where a dollar of sales goes",
        "restaurant_sales_usd",
        "sales",
        (
            ("remitted to Pyongyang", "remittance_restaurants_usd"),
            ("wages", "restaurant_wages_usd"),
            ("food, supplies, rent", "restaurant_costs_usd"),
            ("kept (reserves)", "restaurant_retained_usd"),
        ),
    ),
    (
        "Labour sites: where a dollar of fees goes",
        "labour_fees_usd",
        "contract fees",
        (
            ("remitted to Pyongyang", "remittance_labour_usd"),
            ("wages kept by labourers", "labour_wages_usd"),
            ("living costs", "labour_costs_usd"),
            ("kept (reserves)", "labour_retained_usd"),
        ),
    ),
    (
        "Revenue to the state by source",
        "revenue_to_state_usd",
        "revenue to the state",
        (
            ("restaurants", "remittance_restaurants_usd"),
            ("labour sites", "remittance_labour_usd"),
        ),
    ),
)


def revenue_panels(
    res: Results,
) -> list[tuple[str, str, np.ndarray, dict[str, np.ndarray]]]:
    """Yearly means over replicates of gross income and its parts (the parts add up)."""
    panels = []
    for title, gross, gross_label, parts in REVENUE_PANELS:
        if not res.has(gross) or not all(res.has(n) for _, n in parts):
            continue
        mean = res.yearly.mean(axis=0)
        panels.append(
            (
                title,
                gross_label,
                mean[res.names.index(gross)],
                {label: mean[res.names.index(n)] for label, n in parts},
            )
        )
    return panels


# ---------------------------------------------------------------------------
# HTML helpers


def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape("" if value is None else str(value), quote=True)


_URL = re.compile(r"(https?://[^\s;,'\"<>)]+)")


def linkify(text: Any) -> str:
    """Escaped text with URLs as links (links are not fetched when the page is viewed)."""
    parts = _URL.split("" if text is None else str(text))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f'<a href="{esc(part)}" rel="noreferrer noopener">{esc(part)}</a>')
        else:
            out.append(esc(part))
    return "".join(out)


def fmt_cell(value: Any) -> str:
    """A table cell: numbers compact, None as n/a, the rest escaped."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "n/a" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e7):
            return f"{v:.3g}"
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return linkify(value)


def html_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    css: str = "",
    row_class: Any = None,
    raw: Iterable[str] = (),
) -> str:
    """An HTML table of dict rows (cells escaped unless their column is in ``raw``)."""
    if not rows:
        return '<p class="muted">(none)</p>'
    cols = list(columns or rows[0].keys())
    raw_cols = set(raw)
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = []
    for row in rows:
        cls = row_class(row) if row_class else ""
        cells = "".join(
            f"<td>{row.get(c, '')}</td>" if c in raw_cols else f"<td>{fmt_cell(row.get(c))}</td>"
            for c in cols
        )
        body.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="{esc(css)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def arrow_rows(table: pa.Table, limit: int = MAX_TABLE_ROWS) -> list[dict[str, Any]]:
    """The first ``limit`` rows of an Arrow table as dicts."""
    return table.slice(0, limit).to_pylist()


STYLE = """
:root { --fg:#1d2330; --muted:#5d6675; --line:#d9dee7; --ok:#e4f3e6; --bad:#fbe3df;
        --accent:#1f5fa8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; padding: 0 2rem 4rem; max-width: 1280px; }
header { border-bottom: 3px solid var(--accent); padding: 1.2rem 0 0.8rem; margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 .6rem; border-bottom: 1px solid var(--line);
     padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.muted, .note { color: var(--muted); }
.note { font-size: .9rem; }
nav ol { columns: 3; font-size: .92rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .86rem; }
th, td { border: 1px solid var(--line); padding: .25rem .45rem; text-align: left;
         vertical-align: top; }
th { background: #f3f5f9; position: sticky; top: 0; }
td.num, th.num { text-align: right; }
tr.ok td.status { background: var(--ok); }
tr.bad td.status { background: var(--bad); }
tr.ok { } tr.bad { }
.status { font-weight: 600; white-space: nowrap; }
figure { margin: .6rem 0 1.4rem; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .88rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
details { margin: .4rem 0; }
summary { cursor: pointer; font-weight: 600; }
code { font-size: .9em; background: #f3f5f9; padding: 0 .2em; border-radius: 3px; }
.pill { display:inline-block; padding: 0 .5em; border-radius: 1em; font-size: .85em; }
.pill.ok { background: var(--ok); } .pill.bad { background: var(--bad); }
@media print { nav { display: none; } h2 { break-before: page; } figure { break-inside: avoid; } }
"""


def html_page(title: str, body: str) -> str:
    """A complete HTML document with the report style; nothing is loaded from elsewhere."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def figure_html(files: fg.FigureFiles, caption: str, folder: Path) -> str:
    """An inline SVG figure with a caption naming its PNG and SVG files."""
    png = files.png.relative_to(folder) if files.png.is_relative_to(folder) else files.png
    svg = files.svg.relative_to(folder) if files.svg.is_relative_to(folder) else files.svg
    return (
        f'<figure id="fig-{esc(files.stem)}">{files.svg_text}'
        f'<figcaption>{esc(caption)} <span class="muted">(files: <code>{esc(png)}</code>, '
        f"<code>{esc(svg)}</code>)</span></figcaption></figure>"
    )


# ---------------------------------------------------------------------------
# sections of the single-run report


@dataclass
class _Builder:
    res: Results
    out_dir: Path
    figures_dir: Path
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # id, title, html
    written: list[fg.FigureFiles] = field(default_factory=list)

    def figure(self, fig: Any, stem: str, caption: str) -> str:
        files = fg.save_figure(fig, self.figures_dir, stem)
        self.written.append(files)
        return figure_html(files, caption, self.out_dir)

    def add(self, sid: str, title: str, body: str) -> None:
        self.sections.append((sid, title, body))


def _header_html(res: Results, title: str) -> str:
    m = res.manifest
    horizon = m.get("horizon", {})
    versions = m.get("versions", {})
    scenario = m.get("scenario", {}).get("scenario", {})
    items = [
        ("scenario", f"{m.get('scenario_name', '?')}: {scenario.get('title', '')}"),
        ("run", m.get("run_id", "")),
        ("created", m.get("created", "")),
        (
            "horizon",
            f"{horizon.get('start', '?')} to {horizon.get('end', '?')} "
            f"({horizon.get('days', '?')} days)",
        ),
        ("replicates", f"{res.replicates.size} (seed {m.get('seed', '?')})"),
        ("command", " ".join(str(a) for a in m.get("command_line", []))),
        ("wall time", f"{m.get('wall_time_s', '?')} s"),
        (
            "versions",
            ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None),
        ),
        ("results folder", str(res.folder)),
    ]
    meta = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return (
        f"<header><h1>{esc(title)}</h1>"
        f'<p class="muted">{esc(scenario.get("description", ""))}</p>'
        f'<dl class="meta">{meta}</dl>'
        '<p class="note">Aggregate dynamics of a synthetic population: the model scores and '
        "identifies no real person. Bands are quantiles over replicates: the median, the "
        "50 % band (25-75 %) and the 90 % band (5-95 %).</p></header>"
    )


def _facts_html(res: Results) -> str:
    facts = res.manifest.get("facts") or []
    if not facts:
        return (
            '<p class="muted">The facts F1-F9 were not checked for this run (they need a run '
            "of the default period 2012-2020).</p>"
        )
    rows = []
    for f in facts:
        ok = bool(f.get("consistent"))
        rows.append(
            {
                "id": f.get("id"),
                "fact": f.get("statement"),
                "statistic": f.get("statistic"),
                "target": f.get("target"),
                "median": f.get("median"),
                "5 %": f.get("p5"),
                "95 %": f.get("p95"),
                "unit": f.get("unit"),
                "status": "consistent" if ok else "NOT consistent",
                "source": f.get("source"),
                "_ok": ok,
            }
        )
    n_ok = sum(r["_ok"] for r in rows)
    table = (
        html_table(
            rows,
            [
                "id",
                "fact",
                "statistic",
                "target",
                "median",
                "5 %",
                "95 %",
                "unit",
                "status",
                "source",
            ],
            css="facts",
            row_class=lambda r: "ok" if r["_ok"] else "bad",
        )
        .replace("<td>consistent</td>", '<td class="status">consistent</td>')
        .replace("<td>NOT consistent</td>", '<td class="status">NOT consistent</td>')
    )
    return (
        f"<p>{n_ok} of {len(rows)} checks consistent: the median of the ensemble lies inside "
        "the target range.</p>" + table
    )


def _ledger_html(res: Results) -> str:
    checks = res.manifest.get("ledger_checks") or []
    if not checks:
        return '<p class="muted">No ledger checks recorded.</p>'
    rows = [
        {
            "identity": c.get("identity"),
            "holds": c.get("holds"),
            "replicates holding": f"{c.get('holding')}/{c.get('replicates')}",
            "max |residual|": c.get("max_abs_residual"),
        }
        for c in checks
    ]
    return html_table(rows)


def _key_numbers_html(res: Results) -> str:
    rows = []
    for name in res.names:
        st = Stat.of(res.total(name))
        kind = _kind(name)
        what = {"flow": "total over the run", "stock": "at the end", "mean": "run average"}
        rows.append(
            {
                "outcome": name,
                "median": st.median,
                "5 %": st.p5,
                "95 %": st.p95,
                "unit": _unit(name),
                "statistic": what.get(kind, kind),
                "meaning": _doc(name),
            }
        )
    return html_table(rows, css="numbers")


def _fan_sections(b: _Builder) -> str:
    res = b.res
    resolution = res.resolution()
    x = res.x(resolution)
    period = " per year" if resolution == "year" else " per month"
    observed = observed_yearly() if resolution == "year" else {}
    out = [
        f'<p class="note">Resolution: {"calendar years" if resolution == "year" else "months"}. '
        "Flows are totals per period, stocks their value at the period's end, levels their "
        "average. Open circles: observed values from the package's <code>data/</code> files "
        "where a matching series exists.</p>"
    ]
    listed = {n for _, _, names in CATEGORIES for n in names}
    cats = list(CATEGORIES)
    others = tuple(n for n in res.names if n not in listed)
    if others:
        cats.append(("other", "Other outcomes", others))
    for key, title, names in cats:
        present = [n for n in names if res.has(n)]
        if not present:
            continue
        series = [
            fg.Series(n, _unit_label(n, period), res.series(n, resolution), _doc(n))
            for n in present
        ]
        obs = {}
        for n in present:
            if n in observed:
                clipped = _clip_observed(observed[n], x)
                if clipped is not None:
                    obs[n] = clipped
        fig = fg.fan_grid(title, x, series, observed=obs)
        out.append(f"<h3>{esc(title)}</h3>")
        out.append(
            b.figure(
                fig,
                f"fan_{key}",
                f"{title}. Flows{period}; median, 50 % and 90 % bands over "
                f"{res.replicates.size} replicates.",
            )
        )
    return "".join(out)


def _flow_html(b: _Builder) -> str:
    flow = people_flow(b.res)
    fig = fg.flow_figure(flow.nodes, flow.links, title="Flow of people over the whole run")
    rows = [
        {
            "stage": n.label,
            "mean": flow.stats[n.key].mean,
            "median": flow.stats[n.key].median,
            "5 %": flow.stats[n.key].p5,
            "95 %": flow.stats[n.key].p95,
        }
        for n in flow.nodes
    ]
    return b.figure(
        fig,
        "flow_of_people",
        "Workers in postings, flight attempts by sector, their fate by route, and arrival "
        "in South Korea (persons over the whole run). Caught workers enter China's "
        "detention and repatriation pipeline (M7).",
    ) + html_table(rows, css="numbers")


def _groups_html(b: _Builder) -> str:
    gs = group_sizes(b.res)
    if not gs.panels:
        return f'<p class="muted">{esc(gs.note)}</p>'
    fig = fg.group_size_figure(gs.panels, note=gs.note)
    return (
        b.figure(
            fig,
            "group_sizes",
            "Flight attempts by group size and outcome, per sector (groups per replicate).",
        )
        + f"<p>{esc(gs.note)}.</p>"
        + html_table(gs.rows, css="numbers")
    )


def _revenue_html(b: _Builder) -> str:
    panels = revenue_panels(b.res)
    if not panels:
        return '<p class="muted">Revenue outcomes are missing from this run.</p>'
    fig = fg.revenue_figure(b.res.years.astype(float), panels)
    rows = []
    for title, gross_label, gross, parts in panels:
        for j, year in enumerate(b.res.years):
            row: dict[str, Any] = {"panel": title.split(":")[0], "year": int(year)}
            row[gross_label] = float(gross[j])
            for label, values in parts.items():
                row[label] = float(values[j])
            rows.append(row)
    tables = []
    for title, *_ in panels:
        sub = [r for r in rows if r["panel"] == title.split(":")[0]]
        tables.append(f"<details><summary>{esc(title)}: table</summary>{html_table(sub)}</details>")
    return b.figure(
        fig,
        "revenue",
        "Revenue decomposition by year (means over replicates, so the parts add up to the "
        "gross): sales = remittance + wages + costs + change in reserves.",
    ) + "".join(tables)


def _col(table: pa.Table, *candidates: str) -> str | None:
    lower = {c.lower(): c for c in table.column_names}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def _numeric(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)


def _strings(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).cast(pa.string()).to_pylist(), dtype=object).astype(str)


def _table_details(table: pa.Table | None) -> str:
    if table is None:
        return ""
    return (
        f"<details><summary>table ({table.num_rows} rows)</summary>"
        f"{html_table(arrow_rows(table))}</details>"
    )


def _sensitivity_html(b: _Builder, extras: Sequence[Extra], top: int = 20) -> str:
    out = []
    for extra in extras:
        table = extra.table
        out.append(f"<h3>{esc(extra.label)}</h3>")
        if table is None:
            continue
        factor = _col(table, "factor", "parameter", "name", "input")
        keys = [k for k in ("S1", "ST", "mu_star") if _col(table, k)]
        conv = extra.meta.get("convergence") or {}
        if conv.get("message"):
            settled = "settled" if conv.get("settled") else "NOT settled"
            out.append(f'<p class="note">Convergence: {settled}: {esc(conv["message"])}</p>')
        if factor and keys:
            outcome_col = _col(table, "outcome", "metric", "variable")
            groups = sorted(set(_strings(table, outcome_col))) if outcome_col else [""]
            for i, group in enumerate(groups[:12]):
                sub = table
                if outcome_col:
                    sub = table.filter(pa.array(_strings(table, outcome_col) == group))
                rank_key = "ST" if "ST" in keys else keys[0]
                order = np.argsort(
                    -np.nan_to_num(_numeric(sub, _col(sub, rank_key) or rank_key), nan=-np.inf)
                )[:top]
                factors = [str(f) for f in _strings(sub, factor)[order]]
                values = {k: _numeric(sub, _col(sub, k) or k)[order] for k in keys}
                errors = {}
                for k in values:
                    conf = _col(sub, f"{k}_conf")
                    if conf:
                        errors[k] = np.nan_to_num(_numeric(sub, conf)[order])
                outcome = group or str(extra.meta.get("outcome", ""))
                finite = np.concatenate([v[np.isfinite(v)] for v in values.values()] or [[0.0]])
                low = min(0.0, float(finite.min()) if finite.size else 0.0)
                high = max(float(finite.max()) if finite.size else 1.0, 1e-9)
                if "ST" in values:
                    low, high = min(-0.05, low), max(1.0, high)
                pad = 0.05 * (high - low)
                fig = fg.bar_indices_figure(
                    f"{outcome or extra.label}: top {len(factors)} factors",
                    factors,
                    values,
                    errors,
                    xlim=(low - pad, high + pad),
                )
                out.append(
                    b.figure(
                        fig,
                        extra.figure_stem("sensitivity", f"_{i}" if len(groups) > 1 else ""),
                        f"Sensitivity indices{f' of {outcome}' if outcome else ''}, most "
                        "influential first (whiskers: confidence intervals).",
                    )
                )
        out.append(_table_details(table))
    return "".join(out)


_META_COLUMNS = {"weight", "w", "generation", "t", "distance", "particle", "id", "run", "model"}


def _scenario_ranges(res: Results) -> dict[str, tuple[float, float]]:
    ranges: dict[str, tuple[float, float]] = {}
    doc = res.manifest.get("scenario", {})
    for group, entries in (doc.get("parameters") or {}).items():
        for name, entry in entries.items():
            if isinstance(entry, dict) and "range" in entry:
                ranges[f"{group}.{name}"] = (float(entry["range"][0]), float(entry["range"][1]))
    for name, entry in (doc.get("levers") or {}).items():
        if isinstance(entry, dict) and "range" in entry:
            span = (float(entry["range"][0]), float(entry["range"][1]))
            ranges[name] = span
            ranges[f"lever.{name}"] = span
    return ranges


def _posterior_html(b: _Builder, extras: Sequence[Extra]) -> str:
    out = []
    ranges = _scenario_ranges(b.res)
    for extra in extras:
        table = extra.table
        out.append(f"<h3>{esc(extra.label)}</h3>")
        if table is None:
            continue
        summary = extra.meta.get("summary")
        priors = dict(ranges)
        if isinstance(summary, pa.Table) and _col(summary, "parameter"):
            lo_c, hi_c = _col(summary, "prior_low"), _col(summary, "prior_high")
            if lo_c and hi_c:
                for p, lo, hi in zip(
                    _strings(summary, "parameter"),
                    _numeric(summary, lo_c),
                    _numeric(summary, hi_c),
                    strict=True,
                ):
                    priors[str(p)] = (float(lo), float(hi))
        manifest = extra.meta.get("manifest") or {}
        if manifest.get("stop_reason"):
            out.append(
                f'<p class="note">ABC-SMC: {esc(manifest.get("n_runs"))} simulations; '
                f"{esc(manifest['stop_reason'])}; calibrated scenario: "
                f"<code>{esc(manifest.get('calibrated_scenario', ''))}</code></p>"
            )
        gen_col = _col(table, "generation", "t")
        if gen_col and table.num_rows:
            last = np.nanmax(_numeric(table, gen_col))
            table = table.filter(pa.array(_numeric(table, gen_col) == last))
            out.append(
                f'<p class="note">Last generation ({int(last)}): {table.num_rows} particles.</p>'
            )
        marginals: list[tuple[str, np.ndarray, np.ndarray, tuple[float, float] | None]] = []
        par_col = _col(table, "parameter", "name", "factor")
        val_col = _col(table, "value")
        w_col = _col(table, "weight", "w")
        if par_col and val_col:
            names = _strings(table, par_col)
            vals = _numeric(table, val_col)
            weights = _numeric(table, w_col) if w_col else np.ones(vals.size)
            for p in sorted(set(names)):
                m = names == p
                marginals.append((str(p), vals[m], weights[m], priors.get(str(p))))
        else:
            weights = _numeric(table, w_col) if w_col else np.ones(table.num_rows)
            for c in table.column_names:
                kind = table.schema.field(c).type
                if c.lower() in _META_COLUMNS:
                    continue
                if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
                    continue
                marginals.append((c, _numeric(table, c), weights, priors.get(c)))
        if marginals:
            fig = fg.posterior_figure(marginals[:24])
            out.append(
                b.figure(fig, extra.figure_stem("posterior"), "Posterior marginals (weighted).")
            )
        if isinstance(summary, pa.Table):
            out.append(html_table(arrow_rows(summary)))
        out.append(_table_details(extra.table))
    return "".join(out)


def _year_of(period: Any) -> float:
    m = re.search(r"(\d{4})(?:-(\d{2}))?", str(period))
    if not m:
        return math.nan
    year = float(m.group(1))
    return year + (int(m.group(2)) - 0.5) / 12.0 if m.group(2) else year


def _validation_json_html(b: _Builder, extra: Extra) -> str:
    payload = extra.meta
    panels = []
    rows = []
    for name, rep in (payload.get("series") or {}).items():
        obs = rep.get("observations") or []
        rows.append(
            {
                "series": name,
                "model outcome": rep.get("model_outcome"),
                "unit": rep.get("unit"),
                "observations": rep.get("n"),
                "ARD": rep.get("ard"),
                "MASE": rep.get("mase"),
                "inside 90 % band": rep.get("coverage_90"),
                "note": rep.get("note"),
            }
        )
        if not obs:
            continue
        x = np.array([_year_of(o.get("period")) for o in obs], dtype=float)

        def col(key: str, items: list[dict[str, Any]] = obs) -> np.ndarray:
            return np.array(
                [math.nan if o.get(key) is None else float(o[key]) for o in items], dtype=float
            )

        order = np.argsort(x)
        med, p5, p95 = col("sim_median")[order], col("sim_p5")[order], col("sim_p95")[order]
        observed = fg.Observed(
            "observed", x[order], col("observed")[order], col("low")[order], col("high")[order]
        )
        if np.all(np.isnan(observed.low)) or np.all(np.isnan(observed.high)):  # type: ignore[arg-type]
            observed = fg.Observed("observed", x[order], col("observed")[order])
        panels.append((str(name), x[order], fg.Band(p5, p5, med, p95, p95), observed))
    parts = []
    if panels:
        fig = fg.validation_figure(panels[:12])
        parts.append(
            b.figure(
                fig,
                extra.figure_stem("validation"),
                f"Simulated median and 90 % band against observed values "
                f"({payload.get('observed', '')}, {payload.get('replicates', '?')} replicates).",
            )
        )
    parts.append(
        '<p class="note">ARD: absolute relative deviation; MASE: mean absolute error over '
        "that of persistence (below 1 beats persistence).</p>"
    )
    parts.append(html_table(rows))
    return "".join(parts)


def _validation_html(b: _Builder, extras: Sequence[Extra]) -> str:
    out = []
    for extra in extras:
        out.append(f"<h3>{esc(extra.label)}</h3>")
        if extra.table is None:
            out.append(_validation_json_html(b, extra))
            continue
        table = extra.table
        series_col = _col(table, "series", "outcome", "variable", "name")
        x_col = _col(table, "year", "x", "period", "time")
        obs_col = _col(table, "observed", "obs", "observed_value")
        med_col = _col(table, "median", "sim_median", "p50", "simulated")
        lo_col = _col(table, "p5", "sim_p5", "low", "q05")
        hi_col = _col(table, "p95", "sim_p95", "high", "q95")
        if series_col and x_col and obs_col and med_col:
            names = _strings(table, series_col)
            x_all = np.array([_year_of(v) for v in _strings(table, x_col)], dtype=float)
            panels = []
            for s_name in sorted(set(names))[:12]:
                m = names == s_name
                order = np.argsort(x_all[m])
                xs = x_all[m][order]
                med = _numeric(table, med_col)[m][order]
                lo = _numeric(table, lo_col)[m][order] if lo_col else med
                hi = _numeric(table, hi_col)[m][order] if hi_col else med
                band = fg.Band(lo, lo, med, hi, hi)
                obs = fg.Observed("observed", xs, _numeric(table, obs_col)[m][order])
                panels.append((str(s_name), xs, band, obs))
            if panels:
                fig = fg.validation_figure(panels)
                out.append(
                    b.figure(
                        fig,
                        extra.figure_stem("validation"),
                        "Validation: simulated bands against observed data.",
                    )
                )
        out.append(_table_details(table))
    return "".join(out)


def _prim_html(b: _Builder, extras: Sequence[Extra]) -> str:
    out = []
    ranges = _scenario_ranges(b.res)
    for extra in extras:
        table = extra.table
        out.append(f"<h3>{esc(extra.label)}</h3>")
        if table is None:
            continue
        bounds = {**ranges, **(extra.meta.get("bounds") or {})}
        dim_col = _col(table, "dimension", "uncertainty", "factor", "parameter", "name")
        lo_col = _col(table, "min", "low", "lower", "lo")
        hi_col = _col(table, "max", "high", "upper", "hi")
        box_col = _col(table, "box", "box_id", "id")
        if dim_col and lo_col and hi_col and table.num_rows:
            dims = _strings(table, dim_col)
            lo = _numeric(table, lo_col)
            hi = _numeric(table, hi_col)
            box_ids = _strings(table, box_col) if box_col else np.array(["1"] * lo.size)
            boxes = []
            for box in list(dict.fromkeys(box_ids))[:6]:
                sel = box_ids == box
                rows_: list[tuple[str, float, float]] = []
                for d, a, z in zip(dims[sel], lo[sel], hi[sel], strict=True):
                    r0, r1 = bounds.get(
                        str(d), (float(lo[dims == d].min()), float(hi[dims == d].max()))
                    )
                    span = (r1 - r0) or 1.0
                    rows_.append((str(d), float((a - r0) / span), float((z - r0) / span)))
                boxes.append((f"box {box}", rows_))
            fig = fg.prim_figure(boxes)
            out.append(
                b.figure(
                    fig,
                    extra.figure_stem("prim"),
                    "PRIM boxes: the restricted range of each factor, scaled to the explored "
                    "range (0 = its low end, 1 = its high end).",
                )
            )
        stats = extra.meta.get("stats")
        if isinstance(stats, pa.Table):
            out.append(html_table(arrow_rows(stats)))
        out.append(html_table(arrow_rows(table)))
    return "".join(out)


def _param_meta() -> dict[str, dict[str, Any]]:
    """Mechanism and doc of every parameter and lever, from the core's field metadata."""
    try:
        from ..core.params import PARAM_GROUPS, Levers, field_specs
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


def scenario_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per parameter and lever of a resolved scenario document, with provenance."""
    meta = _param_meta()
    rows: list[dict[str, Any]] = []
    for name, entry in (document.get("levers") or {}).items():
        spec = meta.get(f"lever.{name}", {})
        rows.append(_scenario_row(f"lever.{name}", "lever", entry, spec))
    for group, entries in (document.get("parameters") or {}).items():
        for name, entry in entries.items():
            spec = meta.get(f"{group}.{name}", {})
            rows.append(_scenario_row(f"{group}.{name}", "parameter", entry, spec))
    return rows


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


def _scenario_html(res: Results) -> str:
    document = res.manifest.get("scenario") or {}
    if not document:
        return '<p class="muted">The manifest holds no scenario.</p>'
    rows = scenario_rows(document)
    levers = [r for r in rows if r["kind"] == "lever"]
    params = [r for r in rows if r["kind"] == "parameter"]
    cols = ["key", "value", "range", "unit", "mechanism", "meaning", "provenance"]
    events = [dict(e) for e in document.get("events", [])]
    ev_cols: list[str] = []
    for e in events:
        for k in e:
            if k not in ev_cols:
                ev_cols.append(k)
    n_assume = sum(1 for r in rows if str(r["provenance"]).lower().startswith("assumption"))
    return (
        f"<p>{len(levers)} levers and {len(params)} parameters; every value with its "
        f"provenance (a fact id of SYSTEM.md, a file of <code>data/</code>, or an assumption "
        f"with its reason; {n_assume} are assumptions). A range marks a declared uncertainty "
        "(parameters) or the span an analyst may explore (levers).</p>"
        f"<h3>Levers</h3>{html_table(levers, cols, css='params')}"
        f"<h3>Parameters</h3>{html_table(params, cols, css='params')}"
        f"<h3>Dated events ({len(events)})</h3>{html_table(events, ev_cols)}"
    )


def _files_html(res: Results, written: Sequence[fg.FigureFiles]) -> str:
    files = sorted(p.name for p in res.folder.iterdir() if p.is_file())
    figs = sorted(
        {f"{FIGURES_DIR}/{f.png.name}" for f in written}
        | {f"{FIGURES_DIR}/{f.svg.name}" for f in written}
    )
    return (
        "<p>Results folder files:</p><ul>"
        + "".join(f"<li><code>{esc(f)}</code></li>" for f in files)
        + "</ul><details><summary>Figures written for papers (PNG and SVG)</summary><ul>"
        + "".join(f"<li><code>{esc(f)}</code></li>" for f in figs)
        + "</ul></details>"
    )


def _assemble(title: str, header: str, sections: Sequence[tuple[str, str, str]]) -> str:
    nav = "".join(f'<li><a href="#{esc(sid)}">{esc(t)}</a></li>' for sid, t, _ in sections)
    body = "".join(
        f'<section id="{esc(sid)}"><h2>{esc(t)}</h2>{content}</section>'
        for sid, t, content in sections
    )
    footer = (
        '<footer class="muted note"><p>Made by lipsteeth '
        f"{esc(_version())}. Self-contained: this file loads nothing from the network."
        "</p></footer>"
    )
    return html_page(title, header + f"<nav><h2>Contents</h2><ol>{nav}</ol></nav>" + body + footer)


def _version() -> str:
    try:
        import importlib.metadata

        return importlib.metadata.version("lipsteeth")
    except Exception:  # noqa: BLE001 - a missing version never stops a report
        return "?"


def build_report_html(res: Results, out_dir: Path) -> tuple[str, list[fg.FigureFiles]]:
    """The HTML text of a run's report; figures are written to ``out_dir/figures``."""
    b = _Builder(res, out_dir, out_dir / FIGURES_DIR)
    title = f"lipsteeth report: {res.scenario_name}"
    b.add("facts", "Facts F1-F9", _facts_html(res))
    b.add("ledger", "Stock-flow identities", _ledger_html(res))
    b.add(
        "numbers",
        "Outcomes over the whole run",
        '<p class="note">Per replicate: flows summed over the run, stocks at its end, levels '
        "averaged; then median and 90 % band over replicates.</p>" + _key_numbers_html(res),
    )
    b.add("fans", "Fan charts of every outcome", _fan_sections(b))
    b.add("flow", "Flow of people", _flow_html(b))
    b.add("groups", "Group sizes of flight attempts", _groups_html(b))
    b.add("revenue", "Revenue decomposition", _revenue_html(b))
    extras = res.extras
    if "sensitivity" in extras:
        b.add("sensitivity", "Sensitivity indices", _sensitivity_html(b, extras["sensitivity"]))
    if "calibration" in extras:
        b.add("calibration", "Calibration posterior", _posterior_html(b, extras["calibration"]))
        for extra in extras["calibration"]:  # an NPE posterior's certificate (npe_results)
            npe = npe_results.section_data(extra.path.parents[1])
            if npe is not None:
                stem = extra.figure_stem("npe")
                fig = b.figure(figures_npe.diagnostics_figure(npe), stem, "SBC, coverage, recovery")
                b.add(stem, "NPE certificate", npe_results.section_html(npe, fig, html_table))
    if "validation" in extras:
        b.add(
            "validation",
            "Validation against observed data",
            _validation_html(b, extras["validation"]),
        )
    if "discovery" in extras:
        b.add("prim", "Scenario discovery (PRIM boxes)", _prim_html(b, extras["discovery"]))
    b.add("scenario", "Scenario: every parameter and its provenance", _scenario_html(res))
    b.add("files", "Files", _files_html(res, b.written))
    return _assemble(title, _header_html(res, title), b.sections), b.written


# ---------------------------------------------------------------------------
# writing


def _atomic_write(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    tmp.replace(path)


def html_to_pdf(html_path: Path, pdf_path: Path) -> bool:
    """Print an HTML file to PDF with headless Chromium; False if Chromium is unavailable."""
    if not CHROMIUM.exists():
        return False
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.pdf(path=str(pdf_path), format="A4", landscape=True, print_background=True)
        finally:
            browser.close()
    return True


def _pdf_fallback(
    pdf_path: Path, title: str, res: Results, written: Sequence[fg.FigureFiles]
) -> None:
    """A multi-page PDF of the facts table and every figure (matplotlib only)."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    with PdfPages(pdf_path, metadata={"Title": title, "CreationDate": None}) as pdf:
        page = Figure(figsize=(11.7, 8.3))
        lines = [title, ""]
        for f in res.manifest.get("facts") or []:
            mark = "ok " if f.get("consistent") else "NO "
            lines.append(
                f"{mark} {f.get('id')}: {f.get('statistic')}  target {f.get('target')}  "
                f"median {fg.compact(f.get('median'))}"
            )
        page.text(0.03, 0.97, "\n".join(lines), va="top", family="monospace", fontsize=7)
        pdf.savefig(page)
        for files in written:
            fig = Figure(figsize=(11.7, 8.3))
            ax = fig.add_axes((0, 0, 1, 1))
            ax.imshow(imread(files.png))
            ax.axis("off")
            pdf.savefig(fig)


def write_report(
    folder: str | Path, *, fmt: Format = "html", out: str | Path | None = None
) -> Path:
    """Write ``report.html`` (and ``report.pdf`` for ``fmt="pdf"``) for a results folder.

    Figures go to ``<folder>/figures`` (or next to ``out``).  Returns the path of
    the report in the requested format.
    """
    if fmt not in ("html", "pdf"):
        raise ReportError(f"unknown report format {fmt!r} (html or pdf)")
    res = load_results(folder)
    html_path = Path(out) if out is not None and fmt == "html" else res.folder / REPORT_FILE
    if out is not None and fmt == "pdf":
        html_path = Path(out).with_suffix(".html")
    out_dir = html_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    text, written = build_report_html(res, out_dir)
    _atomic_write(html_path, text)
    if fmt == "html":
        return html_path
    pdf_path = Path(out) if out is not None else res.folder / REPORT_PDF
    tmp = pdf_path.with_name(f".{pdf_path.name}.tmp")
    if not html_to_pdf(html_path, tmp):
        _pdf_fallback(tmp, f"lipsteeth report: {res.scenario_name}", res, written)
    tmp.replace(pdf_path)
    return pdf_path


# ---------------------------------------------------------------------------
# comparison of two runs


@dataclass(frozen=True)
class Difference:
    """B minus A of one outcome's whole-run value, with its uncertainty."""

    outcome: str
    unit: str
    a: Stat
    b: Stat
    paired: bool
    diff_median: float
    ci_low: float
    ci_high: float
    diff_p5: float
    diff_p95: float

    @property
    def clear(self) -> bool:
        """The 90 % confidence interval of the difference excludes zero."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def paired_runs(a: Results, b: Results) -> bool:
    """Same seed and replicate indices: replicate i of both shares its random numbers."""
    return (
        a.manifest.get("seed") is not None
        and a.manifest.get("seed") == b.manifest.get("seed")
        and np.array_equal(a.replicates, b.replicates)
    )


def difference(
    name: str, va: np.ndarray, vb: np.ndarray, *, paired: bool, n_boot: int = 1000, seed: int = 0
) -> Difference:
    """Median difference B - A with a bootstrap 90 % CI and the 5-95 % spread of differences.

    Paired (common random numbers): statistics of the per-replicate differences.
    Unpaired: the difference of medians, resampling each run independently; the
    spread is that of differences between independent draws of A and B.
    """
    rng = np.random.default_rng(seed)
    va = np.asarray(va, dtype=float)
    vb = np.asarray(vb, dtype=float)
    if paired:
        d = vb - va
        d = d[np.isfinite(d)]
        if d.size == 0:
            nan = math.nan
            return Difference(
                name, _unit(name), Stat.of(va), Stat.of(vb), True, nan, nan, nan, nan, nan
            )
        idx = rng.integers(0, d.size, size=(n_boot, d.size))
        boots = np.median(d[idx], axis=1)
        spread = d
        med = float(np.median(d))
    else:
        fa, fb = va[np.isfinite(va)], vb[np.isfinite(vb)]
        if fa.size == 0 or fb.size == 0:
            nan = math.nan
            return Difference(
                name, _unit(name), Stat.of(va), Stat.of(vb), False, nan, nan, nan, nan, nan
            )
        ia = rng.integers(0, fa.size, size=(n_boot, fa.size))
        ib = rng.integers(0, fb.size, size=(n_boot, fb.size))
        boots = np.median(fb[ib], axis=1) - np.median(fa[ia], axis=1)
        spread = np.subtract.outer(fb, fa).ravel()
        med = float(np.median(fb) - np.median(fa))
    lo, hi = np.quantile(boots, [0.05, 0.95])
    s5, s95 = np.quantile(spread, [0.05, 0.95])
    return Difference(
        name,
        _unit(name),
        Stat.of(va),
        Stat.of(vb),
        paired,
        med,
        float(lo),
        float(hi),
        float(s5),
        float(s95),
    )


def _differing_inputs(a: Results, b: Results) -> list[dict[str, Any]]:
    ra = {r["key"]: r for r in scenario_rows(a.manifest.get("scenario") or {})}
    rb = {r["key"]: r for r in scenario_rows(b.manifest.get("scenario") or {})}
    rows = []
    for key in sorted(set(ra) | set(rb)):
        va = ra.get(key, {}).get("value")
        vb = rb.get(key, {}).get("value")
        if va != vb:
            rows.append(
                {
                    "input": key,
                    "A": va,
                    "B": vb,
                    "provenance (B)": rb.get(key, {}).get("provenance", ""),
                }
            )
    for key in ("seed",):
        if a.manifest.get(key) != b.manifest.get(key):
            rows.append(
                {
                    "input": key,
                    "A": a.manifest.get(key),
                    "B": b.manifest.get(key),
                    "provenance (B)": "",
                }
            )
    ha, hb = a.manifest.get("horizon", {}), b.manifest.get("horizon", {})
    for key in ("start", "end"):
        if ha.get(key) != hb.get(key):
            rows.append(
                {
                    "input": f"horizon {key}",
                    "A": ha.get(key),
                    "B": hb.get(key),
                    "provenance (B)": "",
                }
            )
    if a.replicates.size != b.replicates.size:
        rows.append(
            {
                "input": "replicates",
                "A": a.replicates.size,
                "B": b.replicates.size,
                "provenance (B)": "",
            }
        )
    return rows


def _common(a: Results, b: Results, resolution: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x positions and the indices of the periods both runs cover."""
    if resolution == "year":
        common = np.intersect1d(a.years, b.years)
        ia = np.searchsorted(a.years, common)
        ib = np.searchsorted(b.years, common)
        return common.astype(float), ia, ib
    common = np.intersect1d(a.months, b.months)
    ia = np.searchsorted(a.months, common)
    ib = np.searchsorted(b.months, common)
    m = common.astype("datetime64[M]").astype(np.int64)
    return 1970 + m // 12 + (m % 12) / 12.0 + 1 / 24.0, ia, ib


def compare_differences(a: Results, b: Results) -> list[Difference]:
    """Whole-run differences of every outcome both runs hold."""
    paired = paired_runs(a, b)
    return [difference(n, a.total(n), b.total(n), paired=paired) for n in a.names if b.has(n)]


def build_comparison_html(
    a: Results, b: Results, out_dir: Path, figures_dir: Path | None = None
) -> tuple[str, list[fg.FigureFiles]]:
    """HTML of a side-by-side comparison of two runs (figures in ``figures_dir``)."""
    label_a = f"A: {a.scenario_name}"
    label_b = f"B: {b.scenario_name}"
    title = f"lipsteeth comparison: {a.scenario_name} vs {b.scenario_name}"
    builder = _Builder(a, out_dir, figures_dir or out_dir / FIGURES_DIR)
    paired = paired_runs(a, b)
    diffs = compare_differences(a, b)
    resolution = "year" if min(a.years.size, b.years.size) >= 3 else "month"
    x, ia, ib = _common(a, b, resolution)
    meta_rows = []
    for tag, r in (("A", a), ("B", b)):
        m = r.manifest
        h = m.get("horizon", {})
        meta_rows.append(
            {
                "run": tag,
                "scenario": m.get("scenario_name"),
                "run id": m.get("run_id"),
                "seed": m.get("seed"),
                "replicates": int(r.replicates.size),
                "horizon": f"{h.get('start')} to {h.get('end')}",
                "folder": str(r.folder),
            }
        )
    how = (
        "The runs share their seed and replicates, so replicate i of A and B used the same "
        "random numbers (common random numbers): differences are taken per replicate."
        if paired
        else "The runs do not share seed and replicates: differences are between independent "
        "draws, and the confidence interval of the difference of medians comes from "
        "resampling each run separately."
    )
    rows = []
    for d in diffs:
        rows.append(
            {
                "outcome": d.outcome,
                "A median [5-95 %]": d.a.text(d.unit),
                "B median [5-95 %]": d.b.text(d.unit),
                "B - A": d.diff_median,
                "90 % CI": f"{fg.compact(d.ci_low, d.unit)} to {fg.compact(d.ci_high, d.unit)}",
                "spread of B - A [5-95 %]": (
                    f"{fg.compact(d.diff_p5, d.unit)} to {fg.compact(d.diff_p95, d.unit)}"
                ),
                "clear difference": d.clear,
                "unit": d.unit,
                "_clear": d.clear,
            }
        )
    table = html_table(
        rows,
        [c for c in rows[0] if not c.startswith("_")] if rows else None,
        row_class=lambda r: "ok" if r["_clear"] else "",
    )
    sections: list[tuple[str, str, str]] = []
    sections.append(("runs", "The two runs", html_table(meta_rows)))
    sections.append(
        (
            "inputs",
            "What differs between the inputs",
            html_table(_differing_inputs(a, b)),
        )
    )
    sections.append(
        (
            "differences",
            "Differences over the whole run",
            f'<p class="note">{esc(how)} B - A: median difference; 90 % CI: bootstrap '
            "confidence interval of that median difference; spread: 5-95 % of the differences "
            "themselves. A clear difference has a CI that excludes zero.</p>" + table,
        )
    )
    figs_html = []
    chosen = [n for n in COMPARE_OUTCOMES if a.has(n) and b.has(n)]
    if x.size and chosen:
        period = " per year" if resolution == "year" else " per month"
        sa = [fg.Series(n, _unit_label(n, period), a.series(n, resolution)[:, ia]) for n in chosen]
        sb = [fg.Series(n, _unit_label(n, period), b.series(n, resolution)[:, ib]) for n in chosen]
        if paired:
            diff_values = [sb[i].values - sa[i].values for i in range(len(chosen))]
        else:
            diff_values = [
                _independent_diffs(sa[i].values, sb[i].values) for i in range(len(chosen))
            ]
        fig = fg.comparison_grid(x, sa, sb, label_a=label_a, label_b=label_b, diff=diff_values)
        figs_html.append(
            builder.figure(
                fig,
                "compare_key_outcomes",
                "Key outcomes: A (blue) and B (orange) with 50 % and 90 % bands; right: B - A"
                f"{' per replicate (paired)' if paired else ' between independent draws'}, "
                "median and bands. Every outcome is in the table above.",
            )
        )
    sections.append(("charts", "Side by side, by outcome", "".join(figs_html)))
    fa = {(f.get("id"), f.get("statistic")): f for f in a.manifest.get("facts") or []}
    fb = {(f.get("id"), f.get("statistic")): f for f in b.manifest.get("facts") or []}
    if fa or fb:
        fact_rows = []
        for k in list(dict.fromkeys([*fa, *fb])):
            ra, rb = fa.get(k, {}), fb.get(k, {})
            fact_rows.append(
                {
                    "id": k[0],
                    "statistic": k[1],
                    "target": ra.get("target") or rb.get("target"),
                    "A median": ra.get("median"),
                    "A consistent": ra.get("consistent"),
                    "B median": rb.get("median"),
                    "B consistent": rb.get("consistent"),
                }
            )
        sections.append(("facts", "Facts F1-F9, side by side", html_table(fact_rows)))
    header = (
        f"<header><h1>{esc(title)}</h1>"
        f'<p class="muted">A: {esc(a.folder)}<br>B: {esc(b.folder)}</p></header>'
    )
    return _assemble(title, header, sections), builder.written


def _independent_diffs(va: np.ndarray, vb: np.ndarray, max_pairs: int = 4000) -> np.ndarray:
    """(K, T) differences between independent draws of B and A (all pairs, subsampled)."""
    ra, rb = va.shape[0], vb.shape[0]
    pairs = np.array(np.meshgrid(np.arange(rb), np.arange(ra), indexing="ij")).reshape(2, -1)
    if pairs.shape[1] > max_pairs:
        keep = np.random.default_rng(0).choice(pairs.shape[1], max_pairs, replace=False)
        pairs = pairs[:, np.sort(keep)]
    return vb[pairs[0]] - va[pairs[1]]


def write_comparison(
    folder_a: str | Path,
    folder_b: str | Path,
    *,
    out: str | Path | None = None,
    fmt: Format = "html",
) -> Path:
    """Write a comparison report of two results folders; returns its path.

    Default: ``compare-<A>-vs-<B>.html`` in the current directory, figures in
    ``compare-<A>-vs-<B>_figures/`` next to it.
    """
    if fmt not in ("html", "pdf"):
        raise ReportError(f"unknown report format {fmt!r} (html or pdf)")
    a = load_results(folder_a)
    b = load_results(folder_b)
    stem = _safe(f"compare-{a.folder.name}-vs-{b.folder.name}")
    target = Path(out) if out is not None else Path.cwd() / f"{stem}.{fmt}"
    html_path = target if fmt == "html" else target.with_suffix(".html")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    figures_dir = html_path.parent / f"{html_path.stem}_figures"
    text, written = build_comparison_html(a, b, html_path.parent, figures_dir)
    _atomic_write(html_path, text)
    if fmt == "html":
        return html_path
    tmp = target.with_name(f".{target.name}.tmp")
    if not html_to_pdf(html_path, tmp):
        _pdf_fallback(tmp, f"comparison {a.scenario_name} vs {b.scenario_name}", a, written)
    tmp.replace(target)
    return target


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]
