"""Robustness of policies over sampled futures (issue 15, item 3): objectives, metrics, ranks.

A *future* is one replicate index of a run: the parameter set the scenario's
uncertainty draws for it (its posterior, or its declared ranges;
``experiment.posterior``) and the simulation streams of that index
(``core.simulate.replicate_seeds``).  Every policy is run over the same futures
with the same root seed, so future ``i`` is the same world under every policy
(common random numbers in parameters and in noise): a difference between two
policies in future ``i`` is the policies' doing.

An *objective* reduces a run's monthly outcome to one number per future over a
window of years (``statistic``: ``total`` of the months, ``mean``, ``min_month``,
``max_month``, ``max_year``, the largest calendar-year aggregate, or ``end``, the
last month), optionally minus a model parameter (``relative_to``, such as
Beijing's collapse line ``strategic.collapse_threshold``), with a ``direction``
(``min`` or ``max``: what is better) and an optional satisficing ``threshold``.

Robustness metrics of policy ``p`` on objective ``k`` over futures ``i``, with
``v[p, i]`` its value and ``r[p, i]`` its regret (the distance to the best policy
of the set in that future, ``max_q v[q, i] - v[p, i]`` for ``max``,
``v[p, i] - min_q v[q, i]`` for ``min``; McPhail et al. (2018), Robustness metrics,
Earth's Future 6, 169-191):

* ``expected``: mean over futures;
* ``p10``, ``p90``: 10th and 90th percentiles (linear interpolation, numpy's default);
* ``maximin``: the worst value over futures (the lowest for ``max``, the highest for
  ``min``): the policy with the best worst case wins;
* ``minimax_regret``: the largest regret; ``p90_regret``: its 90th percentile;
* ``satisficing``: the share of futures meeting the threshold (``<=`` for ``min``,
  ``>=`` for ``max``); undefined without a threshold.

Ranks per metric (1 is best; ties share the lower rank) show whether the
metrics agree on an ordering; an objective is flagged when two metrics put some
pair of policies in opposite strict orders (a tie under one metric is no conflict).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.outcomes import OUTCOMES
from ..core.params import PARAM_GROUPS, field_specs

if TYPE_CHECKING:
    from ..core.simulate import SimulationResult
    from ..scenario import Scenario

STATISTICS: tuple[str, ...] = ("total", "mean", "min_month", "max_month", "max_year", "end")
DIRECTIONS: tuple[str, ...] = ("min", "max")
METRICS: tuple[str, ...] = (
    "expected",
    "p10",
    "p90",
    "maximin",
    "minimax_regret",
    "p90_regret",
    "satisficing",
)
#: metrics whose larger value is better whatever the objective's direction
_HIGHER_BETTER = {"satisficing"}
#: metrics whose smaller value is better whatever the objective's direction
_LOWER_BETTER = {"minimax_regret", "p90_regret"}
OBJECTIVE_PREFIX = "objective."
OBJECTIVE_KEYS: tuple[str, ...] = (
    "name",
    "outcome",
    "statistic",
    "direction",
    "threshold",
    "from",
    "to",
    "relative_to",
    "title",
)


class RobustnessError(ValueError):
    """Objectives or metrics that cannot be computed as asked (one-line message)."""


@dataclass(frozen=True)
class Objective:
    """One objective: an outcome reduced over a window of years, and what is better."""

    name: str
    outcome: str
    statistic: str
    direction: str  # "min" | "max"
    threshold: float | None = None
    first_year: int | None = None  # window (inclusive); None: the horizon's
    last_year: int | None = None
    relative_to: str | None = None  # "group.name" of a parameter subtracted
    title: str = ""

    def describe(self) -> str:
        """One line: what is computed and what is better."""
        window = (
            f"{self.first_year}-{self.last_year}"
            if self.first_year is not None
            else "the whole horizon"
        )
        minus = f" minus {self.relative_to}" if self.relative_to else ""
        best = "lower" if self.direction == "min" else "higher"
        sat = ""
        if self.threshold is not None:
            sat = f"; satisfied at {'<=' if self.direction == 'min' else '>='} {self.threshold:g}"
        return f"{self.statistic} of {self.outcome}{minus} over {window}, {best} is better{sat}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "statistic": self.statistic,
            "direction": self.direction,
            "threshold": self.threshold,
            "from": self.first_year,
            "to": self.last_year,
            "relative_to": self.relative_to,
            "title": self.title,
            "unit": OUTCOMES[self.outcome].unit,
        }

    def satisfied(self, values: np.ndarray) -> np.ndarray:
        """Which values meet the threshold (all False when there is none)."""
        values = np.asarray(values, dtype=float)
        if self.threshold is None:
            return np.zeros(values.shape, dtype=bool)
        if self.direction == "min":
            return values <= self.threshold
        return values >= self.threshold


def decision_window(scenario: Scenario) -> tuple[int, int]:
    """The default window of objectives: the year the strategic model takes over
    (``endogenous_from``, when Pyongyang's tests become the model's to produce) to the end,
    or the whole horizon when that year is outside it."""
    first = int(str(scenario.start)[:4])
    last = int(str(scenario.end)[:4])
    endo = int(str(scenario.endogenous_from)[:4])
    return (endo, last) if first <= endo <= last else (first, last)


def default_objectives(scenario: Scenario) -> list[Objective]:
    """The objectives of SYSTEM.md's policy question, over the decision window.

    Provocations (nuclear tests with the threshold "none", missile tests), the state's
    hard-currency revenue and the restaurants' share of it (lower: the sanctions' aim),
    the economy's lowest month against Beijing's collapse line (at or above it), the
    peak year of crossings into China against Beijing's exodus line (at or below it)
    and arrivals in South Korea (higher).  Directions and thresholds are assumptions an
    objectives file changes (``--objectives``).
    """
    first, last = decision_window(scenario)
    rows: list[tuple[str, str, str, str, float | None, str | None, str]] = [
        ("nuclear_tests", "nuclear_tests", "total", "min", 0.0, None,
         "nuclear tests (none is the goal)"),
        ("missile_tests", "missile_tests", "total", "min", None, None, "missile tests"),
        ("revenue_to_state", "revenue_to_state_usd", "total", "min", None, None,
         "hard currency to Pyongyang"),
        ("economy_margin", "economy_index", "min_month", "max", 0.0,
         "strategic.collapse_threshold",
         "lowest month of the economy index above Beijing's collapse line"),
        ("exodus_margin", "border_crossings", "max_year", "min", 0.0,
         "strategic.exodus_threshold_per_year",
         "peak yearly crossings into China above Beijing's exodus line"),
        ("arrivals", "arrivals_south_korea", "total", "max", None, None,
         "arrivals in South Korea"),
        ("restaurant_revenue", "remittance_restaurants_usd", "total", "min", None, None,
         "restaurant remittances to Pyongyang"),
    ]  # fmt: skip
    return [
        Objective(name, outcome, statistic, direction, threshold, first, last, relative, title)
        for name, outcome, statistic, direction, threshold, relative, title in rows
    ]


# ---------------------------------------------------------------------------
# objectives files


def _param_names() -> list[str]:
    return [f"{g}.{n}" for g, cls in PARAM_GROUPS.items() for n in field_specs(cls)]


def _hint(word: str, names: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_objective(entry: Any, where: str, scenario: Scenario | None = None) -> Objective:
    """One ``[[objectives]]`` table; ``where`` names it in errors (``file: objectives[2]``)."""
    if not isinstance(entry, Mapping):
        raise RobustnessError(f"{where}: expected a table")
    for key in entry:
        if key not in OBJECTIVE_KEYS:
            raise RobustnessError(f"{where}.{key}: unknown key{_hint(str(key), OBJECTIVE_KEYS)}")
    for key in ("name", "outcome"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise RobustnessError(f"{where}.{key}: required text key is missing")
    name = entry["name"]
    if not all(ch.isalnum() or ch in "_-" for ch in name) or len(name) > 64:
        raise RobustnessError(f"{where}.name: use letters, digits, '_' and '-' (got {name!r})")
    outcome = entry["outcome"]
    if outcome not in OUTCOMES:
        raise RobustnessError(
            f"{where}.outcome: unknown outcome {outcome!r}{_hint(outcome, list(OUTCOMES))}"
        )
    statistic = entry.get("statistic", "total")
    if statistic not in STATISTICS:
        raise RobustnessError(
            f"{where}.statistic: one of {', '.join(STATISTICS)} (got {statistic!r})"
        )
    direction = entry.get("direction", "min")
    if direction not in DIRECTIONS:
        raise RobustnessError(f"{where}.direction: min or max (got {direction!r})")
    threshold = entry.get("threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise RobustnessError(f"{where}.threshold: expected a number (got {threshold!r})")
        if not math.isfinite(float(threshold)):
            raise RobustnessError(f"{where}.threshold: must be finite")
        threshold = float(threshold)
    years: list[int | None] = []
    for key in ("from", "to"):
        year = entry.get(key)
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise RobustnessError(f"{where}.{key}: expected a year (got {year!r})")
        years.append(year)
    first, last = years
    if scenario is not None:
        w_first, w_last = decision_window(scenario)
        first = w_first if first is None else first
        last = w_last if last is None else last
        h_first, h_last = int(str(scenario.start)[:4]), int(str(scenario.end)[:4])
        for key, year in (("from", first), ("to", last)):
            if not h_first <= year <= h_last:
                raise RobustnessError(
                    f"{where}.{key}: {year} is outside the horizon {scenario.start} to "
                    f"{scenario.end}"
                )
    if first is not None and last is not None and last < first:
        raise RobustnessError(f"{where}.to: {last} is before from = {first}")
    relative = entry.get("relative_to")
    if relative is not None and relative not in _param_names():
        suggestion = _hint(str(relative), _param_names())
        raise RobustnessError(f"{where}.relative_to: not a model parameter{suggestion}")
    title = entry.get("title", "")
    if not isinstance(title, str):
        raise RobustnessError(f"{where}.title: expected text")
    return Objective(name, outcome, statistic, direction, threshold, first, last, relative, title)


def parse_objectives(
    document: Mapping[str, Any], source: str, scenario: Scenario | None = None
) -> list[Objective]:
    """The ``[[objectives]]`` of a parsed TOML document (names unique)."""
    entries = document.get("objectives")
    if not isinstance(entries, list) or not entries:
        raise RobustnessError(f"{source}: objectives: give at least one [[objectives]] table")
    objectives = [
        parse_objective(entry, f"{source}: objectives[{i}]", scenario)
        for i, entry in enumerate(entries)
    ]
    names = [o.name for o in objectives]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise RobustnessError(f"{source}: objectives[{i}].name: {name!r} repeats")
    return objectives


def read_toml(text: str, source: str) -> dict[str, Any]:
    """Parsed TOML with a one-line error naming the file."""
    try:
        return tomllib.loads(text)
    except ValueError as exc:
        raise RobustnessError(f"{source}: malformed TOML: {' '.join(str(exc).split())}") from None


def with_thresholds(objectives: Sequence[Objective], items: Mapping[str, float]) -> list[Objective]:
    """Objectives with thresholds set from ``--thresholds name=value`` pairs."""
    import dataclasses

    known = {o.name for o in objectives}
    for name in items:
        if name not in known:
            raise RobustnessError(
                f"--thresholds: {name!r} is not an objective{_hint(name, sorted(known))} "
                f"(objectives: {', '.join(sorted(known))})"
            )
    return [
        dataclasses.replace(o, threshold=float(items[o.name])) if o.name in items else o
        for o in objectives
    ]


def parse_thresholds(text: str | None) -> dict[str, float]:
    """``"nuclear_tests=0,economy_margin=0.05"`` to a dict (one-line errors)."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RobustnessError(f"--thresholds {item!r}: expected NAME=VALUE")
        try:
            number = float(value)
        except ValueError:
            raise RobustnessError(f"--thresholds {item!r}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise RobustnessError(f"--thresholds {item!r}: must be finite")
        out[name.strip()] = number
    return out


# ---------------------------------------------------------------------------
# objective values of a run


def _offsets(
    objective: Objective, scenario: Scenario, seed: int, replicates: np.ndarray
) -> np.ndarray:
    """(R,) the parameter ``relative_to`` per replicate (drawn values where it is drawn)."""
    if objective.relative_to is None:
        return np.zeros(replicates.size)
    group, _, item = objective.relative_to.partition(".")
    base = float(getattr(getattr(scenario.params, group), item))
    draws = scenario.parameter_draws
    if draws is None or not hasattr(draws, "parameter_sets"):
        return np.full(replicates.size, base)
    sets = draws.parameter_sets(seed, replicates)
    return np.array([float(s.get(objective.relative_to, base)) for s in sets])


def objective_values(
    result: SimulationResult,
    objectives: Sequence[Objective],
    scenario: Scenario,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objectives of a run: ``(R, K)`` over each window, and ``(R, K, Y)`` per calendar year.

    The yearly values apply the statistic to each year's months (no window), so the
    catalog holds them beside the outcomes.  ``relative_to`` uses each replicate's own
    parameter value (drawn for it under ``seed``, or the scenario's).
    """
    months = result.months
    month_years = months.astype("datetime64[Y]").astype(int) + 1970
    years = np.unique(month_years)
    replicates = np.asarray(result.replicates, dtype=int)
    horizon = np.empty((replicates.size, len(objectives)))
    yearly = np.empty((replicates.size, len(objectives), years.size))
    for k, objective in enumerate(objectives):
        monthly = result.outcome(objective.outcome)  # (R, M)
        kind = OUTCOMES[objective.outcome].kind
        offset = _offsets(objective, scenario, seed, replicates)
        first = years[0] if objective.first_year is None else objective.first_year
        last = years[-1] if objective.last_year is None else objective.last_year
        inside = (month_years >= first) & (month_years <= last)
        if not inside.any():
            raise RobustnessError(
                f"objective {objective.name}: the window {first}-{last} has no simulated month"
            )
        horizon[:, k] = (
            _statistic(objective.statistic, kind, monthly[:, inside], month_years[inside]) - offset
        )
        for j, year in enumerate(years):
            sel = month_years == year
            yearly[:, k, j] = (
                _statistic(objective.statistic, kind, monthly[:, sel], month_years[sel]) - offset
            )
    return horizon, years.astype(int), yearly


def _year_aggregate(kind: str, block: np.ndarray) -> np.ndarray:
    if kind == "flow":
        return block.sum(axis=1)
    if kind == "stock":
        return block[:, -1]
    return block.mean(axis=1)


def _statistic(statistic: str, kind: str, block: np.ndarray, month_years: np.ndarray) -> np.ndarray:
    """(R,) the statistic of (R, M) monthly values."""
    if statistic == "total":
        return block.sum(axis=1)
    if statistic == "mean":
        return block.mean(axis=1)
    if statistic == "min_month":
        return block.min(axis=1)
    if statistic == "max_month":
        return block.max(axis=1)
    if statistic == "end":
        return block[:, -1]
    if statistic == "max_year":
        per_year = [
            _year_aggregate(kind, block[:, month_years == y]) for y in np.unique(month_years)
        ]
        return np.max(np.column_stack(per_year), axis=1)
    raise RobustnessError(f"unknown statistic {statistic!r}")  # pragma: no cover


# ---------------------------------------------------------------------------
# metrics


@dataclass(frozen=True)
class RobustnessTable:
    """Metrics of every policy on every objective, the regrets and the ranks.

    ``values`` and ``regret`` are ``(P, N, K)``; ``metrics[name]`` is ``(P, K)``;
    ``ranks[name]`` is ``(P, K)`` (1 best; NaN where the metric is undefined).
    """

    policies: tuple[str, ...]
    objectives: tuple[Objective, ...]
    values: np.ndarray
    regret: np.ndarray
    metrics: dict[str, np.ndarray]
    ranks: dict[str, np.ndarray]
    disagree: np.ndarray  # (K,) bool: two metrics order a pair of policies oppositely
    best_by_metric: dict[str, list[str]] = field(default_factory=dict)  # objective -> per metric

    def records(self) -> list[dict[str, Any]]:
        """One row per policy and objective: every metric and its rank."""
        rows = []
        for p, policy in enumerate(self.policies):
            for k, objective in enumerate(self.objectives):
                row: dict[str, Any] = {"policy": policy, "objective": objective.name}
                for metric in METRICS:
                    row[metric] = _finite_or_none(self.metrics[metric][p, k])
                for metric in METRICS:
                    row[f"rank_{metric}"] = _finite_or_none(self.ranks[metric][p, k])
                rows.append(row)
        return rows

    def ranking_records(self) -> list[dict[str, Any]]:
        """One row per objective and metric: the order of the policies, and the flag."""
        rows = []
        for k, objective in enumerate(self.objectives):
            for metric in METRICS:
                order = ranking_text(self.policies, self.ranks[metric][:, k])
                rows.append(
                    {
                        "objective": objective.name,
                        "metric": metric,
                        "ranking": order,
                        "best": best_policies(self.policies, self.ranks[metric][:, k]),
                        "metrics_disagree": bool(self.disagree[k]),
                    }
                )
        return rows


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def regrets(values: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """(P, N, K) regret: distance to the best policy of the set in the same future."""
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    for k, objective in enumerate(objectives):
        v = values[:, :, k]
        if objective.direction == "max":
            out[:, :, k] = v.max(axis=0, keepdims=True) - v
        else:
            out[:, :, k] = v - v.min(axis=0, keepdims=True)
    return out


def _rank(goodness: np.ndarray) -> np.ndarray:
    """Ranks (1 best) of a vector where larger is better; ties share the lower rank."""
    out = np.full(goodness.shape, np.nan)
    ok = np.isfinite(goodness)
    if not ok.any():
        return out
    g = goodness[ok]
    out[ok] = [1 + int(np.sum(g > x)) for x in g]
    return out


def robustness(
    values: np.ndarray, policies: Sequence[str], objectives: Sequence[Objective]
) -> RobustnessTable:
    """The robustness table of ``values`` ``(P, N, K)`` (see the module docstring)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 3 or values.shape[0] != len(policies) or values.shape[2] != len(objectives):
        raise RobustnessError(
            f"values of shape {values.shape} for {len(policies)} policies and "
            f"{len(objectives)} objectives"
        )
    if values.shape[1] < 1:
        raise RobustnessError("no futures")
    if not np.all(np.isfinite(values)):
        raise RobustnessError("non-finite objective values")
    regret = regrets(values, objectives)
    n_p, _, n_k = values.shape
    metrics = {m: np.full((n_p, n_k), np.nan) for m in METRICS}
    for k, objective in enumerate(objectives):
        v = values[:, :, k]
        metrics["expected"][:, k] = v.mean(axis=1)
        metrics["p10"][:, k] = np.quantile(v, 0.1, axis=1)
        metrics["p90"][:, k] = np.quantile(v, 0.9, axis=1)
        worst = v.min(axis=1) if objective.direction == "max" else v.max(axis=1)
        metrics["maximin"][:, k] = worst
        metrics["minimax_regret"][:, k] = regret[:, :, k].max(axis=1)
        metrics["p90_regret"][:, k] = np.quantile(regret[:, :, k], 0.9, axis=1)
        if objective.threshold is not None:
            metrics["satisficing"][:, k] = objective.satisfied(v).mean(axis=1)
    ranks = {m: np.full((n_p, n_k), np.nan) for m in METRICS}
    for m in METRICS:
        for k, objective in enumerate(objectives):
            x = metrics[m][:, k]
            if m in _HIGHER_BETTER:
                goodness = x
            elif m in _LOWER_BETTER:
                goodness = -x
            else:
                goodness = x if objective.direction == "max" else -x
            ranks[m][:, k] = _rank(goodness)
    disagree = np.zeros(n_k, dtype=bool)
    best: dict[str, list[str]] = {}
    for k, objective in enumerate(objectives):
        orders = [ranks[m][:, k] for m in METRICS if np.all(np.isfinite(ranks[m][:, k]))]
        disagree[k] = rankings_conflict(orders)
        best[objective.name] = [best_policies(policies, ranks[m][:, k]) for m in METRICS]
    return RobustnessTable(
        tuple(policies), tuple(objectives), values, regret, metrics, ranks, disagree, best
    )


def rankings_conflict(orders: Sequence[np.ndarray]) -> bool:
    """Whether two rankings put some pair of policies in opposite strict orders.

    A tie under one metric and an order under another is no conflict (the first metric
    does not tell the two apart); ``p`` before ``q`` under one metric and ``q`` before
    ``p`` under another is.
    """
    for i, a in enumerate(orders):
        for b in orders[i + 1 :]:
            ahead_a = a[:, None] < a[None, :]
            ahead_b = b[:, None] > b[None, :]
            if np.any(ahead_a & ahead_b):
                return True
    return False


def ranking_text(policies: Sequence[str], ranks: np.ndarray) -> str:
    """``"a > b = c"``: policies from best to worst, ties joined by ``=``."""
    if not np.all(np.isfinite(ranks)):
        return "n/a"
    groups: dict[float, list[str]] = {}
    for policy, rank in zip(policies, ranks, strict=True):
        groups.setdefault(float(rank), []).append(policy)
    return " > ".join(" = ".join(groups[r]) for r in sorted(groups))


def best_policies(policies: Sequence[str], ranks: np.ndarray) -> str:
    """The policies ranked first (joined by ``=``), or ``n/a``."""
    if not np.all(np.isfinite(ranks)):
        return "n/a"
    return " = ".join(p for p, r in zip(policies, ranks, strict=True) if r == 1)


def failures(values: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """(P, N) whether a policy misses at least one objective's threshold in a future."""
    values = np.asarray(values, dtype=float)
    fail = np.zeros(values.shape[:2], dtype=bool)
    for k, objective in enumerate(objectives):
        if objective.threshold is not None:
            fail |= ~objective.satisfied(values[:, :, k])
    return fail


# ---------------------------------------------------------------------------
# running policies over futures (a sweep of policy x chunk of futures)

POLICY_FACTOR = "policy"
CHUNK_FACTOR = "first_future"


def future_chunk_size(futures: int) -> int:
    """Futures per run: at most 16 (checkpoints every few seconds on the full model), at
    least 8 runs per policy for small ensembles.  It depends on ``futures`` alone, never on
    the workers, so a resumed experiment has the same plan on any executor."""
    return int(min(16, max(1, math.ceil(futures / 8))))


def plan_policy_runs(n_policies: int, futures: int, seed: int, chunk: int) -> list[Any]:
    """Runs of every policy over futures ``0..futures-1`` in chunks; run ``r`` is policy
    ``r // chunks``, chunk ``r % chunks``.  Every run uses the same root seed: future ``i``
    draws the same parameters and simulation streams under every policy."""
    from .sweep import RunSpec

    if futures < 1 or n_policies < 1 or chunk < 1:
        raise RobustnessError("at least one policy, one future and one future per run")
    starts = list(range(0, futures, chunk))
    plan = []
    for p in range(n_policies):
        for c, first in enumerate(starts):
            run = p * len(starts) + c
            reps = tuple(range(first, min(first + chunk, futures)))
            plan.append(
                RunSpec(
                    run=run,
                    point=run,
                    values=((POLICY_FACTOR, float(p)), (CHUNK_FACTOR, float(first))),
                    seed=int(seed),
                    replicates=reps,
                )
            )
    return plan


@dataclass(frozen=True)
class PolicyModel:
    """Each policy's scenario as a sweep model: the run's policy over the run's futures.

    The output holds every outcome (whole horizon and by year, as a sweep stores them)
    and each objective as an outcome named ``objective.<name>``.
    """

    scenarios: tuple[Scenario, ...]
    objectives: tuple[Objective, ...]

    def __call__(self, spec: Any) -> Any:
        import time

        from .ensemble import run_scenario
        from .sweep import RunOutput, result_output

        start = time.perf_counter()
        scenario = self.scenarios[int(spec.value_dict[POLICY_FACTOR])]
        result = run_scenario(
            scenario, seed=spec.seed, replicate_indices=np.asarray(spec.replicates, dtype=int)
        )
        base = result_output(spec.run, result)
        horizon, years, yearly = objective_values(result, self.objectives, scenario, spec.seed)
        if not np.array_equal(years, base.years):  # pragma: no cover - one calendar
            raise RobustnessError("objective years differ from the outcome years")
        return RunOutput(
            run=spec.run,
            replicates=base.replicates,
            names=(*base.names, *(OBJECTIVE_PREFIX + o.name for o in self.objectives)),
            horizon=np.concatenate([base.horizon, horizon], axis=1),
            years=base.years,
            yearly=np.concatenate([base.yearly, yearly], axis=1),
            wall_seconds=time.perf_counter() - start,
        )


def futures_frame(scenario: Scenario, seed: int, futures: int) -> Any:
    """(N, d) pandas frame of the parameters each future draws (the PRIM factors)."""
    import pandas as pd

    draws = scenario.parameter_draws
    if draws is None or not hasattr(draws, "parameter_sets"):
        return pd.DataFrame(index=pd.RangeIndex(futures, name="future"))
    sets = draws.parameter_sets(seed, np.arange(futures))
    frame = pd.DataFrame(sets)
    frame.index = pd.RangeIndex(futures, name="future")
    return frame
