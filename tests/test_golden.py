"""The golden baseline: fixed seeds reproduce the committed digests exactly.

What the model computes, and the order it draws its random numbers in, is
pinned by ``tests/golden/golden.json`` (see ``tests/golden/__init__.py``).
A refactor must pass this test unchanged; an intended model change
regenerates the file (``python -m tests.golden.regenerate``) in a commit
that says why.  Deterministic: no false failures.
"""

from __future__ import annotations

import pytest

from .golden import CASES, case_key, compute, load_golden


@pytest.mark.parametrize(("scenario", "seed", "replicates"), CASES)
def test_run_matches_golden_digests(scenario: str, seed: int, replicates: int) -> None:
    key = case_key(scenario, seed, replicates)
    expected = load_golden()[key]
    got = compute(scenario, seed, replicates)
    moved = sorted(
        name for name, digest in got["outcomes"].items() if expected["outcomes"].get(name) != digest
    )
    assert got["monthly"] == expected["monthly"], f"{key}: monthly outcomes changed: {moved}"
    assert got["n_events"] == expected["n_events"], f"{key}: number of events changed"
    assert got["events"] == expected["events"], f"{key}: event log changed"
    assert got["ledger"] == expected["ledger"], f"{key}: ledger changed"
