"""Experiment tables read into the inputs of the shared figures (and rows of report tables).

The tables come from results folders (:mod:`.extras`); their columns are
found by any of the names the experiment layer or a user's tool may give
them.  The figures themselves are drawn by :mod:`lipsteeth.adapters.figures`,
the same functions the experiment commands use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..figures import (
    IndexBars,
    Marginal,
    PrimBox,
    ValidationPanel,
    ValidationPoint,
    index_bars,
    scaled_limits,
    scores_text,
)
from .extras import Extra

#: columns of a posterior table that are not parameters
META_COLUMNS = {"weight", "w", "generation", "t", "distance", "particle", "id", "run", "model"}
#: at most this many outcomes of one sensitivity table get a figure
MAX_OUTCOMES = 12


def column(table: pa.Table, *candidates: str) -> str | None:
    """The first column of ``table`` named like one of ``candidates`` (any case), or None."""
    lower = {c.lower(): c for c in table.column_names}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def numbers(table: pa.Table, name: str) -> np.ndarray:
    """A column as floats."""
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)


def strings(table: pa.Table, name: str) -> np.ndarray:
    """A column as strings."""
    return np.asarray(table.column(name).cast(pa.string()).to_pylist(), dtype=object).astype(str)


def arrow_rows(table: pa.Table, limit: int = 200) -> list[dict[str, Any]]:
    """The first ``limit`` rows of an Arrow table as dicts."""
    return table.slice(0, limit).to_pylist()


def year_of(period: Any) -> float:
    """Decimal year of ``YYYY`` or ``YYYY-MM`` (mid-month), NaN if there is no year."""
    m = re.search(r"(\d{4})(?:-(\d{2}))?", str(period))
    if not m:
        return math.nan
    year = float(m.group(1))
    return year + (int(m.group(2)) - 0.5) / 12.0 if m.group(2) else year


# ---------------------------------------------------------------------------
# sensitivity


def sensitivity_bars(extra: Extra) -> list[IndexBars]:
    """Indices per outcome of a sensitivity table (one table may hold several outcomes)."""
    table = extra.table
    if table is None:
        return []
    factor = column(table, "factor", "parameter", "name", "input")
    if factor is None:
        return []
    wanted = ("S1", "S1_conf", "ST", "ST_conf", "mu_star", "mu_star_conf", "sigma")
    if not any(column(table, k) for k in ("S1", "ST", "mu_star")):
        return []
    outcome_col = column(table, "outcome", "metric", "variable")
    groups = sorted(set(strings(table, outcome_col))) if outcome_col else [""]
    out = []
    for group in groups[:MAX_OUTCOMES]:
        sub = table
        if outcome_col:
            sub = table.filter(pa.array(strings(table, outcome_col) == group))
        columns = {k: numbers(sub, c) for k in wanted if (c := column(sub, k))}
        out.append(
            index_bars(
                group or str(extra.meta.get("outcome", "")),
                list(strings(sub, factor)),
                columns,
                method=str(extra.meta.get("method", "")),
            )
        )
    return out


# ---------------------------------------------------------------------------
# calibration


@dataclass(frozen=True)
class Posterior:
    """The marginals of a posterior table and the generation they come from."""

    marginals: list[Marginal]
    generation: int | None
    particles: int


def _priors(extra: Extra, ranges: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """Prior ranges: the scenario's declared ranges, overridden by the posterior summary's."""
    priors: dict[str, Any] = dict(ranges)
    summary = extra.meta.get("summary")
    if isinstance(summary, pa.Table) and column(summary, "parameter"):
        lo_c, hi_c = column(summary, "prior_low"), column(summary, "prior_high")
        if lo_c and hi_c:
            for p, lo, hi in zip(
                strings(summary, "parameter"),
                numbers(summary, lo_c),
                numbers(summary, hi_c),
                strict=True,
            ):
                priors[str(p)] = (float(lo), float(hi))
    return priors


def posterior_marginals(extra: Extra, ranges: Mapping[str, tuple[float, float]]) -> Posterior:
    """The last generation's weighted marginals of a posterior table, long or wide."""
    table = extra.table
    if table is None:
        return Posterior([], None, 0)
    priors = _priors(extra, ranges)
    generation = None
    gen_col = column(table, "generation", "t")
    if gen_col and table.num_rows:
        generation = int(np.nanmax(numbers(table, gen_col)))
        table = table.filter(pa.array(numbers(table, gen_col) == generation))
    marginals: list[Marginal] = []
    par_col = column(table, "parameter", "name", "factor")
    val_col = column(table, "value")
    w_col = column(table, "weight", "w")
    weights = numbers(table, w_col) if w_col else np.ones(table.num_rows)
    if par_col and val_col:  # long: one row per particle and parameter
        names = strings(table, par_col)
        vals = numbers(table, val_col)
        for p in sorted(set(names)):
            m = names == p
            marginals.append(Marginal(str(p), vals[m], weights[m], priors.get(str(p))))
    else:  # wide: one column per parameter
        for c in table.column_names:
            kind = table.schema.field(c).type
            if c.lower() in META_COLUMNS:
                continue
            if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
                continue
            marginals.append(Marginal(c, numbers(table, c), weights, priors.get(c)))
    return Posterior(marginals, generation, table.num_rows)


