"""Token shards: the on-disk format the `pack` stage writes and the training loop memory-maps.

A shard is one file, llm.c-style: a header of 256 little-endian int32 (1024 bytes), then the tokens as uint32
(the vocabulary exceeds 65,535). The first three header fields are llm.c's own (magic 20240520, version 2 = uint32
tokens, token count), so llm.c's data loader reads our shards unchanged; the fields after them are ours and
the reader here asserts every one:

    int32 index  field
    0            20240520 (llm.c magic)
    1            2 (llm.c version: tokens are uint32)
    2            number of tokens in this shard
    3            PACK_MAGIC ("KOEN" as int32): written by this project, not only by llm.c
    4            FORMAT_VERSION of our fields
    5            bytes per token (4)
    6            documents that end in this shard (count of EOS tokens)
    7            vocabulary size of the tokenizer (every token id is below it)
    8            EOS token id
    9            sequence length the shard was packed for (token count is a multiple of it)
    10           split (0 train, 1 validation)
    11           shard index within its split
    12..19       sha256 of the tokenizer.json file (32 bytes)
    20..255      zero

Each shard is a contiguous stream of documents, each followed by EOS, in the shuffled order chosen by the
stage; a document may continue in the next shard of its split. Training sample i of a shard is
tokens[i*L : i*L + L + 1] (input = the first L, target = the last L): (n - 1) // L samples per shard of n tokens.

Opening a split (ShardSet) asserts, before any sample is read: each file's size against its header's token count;
every header field's range (eos_id below vocab_size, ...); seq_len, vocab_size, eos_id and tokenizer hash equal
across the split's shards and equal to shards/pack.json's where it exists, and the split's shard, token and
document counts equal to pack.json's; every shard but the last a whole number of seq_len sequences; every token id
below vocab_size and num_documents EOS tokens (one chunked pass over the memory map). A failure is a ShardError
naming the file and the field. The format and the exports to other trainers: docs/FORMATS.md.

Only numpy and the standard library: the training machine cannot install the pipeline's dependencies.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LLMC_MAGIC = 20240520
LLMC_VERSION_UINT32 = 2
PACK_MAGIC = int.from_bytes(b"KOEN", "little")
FORMAT_VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_DTYPE = np.dtype("<u4")
SPLITS = ("train", "val")
MAX_SHARD_TOKENS = 2**31 - 1  # the token count is an int32 field (as in llm.c)
# int32 index of each header field (the table above)
HEADER_FIELDS = {
    "num_tokens": 2,
    "num_documents": 6,
    "vocab_size": 7,
    "eos_id": 8,
    "seq_len": 9,
    "split": 10,
    "shard_index": 11,
}
CHECK_CHUNK_TOKENS = 1 << 24  # token-id checks at open read the memory map in chunks of 64 MiB
MANIFEST = "pack.json"  # the pack stage's manifest beside the shards


class ShardError(ValueError):
    """A shard that must not be trained on: wrong header, truncated file, or shards that disagree."""


@dataclass(frozen=True)
class ShardHeader:
    num_tokens: int
    num_documents: int
    vocab_size: int
    eos_id: int
    seq_len: int
    split: str
    shard_index: int
    tokenizer_sha256: str  # hex

    def to_array(self) -> np.ndarray:
        header = np.zeros(HEADER_INTS, dtype="<i4")
        header[:12] = [
            LLMC_MAGIC,
            LLMC_VERSION_UINT32,
            self.num_tokens,
            PACK_MAGIC,
            FORMAT_VERSION,
            TOKEN_DTYPE.itemsize,
            self.num_documents,
            self.vocab_size,
            self.eos_id,
            self.seq_len,
            SPLITS.index(self.split),
            self.shard_index,
        ]
        header[12:20] = np.frombuffer(bytes.fromhex(self.tokenizer_sha256), dtype="<i4")
        return header


def file_sha256(path: str | os.PathLike) -> str:
    """The tokenizer hash recorded in shards: sha256 of the tokenizer.json bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}.bin"


