"""The scenario boundary: loading, provenance, round trips, overrides, extends, timeline,
JSON Schema and one-line refusals of bad input."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lipsteeth.scenario as scenario_pkg
from lipsteeth.core.params import LEVER_NAMES, PARAM_GROUPS, Levers, Params, field_specs
from lipsteeth.core.timeline import UN_PROVISIONS, Calendar, Timeline
from lipsteeth.scenario import (
    ParameterInfo,
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    load_scenario_text,
    scenario_schema,
)
from lipsteeth.scenario._toml import dumps

BASELINE = "baseline-2016"
PARAM_SPECS = {group: field_specs(cls) for group, cls in PARAM_GROUPS.items()}
LEVER_SPECS = field_specs(Levers)


def baseline_text() -> str:
    return resources.files("lipsteeth").joinpath(f"scenarios/{BASELINE}.toml").read_text("utf-8")


def baseline_document() -> dict[str, Any]:
    """The embedded baseline file as parsed TOML (a fresh copy)."""
    return tomllib.loads(baseline_text())


def refusal(text: str, source: str = "test.toml") -> ScenarioError:
    """The ScenarioError raised when loading ``text`` (fails the test if none is raised)."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, source)
    return caught.value


def child(extra: str, name: str = "child") -> str:
    """A scenario file extending the baseline."""
    return f'[scenario]\nname = "{name}"\nextends = "{BASELINE}"\n{extra}'


# --- public API and the baseline -------------------------------------------------------------


def test_public_api_is_curated() -> None:
    assert sorted(scenario_pkg.__all__) == sorted(
        [
            "ParameterDraws",
            "ParameterInfo",
            "Policy",
            "Scenario",
            "ScenarioError",
            "apply_policy",
            "check_population",
            "check_wider_flow",
            "packaged_posterior",
            "list_policies",
            "list_scenarios",
            "load_policy",
            "load_policy_text",
            "load_scenario",
            "load_scenario_text",
            "policy_names",
            "scenario_schema",
        ]
    )


def test_baseline_loads(baseline: Scenario) -> None:
    assert baseline.name == BASELINE
    assert baseline.source == BASELINE
    assert baseline.title and baseline.description
    assert baseline.start == np.datetime64("2012-01-01", "D")
    assert baseline.end == np.datetime64("2020-12-31", "D")
    assert baseline.start.dtype == np.dtype("datetime64[D]")
    assert baseline.endogenous_from == np.datetime64("2017-01-01", "D")
    assert (baseline.seed, baseline.replicates) == (20160406, 20)
    assert isinstance(baseline.params, Params)
    assert isinstance(baseline.levers, Levers)
    assert isinstance(baseline.calendar, Calendar)
    assert isinstance(baseline.timeline, Timeline)
    assert baseline.calendar.n_days == baseline.timeline.n_days == 3288
    assert baseline.calendar.start == baseline.start
    assert baseline.timeline.endogenous_from == baseline.calendar.day_of("2017-01-01")
    assert baseline.params.defection.contagion == 0.35
    assert baseline.params.population.restaurants_initial == 100
    assert isinstance(baseline.params.population.restaurants_initial, int)
    assert isinstance(baseline.params.restaurants.gross_sales_per_day, float)
    assert baseline.levers.china_exit_strictness == 0.95
    assert len(baseline.events) == 13  # 2012-2016 inputs, the 2017 US policy, the 2020 closures


def test_list_scenarios() -> None:
    listed = dict(list_scenarios())
    assert BASELINE in listed
    assert listed[BASELINE] == load_scenario(BASELINE).title


def test_every_value_has_provenance_and_the_core_unit(baseline: Scenario) -> None:
    expected = {f"{g}.{n}" for g, specs in PARAM_SPECS.items() for n in specs}
    expected |= {f"lever.{n}" for n in LEVER_NAMES}
    assert set(baseline.provenance) == expected
    for key, info in baseline.provenance.items():
        assert isinstance(info, ParameterInfo)
        assert info.key == key
        assert info.provenance.strip(), key
        if info.kind == "lever":
            meta = LEVER_SPECS[key.removeprefix("lever.")]
            assert getattr(baseline.levers, key.removeprefix("lever.")) == info.value
        else:
            group, name = key.split(".")
            meta = PARAM_SPECS[group][name]
            assert getattr(getattr(baseline.params, group), name) == info.value
        assert info.kind == ("lever" if key.startswith("lever.") else "parameter")
        assert info.unit == meta["unit"]
        assert info.mechanism == meta["mech"] and info.doc == meta["doc"]
        assert meta["lo"] <= info.value <= meta["hi"]


