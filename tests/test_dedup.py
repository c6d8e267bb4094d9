"""Dedup stage end to end: exact and near duplicates in Korean and English, keep rule, small memory budget, Ray."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import zstandard

from lmpipe.core import schema
from lmpipe.core.runner import InputSpec, RunConfig, StageError
from lmpipe.stages.dedup import evalset, minhash
from lmpipe.stages.dedup.config import DedupConfig
from lmpipe.stages.dedup.run import DEDUP_STAGE, run_dedup
from lmpipe.stages.dedup.stage import DEDUP_EXACT, DEDUP_NEAR, build_dedup


def _jsonl(path: Path) -> list[dict]:
    if path.suffix == ".zst":
        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
        return [json.loads(line) for line in io.TextIOWrapper(raw, encoding="utf-8") if line.strip()]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def originals() -> list[tuple[str, str, str]]:
    corpus = Path(__file__).resolve().parent.parent / "samples" / "corpus"
    ko = [(r["id"], r["text"], "ko") for r in _jsonl(corpus / "ko_news_parallel.jsonl.zst")[:60]]
    en = [(r["id"], r["text"], "en") for r in _jsonl(corpus / "en_news_parallel.jsonl")[:40]]
    en += [(r["id"], r["text"], "en") for r in _jsonl(corpus / "en_wikitext.jsonl.gz")[:10]]
    return ko + en


@pytest.fixture(scope="module")
def eval_docs(originals) -> list[evalset.EvalDoc]:
    return evalset.build(originals, copy_fraction=0.5, template_fraction=0.2, seed=7)


def _write_inputs(folder: Path, docs: list[evalset.EvalDoc], files: int = 3, quality: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        with open(folder / f"part{i}.jsonl", "wb") as f:
            for d in docs[i::files]:
                record = {"id": d.id, "text": d.text, "source": "eval", "lang": d.lang}
                if quality and d.id in quality:
                    record[schema.QUALITY_SCORE] = quality[d.id]
                f.write(orjson.dumps(record) + b"\n")
    return folder


def _rows(folder: Path, pattern: str) -> list[dict]:
    return [r for f in sorted(folder.glob(pattern)) for r in pq.read_table(f).to_pylist()]


def _kept_ids(out: Path) -> set[str]:
    return {r["id"].removeprefix("eval/") for r in _rows(out, "data/part-*.parquet")}


@pytest.fixture(scope="module")
def dedup_run(tmp_path_factory, eval_docs):
    tmp = tmp_path_factory.mktemp("dedup")
    inputs = _write_inputs(tmp / "in", eval_docs)
    result = run_dedup(DedupConfig(), [InputSpec(path=str(inputs))], tmp / "out")
    return result, tmp / "out"


def test_removes_korean_and_english_copies_and_keeps_uniques(dedup_run, eval_docs):
    result, out = dedup_run
    kept = _kept_ids(out)
    score = evalset.score(eval_docs, kept)
    assert score["copies"] > 100 and score["uniques"] > 30
    assert score["copies_removed"] >= 0.97
    assert score["uniques_kept"] == 1.0 and score["templates_kept"] == 1.0
    assert score["groups_wiped_out"] == 0
    for lang in ("ko", "en"):  # both languages have copies, and they are caught
        copies = [d for d in eval_docs if d.lang == lang and d.kind in evalset.EDITS]
        assert copies and sum(d.id not in kept or d.group not in kept for d in copies) >= 0.95 * len(copies)


def test_signature_verification_keeps_related_pairs_below_the_threshold(tmp_path):
    """Rewritten versions of real articles (exact char-4 Jaccard 0.62-0.75, below 0.8) must both survive. LSH
    band collisions alone join some such pairs; verifying candidates against their signatures does not."""
    corpus = Path(__file__).resolve().parent.parent / "samples" / "corpus"
    originals = [(r["id"], r["text"], "ko") for r in _jsonl(corpus / "ko_news_parallel.jsonl.zst")]
    originals += [(r["id"], r["text"], "en") for r in _jsonl(corpus / "en_news_parallel.jsonl")]
    originals += [(r["id"], r["text"], "en") for r in _jsonl(corpus / "en_wikitext.jsonl.gz")]
    pairs = evalset.related_pairs(originals, 0.62, 0.75, seed=1)
    assert len(pairs) > 150 and {a.lang for a, _, _ in pairs} == {"ko", "en"}
    inputs = _write_inputs(tmp_path / "in", [d for a, b, _ in pairs for d in (a, b)])
    merged = {}
    for verify in (False, True):
        out = tmp_path / f"out-{verify}"
        run_dedup(DedupConfig(verify=verify), [InputSpec(path=str(inputs))], out)
        kept = _kept_ids(out)
        merged[verify] = sum(a.id not in kept or b.id not in kept for a, b, _ in pairs)
        if verify:
            summary = json.loads((out / "_dedup" / "summary.json").read_text())
            assert summary["lsh_verified"] < summary["lsh_candidates"]
            assert "kept after signature verification" in (out / "report.md").read_text()
    assert merged[False] >= 3, merged  # the failure mode exists on this data
    assert merged[True] == 0, merged


def test_accounting_reasons_and_metadata(dedup_run, eval_docs):
    result, out = dedup_run
    stats = json.loads((out / "stats.json").read_text())
    assert stats["docs_in"] == len(eval_docs) == stats["docs_out"] + stats["docs_excluded"]
    assert set(stats["excluded"]) == {DEDUP_EXACT, DEDUP_NEAR}
    excluded = _rows(out, "excluded/*.parquet")
    by_id = {d.id: d for d in eval_docs}
    kept_rows = {r["id"]: r for r in _rows(out, "data/part-*.parquet")}
    for row in excluded:
        meta = json.loads(row["metadata_json"])
        doc = by_id[row["id"].removeprefix("eval/")]
        assert row["drop_stage"] == "dedup" and row["text"]
        kept = kept_rows[meta[schema.DEDUP_KEPT_ID]]  # the kept document of its cluster exists and says so
        assert kept[schema.DEDUP_CLUSTER] == meta[schema.DEDUP_CLUSTER]
        assert json.loads(kept["metadata_json"])[schema.DEDUP_KEPT_ID] == kept["id"]
        # exact: the same text as the kept document after normalization (case, whitespace); near otherwise
        same = minhash.exact_hash(row["text"]) == minhash.exact_hash(kept["text"])
        assert row["drop_reason"] == (DEDUP_EXACT if same else DEDUP_NEAR)
        assert doc.group is not None  # only true copies (or their originals) are removed
    reasons = {(by_id[r["id"].removeprefix("eval/")].kind, r["drop_reason"]) for r in excluded}
    assert {r for _, r in reasons} == {DEDUP_EXACT, DEDUP_NEAR} and ("edit", DEDUP_NEAR) in reasons
    report = (out / "report.md").read_text()
    assert "## Cluster sizes" in report and "dedup.near_duplicate" in report and "exact Jaccard" in report
    assert stats["dedup"]["component_steps"] >= 2


def test_keep_rule_quality_then_length_then_id(tmp_path, originals):
    ko_id, ko_text, _ = originals[0]
    en_id, en_text, _ = originals[70]
    docs = [
        evalset.EvalDoc("ko-b", ko_text, "ko", "k", "original"),
        evalset.EvalDoc("ko-a", ko_text + "\n" + evalset.BOILERPLATE["ko"], "ko", "k", "boilerplate"),
        evalset.EvalDoc("ko-c", ko_text.replace(" ", "  "), "ko", "k", "exact"),
        evalset.EvalDoc("en-b", en_text, "en", "e", "original"),
        evalset.EvalDoc("en-a", en_text.replace(" ", "\n"), "en", "e", "exact"),
    ]
    quality = {"ko-c": 0.9, "ko-a": 0.5}  # ko: highest quality wins over longer; en: equal length -> smallest id
    inputs = _write_inputs(tmp_path / "in", docs, files=2, quality=quality)
    run_dedup(DedupConfig(), [InputSpec(path=str(inputs))], tmp_path / "out")
    assert _kept_ids(tmp_path / "out") == {"ko-c", "en-a"}
    excluded = {r["id"]: r["drop_reason"] for r in _rows(tmp_path / "out", "excluded/*.parquet")}
    assert excluded == {"eval/ko-b": DEDUP_EXACT, "eval/ko-a": DEDUP_NEAR, "eval/en-b": DEDUP_EXACT}


def test_dataset_larger_than_memory_budget_spills_and_gives_same_result(tmp_path, eval_docs, dedup_run):
    _, reference_out = dedup_run
    inputs = _write_inputs(tmp_path / "in", eval_docs)
    cfg = DedupConfig(max_partition_mb=0.01)  # 10 kB per task: the bucket keys alone take ~20x that
    run_dedup(cfg, [InputSpec(path=str(inputs))], tmp_path / "out", RunConfig(workers=2))  # a process pool
    summary = json.loads((tmp_path / "out" / "_dedup" / "summary.json").read_text())
    assert summary["partitions"] >= 10
    assert summary["max_rows_held_by_a_task"] < summary["bucket_keys"] / 5  # no task saw more than its share
    task0 = json.loads((tmp_path / "out" / "_dedup" / "sig" / "00000.json").read_text())
    assert task0["key_runs"] > 1  # phase 1 spilled sorted runs of keys instead of holding them all
    assert _kept_ids(tmp_path / "out") == _kept_ids(reference_out)
    ref = {r["id"]: r["drop_reason"] for r in _rows(reference_out, "excluded/*.parquet")}
    assert {r["id"]: r["drop_reason"] for r in _rows(tmp_path / "out", "excluded/*.parquet")} == ref


def test_chain_of_near_duplicates_is_one_cluster(tmp_path, originals):
    """A~B and B~C but A!~C: connected components put all three in one cluster; one document survives."""
    text = originals[-5][1][:3000]  # an English Wikipedia article
    words = text.split(" ")
    rng = random.Random(3)
    chain = [text]
    for _ in range(10):  # each link rewrites 2.5% of the words: neighbours are near, the ends are not
        w = chain[-1].split(" ")
        for i in rng.sample(range(len(w)), len(w) // 40):
            w[i] = rng.choice(words) + "x"
        chain.append(" ".join(w))
    from lmpipe.stages.dedup.minhash import exact_jaccard

    assert all(exact_jaccard(a, b, "char", 5) > 0.85 for a, b in zip(chain, chain[1:]))
    assert exact_jaccard(chain[0], chain[-1], "char", 5) < 0.6
    docs = [evalset.EvalDoc(f"chain-{i}", t, "en", "c", "edit") for i, t in enumerate(chain)]
    inputs = _write_inputs(tmp_path / "in", docs, files=3)
    run_dedup(DedupConfig(), [InputSpec(path=str(inputs))], tmp_path / "out", RunConfig(workers=1))
    assert len(_kept_ids(tmp_path / "out")) == 1
    clusters = {json.loads(r["metadata_json"])[schema.DEDUP_CLUSTER] for r in _rows(tmp_path / "out", "excluded/*")}
    assert len(clusters) == 1


def test_exact_only_and_bad_config(tmp_path, eval_docs):
    inputs = _write_inputs(tmp_path / "in", eval_docs[:150], files=2)
    result = run_dedup(DedupConfig(fuzzy=False), [InputSpec(path=str(inputs))], tmp_path / "out")
    assert set(result.stats["excluded"]) == {DEDUP_EXACT}
    exact_copies = [d for d in eval_docs[:150] if d.kind == "exact" and any(o.id == d.group for o in eval_docs[:150])]
    assert result.stats["docs_excluded"] >= len(exact_copies) > 0
    with pytest.raises(StageError, match="decisions of phases 1-2"):
        build_dedup(DedupConfig())  # the filter alone cannot dedup: only Stage.prepare sees the whole dataset
    from lmpipe.core.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match="bands and dedup.rows"):
        from_dict(DedupConfig, {"bands": 9})
    assert DEDUP_STAGE.config_cls is DedupConfig


def test_cli_and_rerun_is_skipped(tmp_path, eval_docs):
    from lmpipe.cli import main

    inputs = _write_inputs(tmp_path / "in", eval_docs[:60], files=2)
    args = ["run", "dedup", "--input", str(inputs), "--output", str(tmp_path / "out"), "--set", "dedup.threshold=0.7"]
    assert main(args) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["config"]["threshold"] == 0.7 and stats["docs_in"] == 60
    assert main(args) == 0  # finished: not run again
    assert main(args[:-1] + ["dedup.threshold=0.9"]) == 2  # other config, same output dir: refused


def test_ray_executor_gives_same_decisions(tmp_path, eval_docs):
    import ray

    inputs = _write_inputs(tmp_path / "in", eval_docs[:60], files=2)
    run_dedup(DedupConfig(), [InputSpec(path=str(inputs))], tmp_path / "local")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run = RunConfig(executor="ray", workers=2, ray_mem_per_task_gb=0.5)
        result = run_dedup(DedupConfig(), [InputSpec(path=str(inputs))], tmp_path / "ray", run)
    finally:
        ray.shutdown()
    assert result.stats["docs_excluded"] > 5
    assert _kept_ids(tmp_path / "ray") == _kept_ids(tmp_path / "local")
