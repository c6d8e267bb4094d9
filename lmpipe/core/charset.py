"""Decoding HTML bytes to text: HTTP header charset, then the HTML meta charset, then detection; never mojibake.

Order and aliases follow the WHATWG Encoding standard where it matters for Korean: the labels "euc-kr",
"ks_c_5601-1987", "windows-949" all mean windows-949 (Python "cp949", a superset of EUC-KR), and "iso-8859-1" /
"ascii" mean windows-1252. Two real-world exceptions are handled before trusting a declaration:
- pages declared EUC-KR whose bytes are really UTF-8 (re-encoded by a CMS or on save): bytes that are valid UTF-8
  and not plain ASCII are UTF-8 (a legacy-encoded Korean text is valid UTF-8 by accident only when very short);
- a single-byte declaration (latin-1, windows-1252) on bytes that detection confidently calls a multi-byte East
  Asian encoding: a single-byte codec decodes any bytes, so trusting it would produce mojibake silently;
- a Chinese or Japanese legacy declaration (gb2312, gbk, big5, euc-jp, shift_jis...) on Korean bytes: Korean
  sites built on Chinese/Japanese templates or CMS defaults keep their label. GB18030 decodes nearly any
  EUC-KR byte pair (lead and trail ranges overlap), EUC-JP most of them, so the declared codec "succeeds" and
  the page becomes Hanzi/Kanji mojibake that language id then drops. See `_korean_despite_label`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from lmpipe.text.korean import syllable_share

# Bytes a page may have undecodable in its best encoding before we call it undecodable: a few broken bytes in
# a long page (a truncated multi-byte character, one pasted fragment) are common and harmless once replaced.
MAX_REPLACEMENT_RATIO = 0.005
_DETECT_MIN_CONFIDENCE = 0.5
_META_SCAN_BYTES = 4096  # the HTML standard's prescan looks at the first 1024 bytes; real pages put it later

_ALIASES = {
    "euc-kr": "cp949",
    "euckr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "ksc_5601": "cp949",
    "korean": "cp949",
    "windows-949": "cp949",
    "x-windows-949": "cp949",
    "uhc": "cp949",
    "cp949": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",  # WHATWG: gb2312 and gbk decode as gb18030 (a superset)
    "gbk": "gb18030",
}
_SINGLE_BYTE = {"cp1252", "latin_1", "iso8859-15", "cp1250", "cp1251", "koi8-r", "iso8859-2", "iso8859-5"}
# Non-Korean CJK legacy code pages (Python names after normalize_charset) whose label a Korean page may carry.
_OTHER_CJK_LEGACY = {
    "gb18030",
    "gb2312",
    "gbk",
    "hz",
    "big5",
    "big5hkscs",
    "cp950",
    "shift_jis",
    "cp932",
    "shift_jis_2004",
    "shift_jisx0213",
    "euc_jp",
    "euc_jis_2004",
    "euc_jisx0213",
}
_KOREAN = {"cp949", "euc_kr", "johab"}
_MIN_HANGUL_SHARE = 0.6  # of the non-ASCII, non-space characters; Korean prose is ~0.97 (the constitution sample)
_MULTI_BYTE_EAST_ASIAN = {"cp949", "euc_kr", "johab", "iso2022_kr", "gb18030", "big5", "shift_jis", "euc_jp", "cp932"}

_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.IGNORECASE)
_ISO2022KR_DESIGNATOR = b"\x1b$)C"
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class UndecodableError(ValueError):
    """No encoding decodes the bytes without more than MAX_REPLACEMENT_RATIO replacement characters."""


@dataclass(frozen=True)
class Decoded:
    text: str
    charset: str  # Python codec name actually used
    declared: str | None  # charset the header or meta declared (raw label), if any
    replaced: int = 0  # undecodable bytes replaced by U+FFFD (0 unless within MAX_REPLACEMENT_RATIO)


def normalize_charset(label: str | None) -> str | None:
    """Python codec name for a charset label, or None when the label names no codec we know."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _ALIASES:
        return _ALIASES[label]
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def meta_charset(head: bytes) -> str | None:
    """Charset label of `<meta charset>` or `<meta http-equiv=Content-Type content="...; charset=...">`."""
    match = _META_CHARSET.search(head[:_META_SCAN_BYTES])
    return match.group(1).decode("ascii", "replace") if match else None


def _detect(data: bytes) -> str | None:
    import cchardet  # faust-cchardet: uchardet in C, knows EUC-KR/CP949 ("UHC"), Johab, ISO-2022-KR

    found = cchardet.detect(data)
    if not found.get("encoding") or (found.get("confidence") or 0) < _DETECT_MIN_CONFIDENCE:
        return None
    return normalize_charset(found["encoding"])


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _korean_despite_label(data: bytes, declared: str | None, detected: str | None) -> str | None:
    """cp949 text of a page declared in a Chinese/Japanese legacy code page whose bytes are really Korean.

    The rule: the declaration is a non-Korean CJK legacy code page, the bytes decode strictly as cp949, the
    result is mostly Hangul syllables (>= _MIN_HANGUL_SHARE of non-ASCII characters), and detection does not
    name another encoding (it says Korean, or is not confident). Real Chinese text fails the strict cp949
    decode (GB2312 row 0xC9, e.g. 上 生 社 山, is unassigned in cp949: every Chinese page of the CC sample
    failed it), and Japanese kana decode as Hangul compatibility jamo, not syllables, so they fail the share.
    """
    if declared not in _OTHER_CJK_LEGACY or (detected is not None and detected not in _KOREAN):
        return None
    text = _strict(data, "cp949")
    return text if text is not None and syllable_share(text) >= _MIN_HANGUL_SHARE else None


def decode_html(data: bytes, http_charset: str | None = None) -> Decoded:
    """Decode an HTML payload; raises UndecodableError rather than return text with widespread damage."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = data.decode(codec, errors="replace")
            return Decoded(text, codec, http_charset, text.count("\ufffd"))
    declared_label = http_charset or meta_charset(data)
    declared = normalize_charset(http_charset) or normalize_charset(meta_charset(data))

    if _ISO2022KR_DESIGNATOR in data[:_META_SCAN_BYTES] and (text := _strict(data, "iso2022_kr")) is not None:
        return Decoded(text, "iso2022_kr", declared_label)  # 7-bit, so it would pass as UTF-8 below
    if (text := _strict(data, "utf-8")) is not None:
        return Decoded(text, "utf-8", declared_label)  # plain ASCII or real UTF-8, whatever was declared

    detected = _detect(data)
    if (text := _korean_despite_label(data, declared, detected)) is not None:
        return Decoded(text, "cp949", declared_label)
    candidates: list[str] = []
    if declared in _SINGLE_BYTE and detected in _MULTI_BYTE_EAST_ASIAN:
        candidates.append(detected)
    candidates += [declared, detected]
    candidates = [c for c in dict.fromkeys(candidates) if c]
    for codec in candidates:
        if (text := _strict(data, codec)) is not None:
            return Decoded(text, codec, declared_label)
    # Nothing decodes cleanly: accept the best candidate only if the damage is a handful of bytes.
    for codec in candidates or ["utf-8"]:
        text = data.decode(codec, errors="replace")
        replaced = text.count("\ufffd")
        if replaced <= MAX_REPLACEMENT_RATIO * max(len(text), 1):
            return Decoded(text, codec, declared_label, replaced)
    raise UndecodableError(
        f"no charset decodes the payload cleanly (declared {declared_label!r}, tried {', '.join(candidates) or '-'})"
    )
