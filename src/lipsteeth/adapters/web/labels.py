"""Plain words for the dashboard: lever labels, effective-lever outcomes, outcome themes.

A lever is what the analyst sets; what Beijing's discretion (M9) makes of it is
an outcome the core records (SYSTEM.md, "Levers, uncertainties, outcomes").
``LEVERS`` is the one table that pairs a lever with that outcome: the API
serves it and the dashboard draws the set value beside the effective one.
New effective-lever outcomes from the model work are one line here.

The themes the outcomes are shown under are ``adapters.outcome_themes``, the
same as the report's fan charts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core.outcomes import OUTCOMES
from ..outcome_themes import theme_of, themes_for


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
    """The title of the theme an outcome is shown under (``OTHER``'s if no theme lists it)."""
    return theme_of(name).title


def theme_order() -> list[str]:
    """Theme titles in display order, "Other outcomes" last (only if some outcome needs it)."""
    return [theme.title for theme in themes_for(OUTCOMES)]
