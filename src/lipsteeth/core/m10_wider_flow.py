"""M10 the wider flow: North Koreans in China outside state postings.

An aggregate stock-and-flow model per replicate (people counted, not tracked):

  crossings  ~ Poisson(rate):  rate = crossing_rate * exp(beta_economy * squeeze
               - beta_aid * aid) * (1 - nk_border_effect * NK border control)
               * (1 - border closure)
  arrests    ~ Binomial(hidden, M7 arrest probability at today's stringency)
  departures ~ Binomial(rest, broker rate x broker access
               x (1 - broker_border_effect * NK border control) x (1 - closure))
  returns    ~ Binomial(rest, return rate)        (home, or settled legally)
  hidden     += crossings - arrests - departures - returns

Brokered parties are intercepted in China with probability transit_interception
x stringency (then repatriated, M7) or arrive in South Korea after a gamma
delay of mean ``transit_days``.  Stocks and flows balance every day.

The run starts in mid-stream: people who left or were arrested in the weeks
before day 0 are still in transit or in detention.  ``warm_start_pipelines``
books them, assuming day-0 conditions held before the start, so arrivals and
repatriations do not start from zero (without it the first two months
under-counted by about 170 arrivals and 400 repatriations in baseline-2016).
Ranges: hidden stock 10,000-300,000 and repatriations 4,800-8,900 a year
(05_china_detentions_repatriations.csv); arrivals from
01_defector_arrivals_south_korea.csv (calibration targets, not inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import m07_enforcement as m7
from .bounds import clip
from .m09_strategic import Conditions
from .params import Params
from .state import State


@dataclass(frozen=True)
class FlowRates:
    """Today's per-replicate rates and probabilities of the wider flow (R,)."""

    crossing_rate: np.ndarray  # expected crossings per day
    p_arrest: np.ndarray
    p_depart: float | np.ndarray
    p_return: float
    p_caught: np.ndarray


def flow_rates(state: State, params: Params, cond: Conditions) -> FlowRates:
    """Crossing rate and the daily arrest, departure, return and interception chances."""
    wf = params.wider_flow
    levers = cond.levers
    closure = levers.border_closure
    squeeze = np.maximum(0.0, 1.0 - state.economy)
    rate = (
        wf.crossing_rate_per_year
        / 365.0
        * np.exp(wf.beta_economy * squeeze - wf.beta_aid * cond.aid)
        * (1.0 - wf.nk_border_effect * levers.nk_border_control)
        * (1.0 - closure)
    )
    broker_rate = (
        wf.broker_rate_per_year
        * levers.broker_access
        * (1.0 - wf.broker_border_effect * levers.nk_border_control)
    )
    return FlowRates(
        crossing_rate=rate,
        p_arrest=m7.arrest_probability(cond.stringency, params),
        p_depart=(1.0 - np.exp(-broker_rate / 365.0)) * (1.0 - closure),
        p_return=1.0 - np.exp(-wf.return_rate_per_year / 365.0),
        p_caught=clip(wf.transit_interception * cond.stringency, 0.0, 1.0),
    )


def warm_start_pipelines(
    rngs: list[np.random.Generator],
    state: State,
    params: Params,
    cond: Conditions,
    transit_pmf: np.ndarray,
    detention_pmf: np.ndarray,
) -> None:
    """Book the people already in transit or detention on day 0 (M7, M10).

    With day-0 rates held before the start, departures (and arrests) on past
    day -j arrive (are handed over) on day k when their delay is j + k, so the
    number booked for day k is Poisson with mean (daily flow) x P(delay > k).
    """
    rates = flow_rates(state, params, cond)
    hidden = state.hidden.astype(float)
    stay = hidden * (1.0 - rates.p_arrest)
    departing = stay * rates.p_depart
    arriving = departing * (1.0 - rates.p_caught)
    detained = hidden * rates.p_arrest + departing * rates.p_caught
    # P(delay > k) for k = 0, 1, ...: the pmf's entry i is a delay of i + 1 days
    transit_left = np.cumsum(transit_pmf[::-1])[::-1]
    detention_left = np.cumsum(detention_pmf[::-1])[::-1]
    for r, g in enumerate(rngs):
        state.arrivals_wider[r, : transit_left.shape[0]] += g.poisson(arriving[r] * transit_left)
        state.repatriations_china[r, : detention_left.shape[0]] += g.poisson(
            detained[r] * detention_left
        )


def step_wider_flow(
    rngs: list[np.random.Generator],
    state: State,
    params: Params,
    cond: Conditions,
    transit_pmf: np.ndarray,
    detention_pmf: np.ndarray,
) -> dict[str, np.ndarray]:
    """Advance the hidden population one day; schedule arrivals and repatriations."""
    t = state.day
    R = state.n_replicates
    rates = flow_rates(state, params, cond)
    out = {k: np.zeros(R) for k in ("crossings", "arrests", "departures", "returns", "intercepted")}
    for r, g in enumerate(rngs):
        hidden = int(state.hidden[r])
        crossings = int(g.poisson(rates.crossing_rate[r]))
        arrests = int(g.binomial(hidden, rates.p_arrest[r]))
        rest = hidden - arrests
        departures = int(g.binomial(rest, rates.p_depart))
        returns = int(g.binomial(rest - departures, rates.p_return))
        intercepted = int(g.binomial(departures, rates.p_caught[r]))
        state.hidden[r] = hidden + crossings - arrests - departures - returns
        m7.schedule(g, state.repatriations_china[r], t, arrests + intercepted, detention_pmf)
        m7.schedule(g, state.arrivals_wider[r], t, departures - intercepted, transit_pmf)
        for key, value in (
            ("crossings", crossings),
            ("arrests", arrests),
            ("departures", departures),
            ("returns", returns),
            ("intercepted", intercepted),
        ):
            out[key][r] = value
    return out
