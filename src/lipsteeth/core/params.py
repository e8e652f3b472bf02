"""Frozen model parameters and policy levers (the gymnax split: params apart from state).

Every field carries metadata: its unit, its admissible bounds, the mechanism it
belongs to (M1-M10 of SYSTEM.md) and a one-line meaning.  Values never live here:
they come from scenario files, where each value carries its provenance.  The
scenario layer validates against these bounds and builds its JSON Schema from
them, so this module is the single definition of the parameter space.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

INF = float("inf")


def spec(unit: str, lo: float, hi: float, doc: str, mech: str, integer: bool = False) -> Any:
    """A dataclass field with no default and the metadata the scenario layer reads."""
    return field(
        metadata={"unit": unit, "lo": lo, "hi": hi, "doc": doc, "mech": mech, "integer": integer}
    )


def prob(doc: str, mech: str) -> Any:
    return spec("probability", 0.0, 1.0, doc, mech)


def share(doc: str, mech: str) -> Any:
    return spec("share", 0.0, 1.0, doc, mech)


@dataclass(frozen=True)
class Population:
    """Sizes of the overseas network and its host countries (M1, M4)."""

    restaurant_sites_max: int = spec(
        "restaurants", 1, 2_000, "pool of possible restaurant sites", "M1", True
    )
    restaurants_initial: int = spec(
        "restaurants", 0, 2_000, "restaurants open on the first day", "M1", True
    )
    staff_per_restaurant: int = spec(
        "workers", 1, 200, "staff posts per restaurant (manager not counted)", "M1", True
    )
    labour_sites_max: int = spec("sites", 1, 20_000, "pool of possible labour sites", "M1", True)
    labour_site_capacity: int = spec(
        "workers", 1, 2_000, "posts per labour site at full contract", "M1", True
    )
    labour_workers_initial: int = spec(
        "workers", 0, 2_000_000, "labourers abroad on the first day", "M1", True
    )
    restaurant_share_china: float = share("share of restaurants in China", "M1")
    restaurant_share_russia: float = share("share of restaurants in Russia", "M1")
    labour_share_china: float = share("share of labour sites in China", "M1")
    labour_share_russia: float = share("share of labour sites in Russia", "M1")


@dataclass(frozen=True)
class Restaurants:
    """Restaurant economics and the remittance quota (M1, M3)."""

    gross_sales_per_day: float = spec(
        "USD/day", 0, 1e6, "gross sales of a restaurant at normal demand and hours", "M1"
    )
    variable_cost_share: float = share("food and supplies as a share of sales", "M1")
    fixed_cost_per_day: float = spec("USD/day", 0, 1e6, "rent, utilities, fees", "M1")
    base_pay_per_month: float = spec("USD/month", 0, 1e5, "normal pay of one staff member", "M1")
    reserve_initial_days: float = spec(
        "days of quota", 0, 3650, "cash reserve a manager starts with", "M3"
    )
    reserve_cap_days: float = spec(
        "days of quota", 0, 3650, "reserve a manager keeps before remitting surplus", "M3"
    )
    hours_max: float = spec("x normal hours", 1, 3, "longest working day relative to normal", "M3")
    sales_hours_elasticity: float = spec(
        "elasticity", 0, 2, "sales gained per unit of longer hours", "M3"
    )
    adjustment_days: float = spec(
        "days", 1, 3650, "time a manager takes to move pay and hours to their target", "M3"
    )
    arrears_repayment_days: float = spec(
        "days", 1, 3650, "days over which a manager plans to make up arrears (pay gap)", "M3"
    )
    arrears_index_days: float = spec(
        "days of quota", 1, 3650, "arrears at which the pressure on a site is full (index 1)", "M1"
    )
    opening_rate_per_year: float = spec(
        "openings/year", 0, 1e4, "rate at which Pyongyang opens new restaurants", "M8"
    )
    failure_closure_rate_per_year: float = spec(
        "closures/restaurant-year",
        0,
        50,
        "hazard Pyongyang shuts a restaurant that is fully in arrears",
        "M8",
    )
    closure_order_rate_per_year: float = spec(
        "1/restaurant-year", 0, 50, "host's closure orders at full UN worker provisions", "M8"
    )
    nominee_rate_per_year: float = spec(
        "1/site-year", 0, 100, "rate an ordered-shut site reopens under a nominee", "M8"
    )
    nominee_capacity_initial: float = share("reach of nominee networks before any ban", "M8")
    nominee_capacity_step: float = share("nominee reach added by each UN worker ban", "M8")
    nominee_fee_share: float = share("share of sales a nominee restaurant pays its nominee", "M1")
    nominee_detection_per_year: float = spec(
        "1/restaurant-year",
        0,
        50,
        "rate a nominee restaurant is found out at full enforcement",
        "M8",
    )
    quota_review_days: float = spec(
        "days", 1, 3650, "averaging time of arrears before Pyongyang renegotiates a quota", "M1"
    )
    quota_review_threshold: float = share("averaged arrears index that opens renegotiation", "M1")
    quota_cut: float = share("share of a restaurant's quota cut at each renegotiation", "M1")
    quota_factor_min: float = share("lowest share of the quota lever a restaurant owes", "M1")


@dataclass(frozen=True)
class Labour:
    """Labour sites: contracts, wages and remittances (M1)."""

    contract_fee_per_month: float = spec(
        "USD/worker-month", 0, 1e5, "what a foreign employer pays per labourer", "M1"
    )
    living_cost_per_month: float = spec(
        "USD/worker-month", 0, 1e5, "food and lodging paid by the site", "M1"
    )
    pay_per_month: float = spec("USD/worker-month", 0, 1e5, "normal pay kept by a labourer", "M1")
    dispatch_growth_per_year: float = spec(
        "1/year", -1, 5, "relative growth of the contracted workforce without sanctions", "M1"
    )
    contract_years: float = spec("years", 0.1, 30, "mean length of a posting", "M4")
    hiring_days: float = spec("days", 1, 3650, "mean time to fill a vacant post", "M4")
    recall_days: float = spec(
        "days", 1, 3650, "mean time before a held post no longer wanted is recalled", "M1"
    )
    un_freeze_level: float = share(
        "UN worker provision level (as enforced) at which dispatch stops growing", "M1"
    )
    un_hiring_ban_level: float = share(
        "UN worker provision level (as enforced) at which no labourer is posted", "M1"
    )
    un_repatriation_level: float = share(
        "UN worker provision level (as enforced) at which hosts send labourers home", "M1"
    )
    repatriation_days: float = spec(
        "days", 1, 36500, "e-folding time of the labour force under repatriation orders", "M1"
    )
    relabel_growth_per_year: float = spec(
        "1/year",
        0,
        50,
        "rate relabelling (students, trainees) fills its capacity under a ban",
        "M1",
    )
    relabel_capacity: float = share("share of a host's labourers relabelling can shield", "M1")
    relabel_capacity_step: float = share("relabelling capacity added by each UN worker ban", "M1")
    relabel_detection_per_year: float = spec(
        "1/year", 0, 50, "rate relabelled labourers are found out at full enforcement", "M1"
    )
    relabel_cost_share: float = share(
        "share of a relabelled labourer's fee lost to the cover", "M1"
    )


@dataclass(frozen=True)
class Demand:
    """Restaurant customers and demand shocks (M2)."""

    share_south_korean_china: float = share("share of sales from South Koreans in China", "M2")
    share_south_korean_russia: float = share("share of sales from South Koreans in Russia", "M2")
    share_south_korean_other: float = share(
        "share of sales from South Koreans in other hosts (Southeast Asia)", "M2"
    )
    share_officials: float = share("share of sales from Chinese officials (China only)", "M2")
    advisory_compliance: float = share(
        "share of South Korean customers who stay away under an advisory", "M2"
    )
    anti_extravagance_loss: float = share(
        "share of officials' spending lost under anti-extravagance rules", "M2"
    )
    sanctions_loss: float = share(
        "share of Chinese public demand lost at full Chinese sanctions", "M2"
    )
    provocation_loss: float = share("immediate share of demand lost after a nuclear test", "M2")
    provocation_recovery_days: float = spec(
        "days", 1, 3650, "e-folding time of the post-test demand dip", "M2"
    )
    noise_sd: float = spec("log-units", 0, 2, "site demand noise (stationary sd)", "M2")
    noise_days: float = spec("days", 1, 3650, "correlation time of site demand noise", "M2")
    pandemic_travel_loss: float = share(
        "share of South Korean travellers kept away at full pandemic restrictions", "M2"
    )
    pandemic_custom_loss: float = share(
        "share of local custom lost at full pandemic restrictions", "M2"
    )


@dataclass(frozen=True)
class Workers:
    """Worker state: loyalty, stress, family deterrent, surveillance (M4)."""

    restaurant_loyalty_mean: float = share("mean loyalty of screened restaurant staff", "M4")
    labour_loyalty_mean: float = share("mean loyalty of screened labourers", "M4")
    loyalty_sd: float = spec("loyalty units", 0, 1, "spread of loyalty among recruits", "M4")
    screening_loyalty_gain: float = spec(
        "loyalty units", 0, 1, "loyalty added to recruits at full screening strictness", "M4"
    )
    family_deterrent_mean: float = share("mean strength of the family-at-home deterrent", "M4")
    family_deterrent_spread: float = spec(
        "deterrent units", 0, 1, "half-width of the uniform spread of the family deterrent", "M4"
    )
    stress_days: float = spec("days", 1, 3650, "time stress takes to follow conditions", "M4")
    stress_weight_pay: float = spec("stress units", 0, 5, "stress from a full pay cut", "M4")
    stress_weight_hours: float = spec("stress units", 0, 5, "stress from the longest hours", "M4")
    stress_weight_arrears: float = spec(
        "stress units", 0, 5, "stress from a manager in arrears on the quota", "M4"
    )
    restaurant_surveillance: float = share("baseline surveillance at restaurants", "M4")
    labour_surveillance: float = share("baseline surveillance at labour sites", "M4")


@dataclass(frozen=True)
class Defection:
    """The defection decision: hazard, contagion, managers, helpers (M5)."""

    restaurant_hazard_per_year: float = spec(
        "1/worker-year", 0, 10, "initiation hazard of a restaurant worker at zero stress", "M5"
    )
    labour_hazard_per_year: float = spec(
        "1/worker-year", 0, 10, "initiation hazard of a labourer at zero stress", "M5"
    )
    beta_stress: float = spec("log-hazard per stress unit", 0, 20, "stress raises hazard", "M5")
    beta_loyalty: float = spec("log-hazard per loyalty unit", 0, 20, "loyalty lowers hazard", "M5")
    beta_family: float = spec("log-hazard per unit", 0, 20, "family at home lowers hazard", "M5")
    beta_surveillance: float = spec(
        "log-hazard per unit", 0, 20, "surveillance lowers hazard", "M5"
    )
    contagion: float = prob("base chance a co-worker joins a plot", "M5")
    manager_join: float = prob("chance a restaurant manager leads a forming plot", "M5")
    manager_hazard_per_year: float = spec(
        "1/manager-year", 0, 10, "hazard a manager initiates flight at full arrears", "M5"
    )
    manager_follow: float = prob("chance a worker follows a manager who leads", "M5")
    manager_follow_loyalty_weight: float = share(
        "share of a follower's loyalty that keeps them from following a manager", "M5"
    )
    helper_restaurant: float = prob("chance a restaurant plot finds outside helpers", "M5")
    helper_labour: float = prob("chance a labour-site plot finds outside helpers", "M5")
    detection_per_member: float = prob(
        "chance each extra plotter exposes the plot at full surveillance", "M5"
    )
    manager_detection_factor: float = share(
        "detection chance of a manager-led plot relative to a workers' plot", "M5"
    )
    flight_probability_cap: float = prob("largest daily chance a worker starts a plot", "M5")
    beta_opportunity: float = spec(
        "log-hazard per unit", 0, 20, "perceived opportunity raises the flight hazard", "M5"
    )
    opportunity_exit_weight: float = share(
        "weight of a lax exit check in perceived opportunity", "M5"
    )
    opportunity_helper_weight: float = share(
        "weight of outside helpers in perceived opportunity", "M5"
    )
    opportunity_manager_weight: float = share(
        "weight of a manager under pressure (complicit) in perceived opportunity", "M5"
    )
    perception_days: float = spec(
        "days", 1, 3650, "time workers take to perceive a change in the exit check", "M5"
    )


@dataclass(frozen=True)
class Routes:
    """Exit routes to South Korea (M6)."""

    passport_reclaim_with_helper: float = prob(
        "chance helpers recover confiscated passports (legal route then possible)", "M6"
    )
    legal_delay_days: float = spec(
        "days", 0, 3650, "mean days from leaving post to arriving in South Korea, legal route", "M6"
    )
    clandestine_transit_days: float = spec(
        "days", 1, 3650, "mean days crossing China to a third country, broker route", "M6"
    )
    clandestine_processing_days: float = spec(
        "days", 0, 3650, "mean days in the third country before the flight to Seoul", "M6"
    )
    clandestine_transit_shape: float = spec(
        "gamma shape", 0.1, 100, "shape of the gamma transit time on the broker route", "M6"
    )
    clandestine_interception_per_transit: float = prob(
        "chance a broker-route party is caught in China at full stringency", "M6"
    )
    broker_cost_usd: float = spec("USD/person", 0, 1e6, "broker fee on the clandestine route", "M6")
    russia_exit_strictness: float = prob("chance Russia stops a documented labourer", "M6")
    other_exit_strictness: float = prob("chance other hosts stop a documented worker", "M6")
    russia_interception: float = prob("chance a clandestine party is caught in Russia", "M6")
    other_interception: float = prob("chance a clandestine party is caught in other hosts", "M6")
    helper_interception_factor: float = share(
        "interception chance of a party with outside helpers relative to one without", "M6"
    )


@dataclass(frozen=True)
class Enforcement:
    """Chinese enforcement, arrests and repatriations (M7)."""

    arrest_rate_per_year: float = spec(
        "1/person-year", 0, 20, "arrest hazard of a hidden North Korean at full stringency", "M7"
    )
    detention_days: float = spec("days", 0, 3650, "days from arrest to repatriation", "M7")
    detention_delay_shape: float = spec(
        "gamma shape", 0.1, 100, "shape of the gamma delay from arrest to repatriation", "M7"
    )
    closure_holds_detainees: float = share(
        "border closure level from which detainees are held until it reopens", "M7"
    )
    detention_capacity: float = spec(
        "persons", 0, 1e9, "people China's border detention centres can hold", "M7"
    )
    overflow_release_share: float = share(
        "share of arrested people turned away by full detention who are released", "M7"
    )
    handover_interval_days: float = spec(
        "days", 1, 365, "days between handovers to North Korea", "M7"
    )
    handover_batch_max: float = spec(
        "persons", 0, 1e9, "people handed over at most per batch", "M7"
    )
    long_detention_handover_per_year: float = spec(
        "1/person-year", 0, 50, "rate people in long detention are handed over", "M7"
    )
    share_severe_punishment: float = share(
        "share of repatriated people sent to political prison or labour camps", "M7"
    )


@dataclass(frozen=True)
class Regime:
    """Pyongyang's reaction to flight attempts (M8)."""

    closure_after_escape: float = prob("chance a site is shut after a successful escape", "M8")
    closure_after_attempt: float = prob("chance a site is shut after a foiled attempt", "M8")
    surveillance_jump: float = spec(
        "surveillance units", 0, 1, "network-wide surveillance added after an attempt", "M8"
    )
    screening_jump: float = spec(
        "loyalty units", 0, 1, "rise in recruits' mean loyalty after an attempt", "M8"
    )
    control_relax_days: float = spec("days", 1, 36500, "e-folding time of tightened control", "M8")
    reopen_delay_days: float = spec(
        "days", 0, 36500, "minimum days before a shut site reopens", "M8"
    )


