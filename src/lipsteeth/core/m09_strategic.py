"""M9 strategic layer: Pyongyang's provocations and Beijing's carrots and sticks.

Pyongyang.  Missile and nuclear tests arrive as Poisson processes whose
log-rate rises with the weapons programme's drive (a lever: a programme
pushed to completion tests more, 2014-2017), falls with Chinese pressure
(sanctions and snubs: "sends envoys, pauses tests", seed article), falls
with aid ("food aid allegedly in exchange for halting nuclear testing"), and
rises with economic squeeze (defiance when revenue dries up).  Under pressure
Pyongyang may send an envoy, which opens a conciliation episode: fewer
tests, a high-level meeting and aid from Beijing.

Beijing.  Displeasure accumulates with each test and decays.  Above a
threshold Beijing signals by relaxing exit checks on documented North Korean
workers ("exited the Chinese border in accordance with law", 2016) and adds
sanctions.  Its limits (seed article: no mass exodus, no regime starved into
desperation) are hard guards: when crossings exceed the exodus threshold
border stringency goes to its maximum; when the economy index falls under
the collapse threshold it eases its sanctions back to the lever's value and
gives aid.  With ``beijing_discretion`` = 0 Beijing's levers stay as set.

UN resolutions follow nuclear tests with a probability and a delay, each
raising every provision level by ``un_step``.  Seoul may issue a travel
advisory after a test (M2); an advisory, issued by M9 or set as a lever, keeps
South Korean customers away while in force and its effect fades with time
constant ``advisory_days`` once lifted.  Before ``Timeline.endogenous_from`` nuclear tests,
resolutions and advisories come only from the timeline.

All numbers are scenario parameters; their sources are in the scenario file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import events as ev
from .bounds import clip
from .params import Levers, Params
from .state import State
from .timeline import UN_PROVISIONS


@dataclass(frozen=True)
class Conditions:
    """Effective policy conditions of one day, per replicate (R,) or (R, 5)."""

    exit_strictness: np.ndarray
    stringency: np.ndarray
    china_sanctions: np.ndarray
    aid: np.ndarray
    signal: np.ndarray
    advisory: np.ndarray
    un: np.ndarray  # (R, 5) in UN_PROVISIONS order
    pressure: np.ndarray
    levers: Levers

    @property
    def un_workers(self) -> np.ndarray:
        """UN worker provisions as host states enforce them (provision x compliance)."""
        return self.un[:, 0] * self.levers.un_compliance


def beijing_policy(state: State, params: Params, levers: Levers) -> Conditions:
    """Beijing's effective levers today from its displeasure and its limits (M9, M7)."""
    sp = params.strategic
    R = state.n_replicates
    discretion = levers.beijing_discretion
    displeasure = state.displeasure
    lax = displeasure > sp.laxity_threshold
    exit_eff = levers.china_exit_strictness * (1.0 - discretion * sp.laxity_depth * lax)
    sanctions = clip(
        levers.china_sanctions + discretion * sp.sanctions_response * displeasure, 0.0, 1.0
    )
    conciliating = state.conciliation_left > 0
    aid = levers.food_aid + discretion * sp.aid_response * conciliating
    # limits: no collapse, no exodus
    sanctions = np.where(state.collapse_guard, min(levers.china_sanctions, 1.0), sanctions)
    aid = clip(aid + discretion * sp.aid_response * state.collapse_guard, 0.0, 1.0)
    stringency = np.where(state.exodus_guard, 1.0, levers.china_border_stringency)
    signal = clip(
        levers.diplomatic_signal + discretion * (conciliating.astype(float) - lax), -1.0, 1.0
    )
    lever_un = np.array([getattr(levers, name) for name in UN_PROVISIONS])
    un = np.maximum(state.un_levels, lever_un[None, :])
    advisory = np.maximum(state.advisory, levers.seoul_travel_advisory)
    pressure = sanctions + 0.5 * np.maximum(-signal, 0.0)
    return Conditions(
        exit_strictness=np.broadcast_to(exit_eff, (R,)).astype(float),
        stringency=np.broadcast_to(stringency, (R,)).astype(float),
        china_sanctions=sanctions,
        aid=aid,
        signal=signal,
        advisory=advisory,
        un=un,
        pressure=pressure,
        levers=levers,
    )


def provocation_rates(state: State, params: Params, cond: Conditions) -> tuple[np.ndarray, ...]:
    """Daily missile and nuclear test rates per replicate (M9)."""
    sp = params.strategic
    squeeze = np.maximum(0.0, 1.0 - state.economy)
    log_mult = (
        -sp.beta_pressure * cond.pressure
        - sp.beta_aid * cond.aid
        + sp.beta_squeeze * squeeze
        + sp.beta_drive * cond.levers.weapons_drive
    )
    mult = np.exp(log_mult) * np.where(
        state.conciliation_left > 0, 1.0 - sp.conciliation_effect, 1.0
    )
    return sp.missile_rate_per_year / 365.0 * mult, sp.nuclear_rate_per_year / 365.0 * mult


