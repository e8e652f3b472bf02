"""The DuckDB catalog's tables and views, and run folders' rows in them.

``adapters.catalog`` keeps the files of experiments and loads them; this module holds
what every load shares (the schema, connections that wait for a writer, one
transaction per load, per-experiment deletes) and two things of the whole results
root: the run folders directly under it (``lipsteeth run`` and ``validate`` output,
registered as run 0 of an experiment named after the folder, :func:`sync_run_folders`)
and the wide views ``factors``, ``outcomes_wide`` and ``outcomes_yearly_wide``
(:func:`refresh_views`) that join outcomes with factors in one SELECT.

Rows reach DuckDB through its relational API (``read_parquet``, ``table``, ``filter``,
``aggregate``, ``insert_into``, ``create_view``) and bound parameters: no path or value
is spliced into SQL text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import sql_readonly as sro
from .store import jsonable

if TYPE_CHECKING:
    import duckdb


CATALOG_FILE = "catalog.duckdb"
#: the tables an experiment's runs fill (``experiments`` and ``posteriors`` besides)
TABLES: tuple[str, ...] = ("outcomes", "outcomes_yearly", "runs", "parameters")
MANIFEST = "manifest.json"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATUS_COMPLETE = "complete"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS experiments (
    experiment VARCHAR PRIMARY KEY,
    kind VARCHAR,
    scenario VARCHAR,
    design VARCHAR,
    n_runs INTEGER,
    n_done INTEGER,
    replicates_per_run INTEGER,
    status VARCHAR,
    created TIMESTAMP,
    finished TIMESTAMP,
    path VARCHAR,
    manifest JSON
);
CREATE TABLE IF NOT EXISTS runs (
    experiment VARCHAR, run INTEGER, point INTEGER, seed BIGINT, replicates INTEGER,
    wall_seconds DOUBLE, finished_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS parameters (
    experiment VARCHAR, run INTEGER, name VARCHAR, kind VARCHAR, value DOUBLE
);
CREATE TABLE IF NOT EXISTS outcomes (
    experiment VARCHAR, run INTEGER, replicate INTEGER, variable VARCHAR, value DOUBLE
);
CREATE TABLE IF NOT EXISTS outcomes_yearly (
    experiment VARCHAR, run INTEGER, replicate INTEGER, year SMALLINT, variable VARCHAR,
    value DOUBLE
);
CREATE TABLE IF NOT EXISTS posteriors (
    experiment VARCHAR, generation INTEGER, particle INTEGER, weight DOUBLE, distance DOUBLE,
    name VARCHAR, value DOUBLE
);
CREATE TABLE IF NOT EXISTS events (
    experiment VARCHAR, run INTEGER, replicate INTEGER, "day" INTEGER, kind VARCHAR,
    site INTEGER, sector VARCHAR, country VARCHAR, size INTEGER, manager_led BOOLEAN,
    helpers BOOLEAN, route VARCHAR, outcome VARCHAR, arrival_day INTEGER, value DOUBLE,
    "date" DATE, arrival_date DATE
);
CREATE TABLE IF NOT EXISTS sensitivity_indices (
    experiment VARCHAR, method VARCHAR, outcome VARCHAR, factor VARCHAR, index_name VARCHAR,
    value DOUBLE
);
CREATE TABLE IF NOT EXISTS prim_boxes (
    experiment VARCHAR, outcome VARCHAR, threshold DOUBLE, direction VARCHAR, box INTEGER,
    factor VARCHAR, low DOUBLE, high DOUBLE, coverage DOUBLE, density DOUBLE, mass DOUBLE
);
CREATE OR REPLACE VIEW run_means AS
    SELECT experiment, run, variable, avg(value) AS mean, min(value) AS min,
           max(value) AS max, count(*) AS replicates
    FROM outcomes GROUP BY experiment, run, variable;
"""


class CatalogError(Exception):
    """Results cannot be stored or found as asked (one-line message)."""


# ---------------------------------------------------------------------------
# connections, transactions and what every load shares


