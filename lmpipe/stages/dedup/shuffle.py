"""Disk-backed shuffles between dedup phases (their tasks run through lmpipe.core.tasks.TaskRunner).

Every intermediate table carries a `part` column (uint16 slot of a hash, or a task number) and is written sorted
by it, so each Parquet row group covers a narrow range of `part`. A task of the next phase reads only its range
from every file of the previous phase (row-group statistics skip the rest): that is the shuffle, with no process
holding more than its partition and no shared file appended to.

Files may be local paths or object-storage URLs (lmpipe.core.storage): each is built in a local temporary file
and committed whole, and a reader of a URL fetches only the footers and the row groups its range needs, so the
phases' tasks can run on any node of a cluster that shares nothing but the bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lmpipe.core import storage

SLOT_BITS = 12
SLOTS = 1 << SLOT_BITS  # most partitions a phase can use
_U64 = np.uint64


def mix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3 finalizer on uint64 (or int64 reinterpreted): spreads sequential node numbers over slots."""
    h = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        h ^= h >> _U64(33)
        h *= _U64(0xFF51AFD7ED558CCD)
        h ^= h >> _U64(33)
        h *= _U64(0xC4CEB9FE1A85EC53)
        h ^= h >> _U64(33)
    return h


def slot_of_hash(h: np.ndarray) -> np.ndarray:
    return (h >> _U64(64 - SLOT_BITS)).astype(np.uint16)


def slot_of_node(nodes: np.ndarray) -> np.ndarray:
    return slot_of_hash(mix64(nodes))


def slot_range(partition: int, partitions: int) -> tuple[int, int]:
    return partition * SLOTS // partitions, (partition + 1) * SLOTS // partitions


def write_sorted(path: str, table: pa.Table, groups: int = 256) -> int:
    """Write `table` sorted by `part`, atomically, in up to `groups` row groups; returns rows written."""
    table = table.sort_by("part")
    rows_per_group = max(4096, -(-table.num_rows // groups))
    with storage.writing(path) as tmp:
        pq.write_table(table, tmp, row_group_size=rows_per_group, compression="zstd")
    return table.num_rows


class SortedRunWriter:
    """Like `write_sorted` for more rows than fit in memory: each buffered run is sorted and appended as its own
    row groups, so every row group still covers a narrow `part` range (one file, many sorted runs)."""

    def __init__(self, path: str, arrow_schema: pa.Schema, max_rows: int):
        self.path = path
        self.tmp = storage.temp_path_for(path)
        self.schema = arrow_schema
        self.max_rows = max_rows
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0
        self.runs = 0
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        for start in range(0, table.num_rows, self.max_rows):
            piece = table.slice(start, self.max_rows)
            self.buffer.append(piece)
            self.buffered += piece.num_rows
            if self.buffered >= self.max_rows:
                self._flush()

    def _flush(self) -> None:
        if self.writer is None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        if self.buffer:
            run = pa.concat_tables(self.buffer).sort_by("part")
            self.writer.write_table(run, row_group_size=max(4096, -(-run.num_rows // 256)))
            self.rows += run.num_rows
            self.runs += 1
        self.buffer, self.buffered = [], 0

    def close(self) -> int:
        self._flush()
        self.writer.close()
        storage.commit_file(self.tmp, self.path)
        return self.rows


def read_range(files: Sequence[str], lo: int, hi: int, columns: list[str] | None = None) -> pa.Table:
    """Rows with lo <= part < hi from all `files` (missing files are phases' tasks that wrote nothing)."""
    files = storage.existing([str(f) for f in files])
    if not files:
        return None
    dataset = storage.parquet_dataset(files)
    part = ds.field("part")
    return dataset.to_table(columns=columns, filter=(part >= lo) & (part < hi))
