"""The golden baseline: exact digests of fixed-seed runs of the embedded scenarios.

``golden.json`` holds, for each case of ``CASES`` (scenario, root seed,
replicates), the SHA-256 of the run's monthly outcomes (also per outcome,
so a failure says which outcomes moved), of its event log and of its
ledger.  ``tests/test_golden.py`` recomputes them; any change to what the
model computes or the order it draws random numbers in changes a digest.

A refactor must leave every digest as it is.  An intended model change
regenerates the file on purpose, in a commit that says why:

    .venv/bin/python -m tests.golden.regenerate
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from lipsteeth.core.simulate import SimulationResult
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.scenario import load_scenario

GOLDEN_FILE = Path(__file__).with_name("golden.json")

#: (scenario, root seed, replicates): two to three seeds per embedded scenario,
#: two replicates each (replicate 1 checks that a run's children are drawn apart)
CASES: tuple[tuple[str, int, int], ...] = (
    ("baseline-2016", 20160406, 2),
    ("baseline-2016", 7, 2),
    ("baseline-2016", 123456789, 2),
    ("history", 1998, 2),
    ("history", 42, 2),
)


def _array_bytes(values: np.ndarray) -> bytes:
    """Bytes of an array in a fixed form: little-endian numbers, UTF-8 strings joined by NUL."""
    if values.dtype.kind in "US":
        return "\0".join(str(v) for v in values.tolist()).encode("utf-8")
    if values.dtype.kind == "b":
        return np.ascontiguousarray(values, dtype=np.uint8).tobytes()
    if values.dtype.kind in "iu":
        return np.ascontiguousarray(values, dtype="<i8").tobytes()
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def _sha(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def digests(result: SimulationResult) -> dict[str, Any]:
    """SHA-256 of a run's monthly outcomes (whole and per outcome), events and ledger."""
    per_outcome = {
        name: _sha(_array_bytes(result.monthly[:, i, :]))
        for i, name in enumerate(result.outcome_names)
    }
    events = _sha(
        *(
            name.encode() + b"=" + _array_bytes(result.events[name])
            for name in sorted(result.events)
        )
    )
    ledger = _sha(
        *(
            f.name.encode() + b"=" + _array_bytes(getattr(result.ledger, f.name))
            for f in fields(result.ledger)
        )
    )
    return {
        "monthly": _sha(*(name.encode() + b"=" + h.encode() for name, h in per_outcome.items())),
        "events": events,
        "ledger": ledger,
        "n_events": int(result.events["day"].shape[0]),
        "outcomes": per_outcome,
    }


def case_key(scenario: str, seed: int, replicates: int) -> str:
    return f"{scenario}/seed={seed}/replicates={replicates}"


def compute(scenario: str, seed: int, replicates: int) -> dict[str, Any]:
    """Run one golden case and return its digests."""
    result = run_scenario(load_scenario(scenario), seed=seed, replicates=replicates)
    return digests(result)


def load_golden() -> dict[str, Any]:
    return json.loads(GOLDEN_FILE.read_text())
