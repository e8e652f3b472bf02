"""Robust multi-objective policy search (issue 15, item 4): NSGA-II over lever values.

A candidate policy is a set of lever values (the decision variables, each within
``[low, high]``), applied to the scenario as a policy from a date
(``scenario.apply_policy``), on top of an optional base policy.  Each candidate is
simulated over the same fixed futures (replicates ``0..F-1`` under one root seed:
the same parameter draws and simulation streams for every candidate, common random
numbers), and each objective is a robustness metric over those futures
(``experiment.robustness``: ``expected``, ``p10``, ``p90``, ``maximin`` or
``satisficing``; the regret metrics need a set of rivals and are computed for the
Pareto set afterwards).  Constraints bound such metrics (``at_least`` /
``at_most``).  pymoo's NSGA-II (Deb et al. 2002) searches the levers.

Conditional-policy parameters are decision variables too: the spec's ``[[rules]]``
(the format of a scenario's rules) are part of every candidate, and a ``[[levers]]``
entry named ``rules.<rule name>.<field>`` searches one of their numbers: ``above``,
``below``, ``days``, ``window_days``, ``cooldown_days``, ``max_activations`` (rounded
to whole days and counts) or ``actions[k].add`` / ``actions[k].set``, within the
entry's ``low`` and ``high`` (required for rule fields).

The search runs generation by generation through pymoo's ask-and-tell interface.
After each generation :class:`Search` is checkpointed whole (the algorithm with its
population, objectives and random generator, the generation count, the per-future
values of the current population and the history), so a killed search resumed from
its checkpoint repeats at most the generation in progress and, the evaluations
being deterministic, ends with exactly the front of an uninterrupted search with
the same seed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.params import Levers, field_specs
from . import robustness as rb

if TYPE_CHECKING:
    from ..scenario import Policy, Scenario
    from .executors import Executor

OPTIMIZE_METRICS: tuple[str, ...] = ("expected", "p10", "p90", "maximin", "satisficing")
SPEC_KEYS: tuple[str, ...] = ("optimize", "levers", "rules", "objectives", "constraints")
#: the numbers of a rule the search may choose (``rules.<name>.<field>``), and whether whole
RULE_FIELDS: dict[str, bool] = {
    "above": False,
    "below": False,
    "days": True,
    "window_days": True,
    "cooldown_days": True,
    "max_activations": True,
}
OPTIMIZE_KEYS: tuple[str, ...] = (
    "futures",
    "population",
    "generations",
    "seed",
    "from",
    "base_policy",
)
LEVER_KEYS: tuple[str, ...] = ("name", "low", "high")
CONSTRAINT_KEYS: tuple[str, ...] = ("objective", "metric", "at_least", "at_most")
CHECKPOINT_FORMAT = "lipsteeth-optimize-checkpoint/1"
MAX_POPULATION = 10_000
MAX_GENERATIONS = 10_000
MAX_FUTURES = 100_000


class SearchError(ValueError):
    """A search spec or checkpoint that cannot be used (one-line message naming the key)."""


@dataclass(frozen=True)
class Goal:
    """An objective of the search: a robustness ``metric`` of an objective over the futures."""

    objective: rb.Objective
    metric: str
    optimize: bool = True

    @property
    def label(self) -> str:
        return f"{self.objective.name}:{self.metric}"

    def lower_is_better(self) -> bool:
        if self.metric == "satisficing":
            return False
        return self.objective.direction == "min"


@dataclass(frozen=True)
class Constraint:
    """A bound on a goal's metric: feasible when ``value >= at_least`` / ``value <= at_most``."""

    goal: Goal
    at_least: float | None = None
    at_most: float | None = None

    def violation(self, value: float) -> float:
        """pymoo's inequality form: feasible when <= 0."""
        if self.at_least is not None:
            return float(self.at_least - value)
        assert self.at_most is not None
        return float(value - self.at_most)


