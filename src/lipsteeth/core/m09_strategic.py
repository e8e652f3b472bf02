"""M9 strategic layer: Pyongyang's agenda, Beijing's carrots and sticks, UN measures as choices.

Pyongyang.  Missile and nuclear tests arrive as Poisson processes:

  rate = base rate x exp(-beta_pressure pressure - beta_aid aid_effect
                         + beta_squeeze max(0, 1 - economy) + beta_drive drive
                         + beta_defiance [defiant])
         x (1 - conciliation_effect [in talks]) x (1 - pause_effect [pausing])
         x (1 - fuel_capacity_effect oil_cut)            (missiles only: fuel limits launches)
  pressure   = Chinese sanctions + snub_pressure_weight x max(-signal, 0)
  aid_effect = aid in talks, aid_untied_effect x aid outside them (carrots work when tied
               to talks: "food aid allegedly in exchange for halting nuclear testing",
               Corrado and Moore 2016)

The programme has milestones: every missile test adds 1 and every nuclear test
``nuclear_progress`` to its progress; each ``milestone_size`` of progress is a
stage completed, after which Pyongyang pauses for ``milestone_pause_days`` (the
2018 moratorium followed the November 2017 declaration of a completed nuclear
force).  ``weapons_drive`` is an analyst's override of the drive (default 0).
Bargaining: Pyongyang enters talks when it sends an envoy (rate
``envoy_rate_per_year`` x pressure) or when it takes up Beijing's carrots (a
high-level meeting or food aid: ``talks_offer_prob`` a day); talks last
``conciliation_days`` but break down early at rate ``talks_breakdown_per_year`` x
(1 + pressure).  A breakdown, a new UN resolution, or a rise in Chinese sanctions
of ``sanctions_rise_defiance`` above their recent average starts a defiance episode
of ``defiance_days``: pressure can provoke as well as deter (after China's 2013
warning, Pyongyang "test fired three missiles").

Beijing.  Displeasure accumulates with each test and a talks breakdown, decays
(``displeasure_days``) and falls by ``displeasure_envoy_relief`` with each envoy
(Beijing reacts to diplomacy as well as to tests).  Above ``laxity_threshold``
Beijing signals by relaxing exit checks on documented North Korean workers by
``laxity_depth`` ("exited the Chinese border in accordance with law", 2016) and
adds sanctions (``sanctions_response`` per unit of displeasure).  Its limits (no
mass exodus, no regime starved into desperation) are hard guards: when the
smoothed crossing rate exceeds ``exodus_threshold_per_year`` border stringency
goes to its maximum (and crossings are cut, M10); when the economy index falls
under ``collapse_threshold`` it eases its sanctions back to the lever's value and
gives aid.  With ``beijing_discretion`` = 0 Beijing's levers stay as set.

UN measures are obligations whose enforcement each host chooses.  UN resolutions
follow nuclear tests with a probability and a delay, each raising every provision
level by ``un_step``; dated resolutions set floors.  Host h enforces them at e_h,
which moves toward

  target_h = clip(enforcement_base_h + enforcement_pressure_weight x international pressure
                  + [China] enforcement_displeasure_weight x min(displeasure / laxity_threshold, 1)
                  - enforcement_relations_weight x max(relations, 0), 0, 1)

with time constant ``enforcement_adjust_days``; while Beijing's no-collapse or
no-exodus limit binds, China's target is at most ``enforcement_floor_guarded``
(Beijing "has not, and will not use tools such as sanctions ... to accomplish the
international community's goals"; its sticks hurt, not cripple).  The lever
``host_discretion`` blends that choice with full enforcement: in force is
1 - host_discretion x (1 - e_h), so at 0 every host enforces in full.  China's enforcement applies
to the trade provisions (coal, textiles, seafood, oil); each host's to the worker
provisions on its territory (M1).  The oil cut, UN oil provisions x e_China plus
``oil_from_china_sanctions`` x Chinese sanctions (the 2003 three-day cut-off),
lowers the economy index and missile launches.  Seoul may issue a travel advisory
after a test (M2); its effect fades with ``advisory_days`` once lifted.  Before
``Timeline.endogenous_from`` nuclear tests, resolutions and advisories come only
from the timeline.

The economy index is 1 at the start and moves with overseas remittances relative
to the first day (smoothed over ``economy_smoothing_days``), with trade lost to
sanctions and the oil cut; aid props it up by ``aid_economy_effect``.  It never falls
below 0: an activity index cannot be less than no activity, so the squeeze
max(0, 1 - economy) stays in [0, 1].  (Issue 17: a shut site's seized debt, a
negative remittance, over a first-day revenue of nearly 0 gave an index of -1.8e12 and
crossings of e^(1e12) a day, M10.)
All numbers are scenario parameters; their sources are in the scenario file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba.typed import List

from .bounds import clip, poisson
from .events import Kind, Outcome, log_event
from .jit import compiled
from .records import record_dtype, slot
from .state import CHINA, OTHER, RUSSIA


@dataclass(frozen=True)
class Policy:
    """Beijing's effective levers and the pressure on Pyongyang today (one record)."""

    exit_strictness: float = slot(np.float64, "effective Chinese exit strictness (M7)")
    border_stringency: float = slot(np.float64, "effective Chinese border stringency (M7)")
    china_sanctions: float = slot(np.float64, "effective Chinese sanctions (M9)")
    food_aid: float = slot(np.float64, "effective Chinese food aid (M9)")
    signal: float = slot(np.float64, "effective diplomatic signal, -1 snub .. 1 meeting (M9)")
    travel_advisory: float = slot(np.float64, "effective Seoul travel advisory (M2)")
    pressure: float = slot(np.float64, "Chinese pressure on Pyongyang (M9)")
    un_workers_provision: float = slot(np.float64, "UN provision level on workers")
    un_coal: float = slot(np.float64, "UN provision level on coal and minerals")
    un_oil: float = slot(np.float64, "UN provision level on oil and fuel")
    un_seafood: float = slot(np.float64, "UN provision level on seafood")
    un_textiles: float = slot(np.float64, "UN provision level on textiles")
    un_workers: float = slot(np.float64, "UN worker provisions in force, labour-weighted")
    un_workers_mean: float = slot(np.float64, "UN worker provisions in force, mean of hosts")
    oil_cut: float = slot(np.float64, "share of oil supply cut (UN and China)")


