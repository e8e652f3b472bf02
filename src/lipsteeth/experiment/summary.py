"""Summaries of an ensemble: per-year median and 90 % band of each outcome."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.outcomes import OUTCOMES, to_years
from ..core.simulate import SimulationResult

KEY_OUTCOMES: tuple[str, ...] = (
    "revenue_to_state_usd",
    "remittance_restaurants_usd",
    "workers_abroad",
    "restaurants_open",
    "pay_level_restaurant",
    "hours_restaurant",
    "restaurant_defectors",
    "escapes_legal_route",
    "escapes_clandestine_route",
    "arrivals_south_korea",
    "repatriations_from_china",
    "restaurant_closures",
    "provocations",
    "relations_index",
)


def month_years(result: SimulationResult) -> np.ndarray:
    return result.months.astype("datetime64[Y]").astype(int) + 1970


def yearly(result: SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    """Years and (R, V, Y) yearly values (flows summed, stocks at year end, means averaged)."""
    return to_years(result.monthly, month_years(result))


@dataclass(frozen=True)
class YearlyBand:
    outcome: str
    unit: str
    years: np.ndarray
    median: np.ndarray
    p5: np.ndarray
    p95: np.ndarray


def yearly_bands(
    result: SimulationResult, outcomes: tuple[str, ...] = KEY_OUTCOMES
) -> list[YearlyBand]:
    """Median and 5-95 % quantiles over replicates, per year, of the chosen outcomes."""
    years, values = yearly(result)
    bands = []
    for name in outcomes:
        block = values[:, result.outcome_names.index(name), :]
        q5, q50, q95 = np.quantile(block, [0.05, 0.5, 0.95], axis=0)
        bands.append(YearlyBand(name, OUTCOMES[name].unit, years, q50, q5, q95))
    return bands
