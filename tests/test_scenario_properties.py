"""Property tests of the scenario boundary: whatever the input, a ScenarioError or a Scenario.

Random mutations of the default scenario (deleted keys, unknown keys, values of a wrong
type or out of bounds, corrupted text, random bytes) must be refused with a one-line
``ScenarioError`` (or load, when the mutation happens to be valid), never escape as another
exception.  Runs are derandomised, so CI sees the same examples every time.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from lipsteeth.core.params import PARAM_GROUPS, Levers, field_specs
from lipsteeth.scenario import Scenario, ScenarioError, load_scenario, load_scenario_text
from lipsteeth.scenario import scenario_schema as make_schema
from lipsteeth.scenario._scenario import MAX_CROSSINGS_PER_YEAR
from lipsteeth.scenario._toml import dumps

BASELINE_TEXT = resources.files("lipsteeth").joinpath("scenarios/baseline-2016.toml").read_text()
BASELINE: dict[str, Any] = tomllib.loads(BASELINE_TEXT)
PARAM_SPECS = {group: field_specs(cls) for group, cls in PARAM_GROUPS.items()}
LEVER_SPECS = field_specs(Levers)
# Every key name the format knows: an "unknown key" is none of these.
KNOWN_KEYS = (
    set(BASELINE)
    | set(BASELINE["scenario"])
    | {"extends", "replace_events", "range", "until", "count", "resolution", "value", "lever"}
    | {"unit", "provenance", "name", "events_file"}
    | {key for event in BASELINE["events"] for key in event}
    | set(PARAM_SPECS)
    | {name for specs in PARAM_SPECS.values() for name in specs}
    | set(LEVER_SPECS)
)

Path_ = tuple[str | int, ...]
FAST = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every key path into a parsed document (tables and arrays, not the root)."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield (*prefix, index)
            yield from paths(child, (*prefix, index))


def _get(document: Any, path: Path_) -> Any:
    for part in path:
        document = document[part]
    return document


ALL_PATHS: list[Path_] = sorted(paths(BASELINE), key=str)
TABLE_PATHS: list[Path_] = [()] + [p for p in ALL_PATHS if isinstance(_get(BASELINE, p), dict)]

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(),
    st.times(),
)
toml_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=8), scalars, max_size=3),
)
unknown_keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in KNOWN_KEYS)


def load_or_refuse(text: str) -> Scenario | None:
    """The loaded scenario, or None after checking the refusal is one well-formed line."""
    try:
        return load_scenario_text(text, "fuzz.toml")
    except ScenarioError as error:
        message = str(error)
        assert "\n" not in message and "\r" not in message
        assert message.startswith("fuzz.toml: ") and error.path and error.reason
        return None


def json_or_none(document: Any) -> Any:
    """The document as JSON data, or None when it holds non-JSON values (dates, NaN)."""
    try:
        return json.loads(json.dumps(document, allow_nan=False))
    except (TypeError, ValueError):
        return None


SCHEMA = make_schema()


def schema_accepts(document: Any) -> bool:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    return bool(jsonschema_rs.Draft202012Validator(SCHEMA).is_valid(document))


Mutated = tuple[dict[str, Any], list[str], list[tuple[dict[str, Any], str]]]


@st.composite
def mutated_documents(draw: st.DrawFn) -> Mutated:
    """The baseline after one to three random mutations, what they were, the keys added."""
    document = copy.deepcopy(BASELINE)
    done: list[str] = []
    added: list[tuple[dict[str, Any], str]] = []  # (table, unknown key put into it)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["delete", "unknown", "set"]))
        if action == "unknown":
            try:
                table = _get(document, draw(st.sampled_from(TABLE_PATHS)))
            except (KeyError, IndexError, TypeError):
                continue  # removed by an earlier mutation
            if not isinstance(table, dict):
                continue
            key = draw(unknown_keys)
            table[key] = draw(toml_values)
            added.append((table, key))
            done.append("unknown")
            continue
        path = draw(st.sampled_from(ALL_PATHS))
        try:
            parent = _get(document, path[:-1])
            parent[path[-1]]  # noqa: B018 - still there after earlier mutations?
        except (KeyError, IndexError, TypeError):
            continue
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(toml_values)
        done.append(action)
    return document, done, added


def tables_of(node: Any) -> Iterator[dict[str, Any]]:
    """Every table (dict) of a document, itself included."""
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from tables_of(child)
    elif isinstance(node, list):
        for child in node:
            yield from tables_of(child)


def check_mutated_document(case: Mutated) -> str:
    document, _done, added = case
    loaded = load_or_refuse(dumps(document))
    # an unknown key is still there unless a later mutation deleted or replaced its table
    # (the 5,000-input fuzz found one: a key added to an event, then the event deleted)
    reachable = {id(table) for table in tables_of(document)}
    if any(id(table) in reachable and key in table for table, key in added):
        assert loaded is None, "an unknown key was accepted"
    if loaded is not None:
        data = json_or_none(document)
        if data is not None:
            assert schema_accepts(data), "the loader accepted what the schema refuses"
    return "refused" if loaded is None else "loaded"


@FAST
@given(mutated_documents())
def test_mutated_documents_load_or_are_refused(case: Mutated) -> None:
    check_mutated_document(case)


numbers = st.one_of(
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.floats(min_value=-2.0, max_value=2.0),
    st.integers(min_value=-10, max_value=10),
)
NON_POPULATION = [
    (group, name) for group, specs in PARAM_SPECS.items() if group != "population" for name in specs
]


def check_parameter_value(key: tuple[str, str], number: float) -> str:
    group, name = key
    meta = PARAM_SPECS[group][name]
    document = copy.deepcopy(BASELINE)
    entry = document["parameters"][group][name]
    entry["value"] = number
    low, high = entry.get("range", (meta["lo"], meta["hi"]))
    admissible = math.isfinite(number) and max(low, meta["lo"]) <= number <= min(high, meta["hi"])
    if admissible and group == "wider_flow":  # the one cross-field rule on these (M10)
        flow = {n: e["value"] for n, e in document["parameters"]["wider_flow"].items()}
        at_full_hardship = flow["crossing_rate_per_year"] * math.exp(flow["beta_economy"])
        admissible = at_full_hardship <= MAX_CROSSINGS_PER_YEAR
    try:
        loaded = load_scenario_text(dumps(document), "fuzz.toml")
    except ScenarioError as error:
        assert not admissible, str(error)
        if "exp(beta_economy)" not in str(error):
            assert error.path.startswith(f"parameters.{group}.{name}")
        return "refused"
    assert admissible
    assert getattr(getattr(loaded.params, group), name) == float(number)
    return "loaded"


@FAST
@given(st.sampled_from(NON_POPULATION), numbers)
def test_a_parameter_value_loads_exactly_when_it_is_admissible(
    key: tuple[str, str], number: float
) -> None:
    check_parameter_value(key, number)


BASELINE_SCENARIO = load_scenario("baseline-2016")


def check_lever_override(name: str, value: Any) -> str:
    baseline = BASELINE_SCENARIO
    meta = LEVER_SPECS[name]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    admissible = number and math.isfinite(value) and meta["lo"] <= value <= meta["hi"]
    try:
        changed = baseline.with_overrides(levers={name: value})
    except ScenarioError as error:
        assert not admissible, str(error)
        assert error.path.startswith(f"levers.{name}") and "\n" not in str(error)
        return "refused"
    assert admissible
    assert getattr(changed.levers, name) == float(value)
    assert changed.provenance[f"lever.{name}"].provenance.startswith("override: ")
    return "loaded"


@FAST
@given(st.sampled_from(sorted(LEVER_SPECS)), st.one_of(numbers, toml_values))
def test_lever_overrides_are_validated(name: str, value: Any) -> None:
    check_lever_override(name, value)


UNCERTAIN = sorted(load_scenario("baseline-2016").uncertainties.items())


@st.composite
def points_in_ranges(draw: st.DrawFn) -> dict[str, float]:
    chosen = draw(st.lists(st.sampled_from(UNCERTAIN), min_size=1, max_size=6, unique=True))
    point: dict[str, float] = {}
    for key, (low, high) in chosen:
        group, name = key.split(".")
        if PARAM_SPECS[group][name]["integer"]:
            point[key] = draw(st.integers(int(low), int(high)))
        else:
            point[key] = draw(st.floats(low, high))
    return point


@settings(FAST, max_examples=40)
@given(points_in_ranges())
def test_overridden_scenarios_round_trip(point: dict[str, float]) -> None:
    baseline = load_scenario("baseline-2016")
    changed = baseline.with_overrides(params=point)
    assert changed.uncertainties == baseline.uncertainties  # all inside: nothing widened
    assert load_scenario_text(changed.to_toml()) == changed


def check_random_text(text: str) -> str:
    return "refused" if load_or_refuse(text) is None else "loaded"


@FAST
@given(st.text(max_size=400))
def test_random_text_is_refused_or_loaded(text: str) -> None:
    check_random_text(text)


def check_corrupted_baseline(at: int, cut: int, insert: str) -> str:
    text = BASELINE_TEXT[:at] + insert + BASELINE_TEXT[at + cut :]
    try:
        load_scenario_text(text, "fuzz.toml")
    except ScenarioError as error:
        assert "\n" not in str(error)
        if error.path.startswith("line "):
            assert 1 <= int(error.path.removeprefix("line ")) <= text.count("\n") + 1
        return "refused"
    return "loaded"


corruptions = (st.integers(0, len(BASELINE_TEXT) - 1), st.integers(0, 40), st.text(max_size=20))


@FAST
@given(*corruptions)
def test_corrupted_baseline_text(at: int, cut: int, insert: str) -> None:
    check_corrupted_baseline(at, cut, insert)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "random.toml"


def check_random_bytes(scratch: Path, data: bytes) -> str:
    scratch.write_bytes(data)
    try:
        load_scenario(scratch)
    except ScenarioError as error:
        assert error.source == str(scratch) and "\n" not in str(error)
        return "refused"
    return "loaded"


@settings(FAST, max_examples=60, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=300))
def test_random_bytes_in_a_file(scratch: Path, data: bytes) -> None:
    check_random_bytes(scratch, data)


random_tables = st.dictionaries(
    st.one_of(st.sampled_from(sorted(KNOWN_KEYS)), st.text(max_size=10)),
    toml_values,
    max_size=4,
)


def check_random_table(document: dict[str, Any]) -> str:
    return "refused" if load_or_refuse(dumps(document)) is None else "loaded"


@FAST
@given(random_tables)
def test_random_tables_never_escape(document: dict[str, Any]) -> None:
    check_random_table(document)


def check_dotted_key(form: str, depth: int, part: str) -> str:
    """A dotted key of ``depth`` parts as a line, table header or inline-table key: refused
    or loaded within a second whatever its depth (tomllib's time is quadratic in it)."""
    key = ".".join([part] * depth)
    text = {
        "line": f"{key} = 1",
        "header": f"[{key}]",
        "inline": f"x = {{{key} = 1}}",
        "array": f"x = [{{b = 2, {key} = 1}}]",
    }[form]
    started = time.perf_counter()
    outcome = check_random_text(f'[scenario]\nname = "x"\n{text}\n')
    assert time.perf_counter() - started < 1.0, f"{depth} parts took over a second"
    return outcome


dotted_keys = (
    st.sampled_from(["line", "header", "inline", "array"]),
    st.integers(1, 70_000),
    st.sampled_from(["a", "scenario", '"q"', "'r'", "b-c"]),
)


#: the 5,000-input scenario fuzz (issue 17): kind -> (check, its strategies, inputs)
FUZZ_KINDS: dict[str, tuple[Callable[..., str], tuple[st.SearchStrategy[Any], ...], int]] = {
    "mutated document": (check_mutated_document, (mutated_documents(),), 1500),
    "corrupted baseline text": (check_corrupted_baseline, corruptions, 1000),
    "random text": (check_random_text, (st.text(max_size=400),), 700),
    "random table": (check_random_table, (random_tables,), 600),
    "random bytes in a file": (check_random_bytes, (st.binary(max_size=300),), 400),
    "dotted key": (check_dotted_key, dotted_keys, 300),
    "parameter value": (check_parameter_value, (st.sampled_from(NON_POPULATION), numbers), 450),
    "lever override": (
        check_lever_override,
        (st.sampled_from(sorted(LEVER_SPECS)), st.one_of(numbers, toml_values)),
        350,
    ),
}


@pytest.mark.slow
def test_scenario_fuzz_5000(scratch: Path) -> None:
    """5,300 hostile inputs (a new sequence: not the fast tests' derandomised one).

    Every input loads or is refused with a well-formed one-line ``ScenarioError``; any
    other exception or a failed check is collected by kind (type and first line), so
    one run reports them all.  Prints the counts.
    """
    outcomes: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    examples: dict[str, str] = {}
    started = time.perf_counter()

    def counted(kind: str, check: Callable[..., str], extra: tuple[Any, ...]) -> Any:
        def one(case: tuple[Any, ...]) -> None:
            try:
                outcomes[check(*extra, *case)] += 1
            except Exception as failure:  # noqa: BLE001 - what the fuzz is for
                label = f"{kind}: {type(failure).__name__}: {str(failure).splitlines()[0][:120]}"
                failures[label] += 1
                examples.setdefault(label, repr(case)[:500])
                outcomes["failed"] += 1

        return one

    for kind, (check, strategies, inputs) in FUZZ_KINDS.items():
        extra = (scratch,) if check is check_random_bytes else ()
        run = given(st.tuples(*strategies))(counted(kind, check, extra))
        settings(
            max_examples=inputs,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(hypothesis_seed(17)(run))()
    total = sum(outcomes.values())
    print(
        f"scenario fuzz: {total} inputs, {outcomes['loaded']} loaded, "
        f"{outcomes['refused']} refused in one line, {outcomes['failed']} failures "
        f"in {time.perf_counter() - started:.0f} s; {dict(failures)}"
    )
    assert total >= 5000, outcomes
    assert not failures, examples


def test_toml_writer_round_trips_what_the_fuzzers_build() -> None:
    document = {
        "a b": [1, 2.5, "x\ny\x7f", dt.date(2000, 1, 2)],
        "t": {"inf": math.inf, "when": dt.datetime(2000, 1, 2, 3, 4, 5), "at": dt.time(1, 2)},
        "arr": [{"k": True}, {"k": False, "n": {"deep": []}}],
        "mixed": [{"k": 1}, 3],
        "empty": {},
    }
    assert tomllib.loads(dumps(document)) == document
