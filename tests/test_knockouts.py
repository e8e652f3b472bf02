"""Knock-outs of the issue 12 channels move the outcomes they should, the way they should.

Each test runs a reduced setting twice, with the channel and with it switched
off, on the same replicate indices and seed (common random numbers), and
compares a per-replicate statistic with a one-sided Wilcoxon signed-rank test
(exact where scipy can, else its normal approximation) at level 1e-3: the
chance that a correct model fails one of these tests is at most 1e-3 each.
Seeds are fixed, so a code version passes or fails deterministically.

* no evasion (no relabelling, no nominees): fewer labourers abroad and fewer
  restaurants open under the UN worker ban;
* full enforcement (every host enforces the UN measures in full): fewer
  labourers abroad, more trade lost;
* a single wider-flow stock (no long-term residents, no third countries):
  no arrivals in South Korea while journeys out of China are stopped;
* unlimited detention (no capacity, no batches): a larger peak of
  repatriations on reopening and more people held at the closure's end.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from scipy import stats

from lipsteeth.core.simulate import SimulationResult, simulate
from lipsteeth.scenario import Scenario, load_scenario
from lipsteeth.scenario.events_csv import with_events

from .support import small_params

ALPHA = 1e-3
REPLICATES = 24
SEED = 12_2017


@functools.cache
def history_window() -> Scenario:
    """The history replay of 2017-2024 (the UN worker bans, the closure and reopening)."""
    history = load_scenario("history")
    return history.with_overrides(start="2017-01-01", end="2024-12-31")


def run(scenario: Scenario, **changes: dict[str, float]) -> SimulationResult:
    """``scenario`` with fewer labour sites (all restaurant sites, the whole wider flow: it is
    aggregate and cheap) and parameter groups changed (``group={name: value}``)."""
    params = small_params(scenario.params, restaurants=200, labour_sites=30)
    params = dataclasses.replace(params, wider_flow=scenario.params.wider_flow)
    for group, values in changes.items():
        if group == "levers":
            continue
        params = dataclasses.replace(
            params, **{group: dataclasses.replace(getattr(params, group), **values)}
        )
    levers = dataclasses.replace(scenario.levers, **changes.get("levers", {}))
    return simulate(
        params, levers, scenario.calendar, scenario.timeline, seed=SEED, replicates=REPLICATES
    )


def yearly(result: SimulationResult, name: str, years: tuple[int, ...], how: str) -> np.ndarray:
    """Per replicate: the outcome's sum (flows), mean or last value over ``years``."""
    month_years = result.months.astype("datetime64[Y]").astype(int) + 1970
    values = result.outcome(name)[:, np.isin(month_years, years)]
    if how == "sum":
        return values.sum(axis=1)
    if how == "max":
        return values.max(axis=1)
    if how == "last":
        return values[:, -1]
    return values.mean(axis=1)


def assert_greater(with_channel: np.ndarray, knocked_out: np.ndarray, what: str) -> None:
    """One-sided paired test that ``with_channel`` exceeds ``knocked_out`` (level ALPHA)."""
    diff = with_channel - knocked_out
    assert np.any(diff != 0), f"{what}: the knock-out changed nothing"
    p = stats.wilcoxon(diff, alternative="greater", zero_method="zsplit").pvalue
    assert p < ALPHA, f"{what}: p = {p:.2e} (mean difference {diff.mean():.4g})"


@functools.cache
def default_run() -> SimulationResult:
    return run(history_window())


def test_evasion_keeps_labourers_and_restaurants_abroad() -> None:
    """M1/M8: without relabelling and nominees the bans bite harder (2019-2021)."""
    no_evasion = run(
        history_window(),
        labour={"relabel_capacity": 0.0, "relabel_capacity_step": 0.0},
        restaurants={"nominee_capacity_initial": 0.0, "nominee_capacity_step": 0.0},
    )
    years = (2019, 2020, 2021)
    for name in ("workers_labour", "restaurants_open"):
        assert_greater(
            yearly(default_run(), name, years, "mean"),
            yearly(no_evasion, name, years, "mean"),
            f"{name} with evasion vs without",
        )


def test_host_discretion_softens_enforcement() -> None:
    """M9: hosts that choose their enforcement keep more labourers abroad and lose less trade
    than hosts enforcing the UN measures in full."""
    full = run(history_window(), levers={"host_discretion": 0.0})
    years = (2018, 2019, 2020)
    assert_greater(
        yearly(default_run(), "workers_labour", years, "mean"),
        yearly(full, "workers_labour", years, "mean"),
        "labourers abroad, discretion vs full enforcement",
    )
    assert_greater(
        yearly(full, "trade_loss", years, "mean"),
        yearly(default_run(), "trade_loss", years, "mean"),
        "trade lost, full enforcement vs discretion",
    )


def test_several_stocks_keep_arrivals_going_while_journeys_from_china_stop() -> None:
    """M10: when pandemic restrictions stop every journey out of China (2020-2022: full
    restrictions, departure loss 1), North Koreans already in third countries still reach
    the South; with a single stock of people in China nobody does."""
    stopped = {"pandemic_departure_loss": 1.0}
    full_pandemic = with_events(
        history_window(),
        [
            {**event, "value": 1.0} if event.get("lever") == "pandemic" else event
            for event in history_window().events
        ],
    )
    several = run(full_pandemic, wider_flow=stopped)
    single = run(
        full_pandemic,
        wider_flow={
            **stopped,
            "settle_rate_per_year": 0.0,
            "third_country_share": 0.0,
            "resident_share_initial": 0.0,
            "third_country_initial": 0.0,
        },
    )
    years = (2021, 2022)
    assert_greater(
        yearly(several, "arrivals_south_korea", years, "sum"),
        yearly(single, "arrivals_south_korea", years, "sum"),
        "arrivals 2021-2022 with no journey out of China, several stocks vs one",
    )
    assert (yearly(several, "onward_from_third_countries", years, "sum") > 0).all()


def test_detention_capacity_spreads_handovers_after_reopening() -> None:
    """M7: with unlimited detention and no batches, the backlog of the closure is handed over
    at once on reopening (a higher monthly peak) and more people are held at its end."""
    unlimited = run(
        history_window(),
        enforcement={
            "detention_capacity": 1e9,
            "handover_batch_max": 1e9,
            "handover_interval_days": 1.0,
        },
    )
    assert_greater(
        yearly(unlimited, "repatriations_from_china", (2023, 2024), "max"),
        yearly(default_run(), "repatriations_from_china", (2023, 2024), "max"),
        "peak monthly repatriations on reopening, unlimited vs bounded detention",
    )
    assert_greater(
        yearly(unlimited, "detained_china", (2023,), "max"),
        yearly(default_run(), "detained_china", (2023,), "max"),
        "people held during the closure, unlimited vs bounded detention",
    )


@pytest.mark.parametrize("stock", ["long_term_residents", "third_country_residents"])
def test_the_new_stocks_are_populated(stock: str) -> None:
    """The default run has people in each wider-flow stock throughout."""
    assert (yearly(default_run(), stock, (2017, 2024), "mean") > 0).all()
