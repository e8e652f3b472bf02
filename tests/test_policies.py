"""The policy library (issue 15, item 2): shipped policies, validation, applying one to a scenario.

Every shipped policy loads, names its file, gives a source for every value and applies to
``baseline-2016`` as a valid scenario; a bad policy file is refused with one line naming
the file and the key path (exit code 2 on the command line, nothing written); applying a
policy sets exactly its levers (from its ``from`` date, as lever events) and appends its
events, and leaves the scenario's parameter draws as they were (common random numbers).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from lipsteeth.experiment.posterior import with_uncertainty
from lipsteeth.scenario import (
    ScenarioError,
    apply_policy,
    list_policies,
    load_policy,
    load_policy_text,
    load_scenario,
    policy_names,
)
from tests.support import run_cli

SHIPPED = {"status-quo", "signal-2016", "max-pressure", "engagement", "calibrated-sticks"}
HEADER = '[policy]\nname = "mine"\ntitle = "My policy"\n'


@pytest.fixture(scope="module")
def baseline():
    return load_scenario("baseline-2016")


def test_the_library_ships_the_five_policies() -> None:
    assert set(policy_names()) == SHIPPED
    assert {name for name, _ in list_policies()} == SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_policy_is_valid_sourced_and_applies(name: str, baseline) -> None:
    policy = load_policy(name)
    assert policy.name == name and policy.title
    for lever, (_value, source) in policy.levers.items():
        assert source.strip(), lever
    for event in policy.events:
        assert event["source"].strip()
    applied = apply_policy(baseline, policy)
    assert applied.name == f"baseline-2016.{name}"
    assert len(applied.events) == len(baseline.events) + len(policy.events) + (
        len(policy.levers) if policy.start else 0
    )
    # its rules reach the scenario (and its core timeline), after the scenario's own
    document = tomllib.loads(policy.text)
    assert len(applied.rules) == len(baseline.rules) + len(document.get("rules", []))
    assert len(applied.timeline.rules) == len(applied.rules)
    for rule in policy.rules:
        assert rule["source"].strip(), rule["name"]


def test_max_pressure_sets_its_levers_from_2017_only(baseline) -> None:
    policy = load_policy("max-pressure")
    applied = apply_policy(baseline, policy)
    # baseline values untouched: the policy acts through lever events from its date
    assert applied.levers == baseline.levers
    added = applied.events[len(baseline.events) :]
    assert {e["lever"] for e in added} == set(policy.levers)
    assert all(e["date"] == "2017-01-01" and "until" not in e for e in added)
    path = applied.timeline.lever_paths["china_sanctions"]
    day = int((np.datetime64("2017-01-01") - applied.start).astype(int))
    assert np.all(np.isnan(path[:day]))  # the scenario's baseline value before 2017
    assert np.all(path[day:] == 0.9)
    assert next(e for e in added if e["lever"] == "china_sanctions")["source"].startswith(
        "policy max-pressure: "
    )


def test_a_policy_without_from_replaces_baseline_values_and_widens_ranges(baseline) -> None:
    policy = load_policy_text(
        HEADER + '[levers.china_sanctions]\nvalue = 0.9\nsource = "assumption: test"\n',
        "mine.toml",
    )
    applied = apply_policy(baseline, policy)
    assert applied.levers.china_sanctions == 0.9
    info = applied.provenance["lever.china_sanctions"]
    assert info.provenance == "policy mine: assumption: test"
    assert info.range == (0.0, 0.9)  # the baseline's [0, 0.6] widened to hold it
    assert len(applied.events) == len(baseline.events)


def test_applying_keeps_the_parameter_draws(baseline) -> None:
    drawn = with_uncertainty(baseline, "auto")
    applied = apply_policy(drawn, load_policy("engagement"))
    assert applied.parameter_draws is drawn.parameter_draws
    reps = np.arange(5)
    assert drawn.parameter_draws.parameter_sets(3, reps) == applied.parameter_draws.parameter_sets(
        3, reps
    )


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        (
            '[levers.china_sanctions]\nvalue = 1.5\nsource = "a"\n',
            "levers.china_sanctions.value",
            "less than or equal to 1",
        ),
        (
            '[levers.china_sanction]\nvalue = 0.5\nsource = "a"\n',
            "levers.china_sanction",
            "did you mean 'china_sanctions'",
        ),
        ("[levers.food_aid]\nvalue = 0.5\n", "levers.food_aid.source", "required key"),
        (
            '[levers.food_aid]\nvalue = 0.5\nsource = "a"\nrange = [0, 1]\n',
            "levers.food_aid.range",
            "unknown key",
        ),
        ('[[rules]]\nname = "r"\n', "rules[0].when", "required key"),
        (
            '[[rules]]\nname = "r"\nwhen = "envoys"\nabove = 0.5\nsource = "a"\n'
            'actions = [{lever = "food_aid", add = 0.3}]\n',
            "rules[0].days",
            "required for mode 'after'",
        ),
        (
            '[[events]]\ndate = "2017-01-01"\nkind = "lever"\nlever = "food_aid"\nvalue = 3.0\n'
            'source = "a"\n',
            "events[0].value",
            "outside the bounds",
        ),
        (
            '[[events]]\ndate = "2017-01-01"\nkind = "coup"\nsource = "a"\n',
            "events[0].kind",
            "unknown event kind",
        ),
        ("[extra]\nx = 1\n", "extra", "unknown key"),
    ],
)
def test_bad_policy_is_one_line_naming_the_file_and_key(text: str, path: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        load_policy_text(HEADER + text, "mine.toml")
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"mine.toml: {path}: "), message
    assert reason in message


def test_header_errors() -> None:
    with pytest.raises(ScenarioError, match=r"^p.toml: policy.title: required key is missing$"):
        load_policy_text('[policy]\nname = "x"\n', "p.toml")
    with pytest.raises(ScenarioError, match=r"^p.toml: policy.from: not a calendar date"):
        load_policy_text(HEADER + 'from = "2017-02-30"\n', "p.toml")
    with pytest.raises(ScenarioError, match=r"^p.toml: document: malformed TOML"):
        load_policy_text("[policy\n", "p.toml")
    with pytest.raises(ScenarioError, match="no shipped policy or file of that name"):
        load_policy("max-presure")


def test_cli_lists_and_shows_policies(tmp_path: Path, capsys) -> None:
    assert run_cli(["policies", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in SHIPPED)
    assert run_cli(["policies", "show", "max-pressure"]) == 0
    shown = capsys.readouterr().out
    assert tomllib.loads(shown)["policy"]["name"] == "max-pressure"
    mine = tmp_path / "mine.toml"
    mine.write_text(HEADER + '[levers.food_aid]\nvalue = 0.4\nsource = "assumption: t"\n')
    assert run_cli(["policies", "show", str(mine), "--scenario", "baseline-2016"]) == 0
    resolved = tomllib.loads(capsys.readouterr().out)
    assert resolved["levers"]["food_aid"]["value"] == 0.4


def test_cli_refuses_a_bad_policy_file_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(HEADER + '[levers.food_aid]\nvalue = -1\nsource = "a"\n')
    assert run_cli(["policies", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {bad}: levers.food_aid.value: ")


def test_policy_rules_fire_from_the_policy_date(baseline) -> None:
    """calibrated-sticks: its test rule may fire from 2017 (the policy's from), not before."""
    policy = load_policy("calibrated-sticks")
    applied = apply_policy(baseline, policy)
    rule = applied.timeline.rules[0]
    assert rule.name == "sticks after a nuclear test"
    assert rule.first_day == applied.calendar.day_of("2017-01-01")
    assert applied.rules[0]["source"].startswith("policy calibrated-sticks: ")
