import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.pipeline.filters.base_filter import BaseFilter

from lmpipe.catalog import STAGES
from lmpipe.core import schema
from lmpipe.core.config import ConfigError, from_dict
from lmpipe.core.ledger import AccountingError, merge_ledgers
from lmpipe.core.runner import InputSpec, RunConfig, Stage, StageError, run_stage
from lmpipe.stages.ingest.stage import INGEST_TOO_LARGE, IngestConfig

INGEST = STAGES["ingest"]


def _rows(folder: Path, pattern: str) -> list[dict]:
    rows = []
    for f in sorted(folder.glob(pattern)):
        rows += pq.read_table(f).to_pylist()
    return rows


def test_ingest_accounts_for_every_document(samples, tmp_path):
    cfg = IngestConfig(max_text_bytes=100_000)  # the two Gutenberg novels are larger
    result = run_stage(INGEST, cfg, [InputSpec(path=str(samples / "corpus"))], tmp_path / "ingest")
    stats = json.loads((tmp_path / "ingest" / "stats.json").read_text())
    assert stats == result.stats
    assert stats["docs_in"] == 3263
    assert stats["docs_in"] == stats["docs_out"] + stats["docs_excluded"]
    assert stats["excluded"][INGEST_TOO_LARGE]["docs"] == 2
    kept = _rows(tmp_path / "ingest", "data/part-*.parquet")
    excluded = _rows(tmp_path / "ingest", "excluded/*.parquet")
    assert len(kept) == stats["docs_out"] and len(excluded) == 2
    assert {r["id"] for r in excluded} == {"gutenberg/gutenberg/11", "gutenberg/gutenberg/84"}
    assert all(r["drop_stage"] == "ingest" and r["drop_reason"] == INGEST_TOO_LARGE and r["text"] for r in excluded)
    assert len({r["id"] for r in kept}) == len(kept)  # ids unique across corpora
    assert sum(len(r["text"].encode()) for r in kept) == stats["bytes_out"]
    by_id = {r["id"]: r for r in kept}
    assert by_id["dolma_cc/http://advocatesaz.org/tag/antibiotic-resistant-bacteria/"]["domain"] == "advocatesaz.org"


def test_finished_stage_is_not_run_again(samples, tmp_path):
    inputs = [InputSpec(path=str(samples / "corpus" / "ko_kobill.jsonl.gz"))]
    first = run_stage(INGEST, IngestConfig(), inputs, tmp_path / "out")
    part = tmp_path / "out" / "data" / "part-00000.parquet"
    mtime = part.stat().st_mtime_ns
    second = run_stage(INGEST, IngestConfig(), inputs, tmp_path / "out")
    assert second.skipped_run and not first.skipped_run
    assert part.stat().st_mtime_ns == mtime and second.stats == first.stats


def test_other_config_in_same_folder_is_refused_unless_overwrite(samples, tmp_path):
    inputs = [InputSpec(path=str(samples / "corpus" / "ko_kobill.jsonl.gz"))]
    run_stage(INGEST, IngestConfig(), inputs, tmp_path / "out")
    with pytest.raises(StageError, match="different run"):
        run_stage(INGEST, IngestConfig(min_text_chars=10_000), inputs, tmp_path / "out")
    result = run_stage(INGEST, IngestConfig(min_text_chars=10_000), inputs, tmp_path / "out", overwrite=True)
    assert result.stats["docs_out"] + result.stats["docs_excluded"] == 10