def test_the_embedded_file_states_unit_and_provenance_of_every_entry() -> None:
    document = baseline_document()
    for group, specs in PARAM_SPECS.items():
        for name, meta in specs.items():
            entry = document["parameters"][group][name]
            assert entry["unit"] == meta["unit"], f"{group}.{name}"
            assert entry["provenance"].strip(), f"{group}.{name}"
    for name, meta in LEVER_SPECS.items():
        assert document["levers"][name]["unit"] == meta["unit"], name
        assert document["levers"][name]["provenance"].strip(), name
    assert all(event["source"].strip() for event in document["events"])


def test_uncertainties_and_lever_ranges(baseline: Scenario) -> None:
    document = baseline_document()
    declared = {
        f"{g}.{n}": tuple(entry["range"])
        for g, entries in document["parameters"].items()
        for n, entry in entries.items()
        if "range" in entry
    }
    assert baseline.uncertainties == declared
    assert baseline.uncertainties["defection.contagion"] == (0.15, 0.6)
    assert all(isinstance(v, float) for pair in baseline.uncertainties.values() for v in pair)
    levers = {n: tuple(e["range"]) for n, e in document["levers"].items() if "range" in e}
    assert baseline.lever_ranges == levers
    for key, (low, high) in baseline.uncertainties.items():
        assert low <= baseline.provenance[key].value <= high
        assert baseline.provenance[key].range == (low, high)
    assert baseline.provenance["lever.un_coal"].range is None


# --- export and round trip -------------------------------------------------------------------


def assert_same_timeline(a: Timeline, b: Timeline) -> None:
    assert a.n_days == b.n_days and a.endogenous_from == b.endogenous_from
    assert set(a.lever_paths) == set(b.lever_paths)
    for name in a.lever_paths:
        np.testing.assert_array_equal(a.lever_paths[name], b.lever_paths[name])
    np.testing.assert_array_equal(a.nuclear(), b.nuclear())
    np.testing.assert_array_equal(a.missile(), b.missile())
    np.testing.assert_array_equal(a.resolution(), b.resolution())


def test_round_trip_through_toml(baseline: Scenario) -> None:
    text = baseline.to_toml()
    again = load_scenario_text(text)
    assert again == baseline
    assert again.params == baseline.params and again.levers == baseline.levers
    assert again.events == baseline.events
    assert again.provenance == baseline.provenance
    assert again.uncertainties == baseline.uncertainties
    assert again.lever_ranges == baseline.lever_ranges
    assert again.calendar == baseline.calendar
    assert_same_timeline(again.timeline, baseline.timeline)
    assert again.to_toml().split("\n", 1)[1] == text.split("\n", 1)[1]
    assert "extends" not in tomllib.loads(text)["scenario"]


def test_to_dict_is_json_and_matches_to_toml(baseline: Scenario) -> None:
    document = baseline.to_dict()
    assert json.loads(json.dumps(document)) == document
    assert tomllib.loads(baseline.to_toml()) == document
    entry = document["parameters"]["defection"]["contagion"]
    assert entry == {
        "value": 0.35,
        "range": [0.15, 0.6],
        "unit": "probability",
        "provenance": baseline.provenance["defection.contagion"].provenance,
    }


def test_scenario_is_frozen_and_picklable(baseline: Scenario) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        baseline.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        baseline.provenance["defection.contagion"] = baseline.provenance["lever.food_aid"]
    with pytest.raises(TypeError):
        baseline.events[0]["value"] = 0.0
    with pytest.raises(ValueError):
        baseline.timeline.forced_nuclear[0] = 5  # type: ignore[index]
    again = pickle.loads(pickle.dumps(baseline))
    assert again == baseline and hash(again) == hash(baseline)
    assert copy.deepcopy(baseline) == baseline
    assert "baseline-2016" in repr(baseline)


# --- overrides -----------------------------------------------------------------------------


