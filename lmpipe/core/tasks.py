"""One runner for the plain-function tasks of a stage's barrier work (dedup's phases, pack's tokenizing and
shuffle): `fn(*args)` for each args, as Ray tasks or local processes, chosen by the run's executor.

The per-document passes use the datatrove executors; the local one (local_executor.LocalTaskExecutor) runs its
tasks through this runner too, so the pool lives here once. Guarantees: on Ray a task whose worker died is retried by Ray; in
local processes a worker that dies (OOM killer, kill -9) breaks the pool, and the calls without a result are
submitted again to a new pool, up to `max_retries` rounds. Every task function must therefore be idempotent
(write its outputs atomically, under names derived from its arguments), which every caller's is.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from loguru import logger

PR_SET_PDEATHSIG = 1


class WorkersDiedError(RuntimeError):
    """Worker processes kept dying: the tasks they ran did not complete."""


def die_with_parent(parent: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: workers still end when the pool shuts down normally
        pass
    if os.getppid() != parent:  # the driver died before the line above ran: no one would signal us
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it then stops the pool


class TaskRunner:
    """`runner(fn, [args, ...]) -> [fn(*args), ...]` in order. Use as a context manager (the local pool is kept
    for all calls of one stage)."""

    def __init__(self, executor: str, workers: int, mem_gb: float = 2.0, max_retries: int = 2):
        self.executor = executor
        self.workers = workers
        self.mem_gb = mem_gb
        self.max_retries = max_retries
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *_) -> None:
        self._close()

    def _open(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # spawn, workers killed with their parent: see local_executor.py for why not fork or forkserver
            ctx = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
            )
        return self.pool

    def _close(self, kill: bool = False) -> None:
        if self.pool is not None:
            if kill:
                for process in list(getattr(self.pool, "_processes", {}).values()):
                    process.kill()
            self.pool.shutdown(wait=not kill, cancel_futures=True)
            self.pool = None

    def __call__(self, fn: Callable, args: list[tuple], on_done: Callable[[int], None] | None = None) -> list:
        """`on_done(i)` runs in this process as call i finishes (progress lines), in completion order."""
        if not args:
            return []
        if self.executor == "ray":
            import ray

            remote = ray.remote(num_cpus=1, memory=int(self.mem_gb * 2**30), max_retries=self.max_retries)(fn)
            results = ray.get([remote.remote(*a) for a in args])
            for i in range(len(args)) if on_done else ():
                on_done(i)
            return results
        if self.workers <= 1:
            results = []
            for i, a in enumerate(args):
                results.append(fn(*a))
                if on_done:
                    on_done(i)
            return results
        results: dict[int, object] = {}
        for attempt in range(self.max_retries + 1):
            pending: dict = {}
            try:
                pool = self._open()
                pending = {pool.submit(fn, *args[i]): i for i in range(len(args)) if i not in results}
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        i = pending.pop(future)
                        results[i] = future.result()  # re-raises the call's exception, or BrokenProcessPool
                        if on_done:
                            on_done(i)
                return [results[i] for i in range(len(args))]
            except BrokenProcessPool:
                self._close(kill=True)
                for future, i in pending.items():  # keep what finished before the pool broke
                    if future.done() and not future.cancelled() and future.exception() is None:
                        results[i] = future.result()
                        if on_done:
                            on_done(i)
                if attempt < self.max_retries:
                    logger.warning(
                        f"a worker process died (killed, or out of memory); running {len(args) - len(results)} "
                        "task(s) again"
                    )
            except BaseException:
                self._close(kill=True)  # Ctrl-C, SIGTERM or a failing task: stop the others now
                raise
        raise WorkersDiedError(
            f"worker processes kept dying ({self.max_retries + 1} rounds) in {getattr(fn, '__name__', fn)}; "
            "out of memory? lower run.workers"
        )
