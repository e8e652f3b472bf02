"""Facts F1-F9 of SYSTEM.md checked on an ensemble of the default scenario.

Each check compares a statistic of the simulated ensemble (median and 90 %
band over replicates) with a target range taken from SYSTEM.md and
shared/data, or, for the lever facts (F6, F9), with paired counterfactual
ensembles run on the same seeds (common random numbers).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.simulate import SimulationResult
from .ensemble import run_scenario
from .summary import yearly

if TYPE_CHECKING:
    from ..scenario import Scenario


@dataclass(frozen=True)
class FactCheck:
    """One row of the facts table."""

    id: str
    statement: str
    statistic: str
    target: str
    target_low: float
    target_high: float
    median: float
    p5: float
    p95: float
    consistent: bool
    unit: str
    source: str
    covered: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-able row; infinite bounds become None, and ``consistent`` is None for a row
        not evaluated (its window is not simulated)."""
        row = asdict(self)
        for key in ("target_low", "target_high", "median", "p5", "p95"):
            value = row[key]
            row[key] = None if value is None or not np.isfinite(value) else float(value)
        if not self.covered:  # not evaluated: neither consistent nor inconsistent
            row["consistent"] = None
        return row


Runner = Callable[["Scenario", int], SimulationResult]


class PeriodNotCoveredError(ValueError):
    """The run does not cover the period a fact is about."""


#: replicates of each counterfactual ensemble (paired with the first replicates
#: of the main run through common random numbers)
COUNTERFACTUAL_REPLICATES = 10

#: counterfactual ensembles (F6, F9) run from the scenario start to the end of
#: this year: the years the default scenario replays from dated inputs
COUNTERFACTUAL_LAST_YEAR = 2016


def _default_runner(scenario: Scenario, replicates: int) -> SimulationResult:
    return run_scenario(scenario, replicates=replicates)


def _band(values: np.ndarray) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    q5, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
    return float(q50), float(q5), float(q95)


def _year_values(result: SimulationResult, name: str) -> tuple[np.ndarray, np.ndarray]:
    years, values = yearly(result)
    return years, values[:, result.outcome_names.index(name), :]


def _in_year(result: SimulationResult, name: str, year: int) -> np.ndarray:
    years, values = _year_values(result, name)
    if year not in years:
        raise PeriodNotCoveredError(f"the run does not cover {year}")
    return values[:, int(np.flatnonzero(years == year)[0])]


def _years_mean(result: SimulationResult, name: str, first: int, last: int) -> np.ndarray:
    years, values = _year_values(result, name)
    sel = (years >= first) & (years <= last)
    if int(sel.sum()) < last - first + 1:  # a mean over part of the window is another statistic
        raise PeriodNotCoveredError(f"the run does not cover {first}-{last}")
    return values[:, sel].mean(axis=1)


def _month(result: SimulationResult, name: str, month: str) -> np.ndarray:
    index = np.flatnonzero(result.months == np.datetime64(month, "M"))
    if index.size == 0:
        raise PeriodNotCoveredError(f"the run does not cover {month}")
    return result.outcome(name)[:, int(index[0])]


def _check(
    fid: str,
    statement: str,
    statistic: str,
    target: str,
    low: float,
    high: float,
    values: Callable[[], np.ndarray],
    unit: str,
    source: str,
) -> FactCheck:
    """One fact row; a run that does not cover the fact's period gives NaN, not consistent."""
    try:
        median, p5, p95 = _band(values())
        covered = True
    except PeriodNotCoveredError:
        median = p5 = p95 = float("nan")
        covered = False
    return FactCheck(
        id=fid,
        statement=statement,
        statistic=statistic,
        target=target,
        target_low=low,
        target_high=high,
        median=median,
        p5=p5,
        p95=p95,
        consistent=bool(covered and low <= median <= high),
        unit=unit,
        source=source,
        covered=covered,
    )