def catalog_path(root: Path) -> Path:
    return Path(root) / CATALOG_FILE


def connect(
    root: Path, *, read_only: bool = False, attempts: int = 50
) -> duckdb.DuckDBPyConnection:
    """Open the catalog (creating its tables); retries while another process holds the lock."""
    import duckdb

    path = catalog_path(root)
    if read_only and not path.exists():
        raise CatalogError(f"no catalog at {path}")
    last: Exception | None = None
    for _ in range(attempts):
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            if not read_only:
                con.execute(SCHEMA_SQL)
            return con
        except duckdb.IOException as exc:  # locked by another writer
            last = exc
            time.sleep(0.2)
    raise CatalogError(f"catalog {path} is locked: {last}")


@contextlib.contextmanager
def transaction(root: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A catalog connection inside one transaction: committed, or rolled back on any error."""
    con = connect(root)
    try:
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


#: one statement per table: the relational API has no DELETE, and no name is spliced into SQL
DELETE_EXPERIMENT: dict[str, str] = {
    "experiments": "DELETE FROM experiments WHERE experiment = ?",
    "outcomes": "DELETE FROM outcomes WHERE experiment = ?",
    "outcomes_yearly": "DELETE FROM outcomes_yearly WHERE experiment = ?",
    "runs": "DELETE FROM runs WHERE experiment = ?",
    "parameters": "DELETE FROM parameters WHERE experiment = ?",
    "posteriors": "DELETE FROM posteriors WHERE experiment = ?",
    "events": "DELETE FROM events WHERE experiment = ?",
    "sensitivity_indices": "DELETE FROM sensitivity_indices WHERE experiment = ?",
    "prim_boxes": "DELETE FROM prim_boxes WHERE experiment = ?",
}
#: the tables of an experiment's analyses (``sensitivity`` and ``discover`` output)
ANALYSIS_TABLES: tuple[str, ...] = ("sensitivity_indices", "prim_boxes")
#: the tables a run folder fills besides ``experiments``
RUN_FOLDER_TABLES: tuple[str, ...] = (*TABLES, "events")


def delete_experiment(
    con: duckdb.DuckDBPyConnection, experiment: str, tables: Iterable[str]
) -> None:
    """Remove one experiment's rows from ``tables`` (inside the caller's transaction)."""
    for table in tables:
        con.execute(DELETE_EXPERIMENT[table], [experiment])


def equals(column: str, value: Any) -> duckdb.Expression:
    """``column = value`` as a DuckDB expression (the value a bound constant, never SQL text)."""
    import duckdb

    return duckdb.ColumnExpression(column) == duckdb.ConstantExpression(value)


def experiment_column(experiment: str) -> duckdb.Expression:
    import duckdb

    return duckdb.ConstantExpression(experiment).alias("experiment")


def timestamp(text: Any) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(str(text)).astimezone(dt.UTC).replace(tzinfo=None)


def experiments_in(root: Path) -> list[str]:
    base = Path(root) / "experiments"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / MANIFEST).is_file())


# ---------------------------------------------------------------------------
# run folders directly under a results root


def is_run_folder(path: Path) -> bool:
    """A results folder of one ``lipsteeth run`` (manifest plus Parquet tables)."""
    path = Path(path)
    return (path / MANIFEST).is_file() and (path / "outcomes.parquet").is_file()


#: ``experiments.kind`` of a run folder (``lipsteeth run`` or ``validate``: one run, run 0)
RUN_KIND = "run"


def run_folders_in(root: Path) -> dict[str, Path]:
    """The run folders directly under a results root (``results/<run-id>``), by name.

    Hidden folders (a run being written, ``.<run-id>.partial-*``) are not run folders yet.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    return {
        entry.name: entry
        for entry in sorted(root.iterdir())
        if not entry.name.startswith(".") and entry.is_dir() and is_run_folder(entry)
    }


def _run_identity(manifest: Mapping[str, Any]) -> tuple[str, str]:
    """What tells two runs written into one folder apart: their run id and creation time."""
    return str(manifest.get("run_id", "")), str(manifest.get("created", ""))


