"""``lipsteeth query``: one read-only SELECT over a results root's catalog or a run folder.

The catalog (``adapters.catalog``) holds every experiment and every run folder of the
root, with wide views that join outcomes with factors; the statement is checked and
run on a sealed, read-only connection (``adapters.sql_readonly``, issue 17).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import catalog as cat
from .. import sql_readonly as sro
from .experiment_inputs import DEFAULT_OUT, check_positive, require_experiment_extras
from .experiment_runs import out_console
from .inputs import fail


def query(
    results: Annotated[
        str,
        typer.Argument(
            help="Results root (catalog.duckdb) or a `run` results folder; "
            "with only the SQL given, ./results.",
            show_default=False,
        ),
    ],
    sql: Annotated[
        str | None,
        typer.Argument(help="SQL (read-only) over the catalog tables.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown in the table.")] = 50,
    fmt_out: Annotated[
        str, typer.Option("--format", help="table | csv | json (csv/json: all rows).")
    ] = "table",
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Rebuild the catalog from the Parquet files first.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds a query may run before it is stopped.")
    ] = sro.TIMEOUT_SECONDS,
    max_rows: Annotated[
        int,
        typer.Option("--max-rows", help="Rows a query may return (csv/json refuse more)."),
    ] = sro.MAX_ROWS,
) -> None:
    """One read-only SELECT over the results (tables: experiments, runs, parameters, outcomes, ...).

    A results root's catalog holds every sweep, sensitivity run and calibration and every
    run folder directly under the root (``results/<run-id>``, registered on first sight).
    ``factors`` (a column per factor), ``outcomes_wide`` and ``outcomes_yearly_wide`` (a
    column per outcome) join on experiment and run: ``SELECT f.china_sanctions,
    avg(o.arrivals_south_korea) FROM factors f JOIN outcomes_wide o USING (experiment,
    run) GROUP BY 1``.  The statement is parsed by DuckDB and must be a single SELECT;
    the database is opened read-only with no file, network or extension access
    (issue 17, items 1-3).
    """
    if sql is None:  # `lipsteeth query "SELECT ..."`: the default results root
        if Path(results).is_dir():
            fail(f"give the SQL after {results} (lipsteeth query RESULTS SQL)")
        results, sql = str(DEFAULT_OUT), results
    folder = Path(results)
    if fmt_out not in ("table", "csv", "json"):
        fail("--format must be table, csv or json")
    if not (math.isfinite(timeout) and timeout > 0):
        fail("--timeout must be a positive number of seconds")
    check_positive("--max-rows", max_rows)
    check_positive("--limit", limit)
    require_experiment_extras("query", ["pandas"])
    try:
        if cat.is_run_folder(folder):
            result = cat.query_run_folder(folder, sql, timeout=timeout, max_rows=max_rows)
        else:
            root, _ = cat.locate(folder)
            sro.check_select(sql)  # a refused statement changes no catalog
            if refresh:
                cat.rebuild(root)
            elif cat.catalog_path(root).exists():
                _register_run_folders(root)
            result = cat.query(root, sql, timeout=timeout, max_rows=max_rows, sync=False)
    except sro.QueryError as exc:
        fail(str(exc))
    except cat.CatalogError as exc:
        fail(str(exc))
    df = result.frame
    if result.more and fmt_out != "table":
        fail(
            f"the query returns more than --max-rows {max_rows} rows: "
            "add a LIMIT or a WHERE, or raise --max-rows"
        )
    if fmt_out == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    if fmt_out == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso") + "\n")
        return
    con = out_console()
    count = f"more than {max_rows} row(s)" if result.more else f"{len(df)} row(s)"
    table = Table(title=count + (f", first {limit} shown" if len(df) > limit else ""))
    for c in df.columns:
        table.add_column(str(c))
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    con.print(table)


def _register_run_folders(root: Path) -> None:
    """Run folders written since the last query into the catalog; warnings, never a refusal.

    A catalog that cannot take them now (a long writer holds it, a read-only root) is
    queried as it is, with one warning line: the query itself needs no write.
    """
    try:
        sync = cat.sync_run_folders(root)
    except cat.CatalogError as exc:
        sys.stderr.write(f"warning: run folders written since are not in the catalog: {exc}\n")
        return
    for line in sync.skipped:
        sys.stderr.write(f"warning: not in the catalog: {line}\n")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:80]
    return str(value)


def register(app: typer.Typer) -> None:
    """Add ``query`` to the main app."""
    app.command("query")(query)