@dataclass(frozen=True)
class Strategic:
    """Pyongyang's provocations and Beijing's carrots and sticks (M9)."""

    missile_rate_per_year: float = spec(
        "tests/year", 0, 500, "missile-test rate without pressure or rewards", "M9"
    )
    nuclear_rate_per_year: float = spec(
        "tests/year", 0, 50, "nuclear-test rate without pressure or rewards", "M9"
    )
    beta_pressure: float = spec("log-rate per unit", 0, 20, "Chinese pressure pauses tests", "M9")
    beta_aid: float = spec("log-rate per unit", 0, 20, "aid buys restraint", "M9")
    beta_squeeze: float = spec(
        "log-rate per unit", 0, 20, "economic squeeze drives defiant tests", "M9"
    )
    beta_drive: float = spec(
        "log-rate per unit", 0, 20, "weapons-programme drive raises the test rate", "M9"
    )
    snub_pressure_weight: float = spec(
        "pressure per signal unit", 0, 10, "pressure a diplomatic snub adds, per unit", "M9"
    )
    displeasure_nuclear: float = spec(
        "displeasure units", 0, 100, "Beijing's displeasure added by a nuclear test", "M9"
    )
    displeasure_missile: float = spec(
        "displeasure units", 0, 100, "Beijing's displeasure added by a missile test", "M9"
    )
    displeasure_days: float = spec("days", 1, 36500, "e-folding time of displeasure", "M9")
    laxity_threshold: float = spec(
        "displeasure units", 0, 100, "displeasure at which Beijing relaxes exit checks", "M9"
    )
    laxity_depth: float = share("share of exit strictness dropped as a signal", "M9")
    sanctions_response: float = spec(
        "sanctions per displeasure unit", 0, 10, "Chinese sanctions added per displeasure", "M9"
    )
    aid_response: float = spec("aid units", 0, 10, "aid granted while Pyongyang conciliates", "M9")
    envoy_rate_per_year: float = spec(
        "1/year", 0, 100, "rate Pyongyang sends an envoy at full pressure", "M9"
    )
    conciliation_days: float = spec("days", 1, 3650, "length of a conciliation episode", "M9")
    conciliation_effect: float = share("share of test hazard removed while conciliating", "M9")
    collapse_threshold: float = spec(
        "economy index", 0, 1, "economy level below which Beijing eases and gives aid", "M9"
    )
    exodus_threshold_per_year: float = spec(
        "crossings/year", 0, 1e7, "crossing rate above which Beijing shuts the border", "M9"
    )
    un_resolution_prob: float = prob("chance a nuclear test brings a UN resolution", "M9")
    un_delay_days: float = spec("days", 0, 3650, "mean days from test to resolution", "M9")
    un_step: float = share("rise of each provision level per resolution", "M9")
    advisory_prob: float = prob("chance Seoul issues a travel advisory after a test", "M9")
    advisory_days: float = spec("days", 1, 36500, "e-folding time of an advisory's effect", "M9")
    economy_weight_overseas: float = share("weight of overseas revenue in the economy index", "M9")
    economy_weight_trade: float = share("weight of trade with China in the economy index", "M9")
    aid_economy_effect: float = spec(
        "economy index", 0, 1, "economy index added by a full food-aid package", "M9"
    )
    economy_smoothing_days: float = spec(
        "days", 1, 3650, "averaging time of remittances and crossings Beijing watches", "M9"
    )
    relations_baseline: float = spec(
        "index units", -5, 5, "relations index argument with no aid, signal or displeasure", "M9"
    )
    trade_loss_coal: float = share("trade lost under a full coal ban", "M9")
    trade_loss_textiles: float = share("trade lost under a full textile ban", "M9")
    trade_loss_seafood: float = share("trade lost under a full seafood ban", "M9")
    trade_loss_china_sanctions: float = share("trade lost at full Chinese sanctions", "M9")
    enforcement_adjust_days: float = spec(
        "days", 1, 3650, "time a host takes to move its UN enforcement to its target", "M9"
    )
    enforcement_base_china: float = share("China's UN enforcement with no pressure or ties", "M9")
    enforcement_base_russia: float = share("Russia's UN enforcement with no pressure or ties", "M9")
    enforcement_base_other: float = share("other hosts' UN enforcement with no pressure", "M9")
    enforcement_pressure_weight: float = share(
        "enforcement added at full international pressure", "M9"
    )
    enforcement_displeasure_weight: float = share(
        "enforcement China adds at the displeasure of its laxity threshold", "M9"
    )
    enforcement_relations_weight: float = share(
        "enforcement a host gives up at the best relations with Pyongyang", "M9"
    )
    enforcement_floor_guarded: float = share(
        "China's UN enforcement at most while its no-collapse or no-exodus limit binds", "M9"
    )
    oil_from_china_sanctions: float = share("oil cut by Beijing at full Chinese sanctions", "M9")
    economy_weight_oil: float = share("economy index lost at a full oil cut", "M9")
    fuel_capacity_effect: float = share("share of missile tests a full oil cut prevents", "M9")
    nuclear_progress: float = spec(
        "progress units", 0, 100, "programme progress of a nuclear test (a missile test is 1)", "M9"
    )
    milestone_size: float = spec(
        "progress units", 1, 1000, "programme progress between milestones", "M9"
    )
    milestone_pause_days: float = spec(
        "days", 0, 3650, "pause in testing after a programme milestone", "M9"
    )
    pause_effect: float = share("share of test hazard removed while pausing", "M9")
    talks_offer_prob: float = prob(
        "daily chance Pyongyang takes up Beijing's carrots for talks", "M9"
    )
    talks_breakdown_per_year: float = spec(
        "1/year", 0, 365, "rate talks break down early, at no pressure", "M9"
    )
    defiance_days: float = spec("days", 0, 3650, "length of a defiance episode", "M9")
    beta_defiance: float = spec("log-rate", 0, 20, "test rate raised while defiant", "M9")
    sanctions_memory_days: float = spec(
        "days", 1, 3650, "averaging time against which a rise in sanctions is judged", "M9"
    )
    sanctions_rise_defiance: float = share(
        "rise of effective Chinese sanctions above their average that provokes defiance", "M9"
    )
    aid_untied_effect: float = share(
        "effect of aid outside talks relative to aid tied to them", "M9"
    )
    displeasure_envoy_relief: float = share("share of Beijing's displeasure an envoy removes", "M9")
    displeasure_breakdown: float = spec(
        "displeasure units", 0, 100, "Beijing's displeasure added by a talks breakdown", "M9"
    )