def _settings_of_run(manifest: Mapping[str, Any]) -> pa.Table:
    """A run folder's factors: what every replicate ran with, as ``parameters`` rows.

    Every lever as set (its value before dated events move it; kind ``lever``) and
    every scalar parameter the replicates did not draw (kind ``parameter``).  A
    parameter drawn per replicate from the posterior or its declared range
    (issue 13; the manifest's ``uncertainty`` names them) differs between
    replicates, so it is no factor of the run and is left out.
    """
    scenario = manifest.get("scenario") or {}
    uncertainty = manifest.get("uncertainty") or {}
    drawn = {*uncertainty.get("from_posterior", ()), *uncertainty.get("from_ranges", ())}
    rows: list[tuple[str, str, float]] = []
    for lever, spec in (scenario.get("levers") or {}).items():
        if isinstance(spec, Mapping) and _is_number(spec.get("value")):
            rows.append((str(lever), "lever", float(spec["value"])))
    for group, items in (scenario.get("parameters") or {}).items():
        for name, spec in (items or {}).items():
            full = f"{group}.{name}"
            if full not in drawn and isinstance(spec, Mapping) and _is_number(spec.get("value")):
                rows.append((full, "parameter", float(spec["value"])))
    return pa.table(
        {
            "run": pa.array([0] * len(rows), type=pa.int32()),
            "name": pa.array([r[0] for r in rows], type=pa.string()),
            "kind": pa.array([r[1] for r in rows], type=pa.string()),
            "value": pa.array([r[2] for r in rows], type=pa.float64()),
        }
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _outcome_kinds() -> pa.Table:
    """Each outcome's kind (flow, stock, mean: ``core.outcomes``), to reduce a horizon."""
    from ..core.outcomes import OUTCOMES

    return pa.table(
        {
            "variable": pa.array(list(OUTCOMES), type=pa.string()),
            "kind": pa.array([spec.kind for spec in OUTCOMES.values()], type=pa.string()),
        }
    )


#: a whole-horizon value from monthly ones, as ``experiment.sweep.horizon_metrics``
#: computes a sweep's: flows summed, stocks at the last month, means averaged over months
_HORIZON_VALUE = (
    "CASE any_value(kind) WHEN 'flow' THEN sum(value) "
    "WHEN 'stock' THEN arg_max(value, period) ELSE avg(value) END AS value"
)


def load_run_folder(con: duckdb.DuckDBPyConnection, name: str, folder: Path) -> None:
    """One run folder's rows, as run 0 of experiment ``name`` (inside ``con``'s txn).

    ``outcomes`` holds each replicate's whole-horizon value, reduced from the folder's
    monthly table as a sweep reduces its runs (an outcome the model no longer defines
    is left out: its kind is unknown); ``outcomes_yearly`` and ``events`` (defection
    groups, closures, provocations ... with their dates) are the folder's own tables.
    """
    import duckdb

    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    delete_experiment(con, name, ("experiments", *RUN_FOLDER_TABLES))
    experiment = experiment_column(name)
    run = duckdb.ConstantExpression(0).alias("run")
    monthly = con.read_parquet(str(folder / "outcomes.parquet"))
    kinds = con.from_arrow(_outcome_kinds())
    horizon = monthly.join(kinds, "variable").aggregate(
        f"replicate, variable, {_HORIZON_VALUE}", "replicate, variable"
    )
    horizon.select(experiment, run, "replicate", "variable", "value").insert_into("outcomes")
    yearly = con.read_parquet(str(folder / "outcomes_yearly.parquet"))
    yearly.select(experiment, run, "replicate", "year", "variable", "value").insert_into(
        "outcomes_yearly"
    )
    con.from_arrow(_settings_of_run(manifest)).select(
        experiment, "run", "name", "kind", "value"
    ).insert_into("parameters")
    if (folder / "events.parquet").is_file():  # the table's columns, by name, in its order
        columns = [c for c in con.table("events").columns if c not in ("experiment", "run")]
        events = con.read_parquet(str(folder / "events.parquet"))
        events.select(experiment, run, *columns).insert_into("events")
    created = timestamp(manifest.get("created"))
    con.from_arrow(
        pa.table(
            {
                "experiment": pa.array([name], type=pa.string()),
                "run": pa.array([0], type=pa.int32()),
                "point": pa.array([0], type=pa.int32()),
                "seed": pa.array([manifest.get("seed")], type=pa.int64()),
                "replicates": pa.array([manifest.get("replicates")], type=pa.int32()),
                "wall_seconds": pa.array([manifest.get("wall_time_s")], type=pa.float64()),
                "finished_at": pa.array([created], type=pa.timestamp("ms")),
            }
        )
    ).insert_into("runs")
    con.execute(
        "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            name,
            RUN_KIND,
            manifest.get("scenario_name"),
            None,  # no design
            1,  # one run, done
            1,
            manifest.get("replicates"),
            STATUS_COMPLETE,
            created,
            created,
            str(folder),
            json.dumps(jsonable(manifest)),
        ],
    )


