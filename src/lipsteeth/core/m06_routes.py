"""M6 exit routes to South Korea: legal exit with documents, or the broker route.

Legal route (the 2016 Ningbo group): with passports (a manager who holds them,
or helpers who recover them) the group gets third-country visas and leaves by
the airport; the host's exit check stops it with probability equal to the
exit strictness (China: a lever Beijing relaxes as a signal, M9; Russia and
other hosts: parameters).  Arrival in South Korea after a short delay.

Clandestine route (the 2016 Weinan group, and the older path): overland
through China to Laos and Thailand with brokers; caught in China with
probability clandestine_interception x stringency (helpers halve it), else
arrival after transit and third-country processing.  Those caught are
repatriated (M7).  Broker fees are counted per person on this route.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import Params
from .state import CHINA, RUSSIA

LEGAL, CLANDESTINE, NONE = "legal", "clandestine", "none"


@dataclass(frozen=True)
class RouteOutcome:
    route: str
    helpers: bool
    caught: bool
    delay_days: int


def choose_route(
    g: np.random.Generator,
    manager_led: bool,
    is_restaurant: bool,
    country: int,
    exit_strictness: float,
    stringency: float,
    params: Params,
) -> RouteOutcome:
    """Route, helpers, capture and delay of an undetected group."""
    d, rt = params.defection, params.routes
    u = g.random(4)
    helpers = bool(u[0] < (d.helper_restaurant if is_restaurant else d.helper_labour))
    documents = manager_led or (helpers and u[1] < rt.passport_reclaim_with_helper)
    if documents:
        stop = {CHINA: exit_strictness, RUSSIA: rt.russia_exit_strictness}.get(
            country, rt.other_exit_strictness
        )
        caught = bool(u[2] < stop)
        delay = 1 + int(g.exponential(max(rt.legal_delay_days, 1e-9)))
        return RouteOutcome(LEGAL, helpers, caught, delay)
    catch = {
        CHINA: rt.clandestine_interception_per_transit * stringency,
        RUSSIA: rt.russia_interception,
    }.get(country, rt.other_interception)
    if helpers:
        catch *= 0.5
    caught = bool(u[2] < catch)
    transit = g.gamma(4.0, rt.clandestine_transit_days / 4.0)
    processing = g.exponential(max(rt.clandestine_processing_days, 1e-9))
    return RouteOutcome(CLANDESTINE, helpers, caught, 1 + int(transit + processing))