# ---------------------------------------------------------------------------
# validation


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def validation_of_json(
    payload: Mapping[str, Any],
) -> tuple[list[ValidationPanel], list[dict[str, Any]]]:
    """Panels and score rows of ``validation.json`` (written by ``lipsteeth validate``)."""
    panels = []
    rows = []
    for name, rep in (payload.get("series") or {}).items():
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
        obs = sorted(rep.get("observations") or [], key=lambda o: year_of(o.get("period")))
        if not obs:
            continue
        x = np.array([year_of(o.get("period")) for o in obs], dtype=float)

        def col(key: str, items: list[dict[str, Any]] = obs) -> np.ndarray:
            return np.array([math.nan if o.get(key) is None else o[key] for o in items], float)

        points = tuple(
            ValidationPoint(
                float(xi),
                _float(o.get("value", o.get("observed"))),
                _float(o.get("low")),
                _float(o.get("high")),
                o.get("inside_90"),
            )
            for xi, o in zip(x, obs, strict=True)
        )
        panels.append(
            ValidationPanel(
                series=str(name),
                x=x,
                p5=col("sim_p5"),
                median=col("sim_median"),
                p95=col("sim_p95"),
                points=points,
                unit=str(rep.get("unit") or ""),
                scores=scores_text(rep.get("ard"), rep.get("mase"), rep.get("coverage_90")),
            )
        )
    return panels, rows


def validation_of_table(table: pa.Table) -> list[ValidationPanel]:
    """Panels of a validation table (series, year, observed, median and optional p5, p95)."""
    series_col = column(table, "series", "outcome", "variable", "name")
    x_col = column(table, "year", "x", "period", "time")
    obs_col = column(table, "observed", "obs", "observed_value")
    med_col = column(table, "median", "sim_median", "p50", "simulated")
    lo_col = column(table, "p5", "sim_p5", "low", "q05")
    hi_col = column(table, "p95", "sim_p95", "high", "q95")
    if not (series_col and x_col and obs_col and med_col):
        return []
    names = strings(table, series_col)
    x_all = np.array([year_of(v) for v in strings(table, x_col)], dtype=float)
    panels = []
    for s_name in sorted(set(names)):
        m = names == s_name
        order = np.argsort(x_all[m])
        xs = x_all[m][order]
        med = numbers(table, med_col)[m][order]
        lo = numbers(table, lo_col)[m][order] if lo_col else med
        hi = numbers(table, hi_col)[m][order] if hi_col else med
        observed = numbers(table, obs_col)[m][order]
        points = tuple(
            ValidationPoint(float(xi), float(v), inside=bool(a <= v <= z))
            for xi, v, a, z in zip(xs, observed, lo, hi, strict=True)
            if math.isfinite(v)
        )
        panels.append(ValidationPanel(str(s_name), xs, lo, med, hi, points))
    return panels


# ---------------------------------------------------------------------------
# discovery


def prim_boxes(extra: Extra, ranges: Mapping[str, tuple[float, float]]) -> list[PrimBox]:
    """The boxes of a table of PRIM limits, scaled to the explored range of each factor.

    The range is the experiment's design, else the scenario's declared range,
    else the span of the limits over all boxes.
    """
    table = extra.table
    if table is None or not table.num_rows:
        return []
    dim_col = column(table, "dimension", "uncertainty", "factor", "parameter", "name")
    lo_col = column(table, "min", "low", "lower", "lo")
    hi_col = column(table, "max", "high", "upper", "hi")
    box_col = column(table, "box", "box_id", "id")
    if not (dim_col and lo_col and hi_col):
        return []
    dims = strings(table, dim_col)
    lo = numbers(table, lo_col)
    hi = numbers(table, hi_col)
    box_ids = strings(table, box_col) if box_col else np.array(["1"] * lo.size)
    bounds = {str(d): (float(lo[dims == d].min()), float(hi[dims == d].max())) for d in set(dims)}
    bounds.update(ranges)
    bounds.update(extra.meta.get("bounds") or {})
    boxes = []
    for box in dict.fromkeys(box_ids):
        sel = box_ids == box
        limits = {
            str(d): (float(a), float(z))
            for d, a, z in zip(dims[sel], lo[sel], hi[sel], strict=True)
        }
        boxes.append(PrimBox(f"box {box}", scaled_limits(limits, bounds)))
    return boxes
