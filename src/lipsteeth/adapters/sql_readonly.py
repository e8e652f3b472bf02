"""Read-only SQL for ``lipsteeth query``: one SELECT, on a sealed DuckDB connection.

What "read-only" means here, each part enforced by DuckDB itself rather than by
pattern-matching the text (issue 17, item 3):

- the text is parsed by DuckDB (``duckdb.extract_statements``) and must be exactly
  one statement of type SELECT: COPY, EXPORT, ATTACH, INSTALL, LOAD, PRAGMA, SET,
  CREATE, DELETE ... and several statements in one call are refused;
- the connection runs with ``enable_external_access=false`` (no file, directory,
  URL or extension is reachable except the Parquet files of the folder queried,
  listed in ``allowed_paths``), extension autoinstall and autoload off, a memory
  limit, no spilling to a temporary directory, and ``lock_configuration=true`` so
  the query cannot undo any of it;
- a catalog is opened ``read_only``; a run folder's tables are views over its own
  Parquet files in a private in-memory database;
- a timer interrupts a query that runs longer than the timeout, and at most
  ``max_rows + 1`` rows are fetched (the caller refuses or truncates beyond that).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

#: DuckDB memory limit of a query (operators fail with "Out of Memory" beyond it)
MEMORY_LIMIT = "1GB"
#: wall-clock limit of a query, seconds
TIMEOUT_SECONDS = 60.0
#: rows a query may return before it is refused (csv/json) or cut (table)
MAX_ROWS = 1_000_000


class QueryError(Exception):
    """A query refused or failed (one-line message)."""


@dataclass(frozen=True)
class QueryResult:
    """The rows of a query (at most ``max_rows``) and whether more were left unread."""

    frame: pd.DataFrame
    more: bool


def check_select(sql: str) -> str:
    """The one SELECT statement of ``sql``, or :class:`QueryError` saying what it is instead."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {first_line(exc)}") from None
    if not statements:
        raise QueryError("SQL: no statement given")
    if len(statements) > 1:
        raise QueryError(f"SQL: one SELECT statement only (got {len(statements)} statements)")
    (statement,) = statements
    if statement.type != duckdb.StatementType.SELECT:
        # the statement's own first word: DuckDB files INSTALL under LOAD
        words = statement.query.split(None, 1)
        kind = words[0].upper() if words else statement.type.name
        raise QueryError(f"SQL: query is read-only, one SELECT only (got {kind})")
    return sql


def _seal(con: duckdb.DuckDBPyConnection, allowed: list[str]) -> None:
    """Cut the connection off from the file system, extensions and its own settings."""
    con.execute("SET temp_directory = ''")  # no spilling: the memory limit is the limit
    if allowed:
        con.execute("SET allowed_paths = ?", [allowed])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _config(memory_limit: str) -> dict[str, str | bool | int]:
    return {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": memory_limit,
        "threads": 2,
    }


def catalog_connection(
    database: Path, *, memory_limit: str = MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """The catalog opened read-only and sealed (raises ``duckdb.Error`` if it cannot open)."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True, config=_config(memory_limit))
    try:
        _seal(con, [])
    except BaseException:
        con.close()
        raise
    return con


def folder_connection(
    tables: Mapping[str, Path], *, memory_limit: str = MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """A private in-memory database with one view per Parquet file, sealed."""
    import duckdb

    con = duckdb.connect(":memory:", config=_config(memory_limit))
    try:
        files = {name: str(Path(path).resolve()) for name, path in tables.items()}
        _seal(con, sorted(files.values()))
        for name, file in files.items():  # a relation's view: no path is spliced into SQL text
            con.read_parquet(file).create_view(name)
    except BaseException:
        con.close()
        raise
    return con


def run_select(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    timeout: float = TIMEOUT_SECONDS,
    max_rows: int = MAX_ROWS,
) -> QueryResult:
    """Run one checked SELECT with a timeout; fetch at most ``max_rows`` rows."""
    import duckdb
    import pyarrow as pa

    check_select(sql)
    timer = threading.Timer(timeout, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        reader = con.sql(sql).to_arrow_reader(min(max_rows + 1, 100_000))
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > max_rows:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException:
        raise QueryError(f"SQL: the query ran longer than {timeout:g} s (--timeout)") from None
    except duckdb.OutOfMemoryException:
        raise QueryError(
            f"SQL: the query needs more than the memory limit {MEMORY_LIMIT}: "
            "aggregate or filter it"
        ) from None
    except duckdb.Error as exc:
        if not timer.is_alive():
            raise QueryError(f"SQL: the query ran longer than {timeout:g} s (--timeout)") from None
        raise QueryError(f"SQL error: {first_line(exc)}") from None
    finally:
        timer.cancel()
    more = table.num_rows > max_rows
    return QueryResult(table.slice(0, max_rows).to_pandas(), more)


def first_line(exc: BaseException | None) -> str:
    """The first non-empty line of an exception's message (DuckDB's run to many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
