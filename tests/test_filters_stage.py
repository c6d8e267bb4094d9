"""The `filter` stage end to end on bundled samples: accounting invariant, excluded reasons, report.md."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from lmpipe.catalog import get_stage
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.stages.filter import gopher, korean
from lmpipe.stages.filter.stage import FilterConfig
from lmpipe.stages.filter.url import URL_BANNED_SUBWORD, URL_BLOCKED_DOMAIN

JUNK = [
    {"id": "menu", "lang": "ko", "url": "https://example.kr/",
     "text": "홈 | 뉴스 | 정치 | 경제 | 로그인 | 회원가입\n회사소개 | 광고문의 | 개인정보처리방침 | 이용약관\n"
             "ⓒ 예시일보 무단전재 및 재배포 금지"},
    {"id": "toto", "lang": "ko", "url": "https://example.kr/토토사이트-추천",
     "text": "안전한 토토사이트 추천 목록입니다. 먹튀검증 완료."},
    {"id": "blocked", "lang": "en", "url": "http://0-1avsex.com/", "text": "Welcome to our site."},
    {"id": "stuffing", "lang": "en", "url": "https://deals.example.com/",
     "text": " ".join(["cheap flights hotels deals discount booking"] * 30)},
]  # fmt: skip


def test_filter_stage_end_to_end(tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in JUNK) + "\n", encoding="utf-8")
    inputs = [
        InputSpec("samples/corpus/ko_news_parallel.jsonl.zst"),
        InputSpec("samples/corpus/en_cc_documents.jsonl.gz"),
        InputSpec("samples/corpus/en_wikitext.jsonl.gz"),
        InputSpec(str(junk), source="junk"),
    ]
    out = tmp_path / "filtered"
    result = run_stage(get_stage("filter"), FilterConfig(), inputs, out, RunConfig(workers=1))
    stats = result.stats
    assert stats["docs_in"] == 100 + 30 + 20 + len(JUNK)
    assert stats["docs_in"] == stats["docs_out"] + stats["docs_excluded"]

    excluded = [r for p in sorted((out / "excluded").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    reasons = {r["id"]: r["drop_reason"] for r in excluded}
    assert reasons["junk/blocked"] == URL_BLOCKED_DOMAIN
    assert reasons["junk/toto"] == URL_BANNED_SUBWORD
    assert reasons["junk/stuffing"] == gopher.REPETITION_TOP_NGRAM
    assert reasons["junk/menu"] == korean.BOILERPLATE_MOSTLY
    assert all(r["text"] for r in excluded)  # excluded documents keep their text for audit

    kept = [r for p in sorted(out.glob("data/part-*.parquet")) for r in pq.read_table(p).to_pylist()]
    kept_ko = [r for r in kept if r["lang"] == "ko"]
    assert len(kept_ko) >= 80  # real Korean news sentences (10 per document) are mostly kept
    meta = json.loads(kept_ko[0]["metadata_json"])
    assert meta["rules.lang"] == "ko" and "gopher.stop_words" in meta and "repetition.dup_5gram_char_ratio" in meta

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| reason |" in report and f"`{URL_BLOCKED_DOMAIN}`" in report
    assert "ko (n=" in report and "en (n=" in report
    assert stats["docs_in_by_lang"]["ko"] == 102 and stats["docs_in_by_lang"]["en"] == 52
    for reason in {r["drop_reason"] for r in excluded}:
        assert f"### `{reason}`" in report


def test_partial_override_keeps_korean_defaults():
    from lmpipe.cli import stage_config

    cfg = stage_config("filter", None, ["ko.gopher.min_words=40", "en.fineweb.max_short_line_ratio=null"])
    assert cfg.ko.gopher.min_words == 40
    assert cfg.ko.gopher.stop_words[:3] == ("의", "다", "이") and cfg.ko.gopher.max_mean_word_chars == 6.0
    assert cfg.ko.fineweb.min_terminal_punct_line_ratio == 0.062
    assert cfg.en.fineweb.max_short_line_ratio is None and cfg.en.gopher.stop_words[0] == "the"


def test_signals_can_be_dropped_from_kept_documents():
    from datatrove.data import Document

    from lmpipe.stages.filter.stage import DropSignals, build_filter

    steps = build_filter(FilterConfig(signals_in_kept=False))
    assert isinstance(steps[-1], DropSignals)
    d = Document(text="x", id="1", metadata={"lang": "ko", "gopher.word_count": 3, "c4.removed_lines": 0})
    steps[-1].transform(d)
    assert d.metadata == {"lang": "ko"}