POLICY_DTYPE = record_dtype(Policy)


@compiled
def initial_strategic_state(net: Any) -> None:
    """Day 0: economy index 1, no smoothed revenue or crossings yet, no pending resolution."""
    net.economy = 1.0
    net.remit_ema = net.remit_ref = net.crossing_ema = np.nan
    net.resolution_day = -1


@compiled
def initial_sanctions_memory(net: Any, policy: Any) -> None:
    """Day 0: the sanctions in force are the recent average (no rise to be defiant about)."""
    net.sanctions_ema = policy.china_sanctions


@compiled
def beijing_policy(policy: Any, net: Any, lever: Any, un_levels: np.ndarray, sp: Any) -> None:
    """Beijing's effective levers today from its displeasure and its limits (into ``policy``)."""
    discretion = lever.beijing_discretion
    lax = 1.0 if net.displeasure > sp.laxity_threshold else 0.0
    policy.exit_strictness = lever.china_exit_strictness * (
        1.0 - discretion * sp.laxity_depth * lax
    )
    sanctions = clip(
        lever.china_sanctions + discretion * sp.sanctions_response * net.displeasure, 0.0, 1.0
    )
    talking = 1.0 if net.talks_left > 0 else 0.0
    aid = lever.food_aid + discretion * sp.aid_response * talking
    # limits: no collapse, no exodus
    if net.collapse_guard:
        sanctions = min(lever.china_sanctions, 1.0)
    guard = 1.0 if net.collapse_guard else 0.0
    policy.food_aid = clip(aid + discretion * sp.aid_response * guard, 0.0, 1.0)
    policy.china_sanctions = sanctions
    policy.border_stringency = 1.0 if net.exodus_guard else lever.china_border_stringency
    policy.signal = clip(lever.diplomatic_signal + discretion * (talking - lax), -1.0, 1.0)
    policy.un_workers_provision = max(un_levels[0], lever.un_workers)
    policy.un_coal = max(un_levels[1], lever.un_coal)
    policy.un_oil = max(un_levels[2], lever.un_oil)
    policy.un_seafood = max(un_levels[3], lever.un_seafood)
    policy.un_textiles = max(un_levels[4], lever.un_textiles)
    policy.travel_advisory = max(net.advisory, lever.seoul_travel_advisory)
    policy.pressure = sanctions + sp.snub_pressure_weight * max(-policy.signal, 0.0)


