"""Export to Megatron-LM's indexed dataset (megatron.core.datasets.indexed_dataset): `<split>.bin` + `<split>.idx`.

`.bin`: every document's tokens (EOS included, as `preprocess_data.py --append-eod` writes them), back to back.
`.idx` (little-endian), as `_IndexWriter` writes it and `_IndexReader` reads it:

    9 bytes   b"MMIDIDX\\x00\\x00"
    uint64    version 1
    uint8     dtype code (DType: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16)
    uint64    sequence count S (one sequence per document here)
    uint64    document count D = S + 1 (document_indices starts with 0)
    int32[S]  sequence lengths (tokens)
    int64[S]  sequence pointers (byte offset of each sequence in .bin)
    int64[D]  document indices: 0, 1, ..., S (sequence index at which each document ends)

Megatron has no uint32 code: tokens are uint16 when the vocabulary is below 65,500 (DType.optimal_dtype, as
preprocess_data.py chooses), else int32. Use the data prefix `DIR/<split>` (e.g. --data-path DIR/train).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from lmpipe.export.source import ExportError, Split, write_atomic

MMIDIDX_MAGIC = b"MMIDIDX\x00\x00"
MMIDIDX_VERSION = 1
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def megatron_dtype(vocab_size: int) -> np.dtype:
    """megatron.core's DType.optimal_dtype(vocab_size)."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def export_megatron(split: Split, out: Path, dtype: np.dtype | None = None) -> dict:
    dtype = np.dtype(dtype or megatron_dtype(split.vocab_size))
    if dtype not in DTYPE_CODES or split.vocab_size - 1 > np.iinfo(dtype).max:
        raise ExportError(f"megatron: cannot store {split.vocab_size:,} token ids as {dtype}")
    lengths = split.doc_lengths
    if int(lengths.max()) > np.iinfo(np.int32).max:
        raise ExportError("megatron: a document longer than 2**31 - 1 tokens (sequence lengths are int32)")
    bin_path, idx_path = out / f"{split.name}.bin", out / f"{split.name}.idx"
    write_atomic(bin_path, (c.astype(dtype.newbyteorder("<"), copy=False) for c in split.chunks()))
    pointers = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype("<i8") * dtype.itemsize
    header = MMIDIDX_MAGIC + struct.pack("<Q", MMIDIDX_VERSION) + struct.pack("<B", DTYPE_CODES[dtype])
    header += struct.pack("<Q", len(lengths)) + struct.pack("<Q", len(lengths) + 1)
    write_atomic(
        idx_path,
        [header, lengths.astype("<i4"), pointers, np.arange(len(lengths) + 1, dtype="<i8")],
    )
    return {"files": [bin_path.name, idx_path.name], "token_dtype": dtype.name, "prefix": split.name}
