"""M2 demand shocks on restaurants: boycotts, anti-extravagance rules, sanctions, tests.

Demand of restaurant s on a day, relative to normal:

    (1 - share_sk * advisory_compliance * advisory)
  * (1 - share_officials * anti_extravagance_loss * anti_extravagance)
  * (1 - share_public * sanctions_loss * china_sanctions)
  * (1 - provocation dip) * exp(site noise)

Customer segments and their reactions come from the seed article: South
Korean tourists stay away when Seoul advises it (2016), Chinese officials when
anti-extravagance rules apply, and Chinese customers shun the restaurants after
nuclear tests.  The dip after a test decays exponentially; site noise is an
AR(1) process in log demand.  Labour sites have demand 1 (contracts, M1).
"""

from __future__ import annotations

import numpy as np

from .m09_strategic import Conditions
from .params import Params
from .state import Layout, State


def step_demand(
    rngs: list[np.random.Generator],
    state: State,
    layout: Layout,
    params: Params,
    cond: Conditions,
    nuclear_today: np.ndarray,
) -> np.ndarray:
    """Relative demand per site (R, S); updates the dip and the noise in place."""
    dp = params.demand
    state.demand_dip = 1.0 - (
        1.0 - state.demand_dip * np.exp(-1.0 / dp.provocation_recovery_days)
    ) * (1.0 - dp.provocation_loss * np.minimum(nuclear_today, 1))
    rho = np.exp(-1.0 / dp.noise_days)
    innovation_sd = dp.noise_sd * np.sqrt(1.0 - rho * rho)
    n_rest = layout.n_restaurants
    for r, g in enumerate(rngs):
        state.demand_noise[r, :n_rest] = rho * state.demand_noise[
            r, :n_rest
        ] + innovation_sd * g.standard_normal(n_rest)
    share_public = max(0.0, 1.0 - dp.share_south_korean - dp.share_officials)
    segment = (
        (1.0 - dp.share_south_korean * dp.advisory_compliance * cond.advisory)
        * (1.0 - dp.share_officials * dp.anti_extravagance_loss * cond.levers.anti_extravagance)
        * (1.0 - share_public * dp.sanctions_loss * cond.china_sanctions)
        * (1.0 - state.demand_dip)
    )
    demand = segment[:, None] * np.exp(state.demand_noise - 0.5 * dp.noise_sd**2)
    return np.where(layout.site_is_restaurant[None, :], demand, 1.0)
