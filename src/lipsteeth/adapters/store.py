"""Results folders: tidy Parquet tables, a manifest and a summary, written atomically.

A run's folder is built in a hidden sibling directory
(``<parent>/.<run-id>.partial-XXXX``) and moved into place with one
``os.replace`` at the end, so a killed run never leaves a half-written results
folder behind.  The Parquet files are byte-for-byte reproducible: same scenario
and seed give the same bytes (fixed row order, fixed encodings, no timestamps).

Layout of a results folder::

    outcomes.parquet         replicate, period, year, variable, value   (monthly)
    outcomes_yearly.parquet  replicate, year, variable, value           (by outcome kind)
    events.parquet           core event columns + date, arrival_date
    manifest.json            what was run, with what, on what, and the checks
    summary.json             the object ``lipsteeth run --json`` prints
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.events import EVENT_COLUMNS
from ..core.jit import core_digest
from ..core.outcomes import to_years
from ..core.simulate import SimulationResult
from ..experiment.posterior import uncertainty_of

if TYPE_CHECKING:
    from ..scenario import Scenario

OUTCOMES_FILE = "outcomes.parquet"
OUTCOMES_YEARLY_FILE = "outcomes_yearly.parquet"
EVENTS_FILE = "events.parquet"
MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.json"
RESULTS_FILES: tuple[str, ...] = (
    OUTCOMES_FILE,
    OUTCOMES_YEARLY_FILE,
    EVENTS_FILE,
    MANIFEST_FILE,
    SUMMARY_FILE,
)

DEPENDENCIES: tuple[str, ...] = ("numpy", "pyarrow", "duckdb", "pydantic", "typer", "rich")

# Parquet settings are fixed here so that the bytes never depend on defaults.
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "write_statistics": True,
    "store_schema": True,
    "row_group_size": 1 << 20,
}
_DICTIONARY_COLUMNS: dict[str, list[str]] = {
    OUTCOMES_FILE: ["variable"],
    OUTCOMES_YEARLY_FILE: ["variable"],
    EVENTS_FILE: ["kind", "sector", "country", "route", "outcome"],
}

# Event columns with a fixed Arrow type (the rest are strings).
_EVENT_TYPES: dict[str, pa.DataType] = {
    "replicate": pa.int32(),
    "day": pa.int32(),
    "site": pa.int32(),
    "size": pa.int32(),
    "manager_led": pa.bool_(),
    "helpers": pa.bool_(),
    "arrival_day": pa.int32(),
    "value": pa.float64(),
}


class ResultsFolderError(Exception):
    """The results folder cannot be written where asked (one-line message)."""


# ---------------------------------------------------------------------------
# where to write


def default_run_id(scenario_name: str, seed: int, now: dt.datetime | None = None) -> str:
    """``<scenario-name>-<seed>-<YYYYmmdd-HHMMSS>`` in UTC."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{scenario_name}-{seed}-{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}"


def is_empty_dir(path: Path) -> bool:
    """True if ``path`` is an existing directory with no entries."""
    return path.is_dir() and not any(path.iterdir())


def check_target(target: Path, *, force: bool) -> None:
    """Refuse a target that is a file, or a non-empty directory unless ``force``."""
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise ResultsFolderError(f"{target} exists and is not a directory")
        if not force and not is_empty_dir(target):
            raise ResultsFolderError(
                f"{target} exists and is not empty (use --force to replace it)"
            )
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise ResultsFolderError(f"{parent} is not a directory")


def resolve_target(
    out: Path | None, *, run_id: str, base: Path = Path("results"), force: bool = False
) -> Path:
    """The folder a run will write: ``out`` exactly, or a fresh ``base/<run-id>``.

    Nothing is created here; the caller checks before running so that a refused
    target costs no simulation and leaves no trace.
    """
    if out is not None:
        check_target(out, force=force)
        return out
    target = base / run_id
    n = 1
    while target.exists() and not is_empty_dir(target):
        n += 1
        target = base / f"{run_id}-{n}"
    check_target(target, force=False)
    return target


# ---------------------------------------------------------------------------
# tables


def variable_column(names: Sequence[str], codes: np.ndarray) -> pa.DictionaryArray:
    """Dictionary-encoded outcome names (int32 codes into ``names``)."""
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, type=pa.int32()), pa.array(list(names), type=pa.string())
    )


