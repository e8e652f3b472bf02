"""M10 the wider flow: North Koreans outside state postings, as three stocks.

Aggregate stocks per replicate (people counted, not tracked): recent crossers R
and long-term residents L hidden in China (mostly women, often married there;
05_china_detentions_repatriations.csv), and North Koreans living in third
countries T.  Each day, with p(rate) = 1 - exp(-rate / 365):

  crossings   ~ Poisson(crossing_rate / 365 * exp(beta_economy * squeeze - beta_aid * aid)
                * (1 - nk_border_effect * NK border control) * (1 - border closure)
                * (1 - exodus_crossing_effect * [Beijing's no-exodus limit binds]))
  R: arrests ~ Bin(R, p(arrest_rate x stringency)); of the rest
     departures ~ Bin(., p(broker_rate x broker access) x (1 - pandemic_departure_loss x pandemic)),
     returns ~ Bin(., p(return_rate)), settlements ~ Bin(., p(settle_rate)) -> L
  L: arrests ~ Bin(L, p(arrest_rate x stringency x resident_arrest_factor)); of the rest
     departures ~ Bin(., p(resident_departure_rate x broker access x kin)
                      x (1 - pandemic_departure_loss x pandemic)),
     kin = 1 + kin_effect x min(arrivals in the South so far / kin_scale, 1)
     (relatives already in South Korea pay the brokers)
  broker access on both is the dated lever times the year's route factor F, drawn
     on day 0 and each 1 January: log F ~ Normal(-s^2 / 2, s), s = route_variability
     (mean one: the routes' good and bad years around the lever's path; the crackdowns,
     broker prices and transit-country policies behind them are not in the inputs)
  departures: intercepted in China ~ Bin(., transit_interception x stringency)
     (China's stringency acts on arrests and on departures from China); of the others
     a share third_country_share settles in a third country (-> T), the rest travel to
     South Korea (gamma delay of mean ``transit_days``, shape ``transit_delay_shape``)
  T: onward to South Korea ~ Bin(T, p(third_country_onward_rate)), arriving the same day

North Korea's border control acts on crossings only.  Those arrested or
intercepted enter Chinese detention (M7); people detention turns away and
releases rejoin the recent crossers.  Stocks and flows balance every day.

The run starts in mid-stream: people who left or were arrested in the weeks
before day 0 are still in transit or in detention.  ``warm_start`` books them,
assuming day-0 conditions held before the start, so arrivals and repatriations
do not start from zero.  Ranges: hidden stock 10,000-300,000 and repatriations
4,800-8,900 a year (05_china_detentions_repatriations.csv); arrivals from
01_defector_arrivals_south_korea.csv (calibration targets, not inputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bounds import clip, poisson
from .jit import compiled
from .m07_enforcement import admit, arrest_probability, schedule
from .m09_strategic import squeeze


@compiled(inline="always")
def daily(rate_per_year: float) -> float:
    """The daily chance of an event at ``rate_per_year``."""
    return 1.0 - np.exp(-rate_per_year / 365.0)


@compiled
def crossing_rate(net: Any, lever: Any, policy: Any, wf: Any) -> float:
    """Expected crossings into China per day."""
    exodus = wf.exodus_crossing_effect if net.exodus_guard else 0.0
    return (
        wf.crossing_rate_per_year
        / 365.0
        * np.exp(wf.beta_economy * squeeze(net) - wf.beta_aid * policy.food_aid)
        * (1.0 - wf.nk_border_effect * lever.nk_border_control)
        * (1.0 - lever.border_closure)
        * (1.0 - exodus)
    )


@compiled
def departure_chances(net: Any, lever: Any, wf: Any) -> tuple[float, float]:
    """Daily chances a recent crosser and a long-term resident leave with brokers.

    North Korea's border closure stops crossings, not journeys out of China;
    pandemic restrictions in China do (``pandemic_departure_loss``).
    """
    open_border = 1.0 - wf.pandemic_departure_loss * lever.pandemic
    kin = 1.0 + wf.kin_effect * min(net.arrivals_cumulative / wf.kin_scale, 1.0)
    access = lever.broker_access * net.route_factor
    recent = daily(wf.broker_rate_per_year * access) * open_border
    resident = daily(wf.resident_departure_rate_per_year * access * kin) * open_border
    return recent, resident


@compiled
def new_route_year(g: Any, net: Any, wf: Any) -> None:
    """This calendar year's factor on brokered departures (M10 route variability).

    log factor ~ Normal(-s^2 / 2, s) with s = ``route_variability``, so its mean
    is one; no draw when s is 0 (runs without it keep their random streams).
    """
    s = wf.route_variability
    net.route_factor = np.exp(g.normal(-0.5 * s * s, s)) if s > 0.0 else 1.0


@compiled(inline="always")
def draw(g: Any, n: int, p: float) -> int:
    """Binomial(n, p), 0 without a draw when nothing can happen."""
    return g.binomial(n, p) if n > 0 and p > 0 else 0


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
    """Advance the three stocks one day; detention (M7) and arrivals in South Korea."""
    wf, en = p.wider_flow, p.enforcement
    stringency = policy.border_stringency
    p_arrest = arrest_probability(stringency, en)
    p_recent, p_resident = departure_chances(net, lever, wf)
    rate = crossing_rate(net, lever, policy, wf)
    crossings = poisson(g, rate)
    recent, residents = net.recent_crossers, net.long_term_residents
    arrests = draw(g, recent, p_arrest)
    staying = recent - arrests
    departures = draw(g, staying, p_recent)
    staying -= departures
    returns = draw(g, staying, daily(wf.return_rate_per_year))
    staying -= returns
    settlements = draw(g, staying, daily(wf.settle_rate_per_year))
    arrests_residents = draw(g, residents, p_arrest * wf.resident_arrest_factor)
    departures_residents = draw(g, residents - arrests_residents, p_resident)
    leaving = departures + departures_residents
    intercepted = draw(g, leaving, clip(wf.transit_interception * stringency, 0.0, 1.0))
    to_third = draw(g, leaving - intercepted, wf.third_country_share)
    travelling = leaving - intercepted - to_third
    onward = draw(g, net.third_country, daily(wf.third_country_onward_rate_per_year))
    released = admit(
        g, t, arrests + arrests_residents + intercepted, net, pipelines, delays, en, out
    )
    net.recent_crossers = (
        recent + crossings - arrests - departures - returns - settlements + released
    )
    net.long_term_residents = residents + settlements - arrests_residents - departures_residents
    net.third_country += to_third - onward
    schedule(g, pipelines.arrivals_wider, t, travelling, delays.transit_keep, delays.transit_alias)
    out.border_crossings = crossings
    out.hidden_in_china = net.recent_crossers + net.long_term_residents
    out.recent_crossers = net.recent_crossers
    out.long_term_residents = net.long_term_residents
    out.third_country_residents = net.third_country
    out.settlements = settlements
    out.to_third_countries = to_third
    out.onward_from_third_countries = onward
    out.arrests_china += arrests + arrests_residents + intercepted
    out.arrests_hidden = arrests + arrests_residents
    out.arrests_residents = arrests_residents
    out.brokered_intercepted = intercepted
    out.broker_departures = leaving
    out.returns_home = returns


@compiled
def warm_start(
    g: Any, net: Any, lever: Any, policy: Any, p: Any, pipelines: Any, delays: Any
) -> None:
    """Day 0: the three stocks, and the people already in transit or detention (M7, M10).

    With day-0 rates held before the start, departures (and arrests) on past
    day -j arrive (are handed over) on day k when their delay is j + k, so the
    number booked for day k is Poisson with mean (daily flow) x P(delay > k).
    """
    wf, en = p.wider_flow, p.enforcement
    hidden = int(round(wf.hidden_initial))
    net.long_term_residents = int(round(hidden * wf.resident_share_initial))
    net.recent_crossers = hidden - net.long_term_residents
    net.third_country = int(round(wf.third_country_initial))
    net.arrivals_cumulative = wf.kin_initial
    stringency = policy.border_stringency
    p_arrest = arrest_probability(stringency, en)
    p_recent, p_resident = departure_chances(net, lever, wf)
    p_caught = clip(wf.transit_interception * stringency, 0.0, 1.0)
    recent, residents = float(net.recent_crossers), float(net.long_term_residents)
    departing = (
        recent * (1.0 - p_arrest) * p_recent
        + residents * (1.0 - p_arrest * wf.resident_arrest_factor) * p_resident
    )
    arriving = departing * (1.0 - p_caught) * (1.0 - wf.third_country_share)
    detained = (
        recent * p_arrest + residents * p_arrest * wf.resident_arrest_factor + departing * p_caught
    )
    for k in range(delays.transit_left.shape[0]):
        pipelines.arrivals_wider[k] += g.poisson(arriving * delays.transit_left[k])
    booked = 0
    for k in range(delays.detention_left.shape[0]):
        held = g.poisson(detained * delays.detention_left[k])
        pipelines.processing_china[k] += held
        booked += held
    net.detained = booked
