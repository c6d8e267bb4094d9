"""One runner for the plain-function tasks of a stage's barrier work (dedup's phases, pack's tokenizing and
shuffle): `fn(*args)` for each args, as Ray tasks or local processes, chosen by the run's executor.

The per-document passes use the datatrove executors (local_executor.LocalTaskExecutor, ray_executor); this is
their counterpart for functions, with the same guarantees: on Ray a task whose worker died is retried by Ray; in
local processes a worker that dies (OOM killer, kill -9) breaks the pool, and the calls without a result are
submitted again to a new pool, up to `max_retries` rounds. Every task function must therefore be idempotent
(write its outputs atomically, under names derived from its arguments), which every caller's is.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from loguru import logger

from lmpipe.core.local_executor import WorkersDiedError, die_with_parent


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

    def __call__(self, fn: Callable, args: list[tuple]) -> list:
        if not args:
            return []
        if self.executor == "ray":
            import ray

            remote = ray.remote(num_cpus=1, memory=int(self.mem_gb * 2**30), max_retries=self.max_retries)(fn)
            return ray.get([remote.remote(*a) for a in args])
        if self.workers <= 1 or len(args) == 1:
            return [fn(*a) for a in args]
        results: dict[int, object] = {}
        for attempt in range(self.max_retries + 1):
            todo = [i for i in range(len(args)) if i not in results]
            try:
                pool = self._open()
                futures = {i: pool.submit(fn, *args[i]) for i in todo}
                for i, future in futures.items():
                    results[i] = future.result()
                return [results[i] for i in range(len(args))]
            except BrokenProcessPool:
                self._close(kill=True)
                for i, future in futures.items():  # keep what finished before the pool broke
                    if i not in results and future.done() and not future.cancelled() and future.exception() is None:
                        results[i] = future.result()
                if attempt < self.max_retries:
                    logger.warning(f"a worker process died; running {len(args) - len(results)} task(s) again")
            except BaseException:
                self._close(kill=True)  # Ctrl-C, SIGTERM or a failing task: stop the others now
                raise
        raise WorkersDiedError(
            f"worker processes kept dying ({self.max_retries + 1} rounds) in {getattr(fn, '__name__', fn)}; "
            "out of memory? lower run.workers"
        )
