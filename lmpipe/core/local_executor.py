"""Running a stage's tasks in local processes: a dead worker is a retried task, never a hang or an orphan.

Why not datatrove's `LocalPipelineExecutor`: it maps tasks over a `multiprocess.Pool`; when the OOM killer (or
`kill -9`) ends one pool worker, `imap_unordered` never returns and the driver waits forever at 19/20 tasks with
no message (reproduced). And a killed driver left datatrove's Manager, the forkserver, the resource tracker and
pool workers (about 170 MB each) running.

Here each task is one `concurrent.futures` future: a worker that dies breaks the pool (`BrokenProcessPool`), the
tasks not yet marked complete are resubmitted to a new pool, up to `max_retries` rounds, then the stage fails
naming the tasks. Workers ask the kernel to kill them when their parent dies (PR_SET_PDEATHSIG), and their
parent is this driver (the "spawn" start method), so nothing outlives it. Completion markers, task logs and
resumption stay datatrove's (`PipelineExecutor._run_for_rank`); task outputs are atomic, so a retried task writes
exactly what the first attempt would have.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from copy import deepcopy

import dill
from datatrove.executor.base import DistributedEnvVars, PipelineExecutor
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from lmpipe.core.console import install_task_console, is_quiet
from lmpipe.core.progress import TaskProgress, stage_label

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


def _run_pickled(blob: bytes, rank: int, local_rank: int) -> int:
    executor = dill.loads(blob)  # dill, as datatrove's pool does: steps may hold closures
    install_task_console(executor.quiet)  # a spawned worker: the driver's console mode (lmpipe.core.console)
    executor._run_for_rank(rank, local_rank)
    return rank


class LocalTaskExecutor(PipelineExecutor):
    def __init__(
        self,
        pipeline: list[PipelineStep | Callable],
        tasks: int,
        workers: int,
        logging_dir: str,
        max_retries: int = 2,  # rounds of resubmission after a worker died; an exception in the code fails at once
    ):
        super().__init__(pipeline, logging_dir, skip_completed=True)
        self.tasks = tasks
        self.workers = max(1, min(workers, tasks))
        self.max_retries = max_retries
        self.name = stage_label(pipeline, logging_dir)
        self.quiet = is_quiet()  # datatrove's per-task console lines go to the task logs only (--verbose: shown)

    @property
    def world_size(self) -> int:
        return self.tasks

    def get_distributed_env(self, node_rank: int = -1) -> DistributedEnvVars:
        return DistributedEnvVars(
            datatrove_node_ips="",
            datatrove_cpus_per_task="1",
            datatrove_mem_per_cpu="",
            datatrove_gpus_on_node="0",
            datatrove_executor="LOCAL",
        )

    def run(self) -> None:
        queue = self.get_incomplete_ranks()
        if not queue:
            logger.info(f"all {self.tasks} tasks already completed")
            return
        self.progress = TaskProgress(self.name, self.tasks, already_done=self.tasks - len(queue))
        if self.workers == 1:  # in this process: no pickling, fast start, a debugger sees the steps
            install_task_console(self.quiet)
            pipeline = self.pipeline
            for rank in queue:
                self.pipeline = deepcopy(pipeline)
                self._run_for_rank(rank)
                self.progress.task_done(rank)
            self.pipeline = pipeline
            return
        blob = dill.dumps(self)
        for attempt in range(self.max_retries + 1):
            try:
                self._run_pool(blob, queue)
                return
            except BrokenProcessPool:
                queue = self.get_incomplete_ranks()
                if not queue:
                    return
                if attempt == self.max_retries:
                    break
                logger.warning(
                    f"a worker process died (killed, or out of memory); re-running {len(queue)} unfinished task(s): "
                    f"{queue[:10]}"
                )
        raise WorkersDiedError(
            f"worker processes kept dying ({self.max_retries + 1} rounds); tasks {queue[:10]} did not complete "
            "(out of memory? lower run.workers or give each task less input with run.tasks)"
        )

    def _run_pool(self, blob: bytes, queue: list[int]) -> None:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            pending = {pool.submit(_run_pickled, blob, rank, i % self.workers): rank for i, rank in enumerate(queue)}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        rank = pending.pop(future)
                        future.result()  # re-raises the task's exception, or BrokenProcessPool
                        self.progress.task_done(rank)
            except BaseException:
                # Ctrl-C, SIGTERM or a failed task: stop the other workers now, do not wait for their tasks
                # (their partial outputs are temporary files; a re-run redoes exactly the unfinished tasks).
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.kill()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
