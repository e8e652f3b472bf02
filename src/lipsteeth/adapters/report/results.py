"""A results folder in memory: outcomes by month and year over replicates, events, extras.

:func:`load_results` reads what :mod:`lipsteeth.adapters.store` wrote
(``manifest.json``, ``summary.json``, ``outcomes.parquet``,
``outcomes_yearly.parquet``, ``events.parquet``) and the experiment outputs
found for it (:mod:`.extras`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from ...core.outcomes import OUTCOMES, kind_of, to_years
from ...experiment.summary import LeverInForce
from ...services import levers_of_summary
from .extras import Extra, find_extras
from .files import ReportError, read_json, read_parquet


def outcome_unit(name: str) -> str:
    """The unit of an outcome ('' when unknown)."""
    spec = OUTCOMES.get(name)
    return spec.unit if spec is not None else ""


def unit_label(name: str, period: str) -> str:
    """The unit of an outcome, with " per year" (or month) for flows."""
    unit = outcome_unit(name)
    return f"{unit}{period}" if kind_of(name) == "flow" else unit


def outcome_doc(name: str) -> str:
    """What an outcome means ('' when unknown)."""
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


def month_x(months: np.ndarray) -> np.ndarray:
    """Mid-month positions as fractional calendar years."""
    m = months.astype("datetime64[M]").astype(np.int64)
    return 1970 + m // 12 + (m % 12) / 12.0 + 1 / 24.0


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
        """The scenario's name as the manifest records it."""
        return str(self.manifest.get("scenario_name", "?"))

    @property
    def n_days(self) -> int:
        """Days simulated (0 when the manifest does not say)."""
        horizon = self.manifest.get("horizon", {})
        return int(horizon.get("days", 0) or 0)

    @property
    def levers(self) -> list[LeverInForce]:
        """Each lever as set and in force (M9), as ``summary.json`` records them (empty for a
        folder written before they were recorded)."""
        return levers_of_summary(self.summary)

    def has(self, name: str) -> bool:
        """Whether the run holds outcome ``name``."""
        return name in self.names

    def resolution(self) -> Literal["year", "month"]:
        """Years when the run covers at least three calendar years, else months."""
        return "year" if self.years.size >= 3 else "month"

    def x(self, resolution: str) -> np.ndarray:
        """Float x positions: calendar years, or mid-month as fractional years."""
        if resolution == "year":
            return self.years.astype(float)
        return month_x(self.months)

    def series(self, name: str, resolution: str) -> np.ndarray:
        """(R, T) values of an outcome by month or year."""
        block = self.yearly if resolution == "year" else self.monthly
        return block[:, self.names.index(name), :]

    def total(self, name: str, years: tuple[int, int] | None = None) -> np.ndarray:
        """(R,) whole-run value: flows summed, stocks at the end, means averaged.

        ``years`` (first, last; inclusive) restricts it to the months of those calendar years.
        """
        values = self.monthly[:, self.names.index(name), :]
        if years is not None:
            month_years = self.months.astype("datetime64[Y]").astype(np.int64) + 1970
            values = values[:, (month_years >= years[0]) & (month_years <= years[1])]
        kind = kind_of(name)
        if kind == "flow":
            return np.nansum(values, axis=1)
        if kind == "stock":
            return values[:, -1]
        return np.nanmean(values, axis=1)


def load_results(folder: str | Path) -> Results:
    """Read a results folder (outcomes, events, manifest, summary, experiment outputs)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such results folder")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ReportError(f"{folder}: not a results folder (no manifest.json)")
    manifest = read_json(manifest_path, object_required=True)
    summary = read_json(folder / "summary.json")
    monthly_path = folder / "outcomes.parquet"
    if not monthly_path.is_file():
        raise ReportError(f"{folder}: not a results folder (no outcomes.parquet)")
    reps, names, months, monthly = _pivot(read_parquet(monthly_path), "period")
    yearly_path = folder / "outcomes_yearly.parquet"
    if yearly_path.is_file():
        _, names_y, years, yearly = _pivot(read_parquet(yearly_path), "year")
        yearly = yearly[:, [names_y.index(n) for n in names], :]
    else:
        month_years = months.astype("datetime64[Y]").astype(np.int64) + 1970
        years, yearly = to_years(monthly, month_years, names)
    events: dict[str, np.ndarray] = {}
    events_path = folder / "events.parquet"
    if events_path.is_file():
        table = read_parquet(events_path)
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
