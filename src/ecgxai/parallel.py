"""Run one task per work item serially, on local worker processes, or on a Dask cluster.

:func:`run_tasks` yields ``(position, result)`` as tasks finish, so callers write each
result as it arrives and an interrupted run keeps what finished. A task that raises an
``ECGXAIError`` (a bad record) gives a :class:`TaskFailure` instead of ending the run,
and so does a task whose worker process died (it is retried once on its own first).
Tasks must be picklable (module-level functions, ``functools.partial`` of them) and
derive any randomness from their item, never from execution order, so every backend
gives the same results.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from ecgxai.errors import ConfigurationError, ECGXAIError

#: Environment variables that cap a worker's math-library threads (TensorFlow, OpenMP, BLAS).
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class TaskFailure:
    """Why one item gave no result: the exception's type name and message."""

    error_type: str
    message: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> TaskFailure:
        """The failure an exception stands for."""
        return cls(type(exc).__name__, str(exc))


@dataclass(frozen=True)
class Execution:
    """Where tasks run: ``jobs`` local processes, or a Dask cluster.

    ``scheduler`` is a Dask scheduler address (``tcp://host:8786``); ``dask_local``
    starts an in-process ``LocalCluster`` with that many worker processes. With
    neither and ``jobs=1`` everything runs in this process.
    """

    jobs: int = 1
    scheduler: str | None = None
    dask_local: int | None = None

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ConfigurationError(f"jobs must be at least 1, got {self.jobs}")
        if self.scheduler is not None and self.dask_local is not None:
            raise ConfigurationError("give a Dask scheduler address or dask_local workers, not both")
        if self.dask_local is not None and self.dask_local < 1:
            raise ConfigurationError(f"dask_local must be at least 1 worker, got {self.dask_local}")

    @property
    def uses_dask(self) -> bool:
        """Whether tasks go to a Dask cluster."""
        return self.scheduler is not None or self.dask_local is not None

    @property
    def in_process(self) -> bool:
        """Whether tasks run here, in this process (so they may use objects that cannot be pickled)."""
        return not self.uses_dask and self.jobs == 1

    def describe(self) -> dict[str, Any]:
        """The settings, for a run manifest."""
        backend = "dask" if self.uses_dask else "processes" if self.jobs > 1 else "serial"
        return {"backend": backend, "jobs": self.jobs, "scheduler": self.scheduler,
                "dask_local": self.dask_local}


def as_execution(execution: Execution | int | None) -> Execution:
    """Accept an Execution, a number of local jobs, or None (serial)."""
    if execution is None:
        return Execution()
    if isinstance(execution, Execution):
        return execution
    return Execution(jobs=int(execution))


def run_tasks(task: Callable[[Any], Any], items: Sequence[Any], execution: Execution | int | None = None,
              *, desc: str = "run", progress: bool = True,
              catch: tuple[type[BaseException], ...] = (ECGXAIError,)) -> Iterator[tuple[int, Any]]:
    """Apply ``task`` to every item; yield ``(position in items, result or TaskFailure)`` as they finish.

    Exceptions of the ``catch`` types become TaskFailures; any other propagates.
    """
    execution = as_execution(execution)
    guarded = _Guarded(task, catch)
    if execution.uses_dask:
        results = _run_dask(guarded, items, execution)
    elif execution.jobs > 1:
        results = _run_processes(guarded, items, execution.jobs)
    else:
        results = ((i, guarded(item)) for i, item in enumerate(items))
    with tqdm(total=len(items), desc=desc, unit="rec", disable=not progress) as bar:
        for position, result in results:
            bar.update(1)
            yield position, result


@dataclass(frozen=True)
class _Guarded:
    """``task`` with an ecgxai error (a bad input) turned into a TaskFailure, so the run goes on."""

    task: Callable[[Any], Any]
    catch: tuple[type[BaseException], ...] = (ECGXAIError,)

    def __call__(self, item: Any) -> Any:
        try:
            return self.task(item)
        except self.catch as exc:
            return TaskFailure.from_exception(exc)


def worker_threads(jobs: int) -> int:
    """Math-library threads per worker so that ``jobs`` workers share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _limit_threads(threads: int) -> None:
    """Worker initialiser: cap library threads before TensorFlow or torch is imported."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def _run_processes(guarded: _Guarded, items: Sequence[Any], jobs: int) -> Iterator[tuple[int, Any]]:
    """Local worker processes, at most one task each in flight, restarted if one dies.

    Keeping one task per worker in flight bounds memory and tells which items were
    running when a worker died: those are retried alone, and an item that kills its
    worker on its own is reported as failed.
    """
    queue = deque(range(len(items)))
    suspects: set[int] = set()
    while queue:
        crashed = yield from _process_pool_pass(guarded, items, jobs, queue, suspects)
        for position in crashed:
            if position in suspects:
                yield position, TaskFailure("WorkerDied", "the worker process died running this record")
            else:
                suspects.add(position)
                queue.appendleft(position)


def _process_pool_pass(guarded: _Guarded, items: Sequence[Any], jobs: int, queue: deque[int],
                       suspects: set[int]) -> Iterator[tuple[int, Any]]:
    """Run queued items on one pool until done or a worker dies; return the items in flight then."""
    context = multiprocessing.get_context("spawn")  # forking a process that loaded TensorFlow is unsafe
    running: dict[Future, int] = {}
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_limit_threads,
                             initargs=(worker_threads(jobs),)) as pool:
        try:
            while queue or running:
                _fill(pool, guarded, items, jobs, queue, suspects, running)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    yield running.pop(future), result
        except BrokenProcessPool:
            finished = [f for f in running if f.done() and f.exception() is None]
            for future in finished:
                yield running.pop(future), future.result()
            return sorted(running.values())
    return []


def _fill(pool: ProcessPoolExecutor, guarded: _Guarded, items: Sequence[Any], jobs: int,
          queue: deque[int], suspects: set[int], running: dict[Future, int]) -> None:
    """Submit queued items up to one per worker; a suspect runs alone so a crash can be blamed."""
    while queue and len(running) < jobs:
        if running and (queue[0] in suspects or not suspects.isdisjoint(running.values())):
            return
        position = queue.popleft()
        running[pool.submit(guarded, items[position])] = position


def _run_dask(guarded: _Guarded, items: Sequence[Any], execution: Execution) -> Iterator[tuple[int, Any]]:
    """Send the items to a Dask cluster and gather results as they complete."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigurationError("the Dask backend needs: pip install 'ecgxai[dask]'") from None
    cluster = None
    if execution.dask_local is not None:
        threads = worker_threads(execution.dask_local)
        logging.getLogger("distributed").setLevel(logging.WARNING)  # its own INFO chatter, every run
        cluster = LocalCluster(n_workers=execution.dask_local, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1", silence_logs=logging.WARNING,
                               env={name: str(threads) for name in THREAD_VARIABLES})
    try:
        with Client(cluster if cluster is not None else execution.scheduler) as client:
            futures = client.map(guarded, list(items), pure=False)
            position = {future.key: i for i, future in enumerate(futures)}
            for future in as_completed(futures):
                yield position[future.key], _dask_result(future)
                future.release()
    finally:
        if cluster is not None:
            cluster.close()


def _dask_result(future: Any) -> Any:
    """The task's result, or a TaskFailure when Dask gave up on it because its workers kept dying."""
    from distributed import KilledWorker

    if future.status == "error" and isinstance(future.exception(), KilledWorker):
        return TaskFailure("WorkerDied", str(future.exception()))
    return future.result()
