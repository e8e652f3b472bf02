"""Shared fixtures: small, fast versions of the default scenario."""

from __future__ import annotations

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
