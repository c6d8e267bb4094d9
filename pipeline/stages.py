"""Every stage the CLI and the jobs know, by name. Later stages are added to this list explicitly."""

from __future__ import annotations

from pipeline.ingest import IngestConfig, build_ingest
from pipeline.stage import Stage

STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in [
        Stage("ingest", "read JSONL/Parquet/text corpora into the shared document schema", IngestConfig, build_ingest),
    ]
}


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"unknown stage '{name}'; valid stages: {', '.join(STAGES)}")
    return STAGES[name]