def test_with_overrides_changes_values_and_provenance(baseline: Scenario) -> None:
    changed = baseline.with_overrides(
        params={"defection.contagion": 0.5, "population.restaurants_initial": np.float64(90.0)},
        levers={"china_exit_strictness": np.float32(0.5), "lever.food_aid": 1},
    )
    assert changed.params.defection.contagion == 0.5
    assert changed.params.population.restaurants_initial == 90
    assert isinstance(changed.params.population.restaurants_initial, int)
    assert changed.levers.china_exit_strictness == float(np.float32(0.5))
    assert changed.levers.food_aid == 1.0
    info = changed.provenance["defection.contagion"]
    assert info.provenance == "override: 0.5 (was 0.35)"
    assert changed.provenance["lever.food_aid"].provenance == "override: 1 (was 0.0)"
    assert (
        changed.provenance["defection.manager_join"]
        == baseline.provenance["defection.manager_join"]
    )
    # the original is untouched; the copy is a full scenario that round-trips
    assert baseline.params.defection.contagion == 0.35
    assert changed != baseline
    assert load_scenario_text(changed.to_toml()) == changed
    assert changed.with_overrides() == changed


def test_with_overrides_outside_a_range_widens_it(baseline: Scenario) -> None:
    changed = baseline.with_overrides(
        params={"defection.contagion": 0.9}, levers={"china_exit_strictness": 0.1}
    )
    assert changed.uncertainties["defection.contagion"] == (0.15, 0.9)
    assert changed.lever_ranges["china_exit_strictness"] == (0.1, 1.0)
    assert load_scenario_text(changed.to_toml()) == changed


def test_with_overrides_horizon(baseline: Scenario) -> None:
    short = baseline.with_overrides(years=2)
    days = round(2 * 365.25)
    assert short.end == baseline.start + np.timedelta64(days - 1, "D")
    assert short.calendar.n_days == short.timeline.n_days == days
    # 2012-2013 keep the anti-extravagance event and the 2013 test, drop the rest
    assert int(short.timeline.nuclear().sum()) == 1
    assert set(short.timeline.lever_paths) == {"anti_extravagance"}
    assert short.events == baseline.events
    assert short.timeline.endogenous_from == short.timeline.n_days  # 2017 is past the end

    moved = baseline.with_overrides(start="2016-01-01", years=1)
    assert moved.start == np.datetime64("2016-01-01")
    assert moved.end == np.datetime64("2016-01-01") + np.timedelta64(round(365.25) - 1, "D")
    assert moved.timeline.lever_paths["anti_extravagance"][0] == 1.0  # set in 2012, still on
    assert moved.timeline.nuclear()[moved.calendar.day_of("2016-01-06")] == 1

    ends = baseline.with_overrides(end="2014-06-30")
    assert ends.calendar.n_days == ends.calendar.day_of("2014-06-30") + 1


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"params": {"defection.contagon": 0.5}}, "parameters.defection.contagon"),
        ({"params": {"nosuch.contagion": 0.5}}, "parameters.nosuch.contagion"),
        ({"params": {"contagion": 0.5}}, "parameters.contagion"),
        ({"levers": {"china_exit": 0.5}}, "levers.china_exit"),
        ({"params": {"defection.contagion": 1.5}}, "parameters.defection.contagion.value"),
        ({"params": {"defection.contagion": "0.5"}}, "parameters.defection.contagion.value"),
        ({"params": {"defection.contagion": True}}, "parameters.defection.contagion.value"),
        ({"params": {"defection.contagion": float("nan")}}, "parameters.defection.contagion"),
        (
            {"params": {"population.restaurants_initial": 90.5}},
            "parameters.population.restaurants_initial.value",
        ),
        (
            {"params": {"population.restaurants_initial": 500}},
            "parameters.population.restaurants_initial.value",
        ),
        ({"levers": {"diplomatic_signal": -2.0}}, "levers.diplomatic_signal.value"),
        ({"years": 0}, "years"),
        ({"years": -1.0}, "years"),
        ({"years": "ten"}, "years"),
        ({"years": 250}, "years"),
        ({"years": 5, "end": "2020-01-01"}, "years"),
        ({"end": "2011-01-01"}, "scenario.end"),
        ({"start": "2012-13-01"}, "scenario.start"),
    ],
)
def test_with_overrides_refuses_bad_keys_and_values(
    baseline: Scenario, overrides: dict[str, Any], path: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        baseline.with_overrides(**overrides)
    error = caught.value
    assert error.path.startswith(path)
    assert "\n" not in str(error) and path in str(error)


# --- extends, shorthand, replace_events --------------------------------------------------------


def test_extends_with_shorthand(tmp_path: Path, baseline: Scenario) -> None:
    path = tmp_path / "boycott.toml"
    path.write_text(
        child(
            """description = "A deeper boycott."
[parameters.defection]
contagion = 0.5
[parameters.demand.advisory_compliance]
value = 0.9
provenance = "assumption: a stricter advisory"
[levers]
seoul_travel_advisory = 1
[[events]]
date = "2017-03-01"
kind = "missile_test"
count = 3
source = "test"
""",
            name="boycott",
        )
    )
    loaded = load_scenario(path)
    assert loaded.name == "boycott" and loaded.source == str(path)
    assert loaded.title == baseline.title and loaded.description == "A deeper boycott."
    assert loaded.start == baseline.start and loaded.seed == baseline.seed
    assert loaded.endogenous_from == baseline.endogenous_from
    assert loaded.params.defection.contagion == 0.5
    info = loaded.provenance["defection.contagion"]
    assert info.provenance == f"override in {path}"
    assert info.range == (0.15, 0.6) and info.unit == "probability"
    assert loaded.provenance["demand.advisory_compliance"].provenance.startswith("assumption:")
    assert loaded.levers.seoul_travel_advisory == 1.0
    assert loaded.provenance["lever.seoul_travel_advisory"].provenance.startswith("override in")
    assert loaded.params.demand.share_officials == baseline.params.demand.share_officials
    assert loaded.events[: len(baseline.events)] == baseline.events
    assert loaded.events[-1] == {
        "date": "2017-03-01",
        "kind": "missile_test",
        "count": 3,
        "source": "test",
    }
    assert loaded.timeline.missile()[loaded.calendar.day_of("2017-03-01")] == 3
    # the resolved child stands alone
    assert load_scenario_text(loaded.to_toml()) == loaded
    # load_scenario also takes the path as a string
    assert load_scenario(str(path)) == loaded


def test_replace_events_and_chained_extends(tmp_path: Path, baseline: Scenario) -> None:
    (tmp_path / "quiet.toml").write_text(
        child('replace_events = true\nstart = "2013-01-01"\n', name="quiet")
    )
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "grand.toml").write_text(
        '[scenario]\nname = "grand"\nextends = "../quiet.toml"\nreplicates = 3\n'
        "[parameters.defection]\ncontagion = 0.2\n"
    )
    quiet = load_scenario(tmp_path / "quiet.toml")
    assert quiet.events == ()
    assert quiet.timeline.lever_paths == {}
    assert int(quiet.timeline.nuclear().sum()) == 0
    assert np.isnan(quiet.timeline.resolution()).all()
    assert quiet.start == np.datetime64("2013-01-01")
    grand = load_scenario(sub / "grand.toml")
    assert (grand.name, grand.replicates, grand.events) == ("grand", 3, ())
    assert grand.params.defection.contagion == 0.2
    assert grand.start == np.datetime64("2013-01-01")


