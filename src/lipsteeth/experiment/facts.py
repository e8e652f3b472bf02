"""Facts F1-F9 of SYSTEM.md and pattern checks P1-P3, each evidence for a mechanism.

Every row names the mechanism it evidences and a knock-out: that mechanism
switched off, or its coefficient made neutral, as parameter and lever
overrides.  A row is evidence when it is consistent with the mechanism and
inconsistent with it knocked out (``check_knockouts``; ``lipsteeth facts
SCENARIO --knockouts``).  Rows are computed over the years they name only.

**Consistency rules.**  Each row states how its target range and the 90 %
band of the ensemble must agree:

* ``overlap``: the 90 % band of the replicates (5th to 95th percentile)
  overlaps the target range.  For observed values and ranges (what happened
  once): the model must not rule them out at the 90 % level.
* ``inside``: the 90 % band of the replicates lies inside the target range.
  For claims about every world ("never", "always"): at least 95 % of the
  ensemble satisfies each bound.
* ``mean``: the 90 % interval of the ensemble statistic (a mean over
  replicates, or a ratio of means for shares and rates; percentile bootstrap
  over replicates, 2,000 resamples, fixed seed) lies inside the target range.
  For tendencies (an effect's sign, a share over many events, a timing
  pattern): the claim holds at the 5 % level on each bound.

A row whose years the run does not cover is ``not evaluated`` (neither
consistent nor inconsistent); a statistic with no defined value (a share of
no events) is inconsistent.  The band holds what the run's replicates hold:
parameter uncertainty (posterior draws) and simulation noise, or noise alone.

Counterfactual ensembles (F6, F9) are paired with the run (common random
numbers: replicate ``i`` of every ensemble shares its random streams and
its parameter draw); stress-test worlds (F9: UN trade bans with a Beijing
quick to anger, a famine-scale surge) probe Beijing's limits where the default scenario
never reaches them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..core.simulate import SimulationResult
from .ensemble import run_scenario
from .summary import yearly

if TYPE_CHECKING:
    from ..scenario import Scenario

Rule = Literal["overlap", "inside", "mean"]
RULES: dict[str, str] = {
    "overlap": "the 90 % band of the replicates overlaps the target range",
    "inside": "the 90 % band of the replicates lies inside the target range",
    "mean": "the 90 % bootstrap interval of the ensemble statistic lies inside the target range",
}
BANDS: dict[str, str] = {
    "overlap": "5-95 % of replicates",
    "inside": "5-95 % of replicates",
    "mean": "90 % interval of the ensemble statistic",
}
CONSISTENT, INCONSISTENT, NOT_EVALUATED = "consistent", "inconsistent", "not evaluated"

#: replicates of each counterfactual ensemble (replicates 0..n-1: paired with the run)
COUNTERFACTUAL_REPLICATES = 20
#: counterfactual ensembles (F6, F9) run from the scenario start to the end of this year
COUNTERFACTUAL_LAST_YEAR = 2016
#: a row on rare events (P1's timing: a few restaurant groups a month in 2016) runs its
#: own ensemble of this many times the counterfactual replicates (100 at the default 20,
#: 20 for a quick run of 4); replicates 0..n-1, so the run's are its first
RARE_EVENT_FACTOR = 5
#: bootstrap resamples of the ``mean`` rule (fixed seed: the same numbers every time)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

Runner = Callable[["Scenario", int], SimulationResult]


#: the source article of the system (docs/model.md), cited by the rows it supports
ARTICLE = "Corrado and Moore (Foreign Affairs, 2016)"


class PeriodNotCoveredError(ValueError):
    """The run does not cover the period a fact is about."""


@dataclass(frozen=True)
class FactCheck:
    """One row of the facts table, as evaluated on one ensemble.

    ``median``, ``p5`` and ``p95`` describe the replicates' values; ``value``,
    ``low`` and ``high`` are what the rule compares with the target (the same
    for ``overlap`` and ``inside``; the ensemble statistic and its 90 %
    interval for ``mean``).  ``consistent`` is None when not evaluated.
    """

    id: str
    statement: str
    statistic: str
    target: str
    target_low: float
    target_high: float
    median: float
    p5: float
    p95: float
    consistent: bool | None
    unit: str
    source: str
    covered: bool = True
    rule: str = "overlap"
    band: str = BANDS["overlap"]
    value: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    window: str = ""
    mechanism: str = ""
    knockout: str = ""
    note: str = ""

    @property
    def status(self) -> str:
        if self.consistent is None:
            return NOT_EVALUATED
        return CONSISTENT if self.consistent else INCONSISTENT

    def to_dict(self) -> dict[str, Any]:
        """JSON-able row; infinite bounds and undefined numbers become None."""
        row = dataclasses.asdict(self)
        for key in ("target_low", "target_high", "median", "p5", "p95", "value", "low", "high"):
            value = row[key]
            row[key] = None if value is None or not np.isfinite(value) else float(value)
        row["status"] = self.status
        return row


# ---------------------------------------------------------------------------
# statistics of one ensemble


@dataclass(frozen=True)
class Pooled:
    """Per-replicate components and how their means combine into the ensemble statistic.

    ``per_replicate`` gives each replicate's own value (for the band of the
    replicates; NaN where undefined).
    """

    components: Mapping[str, np.ndarray]
    combine: Callable[[Mapping[str, float]], float]
    per_replicate: np.ndarray

    def estimate(self, rows: np.ndarray | None = None) -> float:
        if any(v.size == 0 for v in self.components.values()):
            return float("nan")
        means = {
            k: float(np.mean(v if rows is None else v[rows])) for k, v in self.components.items()
        }
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(self.combine(means))


def mean_of(values: np.ndarray) -> Pooled:
    """The ensemble mean of per-replicate values (NaN replicates left out)."""
    kept = np.asarray(values, dtype=float)
    kept = kept[np.isfinite(kept)]
    return Pooled({"x": kept}, lambda m: m["x"], kept)


def ratio_of(numerator: np.ndarray, denominator: np.ndarray) -> Pooled:
    """Sum of numerators over sum of denominators (a pooled share or rate)."""
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return Pooled(
        {"num": num, "den": den},
        lambda m: m["num"] / m["den"] if m["den"] > 0 else float("nan"),
        own,
    )


def _quantile(values: np.ndarray, q: list[float]) -> np.ndarray:
    """Quantiles, NaN left out; with infinite values by the inverted CDF (no inf - inf)."""
    kept = np.asarray(values, dtype=float)
    kept = kept[~np.isnan(kept)]
    if kept.size == 0:
        return np.full(len(q), np.nan)
    method = "linear" if np.all(np.isfinite(kept)) else "inverted_cdf"
    return np.quantile(kept, q, method=method)


def _quantiles(values: np.ndarray) -> tuple[float, float, float]:
    q5, q50, q95 = _quantile(values, [0.05, 0.5, 0.95])
    return float(q50), float(q5), float(q95)


def bootstrap_interval(pooled: Pooled, level: float = 0.9) -> tuple[float, float]:
    """Percentile bootstrap interval of the ensemble statistic over replicates."""
    n = min((v.size for v in pooled.components.values()), default=0)
    if n < 2:
        value = pooled.estimate() if n else float("nan")
        return value, value
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = np.array([pooled.estimate(rng.integers(0, n, n)) for _ in range(BOOTSTRAP_RESAMPLES)])
    tail = (1 - level) / 2
    low, high = _quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


def _month_years(result: SimulationResult) -> np.ndarray:
    return result.months.astype("datetime64[Y]").astype(int) + 1970


def _cover(result: SimulationResult, first: int, last: int) -> None:
    years = _month_years(result)
    if years.size == 0 or years.min() > first or years.max() < last:
        raise PeriodNotCoveredError(f"the run does not cover {first}-{last}")


def _year_values(result: SimulationResult, name: str) -> tuple[np.ndarray, np.ndarray]:
    years, values = yearly(result)
    return years, values[:, result.outcome_names.index(name), :]


def in_year(result: SimulationResult, name: str, year: int) -> np.ndarray:
    """(R,) yearly value of an outcome (flows summed, stocks at year end, means averaged)."""
    _cover(result, year, year)
    years, values = _year_values(result, name)
    return values[:, int(np.flatnonzero(years == year)[0])]


def years_mean(result: SimulationResult, name: str, first: int, last: int) -> np.ndarray:
    """(R,) mean of an outcome's yearly values over ``first``-``last``."""
    _cover(result, first, last)
    years, values = _year_values(result, name)
    return values[:, (years >= first) & (years <= last)].mean(axis=1)


