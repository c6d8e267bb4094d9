"""Reference URLs: where Wikipedia cites the web, and one normal form so citations and crawl pages can be joined.

LLaMA (Touvron et al. 2023, sec. 2) trained its quality classifier on "pages used as references in Wikipedia"
against random Common Crawl pages. The join between a citation and a crawled page is by URL, and the same page is
written many ways (http/https, www., tracking parameters, fragments, Wayback Machine wrappers), so both sides go
through `url_key` first.

Sources of reference URLs read here:
- a MediaWiki XML dump (`pages-articles.xml[.bz2|.gz]`): `<ref>` contents, cite templates' `url=` /
  `archive-url=`, bracketed external links `[http://... label]`, bare URLs;
- the Wikipedia Citations dataset (Singh et al. 2020) CSV: the `URL -> ...` entry of each citation map;
- a plain list: one URL per line, or JSONL with a `url` field.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import orjson

# Query parameters that identify a visit, not a page (Google Analytics, ad click ids, share buttons).
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "ref_src"}
)
TRACKING_PREFIXES = ("utm_",)
_WAYBACK = re.compile(r"^https?://(?:web\.)?archive\.org/web/\d{0,14}[a-z_]*/+(.+)$", re.IGNORECASE)
_ARCHIVE_TODAY = re.compile(r"^https?://archive\.(?:today|is|ph|li|vn|fo|md)/\d{14}/(.+)$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters kept literally in a normalized path or query (RFC 3986 unreserved + sub-delims used in paths).
_SAFE_PATH = "/:@!$&'()*+,;=-._~"


def unwrap_archive(url: str) -> str:
    """The original URL inside a Wayback Machine or archive.today capture URL; other URLs unchanged."""
    for pattern in (_WAYBACK, _ARCHIVE_TODAY):
        m = pattern.match(url)
        if m:
            inner = m.group(1)
            if not re.match(r"^[a-z][a-z0-9+.-]*://", inner, re.IGNORECASE):
                inner = "http://" + inner.lstrip("/")
            return inner
    return url


def url_key(url: str) -> str | None:
    """Normal form of a web page URL for joining, or None when it is no http(s) URL.

    `key = host[:port]/path[?query]` with: scheme dropped (http and https are one page), host lower-cased
    without `www.`, default port and trailing dot dropped, fragment dropped, archive wrappers unwrapped,
    percent-encoding made canonical (decode, then re-encode the unsafe), tracking parameters removed, the
    remaining query sorted, and a trailing `/` dropped. Two spellings of one page get one key; two pages that
    differ only in case of the path do not (paths are case-sensitive on most servers).
    """
    url = unwrap_archive(url.strip())
    if url.startswith("//"):
        url = "http:" + url
    elif "://" not in url:
        if re.match(r"[a-z][a-z0-9+.-]*:(?!\d)", url, re.IGNORECASE):
            return None  # mailto:, javascript:, urn: ...
        url = "http://" + url  # a key written by `url_key` itself, or "example.com/page"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # "http://[bad" or a port that is no number
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")  # one spelling for internationalized hosts
    except UnicodeError:
        pass  # an odd but harmless host: keep its Unicode lower case
    host = host.removeprefix("www.")
    if port is not None and port != _DEFAULT_PORTS[parts.scheme.lower()]:
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_SAFE_PATH) or "/"
    path = re.sub(r"/{2,}", "/", path)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    key = host + (path.rstrip("/") if path != "/" else "")
    if query:
        key += "?" + urlencode(sorted(query), quote_via=quote, safe=_SAFE_PATH.replace("&", "").replace("=", ""))
    return key


# --- Wikipedia wikitext ---------------------------------------------------------------------------------------
_REF = re.compile(r"<ref(?:\s[^>]*)?(?<!/)>(.*?)</ref\s*>", re.IGNORECASE | re.DOTALL)
_TEMPLATE_URL = re.compile(r"\|\s*(?:url|archive-?url|chapter-?url)\s*=\s*([^|}\s]+)", re.IGNORECASE)
_BRACKET_LINK = re.compile(r"\[((?:https?:)?//[^\s\]|<>\"]+)[^\]]*\]", re.IGNORECASE)
_BARE_URL = re.compile(r"(?<![\[=/\w])(https?://[^\s\]|<>\"{}]+)", re.IGNORECASE)
_TRAILING = ".,;:!?)'\""


def _clean(url: str) -> str:
    url = url.strip()
    while url and url[-1] in _TRAILING and not (url[-1] == ")" and "(" in url):
        url = url[:-1]
    return url


def urls_from_wikitext(wikitext: str, refs_only: bool = False) -> list[str]:
    """Web URLs cited in one article's wikitext, in order of appearance, each once.

    `refs_only`: only URLs inside `<ref>...</ref>` (the references proper); otherwise external links anywhere
    in the article count too (LLaMA says "references"; external-link sections are the same kind of page).
    """
    found: list[str] = []
    chunks = [m.group(1) for m in _REF.finditer(wikitext)] if refs_only else [wikitext]
    for chunk in chunks:
        found += [m.group(1) for m in _TEMPLATE_URL.finditer(chunk)]
        found += [m.group(1) for m in _BRACKET_LINK.finditer(chunk)]
        found += [m.group(1) for m in _BARE_URL.finditer(chunk)]
    seen: dict[str, None] = {}
    for url in map(_clean, found):
        if url.startswith("//"):
            url = "https:" + url
        if url.lower().startswith(("http://", "https://")):
            seen.setdefault(url)
    return list(seen)


def _open_binary(path: str) -> io.BufferedIOBase:
    if path.endswith(".bz2"):
        return bz2.open(path, "rb")
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_dump_pages(path: str, namespaces: tuple[int, ...] = (0,)) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of each page of a MediaWiki XML export, streamed (a full dump never fits in memory)."""
    with _open_binary(path) as f:
        title, ns = None, None
        for _event, elem in ET.iterparse(f, events=("end",)):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "title":
                title = elem.text
            elif tag == "ns":
                ns = int(elem.text or 0)
            elif tag == "text" and title is not None and (ns is None or ns in namespaces):
                yield title, elem.text or ""
            elif tag == "page":
                title, ns = None, None
                elem.clear()  # free the page's subtree


