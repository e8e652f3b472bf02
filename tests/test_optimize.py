"""``lipsteeth optimize`` (issue 15, item 4): NSGA-II over levers, checkpointed per generation.

The resume test runs the search in a real subprocess, kills it with SIGKILL while it
simulates generation 3 (right after the checkpoint of generation 2 appears), resumes
it with ``--resume`` and asserts that the Pareto front (lever values and objective
metrics, exactly) equals the front of an uninterrupted search with the same seed.
Three objectives, a 6-month horizon, a tenth of the labour force, 3 futures,
population 8, 5 generations: each search takes a few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lipsteeth.experiment import optimize as opt
from lipsteeth.scenario import load_scenario
from tests.support import run_cli

SCENARIO = (
    '[scenario]\nextends = "baseline-2016"\nname = "small-6m"\n'
    'start = "2016-10-01"\nend = "2017-03-31"\n'
)
SPEC = """
[optimize]
futures = 3
population = 8
generations = 5
seed = 3
from = "2017-01-01"

[[levers]]
name = "china_sanctions"
low = 0.0
high = 0.9

[[levers]]
name = "food_aid"

[[objectives]]
name = "missile_tests"
outcome = "missile_tests"
metric = "expected"

[[objectives]]
name = "revenue"
outcome = "revenue_to_state_usd"
metric = "p90"

[[objectives]]
name = "economy_margin"
outcome = "economy_index"
statistic = "min_month"
direction = "max"
relative_to = "strategic.collapse_threshold"
threshold = 0.0
metric = "maximin"

[[constraints]]
objective = "economy_margin"
metric = "satisficing"
at_least = 0.5
"""
SHRINK = [
    "--set",
    "population.labour_workers_initial=3000",
    "--set",
    "population.labour_sites_max=40",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("optimize")
    (folder / "small.toml").write_text(SCENARIO)
    (folder / "spec.toml").write_text(SPEC)
    return folder


def command(folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        "optimize",
        str(folder / "small.toml"),
        "--spec",
        str(folder / "spec.toml"),
        "--out",
        str(out),
        "--name",
        "search",
        *SHRINK,
        *extra,
    ]


def front(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "experiments" / "search" / "analysis" / "pareto.parquet")


def test_killed_in_generation_3_resumes_to_the_same_front(files: Path) -> None:
    whole = files / "whole"
    assert run_cli(command(files, whole)) == 0
    expected = front(whole)
    assert len(expected) >= 2
    summary = json.loads((whole / "experiments" / "search" / "summary.json").read_text())
    assert summary["generations"] == 5 and summary["evaluations"] >= 5 * 8 - 8

    killed = files / "killed"
    info = killed / "experiments" / "search" / "checkpoint.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lipsteeth", *command(files, killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    generation = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if info.is_file():
                try:
                    generation = json.loads(info.read_text())["generation"]
                except (json.JSONDecodeError, KeyError):  # pragma: no cover - atomic writes
                    generation = None
                if generation == 2:  # generation 3 is being simulated now
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the search ended before it could be killed"
    assert json.loads(info.read_text())["generation"] == 2  # at most one generation lost
    assert not (killed / "experiments" / "search" / "analysis" / "pareto.parquet").exists()

    assert run_cli(command(files, killed)) == 2  # incomplete: needs --resume
    assert run_cli(command(files, killed, "--resume")) == 0
    resumed = front(killed)
    pd.testing.assert_frame_equal(resumed, expected, check_exact=True)


def test_spec_goals_are_signed_for_minimisation(files: Path) -> None:
    import tomllib

    scenario = load_scenario(str(files / "small.toml"))
    spec = opt.parse_spec(tomllib.loads(SPEC), "spec.toml", scenario)
    assert [g.label for g in spec.goals] == [
        "missile_tests:expected",
        "revenue:p90",
        "economy_margin:maximin",
    ]
    # food_aid takes the scenario's declared lever range
    assert spec.levers[1] == ("food_aid", 0.0, 1.0)
    values = np.array([[4.0, 100.0, 0.2], [2.0, 300.0, -0.1], [0.0, 200.0, 0.1]])
    metrics, f, g = opt.scores(spec, values)
    assert metrics == pytest.approx([2.0, 280.0, -0.1])  # mean, p90, worst (lowest)
    assert f == pytest.approx([2.0, 280.0, 0.1])  # the maximised metric negated
    assert g == pytest.approx([0.5 - 2 / 3])  # satisficing 2 of 3 >= 0.5: feasible


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('[[levers]]\nname = "china_sanction"\n', "levers[0].name: not a lever"),
        ('[[levers]]\nname = "food_aid"\nlow = 0.5\nhigh = 0.2\n', "levers[0]: need 0 <= low"),
        (
            '[[levers]]\nname = "food_aid"\n[[objectives]]\nname = "t"\noutcome = "nuclear_tests"'
            '\nmetric = "minimax_regret"\n',
            "needs rival policies",
        ),
        (
            '[[levers]]\nname = "food_aid"\n[[objectives]]\nname = "t"\noutcome = "nuclear_tests"'
            '\nmetric = "satisficing"\n',
            "satisficing needs the objective's threshold",
        ),
        ('[optimize]\npopulation = 1\n[[levers]]\nname = "food_aid"\n', "optimize.population"),
        ("[optimise]\nx = 1\n", "unknown key (did you mean 'optimize'?)"),
    ],
)
def test_bad_spec_is_one_line_exit_2_nothing_written(
    tmp_path: Path, files: Path, spec: str, message: str, capsys
) -> None:
    path = tmp_path / "spec.toml"
    if "[[objectives]]" not in spec and "optimise" not in spec:
        spec += '[[objectives]]\nname = "t"\noutcome = "nuclear_tests"\n'
    path.write_text(spec)
    out = tmp_path / "never"
    code = run_cli(
        ["optimize", str(files / "small.toml"), "--spec", str(path), "--out", str(out), *SHRINK]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {path}: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_the_search_report_has_the_pareto_set(files: Path) -> None:
    folder = files / "whole" / "experiments" / "search"
    if not (folder / "summary.json").is_file():
        assert run_cli(command(files, files / "whole")) == 0
    assert run_cli(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text()
    assert 'id="search"' in page and "Parallel coordinates of the Pareto set" in page
    assert "Robustness of the Pareto set" in page and page.count("<svg") >= 2


RULE_SPEC = """
[optimize]
futures = 2
population = 4
generations = 2
seed = 5
from = "2016-11-01"

