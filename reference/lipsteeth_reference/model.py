"""The lipsteeth model written the plain way: one Mesa agent per worker and per site.

Agents
  WorkerAgent      one worker in a post abroad: loyalty and family deterrent
                   fixed at recruitment (M4 screening), stress updated every
                   day by the plain recurrence stress += (pressure - stress) /
                   stress_days (M4), one Bernoulli draw per day for flight (M5),
                   one for the end of the posting and one for a recall (M1).
  RestaurantAgent  a restaurant site: demand (M2), accounts and the remittance
                   quota (M1), the manager's response to shortfalls (M3),
                   hiring into vacant posts, the manager's own flight (M5).
  LabourSiteAgent  a labour site: contract fees, living costs, quota share (M1).
Model-level submodels (plain Python, per day)
  StrategicLayer   Pyongyang's tests, envoys, UN resolutions, Seoul's advisory,
                   Beijing's sticks, carrots and limits, the economy index (M9).
  WiderFlow        North Koreans hidden in China outside postings (M10) and the
                   arrest/interception/repatriation pipeline (M7).
  plots, routes and the regime's reaction (M5, M6, M8) are model methods.

Everything is written from the equations stated in the docstrings of the core
modules, not from their code; random draws differ from the core's (Python's
``random`` per agent, NumPy per aggregate), only the distributions must agree.
The model's day runs in the same order as the core's:
M9 -> M2 -> M1/M3 -> M4 -> M5/M6/M8 -> M10/M7 -> accounting.
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

from lipsteeth.core.outcomes import OUTCOME_NAMES, OUTCOMES
from lipsteeth.core.params import Levers, Params
from lipsteeth.core.timeline import UN_PROVISIONS, Calendar, Timeline

CHINA, RUSSIA, OTHER = 0, 1, 2
COUNTRY_NAMES = ("China", "Russia", "other")
GOLDEN = 0.6180339887498949  # well-mixed deterministic country assignment (layout definition)
DAYS_PER_MONTH = 30.4375  # M1: monthly amounts to daily
LONGEST_DELAY_DAYS = 729  # M7/M10: support of the discretised delay distributions


# --------------------------------------------------------------------------- helpers


def gamma_delay(mean_days: float, shape: float) -> tuple[np.ndarray, np.ndarray]:
    """Days 1..LONGEST_DELAY_DAYS and their probabilities (M7, M10).

    A gamma density of the given mean and shape evaluated at whole days and
    normalised; a non-positive mean puts everything on day 1.
    """
    days = np.arange(1, LONGEST_DELAY_DAYS + 1)
    if mean_days <= 0:
        probs = np.zeros(days.shape[0])
        probs[0] = 1.0
        return days, probs
    theta = mean_days / shape
    log_w = (shape - 1.0) * np.log(days) - days / theta
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
    """Beijing's effective policy on one day (M9), plus the day's levers."""

    exit_strictness: float
    stringency: float
    china_sanctions: float
    aid: float
    signal: float
    advisory: float
    un: tuple[float, ...]  # UN_PROVISIONS order
    pressure: float
    levers: Levers

    @property
    def un_workers(self) -> float:
        """UN worker provisions as host states enforce them (provision x compliance)."""
        return self.un[0] * self.levers.un_compliance


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

    def step_demand(self, segment: float) -> float:
        """Relative demand today (M2); labour sites work on contracts (demand 1)."""
        return 1.0

    # the day ---------------------------------------------------------------------
    def step(self) -> None:
        """Demand, accounts and remittance, manager response, pressure on workers (M1-M4)."""
        model = self.model
        p = model.params
        rp = p.restaurants
        demand_factor = self.step_demand(model.demand_segment)
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
        # M4: pressure on the workers, surveillance, today's hazard scale (M5)
        w = p.workers
        self.pressure = (
            w.stress_weight_pay * (1.0 - self.pay_level)
            + w.stress_weight_hours * (self.hours - 1.0) / max(rp.hours_max - 1.0, 1e-9)
            + w.stress_weight_arrears * self.arrears_index
        )
        self.surveillance = min(
            max(self.base_surveillance() + model.control + self.site_watch, 0.0), 1.0
        )
        self.hazard_scale = self.base_hazard_per_day() * math.exp(
            -p.defection.beta_surveillance * self.surveillance
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

    def close(self, day: int) -> tuple[int, float]:
        """Shut the site (M8): recall everyone, seize the reserve; return (recalled, seized)."""
        recalled = len(self.workers)
        for worker in list(self.workers.values()):
            worker.leave()
        seized = self.reserve
        self.reserve = self.arrears = self.margin = 0.0
        self.pay_level = self.hours = 1.0
        self.open = False
        self.reopen_day = day + int(self.model.params.regime.reopen_delay_days)
        return recalled, seized


class RestaurantAgent(SiteAgent):
    """A state-run restaurant abroad (M1, M2, M3)."""

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
        """M2: customer segments x post-test dip (in ``segment``) x AR(1) site noise."""
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
        rp = self.model.params.restaurants
        return rp.variable_cost_share * income + rp.fixed_cost_per_day

    def pay_per_day(self) -> float:
        return self.model.params.restaurants.base_pay_per_month / DAYS_PER_MONTH

    def quota_due(self, income: float, levers: Levers) -> float:
        return levers.restaurant_quota_usd / 365.0

    def base_hazard_per_day(self) -> float:
        return self.model.params.defection.restaurant_hazard_per_year / 365.0

    def base_surveillance(self) -> float:
        return self.model.params.workers.restaurant_surveillance


class LabourSiteAgent(SiteAgent):
    """A contracted labour site (M1)."""

    def income(self, staff: int, demand_factor: float) -> float:
        return self.model.params.labour.contract_fee_per_month / DAYS_PER_MONTH * staff

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

    def set_wanted(self, fill: float) -> None:
        self.wanted = min(int(math.floor(fill * self.posts + self.offset)), self.posts)


# --------------------------------------------------------------------------- M9, M10


class StrategicLayer:
    """Pyongyang's provocations, Beijing's policy and limits, the UN and Seoul (M9)."""

    def __init__(self, model: LipsteethModel) -> None:
        self.model = model
        self.displeasure = 0.0
        self.conciliation_left = 0.0
        self.un_levels = [0.0] * len(UN_PROVISIONS)
        self.advisory = 0.0
        self.economy = 1.0
        self.remit_ema: float | None = None
        self.remit_ref = 1e-9
        self.crossing_ema = 0.0
        self.resolution_day = -1
        self.laxity_on = False
        self.collapse_guard = False
        self.exodus_guard = False

    def policy(self, levers: Levers) -> Conditions:
        """Beijing's effective levers from its displeasure and its limits."""
        sp = self.model.params.strategic
        discretion = levers.beijing_discretion
        lax = self.displeasure > sp.laxity_threshold
        conciliating = self.conciliation_left > 0
        exit_strictness = levers.china_exit_strictness * (1.0 - discretion * sp.laxity_depth * lax)
        sanctions = min(
            max(
                levers.china_sanctions + discretion * sp.sanctions_response * self.displeasure, 0.0
            ),
            1.0,
        )
        if self.collapse_guard:  # no regime starved into desperation
            sanctions = min(levers.china_sanctions, 1.0)
        aid = levers.food_aid + discretion * sp.aid_response * conciliating
        aid = min(max(aid + discretion * sp.aid_response * self.collapse_guard, 0.0), 1.0)
        stringency = 1.0 if self.exodus_guard else levers.china_border_stringency  # no exodus
        signal = min(max(levers.diplomatic_signal + discretion * (conciliating - lax), -1.0), 1.0)
        un = tuple(
            max(level, getattr(levers, name))
            for level, name in zip(self.un_levels, UN_PROVISIONS, strict=True)
        )
        advisory = max(self.advisory, levers.seoul_travel_advisory)
        pressure = sanctions + sp.snub_pressure_weight * max(-signal, 0.0)
        return Conditions(
            exit_strictness, stringency, sanctions, aid, signal, advisory, un, pressure, levers
        )

    def provocations(
        self,
        cond: Conditions,
        forced_nuclear: int,
        forced_missile: int,
        forced_resolution: np.ndarray,
        endogenous: bool,
    ) -> dict[str, float]:
        """Tests, envoys, UN resolutions and advisories of the day."""
        model = self.model
        sp = model.params.strategic
        rng = model.rng
        rnd = model.random.random
        t = model.day
        squeeze = max(0.0, 1.0 - self.economy)
        multiplier = math.exp(
            -sp.beta_pressure * cond.pressure
            - sp.beta_aid * cond.aid
            + sp.beta_squeeze * squeeze
            + sp.beta_drive * cond.levers.weapons_drive  # a programme pushed to completion
        )
        if self.conciliation_left > 0:
            multiplier *= 1.0 - sp.conciliation_effect
        missiles = int(rng.poisson(sp.missile_rate_per_year / 365.0 * multiplier)) + forced_missile
        nuclear = forced_nuclear
        if endogenous and rnd() < sp.nuclear_rate_per_year / 365.0 * multiplier:
            nuclear += 1
        envoys = 0
        p_envoy = 1.0 - math.exp(
            -sp.envoy_rate_per_year / 365.0 * min(max(cond.pressure, 0.0), 1.0)
        )
        if self.conciliation_left <= 0 and rnd() < p_envoy:
            envoys = 1
            self.conciliation_left = sp.conciliation_days
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
        self.displeasure = (
            self.displeasure * math.exp(-1.0 / sp.displeasure_days)
            + sp.displeasure_nuclear * nuclear
            + sp.displeasure_missile * missiles
        )
        self.conciliation_left = max(self.conciliation_left - 1, 0)
        # an advisory in force (the lever) holds the boycott up; once lifted it fades (M2)
        self.advisory = max(
            self.advisory * math.exp(-1.0 / sp.advisory_days), cond.levers.seoul_travel_advisory
        )
        return {
            "missile_tests": float(missiles),
            "nuclear_tests": float(nuclear),
            "un_resolutions": float(resolutions),
            "envoys": float(envoys),
        }

    def update_economy(
        self, cond: Conditions, revenue: float, crossings: float
    ) -> dict[str, float]:
        """Economy index, Beijing's guards and the relations index after the day's flows."""
        sp = self.model.params.strategic
        if self.remit_ema is None:
            self.remit_ema = revenue
            self.remit_ref = max(revenue, 1e-9)
            self.crossing_ema = crossings * 365.0
        else:
            self.remit_ema += (revenue - self.remit_ema) / sp.economy_smoothing_days
            self.crossing_ema += (crossings * 365.0 - self.crossing_ema) / sp.economy_smoothing_days
        un = dict(zip(UN_PROVISIONS, cond.un, strict=True))
        trade_loss = min(
            max(
                un["un_coal"] * sp.trade_loss_coal
                + un["un_textiles"] * sp.trade_loss_textiles
                + un["un_seafood"] * sp.trade_loss_seafood
                + cond.china_sanctions * sp.trade_loss_china_sanctions,
                0.0,
            ),
            1.0,
        )
        self.economy = (
            1.0
            + sp.economy_weight_overseas * (self.remit_ema / self.remit_ref - 1.0)
            - sp.economy_weight_trade * trade_loss
            + sp.aid_economy_effect * cond.aid
        )
        discretion = cond.levers.beijing_discretion > 0
        self.laxity_on = self.displeasure > sp.laxity_threshold and discretion
        self.collapse_guard = self.economy < sp.collapse_threshold and discretion
        self.exodus_guard = self.crossing_ema > sp.exodus_threshold_per_year and discretion
        relations = math.tanh(
            cond.aid
            + max(cond.signal, 0.0)
            - cond.china_sanctions
            - self.displeasure / max(sp.laxity_threshold, 1e-9)
            + sp.relations_baseline
        )
        return {
            "economy_index": self.economy,
            "relations_index": relations,
            "displeasure": self.displeasure,
            "trade_loss": trade_loss,
        }


