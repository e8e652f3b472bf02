"""Conditional policies (issue 15): rules fire exactly when their trigger occurs (core, reference).

A rule "after a nuclear test, move Beijing's levers" reads the day's
``nuclear_tests`` outcome; with ``days = 1`` it must fire on the day after
every day with a test and on no other day, so the activation days in the
event log are the test days shifted by one.  The same holds in the Mesa
reference (its own log).  Rules that never fire leave a run bit-identical
to the run without them (they draw no random numbers), and a rule in force
changes the run from its first activation on.  The semantics of windows,
mode ``while``, cool-downs and caps are checked on a hand-made outcome series
through the compiled function's Python source.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest
from lipsteeth_reference import model as ref_model
from lipsteeth_reference import scenarios as sc

from lipsteeth.core import conditional
from lipsteeth.core.events import Kind, new_event_log
from lipsteeth.core.outcomes import OUTCOME_NAMES
from lipsteeth.core.params import LEVER_NAMES
from lipsteeth.core.simulate import simulate
from lipsteeth.core.state import RULE_STATE_DTYPE
from lipsteeth.core.timeline import Rule, RuleAction
from lipsteeth.scenario import ScenarioError, load_scenario, load_scenario_text

from .support import run_cli

STICKS = Rule(
    name="sticks after a test",
    when="nuclear_tests",
    threshold=0.5,
    above=True,
    mode="after",
    days=1,
    actions=(
        RuleAction("china_sanctions", 0.3, add=True),
        RuleAction("china_border_stringency", 1.0, add=False),
    ),
)


def _setting(rules: tuple[Rule, ...], years: int = 2) -> sc.Setting:
    """2016 (two forced tests) and 2017 (tests from the strategic model), a small population."""
    base = sc.shrink(sc.load("baseline-2016"), 16, 15, 10, 40)
    start = np.datetime64("2016-01-01")
    n_days = int((np.datetime64(f"{2016 + years}-01-01") - start).astype(int))
    s = sc.window(base, str(start), n_days)
    return dataclasses.replace(s, timeline=dataclasses.replace(s.timeline, rules=rules))


def _core_days(s: sc.Setting, replicates: int = 6) -> tuple[dict[int, set], dict[int, set]]:
    """Per replicate: days with a nuclear test, days a rule fired (core event log)."""
    res = simulate(s.params, s.levers, s.calendar, s.timeline, seed=11, replicates=replicates)
    ev = res.events
    tests, fired = {}, {}
    for r in res.replicates:
        mine = ev["replicate"] == r
        tests[int(r)] = set(ev["day"][mine & (ev["kind"] == "nuclear_test")].tolist())
        fired[int(r)] = set(ev["day"][mine & (ev["kind"] == "conditional_policy")].tolist())
    return tests, fired


def test_core_rule_fires_the_day_after_every_test_and_only_then() -> None:
    s = _setting((STICKS,))
    # 16 replicates: enough that some have tests of the strategic model in 2017 (the rule
    # must fire after those too, not only after the two dated ones)
    tests, fired = _core_days(s, replicates=16)
    n_days = s.calendar.n_days
    assert sum(len(t) for t in tests.values()) >= 2 * len(tests)  # the two 2016 tests at least
    assert any(len(t) > 2 for t in tests.values()), "no endogenous test in 2017: weak test"
    for r in tests:
        assert fired[r] == {t + 1 for t in tests[r] if t + 1 < n_days}, r


def test_reference_rule_fires_the_day_after_every_test_and_only_then() -> None:
    s = _setting((STICKS,), years=1)
    for replicate in range(2):
        model = ref_model.LipsteethModel(
            s.params, s.levers, s.calendar, s.timeline, seed=100 + replicate
        )
        model.run()
        test_days = {
            t for t, n in enumerate(model.datacollector.model_vars["nuclear_tests"]) if n > 0
        }
        fired = [day for day, rule, _ in model.conditional.activations]
        assert len(test_days) >= 2
        assert sorted(fired) == sorted(t + 1 for t in test_days if t + 1 < s.calendar.n_days)
        assert {rule for _, rule, _ in model.conditional.activations} == {0}


def test_reference_levers_move_while_in_force() -> None:
    s = _setting((dataclasses.replace(STICKS, days=30),), years=1)
    model = ref_model.LipsteethModel(s.params, s.levers, s.calendar, s.timeline, seed=3)
    sanctions, stringency = [], []
    for _ in range(s.calendar.n_days):
        model.step()
        sanctions.append(model.current_levers.china_sanctions)
        stringency.append(model.current_levers.china_border_stringency)
    spells = {t + k for t, _, _ in model.conditional.activations for k in range(30)}
    assert len(model.conditional.activations) >= 2
    for t in range(s.calendar.n_days):
        dated = model.levers_on(t)
        if t in spells:
            assert sanctions[t] == pytest.approx(min(dated.china_sanctions + 0.3, 1.0))
            assert stringency[t] == 1.0
        else:
            assert (sanctions[t], stringency[t]) == (
                dated.china_sanctions,
                dated.china_border_stringency,
            )


def test_a_rule_that_never_fires_leaves_the_run_bit_identical() -> None:
    never = dataclasses.replace(STICKS, threshold=1e9)
    plain = _setting(())
    ruled = _setting((never,))
    a = simulate(plain.params, plain.levers, plain.calendar, plain.timeline, seed=4, replicates=3)
    b = simulate(ruled.params, ruled.levers, ruled.calendar, ruled.timeline, seed=4, replicates=3)
    assert np.array_equal(a.monthly, b.monthly)
    assert not (b.events["kind"] == "conditional_policy").any()


def test_a_rule_in_force_changes_the_run_from_its_first_activation() -> None:
    plain = _setting(())
    ruled = _setting((dataclasses.replace(STICKS, days=120),))
    a = simulate(plain.params, plain.levers, plain.calendar, plain.timeline, seed=4, replicates=3)
    b = simulate(ruled.params, ruled.levers, ruled.calendar, ruled.timeline, seed=4, replicates=3)
    first_test = int(a.events["day"][a.events["kind"] == "nuclear_test"].min())
    first_month = int(plain.calendar.month_index[first_test + 1])
    assert np.array_equal(a.monthly[:, :, :first_month], b.monthly[:, :, :first_month])
    sanctions = OUTCOME_NAMES.index("china_sanctions")
    stringency = OUTCOME_NAMES.index("border_stringency")
    assert (b.monthly[:, sanctions, first_month] > a.monthly[:, sanctions, first_month]).all()
    assert (b.monthly[:, stringency, first_month + 1] >= 0.99).all()


# --------------------------------------------------------------------------- semantics


def _in_force(
    rule: Rule, series: list[float], outcome: str = "border_crossings"
) -> tuple[list[int], list[int]]:
    """Days the rule is in force and days it fires, on a hand-made daily series of an outcome."""
    rule = dataclasses.replace(rule, when=outcome)
    rules, actions = conditional.rule_tables((rule,))
    n_days = len(series)
    lever = LEVER_NAMES.index(rule.actions[0].lever)
    dated = np.zeros((n_days, len(LEVER_NAMES)))
    today = np.zeros(len(LEVER_NAMES))
    state = np.zeros(1, dtype=RULE_STATE_DTYPE)
    triggers = np.zeros((n_days + 1, 1))
    log = new_event_log()
    in_force = []
    for t in range(n_days):
        conditional.levers_in_force(t, dated, today, rules, actions, state, triggers, log)
        if today[lever] != 0.0:
            in_force.append(t)
        values = np.zeros(len(OUTCOME_NAMES))
        values[OUTCOME_NAMES.index(outcome)] = series[t]
        conditional.record_triggers(t, rules, triggers, values)
    fired = [int(event[0][0]) for event in log if event[0][1] == Kind.CONDITIONAL_POLICY]
    return in_force, fired


CROSSINGS = Rule(
    name="stringency while crossings are high",
    when="border_crossings",
    threshold=5.0,
    above=True,
    mode="while",
    actions=(RuleAction("china_border_stringency", 0.95, add=False),),
)


def test_after_mode_holds_its_days_then_cools_down_and_respects_the_cap() -> None:
    spikes = [0.0] * 30
    for t in (2, 4, 12, 20, 25):
        spikes[t] = 10.0
    rule = dataclasses.replace(CROSSINGS, mode="after", days=3, cooldown_days=4, max_activations=2)
    in_force, fired = _in_force(rule, spikes)
    # fires on 3 (spike 2), holds 3-5 (the spike on 4 is ignored), idle 6-9, fires on 13
    # (spike 12), holds 13-15; the cap of 2 stops the spikes on 20 and 25
    assert fired == [3, 13]
    assert in_force == [3, 4, 5, 13, 14, 15]


def test_while_mode_follows_a_windowed_sum_with_cooldown() -> None:
    # 1 crossing a day on days 10-19: the sum over the 7 days before t exceeds 5 on days 16-21
    series = [1.0 if 10 <= t < 20 else 0.0 for t in range(40)]
    rule = dataclasses.replace(CROSSINGS, window_days=7, cooldown_days=2)
    in_force, fired = _in_force(rule, series)
    sums = [sum(series[max(t - 7, 0) : t]) for t in range(40)]
    expected = [t for t in range(1, 40) if sums[t] > 5.0]
    assert expected == list(range(16, 22))
    assert in_force == expected
    assert fired == [expected[0]]


def test_while_mode_counts_spells_and_stocks_are_averaged() -> None:
    # a stock (hidden_in_china) averaged over 2 days, under a threshold: two spells
    series = [10.0, 10.0, 2.0, 2.0, 10.0, 10.0, 10.0, 2.0, 2.0, 2.0, 10.0, 10.0]
    rule = dataclasses.replace(CROSSINGS, threshold=5.0, above=False, window_days=2)
    in_force, fired = _in_force(rule, series, outcome="hidden_in_china")
    means = [np.mean(series[max(t - 2, 0) : t]) for t in range(1, len(series))]
    assert in_force == [t for t, m in zip(range(1, len(series)), means, strict=True) if m < 5.0]
    assert fired == [4, 9]  # spells 4 and 9-10


def test_actions_are_clipped_to_the_levers_bounds() -> None:
    rule = Rule(
        name="too much",
        when="nuclear_tests",
        threshold=0.5,
        above=True,
        mode="after",
        days=5,
        actions=(RuleAction("china_sanctions", 0.9, add=True),),
    )
    rules, actions = conditional.rule_tables((rule,))
    dated = np.full((3, len(LEVER_NAMES)), 0.5)
    today = np.zeros(len(LEVER_NAMES))
    state = np.zeros(1, dtype=RULE_STATE_DTYPE)
    triggers = np.array([[0.0], [1.0], [1.0], [1.0]])
    conditional.levers_in_force(1, dated, today, rules, actions, state, triggers, new_event_log())
    assert today[LEVER_NAMES.index("china_sanctions")] == 1.0


# --------------------------------------------------------------------------- scenario files

RULED_SCENARIO = """
[scenario]
name = "sticks"
extends = "baseline-2016"
end = "2016-12-31"
replicates = 2