[[rules]]
name = "sticks after a test"
when = "missile_tests"
above = 0.5
days = 30
source = "assumption: the stick whose size and length the search chooses"
actions = [{lever = "china_sanctions", add = 0.2}]

[[levers]]
name = "rules.sticks after a test.actions[0].add"
low = 0.0
high = 0.8

[[levers]]
name = "rules.sticks after a test.days"
low = 10
high = 120

[[objectives]]
name = "missile_tests"
outcome = "missile_tests"
metric = "expected"

[[objectives]]
name = "revenue"
outcome = "revenue_to_state_usd"
direction = "max"
metric = "expected"
"""


def test_rule_parameters_are_decision_variables(files: Path) -> None:
    """Issue 15 item 4: a conditional policy's numbers are searched, and reach the core."""
    import tomllib

    scenario = load_scenario(str(files / "small.toml"))
    spec = opt.parse_spec(tomllib.loads(RULE_SPEC), "rules.toml", scenario)
    policy = opt.candidate_policy(spec, [0.45, 61.6])
    (rule,) = policy.rules
    assert rule["actions"][0]["add"] == 0.45 and rule["days"] == 62
    from lipsteeth.scenario import apply_policy

    applied = apply_policy(scenario, policy)
    core_rule = applied.timeline.rules[-1]
    assert core_rule.days == 62 and core_rule.actions[0].value == 0.45
    assert core_rule.first_day == applied.calendar.day_of("2016-11-01")
    # a search over them runs end to end and its front holds the rule fields
    (files / "rules.toml").write_text(RULE_SPEC)
    out = files / "rules-search"
    args = ["optimize", str(files / "small.toml"), "--spec", str(files / "rules.toml")]
    assert run_cli([*args, "--out", str(out), "--name", "search", *SHRINK]) == 0
    assert "rules.sticks after a test.days" in front(out).columns


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('name = "rules.sticks after a test.days"', 'name = "rules.sticks after a tst.days"'),
        ("high = 120", "high = 120\nextra = 1"),
    ],
)
def test_bad_rule_variables_are_refused(files: Path, change: str, message: str) -> None:
    import tomllib

    scenario = load_scenario(str(files / "small.toml"))
    with pytest.raises(opt.SearchError) as err:
        opt.parse_spec(tomllib.loads(RULE_SPEC.replace(change, message)), "r.toml", scenario)
    assert "levers[1]" in str(err.value) and "\n" not in str(err.value)
