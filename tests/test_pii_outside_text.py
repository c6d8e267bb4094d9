"""PII outside `text` (issue 18, item 7): ids, extra record fields (metadata_json), URL query strings, the filter
report and excluded documents without text. Every value below must be gone from every column of every row."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pyarrow.parquet as pq

from lmpipe.catalog import get_stage
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.stages.filter.stage import FilterConfig
from lmpipe.stages.pii.stage import PiiConfig

EMAIL_ID = "kim.minsu88@naver.com"
EMAIL_ID_EN = "j.smith@example.org"
PHONE = "010-4821-7733"
RRN = "880315-2345671"
EMAIL_URL = "park.jiyeon@daum.net"
PHONE_URL = "010-1234-5678"
EMAIL_NESTED = "support@shop-example.co.kr"
VALUES = (EMAIL_ID, EMAIL_ID_EN, PHONE, RRN, EMAIL_URL, PHONE_URL, EMAIL_NESTED)

RECORDS = [
    {
        "id": f"post-{EMAIL_ID}",
        "text": "오늘 동네 도서관에서 열린 독서 모임에 다녀왔다. 다음 달에는 한강 작가의 소설을 함께 읽기로 했다.",
        "url": f"https://cafe.example.kr/board/view?articleid=1042&email={quote(EMAIL_URL)}&tel={PHONE_URL}",
        "lang": "ko",
        "author": {"nickname": "책벌레", "contact": {"phone": PHONE, "주민등록번호": RRN}},
        "views": 1523,
    },
    {
        "id": "post-2",
        "text": "지하철 2호선 운행이 오전 한때 지연되었다. 서울교통공사는 신호 장애가 원인이라고 밝혔다.",
        "url": "https://news.example.kr/article/2024/05/12/subway",
        "lang": "ko",
        "reporter_phone": PHONE,
    },
    {
        "id": EMAIL_ID_EN,
        "text": "The library will extend its opening hours during the exam period, the city council said on Monday.",
        "url": f"https://forum.example.com/t/hours?ref=newsletter&email={EMAIL_URL}#reply",
        "lang": "en",
        "tags": ["library", f"contact {EMAIL_NESTED}"],
        "rrn_on_file": RRN,
    },
    {
        "id": "en-plain",
        "text": "Chrome 120.0.6099.109 shipped on 2023-12-05; ISBN 978-0-306-40615-7 costs $1,299.99.",
        "lang": "en",
    },
]


def _encoded_forms(value: str) -> set[str]:
    return {value, quote(value), quote(value, safe=""), quote_plus(value)}


def _leaks(cells) -> list[str]:
    forms = {form for value in VALUES for form in _encoded_forms(value)}
    return sorted({form for cell in cells for form in forms if cell is not None and form in str(cell)})


def _write_input(tmp_path):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    with (src / "community.jsonl").open("w", encoding="utf-8") as f:
        for r in RECORDS:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return src


def _run_pii(tmp_path, name: str):
    out = tmp_path / name
    result = run_stage(get_stage("pii"), PiiConfig(), [InputSpec(str(_write_input(tmp_path)))], out, RunConfig())
    rows = [r for p in sorted(out.glob("data/part-*.parquet")) for r in pq.read_table(p).to_pylist()]
    return result.stats, rows


def test_no_pii_survives_in_any_column_of_kept_documents(tmp_path):
    stats, rows = _run_pii(tmp_path, "pii")
    assert len(rows) == len(RECORDS)
    assert _leaks(cell for row in rows for cell in row.values()) == []

    by_text = {r["text"][:10]: r for r in rows}
    first = by_text[RECORDS[0]["text"][:10]]
    meta = json.loads(first["metadata_json"])
    assert meta["author"] == {"nickname": "책벌레", "contact": {"phone": "<PHONE_NUMBER>", "주민등록번호": "<KR_RRN>"}}
    assert meta["views"] == 1523 and first["lang"] == "ko"  # the pipeline's own signals and numbers stay
    query = dict(parse_qsl(urlsplit(first["url"]).query))  # still a parseable URL
    assert query == {"articleid": "1042", "email": "<EMAIL_ADDRESS>", "tel": "<PHONE_NUMBER>"}
    assert urlsplit(first["url"]).netloc == "cafe.example.kr"
    english = by_text[RECORDS[2]["text"][:10]]
    assert urlsplit(english["url"]).fragment == "reply"
    assert json.loads(english["metadata_json"])["tags"] == ["library", "contact <EMAIL_ADDRESS>"]
    assert by_text[RECORDS[3]["text"][:10]]["text"] == RECORDS[3]["text"]

    outside = stats["pii_outside_text"]
    assert outside["docs"] == 3 and outside["ids_rehashed"] == 2
    assert outside["url"] == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1}
    assert outside["metadata"] == {"EMAIL_ADDRESS": 1, "KR_RRN": 2, "PHONE_NUMBER": 2}
    assert stats["pii"]["docs_with_pii"] == 0  # the texts themselves hold none


def test_ids_with_pii_are_hashed_unique_and_stable_across_runs(tmp_path):
    _, first = _run_pii(tmp_path, "run1")
    _, second = _run_pii(tmp_path, "run2")
    ids = sorted(r["id"] for r in first)
    assert ids == sorted(r["id"] for r in second) and len(set(ids)) == len(RECORDS)
    assert _leaks(ids) == []
    assert "community/post-2" in ids and "community/en-plain" in ids  # ids without PII are unchanged
    hashed = [i for i in ids if "pii-" in i]
    assert len(hashed) == 2 and all(re.fullmatch(r"community/pii-[0-9a-f]{16}", i) for i in hashed)


JUNK = [
    {"id": f"toto-{EMAIL_ID}", "lang": "ko", "url": f"https://example.kr/토토사이트-추천?email={EMAIL_URL}",
     "text": f"안전한 토토사이트 추천 목록입니다. 상담 {PHONE}, 주민번호 {RRN} 확인 후 가입. 먹튀검증 완료.",
     "contact": {"phone": PHONE_URL}},
    {"id": "blocked", "lang": "en", "url": f"http://0-1avsex.com/?mail={EMAIL_URL}",
     "text": f"Welcome to our site. Write to {EMAIL_NESTED} or call {PHONE_URL}.", "owner": EMAIL_ID_EN},
]  # fmt: skip


def _run_filter(tmp_path, cfg: FilterConfig, run: RunConfig, name: str):
    src = tmp_path / "junk.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in JUNK) + "\n", encoding="utf-8")
    out = tmp_path / name
    run_stage(get_stage("filter"), cfg, [InputSpec(str(src), source="junk")], out, run)
    excluded = [r for p in sorted((out / "excluded").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert len(excluded) == len(JUNK)
    return out, excluded


def test_filter_report_quotes_no_document_by_default(tmp_path):
    out, excluded = _run_filter(tmp_path, FilterConfig(), RunConfig(), "filtered")
    report = (out / "report.md").read_text(encoding="utf-8")
    assert _leaks([report]) == []
    assert "토토사이트 추천 목록" not in report and "Welcome to our site" not in report
    for row in excluded:
        assert f"### `{row['drop_reason']}`" in report and f"`{row['id']}`" not in report
    assert "report_examples=true" in report

    out, _ = _run_filter(tmp_path, FilterConfig(report_examples=True), RunConfig(), "with_examples")
    assert "Welcome to our site" in (out / "report.md").read_text(encoding="utf-8")  # on request only


def test_excluded_without_text_keeps_no_metadata_that_can_hold_pii(tmp_path):
    out, excluded = _run_filter(tmp_path, FilterConfig(), RunConfig(keep_excluded_text=False), "no_text")
    assert all(r["text"] is None and r["text_bytes"] > 0 for r in excluded)
    metas = [json.loads(r["metadata_json"]) if r["metadata_json"] else {} for r in excluded]
    assert all("url" not in m and "contact" not in m and "owner" not in m for m in metas)
    assert all(r["url"] is None for r in excluded)  # the column too: a URL can hold PII
    # per-language and per-source accounting still works, from the columns
    assert sorted(r["lang"] for r in excluded) == ["en", "ko"] and {r["source"] for r in excluded} == {"junk"}
    # only the ids (an audit needs them) may still hold what the input had: every other cell is clean
    assert _leaks(cell for r in excluded for k, cell in r.items() if k != "id") == []
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "ko (n=1)" in report and "en (n=1)" in report and _leaks([report]) == []
