"""The whole-dataset half of the `pack` stage (its finalize): tokenize the kept documents, split, shuffle, and
write the shards. See lmpipe.stages.pack.stage for the steps and lmpipe.trainer.shards for the format.

The tasks (tokenize, scatter, shuffle, one per shard) read and write the stage's location through
lmpipe.core.storage, a bucket too, so they run on any node; the driver only writes the document index and
pack.json (in its local folder, published with the stage)."""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from lmpipe.core import slices, storage
from lmpipe.core.ledger import write_json_atomic
from lmpipe.core.runner import StageError
from lmpipe.core.tasks import TaskRunner
from lmpipe.stages.pack.config import PackConfig
from lmpipe.stages.pack.tokenize import TokenizerInfo, load_tokenizer, tokenize_part
from lmpipe.trainer.shards import SPLITS, ShardHeader, file_sha256, open_tokens, shard_name, write_shard


def tokenizer_info(cfg: PackConfig) -> TokenizerInfo:
    local = cfg.tokenizer_path()
    tok, eos_id = load_tokenizer(local, cfg.eos_token)
    # A URL stays a URL: a task on another node cannot read the driver's downloaded copy.
    where = cfg.tokenizer if storage.is_url(cfg.tokenizer or "") else str(Path(local).resolve())
    return TokenizerInfo(where, file_sha256(local), tok.get_vocab_size(with_added_tokens=True), eos_id)


def _scores(ids: list[str], seed: int) -> np.ndarray:
    """Seeded hash of each id in [0, 1): the train/validation split (stable when other documents come or go)."""
    u = np.array(
        [int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "little") for i in ids],
        dtype=np.uint64,
    )
    return u.astype(np.float64) / 2.0**64


