"""The kernel (``core.kernel``): every outcome is written, events decode, the profile adds up.

Whether the kernel simulates the model the Mesa reference implements is the
agreement suite's question (``test_reference_agreement``); the stock-flow
identities and reproducibility are in ``test_core_identities``, single
mechanisms in ``test_mechanisms``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

import lipsteeth.core as core_package
from lipsteeth.core import events, kernel
from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.core.simulate import simulate
from lipsteeth.core.timeline import Calendar

from .support import small_params
from .test_core_identities import _slice_timeline

CORE = Path(core_package.__file__).resolve().parent


@pytest.fixture(scope="module")
def lively_run(baseline):
    """2016 (tests, advisory, boycott) at reduced size with frequent flight.

    Flight hazards, helpers and a lax exit check are raised so that every
    kind of attempt, route and outcome occurs many times.
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
        # the issue 12 channels: a small detention (overflow, long detention), quick quota
        # reviews, short programme stages, eager nominees
        enforcement=dataclasses.replace(small.enforcement, detention_capacity=40.0),
        restaurants=dataclasses.replace(
            small.restaurants,
            quota_review_days=30.0,
            quota_review_threshold=0.05,
            closure_order_rate_per_year=4.0,
            nominee_rate_per_year=20.0,
            nominee_capacity_initial=0.8,
        ),
        strategic=dataclasses.replace(small.strategic, milestone_size=3.0),
    )
    # UN worker provisions in force all year (relabelling, closure orders, nominees)
    levers = dataclasses.replace(baseline.levers, china_exit_strictness=0.3, un_workers=0.6)
    calendar = Calendar(np.datetime64("2016-01-01"), 366)
    offset = int((calendar.start - baseline.start).astype(int))
    timeline = _slice_timeline(baseline.timeline, offset, calendar.n_days)
    return simulate(params, levers, calendar, timeline, seed=5, replicates=8)


def test_every_outcome_has_a_writer_in_the_core() -> None:
    """Each outcome of ``OUTCOMES`` is assigned (``out.<name> =`` or ``+=``) by core code."""
    source = "\n".join(path.read_text() for path in sorted(CORE.glob("*.py")))
    written = set(re.findall(r"\bout\.(\w+)\s*[+-]?=", source))
    assert set(OUTCOME_NAMES) <= written, sorted(set(OUTCOME_NAMES) - written)
    assert written <= set(OUTCOME_NAMES), sorted(written - set(OUTCOME_NAMES))


def test_every_outcome_is_exercised(lively_run) -> None:
    """In a lively year every outcome is finite and all but the rare ones are non-zero.

    The rare ones (expected fewer than a few a year at this size) may be zero,
    and two are zero in 2016 by the model: labour sites are paid by contract
    (no shortfall, no stress) and the UN worker provisions begin in 2017.
    """
    assert np.isfinite(lively_run.monthly).all()
    rare = {
        "stress_labour",
        "un_workers_level",
        "envoys",
        "un_resolutions",
        "nuclear_tests",
        "salary_suspended_restaurants",
        "repatriations_other_hosts",
        "restaurant_openings",
    }
    silent = [
        name
        for i, name in enumerate(OUTCOME_NAMES)
        if name not in rare and not np.any(lively_run.monthly[:, i] != 0)
    ]
    assert not silent, silent


def test_events_decode_to_the_store_columns(lively_run) -> None:
    """The event columns, their dtype kinds, vocabularies and (replicate, day) order."""
    columns = lively_run.events
    assert list(columns) == list(events.EVENT_COLUMNS)
    kinds = {
        "replicate": "i",
        "day": "i",
        "site": "i",
        "size": "i",
        "arrival_day": "i",
        "manager_led": "b",
        "helpers": "b",
        "value": "f",
    }
    for column, values in columns.items():
        assert values.dtype.kind == kinds.get(column, "U"), column
    for column, words in (
        ("kind", events.KINDS),
        ("sector", events.SECTORS),
        ("country", events.COUNTRIES),
        ("route", events.ROUTES),
        ("outcome", events.OUTCOMES),
    ):
        assert set(columns[column]) <= set(words), column
    assert {"defection_group", "nuclear_test", "missile_test", "closure"} <= set(columns["kind"])
    order = np.lexsort((columns["day"], columns["replicate"]))
    np.testing.assert_array_equal(order, np.arange(order.size))


def test_section_cycles_count_every_part_of_the_day(baseline) -> None:
    """The profile counters (benchmarks) add up, per part of the day."""
    params = small_params(baseline.params)
    calendar = Calendar(np.datetime64("2016-01-01"), 60)
    cycles = np.zeros(len(kernel.SECTIONS), dtype=np.uint64)
    simulate(params, baseline.levers, calendar, seed=1, section_cycles=cycles)
    assert (cycles > 0).all()