@compiled
def host_enforcement(
    hosts: np.ndarray,
    net: Any,
    lever: Any,
    policy: Any,
    p: Any,
    host_labour_posts: np.ndarray,
    first: bool,
) -> None:
    """Each host's enforcement of the UN measures, the provisions acting on its labourers,
    relabelling (M1 evasion) and the oil cut; capacities of evasion grow after each ban.

    On the first day (``first``) each host starts at its target, and a ban already in
    force then is the run's starting point: only a later raise of the worker provision
    (a resolution or a lever event) adds evasion capacity.
    """
    sp, lp, rp = p.strategic, p.labour, p.restaurants
    if first:
        net.last_un_workers = policy.un_workers_provision
    elif policy.un_workers_provision > net.last_un_workers:  # a new ban teaches new covers
        net.last_un_workers = policy.un_workers_provision
        net.relabel_capacity_extra = min(net.relabel_capacity_extra + lp.relabel_capacity_step, 1.0)
        net.nominee_capacity = min(net.nominee_capacity + rp.nominee_capacity_step, 1.0)
    displeasure_share = min(net.displeasure / max(sp.laxity_threshold, 1e-9), 1.0)
    relabel_cap = min(lp.relabel_capacity + net.relabel_capacity_extra, 1.0)
    banned = 1.0 if policy.un_workers_provision > 0 else 0.0
    weighted = weights = mean = 0.0
    for h in range(hosts.shape[0]):
        host = hosts[h]
        base = sp.enforcement_base_china
        if h == RUSSIA:
            base = sp.enforcement_base_russia
        elif h != CHINA:
            base = sp.enforcement_base_other
        target = (
            base
            + sp.enforcement_pressure_weight * lever.international_pressure
            - sp.enforcement_relations_weight * max(net.relations, 0.0)
        )
        if h == CHINA:
            target += sp.enforcement_displeasure_weight * displeasure_share
            if net.collapse_guard or net.exodus_guard:  # sticks that hurt, not cripple
                target = min(target, sp.enforcement_floor_guarded)
        target = clip(target, 0.0, 1.0)
        if first:
            host.chosen_enforcement = target
        else:
            host.chosen_enforcement += (
                target - host.chosen_enforcement
            ) / sp.enforcement_adjust_days
        # host_discretion blends the hosts' choice (1) with full enforcement (0)
        host.enforcement = 1.0 - lever.host_discretion * (1.0 - host.chosen_enforcement)
        host.workers_provision = (
            policy.un_workers_provision * host.enforcement * (1.0 - host.relabel)
        )
        if not first:  # day 0 is the initial state: relabelling starts to move on day 1
            host.relabel += (
                lp.relabel_growth_per_year / 365.0 * banned * (relabel_cap - host.relabel)
                - lp.relabel_detection_per_year / 365.0 * host.enforcement * host.relabel
            )
            host.relabel = clip(host.relabel, 0.0, 1.0)
        weighted += host_labour_posts[h] * host.workers_provision
        weights += host_labour_posts[h]
        mean += policy.un_workers_provision * host.enforcement / hosts.shape[0]
    policy.un_workers = weighted / weights if weights > 0 else 0.0
    policy.un_workers_mean = mean
    china = hosts[CHINA].enforcement
    policy.oil_cut = clip(
        policy.un_oil * china + sp.oil_from_china_sanctions * policy.china_sanctions, 0.0, 1.0
    )


@compiled(inline="always")
def squeeze(net: Any) -> float:
    """How far the economy index is below its starting level (0 if above)."""
    return max(0.0, 1.0 - net.economy)


@compiled(inline="always")
def provocation_rates(net: Any, lever: Any, policy: Any, sp: Any) -> tuple[float, float]:
    """Today's daily missile-test and nuclear-test rates (the rate equation above)."""
    talking = net.talks_left > 0
    aid_effect = policy.food_aid * (1.0 if talking else sp.aid_untied_effect)
    log_mult = (
        -sp.beta_pressure * policy.pressure
        - sp.beta_aid * aid_effect
        + sp.beta_squeeze * squeeze(net)
        + sp.beta_drive * lever.weapons_drive
        + (sp.beta_defiance if net.defiance_left > 0 else 0.0)
    )
    mult = np.exp(log_mult) * ((1.0 - sp.conciliation_effect) if talking else 1.0)
    if net.milestone_pause_left > 0:
        mult *= 1.0 - sp.pause_effect
    missile = (
        sp.missile_rate_per_year / 365.0 * mult * (1.0 - sp.fuel_capacity_effect * policy.oil_cut)
    )
    return missile, sp.nuclear_rate_per_year / 365.0 * mult


