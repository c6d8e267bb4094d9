"""A large Parquet file is read by several tasks (row-group slices, lmpipe.core.slices) when run.bytes_per_task is
set, and gives exactly the documents, ids and skips of one task reading it whole, in a stage and in dedup."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmpipe.catalog import STAGES
from lmpipe.core import slices
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.stages.dedup.config import DedupConfig
from lmpipe.stages.ingest.stage import IngestConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory) -> Path:
    """The 3,000 real NSMC reviews (samples/) as 15 row groups of 200 rows, with 3 empty texts (skips) and a
    copy of 40 reviews (duplicates across slices, for dedup)."""
    table = pq.read_table(REPO / "samples/corpus/ko_nsmc_reviews.parquet")
    rows = table.to_pylist()
    for i in (5, 1234, 2999):
        rows[i]["text"] = "  "
    rows += [dict(r, id=f"copy-{r['id']}") for r in rows[100:140]]
    path = tmp_path_factory.mktemp("big") / "reviews.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path, row_group_size=200)
    assert pq.ParquetFile(path).metadata.num_row_groups == 16
    return path


def _kept(folder: Path) -> list[tuple[str, str]]:
    rows = []
    for f in sorted(folder.glob("data/part-*.parquet")):
        t = pq.read_table(f, columns=["id", "text"])
        rows += zip(t["id"].to_pylist(), t["text"].to_pylist())
    return sorted(rows)


def test_slices_cover_every_row_group_once(big_parquet):
    size = big_parquet.stat().st_size
    entries = slices.split_large_parquet([str(big_parquet)], size // 5)
    assert 4 <= len(entries) <= 6
    groups = [g for e in entries for g in slices.parse(e)[1]]
    assert groups == list(range(16))  # contiguous, in order, none twice
    assert slices.split_large_parquet([str(big_parquet)], None) == [str(big_parquet)]
    assert slices.split_large_parquet([str(big_parquet)], size * 2) == [str(big_parquet)]  # small enough: whole


def test_sliced_file_gives_the_documents_of_the_whole_file(big_parquet, tmp_path):
    ingest = STAGES["ingest"]
    whole = run_stage(ingest, IngestConfig(), [InputSpec(str(big_parquet))], tmp_path / "whole", RunConfig())
    per_task = big_parquet.stat().st_size // 5
    run = RunConfig(workers=2, bytes_per_task=per_task)
    sliced = run_stage(ingest, IngestConfig(), [InputSpec(str(big_parquet))], tmp_path / "sliced", run)
    assert whole.stats["tasks"] == 1 and sliced.stats["tasks"] >= 4
    assert _kept(tmp_path / "sliced") == _kept(tmp_path / "whole")  # same ids: rows numbered from the file start
    assert sliced.stats["skipped_input"] == whole.stats["skipped_input"] == {"reader.no_text": 3}
    skipped = [json.loads(line) for f in (tmp_path / "sliced" / "skipped").glob("*.jsonl") for line in f.open()]
    lines = sorted(r["line"] for r in skipped)
    assert lines == [6, 1235, 3000] and all("#row_groups=" in r["file"] for r in skipped)

    # dedup's signature phase reads the same slices as its per-document pass: the copies are found across them
    dedup = STAGES["dedup"]
    d_whole = run_stage(dedup, DedupConfig(), [InputSpec(str(big_parquet))], tmp_path / "d_whole", RunConfig())
    d_sliced = run_stage(dedup, DedupConfig(), [InputSpec(str(big_parquet))], tmp_path / "d_sliced", run)
    assert d_sliced.stats["tasks"] >= 4
    assert d_sliced.stats["docs_excluded"] == d_whole.stats["docs_excluded"] >= 40
    assert _kept(tmp_path / "d_sliced") == _kept(tmp_path / "d_whole")