def years_total(result: SimulationResult, name: str, first: int, last: int) -> np.ndarray:
    """(R,) sum of a flow's monthly values over ``first``-``last``."""
    _cover(result, first, last)
    years = _month_years(result)
    return result.outcome(name)[:, (years >= first) & (years <= last)].sum(axis=1)


def in_month(result: SimulationResult, name: str, month: str) -> np.ndarray:
    """(R,) value of an outcome in one month (``YYYY-MM``)."""
    index = np.flatnonzero(result.months == np.datetime64(month, "M"))
    if index.size == 0:
        raise PeriodNotCoveredError(f"the run does not cover {month}")
    return result.outcome(name)[:, int(index[0])]


def _months_between(result: SimulationResult, first: str, last: str) -> np.ndarray:
    """Boolean mask of the months ``first``..``last`` (``YYYY-MM``), checking coverage."""
    lo, hi = np.datetime64(first, "M"), np.datetime64(last, "M")
    if result.months.size == 0 or result.months[0] > lo or result.months[-1] < hi:
        raise PeriodNotCoveredError(f"the run does not cover {first} to {last}")
    return (result.months >= lo) & (result.months <= hi)


def _events(result: SimulationResult, first: int, last: int, **where: Any) -> dict[str, Any]:
    """Events of ``result`` in years ``first``-``last`` matching ``column == value`` filters."""
    _cover(result, first, last)
    ev = result.events
    start = result.months[0].astype("datetime64[D]")
    dates = start + ev["day"].astype("timedelta64[D]")
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    keep = (years >= first) & (years <= last)
    for column, value in where.items():
        keep &= ev[column] == value
    return {k: v[keep] for k, v in ev.items()}


def per_replicate(result: SimulationResult, rows: np.ndarray, weights: Any = 1.0) -> np.ndarray:
    """(R,) sum of ``weights`` by replicate (``rows`` holds replicate ids)."""
    position = {int(r): i for i, r in enumerate(result.replicates)}
    out = np.zeros(result.replicates.shape[0])
    w = np.broadcast_to(np.asarray(weights, dtype=float), np.shape(rows))
    for r, value in zip(rows, w, strict=True):
        out[position[int(r)]] += value
    return out


# ---------------------------------------------------------------------------
# worlds: an ensemble and its counterfactual variants, with or without a knock-out


@dataclass(frozen=True)
class Knockout:
    """A mechanism switched off, as parameter and lever overrides."""

    description: str
    params: Mapping[str, float] = field(default_factory=dict)
    levers: Mapping[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[Any, ...]:
        """What identifies the knocked-out setting (rows with equal keys share ensembles)."""
        return (tuple(sorted(self.params.items())), tuple(sorted(self.levers.items())))

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "params": dict(self.params),
            "levers": dict(self.levers),
        }


class World:
    """Ensembles of one setting: the main run and counterfactual variants (run once, cached).

    ``reference`` is the scenario as given (its thresholds and lever paths are
    what rows compare with); ``scenario`` the one simulated (with a knock-out,
    if any).  Variants use replicates ``0..n_cf-1``, paired with the run.
    """

    def __init__(
        self,
        reference: Scenario,
        scenario: Scenario,
        main: Callable[[], SimulationResult],
        runner: Runner,
        n_cf: int,
    ) -> None:
        self.reference = reference
        self.scenario = scenario
        self._main = main
        self._runner = runner
        self.n_cf = n_cf
        self._cache: dict[Any, SimulationResult] = {}

    def main(self) -> SimulationResult:
        if "main" not in self._cache:
            self._cache["main"] = self._main()
        return self._cache["main"]

    def variant(
        self,
        levers: Mapping[str, float] | None = None,
        params: Mapping[str, float] | None = None,
        replicates: int | None = None,
    ) -> SimulationResult:
        """The counterfactual ensemble with other levers (and parameters), to 2016.

        ``replicates`` (default ``n_cf``): replicates ``0..replicates-1``.
        """
        n = self.n_cf if replicates is None else replicates
        key = (tuple(sorted((levers or {}).items())), tuple(sorted((params or {}).items())), n)
        if key not in self._cache:
            end = np.datetime64(f"{COUNTERFACTUAL_LAST_YEAR}-12-31", "D")
            if self.scenario.end < end:
                raise PeriodNotCoveredError(f"the run ends before {COUNTERFACTUAL_LAST_YEAR}")
            changed = self.scenario.with_overrides(
                params=dict(params) if params else None,
                levers=dict(levers) if levers else None,
                end=str(end) if self.scenario.end > end else None,
            )
            self._cache[key] = self._runner(changed, n)
        return self._cache[key]


