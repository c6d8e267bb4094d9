import pyarrow as pa
from datatrove.data import Document

from lmpipe.core import schema


def test_round_trip_keeps_columns_and_extra_metadata():
    docs = [
        Document(
            text="대한민국은 민주공화국이다.\n모든 권력은 국민으로부터 나온다.",
            id="kolaw/1",
            metadata={schema.SOURCE: "kolaw", schema.LANG: "ko", schema.LANG_SCORE: 0.98, "rating": 7, "tags": ["a"]},
        ),
        Document(text="Call me Ishmael.", id="gutenberg/2701", metadata={schema.URL: "https://www.gutenberg.org/"}),
    ]
    table = schema.documents_to_table(docs)
    assert table.schema.equals(schema.DOCUMENT_SCHEMA)
    assert table.column("lang").to_pylist() == ["ko", None]
    back = [schema.row_to_document(r) for r in table.to_pylist()]
    assert back[0].text == docs[0].text and back[0].id == "kolaw/1"
    assert back[0].metadata["rating"] == 7 and back[0].metadata["tags"] == ["a"]
    assert abs(back[0].metadata[schema.LANG_SCORE] - 0.98) < 1e-6  # float32 column
    assert back[1].metadata == {schema.URL: "https://www.gutenberg.org/"}
    assert schema.is_document_table(table.schema)
    assert not schema.is_document_table(pa.schema([("text", pa.string())]))


def test_excluded_table_can_omit_text_but_keeps_bytes():
    doc = Document(
        text="무단전재 및 재배포 금지", id="x/1", metadata={schema.DROP_STAGE: "filter", schema.DROP_REASON: "r"}
    )
    table = schema.excluded_to_table([doc], keep_text=False)
    row = table.to_pylist()[0]
    assert row["text"] is None and row["text_bytes"] == len(doc.text.encode()) and row["drop_reason"] == "r"


def test_excluded_rows_have_source_lang_and_url_columns():
    meta = {schema.DROP_STAGE: "filter", schema.DROP_REASON: "r", schema.SOURCE: "cc", schema.LANG: "ko"}
    meta |= {schema.URL: "https://example.kr/a", "gopher.word_count": 3}
    doc = Document(text="본문", id="cc/1", metadata=meta)
    row = schema.excluded_to_table([doc], keep_text=True).to_pylist()[0]
    assert (row["source"], row["lang"], row["url"]) == ("cc", "ko", "https://example.kr/a")
    assert '"url"' not in row["metadata_json"] and '"lang"' not in row["metadata_json"]  # not twice
    back = schema.excluded_metadata(row)
    assert back[schema.URL] == "https://example.kr/a" and back[schema.LANG] == "ko" and back["gopher.word_count"] == 3
    row = schema.excluded_to_table([doc], keep_text=False).to_pylist()[0]
    assert row["url"] is None and row["lang"] == "ko" and row["text"] is None
