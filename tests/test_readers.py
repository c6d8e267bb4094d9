import gzip
import json
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from lmpipe.core import readers, schema
from lmpipe.core.readers import InputError, RecordKeys, Skip, iter_file, resolve_inputs


def _collect(path, source=None):
    items = list(iter_file(str(path), RecordKeys(), source))
    return [i for i in items if not isinstance(i, Skip)], [i for i in items if isinstance(i, Skip)]


def test_bundled_samples_read_in_every_format(samples):
    files = resolve_inputs([samples / "corpus"])
    formats = {readers.file_format(f) for f in files}
    assert formats == {"jsonl", "parquet", "text"}
    total = 0
    for f in files:
        docs, skips = _collect(f)
        assert not skips, f
        assert all(d.text.strip() and d.id for d in docs)
        total += len(docs)
    assert total == 3263


def test_ids_are_prefixed_by_source_and_metadata_kept(samples):
    docs, _ = _collect(samples / "corpus" / "ko_kobill.jsonl.gz")
    assert docs[0].id.startswith("konlpy_kobill/")
    assert docs[0].metadata[schema.LANG] == "ko"
    assert docs[0].metadata[schema.INPUT_FILE] == "ko_kobill.jsonl.gz"
    assert docs[0].metadata[schema.INPUT_ROW] == 0


def test_broken_json_line_and_missing_text_are_skipped_with_line_numbers(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"id": 1, "text": "첫 번째 문서입니다."}),
        '{"id": 2, "text": "truncated',  # broken JSON
        json.dumps({"id": 3, "title": "no text field"}),
        json.dumps({"id": 4, "text": "   "}),
        json.dumps([1, 2]),
        json.dumps({"id": 5, "text": "The fifth document survives."}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs, skips = _collect(path, source="t")
    assert [d.id for d in docs] == ["t/1", "t/5"]
    assert [(s.row, s.reason) for s in skips] == [
        (1, readers.SKIP_BAD_JSON),
        (2, readers.SKIP_NO_TEXT),
        (3, readers.SKIP_NO_TEXT),
        (4, readers.SKIP_NOT_AN_OBJECT),
    ]


def test_truncated_gzip_keeps_complete_lines_and_counts_the_damage(tmp_path):
    raw = b"".join(json.dumps({"id": i, "text": f"문서 {i} " * 50}).encode() + b"\n" for i in range(200))
    blob = gzip.compress(raw)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    docs, skips = _collect(path)
    assert 0 < len(docs) < 200
    assert [s.reason for s in skips] == [readers.SKIP_TRUNCATED_FILE]
    assert [d.id for d in docs] == [f"cut/{i}" for i in range(len(docs))]  # no partial record slipped through


def test_zstd_jsonl_and_foreign_parquet(tmp_path):
    zpath = tmp_path / "a.jsonl.zst"
    zpath.write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "zstd text", "lang": "en"}\n'))
    docs, _ = _collect(zpath)
    assert docs[0].text == "zstd text" and docs[0].id == "a/a.jsonl.zst:0"
    ppath = tmp_path / "b.parquet"
    pq.write_table(pa.table({"content": ["본문 하나", None], "doc": ["x", "y"]}), ppath)
    items = list(iter_file(str(ppath), RecordKeys(text="content", id="doc")))
    assert items[0].id == "b/x" and isinstance(items[1], Skip) and items[1].reason == readers.SKIP_NO_TEXT


def test_not_a_parquet_file_is_counted_not_fatal(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is not parquet at all")
    docs, skips = _collect(path)
    assert not docs and skips[0].reason == readers.SKIP_UNREADABLE_FILE


def test_unopenable_file_is_counted_unreadable(tmp_path):
    # A folder named like a file: fails to open even as root (CI runs as root, so chmod 0 would not).
    path = tmp_path / "dir.jsonl"
    path.mkdir()
    items = list(readers.iter_jsonl(str(path), RecordKeys(), "s"))
    assert [i.reason for i in items] == [readers.SKIP_UNREADABLE_FILE]


def test_nfd_korean_is_normalized_to_nfc(tmp_path):
    nfd = unicodedata.normalize("NFD", "한국어 문서")
    path = tmp_path / "nfd.jsonl"
    path.write_text(json.dumps({"text": nfd}) + "\n", encoding="utf-8")
    docs, _ = _collect(path)
    assert docs[0].text == "한국어 문서" and len(docs[0].text) == 6


def test_resolve_inputs_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        resolve_inputs([tmp_path / "nope"])
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unsupported input file"):
        resolve_inputs([tmp_path / "x.csv"])
    with pytest.raises(InputError, match="no supported input file"):
        resolve_inputs([tmp_path])
    (tmp_path / "y.jsonl").write_text("{}\n")
    with pytest.raises(InputError, match="more than once"):
        resolve_inputs([tmp_path / "y.jsonl", tmp_path])
