"""Writing a stage's outputs: kept documents and excluded documents, as Parquet (zstd), atomically.

Each task writes its own files (`data/part-<task>.parquet`, `excluded/<step>-<task>.parquet`) under a temporary name
and renames them when its stream is exhausted, so an interrupted task leaves no half file behind and its re-run
overwrites exactly what it would have written.
"""

from __future__ import annotations

import time

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from lmpipe.core import schema, storage
from lmpipe.core.ledger import Ledger

ROWS_PER_GROUP = 2_000  # row groups of a few MB: readers can stream them without holding a file in memory

# Metadata an ExcludedWriter keeps without text (keep_text=False, --no-excluded-text): the pipeline's own codes,
# scores and hashes, enough for per-language accounting (the filter report). Everything else is left out with the
# text: input fields carried as metadata and the URL (its path and query can hold e-mails, phones ...) may hold
# PII, and excluded documents never reach the pii stage. DOMAIN goes with the URL (a personal blog's host).
EXCLUDED_METADATA_WITHOUT_TEXT = (
    schema.SOURCE,
    schema.LANG,
    schema.LANG_SCORE,
    schema.QUALITY_SCORE,
    schema.CRAWL_DATE,
    schema.DEDUP_CLUSTER,
)


class _AtomicParquet:
    """One Parquet file built under a temporary name and published whole (lmpipe.core.storage.commit_file): a
    rename on a local disk, one upload to object storage, where an object appears complete or not at all."""

    def __init__(self, path: str, arrow_schema: pa.Schema):
        self.path = path
        # pid in the name: after a worker is killed, an orphaned process of the old attempt may still be writing
        # while the retry writes; each writes its own temporary file, and the rename of either is atomic.
        self.tmp = storage.temp_path_for(path)
        self.schema = arrow_schema
        self.writer: pq.ParquetWriter | None = None

    def write_table(self, table: pa.Table) -> None:
        if self.writer is None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        self.writer.write_table(table)

    def commit(self) -> None:
        if self.writer is not None:
            self.writer.close()
            storage.commit_file(self.tmp, self.path)
        else:
            storage.remove(self.path)  # this task now writes nothing here: an older file must not survive

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.tmp.unlink(missing_ok=True)


class ExcludedWriter:
    """Exclusion writer for one filter step (datatrove's `exclusion_writer` protocol: a context manager with
    `write(doc, rank)`). Records the drop in the task's ledger and in `DIR/excluded/<step>-<task>.parquet`.

    `keep_text=False`: rows hold id, stage, reason, bytes, source and lang; no text, no url, and `metadata_json`
    only the keys of EXCLUDED_METADATA_WITHOUT_TEXT (null when none)."""

    def __init__(self, output_dir: str, step: str, stage: str, ledger: Ledger, keep_text: bool = True, account=None):
        self.output_dir = output_dir
        self.step = step
        self.stage = stage
        self.ledger = ledger
        self.keep_text = keep_text
        self.account = account  # Stage.account bound to its config: what the stage's report gathers
        self._file: _AtomicParquet | None = None
        self._buffer: list[Document] = []

    def __enter__(self) -> ExcludedWriter:
        return self

    def write(self, doc: Document, rank: int = 0, **_) -> None:
        if self._file is None:
            self._file = _AtomicParquet(
                storage.join(self.output_dir, "excluded", f"{self.step}-{rank:05d}.parquet"), schema.EXCLUDED_SCHEMA
            )
        # datatrove filters put their reason in "filter_reason"; ours name it with a constant.
        reason = doc.metadata.pop("filter_reason", None) or doc.metadata.get(schema.DROP_REASON)
        doc.metadata[schema.DROP_REASON] = reason or f"{self.step}.unnamed"
        doc.metadata[schema.DROP_STAGE] = self.stage
        self.ledger.exclude(doc.metadata[schema.DROP_REASON], schema.text_bytes(doc))
        if self.account is not None:
            self.account(doc, False, self.keep_text, self.ledger)
        self._buffer.append(doc)
        if len(self._buffer) >= ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            table = schema.excluded_to_table(self._buffer, self.keep_text)
            if not self.keep_text:
                table = table.set_column(
                    table.schema.get_field_index("metadata_json"),
                    schema.EXCLUDED_SCHEMA.field("metadata_json"),
                    pa.array([_metadata_without_text(d) for d in self._buffer], pa.string()),
                )
            self._file.write_table(table)
            self._buffer = []

    def __exit__(self, exc_type, *_) -> None:
        if self._file is None:
            return
        if exc_type is None:
            self._flush()
            self._file.commit()
        else:
            self._file.abort()
        self._file = None


def _metadata_without_text(doc: Document) -> str | None:
    keys = [k for k in EXCLUDED_METADATA_WITHOUT_TEXT if k not in schema.EXCLUDED_COLUMN_KEYS]  # those are columns
    kept = {k: doc.metadata[k] for k in keys if doc.metadata.get(k) is not None}
    return orjson.dumps(kept, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode() if kept else None


class DocumentWriter(PipelineStep):
    """Last step of a stage: writes kept documents to `DIR/data/part-<task>.parquet`, then saves the task's ledger."""

    name = "parquet writer"
    type = "💽 - WRITER"

    def __init__(self, output_dir: str, ledger: Ledger, account=None):
        super().__init__()
        self.output_dir = output_dir
        self.ledger = ledger
        self.account = account  # Stage.account bound to its config: what the stage's report gathers

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = _AtomicParquet(storage.join(self.output_dir, "data", f"part-{rank:05d}.parquet"), schema.DOCUMENT_SCHEMA)
        buffer: list[Document] = []
        try:
            account = self.account
            for doc in data:
                self.ledger.docs_out += 1
                self.ledger.bytes_out += schema.text_bytes(doc)
                if account is not None:
                    account(doc, True, True, self.ledger)
                buffer.append(doc)
                if len(buffer) >= ROWS_PER_GROUP:
                    out.write_table(schema.documents_to_table(buffer))
                    # counted per row group, not per document: see lmpipe.core.steps
                    self.stat_update("documents", value=len(buffer), unit="row group")
                    buffer = []
            if buffer:
                out.write_table(schema.documents_to_table(buffer))
                self.stat_update("documents", value=len(buffer), unit="row group")
        except BaseException:
            out.abort()
            raise
        out.commit()
        self.ledger.save(
            storage.join(self.output_dir, "_ledger", f"{rank:05d}.json"), time.monotonic() - self.ledger.started
        )
        yield from ()