def write_shard(path: str | os.PathLike, tokens: np.ndarray, header: ShardHeader) -> None:
    """Write atomically (temporary name, then rename); asserts the tokens agree with the header."""
    tokens = np.ascontiguousarray(tokens, dtype=TOKEN_DTYPE)
    if len(tokens) != header.num_tokens or header.num_tokens > MAX_SHARD_TOKENS:
        raise ShardError(f"{path}: {len(tokens)} tokens, header says {header.num_tokens} (max {MAX_SHARD_TOKENS})")
    if len(tokens) and int(tokens.max()) >= header.vocab_size:
        raise ShardError(f"{path}: token id {int(tokens.max())} outside vocabulary of {header.vocab_size}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(header.to_array().tobytes())
        tokens.tofile(f)  # no bytes copy of a 256 MB shard
    os.replace(tmp, path)


def read_header(path: str | os.PathLike) -> ShardHeader:
    """Read and assert a shard's header, and that the file holds exactly the tokens it announces."""
    path = Path(path)
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise ShardError(f"{path}: {size} bytes, shorter than the {HEADER_BYTES}-byte header (truncated?)")
    h = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if h[0] != LLMC_MAGIC or h[3] != PACK_MAGIC:
        raise ShardError(f"{path}: not a token shard (magic {h[0]}/{h[3]}, expected {LLMC_MAGIC}/{PACK_MAGIC})")
    if h[1] != LLMC_VERSION_UINT32 or h[4] != FORMAT_VERSION or h[5] != TOKEN_DTYPE.itemsize:
        raise ShardError(
            f"{path}: unsupported shard version {h[1]}.{h[4]} with {h[5]}-byte tokens "
            f"(this reader: {LLMC_VERSION_UINT32}.{FORMAT_VERSION}, uint32)"
        )
    for bad, field, why in (
        (h[2] < 0, "num_tokens", "negative"),
        (h[6] < 0, "num_documents", "negative"),
        (h[7] <= 0, "vocab_size", "not positive"),
        (not 0 <= h[8] < h[7], "eos_id", f"not in [0, vocab_size {int(h[7])})"),
        (h[9] <= 0, "seq_len", "not positive"),
        (not 0 <= h[10] < len(SPLITS), "split", f"not one of 0..{len(SPLITS) - 1}"),
        (h[11] < 0, "shard_index", "negative"),
    ):
        if bad:
            raise ShardError(f"{path}: corrupt header field {field} = {int(h[HEADER_FIELDS[field]])} ({why})")
    expected = HEADER_BYTES + int(h[2]) * TOKEN_DTYPE.itemsize
    if size != expected:
        raise ShardError(
            f"{path}: {size} bytes, header announces {int(h[2]):,} tokens = {expected} bytes "
            f"({'truncated' if size < expected else 'trailing bytes'})"
        )
    return ShardHeader(
        num_tokens=int(h[2]),
        num_documents=int(h[6]),
        vocab_size=int(h[7]),
        eos_id=int(h[8]),
        seq_len=int(h[9]),
        split=SPLITS[int(h[10])],
        shard_index=int(h[11]),
        tokenizer_sha256=h[12:20].astype("<i4").tobytes().hex(),
    )


def check_tokens(path: str | os.PathLike, tokens: np.ndarray, header: ShardHeader) -> None:
    """Assert the tokens against their header: every id below `vocab_size`, and `num_documents` EOS tokens.

    One sequential pass over the memory map in chunks (memory stays bounded; about a second per GiB of tokens)."""
    eos = 0
    for lo in range(0, len(tokens), CHECK_CHUNK_TOKENS):
        chunk = tokens[lo : lo + CHECK_CHUNK_TOKENS]
        top = int(chunk.max())
        if top >= header.vocab_size:
            at = lo + int(np.argmax(chunk >= header.vocab_size))
            raise ShardError(
                f"{path}: token id {int(tokens[at])} at token {at} is not below header field vocab_size "
                f"{header.vocab_size} (corrupt tokens or vocab_size)"
            )
        eos += int(np.count_nonzero(chunk == header.eos_id))
    if eos != header.num_documents:
        raise ShardError(
            f"{path}: header field num_documents {header.num_documents}, but the shard holds {eos} EOS tokens "
            f"(eos_id {header.eos_id})"
        )


def open_tokens(path: str | os.PathLike, *, check: bool = True) -> np.ndarray:
    """The shard's tokens, memory-mapped read-only, after asserting the header against the file size and (with
    `check`, the default) the token ids against the header (check_tokens)."""
    header = read_header(path)
    if header.num_tokens == 0:
        return np.zeros(0, dtype=TOKEN_DTYPE)
    tokens = np.memmap(path, dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(header.num_tokens,))
    if check:
        check_tokens(path, tokens, header)
    return tokens


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The pack stage's shards/pack.json in `folder`, or None where there is none."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ShardError(f"{path}: unreadable pack manifest ({e})") from e
    if not isinstance(manifest, dict):
        raise ShardError(f"{path}: pack manifest is not a JSON object")
    return manifest


def shards_dir(data: str | os.PathLike) -> Path:
    """Accept the pack stage's output folder or its `shards/` folder."""
    data = Path(data)
    return data / "shards" if (data / "shards").is_dir() else data


class ShardSet:
    """All shards of one split in a folder, checked to agree with each other (and with a tokenizer, if given)."""

    def __init__(self, data: str | os.PathLike, split: str, tokenizer_sha256: str | None = None):
        folder = shards_dir(data)
        paths = sorted(folder.glob(f"{split}-*.bin"))
        if not paths:
            raise ShardError(f"no {split} shards ({split}-*.bin) in {folder}")
        self.paths = paths
        self.headers = [read_header(p) for p in paths]
        first = self.headers[0]
        for path, h, i in zip(paths, self.headers, range(len(paths))):
            if h.split != split or h.shard_index != i:
                raise ShardError(f"{path}: header says {h.split} shard {h.shard_index}, file name {split} shard {i}")
            for field in ("seq_len", "vocab_size", "eos_id", "tokenizer_sha256"):
                if getattr(h, field) != getattr(first, field):
                    raise ShardError(
                        f"{path}: header field {field} {getattr(h, field)!r} differs from {paths[0].name}'s "
                        f"{getattr(first, field)!r}: corrupt header or shards of different packs"
                    )
            # every shard but a split's last holds whole sequences (the pack stage's sequences_per_shard * seq_len)
            if i < len(paths) - 1 and h.num_tokens % h.seq_len:
                raise ShardError(
                    f"{path}: header field num_tokens {h.num_tokens} is no multiple of header field seq_len "
                    f"{h.seq_len} (only a split's last shard may hold a partial sequence)"
                )
        self._check_manifest(folder, split)
        if tokenizer_sha256 is not None and tokenizer_sha256 != first.tokenizer_sha256:
            raise ShardError(
                f"shards in {folder} were made with tokenizer sha256 {first.tokenizer_sha256[:16]}..., "
                f"not the given tokenizer ({tokenizer_sha256[:16]}...)"
            )
        self.vocab_size = first.vocab_size
        self.eos_id = first.eos_id
        self.tokenizer_sha256 = first.tokenizer_sha256
        self.tokens = [open_tokens(p) for p in paths]
        self.num_tokens = sum(h.num_tokens for h in self.headers)
        self.num_documents = sum(h.num_documents for h in self.headers)

    def _check_manifest(self, folder: Path, split: str) -> None:
        """Assert the headers against the pack manifest (shards/pack.json), where there is one."""
        manifest = read_manifest(folder)
        if manifest is None:
            return
        where = folder / MANIFEST
        first = self.headers[0]
        for field in ("seq_len", "vocab_size", "eos_id", "tokenizer_sha256"):
            if field in manifest and manifest[field] != getattr(first, field):
                raise ShardError(
                    f"{self.paths[0]}: header field {field} {getattr(first, field)!r}, but {where} says "
                    f"{manifest[field]!r}"
                )
        expected = (manifest.get("splits") or {}).get(split) or {}
        found = {
            "shards": len(self.paths),
            "tokens": sum(h.num_tokens for h in self.headers),
            "documents": sum(h.num_documents for h in self.headers),
        }
        for key, value in found.items():
            if key in expected and expected[key] != value:
                raise ShardError(
                    f"{folder}: the {split} shards hold {value:,} {key}, {where} says {expected[key]:,} "
                    f"(missing, truncated or extra shard files?)"
                )

    def samples(self, seq_len: int) -> np.ndarray:
        """(shard, start) of every training sample of `seq_len` (+1 target token), as an int64 array (n, 2)."""
        parts = []
        for s, h in enumerate(self.headers):
            n = max(0, (h.num_tokens - 1) // seq_len)
            parts.append(np.stack([np.full(n, s, dtype=np.int64), np.arange(n, dtype=np.int64) * seq_len], 1))
        return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)


class SequenceLoader:
    """Batches of (seq_len + 1)-token samples in a seeded order that is a pure function of the batch number.

    Epoch e visits every sample once, in permutation `default_rng([seed, e])`; batch b of the whole run is the
    b-th slice of that order, and rank r of `world` takes rows r::world of it. So resuming needs only the batch
    number, and every rank sees disjoint samples.
    """

    def __init__(self, shards: ShardSet, seq_len: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.shards, self.seq_len, self.seed = shards, seq_len, seed
        self.rank, self.world = rank, world
        self.batch_size = batch_size  # per rank
        self.index = shards.samples(seq_len)
        self.global_batch = batch_size * world
        if len(self.index) < self.global_batch:
            raise ShardError(
                f"{len(self.index)} samples of {seq_len + 1} tokens in the {shards.headers[0].split} shards, "
                f"fewer than one batch of {self.global_batch}: pack more data or use a smaller batch/sequence"
            )
        self.batches_per_epoch = len(self.index) // self.global_batch
        self._order_epoch, self._order = -1, None

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if epoch != self._order_epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.index))
            self._order_epoch = epoch
        return self._order

    def batch(self, b: int) -> np.ndarray:
        """Batch number `b` (0-based, over the whole run) for this rank: int64 array (batch_size, seq_len + 1)."""
        epoch, i = divmod(b, self.batches_per_epoch)
        rows = self._epoch_order(epoch)[i * self.global_batch : (i + 1) * self.global_batch]
        rows = rows[self.rank :: self.world]
        out = np.empty((len(rows), self.seq_len + 1), dtype=np.int64)
        for j, (s, start) in enumerate(self.index[rows]):
            out[j] = self.shards.tokens[s][start : start + self.seq_len + 1]
        return out

    def fixed_batches(self, n: int) -> list[np.ndarray]:
        """The first `n` batches in file order (no shuffling), for a validation loss comparable across runs."""
        rows_per_batch = self.global_batch
        n = min(n, len(self.index) // rows_per_batch)
        batches = []
        for b in range(n):
            rows = np.arange(b * rows_per_batch, (b + 1) * rows_per_batch)[self.rank :: self.world]
            batch = np.empty((len(rows), self.seq_len + 1), dtype=np.int64)
            for j, (s, start) in enumerate(self.index[rows]):
                batch[j] = self.shards.tokens[s][start : start + self.seq_len + 1]
            batches.append(batch)
        return batches
