"""Ingest of corpora (JSONL, Parquet, text) and web crawls (WARC): documents in the shared schema, with
provenance, domain and language.

Reading itself (formats, bad input, NFC normalization, WARC records and charsets) is in `lmpipe.core.readers` and
`lmpipe.core`; this stage adds what every later stage relies on and sets aside documents no later stage should
have to handle. Web pages arrive as HTML and leave as main text:

    HtmlToText -> ExtractionFilter -> UnicodeHygiene -> AddDomain -> SizeFilter -> LangIdFilter

Corpus documents pass the web steps unchanged; only language ID judges them (and trusts a declared language).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from datatrove.data import Document

from lmpipe.core import schema
from lmpipe.core.runner import Stage
from lmpipe.core.steps import Filter, Transform
from lmpipe.core.urls import domain_of
from lmpipe.stages.ingest.langid import LangIdConfig, LangIdFilter
from lmpipe.stages.ingest.steps import ExtractionFilter, HtmlToText, UnicodeHygiene

INGEST_TOO_LARGE = "ingest.text_too_large"
INGEST_TOO_SHORT = "ingest.text_too_short"


@dataclass(frozen=True)
class IngestConfig:
    # A single multi-megabyte "document" is almost always a dump (logs, base64, tables) and makes later
    # per-document work (n-gram scans, MeCab) slow; set aside, not lost: it is in DIR/excluded.
    max_text_bytes: int | None = 5_000_000
    min_text_chars: int | None = None  # None: keep every non-blank text; rule filters judge length later
    # --- web pages (WARC input) ---
    extractor: Literal["resiliparse", "trafilatura"] = "resiliparse"  # see docs/bench/ingest_web.md
    extract_timeout_s: float | None = 5.0  # per page; a pathological page is excluded, the worker goes on
    # HTML larger than this is not extracted (excluded as web.html_too_large): extraction time and memory grow
    # with it, and Common Crawl truncates payloads at 1 MiB anyway.
    max_html_chars: int | None = 3_000_000
    unicode_hygiene_all: bool = False  # False: ftfy/NFC/control-character cleanup on web pages only
    # Language ID on every document; None switches it off (documents keep whatever `lang` they came with).
    langid: LangIdConfig | None = field(default_factory=LangIdConfig)


class AddDomain(Transform):
    """Fill `domain` from `url` (lower-case host, no port, no leading www.)."""

    name = "add domain"
    slug = "domain"

    def transform(self, doc: Document) -> None:
        url = doc.metadata.get(schema.URL)
        if url and not doc.metadata.get(schema.DOMAIN):
            doc.metadata[schema.DOMAIN] = domain_of(url)


class SizeFilter(Filter):
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
    steps = [
        HtmlToText(cfg.extractor, cfg.extract_timeout_s, cfg.max_html_chars),
        ExtractionFilter(),
        UnicodeHygiene(all_documents=cfg.unicode_hygiene_all),
        AddDomain(),
        SizeFilter(cfg),
    ]
    if cfg.langid is not None:
        steps.append(LangIdFilter(cfg.langid))
    return steps


INGEST_STAGE = Stage(
    "ingest",
    "read JSONL/Parquet/text corpora and WARC crawls into the shared document schema",
    IngestConfig,
    build_ingest,
)
