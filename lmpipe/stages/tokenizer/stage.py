"""Tokenizer training as a pipeline stage: documents pass through unchanged, then the BPE trains on them.

A stage that must see the whole dataset (docs/ARCHITECTURE.md) and decides nothing per document: on finished
stage folders it runs no per-document pass and copies nothing (Stage.passthrough: its manifest lists the input's
part files, which the next stage reads); on raw files its pass puts them in the schema first. `finalize` trains on
those parts and writes DIR/tokenizer/ (tokenizer.json, training_config.json, data_manifest.json). Settings are TrainConfig's
(`stages: {tokenizer: {vocab_size: 4096}}` in a job YAML).
"""

from __future__ import annotations

import json

from lmpipe.core import storage
from lmpipe.core.runner import Stage, StageFolder, StageResult
from lmpipe.tokenizer.train import TrainConfig, train


def build_tokenizer(cfg: TrainConfig) -> list:
    return []  # no per-document step: training needs every document at once, in finalize


def finalize_tokenizer(folder: StageFolder, cfg: TrainConfig, stats: dict, run=None) -> dict:
    out = folder.local
    if stats.get("kept_by_reference"):  # no copy: the input stage folders' parts, as this run's manifest lists
        parts = json.loads((out / "_stage.json").read_text())["inputs"]
    else:  # raw inputs went through the pass into this stage's own parts (not complete yet), read where they are
        parts = storage.glob(folder.path("data", "part-*.parquet"))
    result = train(parts, out / "tokenizer", cfg)
    keep = ("vocab_size", "training_bytes", "train_seconds", "gb_per_hour", "peak_rss_mb", "documents_used")
    return {"tokenizer": {"path": str(out / "tokenizer" / "tokenizer.json")} | {k: result[k] for k in keep}}


TOKENIZER_STAGE = Stage(
    "tokenizer",
    "train the 102,400-token byte-level BPE (MeCab for Korean) on the documents, which pass through",
    TrainConfig,
    build_tokenizer,
    finalize=finalize_tokenizer,
    passthrough=True,  # trains on the previous stage's parts where they are: the corpus is not copied
)


def trained_tokenizer(result: StageResult) -> str:
    """Path of the tokenizer.json a finished tokenizer stage trained (what the pack stage encodes with)."""
    return result.stats["tokenizer"]["path"]