def step_strategic(
    rngs: list[np.random.Generator],
    state: State,
    params: Params,
    cond: Conditions,
    forced_nuclear: int,
    forced_missile: int,
    forced_resolution: np.ndarray,
    endogenous: bool,
    log: ev.EventLog,
) -> dict[str, np.ndarray]:
    """Draw today's tests, envoys, resolutions and advisories; update M9 state in place.

    Returns today's counts: missile_tests, nuclear_tests, un_resolutions, envoys.
    """
    sp = params.strategic
    t = state.day
    R = state.n_replicates
    missile_rate, nuclear_rate = provocation_rates(state, params, cond)
    missiles = np.zeros(R, dtype=np.int64)
    nuclear = np.zeros(R, dtype=np.int64)
    envoys = np.zeros(R, dtype=np.int64)
    resolutions = np.zeros(R, dtype=np.int64)
    envoy_p = 1.0 - np.exp(-sp.envoy_rate_per_year / 365.0 * clip(cond.pressure, 0.0, 1.0))
    for r, g in enumerate(rngs):
        missiles[r] = g.poisson(missile_rate[r]) + forced_missile
        u = g.random(5)
        nuclear[r] = forced_nuclear + (1 if endogenous and u[0] < nuclear_rate[r] else 0)
        if state.conciliation_left[r] <= 0 and u[1] < envoy_p[r]:
            envoys[r] = 1
            state.conciliation_left[r] = sp.conciliation_days
            log.add(r, t, ev.ENVOY, value=float(cond.pressure[r]))
        if nuclear[r] > 0:
            log.add(
                r,
                t,
                ev.NUCLEAR_TEST,
                size=int(nuclear[r]),
                outcome="forced" if forced_nuclear else "endogenous",
            )
            if endogenous and state.resolution_day[r] < 0 and u[2] < sp.un_resolution_prob:
                delay = 1 + int(g.exponential(max(sp.un_delay_days, 1e-9)))
                state.resolution_day[r] = t + delay
            if endogenous and u[3] < sp.advisory_prob:
                state.advisory[r] = 1.0
                log.add(r, t, ev.ADVISORY, value=1.0)
        if missiles[r] > 0:
            log.add(
                r,
                t,
                ev.MISSILE_TEST,
                size=int(missiles[r]),
                outcome="forced" if forced_missile else "endogenous",
            )
        if state.resolution_day[r] == t:
            state.un_levels[r] = np.minimum(state.un_levels[r] + sp.un_step, 1.0)
            state.resolution_day[r] = -1
            resolutions[r] += 1
            log.add(
                r, t, ev.UN_RESOLUTION, outcome="endogenous", value=float(state.un_levels[r].mean())
            )
        if not np.all(np.isnan(forced_resolution)):
            floors = np.nan_to_num(forced_resolution, nan=0.0)
            state.un_levels[r] = np.maximum(state.un_levels[r], floors)
            resolutions[r] += 1
            log.add(
                r, t, ev.UN_RESOLUTION, outcome="forced", value=float(state.un_levels[r].mean())
            )

    decay = np.exp(-1.0 / sp.displeasure_days)
    state.displeasure = (
        state.displeasure * decay
        + sp.displeasure_nuclear * nuclear
        + sp.displeasure_missile * missiles
    )
    state.conciliation_left = np.maximum(state.conciliation_left - 1, 0)
    # an advisory in force (lever) holds the boycott up; once lifted it fades (M2)
    state.advisory = np.maximum(
        state.advisory * np.exp(-1.0 / sp.advisory_days), cond.levers.seoul_travel_advisory
    )
    return {
        "missile_tests": missiles.astype(float),
        "nuclear_tests": nuclear.astype(float),
        "un_resolutions": resolutions.astype(float),
        "envoys": envoys.astype(float),
    }


def update_economy_and_guards(
    state: State,
    params: Params,
    cond: Conditions,
    remittance_today: np.ndarray,
    crossings_today: np.ndarray,
    log: ev.EventLog,
) -> dict[str, np.ndarray]:
    """Economy index, Beijing's guards and relations index after the day's flows (M9).

    Economy index: 1 at the start; moves with overseas remittances relative to
    the first day and with trade lost to sanctions; aid props it up.
    """
    sp = params.strategic
    t = state.day
    alpha = 1.0 / 90.0
    if np.isnan(state.remit_ema).any():
        state.remit_ema = remittance_today.astype(float).copy()
        state.remit_ref = np.maximum(remittance_today.astype(float), 1e-9)
        state.crossing_ema = crossings_today.astype(float) * 365.0
    else:
        state.remit_ema = state.remit_ema + alpha * (remittance_today - state.remit_ema)
        state.crossing_ema = state.crossing_ema + alpha * (
            crossings_today * 365.0 - state.crossing_ema
        )
    un = cond.un
    trade_loss = clip(
        un[:, 1] * sp.trade_loss_coal
        + un[:, 4] * sp.trade_loss_textiles
        + un[:, 3] * sp.trade_loss_seafood
        + cond.china_sanctions * sp.trade_loss_china_sanctions,
        0.0,
        1.0,
    )
    overseas = state.remit_ema / state.remit_ref - 1.0
    state.economy = (
        1.0
        + sp.economy_weight_overseas * overseas
        - sp.economy_weight_trade * trade_loss
        + 0.05 * cond.aid
    )

    discretion = cond.levers.beijing_discretion > 0
    lax = state.displeasure > sp.laxity_threshold
    collapse = (state.economy < sp.collapse_threshold) & discretion
    exodus = (state.crossing_ema > sp.exodus_threshold_per_year) & discretion
    for name, new, old in (
        ("exit_laxity", lax & discretion, state.laxity_on),
        ("collapse_guard", collapse, state.collapse_guard),
        ("exodus_guard", exodus, state.exodus_guard),
    ):
        for r in np.flatnonzero(new != old):
            log.add(int(r), t, ev.POLICY_CHANGE, outcome=name, value=float(new[r]))
    state.laxity_on = lax & discretion
    state.collapse_guard = collapse
    state.exodus_guard = exodus
    relations = np.tanh(
        cond.aid
        + np.maximum(cond.signal, 0.0)
        - cond.china_sanctions
        - state.displeasure / max(sp.laxity_threshold, 1e-9)
        + 0.5
    )
    return {
        "economy_index": state.economy.copy(),
        "relations_index": relations,
        "displeasure": state.displeasure.copy(),
        "trade_loss": trade_loss,
    }