def test_bad_input_is_counted_and_listed(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"text": "좋은 문서"}\n{"text": broken\n{"id": 7}\n', encoding="utf-8")
    result = run_stage(INGEST, IngestConfig(), [InputSpec(path=str(data))], tmp_path / "out")
    assert result.stats["docs_in"] == 1
    assert result.stats["skipped_input"] == {"reader.bad_json": 1, "reader.no_text": 1}
    listed = [json.loads(x) for x in (tmp_path / "out" / "skipped" / "00000.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in listed] == [(2, "reader.bad_json"), (3, "reader.no_text")]
    assert listed[0]["file"].endswith("a.jsonl")


def test_excluded_text_can_be_left_out(samples, tmp_path):
    inputs = [InputSpec(path=str(samples / "corpus" / "ko_kobill.jsonl.gz"))]
    run_stage(INGEST, IngestConfig(min_text_chars=3000), inputs, tmp_path / "o", RunConfig(keep_excluded_text=False))
    excluded = _rows(tmp_path / "o", "excluded/*.parquet")
    assert excluded and all(r["text"] is None and r["text_bytes"] > 0 for r in excluded)


# --- interruption: a task that dies midway, then a re-run --------------------------------------------------------


@dataclass(frozen=True)
class _FlakyConfig:
    crash_marker: str = ""  # while this file exists, the filter raises on the 50th document of task 1


class _CrashOnce(BaseFilter):
    name = "crash once"

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.seen = 0

    def filter(self, doc):
        self.seen += 1
        if self.marker and Path(self.marker).exists() and doc.metadata[schema.INPUT_FILE].startswith("ko_nsmc"):
            if self.seen >= 50:
                raise RuntimeError("simulated worker crash")
        return len(doc.text) > 20 or (False, "test.short")


def test_interrupted_stage_resumes_to_identical_output(samples, tmp_path):
    marker = tmp_path / "crash"
    marker.touch()
    flaky = Stage("flaky", "test", _FlakyConfig, lambda cfg: [_CrashOnce(cfg.crash_marker)])
    cfg = _FlakyConfig(crash_marker=str(marker))
    inputs = [InputSpec(path=str(samples / "corpus"))]
    with pytest.raises(RuntimeError, match="simulated worker crash"):
        run_stage(flaky, cfg, inputs, tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "stats.json").exists()
    # the crashed task (7: the NSMC Parquet file) left no final output file, half-written or not
    assert not list((tmp_path / "resumed").glob("**/*00007.parquet"))
    assert not list((tmp_path / "resumed").glob("**/*.tmp"))
    done_before = sorted(p.name for p in (tmp_path / "resumed" / "_logs" / "completions").iterdir())
    assert done_before  # tasks before the crash finished and are not redone
    marker.unlink()
    resumed = run_stage(flaky, cfg, inputs, tmp_path / "resumed")
    clean = run_stage(flaky, cfg, inputs, tmp_path / "clean")
    for pattern in ("data/part-*.parquet", "excluded/*.parquet"):
        a = [p.relative_to(tmp_path / "resumed") for p in sorted((tmp_path / "resumed").glob(pattern))]
        b = [p.relative_to(tmp_path / "clean") for p in sorted((tmp_path / "clean").glob(pattern))]
        assert a == b
        for rel in a:
            assert pq.read_table(tmp_path / "resumed" / rel).equals(pq.read_table(tmp_path / "clean" / rel))
    for key in ("docs_in", "docs_out", "excluded", "bytes_out"):
        assert resumed.stats[key] == clean.stats[key]
    assert resumed.stats["excluded"]["test.short"]["docs"] > 0


def test_parallel_workers_give_the_same_documents(samples, tmp_path):
    inputs = [InputSpec(path=str(samples / "corpus"))]
    one = run_stage(INGEST, IngestConfig(), inputs, tmp_path / "w1", RunConfig(workers=1))
    two = run_stage(INGEST, IngestConfig(), inputs, tmp_path / "w2", RunConfig(workers=2))
    assert one.stats["docs_out"] == two.stats["docs_out"] == 3263
    assert _rows(tmp_path / "w1", "data/part-*.parquet") == _rows(tmp_path / "w2", "data/part-*.parquet")


def test_stage_makes_no_network_call(samples, tmp_path, no_network):
    result = run_stage(INGEST, IngestConfig(), [InputSpec(path=str(samples / "corpus"))], tmp_path / "o")
    assert result.stats["docs_out"] == 3263 and no_network == []


def test_accounting_mismatch_fails_loudly(tmp_path):
    ledger = {
        "docs_in": 5,
        "bytes_in": 50,
        "docs_out": 3,
        "bytes_out": 30,
        "excluded_docs": {"x": 1},
        "excluded_bytes": {"x": 10},
        "skipped_input": {},
        "files": [],
        "wall_seconds": 0.1,
    }
    (tmp_path / "00000.json").write_text(json.dumps(ledger))
    with pytest.raises(AccountingError, match=r"documents in \(5\) != kept \(3\) \+ excluded \(1\)"):
        merge_ledgers([tmp_path / "00000.json"])


def test_unknown_config_key_lists_valid_ones():
    with pytest.raises(ConfigError, match="max_text_bytes, min_text_chars"):
        from_dict(IngestConfig, {"max_text_byte": 5}, where="ingest")
    with pytest.raises(ConfigError, match="expected int"):
        from_dict(IngestConfig, {"max_text_bytes": "big"})


def test_datatrove_filters_compose_and_their_reasons_are_kept(samples, tmp_path):
    """Our runner wraps datatrove's own filters too: their drop reasons land in excluded/ and stats.json."""
    from datatrove.pipeline.filters import GopherQualityFilter

    @dataclass(frozen=True)
    class _NoConfig:
        pass

    stage = Stage("dt", "datatrove filter", _NoConfig, lambda cfg: [GopherQualityFilter()])
    inputs = [InputSpec(path=str(samples / "corpus" / "en_cc_documents.jsonl.gz"))]
    result = run_stage(stage, _NoConfig(), inputs, tmp_path / "dt")
    assert result.stats["docs_in"] == 30 == result.stats["docs_out"] + result.stats["docs_excluded"]
    assert result.stats["docs_excluded"] > 0
    assert all(reason.startswith("gopher_") for reason in result.stats["excluded"])
    excluded = _rows(tmp_path / "dt", "excluded/*.parquet")
    assert {r["drop_reason"] for r in excluded} == set(result.stats["excluded"])
