"""Progress of a long task: a tqdm bar on a terminal, periodic log lines elsewhere (Ray job logs, CI)."""

from __future__ import annotations

import sys
import time

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
