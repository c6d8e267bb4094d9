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

from collections.abc import Callable
from copy import deepcopy

import dill
from datatrove.executor.base import DistributedEnvVars, PipelineExecutor
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from lmpipe.core.console import install_task_console, is_quiet
from lmpipe.core.progress import TaskProgress, stage_label
from lmpipe.core.tasks import TaskRunner, WorkersDiedError


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

    def get_incomplete_ranks(self, ranks=None, skip_completed=None) -> list[int]:
        # Completion markers are written by other processes (or nodes); an object store's listing is cached.
        self.logging_dir.fs.invalidate_cache()
        return super().get_incomplete_ranks(ranks, skip_completed)

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
        # The pool, its retry of a dead worker's tasks and its stop on Ctrl-C are lmpipe.core.tasks.TaskRunner's; a
        # task's result is its completion marker, so "calls without a result" are exactly the incomplete ranks.
        blob = dill.dumps(self)
        args = [(blob, rank, i % self.workers) for i, rank in enumerate(queue)]
        try:
            with TaskRunner("local", self.workers, max_retries=self.max_retries) as execute:
                execute(_run_pickled, args, on_done=lambda i: self.progress.task_done(queue[i]))
        except WorkersDiedError:
            raise WorkersDiedError(
                f"worker processes kept dying ({self.max_retries + 1} rounds); tasks "
                f"{self.get_incomplete_ranks()[:10]} did not complete "
                "(out of memory? lower run.workers or give each task less input with run.tasks)"
            ) from None
