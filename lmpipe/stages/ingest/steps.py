"""Ingest steps for web documents: HTML to main text, the filter that sets aside pages with no text, and Unicode
hygiene. Documents that are not HTML (corpora) pass through all three unchanged."""

from __future__ import annotations

import re

from datatrove.data import Document
from loguru import logger

from lmpipe.core import schema
from lmpipe.core.steps import Filter, Transform
from lmpipe.core.warc import TEXT_IS_HTML
from lmpipe.stages.ingest.extract import ExtractionTimeout, get_extractor, time_limit

WEB_NO_MAIN_TEXT = "web.no_main_text"  # the extractor found no main content (navigation-only page, empty body)
WEB_EXTRACTION_TIMEOUT = "web.extraction_timeout"
WEB_HTML_TOO_LARGE = "web.html_too_large"  # not attempted: extraction time and memory grow with the page
WEB_EXTRACTION_ERROR = "web.extraction_error"  # the extractor raised (parser failure on broken markup)

EXTRACTOR = "extractor"  # metadata: which extractor produced the text
EXTRACT_FAILURE = "extract_failure"  # metadata, only on pages that failed: one of the WEB_* reasons above


class HtmlToText(Transform):
    """Replace the HTML of a web document by its main text; on failure keep the HTML and note why."""

    name = "html to text"
    slug = "html2text"

    def __init__(self, extractor: str, timeout_s: float | None, max_html_chars: int | None):
        super().__init__()
        get_extractor(extractor)  # fail at build time on a bad name, not in a worker
        self.extractor = extractor
        self.timeout_s = timeout_s
        self.max_html_chars = max_html_chars
        self._warned = False

    def transform(self, doc: Document) -> None:
        if not doc.metadata.pop(TEXT_IS_HTML, False):
            return
        doc.metadata[EXTRACTOR] = self.extractor
        if self.max_html_chars is not None and len(doc.text) > self.max_html_chars:
            doc.metadata[EXTRACT_FAILURE] = WEB_HTML_TOO_LARGE
            return
        try:
            with time_limit(self.timeout_s):
                text = get_extractor(self.extractor)(doc.text)
        except ExtractionTimeout:
            doc.metadata[EXTRACT_FAILURE] = WEB_EXTRACTION_TIMEOUT
            return
        except Exception as e:  # noqa: BLE001 (a parser bug on one page must not end the task)
            if not self._warned:
                logger.warning(f"{self.extractor} failed on {doc.id}: {type(e).__name__}: {e} (logged once)")
                self._warned = True
            doc.metadata[EXTRACT_FAILURE] = WEB_EXTRACTION_ERROR
            return
        # No per-page timing in metadata: outputs must not depend on machine load (Transform.run tracks time).
        if not text.strip():
            doc.metadata[EXTRACT_FAILURE] = WEB_NO_MAIN_TEXT
            return
        doc.text = text


class ExtractionFilter(Filter):
    """Set aside web pages whose extraction failed or found nothing (their HTML goes to DIR/excluded)."""

    name = "extraction filter"
    slug = "extracted"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        failure = doc.metadata.get(EXTRACT_FAILURE)
        return (False, failure) if failure else True


class UnicodeHygiene(Transform):
    """NFC, stray control characters removed, mojibake repaired where ftfy judges it safe (Speer 2019).

    Applied to web documents only (those with a WARC record id) unless `all_documents`: corpora arrive as the
    publisher wrote them. Quote curling, full-width forms and ligatures are left alone: they are the author's.
    """

    name = "unicode hygiene"
    slug = "unicode"

    def __init__(self, all_documents: bool = False):
        super().__init__()
        self.all_documents = all_documents
        self._config = None

    def transform(self, doc: Document) -> None:
        if not self.all_documents and schema.WARC_RECORD_ID not in doc.metadata:
            return
        if doc.metadata.get(EXTRACT_FAILURE):
            return  # still HTML, on its way to DIR/excluded as it was read
        doc.text = fix_unicode(doc.text, self._ftfy_config())

    def _ftfy_config(self):
        if self._config is None:
            import ftfy

            self._config = ftfy.TextFixerConfig(
                unescape_html=False,
                fix_latin_ligatures=False,
                fix_character_width=False,
                uncurl_quotes=False,
                explain=False,
            )
        return self._config


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # includes \r (ftfy turns \r\n into \n) and \f


def fix_unicode(text: str, config) -> str:
    import ftfy

    if text.isascii() and not _ASCII_CONTROL.search(text):
        return text  # nothing ftfy would change (no mojibake, controls or line-break variants in plain ASCII)
    return ftfy.fix_text(text, config)
