"""Run the model: each replicate's whole run is one compiled call (``kernel``).

``simulate`` is the public entry of the core.  Replicate i always draws from
``SeedSequence(root_seed).spawn(...)[i]`` (via ``replicate_seeds``), so any
subset of replicates, run in any batch or on any executor, gives the same
numbers as the full run.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import conditional, kernel
from .events import event_arrays, event_columns, new_event_log
from .outcomes import KIND_STOCK, OUTCOME_NAMES, average_means
from .params import LEVER_NAMES, Levers, Params
from .records import lever_records, param_record
from .state import (
    PIPELINE_PAD,
    Layout,
    ReplicateState,
    allocate_state,
    build_layout,
    kernel_layout,
    replicate,
)
from .timeline import Calendar, Timeline


@dataclass(frozen=True)
class Ledger:
    """Whole-run accounting per replicate (R,), for the stock-flow identities."""

    initial_in_post: np.ndarray
    hired: np.ndarray
    in_post: np.ndarray
    escaped: np.ndarray
    caught: np.ndarray
    recalled: np.ndarray
    other_exits: np.ndarray

    @classmethod
    def of(cls, states: Sequence[ReplicateState]) -> Ledger:
        """The ledger of runs' states (each with replicates on its leading axis), in order."""
        net = np.concatenate([state.network[:, 0] for state in states])
        return cls(
            initial_in_post=net["initial_in_post"].copy(),
            hired=net["hired"].copy(),
            in_post=np.concatenate([state.posts.in_post.sum(axis=1) for state in states]),
            escaped=net["exits_escaped"].copy(),
            caught=net["exits_caught"].copy(),
            recalled=net["exits_recalled"].copy(),
            other_exits=net["exits_other"].copy(),
        )


@dataclass(frozen=True)
class SimulationResult:
    """Outcomes (R, V, M) by month, events by column, replicate indices and the ledger."""

    replicates: np.ndarray
    months: np.ndarray  # datetime64[M]
    outcome_names: tuple[str, ...]
    monthly: np.ndarray
    events: dict[str, np.ndarray]
    ledger: Ledger
    n_days: int

    def outcome(self, name: str) -> np.ndarray:
        """(R, M) monthly values of one outcome."""
        return self.monthly[:, self.outcome_names.index(name), :]


def replicate_seeds(root_seed: int, replicates: np.ndarray) -> list[np.random.SeedSequence]:
    """Seed sequence of each replicate index: child ``i`` of the root, whatever the batch."""
    root = np.random.SeedSequence(root_seed)
    return [np.random.SeedSequence(root.entropy, spawn_key=(int(i),)) for i in replicates]


def lever_matrix(base: Levers, timeline: Timeline) -> np.ndarray:
    """(days, levers) values in force, in ``LEVER_NAMES`` order: ``base`` where a path is NaN."""
    row = np.array([float(getattr(base, name)) for name in LEVER_NAMES])
    out = np.tile(row, (timeline.n_days, 1))
    for name, path in timeline.lever_paths.items():
        set_days = ~np.isnan(path)
        out[set_days, LEVER_NAMES.index(name)] = path[set_days]
    return out


def levers_of(base: Levers, row: np.ndarray) -> Levers:
    """``base`` with the values of one row of ``lever_matrix`` (``base`` itself if equal)."""
    changes = {
        name: float(value)
        for name, value in zip(LEVER_NAMES, row, strict=True)
        if value != getattr(base, name)
    }
    return dataclasses.replace(base, **changes) if changes else base


@functools.lru_cache(maxsize=64)
def _param_inputs(params: Params) -> tuple[np.ndarray, kernel.DelayTables]:
    """The parameter record and the delay tables (cached: ensembles reuse them)."""
    record = param_record(params)
    return record, kernel.delay_tables(record, PIPELINE_PAD - 1)


def run_inputs(
    params: Params, levers: Levers, timeline: Timeline, calendar: Calendar, layout: Layout
) -> kernel.RunInputs:
    """One run's inputs in the kernel's form (built once, shared by every replicate)."""
    record, delays = _param_inputs(params)
    dated = lever_matrix(levers, timeline)
    rules, actions = conditional.rule_tables(timeline.rules)
    return kernel.RunInputs(
        params=record,
        levers=lever_records(dated),
        lever_values=dated if timeline.rules else np.zeros((0, dated.shape[1])),
        rules=rules,
        actions=actions,
        # writable copies: Numba compiles read-only arrays (the scenario layer's are) as a
        # separate signature, which would compile the whole day loop twice
        forced_nuclear=np.array(timeline.nuclear(), dtype=np.int64),
        forced_missile=np.array(timeline.missile(), dtype=np.int64),
        forced_resolution=np.array(timeline.resolution(), dtype=np.float64),
        endogenous_from=int(timeline.endogenous_from),
        month_index=np.array(calendar.month_index, dtype=np.int64),
        year_index=np.array(calendar.year_index, dtype=np.int64),
        kind_stock=KIND_STOCK,
        layout=kernel_layout(layout),
        delays=delays,
    )


_NOT_PROFILING = np.zeros(0, dtype=np.uint64)


class NonFiniteOutcomeError(ValueError):
    """A run produced NaN or inf in an outcome: the parameters are outside what the model can do.

    The message (one line) names the outcome, the month and replicate where it
    first happened, and the parameters and levers standing at a bound of their
    admissible range (``core.params`` metadata), the usual cause (issue 17, item 5).
    """


