"""M3 manager response to a quota shortfall: longer hours, lower pay, suspended salaries.

The manager tracks the site's margin at full pay (sales - costs - full wages
- quota) with an exponential average over ``adjustment_days``.  A negative
margin is a gap to close; arrears add a gap of arrears / ``arrears_repayment_days``
per day.  The manager closes the gap first out of the workers' pay (pay
target 1 - gap / full wage bill, reaching 0 = salary suspension, as in
Dandong, Corrado and Moore 2016) and lengthens hours in proportion to the
gap (up to ``hours_max``).  Pay and hours move toward their targets at rate
1/``adjustment_days`` and recover the same way when demand returns (F7).
"""

from __future__ import annotations

from typing import Any

from .bounds import clip
from .jit import compiled


@compiled(inline="always")
def manager_response(
    site: Any, sales: float, costs: float, full_wages: float, quota: float, owed: float, rp: Any
) -> None:
    """Update the site's margin, pay level and hours from today's accounts (in place)."""
    adjust = 1.0 / rp.adjustment_days
    site.margin += adjust * (sales - costs - full_wages - quota - site.margin)
    gap = max(-site.margin, 0.0) + owed / rp.arrears_repayment_days
    relative_gap = clip(gap / max(full_wages, 1e-9), 0.0, 1.0) if full_wages > 0 else 0.0
    site.pay_level += adjust * ((1.0 - relative_gap) - site.pay_level)
    site.hours += adjust * ((1.0 + (rp.hours_max - 1.0) * relative_gap) - site.hours)
