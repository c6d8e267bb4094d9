"""Re-deciding dedup from stored signatures: `dedup.signatures_from` an earlier run and a changed threshold gives
the result of a full re-run, without shingling or MinHash (dolma's tag-then-mix, for MinHash)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmpipe.catalog import STAGES
from lmpipe.core.runner import InputSpec, RunConfig, StageError, run_stage
from lmpipe.stages.dedup import minhash
from lmpipe.stages.dedup.config import DedupConfig

DEDUP = STAGES["dedup"]
RUN = RunConfig(workers=1)  # phases in this process: the counter below sees every MinHash call


def _outcome(folder: Path) -> tuple[list, list]:
    kept = sorted(i for f in folder.glob("data/part-*.parquet") for i in pq.read_table(f)["id"].to_pylist())
    excluded = []
    for f in sorted(folder.glob("excluded/*.parquet")):
        t = pq.read_table(f, columns=["id", "drop_reason"])
        excluded += zip(t["id"].to_pylist(), t["drop_reason"].to_pylist())
    return kept, sorted(excluded)


def test_a_changed_threshold_from_stored_signatures_equals_a_full_run(ingested_corpus, tmp_path, monkeypatch):
    spec = [InputSpec(str(ingested_corpus))]
    run_stage(DEDUP, DedupConfig(), spec, tmp_path / "old", RUN)
    full = run_stage(DEDUP, DedupConfig(threshold=0.6), spec, tmp_path / "full", RUN)
    calls = [0]
    real = minhash.signatures

    def counted(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(minhash, "signatures", counted)
    cfg = DedupConfig(threshold=0.6, signatures_from=str(tmp_path / "old"))
    again = run_stage(DEDUP, cfg, spec, tmp_path / "again", RUN)
    assert calls[0] == 0  # no MinHash: the earlier run's signatures were used
    assert _outcome(tmp_path / "again") == _outcome(tmp_path / "full")
    assert again.stats["excluded"] == full.stats["excluded"]
    assert full.stats["docs_excluded"] > 0


def test_signatures_of_other_settings_or_inputs_are_refused(ingested_corpus, tmp_path):
    spec = [InputSpec(str(ingested_corpus))]
    run_stage(DEDUP, DedupConfig(), spec, tmp_path / "old", RUN)
    with pytest.raises(StageError, match="num_perm=384, this one 128"):
        run_stage(DEDUP, DedupConfig(num_perm=128, signatures_from=str(tmp_path / "old")), spec, tmp_path / "a", RUN)
    with pytest.raises(StageError, match="no finished dedup run"):
        run_stage(DEDUP, DedupConfig(signatures_from=str(ingested_corpus)), spec, tmp_path / "b", RUN)
