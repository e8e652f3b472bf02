"""Summaries of an ensemble: per-year median and 90 % band of each outcome, and the levers
as set beside the levers in force."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.outcomes import EFFECTIVE_LEVERS, OUTCOMES, to_years
from ..core.params import LEVER_NAMES
from ..core.simulate import SimulationResult, lever_matrix

if TYPE_CHECKING:
    from ..scenario import Scenario

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


@dataclass(frozen=True)
class LeverInForce:
    """A lever as the analyst set it beside what was in force once Beijing's or the hosts'
    discretion acted on it (issue 12: set versus effective levers), per year."""

    lever: str
    outcome: str  # the effective-lever outcome (``core.outcomes.EFFECTIVE_LEVERS``)
    unit: str
    years: np.ndarray
    set_value: np.ndarray  # yearly mean of the lever's path (the same in every replicate)
    median: np.ndarray  # of the effective outcome's yearly mean, over replicates
    p5: np.ndarray
    p95: np.ndarray


def levers_in_force(scenario: Scenario, result: SimulationResult) -> list[LeverInForce]:
    """Each lever of ``EFFECTIVE_LEVERS`` as set (its path) and in force (its outcome)."""
    matrix = lever_matrix(scenario.levers, scenario.timeline)
    day_years = scenario.calendar.dates.astype("datetime64[Y]").astype(int) + 1970
    years, values = yearly(result)
    rows = []
    for lever, outcome in EFFECTIVE_LEVERS.items():
        path = matrix[:, LEVER_NAMES.index(lever)]
        set_value = np.array([path[day_years == y].mean() for y in years])
        block = values[:, result.outcome_names.index(outcome), :]
        q5, q50, q95 = np.quantile(block, [0.05, 0.5, 0.95], axis=0)
        rows.append(
            LeverInForce(lever, outcome, OUTCOMES[outcome].unit, years, set_value, q50, q5, q95)
        )
    return rows
