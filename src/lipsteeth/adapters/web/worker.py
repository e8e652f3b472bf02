"""The job child process: run replicates one at a time, write each, finalize the run.

Several children may work on one job; each claims the next replicate index
from a counter in shared memory, so a job with free cores runs on all of them
and two jobs submitted together (the two sides of a comparison) advance side
by side.  Each finished replicate is written atomically to ``reps/`` inside
the job's folder: ``NNNNN.npy`` holds its (V, M) monthly outcomes (what the
service streams as partial bands, loaded with ``allow_pickle=False``) and
``NNNNN.result.pkl`` the whole one-replicate result for the final folder
(written and read only by the service's own processes; nothing a client sends
is ever unpickled).  The child whose replicate completes the run combines
them, writes the results folder and the bands, and exits.

A replicate file on disk is complete (it is renamed into place), so a job
restarted after a crash runs only the replicates it lacks: nothing is lost,
nothing is repeated.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = "results"
BANDS_FILE = "bands.json"
ERROR_FILE = "error.txt"
REPS_DIR = "reps"
META_FILE = "meta.json"


def rep_path(folder: Path, index: int, suffix: str = ".npy") -> Path:
    return folder / REPS_DIR / f"{index:05d}{suffix}"


def finished_replicates(folder: Path) -> list[int]:
    """Replicate indices whose monthly outcomes are on disk, in order."""
    reps = folder / REPS_DIR
    if not reps.is_dir():
        return []
    out = []
    for item in reps.iterdir():
        stem, dot, suffix = item.name.partition(".")
        if dot and suffix == "npy" and stem.isdigit():
            out.append(int(stem))
    return sorted(out)


def read_meta(folder: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads((folder / REPS_DIR / META_FILE).read_text()))
    return None


def _write_replicate(folder: Path, index: int, result: Any) -> None:
    """The one-replicate result, then its monthly outcomes (their presence marks it done)."""
    from ..store import atomic_bytes, atomic_path

    # not flushed to disk: a job a crash interrupts runs its lost replicates again
    atomic_bytes(
        pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL),
        rep_path(folder, index, ".result.pkl"),
        durable=False,
    )
    with atomic_path(rep_path(folder, index), durable=False) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(result.monthly[0]), allow_pickle=False)


def execute_job(
    job_id: str,
    job_dir: str,
    scenario_toml: str,
    seed: int,
    replicates: int,
    todo: list[int],
    next_position: Any,
    done: Any,
    finalize_now: bool,
    started: float,
) -> None:
    """Child-process entry: claim and run replicates; the last one finalizes; exit 0 (or 1).

    ``started`` is the job's start (epoch seconds), for the manifest's wall time.
    """
    _die_with_parent()
    folder = Path(job_dir)
    lock = _hold_job_lock(folder)  # held until this process ends, however it ends
    try:
        _work(job_id, folder, scenario_toml, seed, replicates, todo, next_position, done, started)
        if finalize_now:
            finalize(job_id, folder, scenario_toml, seed, replicates, started)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a one-line reason
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
        with contextlib.suppress(OSError):
            (folder / ERROR_FILE).write_text(reason + "\n" + traceback.format_exc())
        os._exit(1)
    del lock


LOCK_FILE = ".running.lock"


def _hold_job_lock(folder: Path) -> Any:
    """A shared lock on the job's folder, held by each of its processes while they live.

    The kernel drops it when the process dies (kill -9 included), so a server that
    finds it free knows no process of an earlier server still works on the job.
    """
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_FILE, "a+b")  # noqa: SIM115 - lives as long as the process
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def job_lock_free(folder: Path) -> bool:
    """No process holds the job's lock (see :func:`_hold_job_lock`)."""
    import fcntl

    try:
        handle = open(folder / LOCK_FILE, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return True
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent (the fork server) dies, so no orphan keeps writing."""
    parent = os.getppid()
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _work(
    job_id: str,
    folder: Path,
    scenario_toml: str,
    seed: int,
    replicates: int,
    todo: list[int],
    next_position: Any,
    done: Any,
    started: float,
) -> None:
    from ...experiment.ensemble import run_scenario
    from ...experiment.posterior import with_uncertainty
    from ...scenario import load_scenario_text
    from ..store import atomic_bytes

    scenario = None
    while True:
        with next_position.get_lock():
            position = int(next_position.value)
            if position >= len(todo):
                return
            next_position.value = position + 1
        index = int(todo[position])
        if scenario is None:
            # parameter uncertainty as `lipsteeth run` holds it by default (the shipped
            # posterior): replicate i draws the same set in any child
            scenario = with_uncertainty(load_scenario_text(scenario_toml, source=f"job {job_id}"))
            (folder / REPS_DIR).mkdir(parents=True, exist_ok=True)
            meta = {
                "outcome_names": [],
                "months": [str(m) for m in np.asarray(scenario.calendar.months)],
            }
        result = run_scenario(scenario, seed=seed, replicate_indices=np.array([index]))
        if not meta["outcome_names"]:
            meta["outcome_names"] = list(result.outcome_names)
            atomic_bytes(json.dumps(meta).encode(), folder / REPS_DIR / META_FILE, durable=False)
        _write_replicate(folder, index, result)
        with done.get_lock():
            done.value += 1
            last = int(done.value) >= replicates
        if last:
            finalize(job_id, folder, scenario_toml, seed, replicates, started)


def finalize(
    job_id: str, folder: Path, scenario_toml: str, seed: int, replicates: int, started: float
) -> None:
    """Combine the replicate files into the results folder and the bands document.

    The results folder (tables, manifest, summary) is written by
    ``services.record_run``, the function ``lipsteeth run`` and ``validate`` write theirs
    with: one implementation of what a results folder holds.
    """
    from ... import services
    from ...experiment.ensemble import combine
    from ...experiment.posterior import with_uncertainty
    from ...scenario import load_scenario_text
    from ..store import dumps
    from .bands import bands_of, uncertainty_text

    scenario = with_uncertainty(load_scenario_text(scenario_toml, source=f"job {job_id}"))
    parts = []
    for index in range(replicates):
        with open(rep_path(folder, index, ".result.pkl"), "rb") as handle:
            parts.append(pickle.load(handle))  # written by this service's own children
    result = combine(parts)
    wall = max(time.time() - started, 0.0)
    doc = bands_of(result.monthly, result.months, result.outcome_names, uncertainty_text(scenario))
    tmp = folder / f".{BANDS_FILE}.tmp"
    tmp.write_text(dumps(doc))
    services.record_run(
        folder / RESULTS_DIR,
        run_id=job_id,
        scenario=scenario,
        result=result,
        seed=seed,
        wall_time_s=wall,
        force=True,  # a job finalized again after a crash replaces its half-done folder
        argv=["serve", "job", job_id],
        results_dir=f"run {job_id}",
    )
    tmp.replace(folder / BANDS_FILE)  # last: its presence marks the job finished
    for index in range(replicates):  # the results folder holds them now
        with contextlib.suppress(OSError):
            rep_path(folder, index, ".result.pkl").unlink()


def preload() -> list[str]:
    """Modules the fork server imports once, so a child starts in milliseconds."""
    return [
        "numpy",
        "scipy.stats",
        "pyarrow",
        "pyarrow.parquet",
        "lipsteeth.scenario",
        "lipsteeth.experiment.ensemble",
        "lipsteeth.adapters.store",
        "lipsteeth.services",
        "lipsteeth.adapters.web.worker",
        "lipsteeth.adapters.web._warm",
    ]
