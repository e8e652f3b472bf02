"""Observed yearly series shipped in ``lipsteeth/data``, to overlay on the fan charts."""

from __future__ import annotations

import csv
import re
from importlib import resources

import numpy as np

from ..figures import Observed


def _data_rows(name: str) -> list[dict[str, str]]:
    """The rows of a shipped CSV file ([] when it is missing)."""
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


def observed_yearly() -> dict[str, Observed]:
    """Observed yearly series in ``data/`` that match a model outcome."""
    out: dict[str, Observed] = {}
    arrivals = [
        (int(r["period"]), _number(r["value_total"]))
        for r in _data_rows("01_defector_arrivals_south_korea.csv")
        if re.fullmatch(r"\d{4}", r.get("period", "").strip())
    ]
    arrivals = [(y, v) for y, v in arrivals if v is not None]
    if arrivals:
        out["arrivals_south_korea"] = Observed(
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
        out["missile_tests"] = Observed(
            "observed (06b CNS)",
            np.array([y for y, _ in missiles], dtype=float),
            np.array([v for _, v in missiles], dtype=float),
        )
    test_years = [r.get("date", "")[:4] for r in _data_rows("06a_nuclear_tests.csv")]
    tests = [int(y) for y in test_years if y.isdigit()]
    if tests:
        span = np.arange(min(tests), max(tests) + 1)
        counts = np.array([tests.count(int(y)) for y in span], dtype=float)
        out["nuclear_tests"] = Observed("observed (06a)", span.astype(float), counts)
    restaurants = []
    for r in _data_rows("03_restaurants_abroad.csv"):
        if r.get("metric") != "restaurants_count" or "worldwide" not in r.get("scope", ""):
            continue
        year = re.search(r"(\d{4})", r.get("year", ""))
        value = _number(r.get("value"))
        if year and value is not None:
            restaurants.append((int(year.group(1)), value))
    if restaurants:
        out["restaurants_open"] = Observed(
            "observed (03, worldwide)",
            np.array([y for y, _ in restaurants], dtype=float),
            np.array([v for _, v in restaurants], dtype=float),
        )
    return out


def clip_observed(obs: Observed, x: np.ndarray) -> Observed | None:
    """The part of ``obs`` inside the span of ``x`` (half a period either side), or None."""
    if x.size == 0:
        return None
    keep = (obs.x >= x.min() - 0.5) & (obs.x <= x.max() + 0.5)
    if not keep.any():
        return None
    return Observed(obs.label, obs.x[keep], obs.y[keep])
