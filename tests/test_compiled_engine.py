"""The compiled engine (``core.compiled``): its own parts, and its results' shape.

Whether it simulates the same model as the numpy engine and the Mesa
reference is the agreement suite's question (``test_reference_agreement``);
the stock-flow identities and reproducibility are checked for both engines
in ``test_core_identities``.  Here: the delay sampler (M7/M10 pipelines),
the event columns, every outcome being written, and bad engine names.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from lipsteeth.core import compiled
from lipsteeth.core.m07_enforcement import delay_pmf
from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.core.simulate import ENGINES, simulate
from lipsteeth.core.state import PIPELINE_PAD
from lipsteeth.core.timeline import Calendar

from .support import small_params
from .test_core_identities import _slice_timeline


@pytest.mark.parametrize(("mean_days", "shape"), [(30.0, 2.0), (120.0, 3.0), (0.0, 2.0)])
def test_alias_table_holds_the_delay_distribution_exactly(mean_days: float, shape: float) -> None:
    """The alias table's implied probabilities equal the pmf (to rounding)."""
    pmf = delay_pmf(mean_days, shape, PIPELINE_PAD - 1)
    keep, alias = compiled.alias_table(pmf)
    n = pmf.shape[0]
    implied = keep / n
    np.add.at(implied, alias, (1.0 - keep) / n)
    np.testing.assert_allclose(implied, pmf, rtol=1e-9, atol=1e-15)


def test_scheduled_delays_follow_the_pmf() -> None:
    """200,000 people scheduled on day 0 land on days 1.. with the pmf's frequencies.

    Chi-square goodness of fit over the days with an expected count of at
    least 5 (the tail pooled); fails wrongly with probability 1e-6 for a
    correct sampler (one fixed seed, so the outcome is deterministic).
    """
    pmf = delay_pmf(45.0, 2.0, PIPELINE_PAD - 1)
    keep, alias = compiled.alias_table(pmf)
    pipeline = np.zeros(PIPELINE_PAD + 5, dtype=np.int64)
    n = 200_000
    compiled._schedule(np.random.default_rng(2024), pipeline, 0, n, keep, alias)
    assert pipeline[0] == 0 and pipeline.sum() == n
    observed = pipeline[1 : 1 + pmf.shape[0]]
    expected = n * pmf
    cells = expected >= 5
    obs = np.append(observed[cells], observed[~cells].sum())
    exp = np.append(expected[cells], expected[~cells].sum())
    p = stats.chisquare(obs, exp).pvalue
    assert p > 1e-6, p


def test_schedule_drops_what_falls_beyond_the_pipeline() -> None:
    """Nobody is written past the end (the kernel runs without bounds checks)."""
    pmf = delay_pmf(45.0, 2.0, PIPELINE_PAD - 1)
    keep, alias = compiled.alias_table(pmf)
    pipeline = np.zeros(20, dtype=np.int64)
    compiled._schedule(np.random.default_rng(1), pipeline, 10, 1_000, keep, alias)
    assert pipeline[:11].sum() == 0
    assert 0 < pipeline.sum() < 1_000  # delays of 1..9 days stay, the rest is beyond the end


@pytest.fixture(scope="module")
def both_engines(baseline):
    """2016 (tests, advisory, boycott) at reduced size with frequent flight, by each engine.

    Flight hazards, helpers and a lax exit check are raised so that every
    kind of attempt, route and outcome occurs many times (each is expected
    at least ten times over the replicates; absent with probability < 1e-4).
    """
    small = small_params(baseline.params)
    params = dataclasses.replace(
        small,
        defection=dataclasses.replace(
            small.defection,
            restaurant_hazard_per_year=0.5,
            labour_hazard_per_year=0.2,
            manager_hazard_per_year=0.2,
            helper_restaurant=0.6,
            helper_labour=0.4,
        ),
    )
    levers = dataclasses.replace(baseline.levers, china_exit_strictness=0.3)
    calendar = Calendar(np.datetime64("2016-01-01"), 366)
    offset = int((calendar.start - baseline.start).astype(int))
    timeline = _slice_timeline(baseline.timeline, offset, calendar.n_days)
    return {
        engine: simulate(params, levers, calendar, timeline, seed=5, replicates=8, engine=engine)
        for engine in ENGINES
    }


def test_every_outcome_is_written(both_engines) -> None:
    """An outcome the numpy engine records with a total of at least 20, the compiled one records.

    For a count, a total of 20 in one engine and 0 in the other has
    probability below 1e-8 under a common Poisson rate, so a zero here means
    the kernel never writes the outcome.  (Rarer ones, such as envoys, are
    skipped.)
    """
    numpy_run, compiled_run = both_engines["numpy"], both_engines["compiled"]
    assert np.isfinite(compiled_run.monthly).all()
    checked = 0
    for i, name in enumerate(OUTCOME_NAMES):
        if np.abs(numpy_run.monthly[:, i]).sum() >= 20:
            checked += 1
            assert np.any(compiled_run.monthly[:, i] != 0), f"{name} never written"
    assert checked >= 60


def test_events_have_the_numpy_engine_columns(both_engines) -> None:
    """Same columns, same dtype kinds, values from the same vocabularies."""
    numpy_events, compiled_events = both_engines["numpy"].events, both_engines["compiled"].events
    assert list(compiled_events) == list(numpy_events)
    for column, values in compiled_events.items():
        assert values.dtype.kind == numpy_events[column].dtype.kind, column
    for column in ("kind", "sector", "country", "route", "outcome"):
        assert set(compiled_events[column]) <= set(getattr(compiled, _VOCABULARY[column]))
    kinds = set(compiled_events["kind"])
    assert {"defection_group", "nuclear_test", "missile_test"} <= kinds
    order = np.lexsort((compiled_events["day"], compiled_events["replicate"]))
    np.testing.assert_array_equal(order, np.arange(order.size))  # sorted like EventLog


_VOCABULARY = {
    "kind": "EVENT_KINDS",
    "sector": "SECTORS",
    "country": "COUNTRIES",
    "route": "ROUTES",
    "outcome": "EVENT_OUTCOMES",
}


def test_unknown_engine_is_refused(baseline) -> None:
    calendar = Calendar(np.datetime64("2016-01-01"), 10)
    with pytest.raises(ValueError, match="engine"):
        simulate(small_params(baseline.params), baseline.levers, calendar, engine="fortran")


def test_section_cycles_count_every_part_of_the_day(baseline) -> None:
    """The profile counters (benchmarks) add up, per part, on the compiled engine only."""
    params = small_params(baseline.params)
    calendar = Calendar(np.datetime64("2016-01-01"), 60)
    cycles = np.zeros(len(compiled.SECTIONS), dtype=np.uint64)
    simulate(params, baseline.levers, calendar, seed=1, section_cycles=cycles)
    assert (cycles > 0).all()
    with pytest.raises(ValueError, match="section_cycles"):
        simulate(params, baseline.levers, calendar, engine="numpy", section_cycles=cycles)
