"""Progress of a long task: a tqdm bar on a terminal, periodic log lines elsewhere (Ray job logs, CI)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from loguru import logger
from tqdm import tqdm


class Progress:
    def __init__(self, label: str, every_seconds: float = 15.0):
        self.label = label
        self.every = every_seconds
        self.docs = 0
        self.bytes = 0
        self.bar = None

    def __enter__(self) -> Progress:
        self.start = self.last = time.monotonic()
        if sys.stderr.isatty():
            self.bar = tqdm(desc=self.label, unit=" docs", dynamic_ncols=True, leave=False)
        return self

    def update(self, nbytes: int) -> None:
        self.docs += 1
        self.bytes += nbytes
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            logger.info(f"{self.label}: {self._summary(now)}")

    def _summary(self, now: float) -> str:
        secs = max(now - self.start, 1e-9)
        return f"{self.docs:,} docs, {self.bytes / 1e6:,.1f} MB, {self.docs / secs:,.0f} docs/s, {self.bytes / 1e6 / secs:.2f} MB/s"

    def __exit__(self, *_):
        if self.bar is not None:
            self.bar.close()
        logger.info(f"{self.label} done: {self._summary(time.monotonic())}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TaskProgress:
    """The executors' line per finished task: `stage: task 3 done, 12/64 (19%), 4.1s/task, ETA 3m32s`.

    The ETA is the tasks left times the mean time between finished tasks of this run (wall time / tasks finished,
    so workers running side by side count), not counting tasks an earlier run already finished."""

    def __init__(self, label: str, total: int, already_done: int = 0):
        self.label = label
        self.total = total
        self.done = already_done
        self.finished_here = 0
        self.start = time.monotonic()

    def task_done(self, rank: int) -> str:
        self.done += 1
        self.finished_here += 1
        per_task = (time.monotonic() - self.start) / self.finished_here
        left = self.total - self.done
        eta = f", ETA {_duration(per_task * left)}" if left else ""
        line = (
            f"{self.label}: task {rank} done, {self.done}/{self.total} ({100 * self.done // max(self.total, 1)}%), "
            f"{per_task:.1f}s/task{eta}"
        )
        logger.info(line)
        return line


def stage_label(pipeline: list, logging_dir: str) -> str:
    """What an executor calls its tasks (`filter:3` in the Ray dashboard, `filter: task 3 done` in the log): the
    stage name its reader carries, else the stage's output folder (logging_dir is DIR/_logs), else "task"."""
    label = getattr(pipeline[0], "label", None) if pipeline else None
    if isinstance(label, str) and label and label != "read":
        return label
    return Path(str(logging_dir)).parent.name or "task"
