"""Summaries of an ensemble: per-year median and 90 % band of each outcome, and the levers
as set beside the levers in force."""

from __future__ import annotations

from collections.abc import Sequence
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
    discretion acted on it (M9; issue 12: set versus effective levers), per year and over
    the whole run.

    Both sides aggregate alike, as a ``mean`` outcome does (``core.outcomes``): the
    average over the days of each month, then over the months of a year (or of the
    run).  So a lever that discretion leaves alone shows the same number set and in
    force; the gap between the two is what the strategic layer made of the setting.
    """

    lever: str
    outcome: str  # the effective-lever outcome (``core.outcomes.EFFECTIVE_LEVERS``)
    unit: str
    years: np.ndarray
    set_value: np.ndarray  # yearly mean of the lever's path (the same in every replicate)
    median: np.ndarray  # of the effective outcome's yearly mean, over replicates
    p5: np.ndarray
    p95: np.ndarray
    run_set: float  # the lever's path averaged over the whole run
    run_median: float  # of the effective outcome's whole-run average, over replicates
    run_p5: float
    run_p95: float


def set_lever_months(scenario: Scenario) -> np.ndarray:
    """(M, L) each lever's set value (its value, moved by dated events), averaged over the
    days of each month of the scenario's calendar, in ``LEVER_NAMES`` order.

    The analyst's input before Beijing's discretion (M9); the value in force is the
    matching outcome of ``EFFECTIVE_LEVERS``.
    """
    matrix = lever_matrix(scenario.levers, scenario.timeline)
    month_index = np.asarray(scenario.calendar.month_index)
    days = np.bincount(month_index).astype(float)
    sums = np.stack(
        [
            np.bincount(month_index, weights=matrix[:, k], minlength=days.size)
            for k in range(matrix.shape[1])
        ],
        axis=1,
    )
    return sums / days[:, None]


def _by_year(monthly: np.ndarray, years_of_months: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Mean over the months of each year along the last axis (a ``mean`` outcome's year)."""
    return np.stack([monthly[..., years_of_months == y].mean(axis=-1) for y in years], axis=-1)


def levers_in_force(scenario: Scenario, result: SimulationResult) -> list[LeverInForce]:
    """Each lever of ``EFFECTIVE_LEVERS`` as set (its path) and in force (its outcome)."""
    return levers_in_force_of(scenario, result.months, result.outcome_names, result.monthly)


def levers_in_force_of(
    scenario: Scenario,
    months: np.ndarray,
    outcome_names: Sequence[str],
    monthly: np.ndarray,
) -> list[LeverInForce]:
    """:func:`levers_in_force` of (R, V, M) monthly outcomes ``outcome_names`` (a subset
    holding the effective-lever outcomes is enough): the replicates a service has
    finished so far, or a whole ensemble."""
    set_monthly = set_lever_months(scenario)
    months = np.asarray(months).astype("datetime64[M]")
    if set_monthly.shape[0] != months.shape[0]:
        raise ValueError(
            f"{months.shape[0]} months of outcomes for a calendar of {set_monthly.shape[0]}"
        )
    years_of_months = months.astype("datetime64[Y]").astype(int) + 1970
    years = np.unique(years_of_months)
    names = list(outcome_names)
    rows = []
    for lever, outcome in EFFECTIVE_LEVERS.items():
        # set and in force compare only if the outcome aggregates as the lever's path does
        assert OUTCOMES[outcome].kind == "mean", outcome
        path = set_monthly[:, LEVER_NAMES.index(lever)]
        # a lever set to 0.95 all year averages to 0.95, not 0.9499999999999994: set values
        # are the scenario's numbers, rounded off only the summation's last bits
        set_by_year = np.round(_by_year(path, years_of_months, years), 12)
        block = np.asarray(monthly[:, names.index(outcome), :], dtype=float)  # (R, M)
        q5, q50, q95 = np.quantile(_by_year(block, years_of_months, years), [0.05, 0.5, 0.95], 0)
        r5, r50, r95 = np.quantile(block.mean(axis=1), [0.05, 0.5, 0.95])
        rows.append(
            LeverInForce(
                lever,
                outcome,
                OUTCOMES[outcome].unit,
                years,
                set_by_year,
                q50,
                q5,
                q95,
                round(float(path.mean()), 12),
                float(r50),
                float(r5),
                float(r95),
            )
        )
    return rows
