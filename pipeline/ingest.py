"""Ingest of corpora (JSONL, Parquet, text): documents in the shared schema, with provenance and domain.

Reading itself (formats, bad input, NFC normalization) is in `pipeline.readers`; this stage adds what every
later stage relies on and sets aside documents no later stage should have to handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from pipeline import schema
from pipeline.steps import Transform

INGEST_TOO_LARGE = "ingest.text_too_large"
INGEST_TOO_SHORT = "ingest.text_too_short"


@dataclass(frozen=True)
class IngestConfig:
    # A single multi-megabyte "document" is almost always a dump (logs, base64, tables) and makes later
    # per-document work (n-gram scans, MeCab) slow; set aside, not lost: it is in DIR/excluded.
    max_text_bytes: int | None = 5_000_000
    min_text_chars: int | None = None  # None: keep every non-blank text; rule filters judge length later


class AddDomain(Transform):
    """Fill `domain` from `url` (lower-case host, no port, no leading www.)."""

    name = "add domain"
    slug = "domain"

    def transform(self, doc: Document) -> None:
        url = doc.metadata.get(schema.URL)
        if url and not doc.metadata.get(schema.DOMAIN):
            host = urlsplit(str(url)).hostname or ""
            doc.metadata[schema.DOMAIN] = host.removeprefix("www.") or None


class SizeFilter(BaseFilter):
    """Set aside texts too large or too short for any later stage (limits in IngestConfig)."""

    name = "size filter"
    slug = "size"

    def __init__(self, cfg: IngestConfig):
        super().__init__()
        self.cfg = cfg

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self.cfg.max_text_bytes is not None and len(doc.text) * 4 > self.cfg.max_text_bytes:
            # cheap bound first: only texts that could exceed the limit are encoded
            if schema.text_bytes(doc) > self.cfg.max_text_bytes:
                return False, INGEST_TOO_LARGE
        if self.cfg.min_text_chars is not None and len(doc.text.strip()) < self.cfg.min_text_chars:
            return False, INGEST_TOO_SHORT
        return True


def build_ingest(cfg: IngestConfig) -> list:
    return [AddDomain(), SizeFilter(cfg)]
