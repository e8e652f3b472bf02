"""Experiment storage: Parquet partitioned by experiment and run, checkpoints, DuckDB catalog.

Layout of a results root (``--out``, default ``results``)::

    catalog.duckdb                                   experiments, runs, parameters,
                                                     outcomes, outcomes_yearly, posteriors,
                                                     events (of run folders),
                                                     sensitivity_indices, prim_boxes (tables);
                                                     factors, outcomes_wide,
                                                     outcomes_yearly_wide (views)
    <run-id>/                                        a run folder (``adapters.store``),
                                                     registered as experiment <run-id>, run 0
    outcomes/experiment=<id>/run=<n>/part-0.parquet          replicate, variable, value
    outcomes_yearly/experiment=<id>/run=<n>/part-0.parquet   replicate, year, variable, value
    runs/experiment=<id>/run=<n>/part-0.parquet              point, seed, replicates, ...
    parameters/experiment=<id>/part-0.parquet                run, name, kind, value
    experiments/<id>/manifest.json                  what was planned, with what, status
    experiments/<id>/plan.parquet                   run, point, seed, replicates + factors
    experiments/<id>/scenario.toml                  the resolved scenario
    experiments/<id>/analysis/*.parquet, figures/*.png, summary.json

The Parquet folders are hive-partitioned datasets: ``pandas.read_parquet(
"results/outcomes")``, ``polars.scan_parquet("results/outcomes/**/*.parquet",
hive_partitioning=True)`` or DuckDB's ``read_parquet(..., hive_partitioning=true)``
read them with ``experiment`` and ``run`` columns.

Checkpoints: each finished run writes its outcome files and then, last, its
``runs`` file, each one to a temporary name and moved into place with
``os.replace`` (atomic).  A run counts as done when its ``runs`` file exists,
so a kill at any moment leaves only whole runs behind; ``--resume`` runs the
rest (rewriting any orphan outcome file of an unfinished run) and the
experiment ends with exactly the planned runs.  The DuckDB catalog is loaded
from the Parquet files of finished runs when an experiment completes (and can
be rebuilt from them at any time: Parquet is the source of truth).  Run folders
directly under the root are registered by ``lipsteeth run`` (in a root that has a
catalog) and otherwise by the next ``query`` (:func:`sync_run_folders`), which also
drops the rows of a removed folder; ``sensitivity`` and ``discover`` load their
results when they write them.

The schema, connections, run folders' rows and the wide views live in
``adapters.catalog_tables`` (their names are this module's too).  Every read and load
goes through DuckDB's relational API (``read_parquet``, ``table``, ``filter``,
``aggregate``, ``insert_into``, ``create_view``): no path or value is spliced into SQL
text; the few statements left (DELETE, INSERT of one row, the schema) are constants
with bound parameters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..experiment.sweep import RunOutput, RunSpec, parse_metric
from . import sql_readonly as sro
from .catalog_tables import (  # noqa: F401 - some only re-exported: callers use catalog.<name>
    ANALYSIS_TABLES,
    CATALOG_FILE,
    ID_PATTERN,
    MANIFEST,
    RUN_KIND,
    SCHEMA_SQL,
    STATUS_COMPLETE,
    TABLES,
    WIDE_VIEWS,
    CatalogError,
    RunFolderSync,
    catalog_path,
    connect,
    delete_experiment,
    equals,
    experiment_column,
    experiments_in,
    is_run_folder,
    load_run_folder,
    refresh_views,
    run_folder_plan,
    run_folders_in,
    sync_run_folders,
    timestamp,
    transaction,
)
from .store import (  # noqa: F401 - atomic_bytes/atomic_text re-exported: callers use catalog.<name>
    atomic_bytes,
    atomic_path,
    atomic_text,
    fsync_path,
    jsonable,
    variable_column,
)
from .store import dumps as store_dumps

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

PART = "part-0.parquet"
PLAN = "plan.parquet"
STATUS_RUNNING = "running"

_PARQUET: dict[str, Any] = {"compression": "zstd", "compression_level": 3, "version": "2.6"}


#: what to do about a corrupted file of an experiment (it is never rewritten for you)
SET_ASIDE = "nothing was changed: move the experiment aside or choose another --name or --out"


def read_manifest_file(path: Path) -> dict[str, Any]:
    """A ``manifest.json`` as a dict, or a CatalogError naming the file (issue 17, item 7).

    Garbage, a truncated file or JSON that is not an object used to escape as a
    traceback; the message names the file and the place, never its content.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: the manifest is missing; {SET_ASIDE}") from None
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{path}: corrupted manifest, not JSON ({exc.msg}: line {exc.lineno} column "
            f"{exc.colno}); {SET_ASIDE}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CatalogError(f"{path}: unreadable manifest ({reason}); {SET_ASIDE}") from None
    if not isinstance(data, dict):
        raise CatalogError(
            f"{path}: corrupted manifest (a JSON {type(data).__name__}, not an object); {SET_ASIDE}"
        )
    return data


# ---------------------------------------------------------------------------
# atomic writes


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fsync_path(path)


def atomic_parquet(table: pa.Table, path: Path, *, durable: bool = True) -> None:
    """Write ``table`` to ``path`` all at once (a temporary file and one ``os.replace``)."""
    with atomic_path(path, durable=durable) as tmp:
        pq.write_table(table, tmp, **_PARQUET)


def dumps(obj: Any) -> str:
    """Strict, indented JSON text of ``obj`` for manifests (one trailing newline)."""
    return store_dumps(obj, indent=2) + "\n"


def plan_hash(parts: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what defines an experiment's plan."""
    text = json.dumps(jsonable(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_id(experiment: str) -> str:
    if not ID_PATTERN.match(experiment):
        raise CatalogError(
            f"experiment name {experiment!r}: use letters, digits, '.', '_' or '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return experiment


# ---------------------------------------------------------------------------
# tables of a run


def outcomes_table(output: RunOutput) -> pa.Table:
    """Whole-horizon metrics: one row per replicate and outcome."""
    n_rep, n_var = output.horizon.shape
    return pa.table(
        {
            "replicate": pa.array(np.repeat(output.replicates, n_var), type=pa.int32()),
            "variable": variable_column(output.names, np.tile(np.arange(n_var), n_rep)),
            "value": pa.array(output.horizon.reshape(-1), type=pa.float64()),
        }
    )


def outcomes_yearly_table(output: RunOutput) -> pa.Table:
    """Yearly values: one row per replicate, outcome and year."""
    n_rep, n_var, n_year = output.yearly.shape
    return pa.table(
        {
            "replicate": pa.array(np.repeat(output.replicates, n_var * n_year), type=pa.int32()),
            "year": pa.array(np.tile(output.years, n_rep * n_var), type=pa.int16()),
            "variable": variable_column(
                output.names, np.tile(np.repeat(np.arange(n_var), n_year), n_rep)
            ),
            "value": pa.array(output.yearly.reshape(-1), type=pa.float64()),
        }
    )


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (a checkpoint's checksum)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def runs_table(
    spec: RunSpec,
    output: RunOutput,
    *,
    experiment: str = "",
    checksums: Mapping[str, str] | None = None,
) -> pa.Table:
    """The run's own row (its presence marks the run done), with its identity and checksums.

    ``experiment``, ``run``, ``point`` and ``seed`` say whose checkpoint it is and
    ``<table>_sha256`` what its outcome files held, so ``--resume`` can tell a run's
    own files from another run's valid Parquet put in their place (issue 17, item 9).
    """
    sums = dict(checksums or {})
    return pa.table(
        {
            "experiment": pa.array([experiment], type=pa.string()),
            "run_id": pa.array([spec.run], type=pa.int32()),
            "outcomes_sha256": pa.array([sums.get("outcomes", "")], type=pa.string()),
            "outcomes_yearly_sha256": pa.array([sums.get("outcomes_yearly", "")], type=pa.string()),
            "point": pa.array([spec.point], type=pa.int32()),
            "seed": pa.array([spec.seed], type=pa.int64()),
            "replicates": pa.array([len(spec.replicates)], type=pa.int32()),
            "wall_seconds": pa.array([output.wall_seconds], type=pa.float64()),
            "finished_at": pa.array(
                [dt.datetime.now(dt.UTC).replace(tzinfo=None)], type=pa.timestamp("ms")
            ),
        }
    )


# ---------------------------------------------------------------------------
# one experiment


@dataclass(frozen=True)
class ExperimentStore:
    """Files of one experiment under a results root."""

    root: Path
    experiment: str

    @property
    def path(self) -> Path:
        return self.root / "experiments" / self.experiment

    def partition(self, table: str, run: int | None = None) -> Path:
        base = self.root / table / f"experiment={self.experiment}"
        return base if run is None else base / f"run={int(run)}"

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    # --- creation -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        root: Path,
        experiment: str,
        *,
        manifest: Mapping[str, Any],
        plan: Sequence[RunSpec],
        factor_kinds: Mapping[str, str],
        scenario_toml: str | None = None,
    ) -> ExperimentStore:
        """A new experiment: plan, parameters and manifest written before any run."""
        store = cls(Path(root), check_id(experiment))
        if store.exists():
            raise CatalogError(f"experiment {experiment} already exists in {root}")
        store.clear_partitions()
        names = list(factor_kinds)
        plan_cols: dict[str, Any] = {
            "run": pa.array([s.run for s in plan], type=pa.int32()),
            "point": pa.array([s.point for s in plan], type=pa.int32()),
            "seed": pa.array([s.seed for s in plan], type=pa.int64()),
            "replicates": pa.array([len(s.replicates) for s in plan], type=pa.int32()),
        }
        values = [s.value_dict for s in plan]
        for name in names:
            plan_cols[name] = pa.array([v[name] for v in values], type=pa.float64())
        atomic_parquet(pa.table(plan_cols), store.path / PLAN)
        n = len(plan)
        params = pa.table(
            {
                "run": pa.array(np.repeat([s.run for s in plan], len(names)), type=pa.int32()),
                "name": pa.array(names * n, type=pa.string()),
                "kind": pa.array([factor_kinds[k] for k in names] * n, type=pa.string()),
                "value": pa.array([v[k] for v in values for k in names], type=pa.float64()),
            }
        )
        atomic_parquet(params, store.partition("parameters") / PART)
        if scenario_toml is not None:
            atomic_text(scenario_toml, store.path / "scenario.toml")
        full = dict(manifest)
        full.update(
            {
                "experiment": experiment,
                "status": STATUS_RUNNING,
                "n_runs": n,
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
        atomic_text(dumps(full), store.path / MANIFEST)  # written last: the experiment exists
        return store

    @classmethod
    def open(cls, root: Path, experiment: str) -> ExperimentStore:
        store = cls(Path(root), check_id(experiment))
        if not store.exists():
            raise CatalogError(f"no experiment {experiment} in {root}")
        return store

    def clear_partitions(self) -> None:
        """Remove any Parquet left under this experiment's name (before it is created)."""
        for table in TABLES:
            shutil.rmtree(self.partition(table), ignore_errors=True)

    # --- manifest and plan ----------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return read_manifest_file(self.path / MANIFEST)

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        data = self.manifest()
        data.update(changes)
        atomic_text(dumps(data), self.path / MANIFEST)
        return data

    def plan_frame(self) -> pd.DataFrame:
        """The stored plan; a CatalogError naming the file if it is not a whole plan."""
        path = self.path / PLAN
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            raise CatalogError(f"{path}: the plan is missing; {SET_ASIDE}") from None
        except (OSError, pa.ArrowException) as exc:
            reason = "not a readable Parquet file" if isinstance(exc, pa.ArrowException) else exc
            raise CatalogError(f"{path}: corrupted plan ({reason}); {SET_ASIDE}") from None
        missing = {"run", "point", "seed", "replicates"} - set(table.column_names)
        if missing:
            raise CatalogError(
                f"{path}: corrupted plan (no column {', '.join(sorted(missing))}); {SET_ASIDE}"
            )
        return table.to_pandas()

    def plan(self) -> list[RunSpec]:
        """The planned runs, as stored."""
        df = self.plan_frame()
        factors = [c for c in df.columns if c not in ("run", "point", "seed", "replicates")]
        return [
            RunSpec(
                run=int(r["run"]),
                point=int(r["point"]),
                values=tuple((f, float(r[f])) for f in factors),
                seed=int(r["seed"]),
                replicates=tuple(range(int(r["replicates"]))),
            )
            for r in df.to_dict("records")
        ]

    def factor_frame(self) -> pd.DataFrame:
        """Factor values by run (one column per factor), ordered by run."""
        df = self.plan_frame().sort_values("run").reset_index(drop=True)
        return df.drop(columns=["point", "seed", "replicates"]).set_index("run")

    # --- checkpoints ----------------------------------------------------------------

    def completed_runs(self) -> set[int]:
        """Runs whose ``runs`` file exists (written last, so the run is whole)."""
        base = self.partition("runs")
        done: set[int] = set()
        if not base.is_dir():
            return done
        for entry in base.iterdir():
            name = entry.name
            if name.startswith("run=") and (entry / PART).is_file():
                with contextlib.suppress(ValueError):
                    done.add(int(name[4:]))
        return done

    def verified_runs(
        self, plan: Sequence[RunSpec], *, remove: bool = False
    ) -> tuple[set[int], list[str]]:
        """Finished runs whose checkpoint is this run's own and intact, and why others are not.

        A run counts as done only if its marker names this experiment and the planned
        run, point and seed, and its outcome files have the checksums the marker
        recorded.  With ``remove`` a failing run's marker is deleted, so the resumed
        sweep runs it again.
        """
        planned = {spec.run: spec for spec in plan}
        good: set[int] = set()
        problems: list[str] = []
        for run in sorted(self.completed_runs()):
            marker = self.partition("runs", run) / PART
            reason = self._checkpoint_problem(run, planned.get(run), marker)
            if reason is None:
                good.add(run)
                continue
            problems.append(f"run {run}: {reason}")
            if remove:
                with contextlib.suppress(OSError):
                    marker.unlink()
        return good, problems

    def _checkpoint_problem(self, run: int, spec: RunSpec | None, marker: Path) -> str | None:
        if spec is None:
            return "not in the plan"
        try:
            row = pq.read_table(marker).to_pylist()[0]
        except (OSError, IndexError, pa.ArrowException) as exc:
            return f"unreadable marker ({type(exc).__name__})"
        if row.get("experiment") != self.experiment or row.get("run_id") != run:
            return "its marker belongs to another experiment or run"
        if row.get("point") != spec.point or row.get("seed") != spec.seed:
            return "its marker's point or seed differs from the plan"
        for table in ("outcomes", "outcomes_yearly"):
            path = self.partition(table, run) / PART
            try:
                actual = file_sha256(path)
            except OSError:
                return f"{table} file missing"
            if actual != row.get(f"{table}_sha256"):
                return f"{table} file does not match its checksum"
        return None

    def clean_temporaries(self) -> int:
        """Remove temporary files a killed writer left in this experiment's partitions."""
        removed = 0
        for table in TABLES:
            base = self.partition(table)
            if not base.is_dir():
                continue
            for tmp in base.rglob(".*.tmp"):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed += 1
        return removed

    def write_run(self, spec: RunSpec, output: RunOutput, *, durable: bool = True) -> None:
        """Checkpoint one finished run: outcome files first, then the run's marker row.

        Every file is atomic (temporary name, then ``os.replace``), which is all a
        killed process needs; ``durable`` also fsyncs each file and the marker's
        folder so the checkpoint survives a power cut (about 20 ms per run).
        """
        sums = {}
        for table, rows in (
            ("outcomes", outcomes_table(output)),
            ("outcomes_yearly", outcomes_yearly_table(output)),
        ):
            path = self.partition(table, spec.run) / PART
            atomic_parquet(rows, path, durable=durable)
            sums[table] = file_sha256(path)
        marker = self.partition("runs", spec.run) / PART
        atomic_parquet(
            runs_table(spec, output, experiment=self.experiment, checksums=sums),
            marker,
            durable=durable,
        )
        if durable:
            _fsync_dir(marker.parent)

    def files(self, table: str, runs: Iterable[int] | None = None) -> list[str]:
        """Parquet files of one table for the given runs (default: the finished runs)."""
        if table == "parameters":
            return [str(self.partition("parameters") / PART)]
        chosen = sorted(self.completed_runs() if runs is None else runs)
        return [str(self.partition(table, r) / PART) for r in chosen]

    # --- reading --------------------------------------------------------------------

    def metric(self, name: str) -> pd.Series:
        """Mean over replicates of a metric (``NAME`` or ``NAME@YEAR``) by run.

        Read from the catalog when the experiment is registered there (fast),
        otherwise from the finished runs' Parquet files.
        """
        outcome, year = parse_metric(name)
        table = "outcomes" if year is None else "outcomes_yearly"
        chosen = equals("variable", outcome)
        if year is not None:
            chosen = chosen & equals("year", year)
        df = self._metric_from_catalog(table, chosen)
        if df is None:
            files = self.files(table)
            if not files:
                raise CatalogError(f"experiment {self.experiment} has no finished runs")
            con = _duck()
            try:
                df = _means_by_run(con.read_parquet(files, hive_partitioning=True), chosen)
            finally:
                con.close()
        if df.empty:
            raise CatalogError(
                f"{name}: no such outcome in experiment {self.experiment}"
                + ("" if year is None else f" (or year {year} was not simulated)")
            )
        return df.set_index("run")["value"]

    def _metric_from_catalog(self, table: str, chosen: duckdb.Expression) -> pd.DataFrame | None:
        """The metric from the catalog tables, or None if this experiment is not loaded there."""
        import duckdb

        path = catalog_path(self.root)
        if not path.exists() or self.manifest().get("status") != STATUS_COMPLETE:
            return None
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            return None
        mine = equals("experiment", self.experiment)
        try:
            rows = con.table("experiments").filter(mine).select("n_done").fetchall()
            if not rows or int(rows[0][0] or 0) != len(self.completed_runs()):
                return None
            return _means_by_run(con.table(table).filter(mine), chosen)
        except duckdb.Error:
            return None
        finally:
            con.close()

    def metric_names(self) -> list[str]:
        files = self.files("outcomes")[:1]
        if not files:
            return []
        con = _duck()
        try:
            rows = con.read_parquet(files).select("variable").distinct().order("variable")
            return [r[0] for r in rows.fetchall()]
        finally:
            con.close()

    # --- analysis outputs -----------------------------------------------------------

    def write_analysis(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.path / "analysis" / f"{name}.parquet"
        atomic_parquet(pa.Table.from_pandas(frame, preserve_index=False), path)
        return path

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.path / name
        atomic_text(dumps(obj), path)
        return path

    def figure_path(self, name: str) -> Path:
        path = self.path / "figures" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # --- completion -----------------------------------------------------------------

    def finalize(self, **manifest_changes: Any) -> dict[str, Any]:
        """Check that exactly the planned runs are done, mark complete, load the catalog."""
        planned = set(int(r) for r in self.plan_frame()["run"])
        done = self.completed_runs()
        missing = planned - done
        extra = done - planned
        if missing or extra:
            raise CatalogError(
                f"experiment {self.experiment}: {len(missing)} planned runs missing, "
                f"{len(extra)} unplanned runs present"
            )
        manifest = self.manifest()
        manifest.update(
            status=STATUS_COMPLETE,
            n_done=len(done),
            finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **manifest_changes,
        )
        register(self, manifest)  # first: if the catalog is locked, the experiment stays open
        atomic_text(dumps(manifest), self.path / MANIFEST)
        return manifest


# ---------------------------------------------------------------------------
# the DuckDB catalog


def _duck() -> duckdb.DuckDBPyConnection:
    import duckdb

    return duckdb.connect()


def _means_by_run(relation: duckdb.DuckDBPyRelation, chosen: duckdb.Expression) -> pd.DataFrame:
    """Mean ``value`` by ``run`` of the rows ``chosen`` selects, ordered by run."""
    return relation.filter(chosen).aggregate("run, avg(value) AS value", "run").order("run").df()


def _insert_experiment(
    con: duckdb.DuckDBPyConnection,
    store: ExperimentStore,
    manifest: Mapping[str, Any],
    *,
    method: Any,
    n_done: Any,
    finished: Any,
) -> None:
    """The experiment's row of the ``experiments`` table."""
    con.execute(
        "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            store.experiment,
            manifest.get("kind"),
            manifest.get("scenario"),
            method,
            manifest.get("n_runs"),
            n_done,
            manifest.get("replicates"),
            manifest.get("status"),
            timestamp(manifest.get("created")),
            timestamp(finished),
            str(store.path),
            json.dumps(jsonable(manifest)),
        ],
    )


def register(store: ExperimentStore, manifest: Mapping[str, Any] | None = None) -> None:
    """(Re)load one experiment's finished runs from Parquet into the catalog tables."""
    manifest = dict(manifest) if manifest is not None else store.manifest()
    with transaction(store.root) as con:
        _load_runs(con, store, manifest)
        load_analyses(con, store)  # a resumed experiment may have analyses already
        refresh_views(con)


def _load_runs(
    con: duckdb.DuckDBPyConnection, store: ExperimentStore, manifest: Mapping[str, Any]
) -> None:
    """A sweep or sensitivity experiment's rows, replacing any it had (inside ``con``'s txn)."""
    exp = store.experiment
    delete_experiment(con, exp, ("experiments", *TABLES))
    done = sorted(store.completed_runs())
    if done:
        for table, columns in (
            ("outcomes", ("replicate", "variable", "value")),
            ("outcomes_yearly", ("replicate", "year", "variable", "value")),
            ("runs", ("point", "seed", "replicates", "wall_seconds", "finished_at")),
        ):
            hive = con.read_parquet(store.files(table, done), hive_partitioning=True)
            hive.select(experiment_column(exp), "run", *columns).insert_into(table)
    parameters = con.read_parquet(store.files("parameters"))
    parameters.select(experiment_column(exp), "run", "name", "kind", "value").insert_into(
        "parameters"
    )
    _insert_experiment(
        con,
        store,
        manifest,
        method=(manifest.get("design") or {}).get("method"),
        n_done=len(done),
        finished=manifest.get("finished"),
    )


def register_analyses(store: ExperimentStore) -> None:
    """(Re)load an experiment's analyses (sensitivity indices, PRIM boxes) into the catalog."""
    with transaction(store.root) as con:
        load_analyses(con, store)


def load_analyses(con: duckdb.DuckDBPyConnection, store: ExperimentStore) -> None:
    """The rows of ``sensitivity_indices`` and ``prim_boxes`` from an experiment's reports.

    Read from what ``sensitivity`` and ``discover`` write into the experiment's folder
    (``sensitivity_<method>.json``, ``prim_<outcome>_<gt|lt>_<threshold>.json``), which
    name each outcome exactly: one row per factor and index (S1, ST, mu_star, ... with
    their confidence half-widths), one per box and restricted factor.
    """
    exp = store.experiment
    delete_experiment(con, exp, ANALYSIS_TABLES)
    indices: list[tuple[Any, ...]] = []
    for path in sorted(store.path.glob("sensitivity_*.json")):
        report = json.loads(path.read_text(encoding="utf-8"))
        for outcome, item in (report.get("outcomes") or {}).items():
            for row in item.get("indices") or []:
                for index, value in row.items():
                    if index != "factor" and isinstance(value, (int, float)):
                        indices.append(
                            (exp, report.get("method"), outcome, row["factor"], index, value)
                        )
    boxes: list[tuple[Any, ...]] = []
    for path in sorted(store.path.glob("prim_*.json")):
        found = json.loads(path.read_text(encoding="utf-8"))
        for number, box in enumerate(found.get("boxes") or []):
            for factor, (low, high) in (box.get("limits") or {}).items():
                boxes.append(
                    (exp, found["outcome"], found["threshold"], found["direction"], number)
                    + (factor, low, high, box["coverage"], box["density"], box["mass"])
                )
    _insert_rows(con, "sensitivity_indices", indices)
    _insert_rows(con, "prim_boxes", boxes)


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows (tuples in the table's column order) into ``table``, typed by the table."""
    if not rows:
        return
    names = list(con.table(table).columns)
    frame = pa.table({name: [row[k] for row in rows] for k, name in enumerate(names)})
    con.from_arrow(frame).insert_into(table)


def register_calibration(
    store: ExperimentStore,
    populations: pd.DataFrame,
    parameters: Sequence[str],
    *,
    method: str = "abc-smc",
) -> None:
    """Record a calibration (its manifest and every generation's particles) in the catalog."""
    manifest = store.manifest()
    with transaction(store.root) as con:
        _load_calibration(con, store, manifest, populations, parameters, method=method)
        refresh_views(con)


def _load_calibration(
    con: duckdb.DuckDBPyConnection,
    store: ExperimentStore,
    manifest: Mapping[str, Any],
    populations: pd.DataFrame,
    parameters: Sequence[str],
    *,
    method: str = "abc-smc",
) -> None:
    """A calibration's experiment row and posterior particles (inside ``con``'s txn)."""
    exp = store.experiment
    pops = populations.copy()
    if "distance" not in pops.columns:
        pops["distance"] = float("nan")
    long = pops.melt(
        id_vars=["generation", "particle", "weight", "distance"],
        value_vars=list(parameters),
        var_name="name",
        value_name="value",
    )
    delete_experiment(con, exp, ("experiments", "posteriors"))
    columns = ("generation", "particle", "weight", "distance", "name", "value")
    con.from_df(long).select(experiment_column(exp), *columns).insert_into("posteriors")
    # a calibration's runs all finish with it: every run is done when it is created
    _insert_experiment(
        con,
        store,
        manifest,
        method=method,
        n_done=manifest.get("n_runs"),
        finished=manifest.get("created"),
    )


#: where ``calibrate`` keeps every generation's particles (the source of ``posteriors``)
POSTERIOR_FILE = Path("analysis") / "posterior.parquet"


def _load_any(con: duckdb.DuckDBPyConnection, store: ExperimentStore) -> None:
    """Load one experiment of any kind from its files: runs, or a calibration's posterior."""
    import pandas as pd

    manifest = store.manifest()
    if manifest.get("kind") != "calibrate":
        _load_runs(con, store, manifest)
        load_analyses(con, store)
        return
    posterior = store.path / POSTERIOR_FILE
    if not posterior.is_file():
        raise CatalogError(f"calibration {store.experiment}: {posterior} is missing")
    names = [str(p["name"]) for p in manifest.get("priors") or [] if "name" in p]
    method = str(manifest.get("method") or "abc-smc")
    populations = pd.read_parquet(posterior)
    _load_calibration(con, store, manifest, populations, names, method=method)


RUN_FOLDER_FILES: tuple[str, ...] = ("outcomes", "outcomes_yearly", "events")


# ---------------------------------------------------------------------------
# run folders in the catalog


# ---------------------------------------------------------------------------
# wide views: one column per factor, one column per outcome


def query_run_folder(
    folder: Path,
    sql: str,
    *,
    timeout: float = sro.TIMEOUT_SECONDS,
    max_rows: int = sro.MAX_ROWS,
) -> sro.QueryResult:
    """One SELECT over one run's folder: views ``outcomes``, ``outcomes_yearly``, ``events``.

    The views live in a private, sealed in-memory database that reaches no file but
    these (issue 17, items 2-3: no ATTACH of another catalog, no file read or written).
    """
    import duckdb

    try:
        sro.check_select(sql)
    except sro.QueryError as exc:
        raise CatalogError(str(exc)) from None
    files = {
        name: Path(folder) / f"{name}.parquet"
        for name in RUN_FOLDER_FILES
        if (Path(folder) / f"{name}.parquet").is_file()
    }
    try:
        con = sro.folder_connection(files)
    except duckdb.Error as exc:
        raise CatalogError(f"{folder}: cannot open its tables: {sro.first_line(exc)}") from None
    try:
        return sro.run_select(con, sql, timeout=timeout, max_rows=max_rows)
    except sro.QueryError as exc:
        raise CatalogError(str(exc)) from None
    finally:
        con.close()


def rebuild(root: Path) -> int:
    """Reload every experiment and run folder under ``root`` into a fresh catalog; how many.

    The new catalog is built aside (``.catalog.duckdb.rebuild-<pid>``) and moved over the
    old one with one ``os.replace`` only once every experiment has loaded: a rebuild that
    fails leaves the old catalog as it was (issue 17, item 1).
    """
    import duckdb

    root = Path(root)
    path = catalog_path(root)
    aside = root / f".{CATALOG_FILE}.rebuild-{os.getpid()}"
    names = experiments_in(root)
    _remove_database(aside)
    try:
        con = duckdb.connect(str(aside))
        try:
            con.execute(SCHEMA_SQL)
            con.execute("BEGIN TRANSACTION")
            for name in names:
                _load_any(con, ExperimentStore(root, name))
            runs, _, _ = run_folder_plan(root, {})
            for name, folder in runs.items():
                load_run_folder(con, name, folder)
            refresh_views(con)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        fsync_path(aside)
        wal = path.with_name(path.name + ".wal")
        with contextlib.suppress(FileNotFoundError):
            wal.unlink()  # the old catalog's log must not be replayed onto the new one
        os.replace(aside, path)
        _fsync_dir(root)
    except (duckdb.Error, OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise CatalogError(
            f"catalog rebuild failed ({sro.first_line(exc)}); {path} is unchanged"
        ) from None
    finally:
        _remove_database(aside)
    return len(names) + len(runs)


def _remove_database(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def locate(results: Path) -> tuple[Path, str | None]:
    """A results root and, if ``results`` is an experiment folder, that experiment's id."""
    results = Path(results)
    if (results / MANIFEST).is_file() and results.parent.name == "experiments":
        return results.parent.parent, results.name
    if (
        (results / "experiments").is_dir()
        or catalog_path(results).exists()
        or run_folders_in(results)
    ):
        return results, None
    raise CatalogError(
        f"{results}: not a results folder (no {CATALOG_FILE}, experiments/ or run folder)"
    )


def query(
    root: Path,
    sql: str,
    *,
    timeout: float = sro.TIMEOUT_SECONDS,
    max_rows: int = sro.MAX_ROWS,
    attempts: int = 50,
    sync: bool = True,
) -> sro.QueryResult:
    """One SELECT on the catalog, opened read-only and sealed (see ``sql_readonly``).

    A missing catalog is built from the files first; with ``sync`` the run folders
    written since the last query are registered first (:func:`sync_run_folders`).
    """
    import duckdb

    try:
        sro.check_select(sql)
    except sro.QueryError as exc:
        raise CatalogError(str(exc)) from None
    if not catalog_path(root).exists():
        rebuild(root)
    elif sync:
        sync_run_folders(root)  # run folders written since: registered before the query
    last: Exception | None = None
    for _ in range(attempts):
        try:
            con = sro.catalog_connection(catalog_path(root))
            break
        except duckdb.IOException as exc:  # locked by a writer
            last = exc
            time.sleep(0.2)
    else:
        raise CatalogError(f"catalog {catalog_path(root)} is locked: {sro.first_line(last)}")
    try:
        return sro.run_select(con, sql, timeout=timeout, max_rows=max_rows)
    except sro.QueryError as exc:
        raise CatalogError(str(exc)) from None
    finally:
        con.close()
