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
delay of mean ``transit_days`` (shape ``transit_delay_shape``).  Stocks and
flows balance every day.

The run starts in mid-stream: people who left or were arrested in the weeks
before day 0 are still in transit or in detention.  ``warm_start`` books
them, assuming day-0 conditions held before the start, so arrivals and
repatriations do not start from zero (without it the first two months
under-counted by about 170 arrivals and 400 repatriations in baseline-2016).
Ranges: hidden stock 10,000-300,000 and repatriations 4,800-8,900 a year
(05_china_detentions_repatriations.csv); arrivals from
01_defector_arrivals_south_korea.csv (calibration targets, not inputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bounds import clip
from .jit import compiled
from .m07_enforcement import arrest_probability, schedule
from .m09_strategic import squeeze


@compiled
def flow_rates(
    net: Any, lever: Any, policy: Any, p: Any
) -> tuple[float, float, float, float, float]:
    """Expected crossings per day and the daily arrest, departure, return and capture chances."""
    wf = p.wider_flow
    closure = lever.border_closure
    rate = (
        wf.crossing_rate_per_year
        / 365.0
        * np.exp(wf.beta_economy * squeeze(net) - wf.beta_aid * policy.food_aid)
        * (1.0 - wf.nk_border_effect * lever.nk_border_control)
        * (1.0 - closure)
    )
    broker_rate = (
        wf.broker_rate_per_year
        * lever.broker_access
        * (1.0 - wf.broker_border_effect * lever.nk_border_control)
    )
    p_arrest = arrest_probability(policy.border_stringency, p.enforcement)
    p_depart = (1.0 - np.exp(-broker_rate / 365.0)) * (1.0 - closure)
    p_return = 1.0 - np.exp(-wf.return_rate_per_year / 365.0)
    p_caught = clip(wf.transit_interception * policy.border_stringency, 0.0, 1.0)
    return rate, p_arrest, p_depart, p_return, p_caught


@compiled
def step_wider_flow(
    g: Any,
    t: int,
    net: Any,
    lever: Any,
    policy: Any,
    p: Any,
    pipelines: Any,
    delays: Any,
    out: Any,
) -> None:
    """Advance the hidden population one day; schedule arrivals and repatriations (M7)."""
    rate, p_arrest, p_depart, p_return, p_caught = flow_rates(net, lever, policy, p)
    hidden = net.hidden
    crossings = g.poisson(rate) if rate > 0 else 0
    arrests = g.binomial(hidden, p_arrest) if hidden > 0 and p_arrest > 0 else 0
    rest = hidden - arrests
    departures = g.binomial(rest, p_depart) if rest > 0 and p_depart > 0 else 0
    staying = rest - departures
    returns = g.binomial(staying, p_return) if staying > 0 and p_return > 0 else 0
    intercepted = g.binomial(departures, p_caught) if departures > 0 and p_caught > 0 else 0
    net.hidden = hidden + crossings - arrests - departures - returns
    schedule(
        g,
        pipelines.repatriations_china,
        t,
        arrests + intercepted,
        delays.detention_keep,
        delays.detention_alias,
    )
    schedule(
        g,
        pipelines.arrivals_wider,
        t,
        departures - intercepted,
        delays.transit_keep,
        delays.transit_alias,
    )
    out.border_crossings = crossings
    out.hidden_in_china = net.hidden
    out.arrests_china += arrests + intercepted
    out.arrests_hidden = arrests
    out.brokered_intercepted = intercepted
    out.broker_departures = departures
    out.returns_home = returns


@compiled
def warm_start(
    g: Any, net: Any, lever: Any, policy: Any, p: Any, pipelines: Any, delays: Any
) -> None:
    """Day 0: the hidden stock, and the people already in transit or detention (M7, M10).

    With day-0 rates held before the start, departures (and arrests) on past
    day -j arrive (are handed over) on day k when their delay is j + k, so the
    number booked for day k is Poisson with mean (daily flow) x P(delay > k).
    """
    net.hidden = int(round(p.wider_flow.hidden_initial))
    _, p_arrest, p_depart, _, p_caught = flow_rates(net, lever, policy, p)
    hidden = float(net.hidden)
    departing = hidden * (1.0 - p_arrest) * p_depart
    arriving = departing * (1.0 - p_caught)
    detained = hidden * p_arrest + departing * p_caught
    for k in range(delays.transit_left.shape[0]):
        pipelines.arrivals_wider[k] += g.poisson(arriving * delays.transit_left[k])
    for k in range(delays.detention_left.shape[0]):
        pipelines.repatriations_china[k] += g.poisson(detained * delays.detention_left[k])
