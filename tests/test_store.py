"""Results folders: tidy tables, fixed row order, atomic writes, ledger checks, chunked runs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lipsteeth.adapters import store
from lipsteeth.core.events import EVENT_COLUMNS
from lipsteeth.core.outcomes import OUTCOME_NAMES, OUTCOMES, to_years
from lipsteeth.core.simulate import SimulationResult
from lipsteeth.experiment.ensemble import run_scenario
from lipsteeth.scenario import Scenario, load_scenario
from lipsteeth.services import default_chunk_size, run_in_chunks

SEED = 11


@pytest.fixture(scope="module")
def short() -> Scenario:
    """The default scenario cut to one year."""
    return load_scenario("baseline-2016").with_overrides(years=1)


@pytest.fixture(scope="module")
def result(short: Scenario) -> SimulationResult:
    return run_scenario(short, replicates=3, seed=SEED)


def _manifest(short: Scenario, result: SimulationResult) -> dict[str, Any]:
    return store.run_manifest(
        run_id="test-run",
        scenario=short,
        result=result,
        seed=SEED,
        argv=["run", "--years", "1"],
        wall_time_s=1.0,
        facts=[],
        ledger=store.ledger_checks(result),
    )


def _write(target: Path, short: Scenario, result: SimulationResult, **kw: Any) -> Path:
    return store.write_results(
        target,
        run_id="test-run",
        result=result,
        start=short.start,
        manifest=kw.pop("manifest", None) or _manifest(short, result),
        summary=kw.pop("summary", None) or {"scenario": short.name},
        **kw,
    )


def test_outcomes_table_is_tidy_and_sorted(result: SimulationResult) -> None:
    table = store.outcomes_table(result)
    assert table.schema.names == ["replicate", "period", "year", "variable", "value"]
    assert table.schema.field("replicate").type == pa.int32()
    assert table.schema.field("period").type == pa.date32()
    assert table.schema.field("year").type == pa.int16()
    assert pa.types.is_dictionary(table.schema.field("variable").type)
    assert table.schema.field("value").type == pa.float64()
    n_rep, n_var, n_months = result.monthly.shape
    assert table.num_rows == n_rep * n_var * n_months
    rows = table.to_pydict()
    keys = list(zip(rows["replicate"], rows["variable"], rows["period"], strict=True))
    assert keys == sorted(keys)
    # every value is where the core put it
    name = "workers_abroad"
    got = np.array(
        [
            v
            for v, var, r in zip(rows["value"], rows["variable"], rows["replicate"], strict=True)
            if var == name and r == 1
        ]
    )
    np.testing.assert_array_equal(got, result.outcome(name)[1])
    assert rows["period"][0] == dt.date(2012, 1, 1)


def test_yearly_table_follows_outcome_kinds(result: SimulationResult) -> None:
    table = store.outcomes_yearly_table(result).to_pydict()
    month_years = result.months.astype("datetime64[Y]").astype(int) + 1970
    years, yearly = to_years(result.monthly, month_years)
    for name in ("revenue_to_state_usd", "workers_abroad", "relations_index"):
        got = [
            v
            for v, var, r in zip(table["value"], table["variable"], table["replicate"], strict=True)
            if var == name and r == 0
        ]
        np.testing.assert_array_equal(got, yearly[0, OUTCOME_NAMES.index(name)])
    assert set(table["year"]) == {int(y) for y in years}
    assert {OUTCOMES[n].kind for n in OUTCOME_NAMES} == {"flow", "stock", "mean"}


def test_events_table_has_dates(short: Scenario, result: SimulationResult) -> None:
    table = store.events_table(result, short.start)
    assert table.schema.names == [*EVENT_COLUMNS, "date", "arrival_date"]
    assert table.num_rows == result.events["replicate"].size > 0
    rows = table.to_pydict()
    start = dt.date(2012, 1, 1)
    for day, date, arrival_day, arrival in zip(
        rows["day"], rows["date"], rows["arrival_day"], rows["arrival_date"], strict=True
    ):
        assert date == start + dt.timedelta(days=day)
        if arrival_day < 0:
            assert arrival is None
        else:
            assert arrival == start + dt.timedelta(days=arrival_day)
    keys = list(zip(rows["replicate"], rows["day"], strict=True))
    assert keys == sorted(keys)


def test_ledger_identity_holds(result: SimulationResult) -> None:
    (check,) = store.ledger_checks(result)
    assert check.holds and check.holding == check.replicates == 3
    assert check.to_dict()["failing_replicates"] == []


def test_chunked_run_equals_single_call(short: Scenario, result: SimulationResult) -> None:
    steps: list[int] = []
    chunked = run_in_chunks(short, replicates=3, seed=SEED, chunk_size=1, on_chunk=steps.append)
    assert steps == [1, 1, 1]
    np.testing.assert_array_equal(chunked.replicates, result.replicates)
    np.testing.assert_array_equal(chunked.monthly, result.monthly)
    for name in EVENT_COLUMNS:
        np.testing.assert_array_equal(chunked.events[name], result.events[name])
    for name in ("initial_in_post", "hired", "in_post", "escaped", "caught", "recalled"):
        np.testing.assert_array_equal(getattr(chunked.ledger, name), getattr(result.ledger, name))
    a = store.events_table(chunked, short.start)
    b = store.events_table(result, short.start)
    assert a.drop_columns(["value"]).equals(b.drop_columns(["value"]))
    np.testing.assert_array_equal(a["value"].to_numpy(), b["value"].to_numpy())  # NaN == NaN


def test_default_chunk_size() -> None:
    assert default_chunk_size(1) == 1
    assert default_chunk_size(20) == 4
    assert default_chunk_size(10_000) == 16


def test_write_results_folder(tmp_path: Path, short: Scenario, result: SimulationResult) -> None:
    target = _write(tmp_path / "run", short, result)
    assert sorted(p.name for p in target.iterdir()) == sorted(store.RESULTS_FILES)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging dir left
    manifest = store.read_manifest(target)
    assert manifest["seed"] == SEED and manifest["replicates"] == 3
    assert manifest["horizon"]["start"] == "2012-01-01"
    assert set(manifest["data_sha256"]) >= {"SOURCES.md", "03_restaurants_abroad.csv"}
    assert manifest["scenario_sha256"]["source"] is not None
    assert manifest["ledger_checks"][0]["holds"] is True
    assert pq.read_table(target / store.OUTCOMES_FILE).num_rows == result.monthly.size


def test_parquet_bytes_do_not_depend_on_time(
    tmp_path: Path, short: Scenario, result: SimulationResult
) -> None:
    a = _write(tmp_path / "a", short, result)
    b = _write(tmp_path / "b", short, result)
    for name in (store.OUTCOMES_FILE, store.OUTCOMES_YEARLY_FILE, store.EVENTS_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    metadata = pq.ParquetFile(a / store.OUTCOMES_FILE).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert set(metadata.metadata or {}) == {b"ARROW:schema"}


class _Exploding(Mapping[str, Any]):
    """A summary that fails while it is being written."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("disk on fire")

    def __len__(self) -> int:
        return 1


