"""Export to datatrove's tokenized files, as DatatroveFolderDataset / DatatroveFileDataset read them
(datatrove/utils/dataset.py) and TokenizedFile writes them (datatrove/pipeline/tokens/tokenizer.py):

    <split>/00000_<split>.ds            the tokens, back to back, little-endian uint16 (token_size 2) or uint32 (4)
    <split>/00000_<split>.ds.index      uint64 per document: its exclusive end, in tokens (cumulative)
    <split>/00000_<split>.ds.metadata   "<tokenizer>|<token_size>", the token count, the count humanized

token_size is 4 when the vocabulary exceeds 65,535 ids, else 2 (datatrove's Tokenizer.token_size rule). One file per
split, one folder per split (the folder dataset takes every .ds under its folder): DatatroveFolderDataset(
"DIR/train", seq_len, token_size=...) reads windows of seq_len + 1 tokens; with return_positions=True positions
restart at each document start, from the .index file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmpipe.export.source import ExportError, Split, write_atomic


def datatrove_token_size(vocab_size: int) -> int:
    return 4 if vocab_size > np.iinfo(np.uint16).max else 2


def _humanized(n: int) -> str:
    try:
        import humanize

        return humanize.metric(n, unit="T")
    except ImportError:
        return f"{n:,} T"


def export_datatrove(split: Split, out: Path, tokenizer_name: str, token_size: int | None = None) -> dict:
    token_size = token_size or datatrove_token_size(split.vocab_size)
    if token_size not in (2, 4) or (token_size == 2 and split.vocab_size > 65536):
        raise ExportError(f"datatrove: cannot store {split.vocab_size:,} token ids in {token_size} bytes")
    dtype = np.dtype("<u2" if token_size == 2 else "<u4")
    folder = out / split.name
    folder.mkdir(parents=True, exist_ok=True)
    name = f"00000_{split.name}.ds"
    write_atomic(folder / name, (c.astype(dtype, copy=False) for c in split.chunks()))
    write_atomic(folder / f"{name}.index", [split.doc_ends().astype("<u8")])
    meta = "\n".join([f"{tokenizer_name}|{token_size}", str(split.num_tokens), _humanized(split.num_tokens)])
    write_atomic(folder / f"{name}.metadata", [meta.encode("utf-8")])
    return {
        "files": [f"{split.name}/{n}" for n in (name, f"{name}.index", f"{name}.metadata")],
        "token_size": token_size,
    }
