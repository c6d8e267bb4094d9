"""WARC records to documents: one `Document` per HTTP response record whose payload is HTML.

The document's text is the decoded HTML (extraction runs later, in the ingest stage's workers, so the extractor is
a config choice). Records that are no page at all (warcinfo, request, metadata, revisit, resource) are passed
over without a count; a response that is not usable HTML is a `Skip` with a named reason and the WARC-Record-ID
in its detail. Damage inside a file (a corrupt record, a truncated gzip member) is skipped and reading resumes at
the next record; a file that is not WARC at all is an `InputError` naming it.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

from datatrove.data import Document
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from lmpipe.core import schema
from lmpipe.core.charset import UndecodableError, decode_html, normalize_charset
from lmpipe.core.records import (
    SKIP_TRUNCATED_FILE,
    SKIP_WARC_CORRUPT_RECORD,
    SKIP_WARC_EMPTY_PAYLOAD,
    SKIP_WARC_HTTP_STATUS,
    SKIP_WARC_NOT_HTML,
    SKIP_WARC_PAYLOAD_TOO_LARGE,
    SKIP_WARC_UNDECODABLE,
    InputError,
    Skip,
)
from lmpipe.core.urls import domain_of

# Metadata flag: the text is still HTML. The extraction step consumes it, so a document that went through
# ingest once is never extracted twice.
TEXT_IS_HTML = "text_is_html"
CHARSET_DECLARED = "charset_declared"  # set only when it differs from the charset used (mislabelled page)
CHARSET_REPLACED = "charset_replaced_bytes"  # set only when a few undecodable bytes became U+FFFD

# A payload this large is a dump or an attack, never a page worth extracting (Common Crawl truncates at 1 MiB).
MAX_PAYLOAD_BYTES = 20_000_000
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Magic numbers of payloads served as text/html that are not: a server's type is often wrong.
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"RIFF",
    b"\x00\x00\x01\x00",
)
# warcio raises these on damaged input (AttributeError/TypeError from headers it could not parse).
_READ_ERRORS = (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError, IndexError, AttributeError, TypeError)


def _mime(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


def _charset_param(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _looks_binary(head: bytes) -> bool:
    return head.startswith(_BINARY_MAGIC) or b"\x00" in head[:1024]


def record_to_item(record, path: str, row: int, source: str) -> Document | Skip | None:
    """A response record as a Document, a Skip, or None for records that are no page (not counted)."""
    # One branch per reason a WARC record is no page, in the order they are checked: splitting it would hide it.
    headers = record.rec_headers
    record_id = (headers.get_header("WARC-Record-ID") or "").strip("<>") or None
    where = f"record {record_id or f'#{row}'}"
    if record.format != "warc":  # warcio falls back to ARC parsing on a line it cannot read as WARC
        return Skip(path, row, SKIP_WARC_CORRUPT_RECORD, f"{where}: not a WARC record header")
    if record.rec_type != "response":
        return None
    url = headers.get_header("WARC-Target-URI")
    http = record.http_headers
    if http is None:
        block_type = headers.get_header("Content-Type") or ""
        if "application/http" in block_type or not block_type:
            return Skip(path, row, SKIP_WARC_CORRUPT_RECORD, f"{where}: HTTP headers missing or unparseable")
        return Skip(path, row, SKIP_WARC_NOT_HTML, f"{where}: no HTTP payload ({block_type})")  # dns:, whois:
    status = http.get_statuscode()
    if not status.startswith("2"):
        return Skip(path, row, SKIP_WARC_HTTP_STATUS, f"{where}: HTTP {status} {url}")
    content_type = http.get_header("Content-Type")
    # Common Crawl sniffs the payload itself (WARC-Identified-Payload-Type); trust it over the server's header.
    mime = _mime(headers.get_header("WARC-Identified-Payload-Type")) or _mime(content_type)
    if mime is not None and mime not in HTML_TYPES:
        return Skip(path, row, SKIP_WARC_NOT_HTML, f"{where}: {mime} {url}")
    try:
        payload = record.content_stream().read(MAX_PAYLOAD_BYTES + 1)
    except _READ_ERRORS as e:
        return Skip(path, row, SKIP_WARC_CORRUPT_RECORD, f"{where}: payload unreadable: {type(e).__name__}: {e}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Skip(path, row, SKIP_WARC_PAYLOAD_TOO_LARGE, f"{where}: over {MAX_PAYLOAD_BYTES:,} bytes {url}")
    missing = getattr(record.raw_stream, "limit", 0)  # bytes the record's Content-Length promised but never came
    if missing:
        return Skip(path, row, SKIP_TRUNCATED_FILE, f"{where}: record cut short, {missing:,} bytes missing {url}")
    if not payload.strip():
        return Skip(path, row, SKIP_WARC_EMPTY_PAYLOAD, f"{where}: empty payload {url}")
    if _looks_binary(payload[:1024]):
        return Skip(path, row, SKIP_WARC_NOT_HTML, f"{where}: binary payload served as {mime} {url}")
    try:
        decoded = decode_html(payload, _charset_param(content_type))
    except UndecodableError as e:
        return Skip(path, row, SKIP_WARC_UNDECODABLE, f"{where}: {e}")

    metadata = {
        schema.SOURCE: source,
        schema.URL: url,
        schema.DOMAIN: domain_of(url),
        schema.CRAWL_DATE: headers.get_header("WARC-Date"),
        schema.WARC_RECORD_ID: record_id,
        schema.CONTENT_TYPE: mime or "text/html",
        schema.CHARSET: decoded.charset,
        schema.INPUT_FILE: os.path.basename(path),
        schema.INPUT_ROW: row,
        TEXT_IS_HTML: True,
    }
    if decoded.declared and normalize_charset(decoded.declared) != decoded.charset:
        metadata[CHARSET_DECLARED] = decoded.declared
    if decoded.replaced:
        metadata[CHARSET_REPLACED] = decoded.replaced
    # Stable id: the record id is unique per capture; without one, the record's position in its file.
    doc_id = f"{source}/{record_id or f'{os.path.basename(path)}:{row}'}"
    return Document(text=decoded.text, id=doc_id, metadata={k: v for k, v in metadata.items() if v is not None})


def _next_record_start(fh, after: int, gzipped: bool) -> int | None:
    """Offset of the next gzip member (or uncompressed WARC header) after `after`, to resume past damage."""
    marker = b"\x1f\x8b\x08" if gzipped else b"WARC/1."
    fh.seek(after)
    carry = b""
    pos = after
    while chunk := fh.read(1 << 20):
        buf = carry + chunk
        found = buf.find(marker)
        if found >= 0:
            return pos - len(carry) + found
        carry = buf[-(len(marker) - 1) :]
        pos += len(chunk)
    return None


class _NotWarcHeader(ValueError):
    """The first record of a file has no WARC header (warcio fell back to ARC)."""


def iter_warc_file(path: str, source: str) -> Iterator[Document | Skip]:
    """Documents and Skips of one WARC file. Damage never escapes as an exception while the file has a record
    to resume at: a corrupt first record is a SKIP_WARC_CORRUPT_RECORD like any other, so one damaged file
    cannot fail a stage. Only a file in which nothing can be read as WARC and nothing follows the unreadable
    start (a single gzip member of other data, garbage) is an `InputError`: it is no WARC file at all."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed by `with fh` below; opening fails with its own message)
    except OSError as e:
        raise InputError(f"cannot open WARC file {path}: {e}") from e
    gzipped = path.lower().endswith(".gz")
    row = 0  # records seen (all types): the "line" of a Skip
    start = 0
    with fh:
        while True:
            fh.seek(start)
            iterator = None
            try:
                iterator = ArchiveIterator(fh)
                for record in iterator:
                    if row == 0 and record.format != "warc":
                        raise _NotWarcHeader("its first record has no WARC header")
                    item = record_to_item(record, path, row, source)
                    row += 1
                    if item is not None:
                        yield item
                return
            except _READ_ERRORS as e:
                offset = iterator.offset if iterator is not None else start
                resume = _next_record_start(fh, offset + 1, gzipped)
                message = str(e) if isinstance(e, _NotWarcHeader) else f"{type(e).__name__}: {e}"
                if row == 0 and start == 0 and resume is None:
                    raise InputError(f"cannot read {path} as WARC: {message}") from e
                detail = f"record #{row} at byte {offset}: {message}"
                if resume is None:
                    yield Skip(path, row, SKIP_TRUNCATED_FILE, detail)
                    return
                yield Skip(path, row, SKIP_WARC_CORRUPT_RECORD, detail)
                row += 1
                start = resume
