"""What a reader yields when a record is no document: a `Skip` with its reason, and the reasons.

Its own module so that the format readers (readers.py, warc.py) share it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass

# Reasons an input record yields no document (counted in stats.json "skipped_input").
SKIP_BAD_JSON = "reader.bad_json"
SKIP_NOT_AN_OBJECT = "reader.not_a_json_object"
SKIP_NO_TEXT = "reader.no_text"
SKIP_UNREADABLE_FILE = "reader.unreadable_file"
SKIP_TRUNCATED_FILE = "reader.truncated_file"  # ends before its checksum: the complete records before the cut stay
# A compressed file whose integrity check fails (gzip CRC-32 or length, a deflate/zstd data error, a zstd content
# checksum): the damage may be anywhere before the check, so no record of the file is kept.
SKIP_CORRUPT_FILE = "reader.corrupt_file"
SKIP_BAD_ENCODING = "reader.bad_utf8"
# WARC response records that are no HTML document (other record types are not counted: they are no page).
SKIP_WARC_NOT_HTML = "warc.not_html"  # PDF, image, JSON, dns: ... (by type or by the payload's magic bytes)
SKIP_WARC_HTTP_STATUS = "warc.http_status_not_2xx"  # redirects, errors: the body is the server's, not a page
SKIP_WARC_EMPTY_PAYLOAD = "warc.empty_payload"
SKIP_WARC_PAYLOAD_TOO_LARGE = "warc.payload_too_large"
SKIP_WARC_UNDECODABLE = "warc.undecodable_html"  # no charset decodes it without widespread damage
SKIP_WARC_CORRUPT_RECORD = "warc.corrupt_record"  # unparseable record; reading resumes at the next one


class InputError(ValueError):
    """An input path that cannot be used at all (missing, or no supported file in it)."""


@dataclass
class Skip:
    """An input record that yields no document, with where it was and why."""

    file: str
    row: int | None
    reason: str
    detail: str
