"""The embedded scenario ``history`` (1998-2025), its CSV event timeline and its fit record.

Fast tests check the timeline against the input files and the loader's
refusals; the full replay (28 years) is marked slow.
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from lipsteeth.core.timeline import UN_PROVISIONS
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.experiment.summary import yearly
from lipsteeth.experiment.validation import parse_observed, validate
from lipsteeth.scenario import Scenario, ScenarioError, load_scenario, load_scenario_text
from lipsteeth.scenario.events_csv import (
    COLUMNS,
    load_event_csv,
    parse_event_csv,
    to_csv,
    with_events,
)

PACKAGE = resources.files("lipsteeth")
DATA = Path(str(PACKAGE.joinpath("data")))
_SCENARIOS = Path(str(PACKAGE.joinpath("scenarios")))
if (_SCENARIOS / "history.toml.pending").exists() and not (_SCENARIOS / "history.toml").exists():
    pytest.skip(
        "scenarios/history.toml.pending waits for the events_file wiring of the scenario "
        "loader (rename it to history.toml once wired)",
        allow_module_level=True,
    )
EVENTS = PACKAGE.joinpath("scenarios", "history_events.csv")
HEADER = ",".join(COLUMNS) + "\n"


@pytest.fixture(scope="module")
def history() -> Scenario:
    return load_scenario("history")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader((DATA / name).open(encoding="utf-8")))


# ---------------------------------------------------------------------------
# the scenario and its timeline


def test_history_replays_1998_to_2025_from_the_csv_timeline(history: Scenario) -> None:
    assert str(history.start) == "1998-01-01" and str(history.end) == "2025-12-31"
    assert history.endogenous_from > history.end  # M9 adds no nuclear tests or resolutions
    assert list(history.events) == load_event_csv(EVENTS)
    assert all(event["source"].strip() for event in history.events)
    # every provenance is set and every calibrated value lies in its declared range
    for key, info in history.provenance.items():
        assert info.provenance.strip(), key
        if info.range is not None:
            assert info.range[0] <= info.value <= info.range[1], key


def test_timeline_holds_every_nuclear_test_and_resolution_of_the_data(history: Scenario) -> None:
    nuclear = sorted(e["date"] for e in history.events if e["kind"] == "nuclear_test")
    assert nuclear == sorted(row["date"] for row in _rows("06a_nuclear_tests.csv"))
    resolutions = {e["resolution"]: e for e in history.events if e["kind"] == "un_resolution"}
    data = {row["resolution"]: row for row in _rows("07_unsc_resolutions_dprk.csv")}
    assert set(resolutions) == set(data)
    for number, row in data.items():
        assert resolutions[number]["date"] == row["date_adopted"]
        # a provision the file says "none" has no floor in the timeline
        for column, lever in zip(
            ("overseas_workers", "coal_minerals", "oil_fuel", "seafood", "textiles"),
            UN_PROVISIONS,
            strict=True,
        ):
            if row[column].strip().lower() in ("none", "none new"):
                assert resolutions[number][lever] == 0.0, (number, lever)
    # provisions only ever tighten
    levels = np.zeros(len(UN_PROVISIONS))
    for event in sorted(resolutions.values(), key=lambda e: e["date"]):
        floors = np.array([event[name] for name in UN_PROVISIONS])
        levels = np.maximum(levels, floors)
    assert levels.tolist() == [1.0, 1.0, 0.9, 1.0, 1.0]
    # the COVID closure and reopening of 09_covid_border_timeline.csv
    closure = [e for e in history.events if e.get("lever") == "border_closure"]
    assert closure[0]["date"] == "2020-01-22" and closure[0]["value"] == 1.0
    assert closure[0]["until"] == "2023-08-21" and closure[1]["date"] == "2023-08-22"


def test_compiled_timeline_days(history: Scenario) -> None:
    timeline, cal = history.timeline, history.calendar
    assert int(timeline.nuclear().sum()) == 6
    assert int(timeline.missile().sum()) == 0  # missiles come from M9 (documented choice)
    closure = timeline.lever_paths["border_closure"]
    assert closure[cal.day_of("2021-06-01")] == 1.0
    assert closure[cal.day_of("2023-09-01")] == 0.5
    assert closure[cal.day_of("2025-06-01")] == 0.25
    assert np.isnan(closure[cal.day_of("2019-06-01")])
    floors = timeline.resolution()
    assert floors[cal.day_of("2017-12-22"), 0] == 1.0
    assert np.isnan(floors[cal.day_of("2017-12-23")]).all()


def test_history_fit_record_matches_the_scenario(history: Scenario) -> None:
    record = json.loads((DATA / "history_fit.json").read_text())
    assert record["training_years"] == [1998, 2016]
    # parameters (the ramp's have no dot); a fit of the ramp alone records the values it held
    fitted = {
        k: v
        for k, v in {**record["fit"].get("held", {}), **record["fit"]["fitted"]}.items()
        if "." in k
    }
    assert fitted
    for key, value in fitted.items():
        assert history.provenance[key].value == pytest.approx(value, rel=0.02), key
        assert "calibrated" in history.provenance[key].provenance
    rate = record["missile_moment"]["fitted_rate_per_year"]
    assert history.params.strategic.missile_rate_per_year == pytest.approx(rate, rel=0.02)
    assert (DATA / "history_fit.md").is_file()
    # the broker-access ramp: the lever's 1998 value and its dated steps are the fitted ramp
    ramp = record["broker_access_ramp"]

    def rise(t: float, mid: float, width: float) -> float:
        return 1.0 / (1.0 + np.exp(-(t - mid) / width))

    def access(t: float) -> float:
        if "ramp_plateau" not in ramp:  # one logistic rise
            return rise(t, ramp["ramp_midpoint_year"], ramp["ramp_width_years"])
        h = ramp["ramp_plateau"]  # two rises with a plateau at h between them
        first = rise(t, ramp["ramp_first_midpoint_year"], ramp["ramp_first_width_years"])
        second = rise(t, ramp["ramp_second_midpoint_year"], ramp["ramp_second_width_years"])
        return h * first + (1.0 - h) * second

    assert history.levers.broker_access == pytest.approx(ramp["steps"][0][1], abs=1e-3)
    steps = [(e["date"], e["value"]) for e in history.events if e.get("lever") == "broker_access"]
    assert steps == [(date, value) for date, value in ramp["steps"][1:]]
    for date, value in steps[:-1]:
        assert value == pytest.approx(access(int(date[:4]) + 0.5), abs=1e-3), date
    assert steps[-1][1] == 1.0 and all(a[1] <= b[1] for a, b in zip(steps, steps[1:], strict=False))
    assert all(
        e["source"].startswith("fitted: data/history_fit.md")
        for e in history.events
        if e.get("lever") == "broker_access"
    )


def test_after_2016_only_events_of_record(history: Scenario) -> None:
    """Issue 12: no input encodes an outcome.  Enforcement of UN measures and Pyongyang's
    testing drive are the model's to produce: no un_compliance lever exists and no event sets
    weapons_drive; after 2016 the events are tests, resolutions, China's measures, closures
    and announced policies, each with its source."""
    assert "un_compliance" not in {f for f in dir(history.levers) if not f.startswith("_")}
    assert not [e for e in history.events if e.get("lever") == "weapons_drive"]
    assert history.levers.weapons_drive == 0.0 and history.levers.host_discretion == 1.0
    record_kinds = {"nuclear_test", "missile_test", "un_resolution", "lever"}
    record_levers = {
        "china_sanctions",
        "border_closure",
        "nk_border_control",
        "pandemic",
        "international_pressure",
        "broker_access",
    }
    for event in history.events:
        if event["date"] <= "2016-12-31":
            continue
        assert event["kind"] in record_kinds, event
        if event["kind"] == "lever":
            assert event["lever"] in record_levers, event
        assert event["source"], event
    # broker access after 2016 is the fitted ramp's last step (1.0), not a new input
    assert all(
        e["value"] == 1.0
        for e in history.events
        if e.get("lever") == "broker_access" and e["date"] > "2016-12-31"
    )


def test_covid_closure_stops_crossings_and_arrivals(history: Scenario) -> None:
    """A short, reduced replay of 2019-2021 (2 replicates): the closure stops crossings and
    the pandemic most journeys out of China, but long-term residents and third-country
    residents keep reaching the South (issue 12: the wider flow as several stocks)."""
    short = history.with_overrides(
        params={
            "population.restaurant_sites_max": 30,
            "population.restaurants_initial": 20,
            "population.labour_sites_max": 20,
            "population.labour_workers_initial": 2000,
        },
        start="2019-01-01",
        end="2021-12-31",
    )
    result = run_scenario(short, replicates=2)
    years, values = yearly(result)
    arrivals = values[:, result.outcome_names.index("arrivals_south_korea"), :]
    crossings = values[:, result.outcome_names.index("border_crossings"), :]
    assert years.tolist() == [2019, 2020, 2021]
    assert (crossings[:, 2] == 0).all()
    assert (arrivals[:, 2] < 0.6 * arrivals[:, 0]).all()
    assert (arrivals[:, 2] > 0).all()


# ---------------------------------------------------------------------------
# the CSV event format


TOML_EVENTS = """
[scenario]
name = "t"
extends = "baseline-2016"
replace_events = true

