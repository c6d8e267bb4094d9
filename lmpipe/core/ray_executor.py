"""Running a stage's tasks on Ray: one Ray task per datatrove task, retried by Ray when its worker dies.

Why not datatrove's `RayPipelineExecutor`: it starts an actor per task inside a placement group, and the actor runs
the task in a `multiprocess.Pool` child. When that child is killed (OOM killer, node loss, `kill -9`), the pool's
`starmap` never returns and the stage hangs; measured here with tests/test_fault_tolerance.py, which hung for good
until this executor replaced it. A plain Ray task runs the pipeline in the Ray worker process itself, so a dead
worker is an ordinary system failure that Ray retries (`max_retries`), and our atomic per-task outputs make the
retry write exactly what the first attempt would have. Completion markers, task logs and resumption are
datatrove's own (`PipelineExecutor._run_for_rank`).
"""

from __future__ import annotations

from collections.abc import Callable

from datatrove.executor.base import DistributedEnvVars, PipelineExecutor
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from lmpipe.core.console import install_task_console, is_quiet
from lmpipe.core.progress import TaskProgress, stage_label


def _run_rank(executor: RayTaskExecutor, rank: int) -> None:
    install_task_console(executor.quiet)  # the driver's console mode, in this Ray worker (lmpipe.core.console)
    executor._run_for_rank(rank)


class RayTaskExecutor(PipelineExecutor):
    def __init__(
        self,
        pipeline: list[PipelineStep | Callable],
        tasks: int,
        workers: int,
        logging_dir: str,
        cpus_per_task: int = 1,
        mem_per_task_gb: float = 2.0,
        max_retries: int = 3,  # attempts after a worker died; an exception raised by the code is not retried
        name: str | None = None,  # Ray tasks are named NAME:RANK in the dashboard; default: the stage's folder name
    ):
        super().__init__(pipeline, logging_dir, skip_completed=True)
        self.tasks = tasks
        self.workers = workers
        self.cpus_per_task = cpus_per_task
        self.mem_per_task_gb = mem_per_task_gb
        self.max_retries = max_retries
        self.name = name or stage_label(pipeline, logging_dir)
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
            datatrove_cpus_per_task=str(self.cpus_per_task),
            datatrove_mem_per_cpu=str(self.mem_per_task_gb / self.cpus_per_task),
            datatrove_gpus_on_node="0",
            datatrove_executor="RAY",
        )

    def run(self) -> None:
        import ray

        queue = self.get_incomplete_ranks()
        if not queue:
            logger.info(f"all {self.tasks} tasks already completed")
            return
        me = ray.put(self)
        remote = ray.remote(_run_rank)
        options = dict(
            num_cpus=self.cpus_per_task,
            memory=int(self.mem_per_task_gb * 2**30),
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        pending: dict = {}
        failures: list[tuple[int, BaseException]] = []
        progress = TaskProgress(self.name, self.tasks, already_done=self.tasks - len(queue))
        while queue or pending:
            # At most `workers` tasks in flight: the rest wait here, not in Ray's queue, so workers means workers.
            while queue and len(pending) < self.workers:
                rank = queue.pop(0)
                pending[remote.options(name=f"{self.name}:{rank}", **options).remote(me, rank)] = rank
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                rank = pending.pop(ref)
                try:
                    ray.get(ref)
                    progress.task_done(rank)
                except Exception as e:  # noqa: BLE001 - collected and raised together below
                    logger.error(f"task {rank} failed: {type(e).__name__}: {e}")
                    failures.append((rank, e))
        if failures:
            rank, error = failures[0]
            raise RuntimeError(f"{len(failures)} task(s) failed, first: task {rank}") from error
