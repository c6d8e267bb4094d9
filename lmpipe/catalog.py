"""Every stage the CLI knows, by name, in the recipe's order; each is defined in its own folder under stages/."""

from __future__ import annotations

from lmpipe.core.runner import Stage
from lmpipe.stages.decont.stage import DECONT_STAGE
from lmpipe.stages.dedup.run import DEDUP_STAGE
from lmpipe.stages.filter.stage import FILTER_STAGE
from lmpipe.stages.ingest.stage import INGEST_STAGE
from lmpipe.stages.pack.stage import PACK_STAGE
from lmpipe.stages.pii.stage import PII_STAGE
from lmpipe.stages.quality.stage import QUALITY_STAGE
from lmpipe.stages.tokenizer.stage import TOKENIZER_STAGE

# EXAONE 3.0/3.5: rules, ML filter, dedup, decontamination, PII; then tokenizer and packing (jobs/full.py).
STAGES: dict[str, Stage] = {
    s.name: s
    for s in [
        INGEST_STAGE,
        FILTER_STAGE,
        QUALITY_STAGE,
        DEDUP_STAGE,
        DECONT_STAGE,
        PII_STAGE,
        TOKENIZER_STAGE,
        PACK_STAGE,
    ]
}


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"unknown stage '{name}'; valid stages: {', '.join(STAGES)}")
    return STAGES[name]
