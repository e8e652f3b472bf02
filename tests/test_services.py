"""The run use case (``lipsteeth.services``) as a front end without a console calls it.

``lipsteeth run`` and ``validate`` go through it in tests/test_cli.py and
tests/test_validation.py; here the path the web jobs are to take: no progress
display, one replicate per step, no fact checks, a label for the folder.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from lipsteeth import services
from lipsteeth.adapters import store
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.scenario import Scenario, load_scenario

SEED = 11


class CountingProgress:
    """Records what a front end would display."""

    def __init__(self) -> None:
        self.advanced: list[int] = []
        self.fact_stages = 0

    @contextlib.contextmanager
    def simulating(self, scenario: Scenario, replicates: int) -> Iterator[Callable[[int], None]]:
        self.total = replicates
        yield self.advanced.append

    @contextlib.contextmanager
    def checking_facts(self) -> Iterator[Callable[[], None]]:
        self.fact_stages += 1
        yield lambda: None


@pytest.fixture(scope="module")
def short() -> Scenario:
    return load_scenario("baseline-2016").with_overrides(years=1)


def test_run_into_folder_as_a_job_would(tmp_path: Path, short: Scenario) -> None:
    progress = CountingProgress()
    target = tmp_path / "results"
    record = services.run_into_folder(
        short,
        target,
        run_id="job-1",
        seed=SEED,
        replicates=3,
        chunk_size=1,
        check=False,
        progress=progress,
        force=True,
        argv=["serve", "job", "job-1"],
        results_dir="run job-1",
    )
    assert progress.advanced == [1, 1, 1] and progress.total == 3
    assert progress.fact_stages == 0 and record.facts == []
    # the same numbers as one call over all replicates on the same root seed
    direct = run_scenario(short, replicates=3, seed=SEED)
    np.testing.assert_array_equal(record.result.monthly, direct.monthly)
    assert record.scenario.seed == SEED and record.scenario.replicates == 3
    summary = json.loads((target / store.SUMMARY_FILE).read_text())
    manifest = json.loads((target / store.MANIFEST_FILE).read_text())
    assert summary == json.loads(store.dumps(record.summary))
    assert summary["results_dir"] == "run job-1" and summary["facts"] == []
    assert summary["replicates"] == 3 and summary["seed"] == SEED
    assert manifest["command_line"] == ["lipsteeth", "serve", "job", "job-1"]
    assert manifest["replicates"] == 3 and manifest["run_id"] == "job-1"
    assert all(check.holds for check in record.ledger)
    assert sorted(p.name for p in target.iterdir()) == sorted(store.RESULTS_FILES)


def test_record_run_refuses_an_occupied_folder_and_leaves_it(
    tmp_path: Path, short: Scenario
) -> None:
    result = run_scenario(short, replicates=2, seed=SEED)
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(store.ResultsFolderError):
        services.record_run(
            target,
            run_id="r",
            scenario=short,
            result=result,
            seed=SEED,
            wall_time_s=0.0,
            files={"extra.json": b"{}"},
        )
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["taken"], "no staging folder left"
