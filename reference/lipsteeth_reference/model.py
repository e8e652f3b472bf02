"""The lipsteeth model written the plain way: one Mesa agent per worker and per site.

Agents
  WorkerAgent      one worker in a post abroad: loyalty and family deterrent
                   fixed at recruitment (M4 screening), stress updated every
                   day by the plain recurrence stress += (pressure - stress) /
                   stress_days (M4), one Bernoulli draw per day for flight (M5),
                   one for the end of the posting and one for a recall (M1).
  RestaurantAgent  a restaurant site: demand of its host country's customers
                   (M2), accounts and a renegotiable remittance quota (M1), the
                   manager's response to shortfalls (M3), hiring into vacant
                   posts, the manager's own flight (M5), closure orders and a
                   reopening under a local nominee (M8, M1 evasion).
  LabourSiteAgent  a labour site: contract fees (less the cost of relabelled
                   cover), living costs, quota share (M1).
Model-level submodels (plain Python, per day)
  HostStates       each host's choice of UN enforcement (M9), relabelling and
                   the contracted labour force per host (M1), the exit check
                   workers perceive there (M5).
  StrategicLayer   Pyongyang's programme, bargaining and tests, envoys, UN
                   resolutions, Seoul's advisory, Beijing's sticks, carrots and
                   limits, oil, the economy index (M9).
  WiderFlow        North Koreans outside postings (M10): recent crossers,
                   long-term residents hidden in China, third-country residents.
  Detention        China's detention centres with a capacity, batch handovers,
                   release and long detention of the overflow (M7).
  plots, routes and the regime's reaction (M5, M6, M8) are model methods.

Everything is written from the equations of the specification (SPEC-12 and the
docstrings of the core's parameter and outcome definitions), not from the core's
code; random draws differ from the core's (Python's ``random`` per agent, NumPy
per aggregate), only the distributions must agree.  The model's day runs in the
order of the specification:
M9 policy -> M9 tests/talks/resolutions -> M2 -> sites (M1, M3, M4, M1 evasion,
M8 closure orders) -> M5 posts -> M5/M6/M7/M8 attempts -> M8 closures and
openings -> M10 -> M7 detention -> M9 economy -> outcomes.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import mesa
import numpy as np
from mesa.agent import AgentSet

from lipsteeth.core.outcomes import OUTCOME_NAMES, OUTCOMES, SUSPENDED_PAY_LEVEL
from lipsteeth.core.params import Levers, Params, field_specs
from lipsteeth.core.timeline import UN_PROVISIONS, Calendar, Rule, Timeline

CHINA, RUSSIA, OTHER = 0, 1, 2
HOSTS = (CHINA, RUSSIA, OTHER)
COUNTRY_NAMES = ("China", "Russia", "other")
GOLDEN = 0.6180339887498949  # well-mixed deterministic country assignment (layout definition)
DAYS_PER_MONTH = 30.4375  # M1: monthly amounts to daily
LONGEST_DELAY_DAYS = 729  # M7/M10: support of the discretised delay distributions
CARROT_AID_LEVEL = 0.5  # M9 (SPEC-12 s6): food aid above this is a carrot that can start talks


#: largest Poisson mean drawn, as in the core (``core.bounds.POISSON_MEAN_MAX``): extreme
#: accepted rates (several betas at their bounds) would overflow the sampler (issue 17)
POISSON_MEAN_MAX = 1e12


def capped(mean: float) -> float:
    """A Poisson mean saturated at ``POISSON_MEAN_MAX``."""
    return min(mean, POISSON_MEAN_MAX)


# --------------------------------------------------------------------------- helpers


def per_day(rate_per_year: float) -> float:
    """Daily probability of an event of a yearly rate: p = 1 - exp(-rate / 365)."""
    return 1.0 - math.exp(-rate_per_year / 365.0)


def clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def gamma_delay(mean_days: float, shape: float) -> tuple[np.ndarray, np.ndarray]:
    """Days 1..LONGEST_DELAY_DAYS and their probabilities (M7, M10).

    A gamma density of the given mean and shape evaluated at whole days and
    normalised; a non-positive mean, or one so small that the density underflows on
    every day (as in the core's ``m07.delay_pmf``), puts everything on day 1.
    """
    days = np.arange(1, LONGEST_DELAY_DAYS + 1)
    theta = mean_days / shape if mean_days > 0 else 0.0
    log_w = (shape - 1.0) * np.log(days) - days / theta if theta > 0 else None
    if log_w is None or not np.isfinite(log_w.max()):
        probs = np.zeros(days.shape[0])
        probs[0] = 1.0
        return days, probs
    w = np.exp(log_w - log_w.max())
    return days, w / w.sum()


def country_of(n: int, share_china: float, share_russia: float) -> list[int]:
    """Host country of n sites of one sector (golden-ratio sequence, as in the core layout)."""
    out = []
    for i in range(n):
        u = (i * GOLDEN) % 1.0
        out.append(
            CHINA if u < share_china else RUSSIA if u < share_china + share_russia else OTHER
        )
    return out


@dataclass(frozen=True)
class Conditions:
    """Beijing's and the hosts' effective policy on one day (M9), plus the day's levers."""

    exit_strictness: float
    stringency: float
    china_sanctions: float
    aid: float
    signal: float
    advisory: float
    un: tuple[float, ...]  # UN obligations, UN_PROVISIONS order
    enforcement: tuple[float, float, float]  # each host's effective enforcement e_h
    oil_cut: float
    pressure: float
    levers: Levers

    @property
    def un_workers(self) -> float:
        """UN worker provisions as an obligation, before any host's enforcement (M9)."""
        return self.un[0]

    @property
    def worker_ban_enforced(self) -> float:
        """Mean over hosts of u_workers x e_h (slows ordinary openings, M8)."""
        return self.un[0] * sum(self.enforcement) / len(self.enforcement)


@dataclass(frozen=True)
class GroupRecord:
    """One defection group (M5) and what became of it (M6, M7)."""

    replicate: int
    day: int
    site: int
    sector: str
    country: str
    size: int
    manager_led: bool
    helpers: bool
    route: str
    outcome: str
    arrival_day: int


# --------------------------------------------------------------------------- agents


class WorkerAgent(mesa.Agent):
    """A North Korean worker holding a post at a site (M4 state, M5 decision)."""

    def __init__(self, model: LipsteethModel, site: SiteAgent, rank: int) -> None:
        super().__init__(model)
        p = model.params
        self.site = site
        self.rank = rank
        # M4 screening: the sector's screened mean, raised by the screening lever and
        # by the regime's tightening after attempts (M8), with normal spread.
        mean = (
            (
                p.workers.restaurant_loyalty_mean
                if site.is_restaurant
                else p.workers.labour_loyalty_mean
            )
            + p.workers.screening_loyalty_gain * model.current_levers.screening_strictness
            + model.screening
        )
        self.loyalty = min(max(self.random.gauss(mean, p.workers.loyalty_sd), 0.0), 1.0)
        # M4 family at home: uniform within +-spread of its mean.
        spread = p.workers.family_deterrent_spread
        fam = p.workers.family_deterrent_mean + self.random.uniform(-spread, spread)
        self.family = min(max(fam, 0.0), 1.0)
        # M5: the worker's own multiplier of the hazard (loyalty and family hold it down).
        self.restraint = math.exp(
            -p.defection.beta_loyalty * self.loyalty - p.defection.beta_family * self.family
        )
        self.stress = 0.0  # M4: recruits start without stress
        site.workers[rank] = self

    def step(self) -> None:
        """One day: stress follows the site's pressure; flight, rotation or recall (M4, M5, M1)."""
        site = self.site
        model = self.model
        self.stress += (site.pressure - self.stress) * model.stress_rate
        hazard = site.hazard_scale * math.exp(model.beta_stress * self.stress) * self.restraint
        draw = model.random.random
        if draw() < min(hazard, model.params.defection.flight_probability_cap):
            site.initiators.append(self)  # M5: starts a plot today, stays until it forms
        elif draw() < model.p_contract_end:
            model.rotations_today += 1
            self.leave()
        elif (not site.open or self.rank >= site.wanted) and draw() < model.p_recall:
            model.recalls_today += 1
            self.leave()

    def leave(self) -> None:
        """Free the post and leave the model."""
        del self.site.workers[self.rank]
        self.remove()


class SiteAgent(mesa.Agent):
    """A site abroad with its posts, accounts and manager (M1, M3, M4 site conditions)."""

    is_restaurant = False

    def __init__(
        self,
        model: LipsteethModel,
        index: int,
        country: int,
        posts: int,
        offset: float,
        is_open: bool,
    ) -> None:
        super().__init__(model)
        self.index = index
        self.country = country
        self.posts = posts
        self.offset = offset
        self.open = is_open
        self.reopen_day = 0
        self.workers: dict[int, WorkerAgent] = {}
        self.reserve = 0.0
        self.arrears = 0.0
        self.margin = 0.0
        self.pay_level = 1.0
        self.hours = 1.0
        self.site_watch = 0.0
        self.wanted = posts
        # M1/M8 evasion and quota renegotiation (restaurants only)
        self.nominee = False  # runs under a local nominee
        self.shut_by_order = False  # last shut by a host's closure order (nominee-eligible)
        self.quota_factor = 1.0
        self.arrears_ema = 0.0
        # today's values
        self.sales = self.costs = self.wages = self.full_wages = 0.0
        self.quota = self.remittance = self.retained = 0.0
        self.arrears_index = 0.0
        self.manager_pressure = 0.0
        self.pressure = 0.0
        self.surveillance = 0.0
        self.hazard_scale = 0.0
        self.initiators: list[WorkerAgent] = []
        self.pending_hires: list[int] = []

    # M1 sector specifics -------------------------------------------------------
    def income(self, staff: int, demand_factor: float) -> float:
        raise NotImplementedError

    def running_costs(self, staff: int, income: float) -> float:
        raise NotImplementedError

    def pay_per_day(self) -> float:
        raise NotImplementedError

    def quota_due(self, income: float, levers: Levers) -> float:
        raise NotImplementedError

    def base_hazard_per_day(self) -> float:
        raise NotImplementedError

    def base_surveillance(self) -> float:
        raise NotImplementedError

    def helper_chance(self) -> float:
        raise NotImplementedError

    def step_demand(self, segment: float) -> float:
        """Relative demand today (M2); labour sites work on contracts (demand 1)."""
        return 1.0

    def review_quota(self) -> None:
        """Quota renegotiation (M1); labour sites owe a share of their fees, never renegotiated."""

    # the day ---------------------------------------------------------------------
    def step(self) -> None:
        """Demand, accounts and remittance, manager response, pressure on workers (M1-M5)."""
        model = self.model
        p = model.params
        rp = p.restaurants
        demand_factor = self.step_demand(model.demand_segment[self.country])
        staff = len(self.workers)
        if self.open:
            sales = self.income(staff, demand_factor)
            costs = self.running_costs(staff, sales)
            full_wages = self.pay_per_day() * staff
            quota = self.quota_due(sales, model.current_levers)
        else:
            sales = costs = full_wages = quota = 0.0
        wages = full_wages * self.pay_level
        # M1: the quota is paid first out of the day's net and the reserve; the rest is arrears
        due = quota + self.arrears
        cash = self.reserve + sales - costs - wages
        remittance = min(max(cash, 0.0), due)
        cash -= remittance
        surplus = max(cash - rp.reserve_cap_days * quota, 0.0)
        remittance += surplus
        cash -= surplus
        self.arrears = max(due - remittance, 0.0) if self.open else 0.0
        self.retained = cash - self.reserve
        self.reserve = cash
        self.sales, self.costs, self.wages, self.full_wages = sales, costs, wages, full_wages
        self.quota, self.remittance = quota, remittance
        # M3: the manager closes the gap with pay first and longer hours
        rate = 1.0 / rp.adjustment_days
        self.margin += rate * ((sales - costs - full_wages - quota) - self.margin)
        gap = max(-self.margin, 0.0) + self.arrears / rp.arrears_repayment_days
        relative = min(max(gap / max(full_wages, 1e-9), 0.0), 1.0) if full_wages > 0 else 0.0
        self.pay_level += rate * ((1.0 - relative) - self.pay_level)
        self.hours += rate * ((1.0 + (rp.hours_max - 1.0) * relative) - self.hours)
        self.arrears_index = min(
            max(self.arrears / max(rp.arrears_index_days * quota, 1e-9), 0.0), 1.0
        )
        self.manager_pressure = min(max(self.arrears_index, 1.0 - self.pay_level), 1.0)
        self.review_quota()
        # M4: pressure on the workers, surveillance
        w = p.workers
        self.pressure = (
            w.stress_weight_pay * (1.0 - self.pay_level)
            + w.stress_weight_hours * (self.hours - 1.0) / max(rp.hours_max - 1.0, 1e-9)
            + w.stress_weight_arrears * self.arrears_index
        )
        self.surveillance = min(
            max(self.base_surveillance() + model.control + self.site_watch, 0.0), 1.0
        )
        # M5: today's hazard scale; surveillance holds it down, perceived opportunity
        # (a lax exit check at this host, helpers, a complicit manager) raises it
        d = p.defection
        opportunity = (
            d.opportunity_exit_weight * (1.0 - model.hosts.perceived_exit[self.country])
            + d.opportunity_helper_weight * self.helper_chance()
            + d.opportunity_manager_weight * self.manager_pressure
        )
        self.hazard_scale = self.base_hazard_per_day() * math.exp(
            -d.beta_surveillance * self.surveillance + d.beta_opportunity * opportunity
        )

    def set_wanted(self, fill: float) -> None:
        """Wanted headcount (M1): every post of a restaurant, a share of a labour site."""
        self.wanted = self.posts

    def draw_hires(self, p_hire: float, labour_ban: bool) -> None:
        """Each vacant wanted post of an open site gets a recruit today with chance p_hire (M1)."""
        self.pending_hires = []
        if not self.open or (labour_ban and not self.is_restaurant):
            return
        for rank in range(min(self.wanted, self.posts)):
            if rank not in self.workers and self.random.random() < p_hire:
                self.pending_hires.append(rank)

    def close(self, day: int, by_order: bool) -> tuple[int, float]:
        """Shut the site (M8): recall everyone, seize the reserve; return (recalled, seized)."""
        recalled = len(self.workers)
        for worker in list(self.workers.values()):
            worker.leave()
        seized = self.reserve
        self.reserve = self.arrears = self.margin = 0.0
        self.pay_level = self.hours = 1.0
        self.open = False
        self.nominee = False
        self.shut_by_order = by_order
        self.reopen_day = day + int(self.model.params.regime.reopen_delay_days)
        return recalled, seized

    def reopen(self, nominee: bool) -> None:
        """Open again (M8), under a local nominee or not; a fresh quota (M1)."""
        self.open = True
        self.reserve = 0.0
        self.nominee = nominee
        self.shut_by_order = False
        self.quota_factor = 1.0
        self.arrears_ema = 0.0


class RestaurantAgent(SiteAgent):
    """A state-run restaurant abroad (M1, M2, M3, M8)."""

    is_restaurant = True

    def __init__(
        self,
        model: LipsteethModel,
        index: int,
        country: int,
        posts: int,
        offset: float,
        is_open: bool,
    ) -> None:
        super().__init__(model, index, country, posts, offset, is_open)
        self.demand_noise = 0.0  # M2: AR(1) log-demand noise of the site

    def step_demand(self, segment: float) -> float:
        """M2: the host's customer segments x post-test dip (``segment``) x AR(1) site noise."""
        dp = self.model.params.demand
        rho = math.exp(-1.0 / dp.noise_days)
        self.demand_noise = rho * self.demand_noise + dp.noise_sd * math.sqrt(
            1.0 - rho * rho
        ) * self.random.gauss(0.0, 1.0)
        return segment * math.exp(self.demand_noise - 0.5 * dp.noise_sd**2)

    def income(self, staff: int, demand_factor: float) -> float:
        rp = self.model.params.restaurants
        staffing = min(1.0, staff / max(self.posts, 1))
        return (
            rp.gross_sales_per_day
            * demand_factor
            * (1.0 + rp.sales_hours_elasticity * (self.hours - 1.0))
            * math.sqrt(staffing)
        )

    def running_costs(self, staff: int, income: float) -> float:
        """M1 costs; a nominee restaurant also pays its nominee a share of sales (M1 evasion)."""
        rp = self.model.params.restaurants
        nominee_fee = rp.nominee_fee_share * income if self.nominee else 0.0
        return rp.variable_cost_share * income + rp.fixed_cost_per_day + nominee_fee

    def pay_per_day(self) -> float:
        return self.model.params.restaurants.base_pay_per_month / DAYS_PER_MONTH

    def quota_due(self, income: float, levers: Levers) -> float:
        """M1: the quota lever per day x the site's renegotiated factor."""
        return levers.restaurant_quota_usd / 365.0 * self.quota_factor

    def review_quota(self) -> None:
        """M1 quota renegotiation: sustained arrears bring the quota down.

        arrears_ema follows the arrears index with time constant quota_review_days;
        above quota_review_threshold a review happens with chance 1/quota_review_days
        a day and cuts the quota by quota_cut (never below quota_factor_min).
        """
        rp = self.model.params.restaurants
        if not self.open:
            return
        self.arrears_ema += (self.arrears_index - self.arrears_ema) / rp.quota_review_days
        if (
            self.arrears_ema > rp.quota_review_threshold
            and self.random.random() < 1.0 / rp.quota_review_days
        ):
            self.quota_factor = max(self.quota_factor * (1.0 - rp.quota_cut), rp.quota_factor_min)
            self.arrears_ema = 0.0
            self.model.renegotiations_today += 1

    def base_hazard_per_day(self) -> float:
        return self.model.params.defection.restaurant_hazard_per_year / 365.0

    def base_surveillance(self) -> float:
        return self.model.params.workers.restaurant_surveillance

    def helper_chance(self) -> float:
        return self.model.params.defection.helper_restaurant


class LabourSiteAgent(SiteAgent):
    """A contracted labour site (M1)."""

    def income(self, staff: int, demand_factor: float) -> float:
        """M1 fees; relabelled cover (students, trainees) costs a share of them (M1 evasion)."""
        p = self.model.params.labour
        cover = 1.0 - p.relabel_cost_share * self.model.hosts.relabel[self.country]
        return p.contract_fee_per_month / DAYS_PER_MONTH * staff * cover

    def running_costs(self, staff: int, income: float) -> float:
        return self.model.params.labour.living_cost_per_month / DAYS_PER_MONTH * staff

    def pay_per_day(self) -> float:
        return self.model.params.labour.pay_per_month / DAYS_PER_MONTH

    def quota_due(self, income: float, levers: Levers) -> float:
        return levers.labour_quota_share * income

    def base_hazard_per_day(self) -> float:
        return self.model.params.defection.labour_hazard_per_year / 365.0

    def base_surveillance(self) -> float:
        return self.model.params.workers.labour_surveillance

    def helper_chance(self) -> float:
        return self.model.params.defection.helper_labour

    def set_wanted(self, fill: float) -> None:
        self.wanted = min(int(math.floor(fill * self.posts + self.offset)), self.posts)


# --------------------------------------------------------------------------- M9, M1, M5 hosts


class HostStates:
    """The three host states: enforcement of UN measures as each one's choice (M9),
    relabelled labourers and the contracted labour force per host (M1 evasion), and
    the exit check workers perceive there (M5)."""

    def __init__(self, model: LipsteethModel) -> None:
        self.model = model
        p = model.params
        self.enforcement = [1.0, 1.0, 1.0]  # e_h as the host chooses it (state)
        self.relabel = [0.0, 0.0, 0.0]  # share of the host's labour force shielded
        self.relabel_capacity_extra = 0.0
        self.last_un_workers = 0.0  # highest u_workers so far (evasion learns from raises)
        self.nominee_capacity = p.restaurants.nominee_capacity_initial
        self.labour_scale = [1.0, 1.0, 1.0]  # contracted labour force relative to day 0
        self.perceived_exit = [0.0, 0.0, 0.0]
        self.labour_capacity = [0.0, 0.0, 0.0]  # posts of each host's labour sites

    def start(self, levers: Levers) -> None:
        """Day 0: each host's enforcement at its target (M9)."""
        self.enforcement = self.enforcement_targets(levers)

    def start_perception(self, cond: Conditions) -> None:
        """Day 0: workers perceive each host's exit check as it is (M5)."""
        rt = self.model.params.routes
        self.perceived_exit = [
            cond.exit_strictness,
            rt.russia_exit_strictness,
            rt.other_exit_strictness,
        ]

    def enforcement_targets(self, levers: Levers) -> list[float]:
        """M9: the enforcement each host aims at.

        target_h = clip(base_h + pressure_weight x international_pressure
                        + [China] displeasure_weight x min(displeasure / laxity_threshold, 1)
                        - relations_weight x max(yesterday's relations, 0), 0, 1);
        China's limits bind: while the no-collapse or no-exodus guard is on,
        target_China <= enforcement_floor_guarded.
        """
        sp = self.model.params.strategic
        strategic = self.model.strategic
        common = sp.enforcement_pressure_weight * levers.international_pressure - (
            sp.enforcement_relations_weight * max(strategic.relations, 0.0)
        )
        displeasure = sp.enforcement_displeasure_weight * min(
            strategic.displeasure / max(sp.laxity_threshold, 1e-9), 1.0
        )
        china = clip01(sp.enforcement_base_china + common + displeasure)
        if strategic.collapse_guard or strategic.exodus_guard:
            china = min(china, sp.enforcement_floor_guarded)
        return [
            china,
            clip01(sp.enforcement_base_russia + common),
            clip01(sp.enforcement_base_other + common),
        ]

    def adjust_enforcement(self, levers: Levers) -> None:
        """M9: each host's enforcement moves toward its target (time enforcement_adjust_days)."""
        days = self.model.params.strategic.enforcement_adjust_days
        targets = self.enforcement_targets(levers)
        self.enforcement = [
            e + (g - e) / days for e, g in zip(self.enforcement, targets, strict=True)
        ]

    def effective(self, levers: Levers) -> tuple[float, float, float]:
        """M9: enforcement in force; host_discretion 0 makes every host enforce in full.

        Between 0 and 1 the lever blends full enforcement and the hosts' choice
        (e = 1 - discretion x (1 - e_h)); SPEC-12 fixes only the two ends.
        """
        hd = levers.host_discretion
        e0, e1, e2 = (1.0 - hd * (1.0 - e) for e in self.enforcement)
        return (e0, e1, e2)

    def perceive(self, cond: Conditions) -> None:
        """M5: workers' perceived exit check follows each host's effective strictness."""
        days = self.model.params.defection.perception_days
        rt = self.model.params.routes
        actual = (cond.exit_strictness, rt.russia_exit_strictness, rt.other_exit_strictness)
        self.perceived_exit = [
            q + (a - q) / days for q, a in zip(self.perceived_exit, actual, strict=True)
        ]

    def worker_provisions(self, cond: Conditions) -> list[float]:
        """M1: UN worker provisions acting on host h's sites, u_workers x e_h x (1 - relabel_h)."""
        return [cond.un_workers * cond.enforcement[h] * (1.0 - self.relabel[h]) for h in HOSTS]

    def worker_provisions_level(self, w: list[float]) -> float:
        """M1/M9 outcome: labour-weighted mean of w_h (weights: each host's labour capacity)."""
        total = sum(self.labour_capacity)
        return (
            sum(c * x for c, x in zip(self.labour_capacity, w, strict=True)) / total
            if total > 0
            else 0.0
        )

    def update_labour_scale(self, w: list[float], closure: float) -> None:
        """M1: each host's contracted labour force grows, freezes or is sent home by its w_h."""
        lp = self.model.params.labour
        for h in HOSTS:
            if w[h] >= lp.un_repatriation_level:
                rate = -1.0 / lp.repatriation_days
            elif w[h] >= lp.un_freeze_level:
                rate = 0.0
            else:
                rate = lp.dispatch_growth_per_year / 365.0
            self.labour_scale[h] *= math.exp(rate * (1.0 - closure))

    def labour_fill(self, host: int) -> float:
        """Share of host h's labour posts wanted (M1): initial workforce x scale_h / capacity."""
        pop = self.model.params.population
        capacity = pop.labour_sites_max * pop.labour_site_capacity
        return clip01(pop.labour_workers_initial * self.labour_scale[host] / max(capacity, 1))

    def update_relabel(self, cond: Conditions) -> None:
        """M1 evasion: relabelling fills its capacity under a ban and is found out by enforcement.

        d relabel_h = relabel_growth/365 x [u_workers > 0] x (capacity - relabel_h)
                      - relabel_detection/365 x e_h x relabel_h,
        capacity = min(relabel_capacity + capacity added by bans, 1).
        """
        lp = self.model.params.labour
        capacity = min(lp.relabel_capacity + self.relabel_capacity_extra, 1.0)
        banned = 1.0 if cond.un_workers > 0 else 0.0
        for h in HOSTS:
            r = self.relabel[h]
            growth = lp.relabel_growth_per_year / 365.0 * banned * (capacity - r)
            detection = lp.relabel_detection_per_year / 365.0 * cond.enforcement[h] * r
            self.relabel[h] = clip01(r + growth - detection)

    def learn_from_bans(self, cond: Conditions) -> None:
        """M1/M8 evasion adapts: each raise of u_workers after day 0 (a UN resolution or
        a lever event) adds relabelling and nominee capacity; a ban in force on day 0 is
        the run's starting point."""
        if cond.un_workers <= self.last_un_workers:
            return
        self.last_un_workers = cond.un_workers
        self.relabel_capacity_extra += self.model.params.labour.relabel_capacity_step
        self.nominee_capacity = min(
            self.nominee_capacity + self.model.params.restaurants.nominee_capacity_step, 1.0
        )


class StrategicLayer:
    """Pyongyang's programme, bargaining and tests, Beijing's policy and limits, the UN and
    Seoul, oil and the economy (M9)."""

    def __init__(self, model: LipsteethModel) -> None:
        self.model = model
        self.displeasure = 0.0
        self.talks_left = 0.0  # days left of talks (the conciliation episode)
        self.defiance_left = 0.0
        self.progress = 0.0  # weapons-programme progress
        self.pause_left = 0.0  # days left of the pause after a milestone
        self.sanctions_ema: float | None = None
        self.un_levels = [0.0] * len(UN_PROVISIONS)
        self.advisory = 0.0
        self.economy = 1.0
        self.relations = 0.0  # yesterday's relations index (day 0: 0)
        self.remit_ema: float | None = None
        self.remit_ref = 1e-9
        self.crossing_ema = 0.0
        self.resolution_day = -1
        self.laxity_on = False
        self.collapse_guard = False
        self.exodus_guard = False

    def policy(self, levers: Levers) -> Conditions:
        """Beijing's effective levers from its displeasure and its limits; each host's
        enforcement of UN obligations and the oil cut (M9)."""
        sp = self.model.params.strategic
        discretion = levers.beijing_discretion
        lax = self.displeasure > sp.laxity_threshold
        conciliating = self.talks_left > 0
        exit_strictness = levers.china_exit_strictness * (1.0 - discretion * sp.laxity_depth * lax)
        sanctions = clip01(
            levers.china_sanctions + discretion * sp.sanctions_response * self.displeasure
        )
        if self.collapse_guard:  # no regime starved into desperation
            sanctions = min(levers.china_sanctions, 1.0)
        aid = levers.food_aid + discretion * sp.aid_response * conciliating
        aid = clip01(aid + discretion * sp.aid_response * self.collapse_guard)
        stringency = 1.0 if self.exodus_guard else levers.china_border_stringency  # no exodus
        signal = min(max(levers.diplomatic_signal + discretion * (conciliating - lax), -1.0), 1.0)
        un = tuple(
            max(level, getattr(levers, name))
            for level, name in zip(self.un_levels, UN_PROVISIONS, strict=True)
        )
        advisory = max(self.advisory, levers.seoul_travel_advisory)
        pressure = sanctions + sp.snub_pressure_weight * max(-signal, 0.0)
        enforcement = self.model.hosts.effective(levers)
        # oil: the UN caps as China enforces them plus Beijing's own cut-off (2003)
        oil_cut = clip01(
            un[UN_PROVISIONS.index("un_oil")] * enforcement[CHINA]
            + sp.oil_from_china_sanctions * sanctions
        )
        return Conditions(
            exit_strictness,
            stringency,
            sanctions,
            aid,
            signal,
            advisory,
            un,
            enforcement,
            oil_cut,
            pressure,
            levers,
        )

    def start_defiance(self) -> None:
        """M9: pressure provokes; a breakdown, a resolution or a sanctions rise starts defiance."""
        self.defiance_left = self.model.params.strategic.defiance_days

    def bargaining(self, cond: Conditions) -> None:
        """M9 talks: they break down under pressure, or start when Beijing offers carrots.

        In talks: breakdown with daily chance talks_breakdown_per_year/365 x (1 + pressure)
        (defiance starts, Beijing's displeasure rises by displeasure_breakdown).  Out of
        talks: a positive effective signal or food aid above 0.5 starts them with chance
        talks_offer_prob.  A rise of effective Chinese sanctions above their recent
        average (time sanctions_memory_days) by more than sanctions_rise_defiance
        starts defiance.
        """
        sp = self.model.params.strategic
        rnd = self.model.random.random
        if self.talks_left > 0:
            if rnd() < sp.talks_breakdown_per_year / 365.0 * (1.0 + cond.pressure):
                self.talks_left = 0.0
                self.displeasure += sp.displeasure_breakdown
                self.start_defiance()
        elif (cond.signal > 0 or cond.aid > CARROT_AID_LEVEL) and rnd() < sp.talks_offer_prob:
            self.talks_left = sp.conciliation_days
        if self.sanctions_ema is None:
            self.sanctions_ema = cond.china_sanctions
        if cond.china_sanctions > self.sanctions_ema + sp.sanctions_rise_defiance:
            self.start_defiance()
        self.sanctions_ema += (cond.china_sanctions - self.sanctions_ema) / sp.sanctions_memory_days

    def provocations(
        self,
        cond: Conditions,
        forced_nuclear: int,
        forced_missile: int,
        forced_resolution: np.ndarray,
        endogenous: bool,
    ) -> dict[str, float]:
        """Talks, tests, envoys, UN resolutions, advisories and the programme of the day (M9).

        Test rates x exp(-beta_pressure x pressure - aid term + beta_squeeze x squeeze
        + beta_drive x weapons_drive + beta_defiance x [defiant])
        x (1 - conciliation_effect)[in talks] x (1 - pause_effect)[pausing after a
        milestone]; missiles also x (1 - fuel_capacity_effect x oil_cut).  Aid term:
        beta_aid x aid in talks, beta_aid x aid_untied_effect x aid outside.
        """
        model = self.model
        sp = model.params.strategic
        rng = model.rng
        rnd = model.random.random
        t = model.day
        self.bargaining(cond)
        in_talks = self.talks_left > 0
        aid_term = sp.beta_aid * cond.aid * (1.0 if in_talks else sp.aid_untied_effect)
        squeeze = max(0.0, 1.0 - self.economy)
        multiplier = math.exp(
            -sp.beta_pressure * cond.pressure
            - aid_term
            + sp.beta_squeeze * squeeze
            + sp.beta_drive * cond.levers.weapons_drive
            + sp.beta_defiance * (self.defiance_left > 0)
        )
        if in_talks:
            multiplier *= 1.0 - sp.conciliation_effect
        if self.pause_left > 0:
            multiplier *= 1.0 - sp.pause_effect
        fuel = 1.0 - sp.fuel_capacity_effect * cond.oil_cut
        missiles = (
            int(rng.poisson(capped(sp.missile_rate_per_year / 365.0 * multiplier * fuel)))
            + forced_missile
        )
        nuclear = forced_nuclear
        if endogenous and rnd() < sp.nuclear_rate_per_year / 365.0 * multiplier:
            nuclear += 1
        envoys = 0
        p_envoy = 1.0 - math.exp(-sp.envoy_rate_per_year / 365.0 * clip01(cond.pressure))
        if self.talks_left <= 0 and rnd() < p_envoy:
            envoys = 1
            self.talks_left = sp.conciliation_days
            self.displeasure *= 1.0 - sp.displeasure_envoy_relief  # Beijing reacts to envoys
        resolutions = 0
        if nuclear > 0 and endogenous:
            if self.resolution_day < 0 and rnd() < sp.un_resolution_prob:
                self.resolution_day = (
                    t + 1 + int(model.random.expovariate(1.0 / max(sp.un_delay_days, 1e-9)))
                )
            if rnd() < sp.advisory_prob:
                self.advisory = 1.0
        if self.resolution_day == t:
            self.un_levels = [min(x + sp.un_step, 1.0) for x in self.un_levels]
            self.resolution_day = -1
            resolutions += 1
        if not np.all(np.isnan(forced_resolution)):
            floors = np.nan_to_num(forced_resolution, nan=0.0)
            self.un_levels = [max(x, float(f)) for x, f in zip(self.un_levels, floors, strict=True)]
            resolutions += 1
        if resolutions:
            self.start_defiance()
        milestones = self.advance_programme(missiles, nuclear)
        self.displeasure = (
            self.displeasure * math.exp(-1.0 / sp.displeasure_days)
            + sp.displeasure_nuclear * nuclear
            + sp.displeasure_missile * missiles
        )
        talks_today = float(self.talks_left > 0)
        defiance_today = float(self.defiance_left > 0)
        self.talks_left = max(self.talks_left - 1, 0)
        self.defiance_left = max(self.defiance_left - 1, 0)
        self.pause_left = max(self.pause_left - 1, 0)
        # an advisory in force (the lever) holds the boycott up; once lifted it fades (M2)
        self.advisory = max(
            self.advisory * math.exp(-1.0 / sp.advisory_days), cond.levers.seoul_travel_advisory
        )
        return {
            "missile_tests": float(missiles),
            "nuclear_tests": float(nuclear),
            "un_resolutions": float(resolutions),
            "envoys": float(envoys),
            "talks": talks_today,
            "defiance": defiance_today,
            "milestones": float(milestones),
        }

    def advance_programme(self, missiles: int, nuclear: int) -> int:
        """M9 programme: a missile test adds 1, a nuclear test nuclear_progress; each multiple
        of milestone_size reached is a milestone, then a pause of milestone_pause_days."""
        sp = self.model.params.strategic
        before = math.floor(self.progress / sp.milestone_size)
        self.progress += missiles + sp.nuclear_progress * nuclear
        reached = math.floor(self.progress / sp.milestone_size) - before
        if reached > 0:
            self.pause_left = sp.milestone_pause_days
        return int(reached)

    def update_economy(
        self, cond: Conditions, revenue: float, crossings: float
    ) -> dict[str, float]:
        """Economy index, Beijing's guards and the relations index after the day's flows (M9).

        Trade loss from the UN coal, textile and seafood provisions as China enforces
        them (x e_China) and China's own sanctions; a full oil cut costs economy_weight_oil.
        """
        sp = self.model.params.strategic
        if self.remit_ema is None:
            self.remit_ema = revenue
            self.remit_ref = max(revenue, 1e-9)
            self.crossing_ema = crossings * 365.0
        else:
            self.remit_ema += (revenue - self.remit_ema) / sp.economy_smoothing_days
            self.crossing_ema += (crossings * 365.0 - self.crossing_ema) / sp.economy_smoothing_days
        un = dict(zip(UN_PROVISIONS, cond.un, strict=True))
        e_china = cond.enforcement[CHINA]
        trade_loss = clip01(
            un["un_coal"] * e_china * sp.trade_loss_coal
            + un["un_textiles"] * e_china * sp.trade_loss_textiles
            + un["un_seafood"] * e_china * sp.trade_loss_seafood
            + cond.china_sanctions * sp.trade_loss_china_sanctions
        )
        # an activity index cannot fall below none: the squeeze stays in [0, 1]
        self.economy = max(
            1.0
            + sp.economy_weight_overseas * (self.remit_ema / self.remit_ref - 1.0)
            - sp.economy_weight_trade * trade_loss
            + sp.aid_economy_effect * cond.aid
            - sp.economy_weight_oil * cond.oil_cut,
            0.0,
        )
        discretion = cond.levers.beijing_discretion > 0
        self.laxity_on = self.displeasure > sp.laxity_threshold and discretion
        self.collapse_guard = self.economy < sp.collapse_threshold and discretion
        self.exodus_guard = self.crossing_ema > sp.exodus_threshold_per_year and discretion
        self.relations = math.tanh(
            cond.aid
            + max(cond.signal, 0.0)
            - cond.china_sanctions
            - self.displeasure / max(sp.laxity_threshold, 1e-9)
            + sp.relations_baseline
        )
        return {
            "economy_index": self.economy,
            "relations_index": self.relations,
            "displeasure": self.displeasure,
            "trade_loss": trade_loss,
        }


# --------------------------------------------------------------------------- M10, M7


class WiderFlow:
    """North Koreans outside state postings (M10): recent crossers R and long-term
    residents L hidden in China, residents of third countries T."""

    def __init__(self, model: LipsteethModel) -> None:
        self.model = model
        wf = model.params.wider_flow
        hidden = int(round(wf.hidden_initial))
        self.recent = int(round(hidden * (1.0 - wf.resident_share_initial)))
        self.residents = hidden - self.recent
        self.third_country = int(round(wf.third_country_initial))
        self.arrivals_cumulative = wf.kin_initial  # arrivals in South Korea, incl. before day 0
        self.to_third_country = 0  # ledger: brokered parties settled in third countries
        self.departed_residents = 0  # ledger: brokered departures of long-term residents
        self.route_factor = 1.0  # this calendar year's factor on brokered departures
        self.new_route_year()

    def new_route_year(self) -> None:
        """Draw the year's route factor: log F ~ Normal(-s^2/2, s), s = route_variability
        (mean one; no draw when s is 0)."""
        s = self.model.params.wider_flow.route_variability
        if s > 0.0:
            self.route_factor = math.exp(self.model.rng.normal(-0.5 * s * s, s))

    @property
    def hidden(self) -> int:
        return self.recent + self.residents

    def rates(self, cond: Conditions) -> dict[str, float]:
        """Daily probabilities of the hidden's arrests and departures under ``cond`` (M7, M10).

        Recent crossers: arrest p(arrest_rate x stringency), brokered departure
        p(broker_rate x broker_access) x (1 - pandemic_departure_loss x pandemic), broker
        access being the lever times the year's route factor.
        Long-term residents: arrest x resident_arrest_factor, departure
        p(resident_departure_rate x broker_access x kin) x the same pandemic factor,
        kin = 1 + kin_effect x min(arrivals so far / kin_scale, 1).  (North Korea's
        border closure stops crossings, not journeys out of China.)
        A departure is caught in China with chance transit_interception x stringency.
        """
        p = self.model.params
        wf = p.wider_flow
        journeys = 1.0 - wf.pandemic_departure_loss * cond.levers.pandemic
        arrest = p.enforcement.arrest_rate_per_year * cond.stringency
        kin = 1.0 + wf.kin_effect * min(self.arrivals_cumulative / wf.kin_scale, 1.0)
        access = cond.levers.broker_access * self.route_factor
        return {
            "arrest_recent": per_day(arrest),
            "arrest_resident": per_day(arrest * wf.resident_arrest_factor),
            "depart_recent": per_day(wf.broker_rate_per_year * access) * journeys,
            "depart_resident": per_day(wf.resident_departure_rate_per_year * access * kin)
            * journeys,
            "caught": clip01(wf.transit_interception * cond.stringency),
        }

    def warm_start(self, cond: Conditions) -> None:
        """Book who is in detention or in transit on day 0 (M7, M10).

        Replays the days before the start with day-0 conditions and day-0 stocks:
        on each past day -j the hidden lose arrests and brokered departures, and
        everyone whose delay runs past day 0 is still on the way (in detention:
        counted in China's detention stock).  Third-country settlers are not in transit.
        """
        model = self.model
        rng = model.rng
        share_third = model.params.wider_flow.third_country_share
        q = self.rates(cond)
        for days_before in range(1, LONGEST_DELAY_DAYS + 1):
            arrests_recent = int(rng.binomial(self.recent, q["arrest_recent"]))
            arrests_residents = int(rng.binomial(self.residents, q["arrest_resident"]))
            arrests = arrests_recent + arrests_residents
            departures = int(rng.binomial(self.recent - arrests_recent, q["depart_recent"])) + int(
                rng.binomial(self.residents - arrests_residents, q["depart_resident"])
            )
            intercepted = int(rng.binomial(departures, q["caught"]))
            settled = int(rng.binomial(departures - intercepted, share_third))
            model.detention.book_past(arrests + intercepted, days_before)
            travelling = departures - intercepted - settled
            if travelling > 0:
                days, probs = model.transit_delay
                for d in rng.choice(days, size=travelling, p=probs):
                    if d >= days_before:  # still on the way on day 0
                        model.arrivals_wider[int(d) - days_before] += 1

    def step(self, cond: Conditions) -> dict[str, float]:
        """One day of the wider flow (M10), in the order of SPEC-12 s4.

        Crossings ~ Poisson(crossing_rate/365 x exp(beta_economy x squeeze - beta_aid x aid)
        x (1 - nk_border_effect x nk_border_control) x (1 - closure)
        x (1 - exodus_crossing_effect x [exodus guard])): Pyongyang's border control and
        Beijing's no-exodus limit act on crossings.  Then arrests, departures, returns and
        settlements of R; arrests and departures of L; interception of departures and
        their split between third countries and the transit to South Korea; onward
        movers from T arrive in South Korea the same day.
        """
        model = self.model
        wf = model.params.wider_flow
        rng = model.rng
        if model.year_start[model.day]:
            self.new_route_year()
        closure = cond.levers.border_closure
        squeeze = max(0.0, 1.0 - model.strategic.economy)
        rate = (
            wf.crossing_rate_per_year
            / 365.0
            * math.exp(wf.beta_economy * squeeze - wf.beta_aid * cond.aid)
            * (1.0 - wf.nk_border_effect * cond.levers.nk_border_control)
            * (1.0 - closure)
            * (1.0 - wf.exodus_crossing_effect * model.strategic.exodus_guard)
        )
        crossings = int(rng.poisson(capped(rate)))
        q = self.rates(cond)
        # R: recent crossers
        arrests_recent = int(rng.binomial(self.recent, q["arrest_recent"]))
        rest = self.recent - arrests_recent
        departures_recent = int(rng.binomial(rest, q["depart_recent"]))
        rest -= departures_recent
        returns = int(rng.binomial(rest, per_day(wf.return_rate_per_year)))
        rest -= returns
        settlements = int(rng.binomial(rest, per_day(wf.settle_rate_per_year)))
        # L: long-term residents (mostly women; relatives in the South pay the brokers)
        arrests_residents = int(rng.binomial(self.residents, q["arrest_resident"]))
        departures_residents = int(
            rng.binomial(self.residents - arrests_residents, q["depart_resident"])
        )
        self.recent += crossings - arrests_recent - departures_recent - returns - settlements
        self.residents += settlements - arrests_residents - departures_residents
        self.departed_residents += departures_residents
        # departures from China: caught in China, or on to a third country or South Korea
        departures = departures_recent + departures_residents
        intercepted = int(rng.binomial(departures, q["caught"]))
        settled_abroad = int(rng.binomial(departures - intercepted, wf.third_country_share))
        self.third_country += settled_abroad
        self.to_third_country += settled_abroad
        model.schedule(
            model.arrivals_wider, departures - intercepted - settled_abroad, model.transit_delay
        )
        # T: third-country residents move on to South Korea (their own route and delay)
        onward = int(
            rng.binomial(self.third_country, per_day(wf.third_country_onward_rate_per_year))
        )
        self.third_country -= onward
        return {
            "crossings": float(crossings),
            "arrests": float(arrests_recent + arrests_residents),
            "arrests_residents": float(arrests_residents),
            "departures": float(departures),
            "returns": float(returns),
            "settlements": float(settlements),
            "intercepted": float(intercepted),
            "onward": float(onward),
            "to_third_countries": float(settled_abroad),
        }


class Detention:
    """China's detention centres (M7): a bounded stock, batch handovers, the overflow.

    D = people being processed (gamma delay detention_days, detention_delay_shape)
    or awaiting handover.  Admitted each day: min(arrested, max(capacity - D, 0)); the
    overflow is released (share overflow_release_share, back to the recent crossers)
    or held in long detention.  On days t with t mod handover_interval_days = 0 and
    the border open (closure < closure_holds_detainees) up to handover_batch_max
    waiting people are handed over, and long detainees with chance
    p(long_detention_handover_per_year x interval).
    """

    def __init__(self, model: LipsteethModel) -> None:
        self.model = model
        self.processing: defaultdict[int, int] = defaultdict(int)  # day done -> people
        self.detained = 0  # D: processing + awaiting
        self.awaiting = 0
        self.long = 0
        # ledger
        self.initial = 0
        self.arrested = 0
        self.admitted = 0
        self.released = 0
        self.to_long = 0
        self.handed = 0
        self.long_handed = 0

    def book_past(self, count: int, days_before: int) -> None:
        """Warm start (M7): people arrested ``days_before`` days before day 0 still in process."""
        if count <= 0:
            return
        model = self.model
        days, probs = model.detention_delay
        for d in model.rng.choice(days, size=count, p=probs):
            if d >= days_before:
                self.processing[int(d) - days_before] += 1
                self.detained += 1
                self.initial += 1

    def step(self, arrested: int, closure: float) -> dict[str, float]:
        """Admit today's arrested, finish processing, hand over in batches (M7)."""
        model = self.model
        ep = model.params.enforcement
        rng = model.rng
        t = model.day
        space = max(ep.detention_capacity - self.detained, 0.0)
        admitted = int(min(arrested, space))
        overflow = arrested - admitted
        released = int(rng.binomial(overflow, ep.overflow_release_share)) if overflow else 0
        self.long += overflow - released
        self.detained += admitted
        model.schedule(self.processing, admitted, model.detention_delay)
        self.awaiting += self.processing.pop(t, 0)
        handed = long_handed = 0
        if t % ep.handover_interval_days == 0 and closure < ep.closure_holds_detainees:
            handed = int(min(self.awaiting, ep.handover_batch_max))
            self.awaiting -= handed
            self.detained -= handed
            p_long = per_day(ep.long_detention_handover_per_year * ep.handover_interval_days)
            long_handed = int(rng.binomial(self.long, p_long)) if self.long else 0
            self.long -= long_handed
        self.arrested += arrested
        self.admitted += admitted
        self.released += released
        self.to_long += overflow - released
        self.handed += handed
        self.long_handed += long_handed
        return {
            "repatriated": float(handed + long_handed),
            "released": float(released),
            "overflow": float(overflow),
        }


# --------------------------------------------------------------------------- the model


class LipsteethModel(mesa.Model):
    """The whole model on Mesa 3: worker and site agents, host, strategic, wider-flow and
    detention submodels."""

    def __init__(
        self,
        params: Params,
        levers: Levers,
        calendar: Calendar,
        timeline: Timeline | None = None,
        seed: int = 0,
        replicate: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        self.params = params
        self.base_levers = levers
        self.current_levers = levers
        self.calendar = calendar
        self.timeline = timeline or Timeline(n_days=calendar.n_days)
        self.replicate = replicate
        self.day = 0
        month_index = calendar.month_index
        self.month_end = np.append(month_index[1:] != month_index[:-1], True)
        year_index = calendar.year_index
        self.year_start = np.append(False, year_index[1:] != year_index[:-1])  # 1 January
        self.forced_nuclear = self.timeline.nuclear()
        self.forced_missile = self.timeline.missile()
        self.forced_resolution = self.timeline.resolution()
        # network-wide control (M8)
        self.control = 0.0
        self.screening = 0.0
        self.demand_dip = 0.0
        self.demand_segment = [1.0, 1.0, 1.0]  # M2: per host
        # constants of the worker step
        self.stress_rate = 1.0 / params.workers.stress_days
        self.beta_stress = params.defection.beta_stress
        self.p_contract_end = 1.0 / (params.labour.contract_years * 365.0)
        self.rotations_today = 0
        self.recalls_today = 0
        self.renegotiations_today = 0
        # M7/M10 schedules: day -> people
        self.detention_delay = gamma_delay(
            params.enforcement.detention_days, params.enforcement.detention_delay_shape
        )
        self.transit_delay = gamma_delay(
            params.wider_flow.transit_days, params.wider_flow.transit_delay_shape
        )
        self.p_recall = 1.0 / params.labour.recall_days  # M1: a post no longer wanted
        self.arrivals_workers: defaultdict[int, int] = defaultdict(int)
        self.arrivals_wider: defaultdict[int, int] = defaultdict(int)
        self.repatriations_other: defaultdict[int, int] = defaultdict(int)
        self.groups: list[GroupRecord] = []
        # workers ledger (M1, M5): who left the posts, by cause
        self.left_rotation = 0
        self.left_recall = 0
        self.left_flight = 0
        self.hosts = HostStates(self)
        self.strategic = StrategicLayer(self)
        self.wider = WiderFlow(self)
        self.detention = Detention(self)
        self.conditional = ConditionalPolicies(self.timeline.rules)
        levers0 = self.levers_on(0)
        self.hosts.start(levers0)
        cond0 = self.strategic.policy(levers0)
        self.hosts.start_perception(cond0)
        self.hosts.last_un_workers = cond0.un_workers  # a ban in force on day 0 is the start
        self._build_sites()
        self.wider.warm_start(cond0)
        self.today: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in OUTCOME_NAMES}
        )

    # construction ------------------------------------------------------------------
    def _build_sites(self) -> None:
        pop = self.params.population
        n_r, n_l = pop.restaurant_sites_max, pop.labour_sites_max
        countries = country_of(
            n_r, pop.restaurant_share_china, pop.restaurant_share_russia
        ) + country_of(n_l, pop.labour_share_china, pop.labour_share_russia)
        offsets = ((np.arange(n_r + n_l) * GOLDEN * 7.0) % 1.0).astype(np.float32).astype(float)
        sites: list[SiteAgent] = []
        for i in range(n_r + n_l):
            is_rest = i < n_r
            cls = RestaurantAgent if is_rest else LabourSiteAgent
            sites.append(
                cls(
                    self,
                    index=i,
                    country=countries[i],
                    posts=pop.staff_per_restaurant if is_rest else pop.labour_site_capacity,
                    offset=float(offsets[i]),
                    is_open=(i < pop.restaurants_initial) if is_rest else True,
                )
            )
        self.site_list = sites
        self.restaurants = [s for s in sites if s.is_restaurant]
        self.labour_sites = [s for s in sites if not s.is_restaurant]
        self.sites = AgentSet(sites, random=self.random)
        for site in self.labour_sites:
            self.hosts.labour_capacity[site.country] += site.posts
        quota_day = self.base_levers.restaurant_quota_usd / 365.0
        for site in sites:
            site.set_wanted(self.hosts.labour_fill(site.country))
            if site.open:
                for rank in range(site.wanted):
                    WorkerAgent(self, site, rank)
                if site.is_restaurant:
                    site.reserve = quota_day * self.params.restaurants.reserve_initial_days
        self.initial_in_post = self.workers_in_post()
        self.hired = 0

    def workers_in_post(self) -> int:
        return sum(len(s.workers) for s in self.site_list)

    @property
    def worker_agents(self) -> AgentSet:
        return self.agents_by_type.get(WorkerAgent, AgentSet([], random=self.random))

    # scheduling (M7) ---------------------------------------------------------------
    def schedule(
        self, pipeline: defaultdict[int, int], count: int, delay: tuple[np.ndarray, np.ndarray]
    ) -> None:
        """Give each of ``count`` people a delay drawn from ``delay``; book them on that day."""
        if count <= 0:
            return
        days, probs = delay
        for d in self.rng.choice(days, size=count, p=probs):
            pipeline[self.day + int(d)] += 1

    def levers_on(self, day: int) -> Levers:
        changes = {}
        for name, path in self.timeline.lever_paths.items():
            if not math.isnan(path[day]):
                changes[name] = float(path[day])
        return dataclasses.replace(self.base_levers, **changes) if changes else self.base_levers

    # M2 ----------------------------------------------------------------------------
    def update_demand(self, cond: Conditions, nuclear_tests: float) -> None:
        """M2: the post-test dip and each host's customer segments.

        segment_h = (1 - sk_h x (c x advisory + (1 - c x advisory) x pandemic_travel_loss
                     x pandemic)) x (1 - off_h x anti_extravagance_loss x anti_extravagance)
                    x (1 - pub_h x sanctions_loss x china_sanctions x [h = China])
                    x (1 - pandemic_custom_loss x pandemic) x (1 - dip);
        South Koreans by host (share_south_korean_*), Chinese officials in China only,
        the public the rest.
        """
        dp = self.params.demand
        levers = cond.levers
        nuclear_today = min(nuclear_tests, 1.0)
        self.demand_dip = 1.0 - (
            1.0 - self.demand_dip * math.exp(-1.0 / dp.provocation_recovery_days)
        ) * (1.0 - dp.provocation_loss * nuclear_today)
        advisory = dp.advisory_compliance * cond.advisory
        pandemic = levers.pandemic
        south_korean = (
            dp.share_south_korean_china,
            dp.share_south_korean_russia,
            dp.share_south_korean_other,
        )
        segments = []
        for h in HOSTS:
            sk = south_korean[h]
            officials = dp.share_officials if h == CHINA else 0.0
            public = max(0.0, 1.0 - sk - officials)
            sanctions = cond.china_sanctions if h == CHINA else 0.0
            segments.append(
                (1.0 - sk * (advisory + (1.0 - advisory) * dp.pandemic_travel_loss * pandemic))
                * (1.0 - officials * dp.anti_extravagance_loss * levers.anti_extravagance)
                * (1.0 - public * dp.sanctions_loss * sanctions)
                * (1.0 - dp.pandemic_custom_loss * pandemic)
                * (1.0 - self.demand_dip)
            )
        self.demand_segment = segments

    # M8 closure orders and nominees ---------------------------------------------------
    def closure_orders(self, cond: Conditions) -> list[SiteAgent]:
        """M8: hosts order restaurants shut under the UN worker provisions.

        Daily chance closure_order_rate/365 x u_workers x e_h for a restaurant of host h;
        a nominee restaurant is instead found out with chance nominee_detection/365 x e_h.
        """
        rp = self.params.restaurants
        rnd = self.random.random
        ordered = []
        for site in self.restaurants:
            if not site.open:
                continue
            e = cond.enforcement[site.country]
            if site.nominee:
                chance = rp.nominee_detection_per_year / 365.0 * e
            else:
                chance = rp.closure_order_rate_per_year / 365.0 * cond.un_workers * e
            if rnd() < chance:
                ordered.append(site)
        return ordered

    def nominee_reopenings(self) -> list[SiteAgent]:
        """M1/M8 evasion: an ordered-shut site reopens under a local nominee.

        Daily chance nominee_rate/365 x nominee_capacity, past reopen_delay_days.
        """
        chance = self.params.restaurants.nominee_rate_per_year / 365.0 * self.hosts.nominee_capacity
        rnd = self.random.random
        reopened = []
        for site in self.restaurants:
            if (
                not site.open
                and site.shut_by_order
                and site.reopen_day <= self.day
                and rnd() < chance
            ):
                site.reopen(nominee=True)
                reopened.append(site)
        return reopened

    # the day -------------------------------------------------------------------------
    def step(self) -> None:
        """One day, in the order of SPEC-12: M9 policy -> M9 tests and talks -> M2 -> sites
        (M1, M3, M4, M1 wanted, M5 managers, M1 evasion, M8 orders) -> M5 posts -> attempts
        (M5, M6, M7, M8) -> M8 closures and openings -> M10 -> M7 detention -> M9 economy."""
        p = self.params
        t = self.day
        levers = self.conditional.levers(t, self.levers_on(t))
        self.current_levers = levers
        # M9 host enforcement and Beijing's policy; the exit check workers perceive (M5)
        self.hosts.adjust_enforcement(levers)
        cond = self.strategic.policy(levers)
        self.hosts.learn_from_bans(cond)
        self.hosts.perceive(cond)
        # M9 talks, tests, envoys, resolutions
        strategic = self.strategic.provocations(
            cond,
            int(self.forced_nuclear[t]),
            int(self.forced_missile[t]),
            self.forced_resolution[t],
            t >= self.timeline.endogenous_from,
        )
        # M2 demand by host country
        self.update_demand(cond, strategic["nuclear_tests"])
        # M2 site demand, M1 accounts and quota review, M3 manager, M4 pressure, M5 hazard
        self.renegotiations_today = 0
        self.sites.do("step")
        # M1 contracted labour force per host (its UN worker provisions, border closure)
        closure = levers.border_closure
        w_un = self.hosts.worker_provisions(cond)
        self.hosts.update_labour_scale(w_un, closure)
        for site in self.site_list:
            site.set_wanted(self.hosts.labour_fill(site.country))
        # M1/M4 hiring draws on posts vacant at the start of the day
        self.p_contract_end = 1.0 / (p.labour.contract_years * 365.0) * (1.0 - closure)
        p_hire = 1.0 / p.labour.hiring_days * (1.0 - closure)
        for site in self.site_list:
            site.draw_hires(p_hire, w_un[site.country] >= p.labour.un_hiring_ban_level)
        # M5 managers
        p_manager = p.defection.manager_hazard_per_year / 365.0
        manager_starts = {
            s.index
            for s in self.site_list
            if s.open and self.random.random() < p_manager * s.manager_pressure
        }
        # M1 evasion: relabelling, reopenings under nominees; M8 closure orders
        self.hosts.update_relabel(cond)
        nominee_openings = self.nominee_reopenings()
        ordered = self.closure_orders(cond)
        # M4/M5 workers: stress, flight, rotation, recall
        self.rotations_today = 0
        self.recalls_today = 0
        self.worker_agents.do("step")
        self.left_rotation += self.rotations_today
        self.left_recall += self.recalls_today
        # recruits arrive
        hires = 0
        for site in self.site_list:
            for rank in site.pending_hires:
                WorkerAgent(self, site, rank)
                hires += 1
            site.pending_hires = []
        self.hired += hires
        # M5 plots -> M6 routes -> M7 capture -> M8 reaction
        tally: defaultdict[str, float] = defaultdict(float)
        closing: list[SiteAgent] = []
        for site in self.site_list:
            if site.initiators or site.index in manager_starts:
                starters = site.initiators
                site.initiators = []
                if site.open:
                    self.plot(site, starters, site.index in manager_starts, cond, tally, closing)
        # M8 closures for chronic arrears
        p_fail = p.restaurants.failure_closure_rate_per_year / 365.0
        for site in self.restaurants:
            if (
                site.open
                and site not in closing
                and self.random.random() < p_fail * site.arrears_index**2
            ):
                closing.append(site)
        # M8 closures: orders, attempts, arrears (a site shut once, whatever the causes)
        ordered_set = set(ordered)
        recalls = self.recalls_today
        seized = {True: 0.0, False: 0.0}
        closures_rest = 0
        for site in dict.fromkeys(ordered + closing):
            recalled, cash = site.close(t, by_order=site in ordered_set)
            recalls += recalled
            self.left_recall += recalled
            seized[site.is_restaurant] += cash
            closures_rest += site.is_restaurant
        # M8 ordinary openings, slowed by Chinese sanctions or the enforced worker ban
        slowdown = max(cond.china_sanctions, cond.worker_ban_enforced)
        n_new = int(
            self.rng.poisson(p.restaurants.opening_rate_per_year / 365.0 * clip01(1.0 - slowdown))
        )
        # a site a host ordered shut reopens only under a nominee (above)
        eligible = [
            s for s in self.restaurants if not s.open and not s.shut_by_order and s.reopen_day <= t
        ]
        openings = self.random.sample(eligible, min(n_new, len(eligible))) if n_new else []
        for site in openings:
            site.reopen(nominee=False)
        # M8 tightened control fades
        relax = math.exp(-1.0 / p.regime.control_relax_days)
        self.control *= relax
        self.screening *= relax
        for site in self.site_list:
            site.site_watch *= relax
        # M10 wider flow
        flow = self.wider.step(cond)
        # M7 China's detention: today's arrests (hidden, intercepted, workers caught in China)
        arrested_china = int(flow["arrests"] + flow["intercepted"] + tally["worker_arrests_china"])
        held = self.detention.step(arrested_china, closure)
        self.wider.recent += int(held["released"])  # released back among the recent crossers
        # M7 other hosts: detainees wait while the border is shut to people
        if closure >= p.enforcement.closure_holds_detainees:
            waiting = self.repatriations_other.pop(t, 0)
            if waiting:
                self.repatriations_other[t + 1] += waiting
        repatriated_china = int(held["repatriated"])
        severe = int(self.rng.binomial(repatriated_china, p.enforcement.share_severe_punishment))
        arrivals_postings = self.arrivals_workers.pop(t, 0)
        arrivals = arrivals_postings + self.arrivals_wider.pop(t, 0) + int(flow["onward"])
        self.wider.arrivals_cumulative += arrivals
        # M9 accounting, economy, guards, relations
        remit_rest = sum(s.remittance for s in self.restaurants) + seized[True]
        remit_lab = sum(s.remittance for s in self.labour_sites) + seized[False]
        revenue = remit_rest + remit_lab
        economy = self.strategic.update_economy(cond, revenue, flow["crossings"])
        self.record(
            cond,
            strategic,
            flow,
            held,
            tally,
            {
                "hires": float(hires),
                "recalls": float(recalls),
                "closures_rest": float(closures_rest),
                "closure_orders": float(sum(s.is_restaurant for s in ordered)),
                "openings": float(len(openings) + len(nominee_openings)),
                "nominee_openings": float(len(nominee_openings)),
                "remit_rest": remit_rest,
                "remit_lab": remit_lab,
                "seized_rest": seized[True],
                "seized_lab": seized[False],
                "arrivals": float(arrivals),
                "arrivals_postings": float(arrivals_postings),
                "repatriated_china": float(repatriated_china),
                "repatriated_other": float(self.repatriations_other.pop(t, 0)),
                "severe": float(severe),
                "un_workers_level": self.hosts.worker_provisions_level(w_un),
            },
            economy,
        )
        self.datacollector.collect(self)
        self.conditional.observe(self.today)
        self.day = t + 1

    # outcomes ------------------------------------------------------------------------
    def record(
        self,
        cond: Conditions,
        strategic: dict[str, float],
        flow: dict[str, float],
        held: dict[str, float],
        tally: defaultdict[str, float],
        day: dict[str, float],
        economy: dict[str, float],
    ) -> None:
        """The day's outcomes (every name of ``core.outcomes``), read by the DataCollector."""
        staff_rest = sum(len(s.workers) for s in self.restaurants)
        labour_by_host = [0, 0, 0]
        for s in self.labour_sites:
            labour_by_host[s.country] += len(s.workers)
        staff_lab = sum(labour_by_host)
        open_rest = [s for s in self.restaurants if s.open]
        weight = sum(len(s.workers) for s in open_rest)
        if self.month_end[self.day]:
            stress_rest = [w.stress for s in self.restaurants for w in s.workers.values()]
            stress_lab = [w.stress for s in self.labour_sites for w in s.workers.values()]
            mean_rest = sum(stress_rest) / len(stress_rest) if stress_rest else 0.0
            mean_lab = sum(stress_lab) / len(stress_lab) if stress_lab else 0.0
        else:
            mean_rest = mean_lab = 0.0
        wider, detention = self.wider, self.detention
        self.today = {
            "revenue_to_state_usd": day["remit_rest"] + day["remit_lab"],
            "remittance_restaurants_usd": day["remit_rest"],
            "remittance_labour_usd": day["remit_lab"],
            "restaurant_sales_usd": sum(s.sales for s in self.restaurants),
            "restaurant_costs_usd": sum(s.costs for s in self.restaurants),
            "restaurant_wages_usd": sum(s.wages for s in self.restaurants),
            "restaurant_retained_usd": sum(s.retained for s in self.restaurants)
            - day["seized_rest"],
            "labour_fees_usd": sum(s.sales for s in self.labour_sites),
            "labour_costs_usd": sum(s.costs for s in self.labour_sites),
            "labour_wages_usd": sum(s.wages for s in self.labour_sites),
            "labour_retained_usd": sum(s.retained for s in self.labour_sites) - day["seized_lab"],
            "restaurant_arrears_usd": sum(s.arrears for s in self.restaurants),
            "pay_level_restaurant": sum(len(s.workers) * s.pay_level for s in open_rest)
            / max(weight, 1e-9),
            "hours_restaurant": sum(len(s.workers) * s.hours for s in open_rest)
            / max(weight, 1e-9),
            "salary_suspended_restaurants": float(
                sum(s.pay_level < SUSPENDED_PAY_LEVEL for s in open_rest)
            ),
            "stress_restaurant": mean_rest,
            "stress_labour": mean_lab,
            "workers_abroad": float(staff_rest + staff_lab),
            "workers_restaurant": float(staff_rest),
            "workers_labour": float(staff_lab),
            "restaurants_open": float(len(open_rest)),
            "hires": day["hires"],
            "rotations_home": float(self.rotations_today),
            "recalls": day["recalls"],
            "restaurant_openings": day["openings"],
            "restaurant_closures": day["closures_rest"],
            "closures_after_attempts": tally["closures_after_attempts"],
            "closure_orders": day["closure_orders"],
            "nominee_openings": day["nominee_openings"],
            "nominee_restaurants": float(sum(s.nominee for s in open_rest)),
            "quota_renegotiations": float(self.renegotiations_today),
            "quota_level": sum(s.quota_factor for s in open_rest) / len(open_rest)
            if open_rest
            else 0.0,
            "workers_relabelled": sum(self.hosts.relabel[h] * labour_by_host[h] for h in HOSTS),
            "surveillance_level": self.control,
            "screening_level": self.screening,
            "attempts_restaurant": tally["attempts_restaurant"],
            "attempts_labour": tally["attempts_labour"],
            "restaurant_defectors": tally["restaurant_defectors"],
            "labour_defectors": tally["labour_defectors"],
            "defection_groups_restaurant": tally["defection_groups_restaurant"],
            "defection_groups_labour": tally["defection_groups_labour"],
            "manager_led_groups": tally["manager_led_groups"],
            "foiled_at_site": tally["foiled_at_site"],
            "stopped_at_exit": tally["stopped_at_exit"],
            "caught_in_transit": tally["caught_in_transit"],
            "escapes_legal_route": tally["escapes_legal_route"],
            "escapes_clandestine_route": tally["escapes_clandestine_route"],
            "broker_fees_usd": tally["broker_fees_usd"],
            "arrivals_south_korea": day["arrivals"],
            "arrivals_from_postings": day["arrivals_postings"],
            "border_crossings": flow["crossings"],
            "hidden_in_china": float(wider.hidden),
            "recent_crossers": float(wider.recent),
            "long_term_residents": float(wider.residents),
            "third_country_residents": float(wider.third_country),
            "settlements": flow["settlements"],
            "to_third_countries": flow["to_third_countries"],
            "onward_from_third_countries": flow["onward"],
            "arrests_residents": flow["arrests_residents"],
            "arrests_china": flow["arrests"] + flow["intercepted"] + tally["worker_arrests_china"],
            "arrests_hidden": flow["arrests"],
            "brokered_intercepted": flow["intercepted"],
            "detained_china": float(detention.detained),
            "awaiting_handover": float(detention.awaiting),
            "long_detention": float(detention.long),
            "detention_overflow": held["overflow"],
            "detention_released": held["released"],
            "repatriations_from_china": day["repatriated_china"],
            "repatriations_other_hosts": day["repatriated_other"],
            "repatriated_severe_punishment": day["severe"],
            "broker_departures": flow["departures"],
            "returns_home": flow["returns"],
            "missile_tests": strategic["missile_tests"],
            "nuclear_tests": strategic["nuclear_tests"],
            "provocations": strategic["missile_tests"] + strategic["nuclear_tests"],
            "un_resolutions": strategic["un_resolutions"],
            "envoys": strategic["envoys"],
            "talks": strategic["talks"],
            "defiance": strategic["defiance"],
            "milestones": strategic["milestones"],
            "programme_progress": self.strategic.progress,
            "relations_index": economy["relations_index"],
            "displeasure": economy["displeasure"],
            "economy_index": economy["economy_index"],
            "exit_strictness": cond.exit_strictness,
            "border_stringency": cond.stringency,
            "china_sanctions": cond.china_sanctions,
            "food_aid": cond.aid,
            "travel_advisory": cond.advisory,
            "un_workers_level": day["un_workers_level"],
            "un_enforcement_china": cond.enforcement[CHINA],
            "un_enforcement_russia": cond.enforcement[RUSSIA],
            "un_enforcement_other": cond.enforcement[OTHER],
            "oil_cut": cond.oil_cut,
            "diplomatic_signal_effective": cond.signal,
            "trade_loss": economy["trade_loss"],
        }

    def ledger(self) -> dict[str, int]:
        """Stock-flow ledger of the run (cumulative counts and end stocks, persons).

        Workers (M1, M5): in_post = initial_in_post + hired - left_rotation - left_recall
        - left_flight.  Wider flow (M10): hidden_* and third_country_* start and end
        stocks.  Detention (M7): arrested = admitted + released + to_long; detained =
        detained_initial + admitted - handed; long_detention = to_long - long_handed.
        """
        wf = self.params.wider_flow
        hidden0 = int(round(wf.hidden_initial))
        recent0 = int(round(hidden0 * (1.0 - wf.resident_share_initial)))
        det = self.detention
        return {
            "initial_in_post": self.initial_in_post,
            "hired": self.hired,
            "left_rotation": self.left_rotation,
            "left_recall": self.left_recall,
            "left_flight": self.left_flight,
            "in_post": self.workers_in_post(),
            "recent_initial": recent0,
            "residents_initial": hidden0 - recent0,
            "third_country_initial": int(round(wf.third_country_initial)),
            "recent_crossers": self.wider.recent,
            "long_term_residents": self.wider.residents,
            "third_country_residents": self.wider.third_country,
            "to_third_country": self.wider.to_third_country,
            "departures_residents": self.wider.departed_residents,
            "detained_initial": det.initial,
            "arrested_china": det.arrested,
            "admitted": det.admitted,
            "released": det.released,
            "to_long_detention": det.to_long,
            "handed_over": det.handed,
            "long_handed_over": det.long_handed,
            "detained_china": det.detained,
            "processing": sum(det.processing.values()),
            "awaiting_handover": det.awaiting,
            "long_detention": det.long,
        }

    # M5 plots, M6 routes, M7 capture, M8 reaction ---------------------------------------
    def plot(
        self,
        site: SiteAgent,
        starters: list[WorkerAgent],
        manager_started: bool,
        cond: Conditions,
        tally: defaultdict[str, float],
        closing: list[SiteAgent],
    ) -> None:
        """Grow a plot at ``site`` into a group, send it on a route, and react (M5, M6, M7, M8)."""
        p = self.params
        d = p.defection
        t = self.day
        rnd = self.random.random
        sector = "restaurant" if site.is_restaurant else "labour"
        starter_set = set(starters)
        others = [w for w in site.workers.values() if w not in starter_set]
        # M5: a manager may take the lead; co-workers follow him or catch the plot
        manager_led = manager_started or rnd() < d.manager_join * site.manager_pressure
        if manager_led:
            weight = d.manager_follow_loyalty_weight
            joiners = [w for w in others if rnd() < d.manager_follow * (1.0 - weight * w.loyalty)]
        else:
            joiners = [w for w in others if rnd() < d.contagion * min(max(w.stress, 0.0), 1.0)]
        members = starters + joiners
        size = len(members) + int(manager_led)
        for w in members:
            w.leave()
        self.left_flight += len(members)
        p_each = (
            d.detection_per_member
            * site.surveillance
            * (d.manager_detection_factor if manager_led else 1.0)
        )
        detected = rnd() < 1.0 - (1.0 - p_each) ** max(size - 1, 0)
        tally[f"attempts_{sector}"] += size
        tally[f"defection_groups_{sector}"] += 1
        tally["manager_led_groups"] += int(manager_led)
        helpers = False
        route = "none"
        arrival = -1
        if detected:
            tally["foiled_at_site"] += size
            outcome = "foiled"
            escaped = False
        else:
            route, helpers, caught, delay = self.route(manager_led, site, cond)
            escaped = not caught
            if escaped:
                tally[f"{sector}_defectors"] += size
                tally[f"escapes_{route}_route"] += size
                arrival = t + delay
                self.arrivals_workers[arrival] += size
                outcome = "escaped"
            else:
                outcome = "stopped_at_exit" if route == "legal" else "caught_in_transit"
                tally[outcome] += size
                if site.country == CHINA:
                    tally["worker_arrests_china"] += size  # into China's detention (M7)
                else:
                    self.schedule(self.repatriations_other, size, self.detention_delay)
            if route == "clandestine":
                tally["broker_fees_usd"] += size * p.routes.broker_cost_usd
        self.groups.append(
            GroupRecord(
                self.replicate,
                t,
                site.index,
                sector,
                COUNTRY_NAMES[site.country],
                size,
                manager_led,
                helpers,
                route,
                outcome,
                arrival,
            )
        )
        # M8: control tightens network-wide and at the site; the site may be shut
        rg = p.regime
        self.control = min(self.control + rg.surveillance_jump, 1.0)
        self.screening = min(self.screening + rg.screening_jump, 1.0)
        site.site_watch = min(site.site_watch + rg.surveillance_jump, 1.0)
        if rnd() < (rg.closure_after_escape if escaped else rg.closure_after_attempt):
            closing.append(site)
            tally["closures_after_attempts"] += 1

    def route(
        self, manager_led: bool, site: SiteAgent, cond: Conditions
    ) -> tuple[str, bool, bool, int]:
        """Exit route of an undetected group (M6): (route, helpers, caught, days to Seoul)."""
        d, rt = self.params.defection, self.params.routes
        rnd = self.random.random
        helpers = rnd() < (d.helper_restaurant if site.is_restaurant else d.helper_labour)
        # documents: the manager holds the passports, or helpers recover them
        if manager_led or (helpers and rnd() < rt.passport_reclaim_with_helper):
            stop = {CHINA: cond.exit_strictness, RUSSIA: rt.russia_exit_strictness}.get(
                site.country, rt.other_exit_strictness
            )
            delay = 1 + int(self.random.expovariate(1.0 / max(rt.legal_delay_days, 1e-9)))
            return "legal", helpers, rnd() < stop, delay
        catch = {
            CHINA: rt.clandestine_interception_per_transit * cond.stringency,
            RUSSIA: rt.russia_interception,
        }.get(site.country, rt.other_interception)
        if helpers:
            catch *= rt.helper_interception_factor
        shape = rt.clandestine_transit_shape
        transit = self.random.gammavariate(shape, rt.clandestine_transit_days / shape)
        processing = self.random.expovariate(1.0 / max(rt.clandestine_processing_days, 1e-9))
        return "clandestine", helpers, rnd() < catch, 1 + int(transit + processing)

    def run(self) -> None:
        """Run every day of the calendar."""
        for _ in range(self.calendar.n_days):
            self.step()