def parameters_at_bounds(params: Params, levers: Levers | None = None) -> list[str]:
    """``group.name=value`` of every parameter (and lever) equal to an end of its bounds."""
    found = []
    groups: list[tuple[str, object]] = [
        (f.name, getattr(params, f.name)) for f in dataclasses.fields(params)
    ]
    if levers is not None:
        groups.append(("", levers))
    for prefix, group in groups:
        for f in dataclasses.fields(group):  # type: ignore[arg-type]
            lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
            value = getattr(group, f.name)
            if lo is None or not isinstance(value, int | float):
                continue
            if value in (lo, hi) or not np.isfinite(value):
                found.append(f"{prefix + '.' if prefix else ''}{f.name}={value:g}")
    return found


def check_finite(
    monthly: np.ndarray,
    calendar: Calendar,
    replicates: np.ndarray,
    params: Sequence[Params],
    levers: Levers | None = None,
) -> None:
    """Raise :class:`NonFiniteOutcomeError` if any monthly outcome is NaN or inf."""
    finite = np.isfinite(monthly)
    if finite.all():
        return
    r, v, m = (int(i[0]) for i in np.nonzero(~finite))
    suspects = parameters_at_bounds(params[r] if len(params) > 1 else params[0], levers)
    where = f"{calendar.months[m]} of replicate {int(replicates[r])}"
    cause = (
        f"parameters at a bound: {', '.join(suspects[:6])}"
        if suspects
        else "no parameter is at a bound"
    )
    raise NonFiniteOutcomeError(
        f"outcome {OUTCOME_NAMES[v]} is {monthly[r, v, m]} in {where} ({cause}); the run is refused"
    )


def simulate(
    params: Params,
    levers: Levers,
    calendar: Calendar,
    timeline: Timeline | None = None,
    *,
    seed: int = 0,
    replicates: int | np.ndarray = 1,
    layout: Layout | None = None,
    section_cycles: np.ndarray | None = None,
    replicate_params: Sequence[Params] | None = None,
) -> SimulationResult:
    """Simulate ``replicates`` (a count, or explicit replicate indices) over the calendar.

    Each replicate's whole run (day 0 and every day after) is one compiled
    call.  ``replicate_params``, if given, holds one parameter set per
    replicate (in the order of ``replicates``; parameter uncertainty: draws
    from a posterior or from declared ranges); ``params`` is then only the
    default.  A replicate's random stream depends on its index alone, so two
    settings run with the same indices share their draws (common random
    numbers).  ``section_cycles`` ((len(kernel.SECTIONS),) uint64), if given,
    accumulates the CPU cycles spent in each part of the day (profiling).
    """
    if isinstance(replicates, int | np.integer):
        rep_index = np.arange(int(replicates))
    else:
        rep_index = np.asarray(replicates, dtype=int)
    if rep_index.size == 0:
        raise ValueError("no replicates to simulate")
    timeline = timeline or Timeline(n_days=calendar.n_days)
    if timeline.n_days != calendar.n_days:
        raise ValueError("timeline and calendar lengths differ")
    if replicate_params is not None and len(replicate_params) != rep_index.size:
        raise ValueError(
            f"replicate_params: {len(replicate_params)} parameter sets for "
            f"{rep_index.size} replicates"
        )
    n_months = int(calendar.month_index[-1]) + 1
    monthly = np.zeros((rep_index.size, len(OUTCOME_NAMES), n_months))
    cycles = _NOT_PROFILING if section_cycles is None else section_cycles
    if replicate_params is None:
        layout = layout or build_layout(params)
        inputs = run_inputs(params, levers, timeline, calendar, layout)
        states = [allocate_state(layout, rep_index.size, calendar.n_days, len(timeline.rules))]
        rows = [(inputs, states[0], r) for r in range(rep_index.size)]
    else:  # each replicate its own parameters, inputs and (if its population differs) layout
        states, rows = [], []
        for replicate_param in replicate_params:
            replicate_layout = build_layout(replicate_param)
            states.append(allocate_state(replicate_layout, 1, calendar.n_days, len(timeline.rules)))
            inputs = run_inputs(replicate_param, levers, timeline, calendar, replicate_layout)
            rows.append((inputs, states[-1], 0))
    per_replicate = []
    for r, seed_sequence in enumerate(replicate_seeds(seed, rep_index)):
        inputs, state, row = rows[r]
        g = np.random.default_rng(seed_sequence)
        rep = replicate(state, row)
        log = new_event_log()
        kernel.start_replicate(g, inputs, rep)
        kernel.run_days(g, inputs, rep, 0, calendar.n_days, monthly[r], cycles, log)
        per_replicate.append(event_columns(int(rep_index[r]), *event_arrays(log)))
    average_means(monthly, calendar.month_index)
    check_finite(monthly, calendar, rep_index, replicate_params or [params], levers)
    events = {
        column: np.concatenate([rep[column] for rep in per_replicate])
        for column in per_replicate[0]
    }
    return SimulationResult(
        replicates=rep_index,
        months=calendar.months,
        outcome_names=OUTCOME_NAMES,
        monthly=monthly,
        events=events,
        ledger=Ledger.of(states),
        n_days=calendar.n_days,
    )
