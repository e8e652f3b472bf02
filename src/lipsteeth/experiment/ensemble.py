"""Ensembles of one scenario: replicates on the leading axis (pure orchestration over core).

Replicate ``i`` of a run always uses child ``i`` of the root seed
(``core.simulate.replicate_seeds``), so chunks of replicates run anywhere
combine into exactly the run a single call would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core.simulate import SimulationResult, simulate

if TYPE_CHECKING:
    from ..scenario import Scenario


def run_scenario(
    scenario: Scenario,
    *,
    replicates: int | None = None,
    seed: int | None = None,
    replicate_indices: np.ndarray | None = None,
) -> SimulationResult:
    """Simulate a scenario's replicates (defaults from the scenario file) in one call.

    When the scenario carries parameter uncertainty (``Scenario.parameter_draws``,
    ``experiment.posterior``), each replicate runs with the parameter set drawn
    for its index under the run's seed.
    """
    indices = (
        np.asarray(replicate_indices, dtype=int)
        if replicate_indices is not None
        else np.arange(replicates if replicates is not None else scenario.replicates)
    )
    root_seed = scenario.seed if seed is None else seed
    draws = scenario.parameter_draws
    return simulate(
        scenario.params,
        scenario.levers,
        scenario.calendar,
        scenario.timeline,
        seed=root_seed,
        replicates=indices,
        replicate_params=(
            draws.replicate_params(scenario, root_seed, indices) if draws is not None else None
        ),
    )


def combine(results: list[SimulationResult]) -> SimulationResult:
    """Concatenate chunks of one run (same scenario and seed) in replicate order."""
    if not results:
        raise ValueError("nothing to combine")
    order = np.argsort(np.concatenate([r.replicates for r in results]), kind="stable")
    monthly = np.concatenate([r.monthly for r in results], axis=0)[order]
    events: dict[str, np.ndarray] = {}
    for name in results[0].events:
        events[name] = np.concatenate([r.events[name] for r in results])
    if events and events["replicate"].size:
        ev_order = np.lexsort((events["day"], events["replicate"]))
        events = {k: v[ev_order] for k, v in events.items()}
    ledger_fields = results[0].ledger.__dataclass_fields__
    ledger = type(results[0].ledger)(
        **{
            name: np.concatenate([getattr(r.ledger, name) for r in results])[order]
            for name in ledger_fields
        }
    )
    first = results[0]
    return SimulationResult(
        replicates=np.concatenate([r.replicates for r in results])[order],
        months=first.months,
        outcome_names=first.outcome_names,
        monthly=monthly,
        events=events,
        ledger=ledger,
        n_days=first.n_days,
    )