# ---------------------------------------------------------------------------
# the rows


Statistic = Callable[[World], "Pooled | np.ndarray"]


@dataclass(frozen=True)
class FactRow:
    """The definition of one row: what is computed, against what, and its knock-out."""

    id: str
    statement: str
    statistic: str
    target: str
    low: float
    high: float
    rule: Rule
    unit: str
    source: str
    window: tuple[int, int]
    mechanism: str
    knockout: Knockout
    compute: Statistic

    def evaluate(self, world: World, knockout: str = "") -> FactCheck:
        """The row on ``world``'s ensembles (``not evaluated`` outside the run's horizon)."""
        first, last = self.window
        start, end = int(str(world.reference.start)[:4]), int(str(world.reference.end)[:4])
        nan = float("nan")
        common: dict[str, Any] = {
            "id": self.id,
            "statement": self.statement,
            "statistic": self.statistic,
            "target": self.target,
            "target_low": self.low,
            "target_high": self.high,
            "unit": self.unit,
            "source": self.source,
            "rule": self.rule,
            "band": BANDS[self.rule],
            "window": f"{first}" if first == last else f"{first}-{last}",
            "mechanism": self.mechanism,
            "knockout": knockout or self.knockout.description,
        }
        try:
            if start > first or end < last:
                raise PeriodNotCoveredError(f"the run covers {start}-{end}")
            computed = self.compute(world)
        except PeriodNotCoveredError as exc:
            return FactCheck(
                median=nan,
                p5=nan,
                p95=nan,
                consistent=None,
                covered=False,
                note=f"not evaluated: {exc}",
                **common,
            )
        pooled = computed if isinstance(computed, Pooled) else mean_of(computed)
        median, p5, p95 = _quantiles(pooled.per_replicate)
        if self.rule == "mean":
            value = pooled.estimate()
            low, high = bootstrap_interval(pooled)
        else:
            value, low, high = median, p5, p95
        note = ""
        if np.isnan(value):
            consistent, note = False, "undefined: no events to compute it from"
        elif self.rule == "overlap":
            consistent = bool(low <= self.high and high >= self.low)
        else:
            consistent = bool(self.low <= low and high <= self.high)
        return FactCheck(
            median=median,
            p5=p5,
            p95=p95,
            consistent=consistent,
            value=value,
            low=low,
            high=high,
            note=note,
            **common,
        )


def _pressure_knockout() -> Knockout:
    return Knockout(
        "pressure to flight off: stress does not raise a worker's hazard (beta_stress 0), "
        "arrears and pay cuts do not move managers to flee or lead (manager hazard 0, "
        "manager join 0), nor make a manager under pressure an opportunity (opportunity "
        "manager weight 0)",
        {
            "defection.beta_stress": 0.0,
            "defection.manager_hazard_per_year": 0.0,
            "defection.manager_join": 0.0,
            # issue 12 (M5 opportunity): a manager under quota pressure is complicit, which
            # raises his workers' hazard; part of the same pressure channel
            "defection.opportunity_manager_weight": 0.0,
        },
    )


def _restaurant_groups(result: SimulationResult, first: int, last: int) -> dict[str, Any]:
    return _events(result, first, last, kind="defection_group", sector="restaurant")


def _group_share(world: World, first: int, last: int, min_size: int) -> Pooled:
    """Escaped restaurant defectors who left in parties of ``min_size`` or more (F4, P2)."""
    result = world.main()
    groups = _restaurant_groups(result, first, last)
    escaped = groups["outcome"] == "escaped"
    big = escaped & (groups["size"] >= min_size)
    return ratio_of(
        per_replicate(result, groups["replicate"][big], groups["size"][big]),
        per_replicate(result, groups["replicate"][escaped], groups["size"][escaped]),
    )


def _manager_share(world: World) -> Pooled:
    result = world.main()
    groups = _restaurant_groups(result, 2012, 2016)
    return ratio_of(
        per_replicate(result, groups["replicate"], groups["manager_led"].astype(float)),
        per_replicate(result, groups["replicate"]),
    )


def _wave_ratio(world: World) -> np.ndarray:
    result = world.main()
    quiet = years_mean(result, "restaurant_defectors", 2012, 2015)
    return in_year(result, "restaurant_defectors", 2016) / (quiet + 1.0)


#: F8 closure timing: "soon" after an attempt (days 0-29) against "later" (days 30-364)
CLOSURE_SOON_DAYS = 30
CLOSURE_LATER_DAYS = 365