class ConditionalPolicies:
    """A scenario's conditional policies (issue 15), written from ``core.timeline.Rule``'s doc.

    Each day t >= 1 a rule reads its outcome over the ``window_days`` days before t
    (flows summed, stocks and means averaged over the days there are) and, in force,
    moves the day's levers in order, each clipped to the lever's bounds.
    ``activations`` lists (day, rule index, statistic) for every firing.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self.past: list[list[float]] = [[] for _ in self.rules]  # each rule's daily outcome
        self.spell_end = [0] * len(self.rules)  # first day out of force
        self.ready_from = [0] * len(self.rules)  # first day it may fire again
        self.fired = [0] * len(self.rules)
        self.activations: list[tuple[int, int, float]] = []
        self.bounds = field_specs(Levers)

    def _condition(self, r: int, t: int) -> tuple[bool, float]:
        rule = self.rules[r]
        window = self.past[r][max(t - rule.window_days, 0) : t]
        value = sum(window)
        if OUTCOMES[rule.when].kind in ("stock", "mean"):
            value /= len(window)
        return (value > rule.threshold) if rule.above else (value < rule.threshold), value

    def levers(self, t: int, dated: Levers) -> Levers:
        """The day's levers: the dated ones, moved by the rules in force today."""
        if not self.rules:
            return dated
        values = {name: float(getattr(dated, name)) for name in self.bounds}
        for r, rule in enumerate(self.rules):
            if rule.mode == "after" and t < self.spell_end[r]:
                in_force = True
            elif t == 0:
                in_force = False
            else:
                met, value = self._condition(r, t)
                met = met and rule.first_day <= t <= rule.last_day
                ongoing = rule.mode == "while" and self.spell_end[r] == t
                free = t >= self.ready_from[r] and (
                    rule.max_activations == 0 or self.fired[r] < rule.max_activations
                )
                in_force = met and (ongoing or free)
                if in_force and not ongoing:
                    self.fired[r] += 1
                    self.activations.append((t, r, value))
                if in_force:
                    length = 1 if rule.mode == "while" else rule.days
                    self.spell_end[r] = t + length
                    if rule.mode == "after":
                        self.ready_from[r] = t + rule.days + rule.cooldown_days
                elif ongoing:
                    self.ready_from[r] = t + rule.cooldown_days
            if in_force:
                for action in rule.actions:
                    spec = self.bounds[action.lever]
                    new = values[action.lever] + action.value if action.add else action.value
                    values[action.lever] = min(max(new, spec["lo"]), spec["hi"])
        return dataclasses.replace(dated, **values)

    def observe(self, today: dict[str, float]) -> None:
        """Book the day's outcomes the rules read."""
        for r, rule in enumerate(self.rules):
            self.past[r].append(today[rule.when])