def outcomes_table(result: SimulationResult) -> pa.Table:
    """Tidy monthly outcomes, sorted by replicate, variable (by name), period."""
    n_rep, _, n_months = result.monthly.shape
    names = sorted(result.outcome_names)
    var_order = np.array([result.outcome_names.index(n) for n in names], dtype=np.int64)
    values = result.monthly[:, var_order, :]  # (R, V sorted, M)
    n_var = len(names)
    replicate = np.repeat(result.replicates.astype(np.int32), n_var * n_months)
    codes = np.tile(np.repeat(np.arange(n_var, dtype=np.int32), n_months), n_rep)
    months = np.asarray(result.months).astype("datetime64[M]")
    period = np.tile(months.astype("datetime64[D]"), n_rep * n_var)
    year = np.tile((months.astype("datetime64[Y]").astype(np.int64) + 1970), n_rep * n_var)
    return pa.table(
        {
            "replicate": pa.array(replicate, type=pa.int32()),
            "period": pa.array(period, type=pa.date32()),
            "year": pa.array(year.astype(np.int16), type=pa.int16()),
            "variable": variable_column(names, codes),
            "value": pa.array(values.reshape(-1).astype(np.float64), type=pa.float64()),
        }
    )


def outcomes_yearly_table(result: SimulationResult) -> pa.Table:
    """Tidy yearly outcomes (flows summed, stocks at year end, means averaged)."""
    months = np.asarray(result.months).astype("datetime64[M]")
    month_years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    years, yearly = to_years(result.monthly, month_years)
    names = sorted(result.outcome_names)
    var_order = np.array([result.outcome_names.index(n) for n in names], dtype=np.int64)
    values = yearly[:, var_order, :]
    n_rep, n_var, n_years = values.shape
    replicate = np.repeat(result.replicates.astype(np.int32), n_var * n_years)
    codes = np.tile(np.repeat(np.arange(n_var, dtype=np.int32), n_years), n_rep)
    year = np.tile(years.astype(np.int16), n_rep * n_var)
    return pa.table(
        {
            "replicate": pa.array(replicate, type=pa.int32()),
            "year": pa.array(year, type=pa.int16()),
            "variable": variable_column(names, codes),
            "value": pa.array(values.reshape(-1).astype(np.float64), type=pa.float64()),
        }
    )


def _day(value: Any) -> np.datetime64:
    """A date as ``datetime64[D]``."""
    return np.datetime64(str(np.asarray(value).astype("datetime64[D]")))


