"""M2 demand shocks on restaurants: boycotts, anti-extravagance rules, sanctions, tests.

Demand of restaurant s on a day, relative to normal:

    (1 - share_sk * advisory_compliance * advisory)
  * (1 - share_officials * anti_extravagance_loss * anti_extravagance)
  * (1 - share_public * sanctions_loss * china_sanctions)
  * (1 - provocation dip) * exp(site noise - sd^2 / 2)

Customer segments and their reactions come from the source article
(Corrado and Moore, Foreign Affairs, 2016): South Korean tourists stay away
when Seoul advises it (2016), Chinese officials when anti-extravagance rules
apply, and Chinese customers shun the restaurants after nuclear tests.  The
dip after a test, dip' = 1 - (1 - dip e^(-1/recovery)) (1 - loss x [test
today]), decays exponentially; site noise is a stationary AR(1) process in
log demand with correlation time ``noise_days`` (the -sd^2/2 keeps mean
demand at the segment level).  Labour sites have contracts, not customers (M1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .jit import compiled


class DemandConstants(NamedTuple):
    """Per-run constants of M2 (from the demand parameters)."""

    dip_decay: float
    rho: float
    innovation_sd: float
    noise_mean_shift: float
    share_public: float


@compiled
def demand_constants(dp: Any) -> DemandConstants:
    """Daily decay of the dip, AR(1) coefficient and innovation sd, mean shift, public share."""
    rho = np.exp(-1.0 / dp.noise_days)
    return DemandConstants(
        np.exp(-1.0 / dp.provocation_recovery_days),
        rho,
        dp.noise_sd * np.sqrt(1.0 - rho * rho),
        0.5 * dp.noise_sd**2,
        max(0.0, 1.0 - dp.share_south_korean - dp.share_officials),
    )


@compiled
def step_demand(
    g: Any,
    net: Any,
    sites: np.ndarray,
    n_restaurants: int,
    dp: Any,
    c: DemandConstants,
    nuclear_tests: float,
    advisory: float,
    anti_extravagance: float,
    china_sanctions: float,
) -> float:
    """Today's demand level common to all restaurants; advances the dip and site noise."""
    net.demand_dip = 1.0 - (1.0 - net.demand_dip * c.dip_decay) * (
        1.0 - dp.provocation_loss * min(nuclear_tests, 1.0)
    )
    segment = (
        (1.0 - dp.share_south_korean * dp.advisory_compliance * advisory)
        * (1.0 - dp.share_officials * dp.anti_extravagance_loss * anti_extravagance)
        * (1.0 - c.share_public * dp.sanctions_loss * china_sanctions)
        * (1.0 - net.demand_dip)
    )
    for s in range(n_restaurants):
        site = sites[s]
        site.demand_noise = c.rho * site.demand_noise + c.innovation_sd * g.standard_normal()
    return segment


@compiled(inline="always")
def site_demand(segment: float, noise: float, c: DemandConstants) -> float:
    """Demand of one restaurant relative to normal."""
    return segment * np.exp(noise - c.noise_mean_shift)