@compiled(inline="always")
def start_defiance(t: int, net: Any, sp: Any, log: List) -> None:
    """Pyongyang answers pressure with a defiance episode."""
    if net.defiance_left <= 0:
        log_event(log, t, Kind.POLICY_CHANGE, outcome=Outcome.DEFIANCE, value=1.0)
    net.defiance_left = sp.defiance_days


@compiled
def strategic_events(  # noqa: C901 - the strategic events of one day, in their draw order
    g: Any,
    t: int,
    endogenous: bool,
    net: Any,
    lever: Any,
    policy: Any,
    un_levels: np.ndarray,
    sp: Any,
    forced_nuclear: int,
    forced_missile: int,
    forced_resolution: np.ndarray,
    log: List,
    out: Any,
) -> None:
    """Today's tests, envoys, talks, UN resolutions and advisories; Beijing's displeasure."""
    missile_rate, nuclear_rate = provocation_rates(net, lever, policy, sp)
    missiles = poisson(g, missile_rate) + forced_missile
    # uniforms are drawn only where they decide something
    nuclear = forced_nuclear + (1 if endogenous and g.random() < nuclear_rate else 0)
    envoys = 0
    resolutions = 0
    relief = 1.0
    if net.talks_left <= 0:
        p_envoy = 1.0 - np.exp(-sp.envoy_rate_per_year / 365.0 * clip(policy.pressure, 0.0, 1.0))
        carrot = policy.signal > 0 or policy.food_aid > 0.5
        if g.random() < p_envoy:
            envoys = 1
            net.talks_left = sp.conciliation_days
            relief = 1.0 - sp.displeasure_envoy_relief
            log_event(log, t, Kind.ENVOY, value=policy.pressure)
        elif carrot and g.random() < sp.talks_offer_prob:
            net.talks_left = sp.conciliation_days
            log_event(log, t, Kind.POLICY_CHANGE, outcome=Outcome.TALKS, value=1.0)
    elif g.random() < 1.0 - np.exp(-sp.talks_breakdown_per_year / 365.0 * (1.0 + policy.pressure)):
        net.talks_left = 0.0
        net.displeasure += sp.displeasure_breakdown
        log_event(log, t, Kind.POLICY_CHANGE, outcome=Outcome.TALKS_BREAKDOWN, value=0.0)
        start_defiance(t, net, sp, log)
    if nuclear > 0:
        origin = Outcome.FORCED if forced_nuclear else Outcome.ENDOGENOUS
        log_event(log, t, Kind.NUCLEAR_TEST, size=nuclear, outcome=origin)
        if endogenous and net.resolution_day < 0 and g.random() < sp.un_resolution_prob:
            net.resolution_day = t + 1 + int(g.exponential(max(sp.un_delay_days, 1e-9)))
        if endogenous and g.random() < sp.advisory_prob:
            net.advisory = 1.0
            log_event(log, t, Kind.TRAVEL_ADVISORY, value=1.0)
    if missiles > 0:
        origin = Outcome.FORCED if forced_missile else Outcome.ENDOGENOUS
        log_event(log, t, Kind.MISSILE_TEST, size=missiles, outcome=origin)
    if net.resolution_day == t:
        for k in range(5):
            un_levels[k] = min(un_levels[k] + sp.un_step, 1.0)
        net.resolution_day = -1
        resolutions += 1
        log_event(log, t, Kind.UN_RESOLUTION, outcome=Outcome.ENDOGENOUS, value=un_levels.mean())
    if not np.all(np.isnan(forced_resolution)):
        for k in range(5):
            floor = forced_resolution[k]
            un_levels[k] = max(un_levels[k], floor if not np.isnan(floor) else 0.0)
        resolutions += 1
        log_event(log, t, Kind.UN_RESOLUTION, outcome=Outcome.FORCED, value=un_levels.mean())
    if resolutions > 0 or policy.china_sanctions > net.sanctions_ema + sp.sanctions_rise_defiance:
        start_defiance(t, net, sp, log)
    net.sanctions_ema += (policy.china_sanctions - net.sanctions_ema) / sp.sanctions_memory_days
    # the programme: progress by tests, a pause after each milestone
    before = np.floor(net.programme_progress / sp.milestone_size)
    net.programme_progress += missiles + sp.nuclear_progress * nuclear
    milestones = np.floor(net.programme_progress / sp.milestone_size) - before
    if milestones > 0:
        net.milestone_pause_left = sp.milestone_pause_days
        log_event(
            log, t, Kind.POLICY_CHANGE, outcome=Outcome.MILESTONE, value=net.programme_progress
        )
    net.displeasure = (
        net.displeasure * relief * np.exp(-1.0 / sp.displeasure_days)
        + sp.displeasure_nuclear * nuclear
        + sp.displeasure_missile * missiles
    )
    out.talks = 1.0 if net.talks_left > 0 else 0.0
    out.defiance = 1.0 if net.defiance_left > 0 else 0.0
    net.talks_left = max(net.talks_left - 1, 0.0)
    net.defiance_left = max(net.defiance_left - 1, 0.0)
    net.milestone_pause_left = max(net.milestone_pause_left - 1, 0.0)
    net.advisory = max(net.advisory * np.exp(-1.0 / sp.advisory_days), lever.seoul_travel_advisory)
    out.missile_tests = missiles
    out.nuclear_tests = nuclear
    out.provocations = missiles + nuclear
    out.un_resolutions = resolutions
    out.envoys = envoys
    out.milestones = milestones
    out.programme_progress = net.programme_progress