def _reporter(name: str) -> Callable[[LipsteethModel], float]:
    def report(model: LipsteethModel) -> float:
        return model.today[name]

    report.__name__ = name
    return report


# --------------------------------------------------------------------------- runs


@dataclass
class ReferenceRun:
    """Monthly outcomes (R, M) by name and the defection-group log of a reference ensemble."""

    replicates: np.ndarray
    months: np.ndarray
    monthly: dict[str, np.ndarray]
    groups: list[GroupRecord] = field(default_factory=list)
    ledger: dict[str, np.ndarray] = field(default_factory=dict)


def to_months(daily: dict[str, Sequence[float]], calendar: Calendar) -> dict[str, np.ndarray]:
    """Aggregate daily values by month: flows sum, stocks keep the last day, means average."""
    month_index = calendar.month_index
    n_months = int(month_index[-1]) + 1
    days_in_month = np.bincount(month_index, minlength=n_months)
    last_day = np.flatnonzero(np.append(month_index[1:] != month_index[:-1], True))
    out = {}
    for name in OUTCOME_NAMES:
        values = np.asarray(daily[name], dtype=float)
        kind = OUTCOMES[name].kind
        if kind == "stock":
            out[name] = values[last_day]
        else:
            sums = np.bincount(month_index, weights=values, minlength=n_months)
            out[name] = sums / days_in_month if kind == "mean" else sums
    return out


