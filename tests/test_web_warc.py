"""WARC reading: one document per HTML response, metadata, and a counted skip for every kind of bad record."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from lmpipe.core import readers, schema
from lmpipe.core import warc as web_warc
from lmpipe.core.readers import InputError, RecordKeys, Skip, iter_file
from lmpipe.testing.warc_pack import Page, record_id, write_warc

REPO = Path(__file__).resolve().parent.parent
SAMPLES_WARC = REPO / "samples" / "warc"


def constitution_html(charset: str = "utf-8", meta: str | None = None) -> bytes:
    text = (REPO / "samples/corpus/ko_constitution.txt").read_text(encoding="utf-8").replace("\r\n", "\n")
    paragraphs = "".join(f"<p>{line.strip()}</p>\n" for line in text.split("\n")[:60] if line.strip())
    meta_tag = f'<meta charset="{meta}">' if meta else ""
    html = (
        f"<!doctype html><html lang='ko'><head>{meta_tag}<title>대한민국헌법 - 법령정보</title></head><body>"
        "<nav><ul><li><a href='/'>홈</a></li><li><a href='/login'>로그인</a></li>"
        "<li><a href='/join'>회원가입</a></li><li><a href='/map'>사이트맵</a></li></ul></nav>"
        f"<main><article><h1>대한민국헌법</h1>{paragraphs}</article></main>"
        "<footer><p>Copyright &copy; 2024 법령정보센터. All rights reserved. 개인정보처리방침 | 이용약관</p></footer>"
        "</body></html>"
    )
    return html.encode(charset)


def english_html() -> bytes:
    first = (REPO / "samples/corpus/en_news_parallel.jsonl").read_text(encoding="utf-8").split("\n", 1)[0]
    import orjson

    sentences = orjson.loads(first)["text"].split("\n")
    body = "".join(f"<p>{s}</p>" for s in sentences)
    return (
        "<html><head><title>Supercomputer</title></head><body>"
        "<div class='menu'><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/sports'>Sports</a></div>"
        f"<div class='article-body'>{body}</div>"
        "<div class='footer'>Terms of use | Privacy policy | Contact us</div></body></html>"
    ).encode()


GOOD_PAGES = [
    Page("https://law.example.kr/constitution", constitution_html("cp949"), "text/html; charset=euc-kr"),
    Page("https://www.news.example.kr/ko/1", constitution_html("utf-8", meta="euc-kr"), "text/html"),  # mislabel
    Page("https://news.example.com/en/1", english_html(), "text/html; charset=utf-8"),
]
BAD_PAGES = {
    readers.SKIP_WARC_NOT_HTML: [
        Page(
            "https://example.com/report.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "application/pdf"
        ),
        Page("https://example.com/logo", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "text/html"),
    ],
    readers.SKIP_WARC_HTTP_STATUS: [Page("https://example.com/old", b"<html>Moved</html>", "text/html", "301 Moved")],
    readers.SKIP_WARC_EMPTY_PAYLOAD: [Page("https://example.com/empty", b"  \n", "text/html")],
    readers.SKIP_WARC_UNDECODABLE: [
        Page("https://example.com/broken", bytes(range(0x80, 0x100)) * 40, "text/html; charset=utf-8")
    ],
}


def items(path) -> list:
    return list(iter_file(str(path), RecordKeys()))


def test_documents_from_real_samples_have_web_metadata():
    docs = [d for d in items(SAMPLES_WARC / "resiliparse-cc-main-2020-34-sample.warc.gz") if not isinstance(d, Skip)]
    assert len(docs) == 16  # 16 response records; 17 requests, 16 metadata and the warcinfo are not counted
    doc = docs[0]
    assert doc.text.lstrip().lower().startswith(("<!doctype", "<html"))
    assert doc.id == f"resiliparse-cc-main-2020-34-sample/{doc.metadata[schema.WARC_RECORD_ID]}"
    assert doc.metadata[schema.WARC_RECORD_ID].startswith("urn:uuid:")
    assert doc.metadata[schema.CRAWL_DATE].startswith("2020-08-")
    assert doc.metadata[schema.URL].startswith("http")
    assert doc.metadata[schema.DOMAIN] and "/" not in doc.metadata[schema.DOMAIN]
    assert doc.metadata[schema.CONTENT_TYPE] == "text/html"
    assert doc.metadata[schema.CHARSET] == "utf-8"
    assert len({d.id for d in docs}) == len(docs)


def test_korean_pages_decoded_and_ids_stable(tmp_path):
    path = tmp_path / "ko.warc.gz"
    write_warc(str(path), GOOD_PAGES)
    docs = items(path)
    assert [type(d).__name__ for d in docs] == ["Document"] * 3
    ko, mislabelled, en = docs
    assert "대한민국은 민주공화국이다" in ko.text and ko.metadata[schema.CHARSET] == "cp949"
    assert "대한민국은 민주공화국이다" in mislabelled.text
    assert mislabelled.metadata[schema.CHARSET] == "utf-8"
    assert mislabelled.metadata[web_warc.CHARSET_DECLARED] == "euc-kr"
    assert "supercomputer" in en.text
    assert ko.metadata[schema.DOMAIN] == "law.example.kr" and mislabelled.metadata[schema.DOMAIN] == "news.example.kr"
    assert ko.id == "ko/" + record_id(GOOD_PAGES[0].url, GOOD_PAGES[0].date).strip("<>")
    assert [d.id for d in items(path)] == [d.id for d in docs]  # same ids on a re-read


@pytest.mark.parametrize("reason", sorted(BAD_PAGES))
def test_each_bad_payload_is_a_counted_skip_with_record_id(tmp_path, reason):
    path = tmp_path / "bad.warc.gz"
    pages = BAD_PAGES[reason]
    write_warc(str(path), [GOOD_PAGES[2], *pages, GOOD_PAGES[0]])
    got = items(path)
    skips = [s for s in got if isinstance(s, Skip)]
    assert [s.reason for s in skips] == [reason] * len(pages)
    for skip, page in zip(skips, pages):
        assert record_id(page.url, page.date).strip("<>") in skip.detail
    assert len(got) - len(skips) == 2  # the run goes on: the pages before and after are read


def test_payload_too_large_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(web_warc, "MAX_PAYLOAD_BYTES", 5_000)
    path = tmp_path / "big.warc.gz"
    write_warc(str(path), GOOD_PAGES)  # the constitution pages are > 5 kB, the English one is not
    got = items(path)
    assert [getattr(s, "reason", None) for s in got] == [readers.SKIP_WARC_PAYLOAD_TOO_LARGE] * 2 + [None]


def _members(path: Path) -> list[bytes]:
    """The gzip members of a per-record-gzip WARC, one per record."""
    data = path.read_bytes()
    starts = [i for i in range(len(data)) if data.startswith(b"\x1f\x8b\x08\x00", i)]
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def test_corrupt_record_is_skipped_and_reading_resumes(tmp_path):
    path = tmp_path / "ok.warc.gz"
    write_warc(str(path), GOOD_PAGES, with_requests=False)
    members = _members(path)
    assert len(members) == 4  # warcinfo + 3 responses
    broken = gzip.compress(b"\x00\x01garbage\r\nWARC-Type: response\r\n\r\n<html>", mtime=0)
    damaged = tmp_path / "damaged.warc.gz"
    damaged.write_bytes(members[0] + members[1] + broken + members[2] + members[3])
    got = items(damaged)
    reasons = [s.reason if isinstance(s, Skip) else "doc" for s in got]
    assert reasons == ["doc", readers.SKIP_WARC_CORRUPT_RECORD, "doc", "doc"]


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path):
    path = tmp_path / "ok.warc.gz"
    write_warc(str(path), GOOD_PAGES, with_requests=False)
    members = _members(path)
    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes(b"".join(members[:3]) + members[3][: len(members[3]) // 2])
    got = items(truncated)
    assert [s.reason if isinstance(s, Skip) else "doc" for s in got] == ["doc", "doc", readers.SKIP_TRUNCATED_FILE]


def test_file_that_is_not_warc_is_an_error_naming_it(tmp_path):
    path = tmp_path / "notes.warc.gz"
    path.write_bytes(gzip.compress("그냥 텍스트 파일입니다, WARC가 아닙니다.\n".encode()))
    with pytest.raises(InputError, match="notes.warc.gz"):
        items(path)
    plain = tmp_path / "garbage.warc"
    plain.write_bytes(b"\x00\x01 not a warc at all")
    with pytest.raises(InputError, match="garbage.warc"):
        items(plain)
