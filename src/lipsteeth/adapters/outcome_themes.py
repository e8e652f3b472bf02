"""Themes of the outcomes: one grouping for the report's fan charts and the dashboard.

``THEMES`` groups the outcomes of ``core.outcomes.OUTCOMES`` by what they are
about, each theme naming the mechanisms (SYSTEM.md, M1-M10) that make its
outcomes. An outcome no theme lists yet falls into ``OTHER``, so a new outcome
is shown (under its own doc) before anyone files it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class OutcomeTheme:
    """A named group of outcomes; ``key`` names its files (``fan_<key>``)."""

    key: str
    title: str
    outcomes: tuple[str, ...]


#: the themes in the order the report and the dashboard show them
THEMES: tuple[OutcomeTheme, ...] = (
    OutcomeTheme(
        "money",
        "Money to Pyongyang (M1, M3)",
        (
            "revenue_to_state_usd",
            "remittance_restaurants_usd",
            "remittance_labour_usd",
            "restaurant_sales_usd",
            "restaurant_costs_usd",
            "restaurant_wages_usd",
            "restaurant_retained_usd",
            "restaurant_arrears_usd",
            "labour_fees_usd",
            "labour_costs_usd",
            "labour_wages_usd",
            "labour_retained_usd",
        ),
    ),
    OutcomeTheme(
        "pay",
        "Workers' pay, hours and stress (M3, M4)",
        (
            "pay_level_restaurant",
            "hours_restaurant",
            "salary_suspended_restaurants",
            "stress_restaurant",
            "stress_labour",
        ),
    ),
    OutcomeTheme(
        "defections",
        "Defections and exit routes (M5, M6)",
        (
            "restaurant_defectors",
            "labour_defectors",
            "attempts_restaurant",
            "attempts_labour",
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
    OutcomeTheme(
        "enforcement",
        "Arrivals, arrests and repatriations (M6, M7, M10)",
        (
            "arrivals_south_korea",
            "arrivals_from_postings",
            "arrests_china",
            "arrests_hidden",
            "repatriations_from_china",
            "repatriations_other_hosts",
            "repatriated_severe_punishment",
            "brokered_intercepted",
            "border_crossings",
            "hidden_in_china",
            "broker_departures",
            "returns_home",
        ),
    ),
    OutcomeTheme(
        "people",
        "Workers and sites abroad (M1, M8)",
        (
            "workers_abroad",
            "workers_restaurant",
            "workers_labour",
            "restaurants_open",
            "restaurant_openings",
            "restaurant_closures",
            "closures_after_attempts",
            "hires",
            "rotations_home",
            "recalls",
            "surveillance_level",
            "screening_level",
        ),
    ),
    OutcomeTheme(
        "strategic",
        "Pyongyang and Beijing (M9)",
        (
            "provocations",
            "nuclear_tests",
            "missile_tests",
            "un_resolutions",
            "envoys",
            "relations_index",
            "displeasure",
            "economy_index",
            "trade_loss",
        ),
    ),
    OutcomeTheme(
        "levers",
        "Levers in force after Beijing's discretion (M9)",
        (
            "exit_strictness",
            "border_stringency",
            "china_sanctions",
            "food_aid",
            "travel_advisory",
            "un_workers_level",
        ),
    ),
)

#: where an outcome no theme lists is shown
OTHER = OutcomeTheme("other", "Other outcomes", ())


def theme_of(name: str) -> OutcomeTheme:
    """The theme an outcome is shown under (``OTHER`` if no theme lists it)."""
    for theme in THEMES:
        if name in theme.outcomes:
            return theme
    return OTHER


def themes_for(names: Iterable[str]) -> list[OutcomeTheme]:
    """The themes holding ``names``, in display order, each with only those of ``names``.

    The outcomes no theme lists come last, as ``OTHER`` with them as its outcomes.
    """
    wanted = list(names)
    present = set(wanted)
    out = [
        OutcomeTheme(t.key, t.title, tuple(n for n in t.outcomes if n in present)) for t in THEMES
    ]
    listed = {n for t in THEMES for n in t.outcomes}
    others = tuple(n for n in wanted if n not in listed)
    if others:
        out.append(OutcomeTheme(OTHER.key, OTHER.title, others))
    return [t for t in out if t.outcomes]
