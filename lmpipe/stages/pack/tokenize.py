"""Tokenizing one part file of kept documents into a token file (the shard format) and a document index.

Runs once per `data/part-<task>.parquet` of the pack stage, in the driver or as a Ray task. Outputs, atomically:

    _pack/tokens/part-<task>.bin       every document's tokens then EOS, in file order (lmpipe.trainer.shards format)
    _pack/tokens/part-<task>.parquet   id, n_tokens (EOS included) per document, in the same order

A re-run with the same tokenizer finds both files and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from lmpipe.core import slices
from lmpipe.trainer.shards import ShardHeader, read_header, write_shard

BATCH_DOCS = 1_000  # documents per encode_batch call (the Rust side parallelizes within a batch)
INDEX_SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("n_tokens", pa.int64())])


class TokenizerError(ValueError):
    pass


@dataclass(frozen=True)
class TokenizerInfo:
    path: str
    sha256: str
    vocab_size: int
    eos_id: int


def load_tokenizer(path: str, eos_token: str):
    """Our tokenizer as every part of the project encodes with it (lmpipe.tokenizer.load.load_tokenizer: the
    same pre-tokenizer choice, literal special-token strings encoded as text so data cannot forge a document
    boundary), and the id of `eos_token`."""
    from lmpipe.tokenizer.load import load_tokenizer as load_project_tokenizer

    if not Path(path).is_file():
        raise TokenizerError(f"no tokenizer at {path} (set pack.tokenizer=PATH/tokenizer.json)")
    tok = load_project_tokenizer(path)
    eos_id = tok.token_to_id(eos_token)
    if eos_id is None:
        raise TokenizerError(f"{path} has no token {eos_token!r}; set pack.eos_token to its end-of-text token")
    return tok, eos_id


def tokenize_part(part: str, index_file: str, info: TokenizerInfo, eos_token: str, verify: bool) -> dict:
    """Tokenize one part file (local or a URL) into `index_file` (ids, token counts) and the .bin beside it;
    returns {documents, tokens, roundtrip_mismatches, cached}."""
    index_path = Path(index_file)
    bin_path = index_path.with_suffix(".bin")
    out_dir = index_path.parent
    if bin_path.exists() and index_path.exists():
        header = read_header(bin_path)
        if header.tokenizer_sha256 == info.sha256 and header.num_documents == pq.read_metadata(index_path).num_rows:
            return {
                "documents": header.num_documents,
                "tokens": header.num_tokens,
                "roundtrip_mismatches": 0,
                "cached": True,
            }
    tok, eos_id = load_tokenizer(info.path, eos_token)
    ids: list[str] = []
    lengths: list[int] = []
    chunks: list[np.ndarray] = []
    mismatches = 0
    parquet = slices.open_parquet(part)
    for batch in parquet.iter_batches(batch_size=BATCH_DOCS, columns=["id", "text"]):
        texts = batch.column("text").to_pylist()
        encodings = tok.encode_batch_fast(texts, add_special_tokens=False)
        for doc_id, text, enc in zip(batch.column("id").to_pylist(), texts, encodings):
            tokens = np.empty(len(enc.ids) + 1, dtype=np.uint32)
            tokens[:-1] = enc.ids
            tokens[-1] = eos_id
            if verify and tok.decode(enc.ids, skip_special_tokens=False) != text:
                mismatches += 1
                if mismatches <= 5:
                    logger.warning(f"pack: {doc_id!r} does not detokenize to its text (tokenizer normalizes?)")
            ids.append(doc_id)
            lengths.append(len(tokens))
            chunks.append(tokens)
    tokens = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint32)
    header = ShardHeader(
        num_tokens=len(tokens),
        num_documents=len(ids),
        vocab_size=info.vocab_size,
        eos_id=info.eos_id,
        seq_len=1,  # an intermediate file: not packed into sequences yet
        split="train",
        shard_index=0,
        tokenizer_sha256=info.sha256,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_shard(bin_path, tokens, header)
    tmp = index_path.with_name(index_path.name + ".tmp")
    pq.write_table(pa.table({"id": ids, "n_tokens": lengths}, schema=INDEX_SCHEMA), tmp, compression="zstd")
    tmp.replace(index_path)
    return {"documents": len(ids), "tokens": len(tokens), "roundtrip_mismatches": mismatches, "cached": False}
