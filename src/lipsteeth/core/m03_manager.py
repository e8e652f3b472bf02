"""M3 manager response to a quota shortfall: longer hours, lower pay, suspended salaries.

The manager tracks the site's margin at full pay (sales - costs - full wages
- quota) with an exponential average over ``adjustment_days``.  A negative
margin is a gap to close; arrears add a gap of arrears/90 per day.  The
manager closes the gap first out of the workers' pay (pay target
1 - gap / full wage bill, reaching 0 = salary suspension, as in Dandong,
seed article) and lengthens hours in proportion to the gap (up to
``hours_max``).  Pay and hours move toward their targets at rate
1/``adjustment_days`` and recover the same way when demand returns (F7).
"""

from __future__ import annotations

import numpy as np

from .bounds import clip
from .m01_revenue import SiteAccounts
from .params import Params
from .state import State


def step_manager(state: State, params: Params, accounts: SiteAccounts) -> None:
    """Update margin, pay level and hours in place from today's accounts."""
    rp = params.restaurants
    rate = 1.0 / rp.adjustment_days
    margin_today = accounts.sales - accounts.costs - accounts.full_wages - accounts.quota
    state.margin = state.margin + rate * (margin_today - state.margin)
    gap = np.maximum(-state.margin, 0.0) + accounts.arrears / 90.0
    relative_gap = clip(gap / np.maximum(accounts.full_wages, 1e-9), 0.0, 1.0)
    relative_gap = np.where(accounts.full_wages > 0, relative_gap, 0.0)
    pay_target = 1.0 - relative_gap
    hours_target = 1.0 + (rp.hours_max - 1.0) * relative_gap
    state.pay_level = state.pay_level + rate * (pay_target - state.pay_level)
    state.hours = state.hours + rate * (hours_target - state.hours)
