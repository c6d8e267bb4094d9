"""The pack stage's output as the exporters read it: one split's token stream, its documents, checked.

A split is its shards in order (lmpipe.trainer.shards.ShardSet, every header asserted) plus
shards/index-<split>.parquet (id, shard, offset, n_tokens of every document, in stream order). Before anything is
written the two are asserted to agree: document lengths sum to the split's tokens, each (shard, offset) is where the
running sum puts the document, and every document ends with EOS. Exporters then copy the stream in chunks (memory
stays bounded) and take document boundaries from the lengths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from lmpipe.trainer.shards import SPLITS, ShardError, ShardSet, read_manifest, shards_dir

COPY_CHUNK_TOKENS = 1 << 24  # 64 MiB of uint32 per write


class ExportError(ValueError):
    """The pack output cannot be exported as asked (missing index, disagreeing index and shards, too large)."""


@dataclass
class Split:
    name: str
    shards: ShardSet
    doc_lengths: np.ndarray  # int64, tokens of each document (EOS included), in stream order
    ids: list[str]

    @property
    def num_tokens(self) -> int:
        return self.shards.num_tokens

    @property
    def num_documents(self) -> int:
        return len(self.doc_lengths)

    @property
    def vocab_size(self) -> int:
        return self.shards.vocab_size

    @property
    def eos_id(self) -> int:
        return self.shards.eos_id

    def doc_ends(self) -> np.ndarray:
        """Exclusive end of each document in the split's stream (int64)."""
        return np.cumsum(self.doc_lengths, dtype=np.int64)

    def chunks(self, shard: int | None = None) -> Iterator[np.ndarray]:
        """The stream (or one shard of it) in order, as uint32 chunks of at most COPY_CHUNK_TOKENS."""
        tokens = self.shards.tokens if shard is None else [self.shards.tokens[shard]]
        for t in tokens:
            for lo in range(0, len(t), COPY_CHUNK_TOKENS):
                yield np.asarray(t[lo : lo + COPY_CHUNK_TOKENS])


def load_split(pack_dir: str | os.PathLike, split: str) -> Split | None:
    """One split of a pack output folder (or its shards/ folder), checked; None if the split has no documents."""
    if split not in SPLITS:
        raise ExportError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
    folder = shards_dir(pack_dir)
    if read_manifest(folder) is None:
        raise ExportError(f"{folder}: no pack.json: not the output of the pack stage")
    index_path = folder / f"index-{split}.parquet"
    if not index_path.is_file():
        raise ExportError(f"{index_path}: missing (the pack stage writes one document index per split)")
    shards = ShardSet(folder, split)
    index = pq.read_table(index_path, columns=["id", "shard", "offset", "n_tokens"])
    lengths = index.column("n_tokens").to_numpy().astype(np.int64)
    if len(lengths) == 0:
        if shards.num_tokens:
            raise ExportError(f"{index_path}: no documents, but the {split} shards hold {shards.num_tokens} tokens")
        return None
    _check_index(index_path, shards, lengths, index.column("shard").to_numpy(), index.column("offset").to_numpy())
    return Split(split, shards, lengths, index.column("id").to_pylist())


def _check_index(path: Path, shards: ShardSet, lengths, shard_of, offset_of) -> None:
    if (lengths < 1).any() or int(lengths.sum()) != shards.num_tokens:
        raise ExportError(
            f"{path}: document lengths sum to {int(lengths.sum()):,} tokens, the {shards.headers[0].split} shards "
            f"hold {shards.num_tokens:,}: index and shards of different packs"
        )
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    shard_starts = np.concatenate([[0], np.cumsum([h.num_tokens for h in shards.headers])[:-1]]).astype(np.int64)
    if (shard_of < 0).any() or (shard_of >= len(shards.paths)).any():
        raise ExportError(f"{path}: shard numbers outside 0..{len(shards.paths) - 1}")
    if not np.array_equal(shard_starts[shard_of] + offset_of, starts):
        raise ExportError(f"{path}: document offsets disagree with their lengths: index and shards of different packs")
    # every document's last token is EOS: look each end up in its shard
    ends = starts + lengths - 1
    which = np.searchsorted(shard_starts, ends, side="right") - 1
    for s in np.unique(which):
        at = ends[which == s] - shard_starts[s]
        if not (np.asarray(shards.tokens[s][at]) == shards.eos_id).all():
            raise ShardError(f"{shards.paths[s]}: a document of {path.name} does not end with EOS {shards.eos_id}")


def write_atomic(path: Path, chunks) -> int:
    """Write byte chunks to `path` via a temporary name; returns the bytes written."""
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "wb") as f:
        for c in chunks:
            b = c.tobytes() if isinstance(c, np.ndarray) else c
            f.write(b)
            n += len(b)
    os.replace(tmp, path)
    return n
