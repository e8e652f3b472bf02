"""Run the model: replicates on the leading axis, one random stream per replicate.

``simulate`` is the public entry of the core.  Replicate i always draws from
``SeedSequence(root_seed).spawn(...)[i]`` (via ``replicate_seeds``), so any
subset of replicates, run in any batch or on any executor, gives the same
numbers as the full run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import compiled
from . import m09_strategic as m9
from . import m10_wider_flow as m10
from .events import EventLog
from .outcomes import OUTCOME_NAMES, MonthlyAccumulator, average_means
from .params import LEVER_NAMES, Levers, Params
from .state import PIPELINE_PAD, Layout, State, build_layout, init_state
from .step import DayInputs, DelayTables, step
from .timeline import Calendar, Timeline

ENGINES: tuple[str, ...] = ("compiled", "numpy")
DEFAULT_ENGINE = "compiled"


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


def lever_schedule(
    base: Levers, timeline: Timeline, matrix: np.ndarray | None = None
) -> list[Levers]:
    """The levers in force on each day: ``base`` overridden by the timeline's paths.

    A path value of NaN leaves the base value.  Days with the same values
    share one ``Levers`` object, so a run builds one per change, not per day.
    ``matrix`` is ``lever_matrix(base, timeline)`` if already at hand.
    """
    if matrix is None:
        matrix = lever_matrix(base, timeline)
    changed = np.concatenate([[True], (matrix[1:] != matrix[:-1]).any(axis=1)])
    schedule: list[Levers] = []
    current = base
    for day in range(timeline.n_days):
        if changed[day]:
            current = levers_of(base, matrix[day])
        schedule.append(current)
    return schedule


def simulate(
    params: Params,
    levers: Levers,
    calendar: Calendar,
    timeline: Timeline | None = None,
    *,
    seed: int = 0,
    replicates: int | np.ndarray = 1,
    layout: Layout | None = None,
    engine: str = DEFAULT_ENGINE,
    section_cycles: np.ndarray | None = None,
) -> SimulationResult:
    """Simulate ``replicates`` (a count, or explicit replicate indices) over the calendar.

    ``engine`` picks the implementation of the day loop: ``"compiled"`` runs
    each replicate's whole loop in one Numba call (``core.compiled``),
    ``"numpy"`` steps all replicates a day at a time (``core.step``).  Both
    are the same model and agree in distribution; their random streams
    differ, so the same seed gives different (equally likely) paths.
    ``section_cycles`` ((len(compiled.SECTIONS),) uint64), compiled engine
    only, accumulates the CPU cycles spent in each part of the day (profiling).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine: must be one of {', '.join(ENGINES)}, got {engine!r}")
    if section_cycles is not None and engine != "compiled":
        raise ValueError("section_cycles: only the compiled engine counts cycles")
    if isinstance(replicates, int | np.integer):
        rep_index = np.arange(int(replicates))
    else:
        rep_index = np.asarray(replicates, dtype=int)
    if rep_index.size == 0:
        raise ValueError("no replicates to simulate")
    timeline = timeline or Timeline(n_days=calendar.n_days)
    if timeline.n_days != calendar.n_days:
        raise ValueError("timeline and calendar lengths differ")
    layout = layout or build_layout(params)
    rngs = [np.random.default_rng(s) for s in replicate_seeds(seed, rep_index)]
    state: State = init_state(params, levers, layout, calendar.n_days, rngs)
    delays = DelayTables.build(params, PIPELINE_PAD - 1)
    lever_days = lever_matrix(levers, timeline)
    # M7/M10: people already in transit or detention when the run starts
    day0 = m9.beijing_policy(state, params, levers_of(levers, lever_days[0]))
    m10.warm_start_pipelines(rngs, state, params, day0, delays.transit, delays.detention)
    if engine == "compiled":
        monthly, events = _run_compiled(
            rngs, state, layout, params, lever_days, timeline, calendar, delays, section_cycles
        )
    else:
        monthly, events = _run_numpy(
            rngs,
            state,
            layout,
            params,
            lever_schedule(levers, timeline, lever_days),
            timeline,
            calendar,
            delays,
        )
    state.day = calendar.n_days
    events["replicate"] = (
        rep_index[events["replicate"]] if events["replicate"].size else events["replicate"]
    )
    ledger = Ledger(
        initial_in_post=state.initial_in_post,
        hired=state.hired,
        in_post=state.in_post.sum(axis=1),
        escaped=state.exits_escaped,
        caught=state.exits_caught,
        recalled=state.exits_recalled,
        other_exits=state.exits_other,
    )
    return SimulationResult(
        replicates=rep_index,
        months=calendar.months,
        outcome_names=OUTCOME_NAMES,
        monthly=monthly,
        events=events,
        ledger=ledger,
        n_days=calendar.n_days,
    )


def _run_numpy(
    rngs: list[np.random.Generator],
    state: State,
    layout: Layout,
    params: Params,
    levers_by_day: list[Levers],
    timeline: Timeline,
    calendar: Calendar,
    delays: DelayTables,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All replicates a day at a time (``step``): monthly outcomes and events."""
    log = EventLog()
    acc = MonthlyAccumulator(len(rngs), calendar.month_index)
    nuclear, missile, resolution = timeline.nuclear(), timeline.missile(), timeline.resolution()
    month_index = calendar.month_index
    for day in range(calendar.n_days):
        inputs = DayInputs(
            levers=levers_by_day[day],
            forced_nuclear=int(nuclear[day]),
            forced_missile=int(missile[day]),
            forced_resolution=resolution[day],
            endogenous=day >= timeline.endogenous_from,
            month_end=day == calendar.n_days - 1 or month_index[day + 1] != month_index[day],
        )
        acc.add(day, step(rngs, state, layout, params, inputs, delays, log))
    return acc.result(), log.to_arrays()


def _run_compiled(
    rngs: list[np.random.Generator],
    state: State,
    layout: Layout,
    params: Params,
    lever_days: np.ndarray,
    timeline: Timeline,
    calendar: Calendar,
    delays: DelayTables,
    section_cycles: np.ndarray | None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each replicate's whole run in one compiled call: monthly outcomes and events."""
    month_index = calendar.month_index
    inputs = compiled.run_inputs(
        params, lever_days, timeline, month_index, layout, delays.transit, delays.detention
    )
    n_months = int(month_index[-1]) + 1
    monthly = np.zeros((len(rngs), len(OUTCOME_NAMES), n_months))
    per_replicate = [
        compiled.simulate_replicate(g, inputs, layout, state, r, monthly[r], section_cycles)
        for r, g in enumerate(rngs)
    ]
    average_means(monthly, month_index)
    events = {
        column: np.concatenate([rep[column] for rep in per_replicate])
        for column in per_replicate[0]
    }
    return monthly, events