class WiderFlow:
    """North Koreans hidden in China outside state postings (M10), with their M7 pipeline."""

    def __init__(self, model: LipsteethModel) -> None:
        self.model = model
        self.hidden = int(round(model.params.wider_flow.hidden_initial))

    def warm_start(self, cond: Conditions) -> None:
        """Book who is in transit or detention on day 0 (M7, M10).

        Replays the days before the start with day-0 conditions: on each past
        day -j the hidden population loses arrests and brokered departures, and
        everyone whose delay runs past day 0 is still on the way.
        """
        model = self.model
        wf = model.params.wider_flow
        rng = model.rng
        p_arrest = 1.0 - math.exp(
            -model.params.enforcement.arrest_rate_per_year * cond.stringency / 365.0
        )
        broker_rate = (
            wf.broker_rate_per_year
            * cond.levers.broker_access
            * (1.0 - wf.broker_border_effect * cond.levers.nk_border_control)
        )
        p_depart = (1.0 - math.exp(-broker_rate / 365.0)) * (1.0 - cond.levers.border_closure)
        p_caught = min(max(wf.transit_interception * cond.stringency, 0.0), 1.0)
        for days_before in range(1, LONGEST_DELAY_DAYS + 1):
            arrests = int(rng.binomial(self.hidden, p_arrest))
            departures = int(rng.binomial(self.hidden - arrests, p_depart))
            intercepted = int(rng.binomial(departures, p_caught))
            for pipeline, count, (days, probs) in (
                (model.repatriations_china, arrests + intercepted, model.detention_delay),
                (model.arrivals_wider, departures - intercepted, model.transit_delay),
            ):
                if count > 0:
                    for d in rng.choice(days, size=count, p=probs):
                        if d >= days_before:  # still on the way on day 0
                            pipeline[int(d) - days_before] += 1

    def step(self, cond: Conditions) -> dict[str, float]:
        model = self.model
        wf = model.params.wider_flow
        rng = model.rng
        closure = cond.levers.border_closure
        squeeze = max(0.0, 1.0 - model.strategic.economy)
        rate = (
            wf.crossing_rate_per_year
            / 365.0
            * math.exp(wf.beta_economy * squeeze - wf.beta_aid * cond.aid)
            * (1.0 - wf.nk_border_effect * cond.levers.nk_border_control)
            * (1.0 - closure)
        )
        crossings = int(rng.poisson(rate))
        p_arrest = 1.0 - math.exp(
            -model.params.enforcement.arrest_rate_per_year * cond.stringency / 365.0
        )
        arrests = int(rng.binomial(self.hidden, p_arrest))
        remaining = self.hidden - arrests
        # brokers' reach out of China and Pyongyang's border control limit departures
        broker_rate = (
            wf.broker_rate_per_year
            * cond.levers.broker_access
            * (1.0 - wf.broker_border_effect * cond.levers.nk_border_control)
        )
        p_depart = (1.0 - math.exp(-broker_rate / 365.0)) * (1.0 - closure)
        departures = int(rng.binomial(remaining, p_depart))
        p_return = 1.0 - math.exp(-wf.return_rate_per_year / 365.0)
        returns = int(rng.binomial(remaining - departures, p_return))
        intercepted = int(
            rng.binomial(departures, min(max(wf.transit_interception * cond.stringency, 0.0), 1.0))
        )
        self.hidden += crossings - arrests - departures - returns
        model.schedule(model.repatriations_china, arrests + intercepted, model.detention_delay)
        model.schedule(model.arrivals_wider, departures - intercepted, model.transit_delay)
        return {
            "crossings": float(crossings),
            "arrests": float(arrests),
            "departures": float(departures),
            "returns": float(returns),
            "intercepted": float(intercepted),
        }


