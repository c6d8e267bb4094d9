"""Stages for testing the runner itself (kills, retries, resumption). Importable by Ray workers, unlike tests/."""

from __future__ import annotations

import time
from dataclasses import dataclass

from datatrove.data import Document

from lmpipe.core.runner import Stage
from lmpipe.core.steps import Transform


@dataclass(frozen=True)
class SlowConfig:
    seconds_per_doc: float = 0.0  # sleep per document, so that a test has time to kill a worker midway


class Sleep(Transform):
    name = "sleep"

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def transform(self, doc: Document) -> None:
        time.sleep(self.seconds)


SLOW_STAGE = Stage(
    "slow", "passes documents through, slowly (tests only)", SlowConfig, lambda c: [Sleep(c.seconds_per_doc)]
)
