"""Runs whose horizon does not reach every input or fact (issue 16).

- A dated event outside the horizon (a file's own, or the timeline ``--years`` cuts off)
  is not simulated: ``lipsteeth run`` warns on stderr, naming its key path, and
  ``manifest.json`` records it (``events_outside_horizon``).
- A fact row whose window (the years its statistic names) the run does not simulate is
  "not evaluated", never "consistent: no", and the counterfactual ensembles of F6 and F9
  are not run for a horizon that does not reach 2016; ``run --no-facts`` skips them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipsteeth.experiment import facts as fx
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.scenario import load_scenario, load_scenario_text

from .web_live import TINY_PARAMS

#: a small population, so that a CLI run takes a second
TINY_TOML = "\n".join(
    [
        "[scenario]",
        'extends = "baseline-2016"',
        'name = "tiny"',
        "",
        *(
            f"[parameters.{key}]\nvalue = {value!r}\nrange = [{value // 2!r}, {value * 2!r}]\n"
            for key, value in TINY_PARAMS.items()
        ),
    ]
)

LATE_EVENT = """
[[events]]
date = "2031-05-01"
kind = "missile_test"
count = 2
source = "assumption: a typo for 2013"
"""


def lipsteeth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lipsteeth", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_events_outside_the_horizon_are_named() -> None:
    text = TINY_TOML.replace('name = "tiny"', 'name = "late"\nstart = "2013-01-01"') + (
        LATE_EVENT
        + """
[[events]]
date = "2012-06-01"
until = "2013-03-31"
kind = "lever"
lever = "china_exit_strictness"
value = 0.5
source = "assumption: in force when the run starts"

[[events]]
date = "2012-03-01"
until = "2012-09-30"
kind = "lever"
lever = "china_exit_strictness"
value = 0.5
source = "assumption: over before the run starts"

[[events]]
date = "2012-10-01"
kind = "nuclear_test"
source = "assumption: a test before the run starts"
"""
    )
    scenario = load_scenario_text(text, source="late.toml")
    outside = {e["key"]: e for e in scenario.events_outside_horizon()}
    events = scenario.to_dict()["events"]
    for key, entry in outside.items():  # keys are paths into the resolved event list
        assert events[int(key[len("events[") : -1])]["date"] == entry["date"]
    by_date = {e["date"]: e["reason"] for e in outside.values()}
    assert by_date["2031-05-01"] == "dated 2031-05-01, after the horizon's end 2020-12-31"
    assert by_date["2012-03-01"] == (
        "in force 2012-03-01 to 2012-09-30, before the horizon's start 2013-01-01"
    )
    assert by_date["2012-10-01"] == "dated 2012-10-01, before the horizon's start 2013-01-01"
    # still in force on the first day: simulated (the baseline's 2012-12-04 lever has no end)
    assert "2012-06-01" not in by_date and "2012-12-04" not in by_date
    assert load_scenario("baseline-2016").events_outside_horizon() == []


def test_run_warns_and_records_events_outside_the_horizon(tmp_path: Path) -> None:
    (tmp_path / "late.toml").write_text(TINY_TOML + LATE_EVENT)
    done = lipsteeth(
        "run", "late.toml", "--replicates", "1", "--no-facts", "--out", "late", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "1 dated event(s) outside the horizon 2012-01-01 to 2020-12-31" in warnings[0]
    manifest = json.loads((tmp_path / "late" / "manifest.json").read_text())
    (late,) = manifest["events_outside_horizon"]
    assert late["date"] == "2031-05-01" and late["kind"] == "missile_test"
    assert f"{late['key']} missile_test dated 2031-05-01" in warnings[0]

    # --years cuts off every event after 2012: each is named in the manifest
    done = lipsteeth(
        "run", "late.toml", "--years", "1", "--replicates", "1", "--out", "cut", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    later = [e for e in manifest["scenario"]["events"] if e["date"] > "2012-12-31"]
    assert len(manifest["events_outside_horizon"]) == len(later) > 5
    assert "recorded in manifest.json: events_outside_horizon" in done.stderr
    # a one-year run reaches no fact's window but F8's: 'not evaluated', never 'no'
    verdicts = [
        line.rsplit("│", 2)[-2].strip()
        for line in done.stdout.splitlines()
        if line.startswith("│ F")
    ]
    assert len(verdicts) == 18 and verdicts.count("not evaluated") == 17
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert [f["consistent"] for f in summary["facts"]].count(None) == len(verdicts) - 1


def test_no_facts_skips_the_checks(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    done = lipsteeth(
        "run",
        "tiny.toml",
        "--years",
        "5",
        "--replicates",
        "2",
        "--no-facts",
        "--out",
        "o",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "checking facts" not in done.stderr and "not checked (run --no-facts)" in done.stdout
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["facts"] == []


def test_fact_rows_are_evaluated_only_within_their_window() -> None:
    scenario = load_scenario("baseline-2016").with_overrides(params=TINY_PARAMS, years=3)
    result = run_scenario(scenario, replicates=2, seed=3)
    calls: list[str] = []

    def runner(changed, replicates):  # type: ignore[no-untyped-def]
        calls.append(changed.name)
        return run_scenario(changed, replicates=replicates)

    rows = fx.check_facts(scenario, result, runner=runner)
    assert calls == []  # 2012-2014 does not reach the counterfactuals' 2012-2016
    for row in rows:
        window = fx.statistic_years(row.statistic)
        if window is None:  # F8's control after attempts names no period: the whole run
            assert row.covered and np.isfinite(row.median)
        else:
            assert window[1] > 2014, row.statistic
            assert not row.covered and np.isnan(row.median) and not row.consistent
            assert row.to_dict()["consistent"] is None
    # every row but one names its window, and a run that holds those years evaluates it
    assert sum(fx.statistic_years(r.statistic) is None for r in rows) == 1
    assert fx.covers_years(result, 2012, 2014) and not fx.covers_years(result, 2012, 2015)
    assert fx.statistic_years("2016 defectors / (mean 2012-2015 + 1)") == (2012, 2016)


def test_a_mean_over_part_of_its_window_is_not_evaluated() -> None:
    scenario = load_scenario("baseline-2016").with_overrides(params=TINY_PARAMS, years=2)
    result = run_scenario(scenario, replicates=1, seed=3)
    with pytest.raises(fx.PeriodNotCoveredError):
        fx._years_mean(result, "repatriations_from_china", 2012, 2016)
    assert fx._years_mean(result, "repatriations_from_china", 2012, 2013).shape == (1,)