# --------------------------------------------------------------------------- the model


class LipsteethModel(mesa.Model):
    """The whole model on Mesa 3: worker and site agents, strategic and wider-flow submodels."""

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
        self.forced_nuclear = self.timeline.nuclear()
        self.forced_missile = self.timeline.missile()
        self.forced_resolution = self.timeline.resolution()
        # network-wide control (M8)
        self.control = 0.0
        self.screening = 0.0
        self.labour_scale = 1.0
        self.demand_dip = 0.0
        self.demand_segment = 1.0
        # constants of the worker step
        self.stress_rate = 1.0 / params.workers.stress_days
        self.beta_stress = params.defection.beta_stress
        self.p_contract_end = 1.0 / (params.labour.contract_years * 365.0)
        self.rotations_today = 0
        self.recalls_today = 0
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
        self.repatriations_china: defaultdict[int, int] = defaultdict(int)
        self.repatriations_other: defaultdict[int, int] = defaultdict(int)
        self.groups: list[GroupRecord] = []
        self.strategic = StrategicLayer(self)
        self.wider = WiderFlow(self)
        self._build_sites()
        self.wider.warm_start(self.strategic.policy(self.levers_on(0)))
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
        fill = self.labour_fill()
        quota_day = self.base_levers.restaurant_quota_usd / 365.0
        for site in sites:
            site.set_wanted(fill)
            if site.open:
                for rank in range(site.wanted):
                    WorkerAgent(self, site, rank)
                if site.is_restaurant:
                    site.reserve = quota_day * self.params.restaurants.reserve_initial_days
        self.initial_in_post = self.workers_in_post()
        self.hired = 0

    def labour_fill(self) -> float:
        """Share of labour posts wanted (M1): initial workforce x contracted scale / capacity."""
        pop = self.params.population
        capacity = pop.labour_sites_max * pop.labour_site_capacity
        return min(max(pop.labour_workers_initial * self.labour_scale / max(capacity, 1), 0.0), 1.0)

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

    # the day -------------------------------------------------------------------------
    def step(self) -> None:
        """One day: M9 -> M2 -> M1/M3 -> M4 -> M5/M6/M8 -> M10/M7 -> accounting."""
        p = self.params
        t = self.day
        levers = self.levers_on(t)
        self.current_levers = levers
        # M9 conditions and provocations
        cond = self.strategic.policy(levers)
        strategic = self.strategic.provocations(
            cond,
            int(self.forced_nuclear[t]),
            int(self.forced_missile[t]),
            self.forced_resolution[t],
            t >= self.timeline.endogenous_from,
        )
        # M2 network-wide demand: segments and the post-test dip
        dp = p.demand
        nuclear_today = min(strategic["nuclear_tests"], 1.0)
        self.demand_dip = 1.0 - (
            1.0 - self.demand_dip * math.exp(-1.0 / dp.provocation_recovery_days)
        ) * (1.0 - dp.provocation_loss * nuclear_today)
        share_public = max(0.0, 1.0 - dp.share_south_korean - dp.share_officials)
        self.demand_segment = (
            (1.0 - dp.share_south_korean * dp.advisory_compliance * cond.advisory)
            * (1.0 - dp.share_officials * dp.anti_extravagance_loss * levers.anti_extravagance)
            * (1.0 - share_public * dp.sanctions_loss * cond.china_sanctions)
            * (1.0 - self.demand_dip)
        )
        # M2 site demand, M1 accounts, M3 manager, M4 pressure and surveillance
        self.sites.do("step")
        # M1 contracted labour force (UN worker provisions, border closure)
        growth = p.labour.dispatch_growth_per_year / 365.0
        w_un = cond.un_workers
        lp = p.labour
        if w_un >= lp.un_repatriation_level:
            rate = -1.0 / lp.repatriation_days
        elif w_un >= lp.un_freeze_level:
            rate = 0.0
        else:
            rate = growth
        self.labour_scale *= math.exp(rate * (1.0 - levers.border_closure))
        fill = self.labour_fill()
        self.sites.do("set_wanted", fill)
        # M1/M4 hiring draws on posts vacant at the start of the day
        closure = levers.border_closure
        self.p_contract_end = 1.0 / (p.labour.contract_years * 365.0) * (1.0 - closure)
        self.sites.do(
            "draw_hires",
            1.0 / p.labour.hiring_days * (1.0 - closure),
            w_un >= p.labour.un_hiring_ban_level,
        )
        # M4/M5 workers: stress, flight, rotation, recall
        self.rotations_today = 0
        self.recalls_today = 0
        self.worker_agents.do("step")
        # M5 managers
        p_manager = p.defection.manager_hazard_per_year / 365.0
        manager_starts = {
            s.index
            for s in self.site_list
            if s.open and self.random.random() < p_manager * s.manager_pressure
        }
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
        recalls = self.recalls_today
        seized = {True: 0.0, False: 0.0}
        closures_rest = 0
        for site in closing:
            recalled, cash = site.close(t)
            recalls += recalled
            seized[site.is_restaurant] += cash
            closures_rest += site.is_restaurant
        # M8 openings, slowed by sanctions
        slowdown = max(cond.china_sanctions, cond.un_workers)
        n_new = int(
            self.rng.poisson(
                p.restaurants.opening_rate_per_year / 365.0 * min(max(1.0 - slowdown, 0.0), 1.0)
            )
        )
        eligible = [s for s in self.restaurants if not s.open and s.reopen_day <= t]
        openings = self.random.sample(eligible, min(n_new, len(eligible))) if n_new else []
        for site in openings:
            site.open = True
            site.reserve = 0.0
        # M8 tightened control fades
        relax = math.exp(-1.0 / p.regime.control_relax_days)
        self.control *= relax
        self.screening *= relax
        for site in self.site_list:
            site.site_watch *= relax
        # M10 wider flow, M7 repatriations today
        flow = self.wider.step(cond)
        if levers.border_closure >= p.enforcement.closure_holds_detainees:
            # M7: with the border shut to people, detainees wait and are handed over on reopening
            for pipeline in (self.repatriations_china, self.repatriations_other):
                waiting = pipeline.pop(t, 0)
                if waiting:
                    pipeline[t + 1] += waiting
        repatriated_china = self.repatriations_china.pop(t, 0)
        severe = int(self.rng.binomial(repatriated_china, p.enforcement.share_severe_punishment))
        arrivals_postings = self.arrivals_workers.pop(t, 0)
        arrivals = arrivals_postings + self.arrivals_wider.pop(t, 0)
        # accounting
        remit_rest = sum(s.remittance for s in self.restaurants) + seized[True]
        remit_lab = sum(s.remittance for s in self.labour_sites) + seized[False]
        revenue = remit_rest + remit_lab
        economy = self.strategic.update_economy(cond, revenue, flow["crossings"])
        staff_rest = sum(len(s.workers) for s in self.restaurants)
        staff_lab = sum(len(s.workers) for s in self.labour_sites)
        open_rest = [s for s in self.restaurants if s.open]
        weight = sum(len(s.workers) for s in open_rest)
        if self.month_end[t]:
            stress_rest = [w.stress for s in self.restaurants for w in s.workers.values()]
            stress_lab = [w.stress for s in self.labour_sites for w in s.workers.values()]
            mean_rest = sum(stress_rest) / len(stress_rest) if stress_rest else 0.0
            mean_lab = sum(stress_lab) / len(stress_lab) if stress_lab else 0.0
        else:
            mean_rest = mean_lab = 0.0
        self.today = {
            "revenue_to_state_usd": revenue,
            "remittance_restaurants_usd": remit_rest,
            "remittance_labour_usd": remit_lab,
            "restaurant_sales_usd": sum(s.sales for s in self.restaurants),
            "restaurant_costs_usd": sum(s.costs for s in self.restaurants),
            "restaurant_wages_usd": sum(s.wages for s in self.restaurants),
            "restaurant_retained_usd": sum(s.retained for s in self.restaurants) - seized[True],
            "labour_fees_usd": sum(s.sales for s in self.labour_sites),
            "labour_costs_usd": sum(s.costs for s in self.labour_sites),
            "labour_wages_usd": sum(s.wages for s in self.labour_sites),
            "labour_retained_usd": sum(s.retained for s in self.labour_sites) - seized[False],
            "restaurant_arrears_usd": sum(s.arrears for s in self.restaurants),
            "pay_level_restaurant": sum(len(s.workers) * s.pay_level for s in open_rest)
            / max(weight, 1e-9),
            "hours_restaurant": sum(len(s.workers) * s.hours for s in open_rest)
            / max(weight, 1e-9),
            "salary_suspended_restaurants": float(sum(s.pay_level < 0.05 for s in open_rest)),
            "stress_restaurant": mean_rest,
            "stress_labour": mean_lab,
            "workers_abroad": float(staff_rest + staff_lab),
            "workers_restaurant": float(staff_rest),
            "workers_labour": float(staff_lab),
            "restaurants_open": float(len(open_rest)),
            "hires": float(hires),
            "rotations_home": float(self.rotations_today),
            "recalls": float(recalls),
            "restaurant_openings": float(len(openings)),
            "restaurant_closures": float(closures_rest),
            "closures_after_attempts": tally["closures_after_attempts"],
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
            "arrivals_south_korea": float(arrivals),
            "arrivals_from_postings": float(arrivals_postings),
            "border_crossings": flow["crossings"],
            "hidden_in_china": float(self.wider.hidden),
            "arrests_china": flow["arrests"] + flow["intercepted"] + tally["worker_arrests_china"],
            "arrests_hidden": flow["arrests"],
            "brokered_intercepted": flow["intercepted"],
            "repatriations_from_china": float(repatriated_china),
            "repatriations_other_hosts": float(self.repatriations_other.pop(t, 0)),
            "repatriated_severe_punishment": float(severe),
            "broker_departures": flow["departures"],
            "returns_home": flow["returns"],
            "missile_tests": strategic["missile_tests"],
            "nuclear_tests": strategic["nuclear_tests"],
            "provocations": strategic["missile_tests"] + strategic["nuclear_tests"],
            "un_resolutions": strategic["un_resolutions"],
            "envoys": strategic["envoys"],
            "relations_index": economy["relations_index"],
            "displeasure": economy["displeasure"],
            "economy_index": economy["economy_index"],
            "exit_strictness": cond.exit_strictness,
            "border_stringency": cond.stringency,
            "china_sanctions": cond.china_sanctions,
            "food_aid": cond.aid,
            "travel_advisory": cond.advisory,
            "un_workers_level": cond.un_workers,
            "trade_loss": economy["trade_loss"],
        }
        self.datacollector.collect(self)
        self.day = t + 1

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
                    tally["worker_arrests_china"] += size
                    self.schedule(self.repatriations_china, size, self.detention_delay)
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
    ledger = {
        "initial_in_post": model.initial_in_post,
        "hired": model.hired,
        "in_post": model.workers_in_post(),
    }
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
