"""Work and memory are estimated before a run or a sweep starts (issue 17, item 6).

``run --replicates 100000 --years 200`` (hundreds of GB of results) and ``sweep
--replicates 1000000000`` / ``--samples 10000000`` used to start and end in a
``MemoryError`` traceback; they are refused in one line naming the estimate and the
limit, before anything is written, unless ``--allow-large`` is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lipsteeth.adapters.cli import inputs
from lipsteeth.experiment import budget
from lipsteeth.scenario import load_scenario

from .support import run_cli


def refusal(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["run", "baseline-2016", "--replicates", "100000", "--years", "200"],
        ["sweep", "baseline-2016", "--replicates", "1000000000"],
        ["sweep", "baseline-2016", "--samples", "10000000"],
        ["sensitivity", "baseline-2016", "--samples", "8388608", "--second-order"],
    ],
    ids=["run", "sweep-replicates", "sweep-samples", "sensitivity"],
)
def test_oversized_work_is_refused_before_anything_is_written(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run_cli([*args, "--out", str(out)]) == 2
    line = refusal(capsys)
    assert "(limit " in line and "--allow-large" in line
    assert not out.exists()


def test_allow_large_overrides_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "WORK_LIMIT_POST_DAYS", 1.0)
    args = ["run", "baseline-2016", "--replicates", "2", "--years", "0.05"]
    assert run_cli([*args, "--out", str(tmp_path / "a")]) == 2
    assert "post-days of work (limit 1)" in refusal(capsys)
    assert run_cli([*args, "--out", str(tmp_path / "b"), "--allow-large"]) == 0
    assert (tmp_path / "b" / "manifest.json").is_file()


def test_estimates_scale_with_what_is_held() -> None:
    scenario = load_scenario("baseline-2016")
    params, days = scenario.params, scenario.calendar.n_days
    one = budget.run_budget(params, days, 1)
    many = budget.run_budget(params, days, 1000)
    assert one.post_days == days * budget.n_posts(params)
    assert many.post_days == 1000 * one.post_days
    assert 100 * one.memory_bytes < many.memory_bytes < 1000 * one.memory_bytes
    # the example: 100,000 replicates of 200 years is hundreds of GB
    huge = budget.run_budget(params, 73_050, 100_000)
    assert huge.memory_bytes > 1e11
    assert budget.design_points("saltelli", 5, 64) == 64 * 7
    assert budget.design_points("saltelli", 5, 64, second_order=True) == 64 * 12
    assert budget.design_points("grid", 3, 10) == 1000
    assert budget.design_points("morris", 4, 10) == 50
