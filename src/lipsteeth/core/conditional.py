"""Conditional policies: levers moved by triggers on the model's own outcomes (issue 15).

A scenario's ``[[rules]]`` (``timeline.Rule``) are carrots and sticks an actor
applies when something happens: "after a nuclear test, raise China's sanctions
by 0.2 for 180 days", "while crossings exceed N a month, stringency to 0.95",
"if the economy index falls under X, suspend UN enforcement".  Each day t >= 1,
before anything else happens, every rule reads its outcome over the
``window_days`` days before t from the cumulative sums ``triggers`` (row t
holds days 0..t-1; flows summed, stocks and means averaged over the days
available), decides whether it is in force (mode, window of dates, cool-down,
cap: see ``Rule``), and if so moves the day's levers.  The strategic layer (M9)
then reads the moved levers like any lever set by a dated event: with Beijing's
discretion on, its own adjustments act on top.  Activations are logged as
events of kind ``conditional_policy`` (the rule's index in ``site``, the
statistic that fired it in ``value``).

Nothing here changes a run without rules: the kernel reads the dated levers
directly when the scenario has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numba.typed import List

from .events import Kind, Outcome, log_event
from .jit import compiled
from .outcomes import KIND_MEAN, KIND_STOCK, OUTCOME_NAMES
from .params import LEVER_NAMES, Levers, field_specs
from .timeline import Rule

RULE_DTYPE = np.dtype(
    [
        ("outcome", np.int64),  # index in OUTCOME_NAMES
        ("window", np.int64),
        ("threshold", np.float64),
        ("above", np.int64),
        ("while_mode", np.int64),
        ("days", np.int64),
        ("cooldown", np.int64),
        ("cap", np.int64),  # 0: no cap
        ("first_day", np.int64),
        ("last_day", np.int64),
        ("average", np.int64),  # 1: a stock or mean (averaged over the window), 0: a flow
        ("first_action", np.int64),
        ("n_actions", np.int64),
    ]
)
ACTION_DTYPE = np.dtype(
    [
        ("lever", np.int64),  # index in LEVER_NAMES
        ("add", np.int64),
        ("value", np.float64),
        ("low", np.float64),  # the lever's bounds (core.params metadata)
        ("high", np.float64),
    ]
)

#: outcomes the kernel sets only on a month's last day, so no daily trigger can read them
MONTH_END_ONLY: tuple[str, ...] = ("stress_restaurant", "stress_labour")


def rule_tables(rules: Sequence[Rule]) -> tuple[np.ndarray, np.ndarray]:
    """The rules and their actions as the kernel's records (``RULE_DTYPE``, ``ACTION_DTYPE``)."""
    specs = field_specs(Levers)
    averaged = KIND_STOCK | KIND_MEAN
    table = np.zeros(len(rules), dtype=RULE_DTYPE)
    n_actions = sum(len(rule.actions) for rule in rules)
    actions = np.zeros(n_actions, dtype=ACTION_DTYPE)
    a = 0
    for r, rule in enumerate(rules):
        if rule.when not in OUTCOME_NAMES or rule.when in MONTH_END_ONLY:
            raise ValueError(f"rule {rule.name}: {rule.when!r} is not a daily outcome")
        outcome = OUTCOME_NAMES.index(rule.when)
        table[r] = (
            outcome,
            rule.window_days,
            rule.threshold,
            int(rule.above),
            int(rule.mode == "while"),
            rule.days,
            rule.cooldown_days,
            rule.max_activations,
            rule.first_day,
            rule.last_day,
            int(averaged[outcome]),
            a,
            len(rule.actions),
        )
        for action in rule.actions:
            meta = specs[action.lever]
            actions[a] = (
                LEVER_NAMES.index(action.lever),
                int(action.add),
                action.value,
                meta["lo"],
                meta["hi"],
            )
            a += 1
    return table, actions


@compiled(inline="always")
def rule_statistic(t: int, r: int, rule: Any, triggers: np.ndarray) -> float:
    """The rule's outcome over the ``window`` days before ``t`` (t >= 1): sum or mean."""
    first = max(t - rule.window, 0)
    total = triggers[t, r] - triggers[first, r]
    return total / (t - first) if rule.average else total


@compiled
def levers_in_force(
    t: int,
    dated_levers: np.ndarray,
    today: np.ndarray,
    rules: np.ndarray,
    actions: np.ndarray,
    rule_state: np.ndarray,
    triggers: np.ndarray,
    log: List,
) -> None:
    """Day ``t``'s levers into ``today`` (LEVER_NAMES order): the dated ones, moved by rules.

    ``dated_levers`` (days, levers) holds the scenario's levers by day; each
    rule's state (``state.RULE_STATE_DTYPE``) is updated in place, and a firing is
    logged.
    """
    today[:] = dated_levers[t]
    for r in range(rules.shape[0]):
        rule = rules[r]
        state = rule_state[r]
        in_force = False
        if rule.while_mode == 0 and t < state.in_force_until:
            in_force = True
        elif t >= 1:
            statistic = rule_statistic(t, r, rule, triggers)
            met = statistic > rule.threshold if rule.above else statistic < rule.threshold
            allowed = rule.first_day <= t <= rule.last_day
            may_fire = t >= state.idle_until and (rule.cap == 0 or state.activations < rule.cap)
            continuing = rule.while_mode == 1 and state.in_force_until == t
            if met and allowed and (continuing or may_fire):
                in_force = True
                if not continuing:
                    state.activations += 1
                    log_event(
                        log,
                        t,
                        Kind.CONDITIONAL_POLICY,
                        site=r,
                        outcome=Outcome.ACTIVATED,
                        value=statistic,
                    )
                if rule.while_mode == 1:
                    state.in_force_until = t + 1
                else:
                    state.in_force_until = t + rule.days
                    state.idle_until = t + rule.days + rule.cooldown
            elif continuing:  # a spell of a "while" rule ended yesterday
                state.idle_until = t + rule.cooldown
        if in_force:
            for a in range(rule.first_action, rule.first_action + rule.n_actions):
                action = actions[a]
                moved = today[action.lever] + action.value if action.add else action.value
                today[action.lever] = min(max(moved, action.low), action.high)


@compiled
def record_triggers(t: int, rules: np.ndarray, triggers: np.ndarray, values: np.ndarray) -> None:
    """Add day ``t``'s outcome of every rule to its cumulative sum (row t + 1)."""
    for r in range(rules.shape[0]):
        triggers[t + 1, r] = triggers[t, r] + values[rules[r].outcome]