@compiled
def economy_and_guards(
    t: int,
    net: Any,
    lever: Any,
    policy: Any,
    hosts: np.ndarray,
    sp: Any,
    revenue: float,
    crossings: float,
    log: List,
    out: Any,
) -> None:
    """Economy index, Beijing's guards and the relations index after the day's flows."""
    if np.isnan(net.remit_ema):
        net.remit_ema = revenue
        net.remit_ref = max(revenue, 1e-9)
        net.crossing_ema = crossings * 365.0
    else:
        net.remit_ema += (revenue - net.remit_ema) / sp.economy_smoothing_days
        net.crossing_ema += (crossings * 365.0 - net.crossing_ema) / sp.economy_smoothing_days
    china = hosts[CHINA].enforcement
    trade_loss = clip(
        policy.un_coal * china * sp.trade_loss_coal
        + policy.un_textiles * china * sp.trade_loss_textiles
        + policy.un_seafood * china * sp.trade_loss_seafood
        + policy.china_sanctions * sp.trade_loss_china_sanctions,
        0.0,
        1.0,
    )
    net.economy = max(
        1.0
        + sp.economy_weight_overseas * (net.remit_ema / net.remit_ref - 1.0)
        - sp.economy_weight_trade * trade_loss
        - sp.economy_weight_oil * policy.oil_cut
        + sp.aid_economy_effect * policy.food_aid,
        0.0,
    )
    discretion_on = lever.beijing_discretion > 0
    laxity = net.displeasure > sp.laxity_threshold and discretion_on
    collapse = net.economy < sp.collapse_threshold and discretion_on
    exodus = net.crossing_ema > sp.exodus_threshold_per_year and discretion_on
    for guard, now, before in (
        (Outcome.EXIT_LAXITY, laxity, net.laxity_on),
        (Outcome.COLLAPSE_GUARD, collapse, net.collapse_guard),
        (Outcome.EXODUS_GUARD, exodus, net.exodus_guard),
    ):
        if now != before:
            log_event(log, t, Kind.POLICY_CHANGE, outcome=guard, value=1.0 if now else 0.0)
    net.laxity_on, net.collapse_guard, net.exodus_guard = laxity, collapse, exodus
    net.relations = np.tanh(
        policy.food_aid
        + max(policy.signal, 0.0)
        - policy.china_sanctions
        - net.displeasure / max(sp.laxity_threshold, 1e-9)
        + sp.relations_baseline
    )
    out.relations_index = net.relations
    out.trade_loss = trade_loss
    out.economy_index = net.economy
    out.displeasure = net.displeasure
    out.oil_cut = policy.oil_cut
    out.un_enforcement_china = hosts[CHINA].enforcement
    out.un_enforcement_russia = hosts[RUSSIA].enforcement
    out.un_enforcement_other = hosts[OTHER].enforcement