def replicate_seed(seed: int, replicate: int) -> int:
    """Seed of one reference replicate (its own stream, whatever the batch)."""
    child = np.random.SeedSequence(seed, spawn_key=(int(replicate),))
    return int(child.generate_state(2, np.uint64)[0])


def _run_one(
    args: tuple[Params, Levers, Calendar, Timeline | None, int, int],
) -> tuple[dict[str, np.ndarray], list[GroupRecord], dict[str, int]]:
    params, levers, calendar, timeline, seed, replicate = args
    model = LipsteethModel(
        params, levers, calendar, timeline, replicate_seed(seed, replicate), replicate
    )
    model.run()
    ledger = model.ledger()
    return to_months(model.datacollector.model_vars, calendar), model.groups, ledger


def run_reference_full(
    params: Params,
    levers: Levers,
    calendar: Calendar,
    timeline: Timeline | None = None,
    seed: int = 0,
    replicates: int | Sequence[int] | np.ndarray = 1,
    processes: int = 1,
) -> ReferenceRun:
    """Run reference replicates (a count or explicit indices), optionally in worker processes."""
    if isinstance(replicates, int | np.integer):
        index = np.arange(int(replicates))
    else:
        index = np.asarray(replicates, dtype=int)
    jobs = [(params, levers, calendar, timeline, seed, int(i)) for i in index]
    if processes > 1 and len(jobs) > 1:
        # fork: workers inherit the imported model, no __main__ guard needed by callers
        with ProcessPoolExecutor(max_workers=processes, mp_context=mp.get_context("fork")) as pool:
            results = list(pool.map(_run_one, jobs))
    else:
        results = [_run_one(job) for job in jobs]
    monthly = {name: np.stack([res[0][name] for res in results]) for name in OUTCOME_NAMES}
    groups = [g for res in results for g in res[1]]
    ledger = {k: np.array([res[2][k] for res in results]) for k in results[0][2]}
    return ReferenceRun(index, calendar.months, monthly, groups, ledger)


def run_reference(
    params: Params,
    levers: Levers,
    calendar: Calendar,
    timeline: Timeline | None = None,
    seed: int = 0,
    replicates: int | Sequence[int] | np.ndarray = 1,
    processes: int = 1,
) -> dict[str, np.ndarray]:
    """Outcome name -> (R, months) array, as the core aggregates it, plus group sizes.

    Besides every name of ``lipsteeth.core.outcomes.OUTCOME_NAMES`` the dict
    holds ``group_size_restaurant`` and ``group_size_labour``: the sizes of
    all defection groups of all replicates (1-D, from the event log).
    """
    run = run_reference_full(params, levers, calendar, timeline, seed, replicates, processes)
    out = dict(run.monthly)
    for sector in ("restaurant", "labour"):
        out[f"group_size_{sector}"] = np.array(
            [g.size for g in run.groups if g.sector == sector], dtype=np.int64
        )
    return out