def _registered_runs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """The run folders the catalog holds: name -> (run id, creation time) of their manifest."""
    import duckdb

    def field(key: str) -> duckdb.Expression:
        path = duckdb.ConstantExpression(f"$.{key}")
        return duckdb.FunctionExpression(
            "json_extract_string", duckdb.ColumnExpression("manifest"), path
        ).alias(key)

    rows = (
        con.table("experiments")
        .filter(equals("kind", RUN_KIND))
        .select("experiment", field("run_id"), field("created"))
        .fetchall()
    )
    return {str(name): (str(run_id or ""), str(created or "")) for name, run_id, created in rows}


@dataclass(frozen=True)
class RunFolderSync:
    """What :func:`sync_run_folders` changed in a catalog, and the folders it could not add."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # one line each: folder and why


def run_folder_plan(
    root: Path, registered: Mapping[str, tuple[str, str]], only: str | None = None
) -> tuple[dict[str, Path], list[str], list[str]]:
    """Run folders to (re)load, registered ones whose folder is gone, folders refused."""
    experiments = set(experiments_in(root))
    on_disk = run_folders_in(root)
    if only is not None:
        on_disk = {only: on_disk[only]} if only in on_disk else {}
    load: dict[str, Path] = {}
    skipped: list[str] = []
    for name, folder in on_disk.items():
        if not ID_PATTERN.match(name):
            skipped.append(f"{folder}: its name is no catalog id (letters, digits, '.', '_', '-')")
            continue
        if name in experiments:
            skipped.append(f"{folder}: an experiment of the same name is in the catalog")
            continue
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            skipped.append(f"{folder}: unreadable manifest ({type(exc).__name__})")
            continue
        if registered.get(name) == _run_identity(manifest):
            continue
        problem = _tables_problem(folder)
        if problem is not None:  # one bad folder must not keep the others out
            skipped.append(f"{folder}: {problem}")
            continue
        load[name] = folder
    gone = [] if only is not None else sorted(set(registered) - set(on_disk))
    return load, gone, skipped


#: the columns a run folder's tables must have for its rows (``adapters.store``'s layout)
RUN_FOLDER_COLUMNS: dict[str, frozenset[str]] = {
    "outcomes.parquet": frozenset({"replicate", "period", "variable", "value"}),
    "outcomes_yearly.parquet": frozenset({"replicate", "year", "variable", "value"}),
}


def _tables_problem(folder: Path) -> str | None:
    """Why a run folder's Parquet tables cannot be loaded (read from their footers), or None."""
    import pyarrow.parquet as pq

    for name, needed in RUN_FOLDER_COLUMNS.items():
        try:
            columns = set(pq.read_schema(folder / name).names)
        except (OSError, pa.ArrowException) as exc:
            return f"{name} is not a readable Parquet file ({type(exc).__name__})"
        if not needed <= columns:
            return f"{name} lacks the columns {', '.join(sorted(needed - columns))}"
    return None


