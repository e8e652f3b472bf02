"""M1 restaurants and labour sites: sales, costs, wages and the remittance quota.

Per site and day (USD):

  restaurant sales = gross_sales_per_day * demand * (1 + e_h (hours - 1)) * sqrt(staffing)
  labour fees      = contract_fee_per_month / 30.4 * labourers in post
  costs            = variable share * sales + fixed cost (restaurants)
                     living cost per labourer (labour sites)
  wages            = workers in post * normal pay * pay level (M3 sets the level)
  quota due        = restaurant quota / 365, or quota share * labour fees, plus arrears

The manager pays the quota first out of the day's net and the cash reserve
("managers owe remittances whatever the demand", Corrado and Moore 2016);
what cannot be paid becomes arrears; a reserve above its cap is remitted as
surplus.  Money balances on every site and day:

  sales = costs + wages + remittance + retained,  retained = change in reserve.

The pressure arrears put on a site is the arrears index
owed / (arrears_index_days x daily quota), clipped to [0, 1] (M3, M4, M5).

Quotas are renegotiated after sustained shortfalls: a restaurant owes
``quota_factor`` x the quota lever (1 when it opens); its arrears index is
averaged over ``quota_review_days``, and while the average exceeds
``quota_review_threshold`` Pyongyang cuts the factor by ``quota_cut`` (not below
``quota_factor_min``) with probability 1/``quota_review_days`` a day.  A
restaurant run under a local nominee (M8) pays ``nominee_fee_share`` of its
sales to the nominee.

Each host country has its own contracted labour force (relative to the
start, ``labour_scale``).  It grows at ``dispatch_growth_per_year`` until the
UN worker provisions acting there (the provision x the host's enforcement
x (1 - relabelled share), M9) reach ``un_freeze_level`` (UNSCR 2371); it falls
with time constant ``repatriation_days`` from ``un_repatriation_level``
(UNSCR 2397); it is frozen while the border is closed.  Relabelled labourers
(students, trainees, other visas) cost ``relabel_cost_share`` of their fee.
A labour site wants floor(fill x posts + offset) workers, fill = initial
labourers x its host's scale / capacity (the offset rounds fairly across
sites); a restaurant wants all its posts.

Numbers (sales, costs, pay, quotas) are scenario parameters; their sources
and reasons sit in the scenario file (F2, 03_restaurants_abroad.csv,
02_overseas_workers_estimates.csv).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bounds import clip
from .jit import compiled
from .m02_demand import site_demand
from .outcomes import SUSPENDED_PAY_LEVEL

DAYS_PER_MONTH = 30.4375


@compiled
def open_initial_sites(
    sites: np.ndarray, hosts: np.ndarray, posts: Any, layout: Any, p: Any, lever: Any, net: Any
) -> None:
    """Day 0: the first ``restaurants_initial`` restaurants and every labour site open, with
    their reserves; each site's wanted posts held (the labour force at its initial size)."""
    fill = labour_fill(1.0, p.population)
    for h in range(hosts.shape[0]):
        hosts[h].labour_scale = 1.0
        hosts[h].fill = fill
    in_post_total = 0
    for s in range(layout.posts.shape[0]):
        site = sites[s]
        is_rest = layout.is_restaurant[s]
        site.open = s >= layout.n_restaurants or s < p.population.restaurants_initial
        site.pay_level = 1.0
        site.hours = 1.0
        site.quota_factor = 1.0
        quota = lever.restaurant_quota_usd / 365.0 if is_rest else 0.0
        site.reserve = quota * p.restaurants.reserve_initial_days if site.open else 0.0
        wanted = wanted_headcount(fill, layout.posts[s], layout.offset[s], is_rest)
        site.staff = 0
        for rank in range(layout.posts[s]):
            held = site.open and rank < wanted
            posts.in_post[layout.start[s] + rank] = held
            site.staff += 1 if held else 0
        in_post_total += site.staff
    net.initial_in_post = in_post_total


@compiled
def step_labour_scale(host: Any, lp: Any, un_workers: float, closure: float) -> float:
    """Advance a host's contracted labour force by one day under the provisions acting there."""
    rate = lp.dispatch_growth_per_year / 365.0
    if un_workers >= lp.un_repatriation_level:
        rate = -1.0 / lp.repatriation_days
    elif un_workers >= lp.un_freeze_level:
        rate = 0.0
    host.labour_scale = host.labour_scale * np.exp(rate * (1.0 - closure))
    return host.labour_scale


@compiled
def step_labour_forces(hosts: np.ndarray, p: Any, closure: float) -> None:
    """Every host's contracted labour force and labour-site fill today."""
    for h in range(hosts.shape[0]):
        host = hosts[h]
        scale = step_labour_scale(host, p.labour, host.workers_provision, closure)
        host.fill = labour_fill(scale, p.population)


@compiled
def labour_fill(labour_scale: float, pop: Any) -> float:
    """Share of labour-site capacity the contracted force fills, in [0, 1]."""
    capacity = pop.labour_sites_max * pop.labour_site_capacity
    return clip(pop.labour_workers_initial * labour_scale / max(capacity, 1.0), 0.0, 1.0)


@compiled(inline="always")
def wanted_headcount(fill: float, posts: int, offset: float, is_restaurant: bool) -> int:
    """Workers a site wants: all posts at a restaurant, the fair share of the fill elsewhere."""
    if is_restaurant:
        return posts
    return min(int(np.floor(fill * posts + offset)), posts)


