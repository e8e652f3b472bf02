"""The outcomes the comparison's charts draw (themes: ``adapters.outcome_themes``)."""

from __future__ import annotations

#: outcomes drawn in comparison charts (the comparison table has every outcome)
COMPARE_OUTCOMES: tuple[str, ...] = (
    "revenue_to_state_usd",
    "remittance_restaurants_usd",
    "workers_abroad",
    "restaurants_open",
    "pay_level_restaurant",
    "restaurant_defectors",
    "escapes_legal_route",
    "escapes_clandestine_route",
    "arrivals_south_korea",
    "repatriations_from_china",
    "restaurant_closures",
    "provocations",
    "relations_index",
)
