"""Export to llm.c's token files: 256 int32 header (magic 20240801, version 7, token count), then uint32 tokens.

The layout is llm.c's `write_datafile(..., model_desc="llama-3")` (dev/data/data_common.py, HEADERS_INFO) and what
its loader accepts (llmc/dataloader.h `dataloader_load_shard_` on the llama3 branch: magic 20240801 needs version
7 and means uint32 tokens; count > 0; file size == 1024 + 4 * count). One file per pack shard,
`<split>_<NNNNNN>.bin`, in the split's order; documents are separated by EOS as in the shards and one may continue
in the next file, exactly as in llm.c's own FineWeb shards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmpipe.export.source import Split, write_atomic

LLMC_MAGIC_UINT32 = 20240801  # llm.c "llama-3" data file
LLMC_VERSION_UINT32 = 7
LLMC_HEADER_INTS = 256
LLMC_MAX_TOKENS = 2**31 - 1  # the count is an int32 (write_datafile asserts len(toks) < 2**31)


def llmc_header(num_tokens: int) -> np.ndarray:
    header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
    header[:3] = [LLMC_MAGIC_UINT32, LLMC_VERSION_UINT32, num_tokens]
    return header


def llmc_name(split: str, index: int) -> str:
    return f"{split}_{index:06d}.bin"


def export_llmc(split: Split, out: Path) -> dict:
    for old in out.glob(f"{split.name}_[0-9]*.bin"):  # llm.c globs the folder: no file of an older export may stay
        old.unlink()
    files = []
    for s, h in enumerate(split.shards.headers):
        if h.num_tokens == 0:
            continue  # llm.c asserts a positive token count per file
        path = out / llmc_name(split.name, len(files))
        write_atomic(path, [llmc_header(h.num_tokens), *(c.astype("<u4", copy=False) for c in split.chunks(s))])
        files.append(path.name)
    return {"files": files, "token_dtype": "uint32", "magic": LLMC_MAGIC_UINT32, "version": LLMC_VERSION_UINT32}