def test_endogenous_from_defaults_to_start() -> None:
    document = baseline_document()
    del document["scenario"]["endogenous_from"]
    loaded = load_scenario_text(dumps(document))
    assert loaded.endogenous_from == loaded.start
    assert loaded.timeline.endogenous_from == 0


def test_extends_paths_in_text_need_a_base_dir(tmp_path: Path) -> None:
    (tmp_path / "parent.toml").write_text(baseline_text().replace(BASELINE, "parent", 1))
    text = '[scenario]\nname = "kid"\nextends = "parent.toml"\n'
    error = refusal(text)
    assert error.path == "scenario.extends"
    loaded = load_scenario_text(text, base_dir=tmp_path)
    assert loaded.name == "kid" and loaded.title == load_scenario(BASELINE).title


def test_extends_cycles_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[scenario]\nname = "a"\nextends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('[scenario]\nname = "b"\nextends = "a.toml"\n')
    (tmp_path / "self.toml").write_text('[scenario]\nname = "s"\nextends = "./self.toml"\n')
    for name in ("a.toml", "self.toml"):
        with pytest.raises(ScenarioError) as caught:
            load_scenario(tmp_path / name)
        assert caught.value.path == "scenario.extends"
        assert "cycle" in caught.value.reason


def test_errors_in_a_parent_name_the_parent(tmp_path: Path) -> None:
    (tmp_path / "parent.toml").write_text('[scenario]\nname = "p"\nextends = "nosuch"\n')
    (tmp_path / "kid.toml").write_text('[scenario]\nname = "k"\nextends = "parent.toml"\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "kid.toml")
    assert caught.value.source.endswith("parent.toml")
    assert caught.value.path == "scenario.extends"


# --- timeline compilation ----------------------------------------------------------------------


def timeline_scenario(events: str, start: str = "2015-01-01", end: str = "2015-12-31") -> Scenario:
    """The baseline's parameters with a horizon and events of our choosing."""
    return load_scenario_text(
        child(
            f'replace_events = true\nstart = "{start}"\nend = "{end}"\n'
            f'endogenous_from = "2015-07-01"\n{events}'
        )
    )


def test_lever_events_until_inclusive_and_later_overrides() -> None:
    scenario = timeline_scenario(
        """
[[events]]
date = "2015-03-01"
until = "2015-03-10"
kind = "lever"
lever = "food_aid"
value = 0.5
source = "t"
[[events]]
date = "2015-01-20"
kind = "lever"
lever = "food_aid"
value = 0.25
source = "t: an earlier start, listed later, open-ended"
[[events]]
date = "2014-06-01"
until = "2015-01-05"
kind = "lever"
lever = "diplomatic_signal"
value = -1
source = "t: begins before the horizon"
[[events]]
date = "2016-06-01"
kind = "lever"
lever = "border_closure"
value = 1
source = "t: after the horizon"
"""
    )
    day = scenario.calendar.day_of
    paths = scenario.timeline.lever_paths
    assert set(paths) == {"food_aid", "diplomatic_signal"}
    food = paths["food_aid"]
    assert food.dtype == np.float64 and food.shape == (365,)
    assert np.isnan(food[: day("2015-01-20")]).all()
    assert (food[day("2015-01-20") : day("2015-03-01")] == 0.25).all()
    assert (food[day("2015-03-01") : day("2015-03-10") + 1] == 0.5).all()  # until inclusive
    assert (food[day("2015-03-11") :] == 0.25).all()
    signal = paths["diplomatic_signal"]
    assert (signal[: day("2015-01-05") + 1] == -1.0).all()
    assert np.isnan(signal[day("2015-01-06") :]).all()
    assert len(scenario.events) == 4  # the out-of-horizon event is kept
    assert scenario.timeline.endogenous_from == day("2015-07-01")


def test_forced_tests_and_resolutions() -> None:
    scenario = timeline_scenario(
        """
[[events]]
date = "2015-02-01"
kind = "nuclear_test"
source = "t"
[[events]]
date = "2015-02-01"
kind = "nuclear_test"
count = 2
source = "t"
[[events]]
date = "2015-02-02"
kind = "missile_test"
count = 4
source = "t"
[[events]]
date = "2014-12-31"
kind = "missile_test"
source = "t: outside"
[[events]]
date = "2015-04-01"
kind = "un_resolution"
resolution = "0000"
source = "t: no provisions"
[[events]]
date = "2015-05-01"
kind = "un_resolution"
un_workers = 0.5
un_textiles = 1.0
source = "t"
[[events]]
date = "2015-05-01"
kind = "un_resolution"
un_workers = 0.25
un_coal = 0.75
source = "t: same day, floors combine"
"""
    )
    day = scenario.calendar.day_of
    timeline = scenario.timeline
    nuclear, missile, resolution = timeline.nuclear(), timeline.missile(), timeline.resolution()
    assert nuclear.dtype == np.int64 and nuclear[day("2015-02-01")] == 3 and nuclear.sum() == 3
    assert missile[day("2015-02-02")] == 4 and missile.sum() == 4
    assert resolution.shape == (365, len(UN_PROVISIONS))
    np.testing.assert_array_equal(resolution[day("2015-04-01")], np.zeros(5))
    expected = dict.fromkeys(UN_PROVISIONS, 0.0) | {
        "un_workers": 0.5,
        "un_textiles": 1.0,
        "un_coal": 0.75,
    }
    np.testing.assert_array_equal(
        resolution[day("2015-05-01")], [expected[p] for p in UN_PROVISIONS]
    )
    rows = ~np.isnan(resolution).any(axis=1)
    assert rows.sum() == 2 and np.isnan(resolution[~rows]).all()
    no_provisions = scenario.events[4]
    assert no_provisions["resolution"] == "0000"
    assert all(no_provisions[p] == 0.0 for p in UN_PROVISIONS)


def test_baseline_timeline(baseline: Scenario) -> None:
    day = baseline.calendar.day_of
    timeline = baseline.timeline
    assert np.flatnonzero(timeline.nuclear()).tolist() == [
        day("2013-02-12"),
        day("2016-01-06"),
        day("2016-09-09"),
    ]
    coal = UN_PROVISIONS.index("un_coal")
    assert timeline.resolution()[day("2016-03-02"), coal] == 0.5
    assert timeline.resolution()[day("2016-11-30"), coal] == 0.75
    signal = timeline.lever_paths["diplomatic_signal"]
    assert signal[day("2016-05-31")] == -1.0 and signal[day("2016-06-01")] == 1.0
    assert signal[day("2016-06-30")] == 1.0 and np.isnan(signal[day("2016-07-01")])


# --- JSON Schema -----------------------------------------------------------------------------


def schema_validator(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """``is_valid`` of a draft 2020-12 validator (jsonschema, else jsonschema_rs)."""
    try:
        import jsonschema
    except ImportError:
        jsonschema_rs = pytest.importorskip("jsonschema_rs")
        jsonschema_rs.meta.validate(schema)
        return jsonschema_rs.Draft202012Validator(schema).is_valid
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema).is_valid


def test_schema_is_valid_and_accepts_the_baseline(baseline: Scenario) -> None:
    schema = scenario_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    json.dumps(schema)
    is_valid = schema_validator(schema)
    assert is_valid(baseline_document())
    assert is_valid(baseline.to_dict())
    assert is_valid(tomllib.loads(child("[parameters.defection]\ncontagion = 0.5\n")))
    bad = baseline_document()
    bad["parameters"]["defection"]["contagion"]["value"] = 1.5
    assert not is_valid(bad)
    bad = baseline_document()
    bad["parameters"]["defection"]["contagion"]["unit"] = "percent"
    assert not is_valid(bad)
    bad = baseline_document()
    bad["levers"]["nosuch"] = {"value": 1}
    assert not is_valid(bad)
    bad = baseline_document()
    bad["events"][0]["kind"] = "nuke"
    assert not is_valid(bad)


def test_schema_is_built_from_core_metadata() -> None:
    defs = scenario_schema()["$defs"]
    entry = defs["DefectionContagion"]
    value = entry["properties"]["value"]
    assert (value["minimum"], value["maximum"], value["type"]) == (0.0, 1.0, "number")
    assert "probability" in value["description"]
    assert entry["properties"]["unit"]["const"] == "probability"
    staff = defs["PopulationStaffPerRestaurant"]["properties"]["value"]
    assert (staff["type"], staff["minimum"], staff["maximum"]) == ("integer", 1, 200)
    groups = defs["Parameters"]["properties"]
    assert set(groups) == set(PARAM_GROUPS)
    for group, specs in PARAM_SPECS.items():
        assert set(defs[groups[group]["$ref"].split("/")[-1]]["properties"]) == set(specs)
    assert set(defs["Levers"]["properties"]) == set(LEVER_NAMES)
    signal = defs["LeverDiplomaticSignal"]["properties"]["value"]
    assert (signal["minimum"], signal["maximum"]) == (-1, 1)


# --- refusals ---------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]


def param(group: str, name: str, **changes: Any) -> Mutation:
    return lambda d: d["parameters"][group][name].update(changes)


def lever(name: str, **changes: Any) -> Mutation:
    return lambda d: d["levers"][name].update(changes)


def header(**changes: Any) -> Mutation:
    return lambda d: d["scenario"].update(changes)


def event(index: int, **changes: Any) -> Mutation:
    return lambda d: d["events"][index].update(changes)


BAD_DOCUMENTS: list[tuple[str, Mutation, str]] = [
    # unknown keys at every level
    ("unknown top-level key", lambda d: d.update(extra={"a": 1}), "extra"),
    ("unknown header key", header(colour="red"), "scenario.colour"),
    ("unknown group", lambda d: d["parameters"].update(defektion={}), "parameters.defektion"),
    (
        "unknown parameter",
        lambda d: d["parameters"]["defection"].update(contagon=0.3),
        "parameters.defection.contagon",
    ),
    (
        "unknown entry key",
        param("defection", "contagion", valu=0.3),
        "parameters.defection.contagion.valu",
    ),
    ("unknown lever", lambda d: d["levers"].update(foodaid=1), "levers.foodaid"),
    ("unknown event key", event(1, colour=0), "events[1].colour"),
    # wrong types
    (
        "bool is not a number",
        param("defection", "contagion", value=True),
        "parameters.defection.contagion.value",
    ),
    (
        "string is not a number",
        param("defection", "contagion", value="0.3"),
        "parameters.defection.contagion.value",
    ),
    (
        "integer field given a float",
        param("population", "restaurants_initial", value=100.0),
        "parameters.population.restaurants_initial.value",
    ),
    ("replicates not an integer", header(replicates=2.5), "scenario.replicates"),
    ("seed as string", header(seed="1"), "scenario.seed"),
    ("title not a string", header(title=3), "scenario.title"),
    ("group not a table", lambda d: d["parameters"].update(defection=3), "parameters.defection"),
    ("event not a table", lambda d: d["events"].append(3), "events[13]"),
    ("date not a date", header(start="yesterday"), "scenario.start"),
    ("impossible date", header(end="2012-02-30"), "scenario.end"),
    ("lever value as string", lever("food_aid", value="none"), "levers.food_aid.value"),
    # out of bounds
    (
        "probability above 1",
        param("defection", "contagion", value=1.5),
        "parameters.defection.contagion.value",
    ),
    (
        "share below 0",
        param("demand", "share_officials", value=-0.1),
        "parameters.demand.share_officials.value",
    ),
    (
        "negative count",
        param("population", "labour_workers_initial", value=-5),
        "parameters.population.labour_workers_initial.value",
    ),
    ("lever above bounds", lever("china_sanctions", value=1.2), "levers.china_sanctions.value"),
    ("signal below -1", lever("diplomatic_signal", value=-1.5), "levers.diplomatic_signal.value"),
    ("negative seed", header(seed=-1), "scenario.seed"),
    ("zero replicates", header(replicates=0), "scenario.replicates"),
    ("too many replicates", header(replicates=100_001), "scenario.replicates"),
    (
        "infinite value",
        param("labour", "hiring_days", value=float("inf")),
        "parameters.labour.hiring_days.value",
    ),
    (
        "nan value",
        param("labour", "hiring_days", value=float("nan")),
        "parameters.labour.hiring_days.value",
    ),
    # ranges
    (
        "range low above high",
        param("defection", "contagion", range=[0.5, 0.2]),
        "parameters.defection.contagion.range",
    ),
    (
        "value outside its range",
        param("defection", "contagion", range=[0.5, 0.6]),
        "parameters.defection.contagion.value",
    ),
    (
        "range outside bounds",
        param("defection", "contagion", range=[0.1, 1.5]),
        "parameters.defection.contagion.range[1]",
    ),
    (
        "range of one number",
        param("defection", "contagion", range=[0.1]),
        "parameters.defection.contagion.range",
    ),
    ("lever range reversed", lever("food_aid", range=[1.0, 0.0]), "levers.food_aid.range"),
    # units and provenance
    (
        "wrong unit",
        param("defection", "contagion", unit="percent"),
        "parameters.defection.contagion.unit",
    ),
    (
        "missing provenance",
        lambda d: d["parameters"]["defection"]["contagion"].pop("provenance"),
        "parameters.defection.contagion.provenance",
    ),
    (
        "blank provenance",
        param("defection", "contagion", provenance=" "),
        "parameters.defection.contagion.provenance",
    ),
    (
        "bare number without provenance",
        lambda d: d["parameters"]["defection"].update(contagion=0.3),
        "parameters.defection.contagion.provenance",
    ),
    # completeness of a file without extends
    (
        "missing parameter",
        lambda d: d["parameters"]["defection"].pop("contagion"),
        "parameters.defection.contagion",
    ),
    ("missing group", lambda d: d["parameters"].pop("routes"), "parameters.routes"),
    ("missing lever", lambda d: d["levers"].pop("food_aid"), "levers.food_aid"),
    ("missing title", lambda d: d["scenario"].pop("title"), "scenario.title"),
    ("missing name", lambda d: d["scenario"].pop("name"), "scenario.name"),
    ("missing scenario table", lambda d: d.pop("scenario"), "scenario"),
    ("bad name", header(name="has space"), "scenario.name"),
    # horizon
    ("end before start", header(end="2011-01-01"), "scenario.end"),
    ("end equals start", header(end="2012-01-01"), "scenario.end"),
    ("horizon over 200 years", header(end="2212-06-01"), "scenario.end"),
    # absurd sizes and impossible shares
    (
        "too many posts",
        lambda d: (
            d["parameters"]["population"]["labour_sites_max"].update(value=10_000),
            d["parameters"]["population"]["labour_site_capacity"].update(value=600),
        ),
        "parameters.population",
    ),
    (
        "more restaurants than sites",
        param("population", "restaurants_initial", value=300, range=[85, 300]),
        "parameters.population.restaurants_initial.value",
    ),
    (
        "more labourers than posts",
        param("population", "labour_workers_initial", value=70_000, range=[30_000, 80_000]),
        "parameters.population.labour_workers_initial.value",
    ),
    (
        "restaurant shares above 1",
        param("population", "restaurant_share_russia", value=0.4),
        "parameters.population.restaurant_share_russia.value",
    ),
    (
        "labour shares above 1",
        param("population", "labour_share_china", value=0.7),
        "parameters.population.labour_share_russia.value",
    ),
    # events
    ("unknown event kind", event(0, kind="nuke"), "events[0].kind"),
    ("missing event kind", lambda d: d["events"][0].pop("kind"), "events[0].kind"),
    ("missing event source", lambda d: d["events"][4].pop("source"), "events[4].source"),
    ("missing event date", lambda d: d["events"][4].pop("date"), "events[4].date"),
    ("unknown lever in event", event(0, lever="anti_extravagence"), "events[0].lever"),
    ("lever event value out of bounds", event(0, value=2.0), "events[0].value"),
    ("until before date", event(6, until="2016-01-01"), "events[6].until"),
    ("zero test count", event(1, count=0), "events[1].count"),
    ("float test count", event(1, count=1.0), "events[1].count"),
    ("provision above 1", event(4, un_coal=1.5), "events[4].un_coal"),
    ("lever key on a test", event(1, lever="food_aid"), "events[1].lever"),
    # extends
    ("extends unknown name", header(extends="nosuch"), "scenario.extends"),
    ("extends a path from text", header(extends="../other.toml"), "scenario.extends"),
    ("replace_events without extends", header(replace_events=True), "scenario.replace_events"),
]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [pytest.param(m, p, id=i) for i, m, p in BAD_DOCUMENTS],
)
def test_bad_documents_are_refused_in_one_line(mutate: Mutation, path: str) -> None:
    document = baseline_document()
    mutate(document)
    error = refusal(dumps(document))
    assert error.source == "test.toml"
    assert error.path == path, str(error)
    assert error.reason
    assert str(error) == f"test.toml: {path}: {error.reason}"
    assert "\n" not in str(error) and "Traceback" not in str(error)