[[rules]]
name = "sanctions after a nuclear test"
when = "nuclear_tests"
above = 0.5
days = 180
source = "assumption: an analyst's what-if"
actions = [{lever = "china_sanctions", add = 0.2}]

[[rules]]
name = "stringency while crossings are high"
when = "border_crossings"
window_days = 30
above = 2000
mode = "while"
cooldown_days = 30
from = "2016-03-01"
source = "assumption: an analyst's what-if"

[[rules.actions]]
lever = "china_border_stringency"
set = 0.95
"""


def test_scenario_rules_load_round_trip_and_reach_the_core() -> None:
    scenario = load_scenario_text(RULED_SCENARIO)
    assert [r["name"] for r in scenario.rules] == [
        "sanctions after a nuclear test",
        "stringency while crossings are high",
    ]
    core_rules = scenario.timeline.rules
    assert core_rules[0].days == 180 and core_rules[0].actions[0].add
    assert core_rules[1].mode == "while"
    assert core_rules[1].first_day == scenario.calendar.day_of("2016-03-01")
    assert core_rules[1].actions[0] == RuleAction("china_border_stringency", 0.95, add=False)
    again = load_scenario_text(scenario.to_toml())
    assert again == scenario and again.timeline.rules == core_rules


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ("above = 0.5\n", "rules[0].above"),  # no threshold at all after removal below
        ("days = 180\n", "rules[0].days"),
        ('when = "nuclear_tests"', "rules[0].when"),
        ("add = 0.2", "rules[0].actions[0].set"),
        ('mode = "while"', "rules[1].mode"),
        ('from = "2016-03-01"', "rules[1].until"),
        ('name = "stringency while crossings are high"', "rules[1].name"),
    ],
)
def test_bad_rules_are_refused_with_the_key_path(change: str, path: str) -> None:
    bad = {
        "above = 0.5\n": RULED_SCENARIO.replace("above = 0.5\n", ""),
        "days = 180\n": RULED_SCENARIO.replace("days = 180\n", ""),
        'when = "nuclear_tests"': RULED_SCENARIO.replace(
            'when = "nuclear_tests"', 'when = "stress_labour"'
        ),
        "add = 0.2": RULED_SCENARIO.replace("add = 0.2", "set = 1.5"),
        'mode = "while"': RULED_SCENARIO.replace('mode = "while"', 'mode = "sometimes"'),
        'from = "2016-03-01"': RULED_SCENARIO.replace(
            'from = "2016-03-01"', 'from = "2016-03-01"\nuntil = "2016-01-01"'
        ),
        'name = "stringency while crossings are high"': RULED_SCENARIO.replace(
            'name = "stringency while crossings are high"',
            'name = "sanctions after a nuclear test"',
        ),
    }[change]
    with pytest.raises(ScenarioError) as err:
        load_scenario_text(bad)
    assert err.value.path == path, str(err.value)
    assert "\n" not in str(err.value)


def test_cli_run_with_rules_and_a_bad_rule_exits_2(tmp_path, capsys) -> None:
    good = tmp_path / "sticks.toml"
    good.write_text(RULED_SCENARIO)
    out = tmp_path / "run"
    args = ["run", str(good), "--out", str(out), "--uncertainty", "none", "--no-facts"]
    assert run_cli([*args, "--report"]) == 0
    events = pq.read_table(out / "events.parquet").to_pydict()
    fired = [
        s for k, s in zip(events["kind"], events["site"], strict=True) if k == "conditional_policy"
    ]
    tests = sum(1 for k in events["kind"] if k == "nuclear_test")
    assert fired.count(0) == tests  # 2012-2016: each test fires the 180-day rule (none overlap)
    report = (out / "report.html").read_text()
    assert "Conditional policies (2)" in report
    assert "stringency while crossings are high" in report
    assert f"{tests / 2:.2f}" in report  # fired, mean per replicate
    bad = tmp_path / "bad.toml"
    bad.write_text(RULED_SCENARIO.replace('lever = "china_sanctions"', 'lever = "sanctons"'))
    assert run_cli(["run", str(bad), "--out", str(tmp_path / "bad-run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "rules[0].actions[0].lever" in err[-1]
    assert not (tmp_path / "bad-run").exists()


def test_embedded_scenarios_have_no_rules() -> None:
    # the default scenario's results must not depend on this feature
    assert load_scenario("baseline-2016").timeline.rules == ()