def sync_run_folders(root: Path, *, only: str | None = None) -> RunFolderSync:
    """Register the run folders under ``root`` the catalog lacks; drop those now gone.

    A folder counts as registered while its manifest's run id and creation time are
    the catalog's (a run written again into the same folder is loaded again).  Only
    when something changed is the catalog opened for writing, in one transaction
    that also renews the wide views.  ``only`` limits the work to one folder name.
    """
    import duckdb

    try:
        return _sync_run_folders(root, only)
    except (duckdb.Error, pa.ArrowException) as exc:
        raise CatalogError(
            f"{root}: cannot register its run folders: {sro.first_line(exc)}"
        ) from None


def _sync_run_folders(root: Path, only: str | None) -> RunFolderSync:
    import duckdb

    root = Path(root)
    path = catalog_path(root)
    registered: dict[str, tuple[str, str]] = {}
    views_missing = True
    if path.exists():
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:
            con = None  # a writer holds it: find out under the write lock below
        if con is not None:
            try:
                registered = _registered_runs(con)
                views_missing = not has_views(con)
            except duckdb.CatalogException:
                pass  # an empty catalog file: the schema is created below
            finally:
                con.close()
    load, gone, skipped = run_folder_plan(root, registered, only)
    if not (load or gone or views_missing):
        return RunFolderSync(skipped=tuple(skipped))
    with transaction(root) as con:
        registered = _registered_runs(con)  # again, under the write lock
        load, gone, skipped = run_folder_plan(root, registered, only)
        for name in gone:
            delete_experiment(con, name, ("experiments", *RUN_FOLDER_TABLES))
        for name, folder in load.items():
            load_run_folder(con, name, folder)
        refresh_views(con)
    return RunFolderSync(tuple(load), tuple(gone), tuple(skipped))


# ---------------------------------------------------------------------------
# wide views: one column per factor, one column per outcome


#: views renewed whenever the catalog's rows change (their columns are the data's names)
WIDE_VIEWS: tuple[str, ...] = ("factors", "outcomes_wide", "outcomes_yearly_wide")


def has_views(con: duckdb.DuckDBPyConnection) -> bool:
    """The wide views and the analysis tables exist (a catalog of an earlier version lacks
    them: the next load creates them)."""
    views = {
        str(row[0])
        for row in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    }
    tables = {
        str(row[0])
        for row in con.sql("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()
    }
    return set(WIDE_VIEWS) <= views and {*ANALYSIS_TABLES, "events"} <= tables


def refresh_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the wide views from the long tables (inside the caller's transaction).

    - ``factors``: one row per experiment and run, one column per factor name that
      any experiment has (a sweep's swept levers and uncertainties, a run folder's
      levers and fixed parameters; NULL where an experiment has no such factor);
    - ``outcomes_wide``: one row per experiment, run and replicate, one column per
      outcome (the whole-horizon value);
    - ``outcomes_yearly_wide``: the same per year.

    So ``SELECT f.china_sanctions, avg(o.arrivals_south_korea) FROM factors f JOIN
    outcomes_wide o USING (experiment, run) GROUP BY 1`` joins outcomes with factors.
    DuckDB's PIVOT needs its column values listed to live in a view, so the views
    list the names the tables hold now and are renewed with every load.
    """
    sources = {
        "factors": ("parameters", "name", ("experiment", "run")),
        "outcomes_wide": ("outcomes", "variable", ("experiment", "run", "replicate")),
        "outcomes_yearly_wide": (
            "outcomes_yearly",
            "variable",
            ("experiment", "run", "replicate", "year"),
        ),
    }
    for view, (table, column, keys) in sources.items():
        long = con.table(table)
        names = [row[0] for row in long.select(column).distinct().order(column).fetchall()]
        if names:
            wide = long.select(*keys, column, "value").pivot(column, names, "first(value)")
        else:  # PIVOT needs one value at least: the keys alone until rows arrive
            wide = long.select(*keys).distinct()
        wide.create_view(view, replace=True)
