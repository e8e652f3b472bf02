"""Dask executor and the executor factory the commands use.

``DaskExecutor`` has the interface of ``experiment.executors`` (``map(fn,
tasks, progress, on_result=, context=)``): the context is scattered to every
worker once, tasks are submitted a few at a time per worker, and results come
back to this process as they finish (so checkpoints have a single writer).

``open_executor`` picks and owns an executor for a command:

- ``serial``: this process;
- ``processes``: a pool of ``workers`` local processes;
- ``dask``: a ``LocalCluster(n_workers=workers, threads_per_worker=1)``
  started (and closed) here, or the existing cluster at ``scheduler``.

``auto`` is serial for one worker and Dask otherwise (or when a scheduler
address is given).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from ..experiment.executors import BaseExecutor, Executor, ProcessExecutor, SerialExecutor, call

EXECUTORS: tuple[str, ...] = ("auto", "serial", "processes", "dask")


class ExecutorError(Exception):
    """An executor cannot be set up as asked (one-line message)."""


def _dask_call(fn: Callable[..., Any], context: Any, task: Any) -> Any:
    return call(fn, context, task)


class DaskExecutor(BaseExecutor):
    """Tasks on a Dask cluster through a ``distributed.Client``."""

    name = "dask"

    def __init__(self, client: Any, *, in_flight_per_worker: int = 2) -> None:
        self.client = client
        info = client.scheduler_info()
        workers = info.get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        self.workers = max(1, threads or len(workers) or 1)
        self.in_flight = max(2, in_flight_per_worker * self.workers)

    def _completed(
        self, fn: Callable[..., Any], tasks: list[Any], context: Any
    ) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        client = self.client
        ctx = client.scatter(context, broadcast=True, hash=False) if context is not None else None
        queue = iter(enumerate(tasks))
        index_of: dict[str, int] = {}

        def submit(item: tuple[int, Any]) -> Any:
            i, task = item
            future = client.submit(_dask_call, fn, ctx, task, pure=False)
            index_of[future.key] = i
            return future

        first = [submit(item) for _, item in zip(range(self.in_flight), queue, strict=False)]
        pending = as_completed(first)
        try:
            for future in pending:
                i = index_of.pop(future.key)
                result = future.result()
                future.release()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(submit(nxt))
                yield i, result
        finally:
            pending.clear()
            if ctx is not None:
                with contextlib.suppress(Exception):
                    ctx.release()


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster started and closed here."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = max(1, int(workers or os.cpu_count() or 1))
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextlib.contextmanager
def open_executor(
    kind: str = "auto", workers: int = 1, scheduler: str | None = None
) -> Iterator[Executor]:
    """The executor a command asked for, closed on exit."""
    if kind not in EXECUTORS:
        raise ExecutorError(f"unknown executor {kind!r} (choose from {', '.join(EXECUTORS)})")
    if workers < 1:
        raise ExecutorError(f"--workers must be at least 1 (got {workers})")
    if kind == "auto":
        kind = "dask" if (scheduler or workers > 1) else "serial"
    if scheduler and kind != "dask":
        raise ExecutorError("--scheduler needs the dask executor")
    if kind == "serial":
        yield SerialExecutor()
    elif kind == "processes":
        yield ProcessExecutor(workers)
    else:
        with dask_client(workers, scheduler) as client:
            yield DaskExecutor(client)


def pyabc_sampler(client: Any | None) -> Any:
    """A pyabc sampler: on the Dask cluster of ``client``, or single-core without one."""
    import pyabc

    if client is None:
        return pyabc.sampler.SingleCoreSampler()
    return pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1)
