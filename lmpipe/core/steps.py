"""Base classes for our own steps: a `Filter` keeps a document or drops it with a named reason (datatrove's
`BaseFilter` contract); a `Transform` changes documents and never drops one.

The contract of a step, in the order the task calls it:
- `setup(rank)`: once per task, in the process that runs it, before the first document: load the heavy state
  every document needs here (a model, an index, an earlier run's stored signals for this task). Nothing heavy in
  `__init__`: steps are built in the driver and pickled to the workers. State that only some documents need stays
  lazy, on first use: the URL block lists (documents with a URL) and presidio (texts whose cheap pre-check finds
  a candidate). Loading those in setup made a 16 MB job's filter stage 9 s and its pii stage 26 s slower (eight
  tasks of corpus documents without URLs, mostly without PII candidates).
- score: the step computes its signals and stores them in the document's metadata (with a basis where a later
  run may reuse them: lmpipe.core.signals);
- decide: `filter` / `filter_batch` return keep or (drop, reason) from those stored values only.
- `self.ledger`: the task's Ledger (set by the runner's build_pipeline), where a step may tally or sample what
  the stage's report needs (lmpipe.core.ledger), so that the report never re-reads the stage's outputs.

Both take documents in batches of about BATCH_CHARS characters and add datatrove's counters once per batch:
its per-document stat updates (three or four per document and step, plus a length statistic and a timer) cost
a third of corpus ingest and 4x the decontamination scan on one-line reviews (profiles in docs/BENCHMARKS.md and
docs/bench/decont.md). Vectorized steps (decont) also need the batches for speed.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.utils.typeshelper import StatHints

BATCH_CHARS = 1 << 20  # characters per batch (at least one document)
BATCH_DOCS = 1024  # documents per batch at most


def batched_by_chars(docs: Iterable[Document], max_chars: int, max_docs: int) -> Iterator[list[Document]]:
    """Groups of documents holding about `max_chars` characters of text (at most `max_docs` documents).

    Vectorized steps pay numpy's per-call cost once per batch: a fixed document count gives 60,000 one-line
    reviews 250x less text per call than 8 KB pages, and the speed per byte halves (measured in issue 7's bench).
    """
    batch: list[Document] = []
    append = batch.append
    chars = 0
    for doc in docs:
        append(doc)
        chars += len(doc.text)
        if chars >= max_chars or len(batch) >= max_docs:
            yield batch
            batch, chars = [], 0
            append = batch.append
    if batch:
        yield batch


class Transform(PipelineStep):
    """Changes a document in place (text or metadata); never removes one. Subclasses implement `transform(doc)` or,
    for batch-wise work, `transform_batch(docs)`."""

    type = "🔧 - TRANSFORM"
    ledger = None  # the task's lmpipe.core.ledger.Ledger, set by build_pipeline

    def __init__(self, max_batch_chars: int = BATCH_CHARS, max_batch_docs: int = BATCH_DOCS):
        super().__init__()
        self.max_batch_chars = max_batch_chars
        self.max_batch_docs = max_batch_docs

    def setup(self, rank: int) -> None:
        """Once per task, before its first document: load heavy state (see the module docstring)."""

    @abstractmethod
    def transform(self, doc: Document) -> None: ...

    def transform_batch(self, batch: list[Document]) -> None:
        for doc in batch:
            self.transform(doc)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.setup(rank)
        for batch in batched_by_chars(data, self.max_batch_chars, self.max_batch_docs):
            with self.track_time("batch"):
                self.transform_batch(batch)
            self.stat_update("documents", value=len(batch), unit="batch")
            yield from batch


class Filter(BaseFilter):
    """A `BaseFilter` whose `filter_batch` gets batches sized by characters (see `batched_by_chars`).

    Same contract as datatrove's `BaseFilter.run` (the exclusion writer, `filter_reason`) and the same counters
    (total / forwarded / dropped / dropped_<reason>, added per batch); no per-document `doc_len` statistic.
    Subclasses implement `filter(doc)` or, for batch-wise work, `filter_batch(docs)`.
    """

    ledger = None  # the task's lmpipe.core.ledger.Ledger, set by build_pipeline

    def __init__(self, max_batch_chars: int = BATCH_CHARS, max_batch_docs: int = BATCH_DOCS):
        super().__init__(batch_size=max_batch_docs)
        self.max_batch_chars = max_batch_chars

    def setup(self, rank: int) -> None:
        """Once per task, before its first document: load heavy state (see the module docstring)."""

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.setup(rank)
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for batch in batched_by_chars(data, self.max_batch_chars, self.batch_size):
                with self.track_time("batch"):
                    results = self.filter_batch(batch)
                self.stat_update("batches")
                self.stat_update(StatHints.total, value=len(batch), unit="batch")
                # (index, reason) of the dropped documents; the common case (all kept) costs one test per document
                dropped = [
                    (i, reason)
                    for i, r in enumerate(results)
                    if r is not True
                    for keep, reason in (get_filter_result(r),)
                    if not keep
                ]
                self.stat_update(StatHints.forwarded, value=len(batch) - len(dropped), unit="batch")
                if dropped:
                    self.stat_update(StatHints.dropped, value=len(dropped), unit="batch")
                for reason, n in Counter(reason for _, reason in dropped if reason).items():
                    self.stat_update(f"dropped_{reason}", value=n, unit="batch")
                prev = 0
                for i, reason in dropped:
                    yield from batch[prev:i]
                    prev = i + 1
                    if self.exclusion_writer:
                        if reason:
                            batch[i].metadata["filter_reason"] = reason
                        writer.write(batch[i], rank)
                yield from batch[prev:]
