"""M1 restaurants and labour sites: sales, costs, wages and the remittance quota.

Per site and day (USD):

  restaurant sales = gross_sales_per_day * demand * (1 + e_h (hours - 1)) * sqrt(staffing)
  labour fees      = contract_fee_per_month / 30.4 * labourers in post
  costs            = variable share * sales + fixed cost (restaurants)
                     living cost per labourer (labour sites)
  wages            = workers in post * normal pay * pay level (M3 sets the level)
  quota due        = restaurant quota / 365, or quota share * labour fees, plus arrears

The manager pays the quota first out of the day's net and the cash reserve
("managers owe remittances whatever the demand", seed article); what cannot be
paid becomes arrears; a reserve above its cap is remitted as surplus.  Money
balances on every site and day:

  sales = costs + wages + remittance + retained,  retained = change in reserve.

Numbers (sales, costs, pay, quotas) are scenario parameters; their sources
and reasons sit in the scenario file (F2, 03_restaurants_abroad.csv,
02_overseas_workers_estimates.csv).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounds import clip
from .m09_strategic import Conditions
from .params import Params
from .state import Layout, State, site_starts

DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class SiteAccounts:
    """One day of site accounts (R, S), USD."""

    staff: np.ndarray
    sales: np.ndarray
    costs: np.ndarray
    wages: np.ndarray
    full_wages: np.ndarray
    quota: np.ndarray
    remittance: np.ndarray
    retained: np.ndarray
    reserve: np.ndarray
    arrears: np.ndarray


def staff_per_site(in_post: np.ndarray, layout: Layout) -> np.ndarray:
    """Workers in post per site (R, S); posts of a site are contiguous."""
    return np.add.reduceat(in_post, site_starts(layout), axis=1, dtype=np.int64)


def site_accounts(
    state: State, layout: Layout, params: Params, cond: Conditions, demand: np.ndarray
) -> SiteAccounts:
    """Compute the day's accounts and the manager's remittance (M1, M3)."""
    rp, lp = params.restaurants, params.labour
    is_rest = layout.site_is_restaurant[None, :]
    open_ = state.site_open
    staff = state.staff
    staffing = np.minimum(1.0, staff / np.maximum(layout.site_posts[None, :], 1))
    rest_sales = (
        rp.gross_sales_per_day
        * demand
        * (1.0 + rp.sales_hours_elasticity * (state.hours - 1.0))
        * np.sqrt(staffing)
    )
    labour_fees = lp.contract_fee_per_month / DAYS_PER_MONTH * staff
    sales = np.where(open_, np.where(is_rest, rest_sales, labour_fees), 0.0)
    costs = np.where(
        open_,
        np.where(
            is_rest,
            rp.variable_cost_share * sales + rp.fixed_cost_per_day,
            lp.living_cost_per_month / DAYS_PER_MONTH * staff,
        ),
        0.0,
    )
    pay_rate = np.where(is_rest, rp.base_pay_per_month, lp.pay_per_month) / DAYS_PER_MONTH
    full_wages = np.where(open_, pay_rate * staff, 0.0)
    wages = full_wages * state.pay_level
    quota = np.where(
        open_,
        np.where(
            is_rest,
            cond.levers.restaurant_quota_usd / 365.0,
            cond.levers.labour_quota_share * sales,
        ),
        0.0,
    )
    due = quota + state.arrears
    cash = state.reserve + sales - costs - wages
    remittance = clip(cash, 0.0, due)
    cash = cash - remittance
    cap = rp.reserve_cap_days * quota
    surplus = np.maximum(cash - cap, 0.0)
    remittance = remittance + surplus
    cash = cash - surplus
    arrears = np.where(open_, np.maximum(due - remittance, 0.0), 0.0)
    return SiteAccounts(
        staff=staff,
        sales=sales,
        costs=costs,
        wages=wages,
        full_wages=full_wages,
        quota=quota,
        remittance=remittance,
        retained=cash - state.reserve,
        reserve=cash,
        arrears=arrears,
    )


def arrears_index(arrears: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Arrears in units of 90 days of quota, clipped to [0, 1] (pressure on the manager)."""
    return clip(arrears / np.maximum(90.0 * quota, 1e-9), 0.0, 1.0)
