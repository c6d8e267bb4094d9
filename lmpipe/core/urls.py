"""The host and the domain of a URL, in one place (readers, ingest, URL filter).

`domain_of` is what the `domain` metadata holds: the host lowercased, without a leading "www.", None when the URL
has none or cannot be parsed. `host_of` is what the URL lists are matched against: the host also without a
trailing dot and with punycode labels decoded (the lists hold both forms), "" when there is none.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def domain_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(str(url)).hostname
    except ValueError:  # e.g. a malformed IPv6 host: keep the page, without a domain
        return None
    return host.removeprefix("www.") or None if host else None


def host_of(url: str) -> str:
    try:
        host = (urlsplit(url if "//" in url else "//" + url).hostname or "").rstrip(".")
    except ValueError:
        return ""
    if "xn--" in host:
        try:
            host = host.encode("ascii").decode("idna")
        except UnicodeError:
            pass  # keep the punycode form: the lists hold that form too
    return host.lower()