def _buckets(ids: list[str], seed: int, n_buckets: int) -> np.ndarray:
    """Seeded hash of each id to a bucket of the shuffle (independent of the split's hash)."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(f"{seed}/b:{i}".encode(), digest_size=8).digest(), "little") % n_buckets
         for i in ids],
        dtype=np.int64,
    )  # fmt: skip


# The shuffle is external, in bounded memory whatever the corpus size (issue 17: the driver once held one index
# row per document, "fine to ~100M documents"):
#   scatter  one task per part file: each document to its split (seeded hash of the id) and to one of B buckets
#            (another seeded hash), its tokens written grouped by bucket (one Parquet row group per bucket)
#   shuffle  one task per (split, bucket): the bucket's documents from every part, in part order, permuted by
#            a generator seeded with (seed, split, bucket) over the documents sorted by id, as one token stream
#   shards   the split's stream is its buckets in order; each shard is a fixed-size cut of it
# B is sized so one bucket holds about BUCKET_BYTES of tokens: no task holds more than one bucket. The result
# depends on the seed and the documents, never on the number of workers or tasks.
BUCKET_BYTES = 256 << 20
INDEX_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("n_tokens", pa.int64())])


def _stem(path: str) -> str:
    return str(path).rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _local(path: str):
    """A local path for `path`: itself, or a temporary copy of a URL while the block runs."""
    return storage.local_copy(path) if storage.is_url(path) else contextlib.nullcontext(path)


def scatter_part(
    tokens_bin: str,
    index_path: str,
    out_dir: str,
    seed: int,
    n_buckets: int,
    val_fraction: float,
    forced_val: str | None,
) -> dict:
    """Split one tokenized part into its train and validation documents, grouped by bucket:
    out_dir/<split>/<part>.bin (tokens, buckets in order) and .parquet (id, n_tokens; row group k = bucket k)."""
    index = slices.open_parquet(index_path).read()
    ids = index.column("id").to_pylist()
    lengths = index.column("n_tokens").to_numpy().astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    is_val = _scores(ids, seed) < val_fraction if ids else np.zeros(0, dtype=bool)  # the split rule, per document
    if forced_val is not None:
        is_val |= np.array([i == forced_val for i in ids], dtype=bool)
    bucket = _buckets(ids, seed, n_buckets)
    name = _stem(tokens_bin)
    counts = {}
    with _local(tokens_bin) as local_bin:
        tokens = open_tokens(local_bin, check=False)  # written and header-checked by this stage's tokenize step
        for split, mask in (("train", ~is_val), ("val", is_val)):
            members = np.flatnonzero(mask)
            members = members[np.argsort(bucket[members], kind="stable")]  # by bucket, part order within one
            folder = storage.join(out_dir, split)
            chunks = [tokens[starts[d] : starts[d + 1]] for d in members]
            stream = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint32)
            b_of = bucket[members]
            bounds = np.searchsorted(b_of, np.arange(n_buckets + 1))
            offsets = np.concatenate([[0], np.cumsum(lengths[members])])[bounds]  # token offset of each bucket
            with storage.writing(storage.join(folder, f"{name}.offsets.npy")) as tmp, open(tmp, "wb") as f:
                np.save(f, offsets.astype(np.int64))
            with storage.writing(storage.join(folder, f"{name}.bin")) as tmp:
                stream.astype(np.uint32, copy=False).tofile(tmp)
            with storage.writing(storage.join(folder, f"{name}.parquet")) as tmp:
                with pq.ParquetWriter(tmp, INDEX_SCHEMA, compression="zstd") as writer:
                    for k in range(n_buckets):  # one row group per bucket, empty ones too: row group k = bucket k
                        rows = members[bounds[k] : bounds[k + 1]]
                        writer.write_table(
                            pa.table({"id": [ids[d] for d in rows], "n_tokens": lengths[rows]}, schema=INDEX_SCHEMA)
                        )
            counts[split] = len(members)
    return counts


def shuffle_bucket(scatter_dir: str, split: str, k: int, parts: list[str], seed: int, out_dir: str) -> dict:
    """Bucket k of a split: its documents from every part (in part order), permuted with (seed, split, k).

    Memory: the bucket's tokens once (read into one array, range by range) and its ids; the permuted stream is
    written document by document from that array, never built as a second copy."""
    ids: list[str] = []
    lengths: list[np.ndarray] = []
    ranges: list[tuple[str, int, int]] = []  # (part's token file, first token, count) of this bucket
    folder = storage.join(scatter_dir, split)
    for name in parts:
        group = slices.open_parquet(storage.join(folder, f"{name}.parquet")).read_row_group(k)
        n = group.column("n_tokens").to_numpy().astype(np.int64)
        if not len(n):
            continue
        offsets = np.load(io.BytesIO(storage.read_bytes(storage.join(folder, f"{name}.offsets.npy"))))
        lo, hi = (int(x) for x in offsets[k : k + 2])  # this bucket's tokens in the part's file: one range
        ranges.append((storage.join(folder, f"{name}.bin"), lo, hi - lo))
        ids += group.column("id").to_pylist()
        lengths.append(n)
    tokens = _read_ranges(ranges)
    n_tokens = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(n_tokens)]).astype(np.int64)
    # Sorted by id before the seeded permutation: the order depends on the documents, not on how the stage's
    # tasks split them into part files.
    by_id = sorted(range(len(ids)), key=ids.__getitem__)
    order = np.asarray(by_id, dtype=np.int64)[
        np.random.default_rng([seed, SPLITS.index(split), k]).permutation(len(ids))
    ]
    folder = storage.join(out_dir, split)
    with storage.writing(storage.join(folder, f"bucket-{k:05d}.parquet")) as tmp:
        table = pa.table({"id": [ids[j] for j in order], "n_tokens": n_tokens[order]}, schema=INDEX_SCHEMA)
        pq.write_table(table, tmp, compression="zstd")
    with storage.writing(storage.join(folder, f"bucket-{k:05d}.bin")) as tmp:  # last: the bucket is complete
        with open(tmp, "wb", buffering=1 << 20) as f:
            for j in order.tolist():
                f.write(tokens[starts[j] : starts[j + 1]])
    return {"documents": len(order), "tokens": int(n_tokens.sum())}


READ_TOKENS = 8 << 20  # tokens per range read (32 MB): a task holds what it reads once, plus one read


def _read_ranges(ranges: list[tuple[str, int, int]]) -> np.ndarray:
    """The tokens of `ranges` (file, first token, count), in order, in one array, read READ_TOKENS at a time."""
    out = np.empty(sum(count for _, _, count in ranges), dtype=np.uint32)
    at = 0
    for path, first, count in ranges:
        for start in range(first, first + count, READ_TOKENS):
            n = min(READ_TOKENS, first + count - start)
            out[at : at + n] = np.frombuffer(storage.read_bytes(path, start * 4, (start + n) * 4), np.uint32)
            at += n
    return out


def pack_shards(
    out: Path, cfg: PackConfig, parts: list[str], execute: TaskRunner | None = None, location: str | None = None
) -> dict:
    """Tokenize `parts` (Parquet files of the document schema, local or URLs), split, shuffle and write the shards.
    `location` (default `out`) is the stage's folder, local or a URL: the tasks' work files go to its _pack/ and
    the shards to its shards/; the index and pack.json are written in the local `out`/shards. `execute` runs the
    per-part, per-bucket and per-shard tasks (default: one after another in this process)."""
    execute = execute or TaskRunner("local", 1)
    location = str(out) if location is None else location
    info = tokenizer_info(cfg)
    stems = [_stem(p) for p in parts]
    if len(set(stems)) != len(stems):  # parts of several stage folders: same names, so numbered in order
        stems = [f"{i:05d}-{s}" for i, s in enumerate(stems)]
    tokens_dir = storage.join(location, "_pack", "tokens")
    index_files = [storage.join(tokens_dir, f"{n}.parquet") for n in stems]
    results = execute(
        tokenize_part,
        [(str(p), f, info, cfg.eos_token, cfg.verify_roundtrip) for p, f in zip(parts, index_files)],
    )
    mismatches = sum(r["roundtrip_mismatches"] for r in results)
    total_docs, total_tokens = sum(r["documents"] for r in results), sum(r["tokens"] for r in results)
    if not total_docs:
        raise StageError("pack: no documents to pack")
    forced_val = _forced_validation_id(index_files, cfg)
    n_buckets = max(1, -(-total_tokens * 4 // BUCKET_BYTES))
    work = storage.join(location, "_pack", "shuffle")
    storage.remove_tree(work)  # derived from the token files alone: redone whole, never mixed
    scattered = storage.join(work, "scatter")
    execute(
        scatter_part,
        [(storage.with_suffix(f, ".bin"), f, scattered, cfg.seed, n_buckets, cfg.val_fraction, forced_val)
         for f in index_files],
    )  # fmt: skip
    buckets = storage.join(work, "buckets")
    jobs = [(scattered, split, k, stems, cfg.seed, buckets) for split in SPLITS for k in range(n_buckets)]
    execute(shuffle_bucket, jobs)

    shards_out, shards_at = out / "shards", storage.join(location, "shards")
    shards_out.mkdir(parents=True, exist_ok=True)
    for old in storage.glob(storage.join(shards_at, "*-*.bin")):  # a re-run may write fewer: none may survive
        storage.remove(old)
    report = {
        split: _write_split(shards_out, shards_at, split, storage.join(buckets, split), n_buckets, info, cfg, execute)
        for split in SPLITS
    }
    storage.remove_tree(work)
    manifest = {
        "format": "lmpipe.trainer.shards (llm.c header v2 + ours v1, uint32 tokens)",
        "tokenizer": info.path,
        "tokenizer_sha256": info.sha256,
        "vocab_size": info.vocab_size,
        "eos_token": cfg.eos_token,
        "eos_id": info.eos_id,
        "seq_len": cfg.seq_len,
        "seed": cfg.seed,
        "shuffle_buckets": n_buckets,
        "splits": report,
        "roundtrip_mismatches": mismatches,
    }
    write_json_atomic(shards_out / "pack.json", manifest)
    logger.info(
        f"pack: {report['train']['tokens']:,} train tokens in {report['train']['shards']} shard(s), "
        f"{report['val']['tokens']:,} validation tokens; {mismatches} documents not round-tripping"
    )
    return {"pack": manifest}


def _forced_validation_id(index_files: list[str], cfg: PackConfig) -> str | None:
    """The one document put into validation when val_fraction > 0 but no id hashes below it (a small corpus): the
    lowest score. Streams the id column part by part and keeps two numbers and one id; the split itself is decided
    per document in scatter_part, so the driver holds nothing per document."""
    best: tuple[float, str] | None = None
    any_val, total = False, 0
    for f in index_files:
        ids = slices.open_parquet(f).read(columns=["id"]).column("id").to_pylist()
        if not ids:
            continue
        scores = _scores(ids, cfg.seed)
        any_val = any_val or bool((scores < cfg.val_fraction).any())
        j = int(np.argmin(scores))
        if best is None or scores[j] < best[0]:
            best = (float(scores[j]), ids[j])
        total += len(ids)
    return best[1] if cfg.val_fraction > 0 and not any_val and total > 1 else None


def write_shard_task(dest: str, pieces: list[tuple[str, int, int]], header: ShardHeader) -> dict:
    """One shard: its tokens are `pieces` (bucket file, first token, count) in order, read by range."""
    with storage.writing(dest) as tmp:
        write_shard(tmp, _read_ranges(pieces), header)
    return {"tokens": int(header.num_tokens)}


def _write_split(
    shards_out: Path, shards_at: str, split: str, buckets: str, n_buckets: int, info, cfg, execute: TaskRunner
) -> dict:
    """The split's stream (its buckets in order) cut into shards of seq_len * sequences_per_shard tokens, one task
    per shard into `shards_at`; index-<split>.parquet (id, shard, offset, n_tokens) into the local `shards_out`,
    written here bucket by bucket in bounded memory (the id column of one bucket at a time)."""
    shard_tokens = cfg.seq_len * cfg.sequences_per_shard
    bins = [storage.join(buckets, f"bucket-{k:05d}.bin") for k in range(n_buckets)]
    sizes = [storage.size(p) // 4 for p in bins]
    total = int(sum(sizes))
    n_shards = max(1, -(-total // shard_tokens))
    bucket_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    index_schema = pa.schema(
        [("id", pa.string()), ("shard", pa.int64()), ("offset", pa.int64()), ("n_tokens", pa.int64())]
    )
    documents = 0
    ends_in_shard = np.zeros(n_shards, dtype=np.int64)
    with pq.ParquetWriter(shards_out / f"index-{split}.parquet.tmp", index_schema, compression="zstd") as writer:
        for k in range(n_buckets):
            table = slices.open_parquet(storage.join(buckets, f"bucket-{k:05d}.parquet")).read()
            lengths = table.column("n_tokens").to_numpy().astype(np.int64)
            starts = bucket_starts[k] + np.concatenate([[0], np.cumsum(lengths)])[:-1].astype(np.int64)
            shard_of = np.minimum(starts // shard_tokens, n_shards - 1)
            ends = starts + lengths  # exclusive end: the document's EOS is at end - 1
            np.add.at(ends_in_shard, np.minimum((ends - 1) // shard_tokens, n_shards - 1), 1)
            writer.write_table(
                pa.table(
                    {"id": table.column("id"), "shard": shard_of, "offset": starts - shard_of * shard_tokens,
                     "n_tokens": lengths},
                    schema=index_schema,
                )
            )  # fmt: skip
            documents += len(lengths)
    (shards_out / f"index-{split}.parquet.tmp").replace(shards_out / f"index-{split}.parquet")
    jobs = []
    for s in range(n_shards):
        lo, hi = s * shard_tokens, min((s + 1) * shard_tokens, total)
        pieces = []
        for k in range(n_buckets):  # the buckets overlapping [lo, hi), each one contiguous range
            a, b = max(bucket_starts[k], lo), min(bucket_starts[k + 1], hi)
            if a < b:
                pieces.append((bins[k], int(a - bucket_starts[k]), int(b - a)))
        header = ShardHeader(
            num_tokens=hi - lo,
            num_documents=int(ends_in_shard[s]),
            vocab_size=info.vocab_size,
            eos_id=info.eos_id,
            seq_len=cfg.seq_len,
            split=split,
            shard_index=s,
            tokenizer_sha256=info.sha256,
        )
        jobs.append((storage.join(shards_at, shard_name(split, s)), pieces, header))
    execute(write_shard_task, jobs)
    return {
        "documents": documents,
        "tokens": total,
        "shards": n_shards,
        "sequences": sum(
            max(0, (min(shard_tokens, total - s * shard_tokens) - 1) // cfg.seq_len) for s in range(n_shards)
        ),
    }