_CITATION_URL = re.compile(r"(?:^Map\(|, )URL -> (.*?)(?=, [A-Z][A-Za-z_]* -> |\)$)")


def urls_from_citations_csv(path: str) -> Iterator[str]:
    """URLs of the Wikipedia Citations dataset (headerless CSV: page_id, page_title, citation map, ...)."""
    csv.field_size_limit(sys.maxsize)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 3:
                continue
            m = _CITATION_URL.search(row[2])
            if m:
                yield m.group(1).strip()


def urls_from_list(path: str) -> Iterator[str]:
    """One URL per line, or JSONL objects with a `url` field (blank lines and `#` comments ignored)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("{"):
                url = orjson.loads(line).get("url")
                if isinstance(url, str):
                    yield url
            else:
                yield line


def reference_urls(path: str, refs_only: bool = False) -> Iterator[str]:
    """Reference URLs from any supported file, chosen by its name: `*.xml[.bz2|.gz]` dump, `*.csv[.gz]`
    Wikipedia Citations, anything else a URL list."""
    name = Path(path).name.lower()
    if ".xml" in name:
        for _title, text in iter_dump_pages(path):
            yield from urls_from_wikitext(text, refs_only)
    elif ".csv" in name:
        yield from urls_from_citations_csv(path)
    else:
        yield from urls_from_list(path)


def reference_keys(paths: Iterable[str], refs_only: bool = False) -> tuple[set[str], dict[str, int]]:
    """Normalized keys of every reference URL in `paths`, and counts (urls read, keys, urls not http(s))."""
    keys: set[str] = set()
    stats = {"urls": 0, "not_web_url": 0}
    for path in paths:
        for url in reference_urls(path, refs_only):
            stats["urls"] += 1
            key = url_key(url)
            if key is None:
                stats["not_web_url"] += 1
            else:
                keys.add(key)
    stats["keys"] = len(keys)
    return keys, stats