BAD_TEXTS = [
    ("unterminated value", "[scenario]\nname = \n", "line 2"),
    ("duplicate table", '[scenario]\nname = "a"\n[scenario]\n', "line 3"),
    ("duplicate key", '[scenario]\nname = "a"\nname = "b"\n', "line 3"),
    ("unclosed array", "[scenario]\nx = [1,\n", "line 2"),
    ("empty document", "", "scenario"),
    ("deep nesting", "a = " + "[" * 5000, "document"),
]


@pytest.mark.parametrize(("text", "path"), [pytest.param(t, p, id=i) for i, t, p in BAD_TEXTS])
def test_malformed_toml_is_refused_with_its_line(text: str, path: str) -> None:
    error = refusal(text)
    assert error.path == path, str(error)
    assert "\n" not in str(error)


def test_child_file_rules(tmp_path: Path) -> None:
    outside = refusal(child("[parameters.defection]\ncontagion = 0.9\n"))
    assert outside.path == "parameters.defection.contagion.value"
    assert "range" in outside.reason
    widened = load_scenario_text(
        child("[parameters.defection.contagion]\nvalue = 0.9\nrange = [0.1, 0.95]\n")
    )
    assert widened.uncertainties["defection.contagion"] == (0.1, 0.95)
    unnamed = refusal(f'[scenario]\nextends = "{BASELINE}"\n')
    assert unnamed.path == "scenario.name"
    shares = refusal(child("[parameters.population]\nlabour_share_china = 0.7\n"))
    assert shares.path == "parameters.population.labour_share_russia.value"
    wrong_unit = refusal(child('[levers.food_aid]\nvalue = 0.5\nunit = "tonnes"\n'))
    assert wrong_unit.path == "levers.food_aid.unit"


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    cases = {
        tmp_path / "missing.toml": "file",
        tmp_path: "file",
    }
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    cases[binary] = "file"
    for path, where in cases.items():
        with pytest.raises(ScenarioError) as caught:
            load_scenario(path)
        assert caught.value.path == where and caught.value.source == str(path)
    with pytest.raises(ScenarioError) as caught:
        load_scenario("baseline-2061")
    assert caught.value.path == "scenario" and "baseline-2016" in caught.value.reason


def test_scenario_error_shape() -> None:
    error = ScenarioError("a.toml", "parameters.x\n.value", "bad\nvalue")
    assert str(error) == "a.toml: parameters.x .value: bad value"
    assert isinstance(error, Exception)
    again = pickle.loads(pickle.dumps(error))
    assert (again.source, again.path, again.reason) == (error.source, error.path, error.reason)
