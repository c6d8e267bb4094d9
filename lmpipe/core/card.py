"""A dataset card (README.md) in every finished stage folder, so the field's tools load it by name.

`datasets.load_dataset(STAGE_DIR)` reads the card's `configs`: the default config is the kept documents
(`data/part-*.parquet`), `excluded` the removed ones. The kept documents are alone under `data/`, so
`pandas.read_parquet(STAGE_DIR / "data")`, DuckDB's `read_parquet('STAGE_DIR/data/*.parquet')` and Spark's
`spark.read.parquet('STAGE_DIR/data')` read exactly them; the side files (stats.json, excluded/, skipped/,
_stage.json, _ledger/, _logs/, shards/) are out of the data's way. Columns: docs/SCHEMA.md.
"""

from __future__ import annotations

from pathlib import Path

CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/part-*.parquet
  default: true
{excluded}---
# lmpipe stage `{stage}`

Kept documents of the `{stage}` stage of an lmpipe run: {docs_out:,} documents, {mb_out:.1f} MB of UTF-8 text
(of {docs_in:,} documents in; {docs_excluded:,} excluded, each with its reason).

| path | what |
|---|---|
| `data/part-*.parquet` | the kept documents (id, text, source, url, domain, crawl_date, lang, lang_score, quality_score, dedup_cluster, metadata_json) |
| `excluded/*.parquet` | every removed document: id, drop_stage, drop_reason, text_bytes, source, lang, url (null without text), text (unless turned off), metadata_json |
| `skipped/*.jsonl` | input records that were no document, with file, line and reason |
| `stats.json` | documents and bytes in, kept, excluded per reason, skipped per reason, wall seconds, config |

Load: `datasets.load_dataset("{folder}")` (kept), `load_dataset("{folder}", "excluded")`;
`pandas.read_parquet("{folder}/data")`. Every column and metadata key: lmpipe's docs/SCHEMA.md.
"""

EXCLUDED_CONFIG = """- config_name: excluded
  data_files:
  - split: train
    path: excluded/*.parquet
"""


def write_card(out: Path, stage: str, stats: dict, has_excluded: bool, parts: list[dict] | None = None) -> None:
    """README.md in `out`. `parts` are the manifest's entries; a passthrough stage's (`"path"` entries: its
    input's files) are named in the card's data_files relative to `out`, so loading it by name reads them."""
    excluded = EXCLUDED_CONFIG if has_excluded else ""
    text = CARD.format(
        excluded=excluded,
        stage=stage,
        docs_out=stats.get("docs_out", 0),
        docs_in=stats.get("docs_in", 0),
        docs_excluded=stats.get("docs_excluded", 0),
        mb_out=stats.get("bytes_out", 0) / 1e6,
        folder=out.name,
    )
    referenced = [e["path"] for e in parts or [] if "path" in e]  # relative to the folder already
    if referenced:
        files = "".join(f"    - {r}\n" for r in referenced)
        text = text.replace("    path: data/part-*.parquet\n", f"    path:\n{files}", 1)
        text = text.replace(
            "| `data/part-*.parquet` | the kept documents",
            "| the input's `data/part-*.parquet` (listed in `_stage.json`: this stage copies nothing) | the kept documents",
        )
    tmp = out / "README.md.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out / "README.md")
