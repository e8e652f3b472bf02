"""Plain words for the dashboard: lever labels, effective-lever outcomes, outcome themes.

A lever is what the analyst sets; what Beijing's discretion (M9) makes of it is
an outcome the core records (SYSTEM.md, "Levers, uncertainties, outcomes").
``LEVERS`` is the one table that pairs a lever with that outcome: the API
serves it and the dashboard draws the set value beside the effective one.
New effective-lever outcomes from the model work are one line here.

``THEMES`` groups the outcomes of ``core.outcomes.OUTCOMES`` by what they are
about; an outcome the table does not list yet lands in "Other outcomes", so a
new outcome is shown (under its own doc) before anyone files it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core.outcomes import OUTCOMES


@dataclass(frozen=True)
class LeverView:
    """How the dashboard shows one lever."""

    name: str
    label: str
    hint: str
    effective_outcome: str | None  # the outcome holding the value in force after M9
    main: bool = True  # shown in the first block of sliders


LEVERS: tuple[LeverView, ...] = (
    LeverView(
        "china_exit_strictness",
        "Chinese exit policy",
        "chance a documented worker is stopped at China's exit check (M6, M7)",
        "exit_strictness",
    ),
    LeverView(
        "china_border_stringency",
        "Chinese border stringency",
        "enforcement against North Koreans hiding in China (M7, M10)",
        "border_stringency",
    ),
    LeverView(
        "china_sanctions",
        "Chinese sanctions",
        "share of sanctions China implements (M2, M9)",
        "china_sanctions",
    ),
    LeverView(
        "food_aid",
        "Chinese food aid",
        "1 = a full package (M9, M10)",
        "food_aid",
    ),
    LeverView(
        "seoul_travel_advisory",
        "Seoul's travel advisory (boycott)",
        "advice to South Koreans to avoid the restaurants (M2)",
        "travel_advisory",
    ),
    LeverView(
        "un_workers",
        "UN provisions on overseas workers",
        "0 none; 0.3 freeze; 0.6 no new postings; 0.9 repatriation (M1, M9)",
        "un_workers_level",
    ),
    LeverView(
        "restaurant_quota_usd",
        "Remittance quota",
        "USD a restaurant owes Pyongyang a year (M1, M3)",
        None,
    ),
    LeverView(
        "beijing_discretion",
        "Beijing's discretion",
        "1: Beijing moves its levers as signals (M9); 0: the levers hold as set",
        None,
    ),
)
LEVER_VIEWS: dict[str, LeverView] = {view.name: view for view in LEVERS}

#: (theme, outcome names) in the order the dashboard shows them
THEMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
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
    (
        "Workers' pay, hours and stress (M3, M4)",
        (
            "pay_level_restaurant",
            "hours_restaurant",
            "salary_suspended_restaurants",
            "stress_restaurant",
            "stress_labour",
        ),
    ),
    (
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
    (
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
    (
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
    (
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
    (
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
OTHER_THEME = "Other outcomes"

#: labels where an outcome's doc alone does not read as a heading
_LABELS: dict[str, str] = {
    "pay_level_restaurant": "Restaurant pay level",
    "hours_restaurant": "Restaurant working hours",
    "salary_suspended_restaurants": "Restaurants with salaries suspended (pay under 5 %)",
    "stress_restaurant": "Stress of restaurant staff",
    "stress_labour": "Stress of labourers",
    "restaurant_retained_usd": "Restaurant cash reserves (change)",
    "labour_retained_usd": "Labour-site cash reserves (change)",
    "surveillance_level": "Added surveillance, network-wide",
    "screening_level": "Added loyalty demanded of recruits",
    "missile_tests": "Missile tests",
    "nuclear_tests": "Nuclear tests",
    "provocations": "Provocations (missile and nuclear tests)",
    "un_resolutions": "UN sanctions resolutions",
    "relations_index": "China-North Korea relations index",
    "displeasure": "Beijing's displeasure",
    "economy_index": "North Korea's hard-currency economy",
    "trade_loss": "Trade with China lost to sanctions",
}

#: the default selection: the question of the source article, one line per layer
DEFAULT_OUTCOMES: tuple[str, ...] = (
    "revenue_to_state_usd",
    "restaurant_defectors",
    "escapes_legal_route",
    "arrivals_south_korea",
    "repatriations_from_china",
    "provocations",
)


def outcome_label(name: str) -> str:
    """A plain heading for an outcome: its doc, capitalised, unless ``_LABELS`` has better."""
    if name in _LABELS:
        return _LABELS[name]
    doc = OUTCOMES[name].doc if name in OUTCOMES else name.replace("_", " ")
    return doc[:1].upper() + doc[1:]


def outcome_theme(name: str) -> str:
    """The theme an outcome is shown under (``OTHER_THEME`` if no theme lists it)."""
    for theme, names in THEMES:
        if name in names:
            return theme
    return OTHER_THEME


def theme_order() -> list[str]:
    """Themes in display order, "Other outcomes" last (only if some outcome needs it)."""
    listed = {name for _, names in THEMES for name in names}
    themes = [theme for theme, _ in THEMES]
    if any(name not in listed for name in OUTCOMES):
        themes.append(OTHER_THEME)
    return themes
