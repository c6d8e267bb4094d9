"""Stage `pack`: kept documents -> tokens + EOS -> shuffled, fixed-length-packed train/validation shards.

Runs through `run_stage` like every stage. The tasks pass documents through (setting aside only documents with
no text to learn from), so part-*.parquet holds exactly the documents that were packed and the accounting
in == kept + excluded holds. `finalize` then sees the whole dataset:

1. tokenizes each part file (Ray tasks when Ray is up, else in this process; HF tokenizers encodes a batch on
   all cores) into _pack/tokens/ (see pipeline.pack.tokenize);
2. assigns each document to train or validation by a seeded hash of its id (stable when other documents
   come or go, so validation documents never leak into a later train split);
3. shuffles each split's documents with a seeded permutation and concatenates their tokens (each followed by
   EOS) into shards/<split>-NNNNN.bin of `sequences_per_shard * seq_len` tokens (format: trainer.shards);
4. writes shards/index-<split>.parquet (id, shard, offset, n_tokens of every document) and shards/pack.json.

Detokenizing a split's shards in order and cutting at EOS gives back its documents' text exactly (verified per
document at tokenization unless `verify_roundtrip` is off). Tokens after the last full sequence of a split
(fewer than seq_len) are written but never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document

from pipeline.stage import StageError
from pipeline.steps import Filter

PACK_EMPTY_TEXT = "pack.empty_text"  # only whitespace: nothing to learn, would add a lone EOS

DEFAULT_TOKENIZER = "tokenizer/assets/ko-en-102k/tokenizer.json"


@dataclass(frozen=True)
class PackConfig:
    tokenizer: str = DEFAULT_TOKENIZER  # a tokenizer.json (HF tokenizers); relative paths from the working dir
    eos_token: str = "<|end_of_text|>"  # appended after every document
    seq_len: int = 2048  # tokens per training sequence; shards hold whole sequences (+ the split's tail)
    sequences_per_shard: int = 32_768  # 64M tokens = 256 MiB per shard at seq_len 2048
    val_fraction: float = 0.005  # share of documents held out for validation (by seeded hash of the id)
    seed: int = 1234  # document split and shuffle
    verify_roundtrip: bool = True  # decode every document and count those that do not give back their text


class PackableFilter(Filter):
    """Set aside documents that are only whitespace (they would contribute a lone EOS)."""

    name = "packable"
    slug = "packable"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return True if doc.text.strip() else (False, PACK_EMPTY_TEXT)


def build_pack(cfg: PackConfig) -> list:
    _check_config(cfg)
    return [PackableFilter()]


def _check_config(cfg: PackConfig) -> None:
    if cfg.seq_len < 1 or cfg.sequences_per_shard < 1:
        raise StageError("pack: seq_len and sequences_per_shard must be positive")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise StageError(f"pack: val_fraction {cfg.val_fraction} must be in [0, 1)")
    if not Path(cfg.tokenizer).is_file():
        raise StageError(f"pack: no tokenizer at {cfg.tokenizer} (set pack.tokenizer=PATH/tokenizer.json)")


def finalize_pack(out: Path, cfg: PackConfig, stats: dict) -> dict:
    # Imported on use: the packing code needs the top-level `trainer` package (the shard format), which the
    # rest of the pipeline, and importing `pipeline.stages`, must not depend on.
    from pipeline.pack.packing import pack_shards

    return pack_shards(out, cfg)