#: a calendar year named in a fact row's statistic ("workers abroad, June 2016", "2012-2020")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def statistic_years(statistic: str) -> tuple[int, int] | None:
    """The first and last calendar year a row's statistic names (its window; None: none)."""
    years = [int(y) for y in _YEAR.findall(statistic)]
    return (min(years), max(years)) if years else None


def covers_years(result: SimulationResult, first: int, last: int) -> bool:
    """Whether ``result`` holds every month of the calendar years ``first`` to ``last``."""
    months = result.months.astype("datetime64[M]")
    return bool(
        months.size
        and months[0] <= np.datetime64(f"{first}-01", "M")
        and months[-1] >= np.datetime64(f"{last}-12", "M")
    )


def not_evaluated(fact: FactCheck) -> FactCheck:
    """The row with no statistics and ``covered=False``: its window is not simulated."""
    nan = float("nan")
    return dataclasses.replace(fact, median=nan, p5=nan, p95=nan, consistent=False, covered=False)


def within_window(facts: list[FactCheck], result: SimulationResult) -> list[FactCheck]:
    """Each row evaluated only when the run covers every year its statistic names
    (``--years 3`` reaches none of 2015-2016: those rows are not evaluated, not 'no')."""
    out = []
    for fact in facts:
        window = statistic_years(fact.statistic)
        reached = window is None or covers_years(result, *window)
        out.append(fact if reached else not_evaluated(fact))
    return out


def _restaurant_groups(result: SimulationResult) -> dict[str, np.ndarray]:
    ev = result.events
    sel = (ev["kind"] == "defection_group") & (ev["sector"] == "restaurant")
    return {k: v[sel] for k, v in ev.items()}


