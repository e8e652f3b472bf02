"""M9 strategic layer: Pyongyang's provocations and Beijing's carrots and sticks.

Pyongyang.  Missile and nuclear tests arrive as Poisson processes whose
log-rate rises with the weapons programme's drive (a lever: a programme
pushed to completion tests more, 2014-2017), falls with Chinese pressure
(sanctions and snubs: "sends envoys, pauses tests", Corrado and Moore 2016),
falls with aid ("food aid allegedly in exchange for halting nuclear
testing"), and rises with economic squeeze (defiance when revenue dries up):

  rate = base rate x exp(-beta_pressure pressure - beta_aid aid
                         + beta_squeeze max(0, 1 - economy) + beta_drive drive)
         x (1 - conciliation_effect while conciliating)
  pressure = Chinese sanctions + snub_pressure_weight x max(-signal, 0)

Under pressure Pyongyang may send an envoy (rate ``envoy_rate_per_year`` x
pressure), which opens a conciliation episode of ``conciliation_days``:
fewer tests, a high-level meeting and aid from Beijing.

Beijing.  Displeasure accumulates with each test and decays (time constant
``displeasure_days``).  Above ``laxity_threshold`` Beijing signals by relaxing
exit checks on documented North Korean workers by ``laxity_depth`` ("exited
the Chinese border in accordance with law", 2016) and adds sanctions
(``sanctions_response`` per unit of displeasure).  Its limits (no mass
exodus, no regime starved into desperation) are hard guards: when the
smoothed crossing rate exceeds ``exodus_threshold_per_year`` border
stringency goes to its maximum; when the economy index falls under
``collapse_threshold`` it eases its sanctions back to the lever's value and
gives aid.  With ``beijing_discretion`` = 0 Beijing's levers stay as set.

UN resolutions follow nuclear tests with a probability and a delay, each
raising every provision level by ``un_step``; dated resolutions set floors.
Host states enforce the worker provisions at ``un_compliance``.  Seoul may
issue a travel advisory after a test (M2); an advisory, issued by M9 or set
as a lever, keeps South Korean customers away while in force and its effect
fades with time constant ``advisory_days`` once lifted.  Before
``Timeline.endogenous_from`` nuclear tests, resolutions and advisories come
only from the timeline.

The economy index is 1 at the start and moves with overseas remittances
relative to the first day (smoothed over ``economy_smoothing_days``) and with
trade lost to sanctions; aid props it up by ``aid_economy_effect``.
All numbers are scenario parameters; their sources are in the scenario file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba.typed import List

from .bounds import clip
from .events import Kind, Outcome, log_event
from .jit import compiled
from .records import record_dtype, slot


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
    un_workers: float = slot(np.float64, "UN worker provisions as host states enforce them")


POLICY_DTYPE = record_dtype(Policy)


@compiled
def initial_strategic_state(net: Any) -> None:
    """Day 0: economy index 1, no smoothed revenue or crossings yet, no pending resolution."""
    net.economy = 1.0
    net.remit_ema = net.remit_ref = net.crossing_ema = np.nan
    net.resolution_day = -1


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
    conciliating = 1.0 if net.conciliation_left > 0 else 0.0
    aid = lever.food_aid + discretion * sp.aid_response * conciliating
    # limits: no collapse, no exodus
    if net.collapse_guard:
        sanctions = min(lever.china_sanctions, 1.0)
    guard = 1.0 if net.collapse_guard else 0.0
    policy.food_aid = clip(aid + discretion * sp.aid_response * guard, 0.0, 1.0)
    policy.china_sanctions = sanctions
    policy.border_stringency = 1.0 if net.exodus_guard else lever.china_border_stringency
    policy.signal = clip(lever.diplomatic_signal + discretion * (conciliating - lax), -1.0, 1.0)
    policy.un_workers_provision = max(un_levels[0], lever.un_workers)
    policy.un_coal = max(un_levels[1], lever.un_coal)
    policy.un_oil = max(un_levels[2], lever.un_oil)
    policy.un_seafood = max(un_levels[3], lever.un_seafood)
    policy.un_textiles = max(un_levels[4], lever.un_textiles)
    policy.travel_advisory = max(net.advisory, lever.seoul_travel_advisory)
    policy.pressure = sanctions + sp.snub_pressure_weight * max(-policy.signal, 0.0)
    policy.un_workers = policy.un_workers_provision * lever.un_compliance


@compiled(inline="always")
def squeeze(net: Any) -> float:
    """How far the economy index is below its starting level (0 if above)."""
    return max(0.0, 1.0 - net.economy)


@compiled(inline="always")
def provocation_rates(net: Any, lever: Any, policy: Any, sp: Any) -> tuple[float, float]:
    """Today's daily missile-test and nuclear-test rates (the rate equation above)."""
    log_mult = (
        -sp.beta_pressure * policy.pressure
        - sp.beta_aid * policy.food_aid
        + sp.beta_squeeze * squeeze(net)
        + sp.beta_drive * lever.weapons_drive
    )
    mult = np.exp(log_mult) * ((1.0 - sp.conciliation_effect) if net.conciliation_left > 0 else 1.0)
    return sp.missile_rate_per_year / 365.0 * mult, sp.nuclear_rate_per_year / 365.0 * mult


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
    """Today's tests, envoys, UN resolutions and advisories; Beijing's displeasure after them."""
    missile_rate, nuclear_rate = provocation_rates(net, lever, policy, sp)
    missiles = (g.poisson(missile_rate) if missile_rate > 0 else 0) + forced_missile
    # uniforms are drawn only where they decide something
    nuclear = forced_nuclear + (1 if endogenous and g.random() < nuclear_rate else 0)
    envoys = 0
    resolutions = 0
    p_envoy = 1.0 - np.exp(-sp.envoy_rate_per_year / 365.0 * clip(policy.pressure, 0.0, 1.0))
    if net.conciliation_left <= 0 and g.random() < p_envoy:
        envoys = 1
        net.conciliation_left = sp.conciliation_days
        log_event(log, t, Kind.ENVOY, value=policy.pressure)
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
    net.displeasure = (
        net.displeasure * np.exp(-1.0 / sp.displeasure_days)
        + sp.displeasure_nuclear * nuclear
        + sp.displeasure_missile * missiles
    )
    net.conciliation_left = max(net.conciliation_left - 1, 0.0)
    net.advisory = max(net.advisory * np.exp(-1.0 / sp.advisory_days), lever.seoul_travel_advisory)
    out.missile_tests = missiles
    out.nuclear_tests = nuclear
    out.provocations = missiles + nuclear
    out.un_resolutions = resolutions
    out.envoys = envoys


@compiled
def economy_and_guards(
    t: int,
    net: Any,
    lever: Any,
    policy: Any,
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
    trade_loss = clip(
        policy.un_coal * sp.trade_loss_coal
        + policy.un_textiles * sp.trade_loss_textiles
        + policy.un_seafood * sp.trade_loss_seafood
        + policy.china_sanctions * sp.trade_loss_china_sanctions,
        0.0,
        1.0,
    )
    net.economy = (
        1.0
        + sp.economy_weight_overseas * (net.remit_ema / net.remit_ref - 1.0)
        - sp.economy_weight_trade * trade_loss
        + sp.aid_economy_effect * policy.food_aid
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
    out.relations_index = np.tanh(
        policy.food_aid
        + max(policy.signal, 0.0)
        - policy.china_sanctions
        - net.displeasure / max(sp.laxity_threshold, 1e-9)
        + sp.relations_baseline
    )
    out.trade_loss = trade_loss
    out.economy_index = net.economy
    out.displeasure = net.displeasure
