"""Packing saved pages into Common Crawl-style WARC files (request + response records with HTTP headers).

For tests and benchmarks: real pages exist as HTML files or JSONL, real Korean WARC records do not (yet).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


@dataclass(frozen=True)
class Page:
    url: str
    body: bytes
    content_type: str | None = "text/html; charset=utf-8"  # HTTP Content-Type; None: header absent
    status: str = "200 OK"
    date: str = "2024-05-18T01:58:10Z"
    extra_headers: tuple[tuple[str, str], ...] = field(default=())


def record_id(url: str, date: str) -> str:
    """Deterministic WARC-Record-ID, so packed files (and document ids) are the same on every run."""
    return f"<urn:uuid:{uuid.UUID(bytes=hashlib.sha256(f'{url} {date}'.encode()).digest()[:16])}>"


def write_warc(path: str, pages: Iterable[Page], gzip: bool = True, with_requests: bool = True) -> None:
    """One warcinfo record, then for each page a request and a response record (gzip: one member per record)."""
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=gzip)
        writer.write_record(
            writer.create_warcinfo_record(
                path.rsplit("/", 1)[-1], {"software": "lmpipe.testing.warc_pack", "format": "WARC/1.0"}
            )
        )
        for page in pages:
            if with_requests:
                host = urlsplit(page.url).hostname or "unknown.invalid"
                request = StatusAndHeaders("GET / HTTP/1.1", [("Host", host)], is_http_request=True)
                writer.write_record(
                    writer.create_warc_record(
                        page.url,
                        "request",
                        http_headers=request,
                        warc_headers_dict={
                            "WARC-Date": page.date,
                            "WARC-Record-ID": record_id("req " + page.url, page.date),
                        },
                    )
                )
            headers = [("Content-Type", page.content_type)] if page.content_type else []
            headers += [("Content-Length", str(len(page.body))), *page.extra_headers]
            response = StatusAndHeaders(page.status, headers, protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    page.url,
                    "response",
                    payload=BytesIO(page.body),
                    length=len(page.body),
                    http_headers=response,
                    warc_headers_dict={"WARC-Date": page.date, "WARC-Record-ID": record_id(page.url, page.date)},
                )
            )
