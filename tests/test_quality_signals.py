"""Score, then decide, for the quality stage: a run with `quality.signals_from` an earlier run and a changed
threshold (or top fraction) gives the result of a full re-run, without running fastText on what it scored before."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmpipe.catalog import STAGES
from lmpipe.core.config import ConfigError
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.stages.ingest.stage import IngestConfig
from lmpipe.stages.quality import scorer as scorer_mod
from lmpipe.stages.quality.stage import QualityConfig

QUALITY = STAGES["quality"]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, samples=Path(__file__).resolve().parent.parent / "samples") -> Path:
    out = tmp_path_factory.mktemp("qsig") / "ingest"
    inputs = [InputSpec(str(samples / "corpus")), InputSpec(str(samples / "warc"))]
    run_stage(STAGES["ingest"], IngestConfig(), inputs, out)
    return out


def _outcome(folder: Path) -> tuple[list, list]:
    kept, excluded = [], []
    for f in sorted(folder.glob("data/part-*.parquet")):
        t = pq.read_table(f, columns=["id", "quality_score"])
        kept += zip(t["id"].to_pylist(), t["quality_score"].to_pylist())
    for f in sorted(folder.glob("excluded/*.parquet")):
        t = pq.read_table(f, columns=["id", "drop_reason"])
        excluded += zip(t["id"].to_pylist(), t["drop_reason"].to_pylist())
    return sorted(kept), sorted(excluded)


def _count_scores(monkeypatch) -> list[int]:
    calls = [0]
    real = scorer_mod.QualityScorer.score

    def counted(self, text):
        calls[0] += 1
        return real(self, text)

    monkeypatch.setattr(scorer_mod.QualityScorer, "score", counted)
    return calls


@pytest.mark.parametrize("changed", [{"min_score": 0.7}, {"min_score": None, "top_fraction": 0.5, "block_docs": 500}])
def test_re_deciding_from_stored_scores_equals_a_full_run(ingested, tmp_path, monkeypatch, changed):
    run = RunConfig(workers=1)  # in this process: the counter sees every score
    calls = _count_scores(monkeypatch)
    run_stage(QUALITY, QualityConfig(), [InputSpec(str(ingested))], tmp_path / "old", run)
    scored = calls[0]
    assert scored > 1000
    full = run_stage(QUALITY, QualityConfig(**changed), [InputSpec(str(ingested))], tmp_path / "full", run)
    calls[0] = 0
    cfg = QualityConfig(**changed, signals_from=str(tmp_path / "old"))
    again = run_stage(QUALITY, cfg, [InputSpec(str(ingested))], tmp_path / "again", run)
    assert calls[0] == 0  # every document's score came from the earlier run
    assert _outcome(tmp_path / "again") == _outcome(tmp_path / "full")
    assert again.stats["excluded"] == full.stats["excluded"] and again.stats["docs_out"] != scored


def test_a_changed_model_or_text_is_scored_again(ingested, tmp_path, monkeypatch):
    run = RunConfig(workers=1)
    run_stage(QUALITY, QualityConfig(), [InputSpec(str(ingested))], tmp_path / "old", run)
    # a folder of another stage is refused at start
    with pytest.raises(ConfigError, match="holds stage 'ingest', not 'quality'"):
        QUALITY.build(QualityConfig(signals_from=str(ingested)))
    # the stored basis is of (text, model): a text that differs is a miss, scored as usual
    calls = _count_scores(monkeypatch)
    old = tmp_path / "old"
    t = pq.read_table(next(iter(sorted(old.glob("data/part-*.parquet")))))
    import json

    meta = [json.loads(m) for m in t["metadata_json"].to_pylist()]
    for m in meta:
        m["quality.basis"] = "0" * 16  # as if another text or another model had been scored
    t = t.set_column(t.schema.get_field_index("metadata_json"), "metadata_json", [[json.dumps(m) for m in meta]])
    pq.write_table(t, next(iter(sorted(old.glob("data/part-*.parquet")))))
    cfg = QualityConfig(min_score=0.7, signals_from=str(old))
    run_stage(QUALITY, cfg, [InputSpec(str(ingested))], tmp_path / "again", run)
    assert calls[0] == t.num_rows