def test_failed_write_leaves_nothing(
    tmp_path: Path, short: Scenario, result: SimulationResult
) -> None:
    with pytest.raises(RuntimeError, match="disk on fire"):
        _write(tmp_path / "run", short, result, summary=_Exploding())
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_empty_target_unless_forced(
    tmp_path: Path, short: Scenario, result: SimulationResult
) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(store.ResultsFolderError, match="not empty"):
        store.resolve_target(target, run_id="x", force=False)
    with pytest.raises(store.ResultsFolderError):
        _write(target, short, result)
    assert (target / "notes.txt").exists()
    _write(target, short, result, force=True)
    assert not (target / "notes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_empty_target_is_used(tmp_path: Path, short: Scenario, result: SimulationResult) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    assert store.resolve_target(target, run_id="x") == target
    _write(target, short, result)
    assert (target / store.MANIFEST_FILE).is_file()


def test_default_target_never_reuses_a_folder(tmp_path: Path) -> None:
    run_id = store.default_run_id(
        "baseline-2016", 7, dt.datetime(2016, 4, 7, 1, 2, 3, tzinfo=dt.UTC)
    )
    assert run_id == "baseline-2016-7-20160407-010203"
    first = store.resolve_target(None, run_id=run_id, base=tmp_path)
    assert first == tmp_path / run_id
    first.mkdir()
    (first / "x").write_text("")
    assert store.resolve_target(None, run_id=run_id, base=tmp_path) == tmp_path / f"{run_id}-2"


def test_json_is_strict() -> None:
    text = store.dumps({"a": float("nan"), "b": np.float64(1.5), "c": np.arange(2), "d": np.inf})
    assert json.loads(text) == {"a": None, "b": 1.5, "c": [0, 1], "d": None}


def test_atomic_write_keeps_the_old_file_on_failure_and_gets_a_plain_mode(tmp_path: Path) -> None:
    """The one atomic writer (report, figure, catalog, validation and job files use it)."""
    import os

    path = tmp_path / "summary.json"
    path.write_text("old")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with pytest.raises(RuntimeError, match="disk on fire"), store.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk on fire")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt", "summary.json"]
    store.atomic_text("new", path)
    assert path.read_text() == "new"
    # mkstemp alone would make it 0600: unreadable to the group a plain open gives
    assert os.stat(path).st_mode & 0o777 == os.stat(plain).st_mode & 0o777
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt", "summary.json"]
