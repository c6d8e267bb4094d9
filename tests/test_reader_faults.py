"""Faults in real input files, each handled where the file is read: corrupt compressed files, a damaged WARC,
invalid UTF-8 and a BOM in JSONL, a NUL in Korean text given to MeCab, Korean pages labelled Chinese/Japanese."""

from __future__ import annotations

import codecs
import gzip
import random
import zlib
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import zstandard

from lmpipe.core import readers, schema
from lmpipe.core.charset import decode_html
from lmpipe.core.readers import RecordKeys, Skip, iter_file
from lmpipe.core.runner import InputSpec, RunConfig, Stage, run_stage
from lmpipe.stages.ingest.stage import IngestConfig, build_ingest
from lmpipe.text.korean import morpheme_spans, morphemes

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "samples" / "corpus"
WARCS = REPO / "samples" / "warc"


def _read(path) -> tuple[dict[str, str], list[Skip]]:
    items = list(iter_file(str(path), RecordKeys(), "s"))
    return {i.id: i.text for i in items if not isinstance(i, Skip)}, [i for i in items if isinstance(i, Skip)]


def _flip_one_bit(data: bytes, rng: random.Random) -> bytes:
    damaged = bytearray(data)
    damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
    return bytes(damaged)


def _assert_no_altered_document(path: Path, original: dict[str, str]) -> str:
    """Reads a damaged copy: every kept document is the original's; returns what happened."""
    kept, skips = _read(path)
    assert all(original.get(doc_id) == text for doc_id, text in kept.items()), f"altered document kept: {skips}"
    if any(s.reason == readers.SKIP_CORRUPT_FILE for s in skips):
        assert not kept and len(skips) == 1 and skips[0].file == str(path)
        return "corrupt"
    return "intact" if kept == original and not skips else "other"


# 1. A flipped bit in a compressed file is found by its checksum only at the end of the member: no record of it.


@pytest.mark.parametrize("sample", ["ko_kobill.jsonl.gz", "en_cc_documents.jsonl.gz"])
def test_bit_flipped_gzip_keeps_no_altered_document(tmp_path, sample):
    data = (CORPUS / sample).read_bytes()
    original, skips = _read(CORPUS / sample)
    assert original and not skips
    rng = random.Random(20240518)
    outcomes = []
    for i in range(30):
        path = tmp_path / f"flip{i}.jsonl.gz"
        path.write_bytes(_flip_one_bit(data, rng))
        outcomes.append(_assert_no_altered_document(path, original))
    assert outcomes.count("corrupt") >= 27  # the rest hit a header byte that changes nothing (e.g. mtime)
    assert "other" not in outcomes


def test_bit_flipped_zstd_with_checksum_keeps_no_altered_document(tmp_path):
    with zstandard.ZstdDecompressor().stream_reader((CORPUS / "ko_news_parallel.jsonl.zst").open("rb")) as f:
        raw = f.read()
    data = zstandard.ZstdCompressor(write_checksum=True).compress(raw)
    clean = tmp_path / "clean.jsonl.zst"
    clean.write_bytes(data)
    original, _ = _read(clean)
    assert len(original) == raw.count(b"\n")
    rng = random.Random(7)
    outcomes = []
    for i in range(30):
        path = tmp_path / f"flip{i}.jsonl.zst"
        path.write_bytes(_flip_one_bit(data, rng))
        outcomes.append(_assert_no_altered_document(path, original))
    assert outcomes.count("corrupt") >= 27 and "other" not in outcomes


def test_crc_mismatch_is_one_counted_skip_naming_the_file(tmp_path):
    data = bytearray((CORPUS / "ko_kobill.jsonl.gz").read_bytes())
    data[-8] ^= 0x01  # the CRC-32 itself: every byte of content is right, but it cannot be shown to be
    path = tmp_path / "bad_crc.jsonl.gz"
    path.write_bytes(bytes(data))
    kept, skips = _read(path)
    assert not kept
    assert [(s.file, s.row, s.reason) for s in skips] == [(str(path), None, readers.SKIP_CORRUPT_FILE)]
    assert "CRC" in skips[0].detail


