"""Large Parquet files read by several tasks: a file's row groups split into slices of about `bytes_per_task`.

An input entry is a file path (or URL), or a slice of a Parquet file written `PATH#row_groups=A-B` (row groups A
to B-1). Slices are made in the driver from the file's footer alone (`split_large_parquet`, one small read per
large file, a range request in object storage), only when `run.bytes_per_task` is set; every reader of an entry
(the stage's CorpusReader, dedup's signature phase) reads only its row groups, numbering rows from the file's
start, so documents, ids and skip records are those of an unsplit run.
"""

from __future__ import annotations

import re

import pyarrow.parquet as pq

from lmpipe.core import storage

_SLICE = re.compile(r"^(?P<file>.+)#row_groups=(?P<start>\d+)-(?P<stop>\d+)$")


def parse(entry: str) -> tuple[str, range | None]:
    """(file, row groups) of an input entry; None for the whole file."""
    m = _SLICE.match(entry)
    if m is None:
        return entry, None
    return m.group("file"), range(int(m.group("start")), int(m.group("stop")))


def file_of(entry: str) -> str:
    return parse(entry)[0]


def open_parquet(path: str) -> pq.ParquetFile:
    """A Parquet file, local or in object storage (read by range requests: only the footer and the row groups
    asked for travel)."""
    return pq.ParquetFile(storage.open_read(path) if storage.is_url(path) else path)


def _group_bytes(meta: pq.FileMetaData, i: int) -> int:
    rg = meta.row_group(i)
    return sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))


def split_large_parquet(entries: list[str], bytes_per_task: int | None) -> list[str]:
    """`entries` with every Parquet file larger than `bytes_per_task` replaced by slices of consecutive row
    groups of about that size (a row group is never split). Unchanged when bytes_per_task is None."""
    if bytes_per_task is None:
        return entries
    out = []
    for entry in entries:
        path, groups = parse(entry)
        if groups is not None or not path.lower().endswith(".parquet") or storage.size(path) <= bytes_per_task:
            out.append(entry)
            continue
        try:
            meta = open_parquet(path).metadata
        except Exception:  # noqa: BLE001 - a damaged file: its reader records the skip, as for an unsplit run
            out.append(entry)
            continue
        start, size = 0, 0
        for i in range(meta.num_row_groups):
            size += _group_bytes(meta, i)
            if size >= bytes_per_task or i == meta.num_row_groups - 1:
                out.append(f"{path}#row_groups={start}-{i + 1}")
                start, size = i + 1, 0
        if meta.num_row_groups == 0:
            out.append(entry)
    return out


def first_row(parquet: pq.ParquetFile, groups: range) -> int:
    """Rows in the row groups before `groups` (the file-wide number of the slice's first row)."""
    return sum(parquet.metadata.row_group(i).num_rows for i in range(groups.start))
