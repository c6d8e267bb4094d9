"""Every stage the CLI and the jobs know, by name, listed explicitly (no registry magic)."""

from __future__ import annotations

from filters.classifier.stage import QualityConfig, build_quality
from filters.pii.stage import PiiConfig, build_pii, pii_finalize
from filters.rules.stage import FilterConfig, build_filter, filter_finalize
from pipeline.decont import DecontConfig, build_decont, decont_finalize
from pipeline.dedup.run import DEDUP_STAGE
from pipeline.ingest import IngestConfig, build_ingest
from pipeline.pack import PackConfig, build_pack, finalize_pack
from pipeline.stage import Stage
from tokenizer.stage import TOKENIZER_STAGE

# In the order of the recipe (EXAONE 3.0/3.5: rules, ML filter, dedup, decontamination, PII; then tokenizer and
# packing); jobs/full.py runs them in this order.
STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in [
        Stage(
            "ingest", "read JSONL/Parquet/text corpora and WARC crawls into the shared document schema",
            IngestConfig, build_ingest,
        ),
        Stage(
            "filter", "URL blocklists and Gopher/C4/FineWeb/Korean quality rules", FilterConfig, build_filter,
            finalize=filter_finalize,
        ),
        Stage(
            "quality", "fastText quality classifier: add quality_score, keep by threshold or top fraction",
            QualityConfig, build_quality,
        ),
        DEDUP_STAGE,
        Stage(
            "decont", "drop documents sharing a 50-character normalized window with a benchmark (EXAONE 3.5)",
            DecontConfig, build_decont, finalize=decont_finalize,
        ),
        Stage(
            "pii", "replace PII (e-mail, phone, KR RRN ...) with typed placeholders", PiiConfig, build_pii,
            finalize=pii_finalize,
        ),
        TOKENIZER_STAGE,
        Stage(
            "pack", "tokenize, append EOS, shuffle and pack into train/validation token shards", PackConfig,
            build_pack, finalize=finalize_pack,
        ),
    ]
}  # fmt: skip


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"unknown stage '{name}'; valid stages: {', '.join(STAGES)}")
    return STAGES[name]