@compiled(inline="always")
def site_accounts(
    site: Any,
    host: Any,
    is_restaurant: bool,
    posts: int,
    p: Any,
    lever: Any,
    demand_constants: Any,
    out: Any,
) -> tuple[float, float, float, float, float]:
    """One day of a site's accounts; pays the quota, updates reserve and arrears (M1).

    Adds the day's sales, costs, wages, remittance and retained cash to the
    sector's outcomes in ``out``; returns (sales, costs, full_wages, quota,
    owed) for the manager (M3) and the arrears index.
    """
    rp, lp = p.restaurants, p.labour
    n_staff = site.staff
    sales = costs = full_wages = quota = 0.0
    if site.open:
        if is_restaurant:
            staffing = min(1.0, n_staff / max(posts, 1))
            demand = site_demand(host.segment, site.demand_noise, demand_constants)
            sales = (
                rp.gross_sales_per_day
                * demand
                * (1.0 + rp.sales_hours_elasticity * (site.hours - 1.0))
                * np.sqrt(staffing)
            )
            costs = rp.variable_cost_share * sales + rp.fixed_cost_per_day
            if site.nominee:
                costs += rp.nominee_fee_share * sales
            full_wages = rp.base_pay_per_month / DAYS_PER_MONTH * n_staff
            quota = lever.restaurant_quota_usd / 365.0 * site.quota_factor
        else:
            fee = lp.contract_fee_per_month * (1.0 - lp.relabel_cost_share * host.relabel)
            sales = fee / DAYS_PER_MONTH * n_staff
            costs = lp.living_cost_per_month / DAYS_PER_MONTH * n_staff
            full_wages = lp.pay_per_month / DAYS_PER_MONTH * n_staff
            quota = lever.labour_quota_share * sales
    wages = full_wages * site.pay_level
    due = quota + site.arrears
    cash = site.reserve + sales - costs - wages
    remit = clip(cash, 0.0, due)
    cash -= remit
    surplus = max(cash - rp.reserve_cap_days * quota, 0.0)
    remit += surplus
    cash -= surplus
    owed = max(due - remit, 0.0) if site.open else 0.0
    retained = cash - site.reserve
    site.reserve = cash
    site.arrears = owed
    if is_restaurant:
        out.restaurant_sales_usd += sales
        out.restaurant_costs_usd += costs
        out.restaurant_wages_usd += wages
        out.restaurant_retained_usd += retained
        out.remittance_restaurants_usd += remit
    else:
        out.labour_fees_usd += sales
        out.labour_costs_usd += costs
        out.labour_wages_usd += wages
        out.labour_retained_usd += retained
        out.remittance_labour_usd += remit
    return sales, costs, full_wages, quota, owed


@compiled(inline="always")
def arrears_index(owed: float, quota: float, rp: Any) -> float:
    """Arrears in units of ``arrears_index_days`` of quota, clipped to [0, 1]."""
    return clip(owed / max(rp.arrears_index_days * quota, 1e-9), 0.0, 1.0)


@compiled(inline="always")
def review_quota(g: Any, site: Any, arrears_index: float, rp: Any, out: Any) -> None:
    """Pyongyang renegotiates an open restaurant's quota after a sustained shortfall."""
    site.arrears_ema += (arrears_index - site.arrears_ema) / rp.quota_review_days
    if site.arrears_ema > rp.quota_review_threshold and g.random() < 1.0 / rp.quota_review_days:
        site.quota_factor = max(site.quota_factor * (1.0 - rp.quota_cut), rp.quota_factor_min)
        site.arrears_ema = 0.0
        out.quota_renegotiations += 1


@compiled
def workforce_stocks(sites: np.ndarray, hosts: np.ndarray, layout: Any, out: Any) -> None:
    """End-of-day stocks: workers abroad by sector, restaurants open, pay and hours (F1, F7)."""
    n_restaurants = layout.n_restaurants
    staff_rest = staff_lab = 0
    pay_sum = hours_sum = weight_sum = quota_sum = relabelled = 0.0
    suspended = open_rest = nominees = 0
    for s in range(sites.shape[0]):
        site = sites[s]
        if s < n_restaurants:
            staff_rest += site.staff
            if site.open:
                open_rest += 1
                quota_sum += site.quota_factor
                nominees += 1 if site.nominee else 0
                pay_sum += site.staff * site.pay_level
                hours_sum += site.staff * site.hours
                weight_sum += site.staff
                if site.pay_level < SUSPENDED_PAY_LEVEL:
                    suspended += 1
        else:
            staff_lab += site.staff
            relabelled += site.staff * hosts[layout.country[s]].relabel
    weight_sum = max(weight_sum, 1e-9)
    arrears = 0.0
    for s in range(n_restaurants):
        arrears += sites[s].arrears  # arrears of sites shut today were written off with them
    out.restaurant_arrears_usd = arrears
    out.pay_level_restaurant = pay_sum / weight_sum
    out.hours_restaurant = hours_sum / weight_sum
    out.salary_suspended_restaurants = suspended
    out.workers_abroad = staff_rest + staff_lab
    out.workers_restaurant = staff_rest
    out.workers_labour = staff_lab
    out.restaurants_open = open_rest
    out.nominee_restaurants = nominees
    out.workers_relabelled = relabelled
    out.quota_level = quota_sum / open_rest if open_rest else 0.0