@dataclass(frozen=True)
class WiderFlow:
    """North Koreans in China outside state postings (M10)."""

    hidden_initial: float = spec("persons", 0, 1e7, "North Koreans hiding in China at start", "M10")
    crossing_rate_per_year: float = spec(
        "persons/year",
        0,
        1e7,
        "border crossings into China at open NK border, normal economy",
        "M10",
    )
    beta_economy: float = spec("log-rate per unit", 0, 20, "hardship raises crossings", "M10")
    beta_aid: float = spec("log-rate per unit", 0, 20, "food aid lowers crossings", "M10")
    nk_border_effect: float = share("share of crossings stopped at full NK border control", "M10")
    broker_rate_per_year: float = spec(
        "1/person-year", 0, 20, "rate hidden people leave with brokers for South Korea", "M10"
    )
    return_rate_per_year: float = spec(
        "1/person-year", 0, 20, "rate hidden people go home or settle legally", "M10"
    )
    transit_interception: float = prob(
        "chance a brokered party is caught in transit at full stringency", "M10"
    )
    transit_days: float = spec("days", 1, 3650, "mean days from departure to South Korea", "M10")
    transit_delay_shape: float = spec(
        "gamma shape", 0.1, 100, "shape of the gamma delay from departure to South Korea", "M10"
    )
    exodus_crossing_effect: float = share(
        "share of crossings stopped while Beijing's no-exodus limit binds", "M10"
    )
    pandemic_departure_loss: float = share(
        "share of brokered departures from China stopped at full pandemic restrictions", "M10"
    )
    resident_share_initial: float = share(
        "share of the hidden on day 0 who are long-term residents", "M10"
    )
    settle_rate_per_year: float = spec(
        "1/person-year", 0, 20, "rate recent crossers become long-term residents", "M10"
    )
    resident_arrest_factor: float = share(
        "arrest hazard of a long-term resident relative to a recent crosser", "M10"
    )
    resident_departure_rate_per_year: float = spec(
        "1/person-year",
        0,
        20,
        "rate long-term residents leave with brokers (no kin in the South)",
        "M10",
    )
    kin_effect: float = spec(
        "x departure rate",
        0,
        100,
        "departures added by relatives in the South, at saturation",
        "M10",
    )
    kin_scale: float = spec("persons", 1, 1e8, "arrivals in the South at which kin saturate", "M10")
    kin_initial: float = spec("persons", 0, 1e8, "arrivals in the South before day 0", "M10")
    third_country_share: float = share(
        "share of brokered parties who settle in a third country first", "M10"
    )
    third_country_initial: float = spec(
        "persons", 0, 1e7, "North Koreans in third countries on day 0", "M10"
    )
    third_country_onward_rate_per_year: float = spec(
        "1/person-year", 0, 20, "rate third-country residents move on to South Korea", "M10"
    )
    route_variability: float = spec(
        "log sd",
        0,
        3,
        "year-to-year variability of the broker routes out of China (sd of the log of "
        "each calendar year's factor on brokered departures)",
        "M10",
    )