def events_table(result: SimulationResult, start: np.datetime64) -> pa.Table:
    """Event log with calendar dates; rows by replicate, then day, then the core's order."""
    events = result.events
    n = int(np.asarray(events["replicate"]).size) if events else 0
    columns: dict[str, np.ndarray] = {}
    for name in EVENT_COLUMNS:
        raw = np.asarray(events[name]) if n else np.asarray([])
        dtype = _EVENT_TYPES[name].to_pandas_dtype() if name in _EVENT_TYPES else np.str_
        columns[name] = raw.astype(dtype)
    if n:
        # Rows by replicate and day; within a day the core's order (cause before
        # effect), which does not depend on how replicates were batched.
        order = np.lexsort((columns["day"], columns["replicate"]))
        columns = {k: v[order] for k, v in columns.items()}
    start_d = _day(start)
    day = columns["day"].astype(np.int64)
    arrival = columns["arrival_day"].astype(np.int64)
    arrays: dict[str, pa.Array] = {}
    for name in EVENT_COLUMNS:
        typ = _EVENT_TYPES.get(name, pa.string())
        data = columns[name].tolist() if typ == pa.string() else columns[name]
        arrays[name] = pa.array(data, type=typ)
    arrays["date"] = pa.array(start_d + day, type=pa.date32())
    arrays["arrival_date"] = pa.array(start_d + arrival, type=pa.date32(), mask=arrival < 0)
    return pa.table(arrays)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` with the fixed, reproducible settings of this module."""
    pq.write_table(
        table,
        path,
        use_dictionary=_DICTIONARY_COLUMNS.get(path.name, False),
        **_PARQUET_OPTIONS,
    )


# ---------------------------------------------------------------------------
# JSON


def jsonable(value: Any) -> Any:
    """Plain-JSON version of ``value``: NumPy scalars and arrays unwrapped, NaN/inf as null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Strict JSON text (no NaN) of ``obj``."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False, ensure_ascii=False)


# ---------------------------------------------------------------------------
# provenance of a run


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_file_hashes() -> dict[str, str]:
    """SHA-256 of every file shipped in ``lipsteeth/data`` (recursively), by relative path."""
    hashes: dict[str, str] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.startswith((".", "__pycache__")):
                continue
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.is_file():
                hashes[prefix + entry.name] = hashlib.sha256(entry.read_bytes()).hexdigest()

    walk(resources.files("lipsteeth") / "data", "")
    return dict(sorted(hashes.items()))


def package_versions() -> dict[str, str | None]:
    """Versions of lipsteeth, Python and the dependencies that touch results."""
    versions: dict[str, str | None] = {}
    for dist in ("lipsteeth", *DEPENDENCIES):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    versions["python"] = platform.python_version()
    return versions


@dataclass(frozen=True)
class LedgerCheck:
    """One stock-flow identity checked on every replicate."""

    identity: str
    replicates: int
    holding: int
    max_abs_residual: float
    failing_replicates: tuple[int, ...]

    @property
    def holds(self) -> bool:
        return self.holding == self.replicates

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "holds": self.holds,
            "replicates": self.replicates,
            "holding": self.holding,
            "max_abs_residual": self.max_abs_residual,
            "failing_replicates": list(self.failing_replicates[:50]),
        }


def ledger_checks(result: SimulationResult) -> list[LedgerCheck]:
    """Stock-flow identities of the run's ledger, per replicate."""
    led = result.ledger
    inflow = np.asarray(led.initial_in_post, dtype=np.float64) + np.asarray(led.hired)
    outflow = (
        np.asarray(led.in_post, dtype=np.float64)
        + np.asarray(led.escaped)
        + np.asarray(led.caught)
        + np.asarray(led.recalled)
        + np.asarray(led.other_exits)
    )
    residual = inflow - outflow
    ok = np.abs(residual) <= 1e-9 * np.maximum(1.0, np.abs(inflow))
    return [
        LedgerCheck(
            identity=(
                "workers: initial_in_post + hired == "
                "in_post + escaped + caught + recalled + other_exits"
            ),
            replicates=int(ok.size),
            holding=int(ok.sum()),
            max_abs_residual=float(np.abs(residual).max()) if residual.size else 0.0,
            failing_replicates=tuple(int(r) for r in np.asarray(result.replicates)[~ok]),
        )
    ]


def scenario_hashes(scenario: Scenario) -> dict[str, str | None]:
    """SHA-256 of the resolved scenario TOML and of its source text.

    The source is the embedded ``scenarios/<name>.toml`` when ``Scenario.source``
    is an embedded name, else the file it names (None if it cannot be read).
    """
    source_sha: str | None = None
    source = str(scenario.source)
    embedded = resources.files("lipsteeth") / "scenarios" / f"{source}.toml"
    with contextlib.suppress(OSError, ValueError):
        if "/" not in source and "\\" not in source and embedded.is_file():
            source_sha = hashlib.sha256(embedded.read_bytes()).hexdigest()
        elif Path(source).is_file():
            source_sha = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    return {"resolved_toml": sha256_text(scenario.to_toml()), "source": source_sha}


def horizon(result: SimulationResult, start: np.datetime64, end: np.datetime64) -> dict[str, Any]:
    """Start, end, days, months and calendar years covered by a run."""
    months = np.asarray(result.months).astype("datetime64[M]")
    years = np.unique(months.astype("datetime64[Y]").astype(np.int64) + 1970)
    return {
        "start": str(_day(start)),
        "end": str(_day(end)),
        "days": int(result.n_days),
        "months": int(months.size),
        "years": [int(y) for y in years],
    }


def run_manifest(
    *,
    run_id: str,
    scenario: Scenario,
    result: SimulationResult,
    seed: int,
    argv: Sequence[str] | None,
    wall_time_s: float,
    facts: Sequence[Mapping[str, Any]],
    ledger: Sequence[LedgerCheck],
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything needed to know what a results folder holds and to run it again.

    ``core_sha256`` is part of "again": the same scenario and seed reproduce a
    run exactly with the same core sources (the digest of ``lipsteeth/core``).
    ``events_outside_horizon`` lists the scenario's dated events with no day inside the
    horizon (``Scenario.events_outside_horizon``), which the run did not simulate.
    """
    created = created or dt.datetime.now(dt.UTC)
    return {
        "run_id": run_id,
        "created": created.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "command_line": command_line(argv),
        "scenario_name": scenario.name,
        "scenario_source": str(scenario.source),
        "scenario": scenario.to_dict(),
        "scenario_sha256": scenario_hashes(scenario),
        "seed": int(seed),
        "core_sha256": core_digest(),
        "replicates": int(np.asarray(result.replicates).size),
        # which uncertainty the bands hold, the posterior's SHA-256 and each replicate's draw
        "uncertainty": uncertainty_of(scenario).describe(seed, result.replicates),
        "horizon": horizon(result, scenario.start, scenario.end),
        # dated events the horizon cuts off (a shorter --years, an earlier end): not simulated
        "events_outside_horizon": scenario.events_outside_horizon(),
        "versions": package_versions(),
        "data_sha256": data_file_hashes(),
        "wall_time_s": round(float(wall_time_s), 3),
        "facts": list(facts),
        "ledger_checks": [check.to_dict() for check in ledger],
        "files": list(RESULTS_FILES),
    }


# ---------------------------------------------------------------------------
# the folder


@contextlib.contextmanager
def target_lock(target: Path, lock: Path | None = None) -> Iterator[Path]:
    """Hold an advisory lock on results folder ``target`` (issue 17, item 10).

    The lock is ``flock`` on the hidden file ``.<name>.lock`` beside ``target``; a
    second writer of the same folder (two ``run --out SAME --force`` at once) gets a
    :class:`ResultsFolderError` at once instead of silently replacing the first's
    results.  The kernel drops the lock when the process dies, however it dies.
    ``lock`` names another lock file (where the folder beside it is listed by others).
    The holder removes the lock file when it is done, so results roots do not fill with
    them; a writer that locked a file just removed by its previous holder tries again.
    """
    import fcntl

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = lock if lock is not None else target.parent / f".{target.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ResultsFolderError(
                f"{target} is being written by another lipsteeth process (lock {lock})"
            ) from None
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = -1
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)  # locked the file its previous holder had just removed
    else:
        raise ResultsFolderError(f"{target}: could not take the lock {lock}")
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()  # still held: a writer opening it now gets a fresh file
        os.close(fd)


#: a staging folder's name: .<run-id>.partial-<pid of its writer>-<random>
_STAGING = re.compile(r"^\..+\.partial-(\d+)-[^/]*$")
#: staging folders without a writer's pid (older versions) are stale after this long
_LEGACY_STALE_SECONDS = 24 * 3600


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_staging(parent: Path) -> list[Path]:
    """Remove ``.*.partial-*`` folders in ``parent`` whose writer is gone (issue 17, item 11).

    A writer's pid is in the name; its folder is stale once no process has that pid
    (a killed ``run``).  A folder without a pid is stale after a day.  Returns what
    was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if ".partial-" not in entry.name or not entry.name.startswith("."):
            continue
        match = _STAGING.match(entry.name)
        try:
            if match is not None:
                pid = int(match.group(1))
                stale = pid != os.getpid() and not _writer_alive(pid)
            else:
                stale = now - entry.stat().st_mtime > _LEGACY_STALE_SECONDS
        except OSError:
            continue
        if stale and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def _staging_dir(target: Path, run_id: str) -> Iterator[Path]:
    """A hidden sibling of ``target``; removed if anything fails before it is moved."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.partial-{os.getpid()}-", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _write_bytes(path: Path, content: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_path(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed onto ``path`` if the block succeeds.

    A reader sees the old file or the whole new one, never half of it; a writer
    that fails leaves no partial file behind, and one that is killed leaves only a
    hidden ``.<name>.<random>.tmp`` that the catalog and the job store sweep. The
    file gets the mode a plain ``open`` would give (``mkstemp`` makes it 0600).
    ``durable`` flushes it to disk before the rename, so a crash cannot leave the
    new name on empty contents.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_bytes(raw: bytes, path: Path, *, durable: bool = True) -> None:
    """Write bytes to ``path`` all at once (see :func:`atomic_path`)."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(raw)


def atomic_text(text: str, path: Path, *, durable: bool = True) -> None:
    """Write UTF-8 text to ``path`` all at once (see :func:`atomic_path`)."""
    atomic_bytes(text.encode("utf-8"), path, durable=durable)


def move_into_place(staging: Path, target: Path, *, force: bool) -> None:
    """Rename a finished staging folder to ``target`` (replacing it only with ``force``).

    Raises :class:`ResultsFolderError` when ``target`` holds files and ``force`` is off.
    """
    staging.chmod(0o777 & ~_umask())
    if target.exists() and not is_empty_dir(target):
        if not force:
            raise ResultsFolderError(
                f"{target} exists and is not empty (use --force to replace it)"
            )
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
    with contextlib.suppress(OSError):
        fsync_path(target.parent)


def write_results(
    target: Path,
    *,
    run_id: str,
    result: SimulationResult,
    start: np.datetime64,
    manifest: Mapping[str, Any],
    summary: Mapping[str, Any],
    force: bool = False,
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write the whole results folder at ``target`` atomically and return its path.

    ``files`` (name to bytes) are further files of the folder, moved into place
    with the tables (``validate`` adds its scores and figure).
    """
    check_target(target, force=force)
    with _staging_dir(target, run_id) as staging:
        for name, table in (
            (OUTCOMES_FILE, outcomes_table(result)),
            (OUTCOMES_YEARLY_FILE, outcomes_yearly_table(result)),
            (EVENTS_FILE, events_table(result, start)),
        ):
            write_parquet(table, staging / name)
            fsync_path(staging / name)
        _write_text(staging / MANIFEST_FILE, dumps(manifest, indent=2) + "\n")
        _write_text(staging / SUMMARY_FILE, dumps(summary, indent=2) + "\n")
        for name, content in (files or {}).items():
            _write_bytes(staging / name, content)
        move_into_place(staging, target, force=force)
    return target


def command_line(argv: Sequence[str] | None = None) -> list[str]:
    """The command as typed (program name shortened to ``lipsteeth``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return ["lipsteeth", *args]


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a results folder."""
    data: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return data
