"""Named outcomes (EMA Workbench vocabulary): daily values aggregated by month.

Each outcome has a kind that says how days aggregate into a month and months
into a year: ``flow`` sums, ``stock`` takes the last day, ``mean`` averages.
The list below is the only definition: the kernel's day record
(``OUTCOME_DTYPE``), the results' columns and the README table derive from it,
so a new outcome is one line here plus the line of the mechanism that
writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OutcomeSpec:
    name: str
    kind: str  # flow | stock | mean
    unit: str
    doc: str


_SPECS: tuple[OutcomeSpec, ...] = (
    # money (M1, M3)
    OutcomeSpec("revenue_to_state_usd", "flow", "USD", "remittances from all sites to Pyongyang"),
    OutcomeSpec("remittance_restaurants_usd", "flow", "USD", "remittances from restaurants"),
    OutcomeSpec("remittance_labour_usd", "flow", "USD", "remittances from labour sites"),
    OutcomeSpec("restaurant_sales_usd", "flow", "USD", "restaurant gross sales"),
    OutcomeSpec("restaurant_costs_usd", "flow", "USD", "restaurant food, supplies and rent"),
    OutcomeSpec("restaurant_wages_usd", "flow", "USD", "wages paid to restaurant staff"),
    OutcomeSpec("restaurant_retained_usd", "flow", "USD", "change in restaurant cash reserves"),
    OutcomeSpec("labour_fees_usd", "flow", "USD", "contract fees paid by employers"),
    OutcomeSpec("labour_costs_usd", "flow", "USD", "labourers' living costs"),
    OutcomeSpec("labour_wages_usd", "flow", "USD", "wages kept by labourers"),
    OutcomeSpec("labour_retained_usd", "flow", "USD", "change in labour-site cash reserves"),
    OutcomeSpec("restaurant_arrears_usd", "stock", "USD", "quota owed and not yet paid"),
    OutcomeSpec("pay_level_restaurant", "mean", "share of normal pay", "restaurant pay level"),
    OutcomeSpec("hours_restaurant", "mean", "x normal hours", "restaurant working hours"),
    OutcomeSpec("salary_suspended_restaurants", "mean", "restaurants", "pay level under 5 %"),
    OutcomeSpec("stress_restaurant", "stock", "stress units", "mean stress of restaurant staff"),
    OutcomeSpec("stress_labour", "stock", "stress units", "mean stress of labourers"),
    # people abroad (M1, M4, M8)
    OutcomeSpec("workers_abroad", "stock", "persons", "North Koreans in state postings abroad"),
    OutcomeSpec("workers_restaurant", "stock", "persons", "restaurant staff abroad"),
    OutcomeSpec("workers_labour", "stock", "persons", "labourers abroad"),
    OutcomeSpec("restaurants_open", "stock", "restaurants", "restaurants operating abroad"),
    OutcomeSpec("hires", "flow", "persons", "recruits arriving at posts"),
    OutcomeSpec("rotations_home", "flow", "persons", "postings ended normally"),
    OutcomeSpec("recalls", "flow", "persons", "workers recalled (closures, sanctions)"),
    OutcomeSpec("restaurant_openings", "flow", "restaurants", "restaurants opened"),
    OutcomeSpec("restaurant_closures", "flow", "restaurants", "restaurants shut (all causes)"),
    OutcomeSpec("closures_after_attempts", "flow", "sites", "sites shut after a flight attempt"),
    OutcomeSpec("closure_orders", "flow", "restaurants", "restaurants shut on a host's order (UN)"),
    OutcomeSpec("nominee_openings", "flow", "restaurants", "restaurants reopened under a nominee"),
    OutcomeSpec("nominee_restaurants", "stock", "restaurants", "open restaurants under a nominee"),
    OutcomeSpec(
        "quota_renegotiations", "flow", "restaurants", "restaurant quotas renegotiated down"
    ),
    OutcomeSpec(
        "quota_level", "mean", "share of the quota lever", "quota owed by open restaurants"
    ),
    OutcomeSpec(
        "workers_relabelled", "stock", "persons", "labourers shielded as students, trainees"
    ),
    OutcomeSpec("surveillance_level", "mean", "surveillance units", "network-wide added control"),
    OutcomeSpec("screening_level", "mean", "loyalty units", "added loyalty demanded of recruits"),
    # defections (M5, M6)
    OutcomeSpec(
        "attempts_restaurant", "flow", "persons", "restaurant staff and managers who tried to flee"
    ),
    OutcomeSpec("attempts_labour", "flow", "persons", "labourers and managers who tried to flee"),
    OutcomeSpec(
        "restaurant_defectors", "flow", "persons", "restaurant staff and managers who got out"
    ),
    OutcomeSpec("labour_defectors", "flow", "persons", "labourers and managers who got out"),
    OutcomeSpec("defection_groups_restaurant", "flow", "groups", "restaurant flight attempts"),
    OutcomeSpec("defection_groups_labour", "flow", "groups", "labour-site flight attempts"),
    OutcomeSpec("manager_led_groups", "flow", "groups", "attempts led by a manager"),
    OutcomeSpec("foiled_at_site", "flow", "persons", "plotters caught by minders before leaving"),
    OutcomeSpec(
        "stopped_at_exit", "flow", "persons", "documented workers stopped at a host's exit check"
    ),
    OutcomeSpec("caught_in_transit", "flow", "persons", "workers caught on the broker route"),
    OutcomeSpec("escapes_legal_route", "flow", "persons", "workers out with documents"),
    OutcomeSpec("escapes_clandestine_route", "flow", "persons", "workers out with brokers"),
    OutcomeSpec("broker_fees_usd", "flow", "USD", "broker fees paid on the clandestine route"),
    # arrivals, enforcement, wider flow (M6, M7, M10)
    OutcomeSpec("arrivals_south_korea", "flow", "persons", "North Koreans arriving in South Korea"),
    OutcomeSpec("arrivals_from_postings", "flow", "persons", "arrivals who had been posted abroad"),
    OutcomeSpec("border_crossings", "flow", "persons", "North Koreans crossing into China"),
    OutcomeSpec("hidden_in_china", "stock", "persons", "North Koreans hiding in China"),
    OutcomeSpec("recent_crossers", "stock", "persons", "hidden in China, crossed recently"),
    OutcomeSpec(
        "long_term_residents", "stock", "persons", "hidden in China for years (mostly women)"
    ),
    OutcomeSpec("third_country_residents", "stock", "persons", "North Koreans in third countries"),
    OutcomeSpec("settlements", "flow", "persons", "recent crossers who become long-term residents"),
    OutcomeSpec(
        "to_third_countries", "flow", "persons", "brokered parties settling in third countries"
    ),
    OutcomeSpec(
        "onward_from_third_countries",
        "flow",
        "persons",
        "third-country residents who reach the South",
    ),
    OutcomeSpec("arrests_residents", "flow", "persons", "long-term residents arrested in China"),
    OutcomeSpec("arrests_china", "flow", "persons", "North Koreans arrested in China (all)"),
    OutcomeSpec("arrests_hidden", "flow", "persons", "hidden North Koreans arrested in China"),
    OutcomeSpec("brokered_intercepted", "flow", "persons", "brokered parties caught in China"),
    OutcomeSpec("detained_china", "stock", "persons", "held in China's border detention centres"),
    OutcomeSpec("awaiting_handover", "stock", "persons", "detainees processed, awaiting handover"),
    OutcomeSpec("long_detention", "stock", "persons", "held in Chinese prisons (detention full)"),
    OutcomeSpec("detention_overflow", "flow", "persons", "arrested when detention was full"),
    OutcomeSpec("detention_released", "flow", "persons", "released by China, detention full"),
    OutcomeSpec("repatriations_from_china", "flow", "persons", "forcibly returned from China"),
    OutcomeSpec("repatriations_other_hosts", "flow", "persons", "forcibly returned by other hosts"),
    OutcomeSpec("repatriated_severe_punishment", "flow", "persons", "returned to camps or prison"),
    OutcomeSpec("broker_departures", "flow", "persons", "hidden people leaving with brokers"),
    OutcomeSpec("returns_home", "flow", "persons", "hidden people going home or settling"),
    # strategic (M9)
    OutcomeSpec("missile_tests", "flow", "tests", "missile tests"),
    OutcomeSpec("nuclear_tests", "flow", "tests", "nuclear tests"),
    OutcomeSpec("provocations", "flow", "tests", "missile and nuclear tests"),
    OutcomeSpec("un_resolutions", "flow", "resolutions", "UN sanctions resolutions"),
    OutcomeSpec("envoys", "flow", "envoys", "envoys Pyongyang sends to Beijing"),
    OutcomeSpec("talks", "mean", "share of days", "Pyongyang in talks with Beijing"),
    OutcomeSpec("defiance", "mean", "share of days", "Pyongyang in a defiance episode"),
    OutcomeSpec("milestones", "flow", "milestones", "weapons-programme stages completed"),
    OutcomeSpec("programme_progress", "stock", "progress units", "weapons-programme progress"),
    OutcomeSpec("relations_index", "mean", "index -1..1", "China-North Korea relations"),
    OutcomeSpec("displeasure", "mean", "displeasure units", "Beijing's displeasure"),
    OutcomeSpec("economy_index", "mean", "index, 1 = start", "North Korea's hard-currency economy"),
    OutcomeSpec("exit_strictness", "mean", "probability", "effective Chinese exit strictness"),
    OutcomeSpec("border_stringency", "mean", "share", "effective Chinese border stringency"),
    OutcomeSpec("china_sanctions", "mean", "share", "effective Chinese sanctions"),
    OutcomeSpec("food_aid", "mean", "share", "effective Chinese food aid"),
    OutcomeSpec("travel_advisory", "mean", "share", "effective Seoul travel advisory"),
    OutcomeSpec(
        "un_workers_level", "mean", "share", "UN worker provisions in force (labour-weighted)"
    ),
    OutcomeSpec("un_enforcement_china", "mean", "share", "China's enforcement of UN measures"),
    OutcomeSpec("un_enforcement_russia", "mean", "share", "Russia's enforcement of UN measures"),
    OutcomeSpec("un_enforcement_other", "mean", "share", "other hosts' enforcement of UN measures"),
    OutcomeSpec("oil_cut", "mean", "share", "share of oil supply cut (UN and China)"),
    OutcomeSpec(
        "diplomatic_signal_effective", "mean", "signal", "Beijing's effective diplomatic signal"
    ),
    OutcomeSpec("trade_loss", "mean", "share", "share of trade with China lost to sanctions"),
)

OUTCOMES: dict[str, OutcomeSpec] = {s.name: s for s in _SPECS}
OUTCOME_NAMES: tuple[str, ...] = tuple(OUTCOMES)
OUTCOME_INDEX: dict[str, int] = {name: i for i, name in enumerate(OUTCOME_NAMES)}
KIND_STOCK = np.array([OUTCOMES[n].kind == "stock" for n in OUTCOME_NAMES])
KIND_MEAN = np.array([OUTCOMES[n].kind == "mean" for n in OUTCOME_NAMES])
#: one day's outcomes as a record (the kernel writes ``out.arrivals_south_korea``)
OUTCOME_DTYPE = np.dtype([(name, np.float64) for name in OUTCOME_NAMES])
#: the outcome that records what a lever's setting became once Beijing's or the hosts'
#: discretion acted on it: the lever (what the analyst sets) -> the effective outcome
EFFECTIVE_LEVERS: dict[str, str] = {
    "china_exit_strictness": "exit_strictness",
    "china_border_stringency": "border_stringency",
    "china_sanctions": "china_sanctions",
    "food_aid": "food_aid",
    "diplomatic_signal": "diplomatic_signal_effective",
    "seoul_travel_advisory": "travel_advisory",
    "un_workers": "un_workers_level",
    "un_oil": "oil_cut",
}
#: ``salary_suspended_restaurants`` counts restaurants paying less than this share (F7)
SUSPENDED_PAY_LEVEL = 0.05


def days_per_month(month_index: np.ndarray) -> np.ndarray:
    """Number of simulated days in each month bin (M,)."""
    return np.bincount(month_index, minlength=int(month_index[-1]) + 1).astype(float)


def average_means(monthly_sums: np.ndarray, month_index: np.ndarray) -> np.ndarray:
    """(R, V, M) monthly sums with ``mean`` outcomes divided by their days, in place."""
    monthly_sums[:, KIND_MEAN, :] /= days_per_month(month_index)[None, None, :]
    return monthly_sums


def kind_of(name: str) -> str:
    """``flow``, ``stock`` or ``mean``: how an outcome sums over time (``mean`` if unknown)."""
    spec = OUTCOMES.get(name)
    return spec.kind if spec is not None else "mean"


def to_years(
    monthly: np.ndarray, month_years: np.ndarray, names: Sequence[str] = OUTCOME_NAMES
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate (R, V, M) monthly values of ``names`` to (R, V, Y) calendar years.

    By outcome kind: flows summed, stocks at the year's last month, means averaged
    over its months (names the core does not know are averaged).
    """
    years = np.unique(month_years)
    out = np.zeros(monthly.shape[:2] + (years.shape[0],))
    for j, y in enumerate(years):
        sel = month_years == y
        block = monthly[:, :, sel]
        for i, name in enumerate(names):
            kind = kind_of(name)
            if kind == "flow":
                out[:, i, j] = block[:, i].sum(axis=1)
            elif kind == "stock":
                out[:, i, j] = block[:, i, -1]
            else:
                out[:, i, j] = block[:, i].mean(axis=1)
    return years, out