@dataclass(frozen=True)
class SearchSpec:
    """A validated ``--spec`` file."""

    levers: tuple[tuple[str, float, float], ...]  # (lever or rules.<name>.<field>, low, high)
    goals: tuple[Goal, ...]  # optimized
    constraints: tuple[Constraint, ...]
    objectives: tuple[rb.Objective, ...]  # every objective simulated (goals and constraints)
    futures: int
    population: int
    generations: int
    seed: int
    start: dt.date | None
    base_policy: str | None
    source: str
    rules: tuple[Mapping[str, Any], ...] = ()  # conditional policies of every candidate

    def to_dict(self) -> dict[str, Any]:
        return {
            "levers": [{"name": n, "low": lo, "high": hi} for n, lo, hi in self.levers],
            "rules": [_plain(rule) for rule in self.rules],
            "objectives": [o.to_dict() for o in self.objectives],
            "goals": [{"objective": g.objective.name, "metric": g.metric} for g in self.goals],
            "constraints": [
                {
                    "objective": c.goal.objective.name,
                    "metric": c.goal.metric,
                    "at_least": c.at_least,
                    "at_most": c.at_most,
                }
                for c in self.constraints
            ],
            "futures": self.futures,
            "population": self.population,
            "generations": self.generations,
            "seed": self.seed,
            "from": self.start.isoformat() if self.start else None,
            "base_policy": self.base_policy,
        }


def _plain(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [dict(a) for a in v] if k == "actions" else v for k, v in rule.items()}


def _spec_rules(document: Mapping[str, Any], source: str) -> tuple[Mapping[str, Any], ...]:
    """The spec's ``[[rules]]``, validated as a policy's rules are."""
    from ..scenario import ScenarioError
    from ..scenario._policy import validate_policy

    raw = document.get("rules")
    if raw is None:
        return ()
    header = {"name": "candidate", "title": "optimize candidate"}
    try:
        return validate_policy({"policy": header, "rules": raw}, source).rules
    except ScenarioError as exc:
        raise SearchError(f"{source}: {exc.path}: {exc.reason}") from None


def _rule_variable(name: str, rules: Sequence[Mapping[str, Any]], here: str) -> tuple[float, float]:
    """The bounds the field ``rules.<rule>.<field>`` of a spec rule must keep."""
    rule_name, _, item = name.removeprefix("rules.").rpartition(".")
    if item.startswith("add") or item.startswith("set"):  # actions[k].add
        rule_name, _, tail = name.removeprefix("rules.").rpartition(".actions[")
        item = "actions[" + tail
    rule = next((r for r in rules if r["name"] == rule_name), None)
    if rule is None:
        known = [str(r["name"]) for r in rules]
        raise SearchError(f"{here}.name: no rule named {rule_name!r}{rb._hint(rule_name, known)}")
    if item in RULE_FIELDS:
        if item not in rule and item in ("above", "below"):
            raise SearchError(f"{here}.name: rule {rule_name!r} has no {item} threshold")
        return (1.0, 73_050.0) if RULE_FIELDS[item] else (-math.inf, math.inf)
    if item.startswith("actions[") and "]." in item:
        index, op = item[len("actions[") :].split("].", 1)
        actions = rule["actions"]
        if index.isdigit() and int(index) < len(actions) and op in actions[int(index)]:
            meta = field_specs(Levers)[actions[int(index)]["lever"]]
            span = meta["hi"] - meta["lo"]
            return (-span, span) if op == "add" else (meta["lo"], meta["hi"])
    fields = [*RULE_FIELDS, "actions[k].add", "actions[k].set"]
    raise SearchError(f"{here}.name: {name!r}: a rule field is one of {', '.join(fields)}")


def _unknown(
    table: Mapping[str, Any], keys: Sequence[str], where: str, *, top: bool = False
) -> None:
    for key in table:
        if key not in keys:
            path = f"{where}: {key}" if top else f"{where}.{key}"
            raise SearchError(f"{path}: unknown key{rb._hint(str(key), keys)}")


