"""Helpers shared by tests: reduced-size versions of the default scenario."""

from __future__ import annotations

import dataclasses

import numpy as np

from lipsteeth.core import kernel
from lipsteeth.core.events import new_event_log
from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.core.params import Levers, Params
from lipsteeth.core.simulate import replicate_seeds, run_inputs
from lipsteeth.core.state import Layout, ReplicateState, allocate_state, build_layout, replicate
from lipsteeth.core.timeline import Calendar, Timeline


def small_params(params: Params, restaurants: int = 40, labour_sites: int = 30) -> Params:
    """The default parameters with a smaller population (same per-site behaviour)."""
    pop = params.population
    scale = labour_sites / pop.labour_sites_max
    small_pop = dataclasses.replace(
        pop,
        restaurant_sites_max=restaurants,
        restaurants_initial=int(
            round(restaurants * pop.restaurants_initial / pop.restaurant_sites_max)
        ),
        labour_sites_max=labour_sites,
        labour_workers_initial=int(pop.labour_workers_initial * scale),
    )
    wf = params.wider_flow
    small_flow = dataclasses.replace(
        wf,
        hidden_initial=wf.hidden_initial * 0.1,
        crossing_rate_per_year=wf.crossing_rate_per_year * 0.1,
    )
    return dataclasses.replace(params, population=small_pop, wider_flow=small_flow)


@dataclasses.dataclass
class KernelWorld:
    """A started run of the compiled kernel, driven a day at a time from a test.

    ``inputs`` and ``state`` are what ``core.simulate`` builds; each replicate
    has its own generator and event log.  ``day(r, t)`` runs day ``t`` of
    replicate ``r`` through ``kernel.run_days`` and returns its outcomes.
    """

    params: Params
    levers: Levers
    layout: Layout
    inputs: kernel.RunInputs
    state: ReplicateState
    rngs: list[np.random.Generator]
    logs: list

    @property
    def p(self) -> np.record:
        """The parameter record the kernel reads (fields by attribute)."""
        return self.inputs.params.view(np.recarray)[0]

    def lever(self, t: int) -> np.record:
        """The levers in force on day ``t``."""
        return self.inputs.levers.view(np.recarray)[t]

    def rep(self, r: int) -> ReplicateState:
        """Replicate ``r``'s state; its records read by attribute (``rep.sites[s].open``)."""
        rows = replicate(self.state, r)
        return rows._replace(
            sites=rows.sites.view(np.recarray),
            hosts=rows.hosts.view(np.recarray),
            network=rows.network.view(np.recarray),
        )

    def net(self, r: int) -> np.record:
        return self.rep(r).network[0]

    def day(self, r: int, t: int) -> dict[str, float]:
        """Run day ``t`` of replicate ``r``; the day's value of every outcome."""
        monthly = np.zeros((len(OUTCOME_NAMES), int(self.inputs.month_index[-1]) + 1))
        kernel.run_days(
            self.rngs[r], self.inputs, self.rep(r), t, t + 1, monthly, NO_CYCLES, self.logs[r]
        )
        month = int(self.inputs.month_index[t])
        return dict(zip(OUTCOME_NAMES, monthly[:, month], strict=True))


NO_CYCLES = np.zeros(0, dtype=np.uint64)


def kernel_world(
    params: Params,
    levers: Levers,
    n_days: int,
    replicates: int = 2,
    seed: int = 5,
    timeline: Timeline | None = None,
    start: str = "2016-01-01",
) -> KernelWorld:
    """Day 0 of ``replicates`` replicates (initial state, warm start), ready to step."""
    calendar = Calendar(np.datetime64(start), n_days)
    timeline = timeline or Timeline(n_days=n_days)
    layout = build_layout(params)
    inputs = run_inputs(params, levers, timeline, calendar, layout)
    state = allocate_state(layout, replicates, n_days, len(timeline.rules))
    rngs = [np.random.default_rng(s) for s in replicate_seeds(seed, np.arange(replicates))]
    for r, g in enumerate(rngs):
        kernel.start_replicate(g, inputs, replicate(state, r))
    return KernelWorld(params, levers, layout, inputs, state, rngs, [new_event_log() for _ in rngs])


def run_cli(args: list[str]) -> int:
    """Run the ``lipsteeth`` command in this process; its exit code (typer exits)."""
    import pytest

    from lipsteeth.adapters.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)
