"""The document contract every stage shares: metadata keys and the Parquet schema between stages.

Documents are datatrove `Document`s (text, id, metadata), so our stages and datatrove's own steps compose.
Between stages they are stored as Parquet (zstd) with the schema below: the keys every stage may rely on are
real columns (typed, readable by any Parquet tool); anything else a stage adds goes into `metadata_json`.
"""

from __future__ import annotations

import orjson
import pyarrow as pa
from datatrove.data import Document

# --- metadata keys every stage may rely on -------------------------------------------------------------------
SOURCE = "source"  # corpus or crawl the document came from ("nsmc", "cc-main-2024-22", ...)
URL = "url"  # page URL for web documents
DOMAIN = "domain"  # host of URL, lower case
CRAWL_DATE = "crawl_date"  # ISO date of the capture (WARC-Date)
WARC_RECORD_ID = "warc_record_id"
CONTENT_TYPE = "content_type"
CHARSET = "charset"  # charset the HTML was decoded with
LANG = "lang"  # ISO 639-1 code ("ko", "en"); None when unknown
LANG_SCORE = "lang_score"  # confidence of LANG in [0, 1]
QUALITY_SCORE = "quality_score"  # ML quality classifier probability of the positive class
DEDUP_CLUSTER = "dedup_cluster"  # id of the near-duplicate cluster the document belongs to
DEDUP_KEPT_ID = "dedup_kept_id"  # id of the document kept for that cluster
INPUT_FILE = "input_file"  # file the document was read from (provenance)
INPUT_ROW = "input_row"  # 0-based line / row / record number inside INPUT_FILE
DROP_STAGE = "drop_stage"  # stage that excluded the document
DROP_REASON = "drop_reason"  # named reason constant "<filter>.<what is wrong>"

# Columns of the Parquet files between stages, in this order. `metadata_json` holds every other metadata key.
COLUMN_KEYS: tuple[str, ...] = (SOURCE, URL, DOMAIN, CRAWL_DATE, LANG, LANG_SCORE, QUALITY_SCORE, DEDUP_CLUSTER)
_FLOAT_KEYS = {LANG_SCORE, QUALITY_SCORE}

DOCUMENT_SCHEMA = pa.schema(
    [pa.field("id", pa.string(), nullable=False), pa.field("text", pa.large_string(), nullable=False)]
    + [pa.field(k, pa.float32() if k in _FLOAT_KEYS else pa.string()) for k in COLUMN_KEYS]
    + [pa.field("metadata_json", pa.string())]
)

# Excluded documents: enough to audit or restore every removal. `text` is null when the stage was configured
# not to keep excluded text (large runs); `text_bytes` is always there so byte accounting still adds up.
EXCLUDED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field(DROP_STAGE, pa.string(), nullable=False),
        pa.field(DROP_REASON, pa.string(), nullable=False),
        pa.field("text_bytes", pa.int64(), nullable=False),
        # columns, not only metadata: per-source and per-language audits of removals are plain column queries
        # (`SELECT lang, drop_reason, count(*) ... GROUP BY ...` in DuckDB); `url` is null without the text
        pa.field(SOURCE, pa.string()),
        pa.field(LANG, pa.string()),
        pa.field(URL, pa.string()),
        pa.field("text", pa.large_string()),
        pa.field("metadata_json", pa.string()),
    ]
)
EXCLUDED_COLUMN_KEYS = (SOURCE, LANG, URL)


def text_bytes(doc: Document) -> int:
    return len(doc.text.encode("utf-8"))


def _metadata_rest(doc: Document, skip: tuple[str, ...]) -> str | None:
    rest = {k: v for k, v in doc.metadata.items() if k not in skip}
    # OPT_SERIALIZE_NUMPY: stages may leave numpy scalars in metadata; default=str keeps odd values, never fails.
    return orjson.dumps(rest, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode() if rest else None


def documents_to_table(docs: list[Document]) -> pa.Table:
    columns: dict[str, list] = {"id": [d.id for d in docs], "text": [d.text for d in docs]}
    for key in COLUMN_KEYS:
        values = [d.metadata.get(key) for d in docs]
        if key in _FLOAT_KEYS:
            values = [None if v is None else float(v) for v in values]
        else:
            values = [None if v is None else str(v) for v in values]
        columns[key] = values
    columns["metadata_json"] = [_metadata_rest(d, COLUMN_KEYS) for d in docs]
    return pa.Table.from_pydict(columns, schema=DOCUMENT_SCHEMA)


def excluded_to_table(docs: list[Document], keep_text: bool) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "id": [d.id for d in docs],
            DROP_STAGE: [d.metadata[DROP_STAGE] for d in docs],
            DROP_REASON: [d.metadata[DROP_REASON] for d in docs],
            "text_bytes": [text_bytes(d) for d in docs],
            SOURCE: [_str_or_none(d.metadata.get(SOURCE)) for d in docs],
            LANG: [_str_or_none(d.metadata.get(LANG)) for d in docs],
            # the URL's path and query can hold PII: it goes wherever the text goes (lmpipe.core.writers)
            URL: [_str_or_none(d.metadata.get(URL)) if keep_text else None for d in docs],
            "text": [d.text if keep_text else None for d in docs],
            "metadata_json": [_metadata_rest(d, (DROP_STAGE, DROP_REASON, *EXCLUDED_COLUMN_KEYS)) for d in docs],
        },
        schema=EXCLUDED_SCHEMA,
    )


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


def excluded_metadata(row: dict) -> dict:
    """The metadata of an excluded row as the filter saw it: metadata_json plus the source, lang, url columns."""
    metadata = orjson.loads(row["metadata_json"]) if row.get("metadata_json") else {}
    for key in EXCLUDED_COLUMN_KEYS:
        if row.get(key) is not None:
            metadata.setdefault(key, row[key])
    return metadata


def row_to_document(row: dict) -> Document:
    """Inverse of `documents_to_table` for one row (as given by `pa.Table.to_pylist`)."""
    metadata = orjson.loads(row["metadata_json"]) if row.get("metadata_json") else {}
    for key in COLUMN_KEYS:
        if row.get(key) is not None:
            metadata[key] = row[key]
    return Document(text=row["text"], id=row["id"], metadata=metadata)


def is_document_table(schema: pa.Schema) -> bool:
    """True for Parquet written by this pipeline (as opposed to a foreign corpus with its own columns)."""
    return "metadata_json" in schema.names and "id" in schema.names and "text" in schema.names