def _integer(table: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SearchError(
            f"{where}.{key}: expected an integer from {low} to {high} (got {value!r})"
        )
    return int(value)


def _number(table: Mapping[str, Any], key: str, where: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SearchError(f"{where}.{key}: expected a finite number (got {value!r})")
    return float(value)


def parse_spec(document: Mapping[str, Any], source: str, scenario: Scenario) -> SearchSpec:
    """A parsed ``--spec`` TOML checked key by key (one-line ``SearchError``)."""
    _unknown(document, SPEC_KEYS, source, top=True)
    header = document.get("optimize", {})
    if not isinstance(header, Mapping):
        raise SearchError(f"{source}: optimize: expected a table")
    where = f"{source}: optimize"
    _unknown(header, OPTIMIZE_KEYS, where)
    futures = _integer(header, "futures", where, 1, MAX_FUTURES) or 20
    population = _integer(header, "population", where, 2, MAX_POPULATION) or 20
    generations = _integer(header, "generations", where, 1, MAX_GENERATIONS) or 10
    seed = _integer(header, "seed", where, 0, 2**32 - 1)
    start = header.get("from")
    if start is not None:
        if isinstance(start, str):
            try:
                start = dt.date.fromisoformat(start)
            except ValueError:
                raise SearchError(f"{where}.from: not an ISO date (got {start!r})") from None
        if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
            raise SearchError(f"{where}.from: expected a date YYYY-MM-DD (got {start!r})")
    base_policy = header.get("base_policy")
    if base_policy is not None and (not isinstance(base_policy, str) or not base_policy):
        raise SearchError(f"{where}.base_policy: expected a policy name or path")
    specs = field_specs(Levers)
    rules = _spec_rules(document, source)
    levers: list[tuple[str, float, float]] = []
    entries = document.get("levers")
    if not isinstance(entries, list) or not entries:
        raise SearchError(f"{source}: levers: give at least one [[levers]] table (name, low, high)")
    for i, entry in enumerate(entries):
        here = f"{source}: levers[{i}]"
        if not isinstance(entry, Mapping):
            raise SearchError(f"{here}: expected a table")
        _unknown(entry, LEVER_KEYS, here)
        name = entry.get("name")
        if any(name == lever for lever, _, _ in levers):
            raise SearchError(f"{here}.name: lever {name!r} repeats")
        if isinstance(name, str) and name.startswith("rules."):
            bound_low, bound_high = _rule_variable(name, rules, here)
            low, high = _number(entry, "low", here), _number(entry, "high", here)
            if low is None or high is None:
                raise SearchError(f"{here}: a rule field needs low and high")
            if not bound_low <= low < high <= bound_high:
                raise SearchError(
                    f"{here}: need {bound_low:g} <= low < high <= {bound_high:g} "
                    f"(got low {low:g}, high {high:g})"
                )
            levers.append((name, low, high))
            continue
        if name not in specs:
            raise SearchError(f"{here}.name: not a lever{rb._hint(str(name), list(specs))}")
        meta = specs[name]
        span = scenario.lever_ranges.get(name, (meta["lo"], meta["hi"]))
        low = _number(entry, "low", here)
        high = _number(entry, "high", here)
        low = float(span[0]) if low is None else low
        high = float(span[1]) if high is None else high
        if not meta["lo"] <= low < high <= meta["hi"]:
            raise SearchError(
                f"{here}: need {meta['lo']:g} <= low < high <= {meta['hi']:g} "
                f"(the lever's bounds; got low {low:g}, high {high:g})"
            )
        levers.append((name, low, high))
    raw = document.get("objectives")
    if not isinstance(raw, list) or not raw:
        raise SearchError(f"{source}: objectives: give at least one [[objectives]] table")
    objectives: list[rb.Objective] = []
    goals: list[Goal] = []
    for i, entry in enumerate(raw):
        here = f"{source}: objectives[{i}]"
        if not isinstance(entry, Mapping):
            raise SearchError(f"{here}: expected a table")
        own = {k: v for k, v in entry.items() if k not in ("metric", "optimize")}
        try:
            objective = rb.parse_objective(own, here, scenario)
        except rb.RobustnessError as exc:
            raise SearchError(str(exc)) from None
        if any(o.name == objective.name for o in objectives):
            raise SearchError(f"{here}.name: {objective.name!r} repeats")
        metric = entry.get("metric", "expected")
        _check_metric(metric, objective, f"{here}.metric")
        optimize = entry.get("optimize", True)
        if not isinstance(optimize, bool):
            raise SearchError(f"{here}.optimize: expected true or false")
        objectives.append(objective)
        if optimize:
            goals.append(Goal(objective, metric))
    if not goals:
        raise SearchError(f"{source}: objectives: at least one must have optimize = true")
    constraints: list[Constraint] = []
    by_name = {o.name: o for o in objectives}
    for i, entry in enumerate(document.get("constraints", []) or []):
        here = f"{source}: constraints[{i}]"
        if not isinstance(entry, Mapping):
            raise SearchError(f"{here}: expected a table")
        _unknown(entry, CONSTRAINT_KEYS, here)
        name = entry.get("objective")
        if name not in by_name:
            suggestion = rb._hint(str(name), list(by_name))
            raise SearchError(f"{here}.objective: not an objective of this file{suggestion}")
        metric = entry.get("metric", "expected")
        _check_metric(metric, by_name[name], f"{here}.metric")
        at_least = _number(entry, "at_least", here)
        at_most = _number(entry, "at_most", here)
        if (at_least is None) == (at_most is None):
            raise SearchError(f"{here}: give exactly one of at_least and at_most")
        constraints.append(Constraint(Goal(by_name[name], metric, False), at_least, at_most))
    return SearchSpec(
        levers=tuple(levers),
        goals=tuple(goals),
        constraints=tuple(constraints),
        objectives=tuple(objectives),
        futures=futures,
        population=population,
        generations=generations,
        seed=int(scenario.seed % 2**32) if seed is None else seed,
        start=start,
        base_policy=base_policy,
        source=source,
        rules=rules,
    )


def _check_metric(metric: Any, objective: rb.Objective, where: str) -> None:
    if metric in ("minimax_regret", "p90_regret"):
        raise SearchError(
            f"{where}: {metric} needs rival policies; the search reports it for the Pareto set "
            f"(use one of {', '.join(OPTIMIZE_METRICS)})"
        )
    if metric not in OPTIMIZE_METRICS:
        raise SearchError(f"{where}: one of {', '.join(OPTIMIZE_METRICS)} (got {metric!r})")
    if metric == "satisficing" and objective.threshold is None:
        raise SearchError(f"{where}: satisficing needs the objective's threshold")


# ---------------------------------------------------------------------------
# evaluating candidates


def candidate_policy(spec: SearchSpec, values: Sequence[float]) -> Policy:
    """The policy of one candidate: its lever values from the spec's ``from`` date, and the
    spec's rules with the candidate's values of their searched fields."""
    from ..scenario import Policy

    levers = {}
    rules = {str(rule["name"]): _plain(rule) for rule in spec.rules}
    for (name, _, _), v in zip(spec.levers, values, strict=True):
        if not name.startswith("rules."):
            levers[name] = (float(v), "optimize: candidate lever value")
            continue
        path = name.removeprefix("rules.")
        if ".actions[" in path:
            rule_name, _, tail = path.rpartition(".actions[")
            index, op = tail.split("].", 1)
            rules[rule_name]["actions"][int(index)][op] = float(v)
        else:
            rule_name, _, item = path.rpartition(".")
            rules[rule_name][item] = int(round(float(v))) if RULE_FIELDS[item] else float(v)
    return Policy(
        name="candidate",
        title="optimize candidate",
        description="",
        source=f"{spec.source} (candidate)",
        start=spec.start,
        levers=levers,
        events=(),
        text="",
        rules=tuple(rules.values()),
    )


def metric_value(values: np.ndarray, goal: Goal) -> float:
    """A goal's metric over one candidate's futures ``values`` ``(F,)``."""
    table = rb.robustness(values[None, :, None], ["candidate"], [goal.objective])
    return float(table.metrics[goal.metric][0, 0])


@dataclass(frozen=True)
class CandidateModel:
    """Simulates a candidate's lever values over the spec's futures (picklable context)."""

    scenario: Scenario  # the base scenario (with its base policy and uncertainty)
    spec: SearchSpec
    seed: int  # root seed of the futures

    def __call__(self, x: tuple[float, ...]) -> np.ndarray:
        """(F, K) objective values of the candidate in each future."""
        from ..scenario import apply_policy
        from .ensemble import run_scenario

        scenario = apply_policy(self.scenario, candidate_policy(self.spec, x))
        futures = np.arange(self.spec.futures)
        result = run_scenario(scenario, seed=self.seed, replicate_indices=futures)
        horizon, _, _ = rb.objective_values(result, self.spec.objectives, scenario, self.seed)
        return horizon


def _call_candidate(model: CandidateModel, x: tuple[float, ...]) -> np.ndarray:
    return model(x)


def problem_for(spec: SearchSpec) -> Any:
    """The pymoo problem: bounds, objective and constraint counts (evaluated outside pymoo)."""
    from pymoo.core.problem import Problem

    return Problem(
        n_var=len(spec.levers),
        n_obj=len(spec.goals),
        n_ieq_constr=len(spec.constraints),
        xl=np.array([lo for _, lo, _ in spec.levers]),
        xu=np.array([hi for _, _, hi in spec.levers]),
    )


def scores(spec: SearchSpec, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Metric values ``(G,)``, pymoo's F (minimised) and G (<= 0 feasible) of one candidate."""
    index = {o.name: k for k, o in enumerate(spec.objectives)}
    metrics = np.array([metric_value(values[:, index[g.objective.name]], g) for g in spec.goals])
    f = np.array(
        [m if g.lower_is_better() else -m for m, g in zip(metrics, spec.goals, strict=True)]
    )
    g = np.array(
        [
            c.violation(metric_value(values[:, index[c.goal.objective.name]], c.goal))
            for c in spec.constraints
        ]
    )
    return metrics, f, g


# ---------------------------------------------------------------------------
# the search, checkpointed per generation


@dataclass
class Search:
    """NSGA-II state between generations: what a checkpoint holds."""

    spec_sha256: str
    algorithm: Any  # pymoo NSGA2, set up (its population, random generator, counters)
    generation: int = 0  # generations completed
    population_values: dict[bytes, np.ndarray] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per evaluation

    def done(self) -> bool:
        return not self.algorithm.has_next()


def spec_digest(spec: SearchSpec, scenario: Scenario, seed: int) -> str:
    """What fixes the search's numbers: the spec, the base scenario, its uncertainty, the
    futures' seed."""
    from .posterior import uncertainty_of

    text = json.dumps(
        {
            "spec": spec.to_dict(),
            "seed": seed,
            "scenario": scenario.to_dict(),
            "uncertainty": uncertainty_of(scenario).describe(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def new_search(spec: SearchSpec, digest: str) -> Search:
    """A fresh NSGA-II (pymoo) set up for ``spec``; its generator is seeded by ``spec.seed``."""
    from pymoo.algorithms.moo.nsga2 import NSGA2

    algorithm = NSGA2(pop_size=spec.population, eliminate_duplicates=True)
    algorithm.setup(
        problem_for(spec), termination=("n_gen", spec.generations), seed=spec.seed, verbose=False
    )
    return Search(spec_sha256=digest, algorithm=algorithm)


def step(
    search: Search,
    spec: SearchSpec,
    model: CandidateModel,
    executor: Executor,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """One generation: ask pymoo for candidates, simulate them, tell it the scores."""
    from pymoo.core.evaluator import Evaluator
    from pymoo.problems.static import StaticProblem

    algorithm = search.algorithm
    pop = algorithm.ask()
    X = np.asarray(pop.get("X"), dtype=float)
    tasks = [tuple(float(v) for v in row) for row in X]
    values = executor.map(_call_candidate, tasks, progress, context=model)
    metrics, F, G = [], [], []
    for row in values:
        m, f, g = scores(spec, np.asarray(row, dtype=float))
        metrics.append(m)
        F.append(f)
        G.append(g)
    F_arr = np.array(F, dtype=float).reshape(len(tasks), len(spec.goals))
    static: dict[str, Any] = {"F": F_arr}
    if spec.constraints:
        static["G"] = np.array(G, dtype=float).reshape(len(tasks), len(spec.constraints))
    Evaluator().eval(StaticProblem(algorithm.problem, **static), pop)
    algorithm.tell(infills=pop)
    search.generation += 1
    for x, row, m, g in zip(X, values, metrics, G, strict=True):
        search.history.append(
            {
                "generation": search.generation,
                "x": [float(v) for v in x],
                "metrics": [float(v) for v in m],
                "violations": [float(v) for v in g],
            }
        )
        search.population_values[np.asarray(x, dtype=float).tobytes()] = np.asarray(row)
    keep = {np.asarray(x, dtype=float).tobytes() for x in algorithm.pop.get("X")}
    search.population_values = {k: v for k, v in search.population_values.items() if k in keep}


def checkpoint_bytes(search: Search) -> bytes:
    """The search pickled with its format; ``load_checkpoint`` reads it back."""
    return pickle.dumps(
        {"format": CHECKPOINT_FORMAT, "search": search}, protocol=pickle.HIGHEST_PROTOCOL
    )


def load_checkpoint(raw: bytes, digest: str, source: str) -> Search:
    """A checkpoint written by this module for the same spec (one-line ``SearchError``).

    The checkpoint is a pickle the search itself wrote into its own results folder (the
    checkpoint of a local job, never an input taken from a client); its SHA-256 is in the
    search's manifest, checked before it is read.
    """
    try:
        document = pickle.loads(raw)  # noqa: S301 - the search's own checkpoint, hash-checked
    except Exception as exc:  # a damaged pickle raises many types
        raise SearchError(f"{source}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise SearchError(f"{source}: not a {CHECKPOINT_FORMAT} checkpoint")
    search = document.get("search")
    if not isinstance(search, Search) or search.spec_sha256 != digest:
        raise SearchError(f"{source}: the checkpoint is of another search (spec or scenario)")
    return search


def pareto(search: Search, spec: SearchSpec) -> dict[str, Any]:
    """The non-dominated feasible solutions of the final population, sorted by lever values.

    Returns ``X`` ``(S, V)``, ``metrics`` ``(S, G)`` (the goals' metric values, not
    pymoo's signed form), ``violations`` ``(S, C)`` and ``values`` ``(S, F, K)``.
    """
    opt = search.algorithm.opt
    X = np.asarray(opt.get("X"), dtype=float).reshape(-1, len(spec.levers))
    F = np.asarray(opt.get("F"), dtype=float).reshape(-1, len(spec.goals))
    sign = np.array([1.0 if g.lower_is_better() else -1.0 for g in spec.goals])
    metrics = F * sign
    if spec.constraints:
        G = np.asarray(opt.get("G"), dtype=float).reshape(-1, len(spec.constraints))
    else:
        G = np.zeros((X.shape[0], 0))
    order = np.lexsort(X.T[::-1]) if X.size else np.arange(0)
    X, metrics, G = X[order], metrics[order], G[order]
    values = np.stack([search.population_values[x.tobytes()] for x in X]) if X.size else None
    return {"X": X, "metrics": metrics, "violations": G, "values": values}


def with_base_policy(scenario: Scenario, spec: SearchSpec) -> Scenario:
    """The base scenario under the spec's base policy (if any), uncertainty kept."""
    if spec.base_policy is None:
        return scenario
    from ..scenario import apply_policy, load_policy

    return apply_policy(scenario, load_policy(spec.base_policy))
