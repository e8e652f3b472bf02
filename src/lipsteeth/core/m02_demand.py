"""M2 demand shocks on restaurants: boycotts, anti-extravagance rules, sanctions, tests, pandemics.

Demand of a restaurant in host country h on a day, relative to normal:

    (1 - sk_h * (c a + (1 - c a) * pandemic_travel_loss * pandemic))
  * (1 - officials_h * anti_extravagance_loss * anti_extravagance)
  * (1 - public_h * sanctions_loss * china_sanctions * [h = China])
  * (1 - pandemic_custom_loss * pandemic)
  * (1 - provocation dip) * exp(site noise - sd^2 / 2)

with c = advisory_compliance and a Seoul's advisory.  Customer segments differ
by country: South Koreans (``share_south_korean_china/_russia/_other``) stay
away when Seoul advises it wherever they travel (2016, Corrado and Moore,
Foreign Affairs, 2016); Chinese officials (``share_officials``, in China only)
when the anti-extravagance rules apply; the Chinese public under Chinese
sanctions (in China only); everyone after nuclear tests; and a pandemic
(lever ``pandemic``: host-country restrictions, a dated event) cuts both
travel and local custom.  The
dip after a test, dip' = 1 - (1 - dip e^(-1/recovery)) (1 - loss x [test
today]), decays exponentially; site noise is a stationary AR(1) process in
log demand with correlation time ``noise_days`` (the -sd^2/2 keeps mean
demand at the segment level).  Labour sites have contracts, not customers (M1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .jit import compiled
from .state import CHINA, RUSSIA


class DemandConstants(NamedTuple):
    """Per-run constants of M2 (from the demand parameters)."""

    dip_decay: float
    rho: float
    innovation_sd: float
    noise_mean_shift: float


@compiled
def demand_constants(dp: Any) -> DemandConstants:
    """Daily decay of the dip, AR(1) coefficient and innovation sd, mean shift."""
    rho = np.exp(-1.0 / dp.noise_days)
    return DemandConstants(
        np.exp(-1.0 / dp.provocation_recovery_days),
        rho,
        dp.noise_sd * np.sqrt(1.0 - rho * rho),
        0.5 * dp.noise_sd**2,
    )


@compiled(inline="always")
def segment_shares(h: int, dp: Any) -> tuple[float, float, float]:
    """South Korean, official and public shares of a restaurant's sales in host ``h``."""
    if h == CHINA:
        south_korean, officials = dp.share_south_korean_china, dp.share_officials
    elif h == RUSSIA:
        south_korean, officials = dp.share_south_korean_russia, 0.0
    else:
        south_korean, officials = dp.share_south_korean_other, 0.0
    return south_korean, officials, max(0.0, 1.0 - south_korean - officials)


@compiled
def step_demand(
    g: Any,
    net: Any,
    sites: np.ndarray,
    n_restaurants: int,
    dp: Any,
    c: DemandConstants,
    hosts: np.ndarray,
    nuclear_tests: float,
    advisory: float,
    anti_extravagance: float,
    china_sanctions: float,
    pandemic: float,
) -> None:
    """Today's demand level of each host's restaurants; advances the dip and site noise."""
    net.demand_dip = 1.0 - (1.0 - net.demand_dip * c.dip_decay) * (
        1.0 - dp.provocation_loss * min(nuclear_tests, 1.0)
    )
    staying_away = dp.advisory_compliance * advisory
    travel_lost = staying_away + (1.0 - staying_away) * dp.pandemic_travel_loss * pandemic
    for h in range(hosts.shape[0]):
        south_korean, officials, public = segment_shares(h, dp)
        sanctions = china_sanctions if h == CHINA else 0.0
        hosts[h].segment = (
            (1.0 - south_korean * travel_lost)
            * (1.0 - officials * dp.anti_extravagance_loss * anti_extravagance)
            * (1.0 - public * dp.sanctions_loss * sanctions)
            * (1.0 - dp.pandemic_custom_loss * pandemic)
            * (1.0 - net.demand_dip)
        )
    for s in range(n_restaurants):
        site = sites[s]
        site.demand_noise = c.rho * site.demand_noise + c.innovation_sd * g.standard_normal()


@compiled(inline="always")
def site_demand(segment: float, noise: float, c: DemandConstants) -> float:
    """Demand of one restaurant relative to normal."""
    return segment * np.exp(noise - c.noise_mean_shift)