def _per_replicate(result: SimulationResult, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum ``weights`` per replicate of ``result`` (rows hold replicate ids)."""
    out = np.zeros(result.replicates.shape[0])
    position = {int(r): i for i, r in enumerate(result.replicates)}
    for r, w in zip(rows, weights, strict=True):
        out[position[int(r)]] += w
    return out


def _group_share(result: SimulationResult) -> np.ndarray:
    """Share of escaped restaurant defectors who left in groups of two or more (F4)."""
    groups = _restaurant_groups(result)
    escaped = groups["outcome"] == "escaped"
    total = _per_replicate(result, groups["replicate"][escaped], groups["size"][escaped])
    grouped = escaped & (groups["size"] >= 2)
    in_groups = _per_replicate(result, groups["replicate"][grouped], groups["size"][grouped])
    return np.where(total > 0, in_groups / np.maximum(total, 1), np.nan)


def _manager_share(result: SimulationResult) -> np.ndarray:
    """Share of restaurant flight attempts led by a manager (F4)."""
    groups = _restaurant_groups(result)
    attempts = _per_replicate(result, groups["replicate"], np.ones(groups["replicate"].shape[0]))
    led = _per_replicate(result, groups["replicate"], groups["manager_led"].astype(float))
    return np.where(attempts > 0, led / np.maximum(attempts, 1), np.nan)


def _closures_per_attempt(result: SimulationResult) -> np.ndarray:
    """Sites shut after an attempt, per attempt (F8)."""
    ev = result.events
    attempts = _per_replicate(
        result,
        ev["replicate"][ev["kind"] == "defection_group"],
        np.ones(int((ev["kind"] == "defection_group").sum())),
    )
    after = (ev["kind"] == "closure") & (ev["outcome"] == "after_attempt")
    closures = _per_replicate(result, ev["replicate"][after], np.ones(int(after.sum())))
    return np.where(attempts > 0, closures / np.maximum(attempts, 1), np.nan)


def _control_after_attempts(result: SimulationResult) -> np.ndarray:
    """Network control in months after an attempt minus in quiet months (F8).

    Quiet months: no attempt in the twelve months before.  Positive values
    mean control is tighter after flight attempts.
    """
    attempts = result.outcome("defection_groups_restaurant") + result.outcome(
        "defection_groups_labour"
    )
    control = result.outcome("surveillance_level")
    out = np.full(attempts.shape[0], np.nan)
    for r in range(attempts.shape[0]):
        after = np.zeros(attempts.shape[1], dtype=bool)
        after[1:] = attempts[r, :-1] > 0
        recent = np.convolve(attempts[r] > 0, np.ones(12), mode="full")[: attempts.shape[1]]
        quiet = np.zeros(attempts.shape[1], dtype=bool)
        quiet[1:] = recent[:-1] == 0
        if after.any() and quiet.any():
            out[r] = control[r, after].mean() - control[r, quiet].mean()
    return out


def _nanfill(values: np.ndarray) -> np.ndarray:
    """Replicates where a share is undefined (no events) are left out of the band."""
    kept = values[~np.isnan(values)]
    return kept if kept.size else np.array([np.nan])


def _counterfactual(scenario: Scenario, levers: dict[str, float]) -> Scenario:
    """The scenario with other levers, run only to the end of the counterfactual window."""
    end = np.datetime64(f"{COUNTERFACTUAL_LAST_YEAR}-12-31", "D")
    changed = scenario.with_overrides(levers=levers) if levers else scenario
    if scenario.end > end and scenario.start < end:
        changed = changed.with_overrides(end=str(end))
    return changed


def _window_total(result: SimulationResult | None, name: str) -> np.ndarray:
    """Total of a flow from the start to the end of the counterfactual window, per replicate."""
    if result is None:  # the counterfactual was not run: the window is not covered
        raise PeriodNotCoveredError(f"the run does not cover 2012-{COUNTERFACTUAL_LAST_YEAR}")
    years = result.months.astype("datetime64[Y]").astype(int) + 1970
    return result.outcome(name)[:, years <= COUNTERFACTUAL_LAST_YEAR].sum(axis=1)


def _first_replicates(result: SimulationResult, n: int) -> SimulationResult | None:
    """Replicates 0..n-1 of ``result`` if it holds them all (the same seeds a new run would use)."""
    position = {int(r): i for i, r in enumerate(result.replicates)}
    if any(i not in position for i in range(n)):
        return None
    rows = np.array([position[i] for i in range(n)])
    return dataclasses.replace(
        result, replicates=result.replicates[rows], monthly=result.monthly[rows]
    )


def check_facts(
    scenario: Scenario,
    result: SimulationResult,
    runner: Runner | None = None,
    counterfactual_replicates: int = COUNTERFACTUAL_REPLICATES,
) -> list[FactCheck]:
    """Check F1-F9 on ``result`` (an ensemble of ``scenario``), running counterfactuals.

    Facts about years the run does not cover (every year the row's statistic names,
    :func:`within_window`) come back with NaN statistics and ``covered=False``: "not
    evaluated", never consistent; the counterfactual ensembles are then not run.
    Counterfactual ensembles (F6, F9) use the scenario's seed, so their replicate i
    is paired with replicate i of the others (common random numbers); ``runner``
    lets callers run them on an executor.
    """
    runner = runner or _default_runner
    n_cf = max(1, min(counterfactual_replicates, result.replicates.shape[0]))
    sp = scenario.params.strategic
    facts = [
        _check(
            "F1",
            "about 50,000 North Koreans working abroad in 2016",
            "workers abroad, June 2016",
            "40,000-65,000",
            40_000,
            65_000,
            lambda: _month(result, "workers_abroad", "2016-06"),
            "persons",
            "02_overseas_workers_estimates.csv: 50,000 (2015-16), 58,000 (NIS), up to 100,000",
        ),
        _check(
            "F2",
            "about 130 restaurants abroad in 2016",
            "restaurants open, April 2016",
            "110-150",
            110,
            150,
            lambda: _month(result, "restaurants_open", "2016-04"),
            "restaurants",
            "03_restaurants_abroad.csv: 130 (end-2015, April 2016)",
        ),
        _check(
            "F2",
            "about USD 10 million a year to the state from restaurants",
            "restaurant remittances, 2015",
            "USD 8-40 million",
            8e6,
            40e6,
            lambda: _in_year(result, "remittance_restaurants_usd", 2015),
            "USD/year",
            "03_restaurants_abroad.csv: USD 10 million (government) to 40 million (Chosun)",
        ),
        _check(
            "F3",
            "a 2016 wave of restaurant defections of the order of 16",
            "restaurant defectors out, 2016",
            "5-50 persons",
            5,
            50,
            lambda: _in_year(result, "restaurant_defectors", 2016),
            "persons",
            "04_restaurant_worker_group_defections.csv: 13 (April) + 3 (May) in 2016",
        ),
        _check(
            "F3",
            "far above the quiet years before",
            "2016 defectors / (mean 2012-2015 + 1)",
            ">= 3",
            3,
            np.inf,
            lambda: (
                _in_year(result, "restaurant_defectors", 2016)
                / (_years_mean(result, "restaurant_defectors", 2012, 2015) + 1.0)
            ),
            "ratio",
            "04_restaurant_worker_group_defections.csv: before 2016 one or two at a time",
        ),
        _check(
            "F4",
            "groups, not lone individuals, dominate restaurant defections",
            "share of restaurant defectors in groups of 2+, 2012-2020",
            ">= 0.5",
            0.5,
            1.0,
            lambda: _nanfill(_group_share(result)),
            "share",
            "04_restaurant_worker_group_defections.csv",
        ),
        _check(
            "F4",
            "some restaurant defections are manager-led",
            "share of restaurant attempts led by a manager, 2012-2020",
            "0.01-0.9",
            0.01,
            0.9,
            lambda: _nanfill(_manager_share(result)),
            "share",
            "04_restaurant_worker_group_defections.csv: Ningbo 2016, manager and 12 staff",
        ),
        _check(
            "F5",
            "China arrests and repatriates thousands of North Koreans a year",
            "repatriations from China per year, mean 2012-2016",
            "1,000-10,000",
            1_000,
            10_000,
            lambda: _years_mean(result, "repatriations_from_china", 2012, 2016),
            "persons/year",
            "05_china_detentions_repatriations.csv: 4,800-8,900 a year (1998-2006), ~5,000",
        ),
    ]

    # F6: laxer exit policy, paired ensembles with Beijing's discretion off
    strict = _counterfactual(scenario, {"china_exit_strictness": 1.0, "beijing_discretion": 0.0})
    lax = _counterfactual(scenario, {"china_exit_strictness": 0.3, "beijing_discretion": 0.0})
    # the counterfactual ensembles run only when the run covers their window (--years 3
    # does not reach 2016: F6 and F9's paired rows are then not evaluated, and cost nothing)
    cf_window = covers_years(result, 2012, COUNTERFACTUAL_LAST_YEAR)

    def counterfactual_run(changed: Scenario) -> SimulationResult | None:
        return runner(changed, n_cf) if cf_window else None

    strict_run, lax_run = counterfactual_run(strict), counterfactual_run(lax)
    facts.append(
        _check(
            "F6",
            "laxer Chinese exit policy raises successful legal-route defections",
            "legal-route escapes 2012-2016: exit strictness 0.3 minus 1.0 (paired)",
            "> 0",
            1e-9,
            np.inf,
            lambda: (
                _window_total(lax_run, "escapes_legal_route")
                - _window_total(strict_run, "escapes_legal_route")
            ),
            "persons",
            "seed article: the 2016 groups left China legally with valid documents",
        )
    )

    # F7: boycott year against the year before, within the run
    facts += [
        _check(
            "F7",
            "boycotts lower restaurant revenue",
            "restaurant sales 2016 / 2015",
            "< 0.95",
            0.0,
            0.95,
            lambda: (
                _in_year(result, "restaurant_sales_usd", 2016)
                / np.maximum(_in_year(result, "restaurant_sales_usd", 2015), 1.0)
            ),
            "ratio",
            "seed article: restaurants lost customers after the 2016 tests",
        ),
        _check(
            "F7",
            "managers pass the shortfall on as pay cuts",
            "restaurant pay level 2016 / 2015",
            "< 0.95",
            0.0,
            0.95,
            lambda: (
                _in_year(result, "pay_level_restaurant", 2016)
                / np.maximum(_in_year(result, "pay_level_restaurant", 2015), 1e-9)
            ),
            "ratio",
            "seed article: longer hours for less pay; salaries suspended in Dandong",
        ),
        _check(
            "F7",
            "and as longer hours",
            "restaurant hours 2016 minus 2015",
            "> 0",
            1e-9,
            np.inf,
            lambda: (
                _in_year(result, "hours_restaurant", 2016)
                - _in_year(result, "hours_restaurant", 2015)
            ),
            "x normal hours",
            "seed article: most managers force longer hours",
        ),
        _check(
            "F8",
            "flight attempts lead to closures",
            "sites shut after an attempt, per attempt, 2012-2020",
            "0.05-1",
            0.05,
            1.0,
            lambda: _nanfill(_closures_per_attempt(result)),
            "closures/attempt",
            "seed article: restaurants shut after attempts in 2000 and 2007",
        ),
        _check(
            "F8",
            "and tighter control",
            "added surveillance: months after attempts minus quiet months",
            "> 0",
            1e-9,
            np.inf,
            lambda: _nanfill(_control_after_attempts(result)),
            "surveillance units",
            "seed article: the regime tightens control after flights",
        ),
    ]

    # F9: sanctions and aid shift provocations (paired ensembles); Beijing's limits
    # replicate i of the main run is replicate i of a shortened run up to the window's end
    base_cf = _first_replicates(result, n_cf) or counterfactual_run(_counterfactual(scenario, {}))
    sanctions = counterfactual_run(_counterfactual(scenario, {"china_sanctions": 0.6}))
    aid = counterfactual_run(_counterfactual(scenario, {"food_aid": 1.0}))

    def provocations(res: SimulationResult | None) -> np.ndarray:
        if res is None:
            raise PeriodNotCoveredError(f"the run does not cover 2012-{COUNTERFACTUAL_LAST_YEAR}")
        return _years_mean(res, "provocations", 2012, COUNTERFACTUAL_LAST_YEAR)

    facts += [
        _check(
            "F9",
            "Chinese sanctions shift Pyongyang's provocation rate",
            "tests per year 2012-2016: Chinese sanctions 0.6 minus baseline (paired)",
            "< 0",
            -np.inf,
            -1e-9,
            lambda: provocations(sanctions) - provocations(base_cf),
            "tests/year",
            "seed article: under pressure Pyongyang sends envoys and pauses tests",
        ),
        _check(
            "F9",
            "aid shifts Pyongyang's provocation rate",
            "tests per year 2012-2016: full food aid minus baseline (paired)",
            "< 0",
            -np.inf,
            -1e-9,
            lambda: provocations(aid) - provocations(base_cf),
            "tests/year",
            "seed article: food aid allegedly in exchange for halting tests",
        ),
        _check(
            "F9",
            "Beijing never pushes the regime to collapse",
            "lowest monthly economy index, 2012-2020",
            f">= {sp.collapse_threshold - 0.05:.2f}",
            sp.collapse_threshold - 0.05,
            np.inf,
            lambda: result.outcome("economy_index").min(axis=1),
            "index",
            "seed article: Beijing will not starve the regime into desperation",
        ),
        _check(
            "F9",
            "nor into a refugee exodus",
            "highest monthly crossings (annualised), 2012-2020",
            f"<= {sp.exodus_threshold_per_year:,.0f}/year",
            0.0,
            sp.exodus_threshold_per_year,
            lambda: (result.outcome("border_crossings") * 12.0).max(axis=1),
            "persons/year",
            "seed article: Beijing wants no mass exodus of refugees",
        ),
    ]
    return within_window(facts, result)
