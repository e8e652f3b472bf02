"""Executors: one interface to run independent tasks serially or in local processes.

An executor maps a picklable function over a list of picklable tasks and
returns the results in task order, whatever order they finished in::

    results = executor.map(fn, tasks, progress=None, on_result=None, context=None)

``fn(task)`` is called for every task, or ``fn(context, task)`` when a
``context`` is given: the context (a scenario, a model) is shipped to each
worker once, not once per task.  ``on_result(i, result)`` is called in the
calling process as each task finishes (checkpointing happens there, so there
is a single writer), and ``progress(done, total)`` after each one.

This module is pure orchestration: the serial and process executors use only
the standard library.  The Dask executor lives in
``lipsteeth.adapters.executors_dask`` and has the same interface.

``run_ensemble`` runs the replicates of one scenario in chunks through any
executor.  Replicate ``i`` always draws from child ``i`` of the root seed, so
the combined result is identical whatever the executor, the number of workers
or the chunk size.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.connection
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from ..core.simulate import SimulationResult
from .ensemble import combine, run_scenario

if TYPE_CHECKING:
    from ..scenario import Scenario

T = TypeVar("T")
R = TypeVar("R")

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: called with the number of finished tasks (or replicates)."""

ResultFn = Callable[[int, Any], None]
"""``on_result(index, result)``: called in the calling process as each task finishes."""


class Executor(Protocol):
    """What every executor offers (serial, processes, Dask)."""

    name: str
    workers: int

    def map(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Any],
        progress: ProgressFn | None = None,
        *,
        on_result: ResultFn | None = None,
        context: Any = None,
        keep: bool = True,
    ) -> list[Any]:
        """Results of ``fn`` over ``tasks`` in task order (``None`` where ``keep`` is False)."""
        ...


class BaseExecutor(ABC):
    """Common ``map``: subclasses only yield ``(index, result)`` as tasks complete."""

    name: str = "base"
    workers: int = 1

    def map(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Any],
        progress: ProgressFn | None = None,
        *,
        on_result: ResultFn | None = None,
        context: Any = None,
        keep: bool = True,
    ) -> list[Any]:
        """Run ``fn`` over ``tasks``; see the module docstring for the contract."""
        tasks = list(tasks)
        n = len(tasks)
        results: list[Any] = [None] * n
        if progress is not None:
            progress(0, n)
        if n == 0:
            return results
        done = 0
        for index, result in self._completed(fn, tasks, context):
            if on_result is not None:
                on_result(index, result)
            if keep:
                results[index] = result
            done += 1
            if progress is not None:
                progress(done, n)
        if done != n:  # pragma: no cover - a subclass bug, never a user error
            raise RuntimeError(f"executor {self.name} finished {done} of {n} tasks")
        return results

    @abstractmethod
    def _completed(
        self, fn: Callable[..., Any], tasks: list[Any], context: Any
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(task index, result)`` for every task, in completion order."""

    def close(self) -> None:
        """Release resources (nothing for in-process executors)."""
        return None

    def __enter__(self) -> BaseExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def call(fn: Callable[..., Any], context: Any, task: Any) -> Any:
    """``fn(task)``, or ``fn(context, task)`` when there is a context."""
    return fn(task) if context is None else fn(context, task)


class SerialExecutor(BaseExecutor):
    """Every task in this process, one after the other (the reference executor)."""

    name = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def _completed(
        self, fn: Callable[..., Any], tasks: list[Any], context: Any
    ) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, call(fn, context, task)


# The context of the current process-pool worker (set once by the initializer).
_WORKER_CONTEXT: Any = None


def _init_worker(context: Any) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = context
    _exit_with_parent()


def _exit_with_parent() -> None:
    """End this worker when its parent dies, even by ``kill -9`` (no orphan processes)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - not a multiprocessing child
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _call_in_worker(fn: Callable[..., Any], task: Any) -> Any:
    return call(fn, _WORKER_CONTEXT, task)


class ProcessExecutor(BaseExecutor):
    """Tasks in a pool of local worker processes (``spawn``: no inherited threads or locks).

    At most ``2 * workers`` tasks are in flight, so a huge sweep does not
    pickle every task up front and a crash loses at most that many runs.
    """

    name = "processes"

    def __init__(self, workers: int, *, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = int(workers)
        self.start_method = start_method

    def _completed(
        self, fn: Callable[..., Any], tasks: list[Any], context: Any
    ) -> Iterator[tuple[int, Any]]:
        ctx = multiprocessing.get_context(self.start_method)
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_init_worker, initargs=(context,)
        )
        pending: dict[Future[Any], int] = {}
        queue = iter(enumerate(tasks))
        limit = 2 * self.workers
        try:
            while True:
                while len(pending) < limit:
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    pending[pool.submit(_call_in_worker, fn, nxt[1])] = nxt[0]
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    yield index, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------
# ensembles of one scenario through an executor


def default_chunk_size(replicates: int, workers: int) -> int:
    """Replicates per task: enough tasks to balance the workers, batches up to 16.

    Batching replicates on the leading axis is 2-3 times faster per replicate
    than one at a time; more than 16 gains little and delays checkpoints.
    """
    per_worker = math.ceil(replicates / max(1, 4 * workers))
    return int(min(16, max(1, per_worker)))


def replicate_chunks(indices: np.ndarray, chunk_size: int) -> list[np.ndarray]:
    """Consecutive chunks of at most ``chunk_size`` replicate indices."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    return [indices[i : i + chunk_size] for i in range(0, indices.size, chunk_size)]


def _ensemble_chunk(context: tuple[Scenario, int], indices: np.ndarray) -> SimulationResult:
    scenario, seed = context
    return run_scenario(scenario, seed=seed, replicate_indices=indices)


def run_ensemble(
    scenario: Scenario,
    replicates: int | np.ndarray | None = None,
    seed: int | None = None,
    executor: Executor | None = None,
    chunk_size: int | None = None,
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """All replicates of ``scenario`` through ``executor``, combined in replicate order.

    ``replicates`` is a count (indices ``0..n-1``) or explicit replicate indices;
    it defaults to the scenario's.  ``progress(done, total)`` counts replicates.
    The result is the same, bit for bit, as one ``run_scenario`` call.
    """
    executor = executor or SerialExecutor()
    if replicates is None:
        replicates = scenario.replicates
    if isinstance(replicates, (int, np.integer)):
        indices = np.arange(int(replicates))
    else:
        indices = np.asarray(replicates, dtype=int)
    if indices.size == 0:
        raise ValueError("no replicates to run")
    seed = scenario.seed if seed is None else int(seed)
    size = chunk_size or default_chunk_size(int(indices.size), executor.workers)
    chunks = replicate_chunks(indices, size)
    done_reps = [0]

    def on_result(i: int, _result: SimulationResult) -> None:
        done_reps[0] += int(chunks[i].size)

    def report(_done: int, _total: int) -> None:
        if progress is not None:
            progress(done_reps[0], int(indices.size))

    results = executor.map(
        _ensemble_chunk, chunks, report, on_result=on_result, context=(scenario, seed)
    )
    return combine(results)