def test_truncated_zstd_keeps_complete_lines_only(tmp_path):
    with zstandard.ZstdDecompressor().stream_reader((CORPUS / "ko_news_parallel.jsonl.zst").open("rb")) as f:
        raw = f.read()
    lines = raw.splitlines(keepends=True)
    data = zstandard.ZstdCompressor(write_checksum=True).compress(raw)
    whole = tmp_path / "whole.jsonl.zst"
    whole.write_bytes(data)
    original, _ = _read(whole)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[: len(data) * 9 // 10])  # the stream reader returns a cut frame's prefix silently
    kept, skips = _read(path)
    assert [s.reason for s in skips] == [readers.SKIP_TRUNCATED_FILE]
    assert 0 < len(kept) < len(lines)
    assert all(original[k] == v for k, v in kept.items())  # and no half line parsed as a record


# 2. One damaged WARC file is counted skips, not a failed stage.


def _gzip_members(data: bytes) -> list[bytes]:
    members = []
    while data:
        d = zlib.decompressobj(31)
        d.decompress(data)
        members.append(data[: len(data) - len(d.unused_data)])
        data = d.unused_data
    return members


def test_warc_with_corrupt_first_record_does_not_fail_ingest(tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    good = crawl / "cc.warc.gz"
    good.write_bytes((WARCS / "resiliparse-cc-main-2020-34-sample.warc.gz").read_bytes())
    members = _gzip_members((WARCS / "warcio-example.warc.gz").read_bytes())
    first = gzip.decompress(members[0])
    assert first.startswith(b"WARC/1.0\r\n")
    damaged = crawl / "damaged.warc.gz"
    damaged.write_bytes(gzip.compress(b"WXRC/1.0\r\n" + first[10:], mtime=0) + b"".join(members[1:]))

    damaged_items = list(iter_file(str(damaged), RecordKeys()))
    assert damaged_items[0].reason == readers.SKIP_WARC_CORRUPT_RECORD and damaged_items[0].file == str(damaged)
    expected_docs = sum(not isinstance(i, Skip) for f in (good, damaged) for i in iter_file(str(f), RecordKeys()))

    out = tmp_path / "out"
    stage = Stage("ingest", "ingest", IngestConfig, build_ingest)
    stats = run_stage(stage, IngestConfig(), [InputSpec(path=str(crawl))], out, RunConfig()).stats
    assert stats["skipped_input"][readers.SKIP_WARC_CORRUPT_RECORD] == 1
    assert stats["docs_in"] == expected_docs == stats["docs_out"] + stats["docs_excluded"]
    kept = [r for f in sorted(out.glob("data/part-*.parquet")) for r in pq.read_table(f).to_pylist()]
    landed = {orjson.loads(r["metadata_json"])[schema.INPUT_FILE] for r in kept}
    assert "cc.warc.gz" in landed  # the good file's documents landed
    skipped = [orjson.loads(line) for f in (out / "skipped").glob("*.jsonl") for line in f.read_bytes().splitlines()]
    assert any(s["reason"] == readers.SKIP_WARC_CORRUPT_RECORD and s["file"] == str(damaged) for s in skipped)


# 3. Invalid UTF-8 in a JSONL line is a counted skip, never text with U+FFFD in it. 4. A BOM costs nothing.


def _news_lines() -> list[bytes]:
    return (CORPUS / "en_news_parallel.jsonl").read_bytes().splitlines(keepends=True)[:40]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_invalid_utf8_line_is_counted_and_neighbours_kept(tmp_path, suffix):
    lines = _news_lines()
    clean = tmp_path / f"clean{suffix}"
    blob = b"".join(lines)
    clean.write_bytes(gzip.compress(blob) if suffix.endswith(".gz") else blob)
    original, _ = _read(clean)
    bad = bytearray(lines[5])
    at = bad.index(b'"text"') + 12
    bad[at : at + 1] = b"\xff\xfe"  # bytes no UTF-8 text has
    lines[5] = bytes(bad)
    path = tmp_path / f"bad{suffix}"
    blob = b"".join(lines)
    path.write_bytes(gzip.compress(blob) if suffix.endswith(".gz") else blob)

    kept, skips = _read(path)
    assert [(s.file, s.row, s.reason) for s in skips] == [(str(path), 5, readers.SKIP_BAD_ENCODING)]
    assert "\\xff" in skips[0].detail
    line5_id = list(original)[5]
    assert kept == {k: v for k, v in original.items() if k != line5_id}  # the others unchanged, in order
    assert not any("\ufffd" in text for text in kept.values())


def test_leading_bom_does_not_cost_the_first_record(tmp_path):
    lines = _news_lines()
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(b"".join(lines))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(codecs.BOM_UTF8 + b"".join(lines))
    original, _ = _read(plain)
    kept, skips = _read(bom)
    assert not skips
    assert list(kept.values()) == list(original.values()) and len(kept) == len(lines)


# 5. A NUL in a Korean document does not cut MeCab's output.


def test_nul_in_korean_text_keeps_its_morphemes():
    text = (CORPUS / "ko_constitution.txt").read_text(encoding="utf-8")[:1200]
    cut = len(text) // 4
    with_nul = text[:cut] + "\x00" + text[cut:]
    clean = morphemes(text)
    assert len(clean) > 300
    assert abs(len(morphemes(with_nul)) - len(clean)) <= 2
    spans = morpheme_spans(with_nul)
    assert abs(len(spans) - len(clean)) <= 2
    assert "\x00" not in "".join(with_nul[s:e] for s, e in spans)
    assert [with_nul[s:e] for s, e in spans if e <= cut] == [text[s:e] for s, e in morpheme_spans(text) if e <= cut]
    assert morphemes(text[:cut] + "\ud800" + text[cut:])  # a lone surrogate was a TypeError from MeCab


# 6. Korean pages declared gb2312 / euc-jp are read as Korean, not as Hanzi/Kanji mojibake.


def _korean_page(label: str, paragraphs: int) -> tuple[str, bytes]:
    text = (CORPUS / "ko_constitution.txt").read_text(encoding="utf-8").replace("\r\n", "\n")
    body = "\n".join([p.strip() for p in text.split("\n") if p.strip()][:paragraphs])
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={label}">'
    html = f"<html><head>{meta}<title>대한민국헌법</title></head><body><p>{body}</p></body></html>"
    return body, html.encode("cp949")


@pytest.mark.parametrize("label", ["gb2312", "GBK", "euc-jp", "shift_jis", "big5"])
@pytest.mark.parametrize("paragraphs", [3, 40])
def test_korean_page_declared_chinese_or_japanese_is_read_as_cp949(label, paragraphs):
    body, raw = _korean_page(label, paragraphs)
    decoded = decode_html(raw)
    assert decoded.charset == "cp949" and decoded.declared == label
    assert body in decoded.text
    assert decode_html(raw, http_charset=label).text == decoded.text


def test_chinese_page_declared_gb2312_stays_gb18030():
    from warcio.archiveiterator import ArchiveIterator

    with (WARCS / "resiliparse-cc-main-2020-34-sample.warc.gz").open("rb") as f:
        pages = [r.content_stream().read() for r in ArchiveIterator(f) if r.rec_type == "response"]
    chinese = [
        p.decode("utf-8") for p in pages if sum("\u4e00" <= c <= "\u9fff" for c in p.decode("utf-8", "ignore")) > 500
    ]
    assert chinese
    for html in chinese:
        raw = html.encode("gb18030")
        decoded = decode_html(raw, http_charset="gb2312")
        assert decoded.charset == "gb18030" and decoded.text == html
