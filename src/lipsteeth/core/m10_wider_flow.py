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
Ranges: hidden stock 10,000-300,000 and repatriations 4,800-8,900 a year
(05_china_detentions_repatriations.csv); arrivals from
01_defector_arrivals_south_korea.csv (calibration targets, not inputs).
"""

from __future__ import annotations

import numpy as np

from . import m07_enforcement as m7
from .m09_strategic import Conditions
from .params import Params
from .state import State


def step_wider_flow(
    rngs: list[np.random.Generator],
    state: State,
    params: Params,
    cond: Conditions,
    transit_pmf: np.ndarray,
    detention_pmf: np.ndarray,
) -> dict[str, np.ndarray]:
    """Advance the hidden population one day; schedule arrivals and repatriations."""
    wf = params.wider_flow
    t = state.day
    R = state.n_replicates
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
    p_arrest = m7.arrest_probability(cond.stringency, params)
    broker_rate = (
        wf.broker_rate_per_year
        * levers.broker_access
        * (1.0 - wf.broker_border_effect * levers.nk_border_control)
    )
    p_depart = (1.0 - np.exp(-broker_rate / 365.0)) * (1.0 - closure)
    p_return = 1.0 - np.exp(-wf.return_rate_per_year / 365.0)
    p_caught = np.clip(wf.transit_interception * cond.stringency, 0.0, 1.0)
    out = {k: np.zeros(R) for k in ("crossings", "arrests", "departures", "returns", "intercepted")}
    for r, g in enumerate(rngs):
        hidden = int(state.hidden[r])
        crossings = int(g.poisson(rate[r]))
        arrests = int(g.binomial(hidden, p_arrest[r]))
        rest = hidden - arrests
        departures = int(g.binomial(rest, p_depart))
        returns = int(g.binomial(rest - departures, p_return))
        intercepted = int(g.binomial(departures, p_caught[r]))
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
