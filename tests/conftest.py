"""Shared fixtures: small, fast versions of the default scenario; the xdist guard."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest

from lipsteeth.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    return load_scenario("baseline-2016")


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """Stop an xdist run whose workers collected several tests under one node id.

    xdist schedules by node id, so of several items with one id (schemathesis
    gives each API operation the test function's id) it runs one and drops the
    rest without a word: ``make test`` once ran 1 of 17 operations of the API
    fuzz. Such tests are marked ``serial`` and the Makefile runs them without xdist.
    """
    shared = sorted(nodeid for nodeid, n in collections.Counter(ids).items() if n > 1)
    if shared:
        pytest.exit(
            f"{len(shared)} node id(s) name several tests, and xdist would run one of each: "
            f"{', '.join(shared)}; mark them serial and run them with -p no:xdist",
            returncode=4,
        )
