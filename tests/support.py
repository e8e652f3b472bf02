"""Helpers shared by tests: reduced-size versions of the default scenario."""

from __future__ import annotations

import dataclasses

from lipsteeth.core.params import Params


def small_params(params: Params, restaurants: int = 40, labour_sites: int = 30) -> Params:
    """The default parameters with a smaller population (same per-site behaviour)."""
    pop = params.population
    scale = labour_sites / pop.labour_sites_max
    small_pop = dataclasses.replace(
        pop,
        restaurant_sites_max=restaurants,
        restaurants_initial=int(
            round(restaurants * pop.restaurants_initial / pop.restaurant_sites_max)
        ),
        labour_sites_max=labour_sites,
        labour_workers_initial=int(pop.labour_workers_initial * scale),
    )
    wf = params.wider_flow
    small_flow = dataclasses.replace(
        wf,
        hidden_initial=wf.hidden_initial * 0.1,
        crossing_rate_per_year=wf.crossing_rate_per_year * 0.1,
    )
    return dataclasses.replace(params, population=small_pop, wider_flow=small_flow)
