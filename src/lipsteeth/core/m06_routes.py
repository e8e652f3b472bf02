"""M6 exit routes to South Korea: legal exit with documents, or the broker route.

Legal route (the 2016 Ningbo group, Corrado and Moore 2016): with passports
(a manager who holds them, or helpers who recover them, chance
``passport_reclaim_with_helper``) the group gets third-country visas and
leaves by the airport; the host's exit check stops it with probability equal
to the exit strictness (China: a lever Beijing relaxes as a signal, M9;
Russia and other hosts: parameters).  Arrival in South Korea after
1 + Exp(``legal_delay_days``) days.

Clandestine route (the 2016 Weinan group, and the older path): overland
through China to Laos and Thailand with brokers; caught in China with
probability clandestine_interception x stringency (times
``helper_interception_factor`` with helpers), else arrival after a gamma
transit (shape ``clandestine_transit_shape``, mean ``clandestine_transit_days``)
and an exponential third-country processing time.  Those caught are
repatriated (M7).  Broker fees are counted per person on this route.
"""

from __future__ import annotations

from typing import Any

from .events import Route
from .jit import compiled
from .state import CHINA, RUSSIA


@compiled
def choose_route(
    g: Any,
    p: Any,
    manager_led: bool,
    is_restaurant: bool,
    country: int,
    exit_strictness: float,
    stringency: float,
) -> tuple[int, bool, bool, int]:
    """Route (``events.Route`` code), helpers, caught, and delay to arrival of a group."""
    d, rt = p.defection, p.routes
    u_helpers = g.random()
    u_passport = g.random()
    u_caught = g.random()
    helpers = u_helpers < (d.helper_restaurant if is_restaurant else d.helper_labour)
    documents = manager_led or (helpers and u_passport < rt.passport_reclaim_with_helper)
    if documents:
        if country == CHINA:
            stop = exit_strictness
        elif country == RUSSIA:
            stop = rt.russia_exit_strictness
        else:
            stop = rt.other_exit_strictness
        delay = 1 + int(g.exponential(max(rt.legal_delay_days, 1e-9)))
        return Route.LEGAL, helpers, u_caught < stop, delay
    if country == CHINA:
        catch = rt.clandestine_interception_per_transit * stringency
    elif country == RUSSIA:
        catch = rt.russia_interception
    else:
        catch = rt.other_interception
    if helpers:
        catch *= rt.helper_interception_factor
    shape = rt.clandestine_transit_shape
    transit = g.gamma(shape, rt.clandestine_transit_days / shape)
    processing = g.exponential(max(rt.clandestine_processing_days, 1e-9))
    return Route.CLANDESTINE, helpers, u_caught < catch, 1 + int(transit + processing)
