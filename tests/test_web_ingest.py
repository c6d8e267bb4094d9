"""The ingest stage on WARC input: main text out, boilerplate out, language kept, nothing lost, corpora unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import Document
from test_web_warc import BAD_PAGES, GOOD_PAGES, REPO, constitution_html

from lmpipe.core import readers, schema
from lmpipe.core.runner import InputSpec, RunConfig, Stage, run_stage
from lmpipe.core.warc import TEXT_IS_HTML
from lmpipe.stages.ingest.langid import LANGID_LANGUAGE_NOT_KEPT
from lmpipe.stages.ingest.stage import IngestConfig, build_ingest
from lmpipe.stages.ingest.steps import (
    WEB_EXTRACTION_TIMEOUT,
    WEB_HTML_TOO_LARGE,
    WEB_NO_MAIN_TEXT,
    HtmlToText,
    UnicodeHygiene,
)
from lmpipe.testing.warc_pack import Page, write_warc

# The stage as lmpipe.catalog lists it (built here so this test does not import every other stage).
INGEST = Stage("ingest", "ingest", IngestConfig, build_ingest)
NAV_ONLY = Page(
    "https://example.kr/menu",
    "<html><body><nav><a href='/'>홈</a> <a href='/a'>소개</a></nav><script>var x = 1;</script></body></html>".encode(),
)


def run(tmp_path: Path, inputs: list[str], cfg: IngestConfig | None = None) -> tuple[dict, list[dict], list[dict]]:
    cfg = cfg or IngestConfig()
    out = tmp_path / "out"
    result = run_stage(INGEST, cfg, [InputSpec(path=p) for p in inputs], out, RunConfig())
    kept = [r for f in sorted(out.glob("data/part-*.parquet")) for r in pq.read_table(f).to_pylist()]
    excluded = [r for f in sorted(out.glob("excluded/*.parquet")) for r in pq.read_table(f).to_pylist()]
    return result.stats, kept, excluded


def test_warc_folder_to_korean_and_english_documents(tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    bad = [page for pages in BAD_PAGES.values() for page in pages]
    write_warc(str(crawl / "ko-00000.warc.gz"), [*GOOD_PAGES, NAV_ONLY, *bad])
    (crawl / "cc.warc.gz").write_bytes((REPO / "samples/warc/resiliparse-cc-main-2020-34-sample.warc.gz").read_bytes())
    stats, kept, excluded = run(tmp_path, [str(crawl)])

    by_url = {r[schema.URL]: r for r in kept}
    ko = by_url["https://law.example.kr/constitution"]
    assert ko[schema.LANG] == "ko" and ko[schema.LANG_SCORE] > 0.9
    assert "제1조 ① 대한민국은 민주공화국이다." in ko["text"]
    for boilerplate in ("회원가입", "사이트맵", "개인정보처리방침", "<p>"):
        assert boilerplate not in ko["text"]
    assert json.loads(ko["metadata_json"])[schema.CHARSET] == "cp949"
    assert "대한민국은 민주공화국이다" in by_url["https://www.news.example.kr/ko/1"]["text"]  # mislabelled euc-kr
    en = by_url["https://news.example.com/en/1"]
    assert en[schema.LANG] == "en" and "12.3 trillion calculations a second" in en["text"]
    assert "Privacy policy" not in en["text"]
    assert {r[schema.LANG] for r in kept} <= {"ko", "en"}

    # every bad record is a counted skip, every page is kept or excluded with a reason
    assert stats["skipped_input"] == {reason: len(pages) for reason, pages in BAD_PAGES.items()}
    assert stats["docs_in"] == 4 + 16 == stats["docs_out"] + stats["docs_excluded"]
    reasons = {r[schema.DROP_REASON] for r in excluded}
    assert WEB_NO_MAIN_TEXT in reasons and LANGID_LANGUAGE_NOT_KEPT in reasons  # zh/ru pages of the CC sample
    nav = next(r for r in excluded if r[schema.DROP_REASON] == WEB_NO_MAIN_TEXT)
    assert nav[schema.URL] == "https://example.kr/menu"  # a column of the excluded schema
    skipped = [
        json.loads(line) for f in (tmp_path / "out/skipped").glob("*.jsonl") for line in f.read_text().splitlines()
    ]
    assert {s["reason"] for s in skipped} == set(BAD_PAGES)
    assert all("urn:uuid:" in s["detail"] for s in skipped)


def test_corpus_documents_pass_web_steps_unchanged(tmp_path):
    stats, kept, _ = run(tmp_path, [str(REPO / "samples/corpus/en_news_parallel.jsonl")])
    source = [json.loads(line) for line in (REPO / "samples/corpus/en_news_parallel.jsonl").read_text().splitlines()]
    assert stats["docs_out"] == len(source) == 100
    assert [r["text"] for r in kept] == [r["text"] for r in source]
    assert {r[schema.LANG] for r in kept} == {"en"}
    assert all("extractor" not in (r["metadata_json"] or "") for r in kept)


def test_undeclared_corpus_gets_language_id(tmp_path):
    ko_lines = (REPO / "samples/corpus/ko_constitution.txt").read_text(encoding="utf-8").splitlines()
    docs = [{"id": i, "text": line} for i, line in enumerate(ko_lines[20:60]) if len(line.strip()) > 30]
    docs.append(
        {
            "id": "ja",
            "text": "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所で泣いていた事だけは記憶している。",
        }
    )
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs), encoding="utf-8")
    _, kept, excluded = run(tmp_path, [str(path)])
    assert {r[schema.LANG] for r in kept} == {"ko"} and len(kept) == len(docs) - 1
    assert [r["id"] for r in excluded] == ["mixed/ja"] and excluded[0][schema.DROP_REASON] == LANGID_LANGUAGE_NOT_KEPT


def test_trafilatura_is_selectable(tmp_path):
    path = tmp_path / "ko.warc.gz"
    write_warc(str(path), GOOD_PAGES)
    _, kept, _ = run(tmp_path, [str(path)], IngestConfig(extractor="trafilatura"))
    ko = next(r for r in kept if r[schema.URL] == "https://law.example.kr/constitution")
    assert "대한민국은 민주공화국이다" in ko["text"] and "회원가입" not in ko["text"]
    assert json.loads(ko["metadata_json"])["extractor"] == "trafilatura"


def _html_doc(html: str) -> Document:
    return Document(text=html, id="t/1", metadata={TEXT_IS_HTML: True, schema.WARC_RECORD_ID: "urn:uuid:1"})


def test_extraction_bounded_in_time_and_size():
    big = constitution_html().decode() * 40  # ~370 KB of real Korean HTML: trafilatura needs well over 1 ms
    doc = _html_doc(big)
    HtmlToText("trafilatura", timeout_s=0.001, max_html_chars=None).transform(doc)
    assert doc.metadata["extract_failure"] == WEB_EXTRACTION_TIMEOUT
    assert doc.text == big  # kept as read, for DIR/excluded
    doc = _html_doc(big)
    HtmlToText("resiliparse", timeout_s=5, max_html_chars=100_000).transform(doc)
    assert doc.metadata["extract_failure"] == WEB_HTML_TOO_LARGE


def test_too_large_pages_are_excluded_not_lost(tmp_path):
    path = tmp_path / "ko.warc.gz"
    write_warc(str(path), GOOD_PAGES)
    cfg = dataclasses.replace(IngestConfig(), max_html_chars=3_000)  # the two Korean pages are ~4,200 chars
    stats, kept, excluded = run(tmp_path, [str(path)], cfg)
    assert stats["excluded"][WEB_HTML_TOO_LARGE]["docs"] == 2
    assert [r[schema.URL] for r in kept] == ["https://news.example.com/en/1"] and stats["docs_in"] == 3
    assert all(r["text"].startswith("<!doctype html>") for r in excluded)  # the page as read, to audit


def test_unicode_hygiene_on_web_text_only():
    web = Document(
        text="한국어\u0000 문장입니다.\r\nThe Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows. \u1112\u1161\u11ab",
        id="w",
        metadata={schema.WARC_RECORD_ID: "urn:uuid:2"},
    )
    UnicodeHygiene().transform(web)
    assert web.text == "한국어 문장입니다.\nThe Mona Lisa doesn’t have eyebrows. 한"
    corpus = Document(text="doesnÃ¢â‚¬â„¢t\r\n", id="c", metadata={})
    UnicodeHygiene().transform(corpus)
    assert corpus.text == "doesnÃ¢â‚¬â„¢t\r\n"


def test_skip_reason_constants_are_named():
    for reason in (readers.SKIP_WARC_NOT_HTML, readers.SKIP_WARC_CORRUPT_RECORD, readers.SKIP_WARC_UNDECODABLE):
        assert reason.startswith("warc.")
