"""The run report is made from stats.json and a bounded sample (issue 17): its Parquet reads do not grow with the
stage folders, its numbers are stats.json's, and it quotes no document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import job_env

from lmpipe import report
from lmpipe.core.runner import StageResult
from lmpipe.tokenizer import report as tokenizer_report

REPO = Path(__file__).resolve().parent.parent
STAGES = ["ingest", "filter", "quality", "dedup", "decont", "pii", "tokenizer", "pack"]
COPIES = 200  # every part file linked this many more times: each stage folder holds 201x its rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real job on two small sample corpora (every stage runs; local executor for speed)."""
    root = tmp_path_factory.mktemp("run")
    inputs = "[{path: samples/corpus/ko_kobill.jsonl.gz}, {path: samples/corpus/en_wikitext.jsonl.gz}]"
    out = subprocess.run(
        [sys.executable, "jobs/full.py", "--config", "jobs/configs/sample.yaml", "--set", f"output_dir={root}",
         "--set", f"inputs={inputs}", "--set", "run.executor=local", "--set", "stages.tokenizer.vocab_size=1000"],
        cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return root


def _results(run: Path) -> list[StageResult]:
    return [
        StageResult(s, run / s, json.loads((run / s / "stats.json").read_text()), skipped_run=True) for s in STAGES
    ]


def _all_rows_by_lang(folder: Path) -> tuple[Counter, Counter]:
    docs, nbytes = Counter(), Counter()
    for part in report._part_files(folder):  # the manifest's parts (the tokenizer stage's: pii's, by reference)
        for row in pq.read_table(part, columns=["lang", "text"]).to_pylist():
            docs[row["lang"] or "unknown"] += 1
            nbytes[row["lang"] or "unknown"] += len(row["text"].encode("utf-8"))
    return docs, nbytes


def _scale(stats: dict, k: int) -> dict:
    """stats.json of a stage whose every document came k times: the funnel still adds up."""
    for key in ("docs_in", "docs_out", "docs_excluded", "bytes_in", "bytes_out", "bytes_excluded"):
        stats[key] *= k
    for v in stats["excluded"].values():
        v["docs"], v["bytes"] = v["docs"] * k, v["bytes"] * k
    stats["skipped_input"] = {r: n * k for r, n in stats["skipped_input"].items()}
    for split in stats.get("pack", {}).get("splits", {}).values():
        split["documents"], split["tokens"] = split["documents"] * k, split["tokens"] * k
    return stats


def _inflate(run: Path, copies: int) -> None:
    """Link every part file `copies` more times under new names, listed in a valid (complete) _stage.json."""
    for stage in STAGES:
        folder = run / stage
        manifest = json.loads((folder / "_stage.json").read_text())
        parts = list(manifest["parts"])
        for c in range(copies):
            for entry in manifest["parts"]:
                if "path" in entry:  # by reference (tokenizer): the referenced stage's copies, linked before
                    head, tail = entry["path"].rsplit("/part-", 1)
                    parts.append({"path": f"{head}/part-c{c:04d}-{tail}", "size": entry["size"]})
                    continue
                name = f"data/part-c{c:04d}-{entry['name'].removeprefix('data/part-')}"
                os.link(folder / entry["name"], folder / name)
                parts.append({"name": name, "size": entry["size"]})
        manifest["parts"] = parts
        (folder / "_stage.json").write_text(json.dumps(manifest))
        stats = _scale(json.loads((folder / "stats.json").read_text()), copies + 1)
        (folder / "stats.json").write_text(json.dumps(stats))


@pytest.fixture
def rows_read(monkeypatch) -> Counter:
    """Rows (and files, as "<stage>/files") read from Parquet by anyone, per stage folder, while the test runs."""
    counts: Counter = Counter()
    real_init, real_iter = pq.ParquetFile.__init__, pq.ParquetFile.iter_batches
    real_read, real_group, real_groups = (
        pq.ParquetFile.read,
        pq.ParquetFile.read_row_group,
        pq.ParquetFile.read_row_groups,
    )
    real_table = pq.read_table

    def where(source) -> str:
        parent = Path(str(source)).parent
        return parent.parent.name if parent.name == "data" else parent.name  # STAGE/data/part-*.parquet

    def init(self, source, *a, **kw):
        self._test_source = where(source)
        counts[f"{self._test_source}/files"] += 1
        real_init(self, source, *a, **kw)

    def iter_batches(self, *a, **kw):
        for batch in real_iter(self, *a, **kw):
            counts[self._test_source] += batch.num_rows
            yield batch

    def wrap(real):
        def read(self, *a, **kw):
            table = real(self, *a, **kw)
            counts[self._test_source] += table.num_rows
            return table

        return read

    def read_table(source, *a, **kw):
        table = real_table(source, *a, **kw)
        counts[where(source)] += table.num_rows
        return table

    monkeypatch.setattr(pq.ParquetFile, "__init__", init)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", iter_batches)
    monkeypatch.setattr(pq.ParquetFile, "read", wrap(real_read))
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", wrap(real_group))
    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", wrap(real_groups))
    monkeypatch.setattr(pq, "read_table", read_table)
    return counts


def _check_numbers(data: report.RunData, results: list[StageResult]) -> None:
    for r in results:
        counts = data.kept_by_lang[r.stage]
        assert sum(v["docs"] for v in counts.values()) == r.stats["docs_out"], r.stage
        assert sum(v["bytes"] for v in counts.values()) == r.stats["bytes_out"], r.stage
        by_source = data.kept_by_source[r.stage]  # per source too (issue 20): the sample scaled to the totals
        assert sum(v["docs"] for v in by_source.values()) == r.stats["docs_out"], r.stage
        assert sum(v["bytes"] for v in by_source.values()) == r.stats["bytes_out"], r.stage
    pack = results[-1].stats["pack"]["splits"].values()
    exact = sum(s["tokens"] - s["documents"] for s in pack)  # tokens without the one EOS per document
    assert sum(v["tokens"] for v in data.kept_by_lang["pack"].values()) == exact


def _check_report_text(run: Path, results: list[StageResult]) -> None:
    md = (run / "report.md").read_text(encoding="utf-8")
    for r in results:
        s = r.stats
        assert f"| {r.stage} | {s['docs_in']:,} | {s['docs_out']:,} | {s['docs_excluded']:,} |" in md
        for reason, v in s["excluded"].items():
            assert f"| {r.stage} | excluded | `{reason}` | {v['docs']:,} |" in md
    assert "## Kept per language" in md and "## Tokenizer compression" in md and "## Packed token shards" in md
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "<h2>Kept per language" in html and html.count("<img") >= 3
    # no document is quoted: not the ingest stage's (before pii), not the ones the report measured
    texts = pq.read_table(run / "ingest" / "data" / "part-00000.parquet", columns=["text"]).column("text").to_pylist()
    for text in texts[:: max(1, len(texts) // 20)]:
        snippet = text.strip()[:40]
        assert snippet not in md and snippet not in html


def test_report_numbers_are_the_stages_and_exact_on_a_small_run(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, symlinks=True)
    results = _results(run)
    report.write_run_report(run, "small", results, {"name": "small"})
    data = report.collect("small", run, results, {})
    _check_numbers(data, results)
    for r in results:  # every stage kept fewer than SAMPLE_ROWS documents: the sample is the whole stage
        docs, nbytes = _all_rows_by_lang(r.output_dir)
        assert {k: v["docs"] for k, v in data.kept_by_lang[r.stage].items()} == dict(docs), r.stage
        assert {k: v["bytes"] for k, v in data.kept_by_lang[r.stage].items()} == dict(nbytes), r.stage
        assert data.kept_basis[r.stage] == f"all {r.stats['docs_out']:,}"
    index_tokens = sum(
        pq.read_table(p, columns=["n_tokens"]).column("n_tokens").to_numpy().sum() - pq.read_metadata(p).num_rows
        for p in (run / "pack" / "shards").glob("index-*.parquet")
    )
    assert sum(v["tokens"] for v in data.kept_by_lang["pack"].values()) == index_tokens
    assert {c["text"] for c in data.compression} == {f"{lang}-kept" for lang in data.kept_by_lang["tokenizer"]}
    _check_report_text(run, results)


def test_report_reads_a_bounded_sample_of_stage_folders_201x_as_big(run_dir, tmp_path, rows_read, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, symlinks=True)
    small = {r.stage: r for r in _results(run)}
    small_by_lang = {s: _all_rows_by_lang(run / s)[0] for s in STAGES}
    _inflate(run, COPIES)
    rows_read.clear()
    measured: list[int] = []
    real_measure = tokenizer_report.measure

    def measure(refs, sets):
        measured.extend(len(s.docs) for s in sets)
        return real_measure(refs, sets)

    monkeypatch.setattr(tokenizer_report, "measure", measure)
    results = _results(run)
    report.write_run_report(run, "big", results, {"name": "big"})

    for stage in STAGES:
        rows = sum(pq.read_metadata(p).num_rows for p in report._part_files(run / stage))
        assert rows == (COPIES + 1) * small[stage].stats["docs_out"]
        # tokenizer and pack keep pii's parts by reference: one sample of them serves the three stages
        assert rows_read[f"{stage}/files"] <= report.SAMPLE_FILES, stage
        assert rows_read[stage] <= report.SAMPLE_ROWS, stage
    assert rows_read["shards"] == 0  # token totals from stats.json (pack.json), not the index
    read = sum(n for k, n in rows_read.items() if not k.endswith("/files"))
    assert read <= len(STAGES) * report.SAMPLE_ROWS
    assert sum(r.stats["docs_out"] for r in results) >= 10 * read  # far more rows in the folders than read
    assert measured and max(measured) <= report.MAX_DOCS_PER_LANG_FOR_COMPRESSION

    rows_read.clear()
    data = report.collect("big", run, results, {})
    _check_numbers(data, results)
    for stage in STAGES:  # identical copies: the sample's language shares are the small run's, scaled exactly
        docs = {k: v["docs"] for k, v in data.kept_by_lang[stage].items()}
        assert docs == {k: n * (COPIES + 1) for k, n in small_by_lang[stage].items()}, stage
        assert data.kept_basis[stage].startswith("sample of ")
    _check_report_text(run, results)


def test_report_sample_caps_rows_and_text_bytes(run_dir, tmp_path, rows_read, monkeypatch):
    """Lower caps than the stage holds: the sample stops at them, and the shares are still scaled to stats.json."""
    monkeypatch.setattr(report, "SAMPLE_ROWS", 7)
    monkeypatch.setattr(report, "SAMPLE_FILES", 2)
    sample = report.sample_stage(run_dir / "ingest", keep_texts=True)
    assert sample.rows == 7 and rows_read["ingest"] == 7 and rows_read["ingest/files"] <= 2
    assert sum(len(t) for t in sample.texts.values()) == 7
    monkeypatch.setattr(report, "SAMPLE_ROWS", 10_000)
    monkeypatch.setattr(report, "SAMPLE_TEXT_BYTES", 1)
    assert report.sample_stage(run_dir / "ingest").rows <= report._BATCH_ROWS  # stops after the first batch
    results = _results(run_dir)
    monkeypatch.setattr(report, "SAMPLE_TEXT_BYTES", 16_000_000)
    monkeypatch.setattr(report, "SAMPLE_ROWS", 5)
    _check_numbers(report.collect("capped", run_dir, results, {}), results)