@dataclass(frozen=True)
class Params:
    """All model parameters (frozen)."""

    population: Population
    restaurants: Restaurants
    labour: Labour
    demand: Demand
    workers: Workers
    defection: Defection
    routes: Routes
    enforcement: Enforcement
    regime: Regime
    strategic: Strategic
    wider_flow: WiderFlow


@dataclass(frozen=True)
class Levers:
    """Policy levers an analyst sets (baseline values; the timeline can move them).

    Beijing's endogenous adjustments (M9) act on top of its levers when
    ``beijing_discretion`` is 1; at 0, Beijing's levers stay exactly as set.
    """

    china_border_stringency: float = share("Chinese internal enforcement against hidden NKs", "M7")
    china_exit_strictness: float = prob(
        "chance Chinese immigration stops a documented NK labourer", "M7"
    )
    china_sanctions: float = share("Chinese sanctions implementation", "M9")
    un_workers: float = share(
        "UN provisions on overseas workers (0 none, 1 full repatriation)", "M9"
    )
    un_coal: float = share("UN provisions on coal and minerals", "M9")
    un_oil: float = share("UN provisions on oil and fuel", "M9")
    un_seafood: float = share("UN provisions on seafood", "M9")
    un_textiles: float = share("UN provisions on textiles", "M9")
    food_aid: float = share("Chinese food aid (1 = a full package)", "M9")
    diplomatic_signal: float = spec(
        "signal", -1, 1, "Beijing's stance: -1 snub, 0 neutral, 1 high-level meeting", "M9"
    )
    seoul_travel_advisory: float = share("Seoul's advice to avoid NK restaurants", "M2")
    anti_extravagance: float = share("China's anti-extravagance rules on officials", "M2")
    restaurant_quota_usd: float = spec(
        "USD/restaurant-year", 0, 1e8, "remittance quota per restaurant", "M1"
    )
    labour_quota_share: float = share("share of contract fees owed to Pyongyang", "M1")
    screening_strictness: float = share("extra loyalty demanded of recruits", "M8")
    nk_border_control: float = share("Pyongyang's control of its own border", "M10")
    broker_access: float = share("reach of broker networks out of China (1 = full)", "M10")
    international_pressure: float = share(
        "outside pressure on host states to enforce UN measures (1 = maximum)", "M9"
    )
    host_discretion: float = share(
        "1: each host chooses its UN enforcement (M9); 0: all enforce in full", "M9"
    )
    pandemic: float = share("pandemic restrictions in host countries (travel and custom)", "M2")
    weapons_drive: float = share("Pyongyang's weapons-programme drive (0 none, 1 full)", "M9")
    border_closure: float = share("pandemic-style closure of all crossings and rotations", "M10")
    beijing_discretion: float = share("1: Beijing adjusts its levers itself (M9); 0: fixed", "M9")


LEVER_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Levers))


def field_specs(cls: type) -> dict[str, dict[str, Any]]:
    """Metadata of each field of a parameter dataclass, by field name."""
    return {f.name: dict(f.metadata) for f in dataclasses.fields(cls)}


PARAM_GROUPS: dict[str, type] = {
    "population": Population,
    "restaurants": Restaurants,
    "labour": Labour,
    "demand": Demand,
    "workers": Workers,
    "defection": Defection,
    "routes": Routes,
    "enforcement": Enforcement,
    "regime": Regime,
    "strategic": Strategic,
    "wider_flow": WiderFlow,
}
