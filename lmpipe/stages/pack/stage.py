"""Stage `pack`: kept documents -> tokens + EOS -> shuffled, fixed-length-packed train/validation shards.

Runs through `run_stage` like every stage. The tasks pass documents through (setting aside only documents with
no text to learn from), so data/part-*.parquet holds exactly the documents that were packed and the accounting
in == kept + excluded holds. `finalize` then sees the whole dataset:

1. tokenizes each part file (Ray tasks or local processes, reading and writing the stage's location, a bucket
   too; HF tokenizers encodes a batch on all cores) into _pack/tokens/ (see lmpipe.stages.pack.tokenize);
2. assigns each document to train or validation by a seeded hash of its id (stable when other documents
   come or go, so validation documents never leak into a later train split);
3. shuffles each split's documents with a seeded permutation and concatenates their tokens (each followed by
   EOS) into shards/<split>-NNNNN.bin of `sequences_per_shard * seq_len` tokens (format: lmpipe.trainer.shards);
4. writes shards/index-<split>.parquet (id, shard, offset, n_tokens of every document) and shards/pack.json.

Detokenizing a split's shards in order and cutting at EOS gives back its documents' text exactly (verified per
document at tokenization unless `verify_roundtrip` is off). Tokens after the last full sequence of a split
(fewer than seq_len) are written but never trained on.
"""

from __future__ import annotations

import json

from datatrove.data import Document

from lmpipe.core import storage
from lmpipe.core.runner import RunConfig, Stage, StageFolder
from lmpipe.core.steps import Filter
from lmpipe.core.tasks import TaskRunner
from lmpipe.stages.pack.config import PackConfig, check_config
from lmpipe.stages.pack.packing import pack_shards

PACK_EMPTY_TEXT = "pack.empty_text"  # only whitespace: nothing to learn, would add a lone EOS


class PackableFilter(Filter):
    """Set aside documents that are only whitespace (they would contribute a lone EOS)."""

    name = "packable"
    slug = "packable"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return True if doc.text.strip() else (False, PACK_EMPTY_TEXT)


def build_pack(cfg: PackConfig) -> list:
    check_config(cfg)
    return [PackableFilter()]


def finalize_pack(folder: StageFolder, cfg: PackConfig, stats: dict, run: RunConfig) -> dict:
    check_config(cfg)  # a passthrough run calls no build
    if stats.get("kept_by_reference"):  # no copy: the input stage folders' parts, as this run's manifest lists
        parts = json.loads((folder.local / "_stage.json").read_text())["inputs"]
    else:  # raw inputs went through the pass (PackableFilter) into this stage's own parts, read where they are
        parts = storage.glob(folder.path("data", "part-*.parquet"))
    with TaskRunner(run.executor, run.workers, run.ray_mem_per_task_gb) as execute:
        return pack_shards(folder.local, cfg, parts, execute, location=folder.location)


PACK_STAGE = Stage(
    "pack",
    "tokenize, append EOS, shuffle and pack into train/validation token shards",
    PackConfig,
    build_pack,
    finalize=finalize_pack,
    # On stage folders nothing is copied: their readers already drop whitespace-only documents (reader.no_text),
    # so PackableFilter has nothing to decide there; it runs on raw inputs, through the usual pass.
    passthrough=True,
)