def _closure_risk(world: World) -> Pooled:
    """A restaurant's closure rate soon after an attempt there, against its own later rate (F8).

    A self-controlled incidence-rate ratio: for each attempt (a group leaving a
    restaurant, 2012-2016), the restaurant's closures per day at risk in the
    ``CLOSURE_SOON_DAYS`` from the attempt's day, over its closures per day at
    risk in the days after, up to ``CLOSURE_LATER_DAYS`` (a site shut in the
    first window is not at risk in the second; days after 2016 are not seen).
    Comparing a site with itself months later keeps what makes it fragile in
    both windows: a restaurant in arrears both loses workers (M3, M5) and fails
    (M8 arrears closures), so against the base rate of all restaurants the
    ratio stays far above 1 with no closure after attempts at all (knocked out,
    about 7 at ``baseline-2016``'s point values); against itself it is about 1.
    """
    result = world.main()
    groups = _restaurant_groups(result, 2012, 2016)
    closures = _events(result, 2012, 2016, kind="closure", sector="restaurant")
    last_day = int(
        (np.datetime64("2016-12-31", "D") - result.months[0].astype("datetime64[D]")).astype(int)
    )
    n = groups["day"].size
    soon, soon_days, later, later_days = (np.zeros(n) for _ in range(4))
    for i, (rep, site, day) in enumerate(
        zip(groups["replicate"], groups["site"], groups["day"], strict=True)
    ):
        here = (closures["replicate"] == rep) & (closures["site"] == site)
        after = np.sort(closures["day"][here & (closures["day"] >= day)])
        split = min(day + CLOSURE_SOON_DAYS, last_day + 1)
        stop = min(day + CLOSURE_LATER_DAYS, last_day + 1)
        shut = int(after[0]) if after.size else stop  # first closure ends the time at risk
        soon[i] = float(shut < split)
        soon_days[i] = min(shut + 1, split) - day
        if shut >= split:
            later[i] = float(shut < stop)
            later_days[i] = min(shut + 1, stop) - split
    components = {
        name: per_replicate(result, groups["replicate"], values)
        for name, values in (
            ("soon", soon),
            ("soon_days", soon_days),
            ("later", later),
            ("later_days", later_days),
        )
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        own = (components["soon"] / components["soon_days"]) / (
            components["later"] / components["later_days"]
        )
    return Pooled(
        components,
        lambda m: (
            (m["soon"] / m["soon_days"]) / (m["later"] / m["later_days"])
            if m["soon_days"] > 0 and m["later"] > 0
            else float("nan")
        ),
        np.where(np.isfinite(own), own, np.nan),
    )


def _control_after_attempts(world: World) -> np.ndarray:
    """Surveillance in the 3 months after an attempt month minus the 3 months before (F8).

    Attempt months 2013-2016 only (the first year is left out: control
    starts at zero and rises), averaged per replicate; NaN without attempts.
    """
    result = world.main()
    _months_between(result, "2012-10", "2016-12")
    control = result.outcome("surveillance_level")
    attempts = result.outcome("defection_groups_restaurant") + result.outcome(
        "defection_groups_labour"
    )
    months = result.months
    window = (months >= np.datetime64("2013-01", "M")) & (months <= np.datetime64("2016-12", "M"))
    # an attempt month needs its three months after inside the run
    candidates = [m for m in np.flatnonzero(window) if m + 3 < months.size]
    out = np.full(control.shape[0], np.nan)
    for r in range(control.shape[0]):
        rows = [m for m in candidates if attempts[r, m] > 0]
        if rows:
            changes = [
                control[r, m + 1 : m + 4].mean() - control[r, m - 3 : m].mean() for m in rows
            ]
            out[r] = float(np.mean(changes))
    return out


def _first_pay_cut(pay: np.ndarray, reference: np.ndarray, share: float) -> np.ndarray:
    """Per replicate, the first month index where pay is below ``share`` of ``reference``."""
    below = pay < share * reference[:, None]
    return np.where(below.any(axis=1), below.argmax(axis=1), pay.shape[1])


def _wave_after_cuts(world: World) -> Pooled:
    """Restaurant defectors per month after restaurant pay fell by a fifth, over before (P1).

    Months 2015-01 to 2016-12; the cut is the first month pay is below 80 % of
    its 2015 mean.  The ensemble statistic is the pooled monthly rate after
    the cut over the pooled rate before it (infinite with none before).
    """
    result = world.main()
    mask = _months_between(result, "2015-01", "2016-12")
    pay = result.outcome("pay_level_restaurant")[:, mask]
    defectors = result.outcome("restaurant_defectors")[:, mask]
    cut = _first_pay_cut(pay, pay[:, :12].mean(axis=1), 0.8)
    months = defectors.shape[1]
    after = np.array([defectors[r, cut[r] :].sum() for r in range(defectors.shape[0])])
    before = defectors.sum(axis=1) - after
    return Pooled(
        {
            "after": after,
            "months_after": (months - cut).astype(float),
            "before": before,
            "months_before": cut.astype(float),
        },
        _rate_ratio("after", "months_after", "before", "months_before"),
        _own_rate_ratio(after, months - cut, before, cut),
    )


def _rate_ratio(a: str, a_months: str, b: str, b_months: str) -> Callable[..., float]:
    """The combine of a rate ratio: (a / a_months) / (b / b_months) of pooled means."""

    def combine(m: Mapping[str, float]) -> float:
        if m[a_months] <= 0 or m[b_months] <= 0:
            return float("nan")
        high, low = m[a] / m[a_months], m[b] / m[b_months]
        if low > 0:
            return high / low
        return float("inf") if high > 0 else float("nan")

    return combine


def _own_rate_ratio(a: np.ndarray, am: np.ndarray, b: np.ndarray, bm: np.ndarray) -> np.ndarray:
    """Each replicate's own rate ratio (NaN where undefined, inf with nothing before)."""
    out = np.full(a.shape[0], np.nan)
    for r in range(a.shape[0]):
        out[r] = _rate_ratio("a", "am", "b", "bm")(
            {"a": float(a[r]), "am": float(am[r]), "b": float(b[r]), "bm": float(bm[r])}
        )
    return out


def _wave_at_once(world: World) -> Pooled:
    """Restaurant attempts per day in the months of 2016's shocks over April-June (P1).

    The shocks: the fourth test (6 January) and Seoul's advisory after resolution
    2270 (8 and 2 March, the scenario's events).  A wave that answered them at
    once would run in January and March at about the rate of the next months
    (and rise in them: without lags the test alone multiplies January's
    attempts); one built up over weeks of pay cuts and stress (M3, M4) runs far
    below it.  Calendar months, the resolution of the observed record.  The
    events are rare (a few groups a month), so the row runs its own ensemble to
    2016, ``RARE_EVENT_FACTOR`` times the counterfactual replicates (the run's
    replicates are its first).
    """
    result = world.variant(replicates=RARE_EVENT_FACTOR * world.n_cf)
    attempts = result.outcome("attempts_restaurant")
    shock_months = _months_between(result, "2016-01", "2016-01") | _months_between(
        result, "2016-03", "2016-03"
    )
    spring = _months_between(result, "2016-04", "2016-06")
    # per day: January and March have 62 days, April-June 91
    return ratio_of(
        attempts[:, shock_months].sum(axis=1) / 62.0, attempts[:, spring].sum(axis=1) / 91.0
    )


def _signal_days(result: SimulationResult, replicate: int, days: np.ndarray) -> np.ndarray:
    """Whether Beijing's laxity signal was on (its displeasure above the threshold) each day.

    From the ``policy_change`` events of outcome ``exit_laxity`` (1 on, 0
    off); they are logged whether or not the checks then relax (M9).
    """
    ev = result.events
    mine = (
        (ev["replicate"] == replicate)
        & (ev["kind"] == "policy_change")
        & (ev["outcome"] == "exit_laxity")
    )
    order = np.argsort(ev["day"][mine], kind="stable")
    changes, values = ev["day"][mine][order], ev["value"][mine][order]
    last = np.searchsorted(changes, days, side="right") - 1
    return np.where(last >= 0, values[np.maximum(last, 0)] > 0.5, False)


def _exit_pass_when_displeased(world: World) -> Pooled:
    """Share of documented groups passing China's exit check, signal on minus off (P3).

    Documented groups at China's exit check (legal route, 2012-2016, from the
    event log): groups that got out over groups that got out or were
    stopped, on days Beijing's displeasure was above its laxity threshold
    (when it may relax exit checks as a signal) minus the same share on other
    days.  A share, not a count: the 2016 wave (more attempts by every route)
    does not count as a rise, nor do exits from Russia and other hosts.  A
    difference, not a ratio: with strict checks almost no group passes on
    other days, and a ratio over zero passes is infinite whatever happens on
    signal days (with laxity knocked out, 2 of 49 passed on and 0 of 37 off).
    """
    result = world.main()
    groups = _events(result, 2012, 2016, kind="defection_group", country="China", route="legal")
    signal = np.zeros(groups["day"].size, dtype=bool)
    for r in np.unique(groups["replicate"]):
        mine = groups["replicate"] == r
        signal[mine] = _signal_days(result, int(r), groups["day"][mine])
    passed = groups["outcome"] == "escaped"
    checked = passed | (groups["outcome"] == "stopped_at_exit")
    reps = groups["replicate"]
    # groups, not members: the check passes or stops a group as a whole
    parts = {
        "passed_on": per_replicate(result, reps, (passed & signal).astype(float)),
        "checked_on": per_replicate(result, reps, (checked & signal).astype(float)),
        "passed_off": per_replicate(result, reps, (passed & ~signal).astype(float)),
        "checked_off": per_replicate(result, reps, (checked & ~signal).astype(float)),
    }
    return Pooled(parts, _share_difference, _share_difference(parts))


def _share_difference(m: Mapping[str, Any]) -> Any:
    """passed_on / checked_on - passed_off / checked_off (means, or per replicate: NaN where
    a share has no group)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        on = np.divide(m["passed_on"], m["checked_on"])
        off = np.divide(m["passed_off"], m["checked_off"])
    return on - off


def _provocations(result: SimulationResult) -> np.ndarray:
    return years_mean(result, "provocations", 2012, COUNTERFACTUAL_LAST_YEAR)


def _legal_effect(world: World) -> np.ndarray:
    def legal(levers: dict[str, float]) -> np.ndarray:
        return years_total(world.variant(levers), "escapes_legal_route", 2012, 2016)

    strict = legal({"china_exit_strictness": 1.0, "beijing_discretion": 0.0})
    lax = legal({"china_exit_strictness": 0.3, "beijing_discretion": 0.0})
    return lax - strict


def _lever_effect_on_tests(lever: str, value: float) -> Statistic:
    def compute(world: World) -> np.ndarray:
        return _provocations(world.variant({lever: value})) - _provocations(world.variant())

    return compute


#: UN coal, textile and seafood bans from the start (the trade provisions of UNSCR 2371
#: and 2375), enforced as each host chooses (issue 12: China's enforcement follows its
#: displeasure and the international pressure), with a Beijing quick to anger: the bans
#: bring the economy near Beijing's collapse threshold, its own sanctions would push it
#: below (F9).  Pyongyang's testing is the model's own (no weapons-drive input).
SQUEEZE_LEVERS = {"un_coal": 1.0, "un_textiles": 1.0, "un_seafood": 1.0}
SQUEEZE_PARAMS = {"strategic.sanctions_response": 1.0}
#: a famine-scale surge: Pyongyang's border open and crossings at 1990s-famine scale (F9)
SURGE_LEVERS = {"nk_border_control": 0.0}
SURGE_PARAMS = {"wider_flow.crossing_rate_per_year": 60_000.0}


def _economy_margin(world: World) -> np.ndarray:
    """Lowest monthly economy index 2012-2016 under the squeeze, minus Beijing's threshold."""
    result = world.variant(SQUEEZE_LEVERS, SQUEEZE_PARAMS)
    mask = _months_between(result, "2012-01", "2016-12")
    threshold = world.reference.params.strategic.collapse_threshold
    return result.outcome("economy_index")[:, mask].min(axis=1) - threshold


def _sealed_in_surge(world: World) -> Pooled:
    """Beijing's border stringency in surge months: crossings above its exodus threshold (F9).

    Surge months (2013-2016): annualised crossings above the reference
    scenario's ``exodus_threshold_per_year`` in that month and the two before.
    """
    result = world.variant(SURGE_LEVERS, SURGE_PARAMS)
    mask = _months_between(result, "2013-01", "2016-12")
    threshold = world.reference.params.strategic.exodus_threshold_per_year
    above = result.outcome("border_crossings") * 12.0 > threshold
    sustained = above.copy()
    sustained[:, 2:] &= above[:, 1:-1] & above[:, :-2]
    sustained[:, :2] = False
    sustained &= mask[None, :]
    stringency = result.outcome("border_stringency")
    return ratio_of((stringency * sustained).sum(axis=1), sustained.sum(axis=1))


def fact_rows(scenario: Scenario) -> list[FactRow]:
    """The rows, in order (targets and sources documented in each row)."""
    sp = scenario.params.strategic
    pressure = _pressure_knockout()
    return [
        FactRow(
            "F1",
            "about 50,000 North Koreans working abroad in 2016",
            "workers abroad, June 2016",
            "40,000-65,000",
            40_000,
            65_000,
            "overlap",
            "persons",
            "02_overseas_workers_estimates.csv: 50,000 (2015-16), 58,000 (NIS), up to 100,000",
            (2016, 2016),
            "M1/M4 postings: posts vacated by rotations home are refilled by recruits, "
            "up to the contracted and growing headcount",
            Knockout("no recruitment: vacant posts wait ten years", {"labour.hiring_days": 3650}),
            lambda w: in_month(w.main(), "workers_abroad", "2016-06"),
        ),
        FactRow(
            "F2",
            "about 130 restaurants abroad in 2016",
            "restaurants open, April 2016",
            "120-140",
            120,
            140,
            "overlap",
            "restaurants",
            "03_restaurants_abroad.csv: about 130 from two sources at two dates (end-2015 "
            "NIS, April 2016 Chosun and AP); the range: 130 +/- 10",
            (2016, 2016),
            "M8 openings: Pyongyang opens restaurants (about 100 in 2013, 130 by 2016)",
            Knockout("no openings", {"restaurants.opening_rate_per_year": 0.0}),
            lambda w: in_month(w.main(), "restaurants_open", "2016-04"),
        ),
        FactRow(
            "F2",
            "about USD 10 million a year to the state from restaurants",
            "restaurant remittances, 2015",
            "USD 8-40 million",
            8e6,
            40e6,
            "overlap",
            "USD/year",
            "03_restaurants_abroad.csv: USD 10 million (government) to 40 million (Chosun)",
            (2015, 2015),
            "M1 remittances: restaurant sales net of costs and pay go to Pyongyang (the "
            "quota first, the surplus above the reserve cap)",
            Knockout("no restaurant sales", {"restaurants.gross_sales_per_day": 0.0}),
            lambda w: in_year(w.main(), "remittance_restaurants_usd", 2015),
        ),
        FactRow(
            "F3",
            "a 2016 wave of restaurant defections of the order of 16",
            "restaurant defectors out, 2016 (mean over replicates)",
            "5-50 persons",
            5,
            50,
            # "mean", not "overlap": the count is zero in a third of replicates even with
            # the mechanism, so a band that only has to touch 5 is reached by the noise of
            # the knocked-out model too (its 95th percentile 5.05); the expected wave cannot
            "mean",
            "persons",
            "04_restaurant_worker_group_defections.csv: 13 (April) + 3 (May) in 2016",
            (2016, 2016),
            "M3-M5 pressure to flight: the boycott's pay cuts, longer hours and arrears "
            "raise stress and push managers to flee",
            pressure,
            lambda w: in_year(w.main(), "restaurant_defectors", 2016),
        ),
        FactRow(
            "F3",
            "far above the quiet years before",
            "2016 defectors / (mean 2012-2015 + 1)",
            ">= 5",
            5,
            np.inf,
            "overlap",
            "ratio",
            "04_restaurant_worker_group_defections.csv: 16 in 2016; before 2016 one or two "
            "a year (a ratio of at least 16 / 3)",
            (2012, 2016),
            "M3-M5 pressure to flight (as above)",
            pressure,
            _wave_ratio,
        ),
        FactRow(
            "F4",
            "groups, not lone individuals, dominate restaurant defections",
            "share of escaped restaurant defectors in parties of 2+, 2012-2016",
            ">= 0.5",
            0.5,
            1.0,
            "mean",
            "share",
            "04_restaurant_worker_group_defections.csv: 16 of 17 known in groups (2014-2016)",
            (2012, 2016),
            "M5 group formation: co-workers join a plot (contagion) or follow a manager",
            Knockout(
                "no groups: nobody joins a plot, no manager leads one",
                {
                    "defection.contagion": 0.0,
                    "defection.manager_join": 0.0,
                    "defection.manager_hazard_per_year": 0.0,
                },
            ),
            lambda w: _group_share(w, 2012, 2016, 2),
        ),
        FactRow(
            "F4",
            "some restaurant defections are manager-led",
            "share of restaurant attempts led by a manager, 2012-2016",
            "0.01-0.9",
            0.01,
            0.9,
            "mean",
            "share",
            "04_restaurant_worker_group_defections.csv: Ningbo 2016, manager and 12 staff",
            (2012, 2016),
            "M5 manager-led flight: managers under quota pressure start or take over plots",
            Knockout(
                "managers never lead",
                {"defection.manager_join": 0.0, "defection.manager_hazard_per_year": 0.0},
            ),
            _manager_share,
        ),
        FactRow(
            "F5",
            "China arrests and repatriates thousands of North Koreans a year",
            "repatriations from China per year, mean 2012-2016",
            "1,000-10,000",
            1_000,
            10_000,
            "overlap",
            "persons/year",
            "05_china_detentions_repatriations.csv: 4,800-8,900 a year (1998-2006), ~5,000",
            (2012, 2016),
            "M7/M10 enforcement: China arrests hidden North Koreans at its border "
            "stringency and repatriates them",
            Knockout("no arrests", {"enforcement.arrest_rate_per_year": 0.0}),
            lambda w: years_mean(w.main(), "repatriations_from_china", 2012, 2016),
        ),
        FactRow(
            "F6",
            "laxer Chinese exit policy raises successful legal-route defections",
            "legal-route escapes 2012-2016: exit strictness 0.3 minus 1.0, Beijing's "
            "discretion off (paired)",
            "> 0",
            1e-9,
            np.inf,
            "mean",
            "persons",
            f"{ARTICLE}: the 2016 groups left China legally with valid documents",
            (2012, 2016),
            "M6/M7 legal exit: groups with their passports leave through China's exit check",
            Knockout(
                "no group holds documents: no passport recovered, no manager leads",
                {
                    "routes.passport_reclaim_with_helper": 0.0,
                    "defection.manager_join": 0.0,
                    "defection.manager_hazard_per_year": 0.0,
                },
            ),
            _legal_effect,
        ),
        FactRow(
            "F7",
            "boycotts lower restaurant revenue",
            "restaurant sales 2016 / 2015",
            "< 0.95",
            0.0,
            0.95,
            "mean",
            "ratio",
            f"{ARTICLE}: restaurants lost customers after the 2016 tests",
            (2015, 2016),
            "M2 demand shocks: tests and Seoul's advisory keep South Korean customers "
            "away; sanctions cut Chinese public demand",
            Knockout(
                "no demand shocks: no advisory compliance, no post-test or sanctions loss",
                {
                    "demand.advisory_compliance": 0.0,
                    "demand.provocation_loss": 0.0,
                    "demand.sanctions_loss": 0.0,
                },
            ),
            lambda w: (
                in_year(w.main(), "restaurant_sales_usd", 2016)
                / np.maximum(in_year(w.main(), "restaurant_sales_usd", 2015), 1.0)
            ),
        ),
        FactRow(
            "F7",
            "managers pass the shortfall on as pay cuts",
            "restaurant pay level 2016 / 2015",
            "< 0.95",
            0.0,
            0.95,
            "mean",
            "ratio",
            f"{ARTICLE}: longer hours for less pay; salaries suspended in Dandong",
            (2015, 2016),
            "M3 manager response: a quota owed whatever the demand turns lost sales into pay cuts",
            Knockout(
                "managers do not adjust pay or hours (over ten years)",
                {"restaurants.adjustment_days": 3650},
            ),
            lambda w: (
                in_year(w.main(), "pay_level_restaurant", 2016)
                / np.maximum(in_year(w.main(), "pay_level_restaurant", 2015), 1e-9)
            ),
        ),
        FactRow(
            "F7",
            "and as longer hours",
            "restaurant hours 2016 minus 2015",
            "> 0",
            1e-9,
            np.inf,
            "mean",
            "x normal hours",
            f"{ARTICLE}: most managers force longer hours",
            (2015, 2016),
            "M3 manager response: hours lengthen with the gap",
            Knockout("no longer hours (hours_max 1)", {"restaurants.hours_max": 1.0}),
            lambda w: (
                in_year(w.main(), "hours_restaurant", 2016)
                - in_year(w.main(), "hours_restaurant", 2015)
            ),
        ),
        FactRow(
            "F8",
            "flight attempts lead to closures",
            "restaurant closures per day in the 30 days after an attempt there, relative "
            "to the same restaurant's rate in days 30-364 after it, attempts 2012-2016",
            ">= 5",
            5.0,
            np.inf,
            "mean",
            "relative risk",
            f"{ARTICLE}: restaurants shut after attempts in 2000 and 2007",
            (2012, 2016),
            "M8 closures: Pyongyang shuts a site after an escape or a foiled attempt",
            Knockout(
                "no closure after attempts",
                {"regime.closure_after_escape": 0.0, "regime.closure_after_attempt": 0.0},
            ),
            _closure_risk,
        ),
        FactRow(
            "F8",
            "and tighter control",
            "surveillance in the 3 months after an attempt minus the 3 months before, "
            "attempts 2013-2016",
            "> 0",
            1e-9,
            np.inf,
            "mean",
            "surveillance units",
            f"{ARTICLE}: the regime tightens control after flights",
            (2013, 2016),
            "M8 control: surveillance and screening tighten after each attempt, then relax",
            Knockout(
                "control does not tighten",
                {"regime.surveillance_jump": 0.0, "regime.screening_jump": 0.0},
            ),
            _control_after_attempts,
        ),
        FactRow(
            "F9",
            "Chinese sanctions shift Pyongyang's provocation rate",
            "tests per year 2012-2016: Chinese sanctions 0.6 minus baseline (paired)",
            "< 0",
            -np.inf,
            -1e-9,
            "mean",
            "tests/year",
            f"{ARTICLE}: under pressure Pyongyang sends envoys and pauses tests",
            (2012, 2016),
            "M9 pressure: Chinese pressure pauses tests and brings envoys and conciliation",
            Knockout(
                "pressure neutral: no pause, no envoys",
                {"strategic.beta_pressure": 0.0, "strategic.envoy_rate_per_year": 0.0},
            ),
            _lever_effect_on_tests("china_sanctions", 0.6),
        ),
        FactRow(
            "F9",
            "aid shifts Pyongyang's provocation rate",
            "tests per year 2012-2016: full food aid minus baseline (paired)",
            "< 0",
            -np.inf,
            -1e-9,
            "mean",
            "tests/year",
            f"{ARTICLE}: food aid allegedly in exchange for halting tests",
            (2012, 2016),
            "M9 aid buys restraint (tied to talks it draws Pyongyang into) and props up "
            "the economy",
            Knockout(
                "aid neutral: no restraint bought, no economic relief, no talks for carrots",
                {
                    "strategic.beta_aid": 0.0,
                    "strategic.aid_economy_effect": 0.0,
                    # issue 12 (M9 bargaining): aid above 0.5 draws Pyongyang into talks,
                    # which pause tests; part of what aid buys
                    "strategic.talks_offer_prob": 0.0,
                },
            ),
            _lever_effect_on_tests("food_aid", 1.0),
        ),
        FactRow(
            "F9",
            "Beijing never pushes the regime to collapse",
            "lowest monthly economy index 2012-2016 minus Beijing's collapse threshold "
            f"({sp.collapse_threshold:g}), under UN coal, textile and seafood bans (each "
            "host enforcing as it chooses) and a Beijing quick to anger",
            ">= -0.05",
            -0.05,
            np.inf,
            "inside",
            "index",
            f"{ARTICLE}: Beijing will not starve the regime into desperation; sticks are "
            "calibrated to hurt, not to cripple",
            (2012, 2016),
            "M9 Beijing's limit: under its collapse threshold it eases its own sanctions, "
            "gives aid and enforces the UN bans at most at its guarded level",
            Knockout("no collapse limit", {"strategic.collapse_threshold": 0.0}),
            _economy_margin,
        ),
        FactRow(
            "F9",
            "nor into a refugee exodus",
            "Beijing's border stringency in months of a crossing surge above its exodus "
            f"threshold ({sp.exodus_threshold_per_year:,.0f}/year), 2013-2016, famine-scale "
            "crossings",
            ">= 0.95",
            0.95,
            1.0,
            "mean",
            "share",
            f"{ARTICLE}: Beijing wants no mass exodus of refugees",
            (2013, 2016),
            "M9 Beijing's limit: above its exodus threshold it enforces the border at full "
            "stringency",
            Knockout("no exodus limit", {"strategic.exodus_threshold_per_year": 1e7}),
            _sealed_in_surge,
        ),
        FactRow(
            "P1",
            "the 2016 wave follows the boycott and the pay cuts, not before",
            "restaurant defectors per month after restaurant pay first fell below 80 % of "
            "its 2015 level, over the rate before, 2015-2016",
            ">= 3",
            3.0,
            np.inf,
            "mean",
            "rate ratio",
            f"04_restaurant_worker_group_defections.csv and {ARTICLE}: 16 left in April "
            "and May 2016, after the January test and the March advisory; at most one a year "
            "before (a ratio above 10)",
            (2015, 2016),
            "M3-M5 pressure to flight (as F3)",
            pressure,
            _wave_after_cuts,
        ),
        FactRow(
            "P1",
            "by months: not at once",
            "restaurant flight attempts (persons) per day in January and March 2016, the "
            "months of the test and of the advisory, relative to April-June 2016",
            "<= 0.5",
            0.0,
            0.5,
            "mean",
            "rate ratio",
            "04_restaurant_worker_group_defections.csv: none in January-March 2016, 13 in "
            "April, 3 in May (ratio 0)",
            (2016, 2016),
            "M3/M4 lags: managers cut pay over weeks and stress builds over weeks",
            Knockout(
                "no lags: pay, hours and stress follow conditions within a day",
                {"restaurants.adjustment_days": 1.0, "workers.stress_days": 1.0},
            ),
            _wave_at_once,
        ),
        FactRow(
            "P2",
            "groups dominate: parties of three or more carry most restaurant defectors",
            "share of escaped restaurant defectors in parties of 3+, 2012-2016",
            ">= 0.5",
            0.5,
            1.0,
            "mean",
            "share",
            "04_restaurant_worker_group_defections.csv: the 2016 parties of 13 and 3",
            (2012, 2016),
            "M5 plots grow: co-workers join in proportion to their stress, or follow a "
            "manager who leads",
            Knockout(
                "plots do not grow: nobody joins or follows",
                {"defection.contagion": 0.0, "defection.manager_follow": 0.0},
            ),
            lambda w: _group_share(w, 2012, 2016, 3),
        ),
        FactRow(
            "P3",
            "legal-route escapes rise only when exit checks relax",
            "share of documented groups that pass China's exit check on days Beijing's "
            "displeasure is above its laxity threshold, minus the share on other days, "
            "2012-2016",
            ">= 0.2",
            0.2,
            1.0,
            "mean",
            "share difference",
            f"{ARTICLE}: China let the 2016 groups leave 'in accordance with law', border "
            "laxity as a signal of displeasure",
            (2012, 2016),
            "M9 exit laxity: Beijing relaxes exit checks when displeased with Pyongyang",
            Knockout("Beijing never relaxes exit checks", {"strategic.laxity_depth": 0.0}),
            _exit_pass_when_displeased,
        ),
    ]


# ---------------------------------------------------------------------------
# evaluation


def _default_runner(scenario: Scenario, replicates: int) -> SimulationResult:
    return run_scenario(scenario, replicates=replicates)


def _first_replicates(result: SimulationResult, n: int) -> SimulationResult | None:
    """Replicates 0..n-1 of ``result`` if it holds them all (the same seeds a new run would use)."""
    position = {int(r): i for i, r in enumerate(result.replicates)}
    if any(i not in position for i in range(n)):
        return None
    rows = np.array([position[i] for i in range(n)])
    keep = np.isin(result.events["replicate"], np.arange(n)) if result.events else None
    events = {k: v[keep] for k, v in result.events.items()} if keep is not None else {}
    return dataclasses.replace(
        result, replicates=result.replicates[rows], monthly=result.monthly[rows], events=events
    )


class _WithMechanism(World):
    """The run itself: its main ensemble, and its first replicates as the baseline variant."""

    def __init__(
        self, scenario: Scenario, result: SimulationResult, runner: Runner, n_cf: int
    ) -> None:
        super().__init__(scenario, scenario, lambda: result, runner, n_cf)
        self._result = result

    def variant(
        self,
        levers: Mapping[str, float] | None = None,
        params: Mapping[str, float] | None = None,
        replicates: int | None = None,
    ) -> SimulationResult:
        # replicate i of the run is replicate i of a shortened run over the same years
        plain = not levers and not params and replicates in (None, self.n_cf)
        if plain and ("base",) not in self._cache:
            first = _first_replicates(self._result, self.n_cf)
            if first is not None:
                self._cache[("base",)] = first
        if plain and ("base",) in self._cache:
            return self._cache[("base",)]
        return super().variant(levers, params, replicates)


def _knocked_world(
    scenario: Scenario, knockout: Knockout, n_main: int, last_year: int, runner: Runner, n_cf: int
) -> World:
    knocked = scenario.with_overrides(
        params=dict(knockout.params) or None, levers=dict(knockout.levers) or None
    )
    end = np.datetime64(f"{last_year}-12-31", "D")
    # the main ensemble runs only as far as its rows read (and not past the scenario's end)
    main_scenario = knocked.with_overrides(end=str(end)) if knocked.end > end else knocked
    return World(scenario, knocked, lambda: runner(main_scenario, n_main), runner, n_cf)


def check_facts(
    scenario: Scenario,
    result: SimulationResult,
    runner: Runner | None = None,
    counterfactual_replicates: int = COUNTERFACTUAL_REPLICATES,
) -> list[FactCheck]:
    """Every row on ``result`` (an ensemble of ``scenario``), running its counterfactuals.

    Rows about years the run does not cover come back ``not evaluated``
    (``consistent`` None).  Counterfactual ensembles use replicates
    ``0..n-1`` under the scenario's seed and parameter draws, paired with
    the run; ``runner`` lets callers run them on an executor.
    """
    runner = runner or _default_runner
    n_cf = max(1, min(counterfactual_replicates, result.replicates.shape[0]))
    world = _WithMechanism(scenario, result, runner, n_cf)
    return [row.evaluate(world) for row in fact_rows(scenario)]


#: the keys of a row that do not depend on the ensemble
ROW_KEYS: tuple[str, ...] = (
    "id",
    "statement",
    "statistic",
    "target",
    "target_low",
    "target_high",
    "unit",
    "rule",
    "band",
    "window",
    "mechanism",
    "source",
)


@dataclass(frozen=True)
class KnockoutCheck:
    """A row with its mechanism and with it knocked out; evidence when only the first holds."""

    row: FactRow
    with_mechanism: FactCheck
    knocked_out: FactCheck

    @property
    def evidence(self) -> bool | None:
        """Consistent with the mechanism and inconsistent without it (None: not evaluated)."""
        a, b = self.with_mechanism.consistent, self.knocked_out.consistent
        if a is None or b is None:
            return None
        return bool(a and not b)

    def to_dict(self) -> dict[str, Any]:
        def side(check: FactCheck) -> dict[str, Any]:
            full = check.to_dict()
            keys = ("value", "low", "high", "median", "p5", "p95", "consistent", "status", "note")
            return {k: full[k] for k in keys}

        base = self.with_mechanism.to_dict()
        return {
            **{k: base[k] for k in ROW_KEYS},
            "knockout": self.row.knockout.to_dict(),
            "with_mechanism": side(self.with_mechanism),
            "knocked_out": side(self.knocked_out),
            "evidence": self.evidence,
        }


def check_knockouts(
    scenario: Scenario,
    result: SimulationResult,
    runner: Runner | None = None,
    counterfactual_replicates: int = COUNTERFACTUAL_REPLICATES,
    progress: Callable[[int, int], None] | None = None,
) -> list[KnockoutCheck]:
    """Every row with its mechanism (on ``result``) and with its knock-out.

    A knock-out's ensembles use the run's replicate count (its main ensemble)
    and ``counterfactual_replicates`` (its variants), the same seed and the
    same parameter draws, except the knocked-out parameters: paired with the
    run.  Rows sharing a knock-out share its ensembles.
    """
    runner = runner or _default_runner
    n_main = int(result.replicates.shape[0])
    n_cf = max(1, min(counterfactual_replicates, n_main))
    rows = fact_rows(scenario)
    with_world = _WithMechanism(scenario, result, runner, n_cf)
    worlds: dict[tuple[Any, ...], World] = {}
    for row in rows:
        if row.knockout.key not in worlds:
            last = max(r.window[1] for r in rows if r.knockout.key == row.knockout.key)
            worlds[row.knockout.key] = _knocked_world(
                scenario, row.knockout, n_main, last, runner, n_cf
            )
    out = []
    for i, row in enumerate(rows):
        world = worlds[row.knockout.key]
        out.append(KnockoutCheck(row, row.evaluate(with_world), row.evaluate(world)))
        if progress is not None:
            progress(i + 1, len(rows))
    return out
