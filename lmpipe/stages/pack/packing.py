"""The whole-dataset half of the `pack` stage (its finalize): tokenize the kept documents, split, shuffle, and
write the shards. See lmpipe.stages.pack.stage for the steps and lmpipe.trainer.shards for the format."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from lmpipe.core.ledger import write_json_atomic
from lmpipe.core.runner import StageError
from lmpipe.stages.pack.config import PackConfig
from lmpipe.stages.pack.tokenize import TokenizerInfo, load_tokenizer, tokenize_part
from lmpipe.trainer.shards import SPLITS, ShardHeader, file_sha256, open_tokens, shard_name, write_shard


def tokenizer_info(cfg: PackConfig) -> TokenizerInfo:
    tok, eos_id = load_tokenizer(cfg.tokenizer_path(), cfg.eos_token)
    path = str(Path(cfg.tokenizer_path()).resolve())
    return TokenizerInfo(path, file_sha256(path), tok.get_vocab_size(with_added_tokens=True), eos_id)


def _tokenize_all(parts: list[Path], tokens_dir: Path, info: TokenizerInfo, cfg: PackConfig) -> list[dict]:
    args = [(str(p), str(tokens_dir), info, cfg.eos_token, cfg.verify_roundtrip) for p in parts]
    try:
        import ray

        on_ray = ray.is_initialized()
    except ImportError:
        on_ray = False
    if on_ray and len(parts) > 1:
        remote = ray.remote(num_cpus=1)(tokenize_part)
        return ray.get([remote.remote(*a) for a in args])
    return [tokenize_part(*a) for a in args]


def _val_mask(ids: list[str], seed: int, fraction: float) -> np.ndarray:
    """Seeded hash of each id in [0, 1) below `fraction`; at least one document when fraction > 0."""
    u = np.array(
        [int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "little") for i in ids],
        dtype=np.uint64,
    )
    scores = u.astype(np.float64) / 2.0**64
    mask = scores < fraction
    if fraction > 0 and not mask.any() and len(ids) > 1:
        mask[int(np.argmin(scores))] = True
    return mask


def pack_shards(out: Path, cfg: PackConfig) -> dict:
    info = tokenizer_info(cfg)
    parts = sorted(out.glob("part-*.parquet"))
    tokens_dir = out / "_pack" / "tokens"
    results = _tokenize_all(parts, tokens_dir, info, cfg)
    mismatches = sum(r["roundtrip_mismatches"] for r in results)

    # One row per document across all parts: where its tokens are.
    ids: list[str] = []
    part_of, offset_of, length_of = [], [], []
    token_files = []
    for p, part in enumerate(parts):
        index = pq.read_table(tokens_dir / part.name)
        lengths = index.column("n_tokens").to_numpy()
        ids.extend(index.column("id").to_pylist())
        part_of.append(np.full(len(lengths), p, dtype=np.int64))
        offset_of.append(np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64))
        length_of.append(lengths.astype(np.int64))
        token_files.append(open_tokens(tokens_dir / part.with_suffix(".bin").name))
    if not ids:
        raise StageError("pack: no documents to pack")
    part_of, offset_of, length_of = (np.concatenate(a) for a in (part_of, offset_of, length_of))

    shards_out = out / "shards"
    shards_out.mkdir(exist_ok=True)
    for old in shards_out.glob("*-*.bin"):  # a re-run may write fewer shards: none of an older run may survive
        old.unlink()
    val = _val_mask(ids, cfg.seed, cfg.val_fraction)
    report = {}
    for split, members in (("train", np.flatnonzero(~val)), ("val", np.flatnonzero(val))):
        order = members[np.random.default_rng([cfg.seed, SPLITS.index(split)]).permutation(len(members))]
        report[split] = _write_split(
            shards_out, split, order, ids, part_of, offset_of, length_of, token_files, info, cfg
        )
    manifest = {
        "format": "lmpipe.trainer.shards (llm.c header v2 + ours v1, uint32 tokens)",
        "tokenizer": info.path,
        "tokenizer_sha256": info.sha256,
        "vocab_size": info.vocab_size,
        "eos_token": cfg.eos_token,
        "eos_id": info.eos_id,
        "seq_len": cfg.seq_len,
        "seed": cfg.seed,
        "splits": report,
        "roundtrip_mismatches": mismatches,
    }
    write_json_atomic(shards_out / "pack.json", manifest)
    logger.info(
        f"pack: {report['train']['tokens']:,} train tokens in {report['train']['shards']} shard(s), "
        f"{report['val']['tokens']:,} validation tokens; {mismatches} documents not round-tripping"
    )
    return {"pack": manifest}


def _write_split(shards_out, split, order, ids, part_of, offset_of, length_of, token_files, info, cfg) -> dict:
    shard_tokens = cfg.seq_len * cfg.sequences_per_shard
    lengths = length_of[order]
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # offset of each doc in the split stream
    total = int(starts[-1])
    n_shards = max(1, -(-total // shard_tokens))
    for s in range(n_shards):
        lo, hi = s * shard_tokens, min((s + 1) * shard_tokens, total)
        # documents overlapping [lo, hi): copy the overlapping piece of each
        first = int(np.searchsorted(starts, lo, side="right")) - 1
        last = int(np.searchsorted(starts, hi, side="left"))
        buf = np.empty(hi - lo, dtype=np.uint32)
        for k in range(max(first, 0), last):
            d = order[k]
            a, b = max(starts[k], lo), min(starts[k + 1], hi)
            src = token_files[part_of[d]]
            buf[a - lo : b - lo] = src[offset_of[d] + (a - starts[k]) : offset_of[d] + (b - starts[k])]
        ends_here = int(np.count_nonzero((starts[1:] > lo) & (starts[1:] <= hi)))
        header = ShardHeader(
            num_tokens=hi - lo,
            num_documents=ends_here,
            vocab_size=info.vocab_size,
            eos_id=info.eos_id,
            seq_len=cfg.seq_len,
            split=split,
            shard_index=s,
            tokenizer_sha256=info.sha256,
        )
        write_shard(shards_out / shard_name(split, s), buf, header)
    shard_of = np.minimum(starts[:-1] // shard_tokens, n_shards - 1)
    index = pa.table(
        {
            "id": [ids[d] for d in order],
            "shard": shard_of,
            "offset": starts[:-1] - shard_of * shard_tokens,  # within its first shard
            "n_tokens": lengths,
        }
    )
    pq.write_table(index, shards_out / f"index-{split}.parquet", compression="zstd")
    return {
        "documents": len(order),
        "tokens": total,
        "shards": n_shards,
        "sequences": sum(
            max(0, (min(shard_tokens, total - s * shard_tokens) - 1) // cfg.seq_len) for s in range(n_shards)
        ),
    }
