"""Base classes for our own steps. Filters are datatrove's `BaseFilter` (keep, or drop with a named reason);
transforms change documents and never drop one."""

from __future__ import annotations

from abc import abstractmethod

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


class Transform(PipelineStep):
    """Changes a document in place (text or metadata); never removes one."""

    type = "🔧 - TRANSFORM"

    @abstractmethod
    def transform(self, doc: Document) -> None: ...

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                self.transform(doc)
            self.stat_update("documents")
            yield doc