[[events]]
date = "2013-02-12"
kind = "nuclear_test"
source = "06a test 3"

[[events]]
date = "2014-01-01"
kind = "missile_test"
count = 3
source = "s"

[[events]]
date = "2016-03-02"
kind = "un_resolution"
resolution = "2270"
un_coal = 0.5
source = "07 2270"

[[events]]
date = "2016-05-06"
until = "2016-05-31"
kind = "lever"
lever = "diplomatic_signal"
value = -1.0
source = "seed article, with a comma"
"""

CSV_EVENTS = (
    HEADER + "2013-02-12,nuclear_test,,,,,,,,,,,06a test 3\n"
    "2014-01-01,missile_test,,,,3,,,,,,,s\n"
    "2016-03-02,un_resolution,,,,,2270,,0.5,,,,07 2270\n"
    '2016-05-06,lever,diplomatic_signal,-1,2016-05-31,,,,,,,,"seed article, with a comma"\n'
)


def test_csv_events_equal_the_toml_events() -> None:
    from_toml = list(load_scenario_text(TOML_EVENTS, "t").events)
    from_csv = parse_event_csv(CSV_EVENTS, "e.csv")
    assert from_csv == from_toml
    assert parse_event_csv(to_csv(from_csv), "again") == from_csv


@pytest.mark.parametrize(
    ("row", "where", "fragment"),
    [
        ("2016-01-06,nuclear_tst,,,,,,,,,,,s", "line 2: kind", "did you mean 'nuclear_test'"),
        ("2016-13-06,nuclear_test,,,,,,,,,,,s", "line 2: date", "not a calendar date"),
        ("06/01/2016,nuclear_test,,,,,,,,,,,s", "line 2: date", "ISO date"),
        ("2016-01-06,nuclear_test,,,,,,,,,,,", "line 2: source", "required"),
        ("2016-01-06,nuclear_test,,,,0,,,,,,,s", "line 2: count", "greater than or equal to 1"),
        ("2016-01-06,nuclear_test,,,,1.5,,,,,,,s", "line 2: count", "whole number"),
        ("2016-01-06,nuclear_test,border_closure,,,,,,,,,,s", "line 2: lever", "not used"),
        ("2016-01-06,lever,border_closur,1,,,,,,,,,s", "line 2: lever", "border_closure"),
        ("2016-01-06,lever,border_closure,2,,,,,,,,,s", "line 2: value", "outside the bounds"),
        ("2016-01-06,lever,border_closure,x,,,,,,,,,s", "line 2: value", "not a number"),
        ("2016-01-06,lever,border_closure,1,2015-01-01,,,,,,,,s", "line 2: until", "before"),
        ("2016-01-06,lever,,1,,,,,,,,,s", "line 2: lever", "required"),
        ("2016-03-02,un_resolution,,,,,2270,,1.5,,,,s", "line 2: un_coal", "less than or equal"),
        ("2016-03-02,un_resolution,,,,,2270,,nan,,,,s", "line 2: un_coal", "finite"),
        ("2016-03-02,un_resolution,,,,,2270", "line 2", "7 cells where the header has 13"),
    ],
)
def test_corrupted_event_rows_are_refused(row: str, where: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_event_csv(HEADER + row + "\n", "bad.csv")
    error = info.value
    assert error.source == "bad.csv" and error.path == where, str(error)
    assert fragment in error.reason
    assert "\n" not in str(error)


def test_corrupted_event_files_are_refused(tmp_path: Path) -> None:
    cases = {
        "": "no header",
        "date,kind,source\n": "missing column",
        HEADER.replace("lever", "levers", 1): "did you mean 'lever'",
        HEADER.replace("\n", ",date\n"): "more than once",
    }
    for text, fragment in cases.items():
        with pytest.raises(ScenarioError, match=fragment):
            parse_event_csv(text, "bad.csv")
    with pytest.raises(ScenarioError, match="no such event file"):
        load_event_csv(tmp_path / "nope.csv")
    (tmp_path / "latin1.csv").write_bytes(
        HEADER.encode() + b"2016-01-06,nuclear_test,,,,,,,,,,,\xe9\n"
    )
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_event_csv(tmp_path / "latin1.csv")


def test_comments_and_blank_lines_keep_line_numbers() -> None:
    text = "# comment\n\n" + HEADER + "# another\n2016-01-06,nuclear_tst,,,,,,,,,,,s\n"
    with pytest.raises(ScenarioError) as info:
        parse_event_csv(text, "c.csv")
    assert info.value.path == "line 5: kind"


def test_events_file_key_and_events_option(history: Scenario, tmp_path: Path) -> None:
    events = tmp_path / "mine.csv"
    events.write_text(CSV_EVENTS)
    (tmp_path / "mine.toml").write_text(
        '[scenario]\nname = "mine"\nextends = "history"\nreplace_events = true\n'
        'events_file = "mine.csv"\n'
    )
    mine = load_scenario(tmp_path / "mine.toml")
    assert list(mine.events) == parse_event_csv(CSV_EVENTS, "x")
    # without replace_events the file's events are appended to the parent's
    (tmp_path / "more.toml").write_text(
        '[scenario]\nname = "more"\nextends = "history"\nevents_file = "mine.csv"\n'
    )
    assert len(load_scenario(tmp_path / "more.toml").events) == len(history.events) + 4
    # a missing file, and scenario text that names a file, are refused
    (tmp_path / "broken.toml").write_text(
        '[scenario]\nname = "b"\nextends = "history"\nevents_file = "absent.csv"\n'
    )
    with pytest.raises(ScenarioError, match="scenario.events_file"):
        load_scenario(tmp_path / "broken.toml")
    with pytest.raises(ScenarioError, match="scenario text may not name files"):
        load_scenario_text('[scenario]\nname = "x"\nextends = "history"\nevents_file = "a.csv"\n')
    # --events: the events of a file replace the scenario's
    replaced = with_events(history, parse_event_csv(CSV_EVENTS, "x"))
    assert len(replaced.events) == 4 and replaced.params == history.params
    assert int(replaced.timeline.nuclear().sum()) == 1


# ---------------------------------------------------------------------------
# the full replay (slow)


@pytest.mark.slow
def test_history_in_sample_fit_of_arrivals(history: Scenario) -> None:
    """In-sample fit on arrivals 2005-2016 (the README numbers come from 20 replicates)."""
    result = run_scenario(history, replicates=6)
    text = (DATA / "observed" / "01_arrivals_south_korea.csv").read_text()
    report = validate(result, parse_observed(text, "01"), first_year=2005, last_year=2016)
    arrivals = report.series["arrivals_south_korea"]
    # README and history_fit.md give the 20-replicate figures of the current fit
    assert arrivals.ard is not None and arrivals.ard < 0.15
    assert arrivals.mase is not None and arrivals.mase < 0.5
    # stock-flow identities hold over 28 years
    ledger = result.ledger
    np.testing.assert_array_equal(
        ledger.initial_in_post + ledger.hired,
        ledger.in_post + ledger.escaped + ledger.caught + ledger.recalled + ledger.other_exits,
    )
