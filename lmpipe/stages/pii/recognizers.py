"""Presidio pattern recognizers for the PII we scrub from pretraining text, Korean identifiers included.

Every recognizer is a presidio `PatternRecognizer` (patterns + a value check in `validate_result`) with one
addition: some patterns only count where a context word stands next to them (`needs_context`), checked on the
analysed text itself, because presidio's own context enhancer needs spaCy lemmas and we run without a model
(`NoOpNlpEngine`: nothing to download, nothing to load). Entity names follow presidio's where it has one.

Sources of the rules: Korean RRN/ARN layout and checksum (Resident Registration Act, Enforcement Rule, Annex;
since 2020-10 the last six digits are random, so the checksum only strengthens, never decides); Korean passport
(MOFA: letter + 3 digits + letter + 4 digits since 2021, letter + 8 digits before); Korean driver's licence
(Road Traffic Act: region code 11-28 + year + serial + check); NANP (area and exchange codes); ISO 13616 IBAN
(mod 97); ISO/IEC 7812 (Luhn, issuer prefixes); SSA SSN rules (no 000/666/9xx area, no 00 group, no 0000 serial).
"""

from __future__ import annotations

import ipaddress
import re
import sys
from bisect import bisect_right
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

import regex


def _import_presidio():
    # presidio_analyzer imports transformers whenever it is installed (for an NLP engine we never use): 8 s per
    # worker on this machine. Its import is guarded (ImportError -> None), so hide transformers for that moment.
    hide = "transformers" not in sys.modules
    if hide:
        sys.modules["transformers"] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer
    finally:
        if hide:
            del sys.modules["transformers"]
    return presidio_analyzer


_import_presidio()
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult  # noqa: E402

from lmpipe.stages.pii.entities import (  # noqa: E402  (after presidio, see _import_presidio)
    BANK_ACCOUNT,
    CREDIT_CARD,
    EMAIL,
    IBAN,
    IP_ADDRESS,
    KR_ARN,
    KR_DRIVER_LICENSE,
    KR_PASSPORT,
    KR_RRN,
    PHONE,
    US_SSN,
)  # fmt: skip

# All our recognizers are language-agnostic (web documents mix Korean and English): one pseudo-language.
LANGUAGE = "xx"
# No IGNORECASE (presidio's default): passport letters and IBAN country codes are case-sensitive evidence.
REGEX_FLAGS = regex.DOTALL | regex.MULTILINE
# Windows of text handed to presidio are joined with this; no pattern and no context look crosses it.
WINDOW_SEPARATOR = "\n\x00\n"

CONTEXT_BEFORE_CHARS = 40  # how far back a context word may stand ("계좌번호 (국민은행): 123-...")
CONTEXT_AFTER_CHARS = 16  # and forward ("123-45-678901 (신한은행)")

_D = r"(?<![\d\w])"  # left boundary: no digit or letter glued on (Hangul particles may follow, never precede)
_E = r"(?![\d])"  # right boundary: Korean particles ("010-1234-5678로") may follow a number


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


@dataclass(frozen=True)
class WindowMap:
    """Where the analysed text came from: windows of `source` joined by WINDOW_SEPARATOR.

    The scrubber hands presidio only tight windows around candidates (fast), yet context words may stand further
    away: with a WindowMap in `window_map`, context is read from the source document around the mapped span.
    """

    source: str
    offsets: list[int]  # start of each window in the joined text
    spans: list[tuple[int, int]]  # [start, end) of each window in `source`

    def to_source(self, pos: int) -> int:
        w = max(0, bisect_right(self.offsets, pos) - 1)
        return self.spans[w][0] + pos - self.offsets[w]


window_map: ContextVar[WindowMap | None] = ContextVar("pii_window_map", default=None)


def _has_context(text: str, start: int, end: int, words: tuple[str, ...]) -> bool:
    mapping = window_map.get()
    if mapping is not None:
        text, start, end = mapping.source, mapping.to_source(start), mapping.to_source(end)
    before = text[max(0, start - CONTEXT_BEFORE_CHARS) : start]
    after = text[end : end + CONTEXT_AFTER_CHARS]
    before = before.rpartition("\x00")[2].lower()
    after = after.partition("\x00")[0].lower()
    return any(w in before or w in after for w in words)


class ContextPatternRecognizer(PatternRecognizer):
    """A presidio PatternRecognizer whose patterns named in `needs_context` count only next to a context word."""

    def __init__(
        self,
        entity: str,
        patterns: list[Pattern],
        context: tuple[str, ...] = (),
        needs_context: frozenset[str] = frozenset(),
        veto_before: regex.Pattern | None = None,
    ):
        super().__init__(
            supported_entity=entity,
            name=f"lmpipe_{entity.lower()}",
            patterns=patterns,
            context=list(context),
            supported_language=LANGUAGE,
            global_regex_flags=REGEX_FLAGS,
        )
        self.context_words = tuple(w.lower() for w in context)
        self.needs_context = needs_context
        self.veto_before = veto_before  # a match preceded by this (e.g. "version ") is not the entity

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, REGEX_FLAGS)
        return [r for r in results if self._accept(text, r)]

    def _accept(self, text: str, result: RecognizerResult) -> bool:
        mapping = window_map.get()
        source, start = (mapping.source, mapping.to_source(result.start)) if mapping else (text, result.start)
        if self.veto_before is not None and self.veto_before.search(source[max(0, start - 16) : start]):
            return False
        if in_isbn(source, start, start + result.end - result.start):
            return False  # a book's number (or a piece of one) identifies no person
        pattern = result.analysis_explanation.pattern_name if result.analysis_explanation else None
        if pattern in self.needs_context:
            return _has_context(text, result.start, result.end, self.context_words)
        return True


# --- checks on values -------------------------------------------------------------------------------------------


def luhn_ok(number: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(number)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Issuer prefixes (ISO/IEC 7812 IIN ranges of the card networks) and the lengths each issues.
_CARD_PREFIXES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("4", (13, 16, 19)),  # Visa
    ("5", (16,)),  # Mastercard 51-55, Korean domestic BC/Maestro 5x
    ("2", (16,)),  # Mastercard 2221-2720, JCB 2131
    ("34", (15,)), ("37", (15,)),  # Amex
    ("6", (12, 13, 14, 15, 16, 17, 18, 19)),  # Discover, UnionPay, Maestro 6x
    ("35", (16, 17, 18, 19)),  # JCB
    ("30", (14, 16)), ("36", (14, 16)), ("38", (14, 16)), ("39", (14, 16)),  # Diners
    ("1800", (15,)), ("2131", (15,)),  # JCB legacy
    ("9", (16,)),  # Korean domestic cards (BC, Shinhan ...) with 9 prefixes
)  # fmt: skip


# ISBN-13 (ISO 2108): EAN prefix 978/979 + 9 digits + check digit (weights 1, 3), groups split by hyphens or
# spaces; the whole token stands alone (no digit group glued on either side). ISBN-10 (mod 11, X = 10) only after
# the word ISBN: ten digits pass its check once in eleven, so a bare one may as well be a phone number.
_ISBN13 = regex.compile(r"(?<!\d[\- ]?)97[89](?:[\- ]?\d){10}(?![\- ]?\d)")
_ISBN10 = regex.compile(r"(?i:isbn)(?:-10)?[:=]?\s?(\d(?:[\- ]?\d){8}[\- ]?[\dX])(?![\- ]?[\dX])")
_ISBN_REACH = 24  # characters each side of a match to look for the ISBN token it may sit in


def isbn13_ok(value: str) -> bool:
    d = _digits(value)
    return (
        len(d) == 13
        and d[:3] in ("978", "979")
        and sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(d)) % 10 == 0
    )


def isbn10_ok(value: str) -> bool:
    chars = [c for c in value.upper() if c.isdigit() or c == "X"]
    if len(chars) != 10 or "X" in chars[:9]:
        return False
    return sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(chars)) % 11 == 0


def in_isbn(text: str, start: int, end: int) -> bool:
    """True when [start, end) of `text` overlaps an ISBN with a valid check digit (ISBN-13, or ISBN-10 after 'ISBN')."""
    lo = max(0, start - _ISBN_REACH)
    piece = text[lo : end + _ISBN_REACH]
    if "97" in piece:
        for m in _ISBN13.finditer(piece):
            if m.start() + lo < end and m.end() + lo > start and isbn13_ok(m.group()):
                return True
    if "isbn" in piece.lower():
        for m in _ISBN10.finditer(piece):
            if m.start(1) + lo < end and m.end(1) + lo > start and isbn10_ok(m.group(1)):
                return True
    return False


_DASHES = r"\-\u2010-\u2015"
_DATE_SEP = rf"(?:[ .{_DASHES}/]{{1,2}})"
_YEAR = r"(?:1\d|20)\d\d"
# A calendar date at the start of a match: "2014-08-08", "2016. 12. 23", "2013-10-24 03" (a timestamp), and
# day-month-year / month-day-year with a four-digit year ("08.08.2014", "12/31/1998").
_YMD = regex.compile(rf"({_YEAR}){_DATE_SEP}(\d{{1,2}}){_DATE_SEP}(\d{{1,2}})(?!\d)")
_XXY = regex.compile(rf"(\d{{1,2}}){_DATE_SEP}(\d{{1,2}}){_DATE_SEP}({_YEAR})(?!\d)")
# "1980-1998", "1624 – 1643", "2013~2020": a start year and a later end year within two centuries
_YEAR_RANGE = regex.compile(rf"\(?({_YEAR})(\s?[{_DASHES}~]\s?)({_YEAR})\)?")
_KR_NATIONWIDE = ("15", "16", "18")  # 1588-1234, 1644-..., 1800-...: Korean nationwide numbers, 8 digits


def _day_ok(month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def date_shaped(value: str) -> bool:
    """`value` starts with a valid calendar date (year first, or last with day and month in either order)."""
    value = value.lstrip("(")
    m = _YMD.match(value)
    if m and _day_ok(int(m.group(2)), int(m.group(3))):
        return True
    m = _XXY.match(value)
    return bool(m) and (_day_ok(int(m.group(2)), int(m.group(1))) or _day_ok(int(m.group(1)), int(m.group(2))))


def year_range_shaped(value: str) -> bool:
    """`value` is a span of years ("1980-1998"), not eight digits of a phone number.

    A Korean nationwide number (15xx/16xx/18xx-xxxx) written with a bare hyphen stays a phone: "1588-1600" is
    far likelier a call centre than the years 1588 to 1600 next to a phone word.
    """
    m = _YEAR_RANGE.fullmatch(value)
    if not m:
        return False
    first, last = int(m.group(1)), int(m.group(3))
    if not first < last <= first + 200:
        return False
    return not (m.group(2) == "-" and m.group(1)[:2] in _KR_NATIONWIDE)


def card_ok(value: str) -> bool:
    number = _digits(value)
    if not luhn_ok(number) or len(set(number)) < 2:
        return False
    return any(number.startswith(p) and len(number) in lengths for p, lengths in _CARD_PREFIXES)


def iban_ok(value: str) -> bool:
    code = re.sub(r"[\s-]", "", value).upper()
    if not 15 <= len(code) <= 34 or not code[:2].isalpha() or not code[2:4].isdigit():
        return False
    rearranged = code[4:] + code[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def rrn_date_ok(digits: str) -> bool:
    month, day = int(digits[2:4]), int(digits[4:6])
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)


def rrn_checksum_ok(digits: str) -> bool:
    """Pre-2020-10 check digit: RRN (11 - s mod 11) mod 10, ARN (13 - s mod 11) mod 10."""
    s = sum(int(d) * w for d, w in zip(digits[:12], (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)))
    offset = 13 if digits[6] in "5678" else 11
    return (offset - s % 11) % 10 == int(digits[12])


def ssn_ok(value: str) -> bool:
    d = _digits(value)
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000" and len(set(d)) > 1


def ip_ok(value: str) -> bool:
    """A host address: not 0.0.0.0, loopback, broadcast or multicast (they identify nobody)."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    broadcast = ip.version == 4 and value.endswith(".255") and value.startswith("255.")
    return not (ip.is_unspecified or ip.is_loopback or ip.is_multicast or broadcast)


@lru_cache(maxsize=1)
def _suffix_extractor():
    # tldextract's default fetches the Public Suffix List over the network on first use (presidio's own
    # EmailRecognizer calls it that way). No URLs + the snapshot shipped in the wheel: never a socket.
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def email_domain_ok(value: str) -> bool:
    domain = value.rpartition("@")[2].lower()
    parts = _suffix_extractor()(domain)
    return bool(parts.domain and parts.suffix)


# --- recognizers --------------------------------------------------------------------------------------------


class ValidatedRecognizer(ContextPatternRecognizer):
    """ContextPatternRecognizer with a value check (`check(value) -> bool`): a failed check drops the match."""

    def __init__(self, entity: str, patterns: list[Pattern], check, **kwargs):
        super().__init__(entity, patterns, **kwargs)
        self._check = check

    def validate_result(self, pattern_text: str) -> bool | None:
        # None keeps the pattern's score (presidio would raise a passed check to 1.0, erasing which pattern is
        # stronger evidence when two recognizers claim one span); False drops the match.
        return None if self._check(pattern_text) else False


_PHONE_CONTEXT = (
    "phone", "tel", "call", "mobile", "cell", "fax", "contact", "whatsapp", "sms", "☎", "📞", "전화", "연락",
    "휴대폰", "핸드폰", "휴대전화", "폰", "팩스", "문의", "office", "desk", "messages to", "answering",
    "text me", "reach me", "dial",
)  # fmt: skip
_KR_AREA = r"(?:2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8])"
_SEP = r"[ .\-\u2010-\u2015]"


class PhoneRecognizer(ValidatedRecognizer):
    """The context-only patterns (any grouped number next to a phone word) never take a date or a year range:
    "Posted 2015-04-05 ... Call for Action", "Telegraph, Date -> 2014-01-22", "© 1999-2020 ... Contact Us"."""

    def _accept(self, text: str, result: RecognizerResult) -> bool:
        pattern = result.analysis_explanation.pattern_name if result.analysis_explanation else None
        if pattern in self.needs_context:
            value = text[result.start : result.end]
            if date_shaped(value) or year_range_shaped(value):
                return False
        return super()._accept(text, result)


def phone_recognizer() -> ContextPatternRecognizer:
    patterns = [
        # Korean mobile: 010-1234-5678, 010 1234 5678, 01012345678, +82 10-1234-5678, +82 (0)10 ..., (010) 1234-5678
        Pattern(
            "kr_mobile",
            rf"(?:(?:(?<![\w+])\+82{_SEP}?(?:\(0\){_SEP}?)?|{_D}0)1[016789]{_SEP}?|(?<![\w(])\(01[016789]\){_SEP}?)"
            rf"\d{{3,4}}{_SEP}?\d{{4}}{_E}",
            0.85,
        ),
        # Korean landline and VoIP: 02-123-4567, 031.123.4567, (02) 1234-5678, +82 2 1234 5678
        Pattern(
            "kr_landline",
            rf"(?:(?<![\w+])\+82{_SEP}?(?:\(0\){_SEP}?)?{_KR_AREA}[ )\-.]{{1,2}}|{_D}0{_KR_AREA}{_SEP}"
            rf"|(?<![\w(])\(0{_KR_AREA}\){_SEP}?)\d{{3,4}}{_SEP}\d{{4}}{_E}",
            0.85,
        ),
        # NANP with separators: 555-123-4567, (555) 123-4567, 555.123.4567, +1-555-123-4567, 001-555-... x123
        Pattern(
            "nanp",
            rf"(?:(?<![\w+])\+1{_SEP}?|{_D}001{_SEP}|{_D}1{_SEP})?(?:(?<![\w(])\(\d{{3}}\){_SEP}?|{_D}\d{{3}}{_SEP})"
            rf"\d{{3}}{_SEP}\d{{4}}(?:\s?(?:x|ext\.?|#)\s?\d{{1,5}})?{_E}",
            0.7,
        ),
        # International with a plus: +44 20 7946 0958, +49-30-901820, +33 (0)1 23 45 67 89
        Pattern(
            "intl_plus",
            rf"(?<![\w+])\+[1-9]\d{{0,2}}(?:{_SEP}?\(0?\d{{1,4}}\))?(?:{_SEP}?\d{{1,5}}){{2,6}}{_E}",
            0.6,
        ),
        # Any grouped number of 7-15 digits, but only where a phone word stands next to it:
        # "Tel. 0490 75 40 81", "전화: 467 3395", "call (37) 788-063"
        Pattern("grouped_with_context", rf"{_D}\(?\d{{2,5}}\)?(?:{_SEP}{{1,2}}\d{{2,8}}){{1,4}}{_E}", 0.4),
        Pattern("plain_with_context", rf"{_D}0?\d{{9,11}}{_E}", 0.4),
    ]

    def check(value: str) -> bool:
        n = len(_digits(value))
        return 7 <= n <= 15

    return PhoneRecognizer(
        PHONE,
        patterns,
        check,
        context=_PHONE_CONTEXT,
        needs_context=frozenset({"grouped_with_context", "plain_with_context"}),
    )


_RRN_BODY = r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"


def _registration_recognizer(entity: str, gender_digits: str, context: tuple[str, ...]) -> RegistrationRecognizer:
    patterns = [
        # YYMMDD-GNNNNNN: the hyphenated shape is itself the evidence; no checksum (random since 2020-10).
        Pattern("hyphenated", rf"{_D}{_RRN_BODY}\s?[-\u2010-\u2015]\s?[{gender_digits}]\d{{6}}{_E}", 0.85),
        # Partially masked ("900101-1******") still discloses birth date and sex.
        Pattern("masked", rf"{_D}{_RRN_BODY}\s?-\s?[{gender_digits}][*xX●○]{{6}}", 0.6),
        # 13 digits run together: an order or tracking number as often as an RRN; needs the checksum or context.
        Pattern("plain", rf"{_D}{_RRN_BODY}[{gender_digits}]\d{{6}}{_E}", 0.5),
    ]

    return RegistrationRecognizer(entity, patterns, lambda v: rrn_date_ok(_digits(v)), context=context)


class RegistrationRecognizer(ValidatedRecognizer):
    """RRN / ARN: the run-together 13-digit form counts with a valid (pre-2020) check digit or a context word."""

    def _accept(self, text: str, result: RecognizerResult) -> bool:
        if not super()._accept(text, result):
            return False
        pattern = result.analysis_explanation.pattern_name if result.analysis_explanation else None
        if pattern == "plain":
            digits = _digits(text[result.start : result.end])
            return rrn_checksum_ok(digits) or _has_context(text, result.start, result.end, self.context_words)
        return True


_RRN_CONTEXT = ("주민등록", "주민번호", "rrn", "resident registration", "생년월일", "주민")
_ARN_CONTEXT = ("외국인등록", "외국인 등록", "외국인번호", "alien registration", "registration card", "arc", "frn")


def rrn_recognizer() -> ValidatedRecognizer:
    return _registration_recognizer(KR_RRN, "1-4", _RRN_CONTEXT)


def arn_recognizer() -> ValidatedRecognizer:
    return _registration_recognizer(KR_ARN, "5-8", _ARN_CONTEXT)


def kr_passport_recognizer() -> ContextPatternRecognizer:
    # No letter or digit glued on the left, except the passport word itself ("passportM12345678", "PassportNo
    # M123A4567"; Hangul ones such as 여권번호M12345678 pass the ASCII boundary as they are).
    left = r"(?:(?<![A-Za-z0-9])|(?<=(?i:passport)(?:(?i:no|num|number)\.?)?))"
    patterns = [
        Pattern("current", rf"{left}[MSRODG]\d{{3}}[A-Z]\d{{4}}(?![A-Za-z0-9])", 0.7),
        # The pre-2021 form (M12345678) is also how part numbers look: only with a passport word.
        Pattern("previous", rf"{left}[MSROD]\d{{8}}(?![A-Za-z0-9])", 0.4),
    ]
    return ContextPatternRecognizer(
        KR_PASSPORT, patterns, context=("passport", "여권"), needs_context=frozenset({"previous"})
    )


_KR_REGIONS = "서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산"


def kr_driver_license_recognizer() -> ValidatedRecognizer:
    patterns = [
        Pattern("numeric", rf"{_D}(?:1[1-9]|2[0-8])-\d{{2}}-\d{{6}}-\d{{2}}{_E}", 0.8),
        Pattern("region_name", rf"(?:{_KR_REGIONS})\s?\d{{2}}-\d{{6}}-\d{{2}}{_E}", 0.8),
        Pattern("plain", rf"{_D}(?:1[1-9]|2[0-8])\d{{10}}{_E}", 0.4),
    ]
    return ValidatedRecognizer(
        KR_DRIVER_LICENSE,
        patterns,
        lambda v: len(_digits(v)) in (10, 12),
        context=("운전면허", "면허번호", "driver's licen", "driver licen", "driving licen"),
        needs_context=frozenset({"plain"}),
    )


_BANK_CONTEXT = (
    # bank names with their suffix: bare 국민 (nation), 우리 (we), 하나 (one), 기업 (company) are everyday words
    "계좌", "입금", "예금주", "송금", "은행", "뱅크", "농협", "신협", "새마을금고", "우체국", "kb국민", "ibk",
    "bank account", "account number", "account no", "acct", "a/c", "routing", "iban", "bank",
)  # fmt: skip


_DATE_START = re.compile(r"(?:19|20)\d\d[-. ](?:0?[1-9]|1[0-2])[-. ]")  # "2013-10-24 03:00": a timestamp


def bank_account_recognizer() -> ValidatedRecognizer:
    # Korean account numbers have no one layout (3-2-6, 3-6-2-3, 4-4-4 ... by bank): any grouped 10-16 digits,
    # but only next to a banking word, which is what makes it an account rather than any other number.
    patterns = [
        Pattern("grouped", rf"{_D}\d{{2,6}}(?:[ \-]\d{{2,8}}){{1,4}}{_E}", 0.5),
        Pattern("plain", rf"{_D}\d{{10,16}}{_E}", 0.4),
    ]
    return ValidatedRecognizer(
        BANK_ACCOUNT,
        patterns,
        lambda v: 10 <= len(_digits(v)) <= 16 and not _DATE_START.match(v),
        context=_BANK_CONTEXT,
        needs_context=frozenset({"grouped", "plain"}),
    )


_CARD_CONTEXT = ("card", "카드", "cc ", "credit", "debit", "결제", "visa", "mastercard", "maestro")
# Maestro (ISO/IEC 7812: 50, 56-58, 6x; 12-19 digits) is what Faker and some issuers print, but a 12-digit
# Luhn-valid number starting with 5 is also one order number in ten: those count only next to a card word.
_MAESTRO = re.compile(r"(?:50|5[6-8]|06|6)\d{10,17}")


class CreditCardRecognizer(ValidatedRecognizer):
    def _accept(self, text: str, result: RecognizerResult) -> bool:
        number = _digits(text[result.start : result.end])
        if card_ok(number):
            return True
        return _has_context(text, result.start, result.end, self.context_words)


def _card_or_maestro(value: str) -> bool:
    number = _digits(value)
    return card_ok(number) or (luhn_ok(number) and _MAESTRO.fullmatch(number) is not None)


def credit_card_recognizer() -> ValidatedRecognizer:
    patterns = [
        # 4-4-4-4 (and 4-6-5 Amex) with one consistent separator, or run together; Luhn + issuer decide.
        Pattern("grouped", rf"{_D}\d{{4}}([ \-])\d{{4,6}}\1\d{{4,5}}(?:\1\d{{1,4}})?{_E}", 0.6),
        Pattern("plain", rf"{_D}\d{{12,19}}{_E}", 0.5),
    ]
    return CreditCardRecognizer(CREDIT_CARD, patterns, _card_or_maestro, context=_CARD_CONTEXT)


# "version 1.2.3.4", "v10.0.0.1", "버전 2.1.0.3", "Build 5.1.2.600": version strings, not hosts.
_VERSION_BEFORE = regex.compile(r"(?i)(?:\bv|\bver\.?|version|build|release|버전|릴리스)\s*$")


def ip_recognizer() -> ValidatedRecognizer:
    octet = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    patterns = [
        Pattern("ipv4", rf"(?<![0-9A-Za-z_.]){octet}(?:\.{octet}){{3}}(?!\.?\d)(?!\.\w)(?![A-Za-z])", 0.7),
        # ASCII boundaries: a Hangul particle may follow ("...::1에서")
        Pattern(
            "ipv6",
            r"(?<![0-9A-Za-z_:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z_:])",
            0.7,
        ),
    ]

    def check(value: str) -> bool:
        if "." in value and all(len(octet) == 1 for octet in value.split(".")):
            return False  # "1.2.3.4": outline numbering far more often than a host worth scrubbing
        if ":" in value:
            groups = [g for g in value.split("%")[0].split(":") if g]
            # "::" alone, "a:b:c" words or clock times "12:30:45" are not addresses worth scrubbing
            return len(groups) >= 3 and any(c.isdigit() for c in value) and ip_ok(value.split("%")[0])
        return ip_ok(value)

    return ValidatedRecognizer(IP_ADDRESS, patterns, check, veto_before=_VERSION_BEFORE)


def ssn_recognizer() -> ValidatedRecognizer:
    patterns = [
        Pattern("grouped", rf"{_D}\d{{3}}([ \-])\d{{2}}\1\d{{4}}{_E}", 0.6),
        Pattern("plain", rf"{_D}\d{{9}}{_E}", 0.3),
    ]
    return ValidatedRecognizer(
        US_SSN,
        patterns,
        ssn_ok,
        context=("ssn", "social security", "social sec", "ss#", "ss #", "taxpayer"),
        needs_context=frozenset({"plain"}),
    )


def iban_recognizer() -> ValidatedRecognizer:
    patterns = [
        Pattern(
            "grouped", r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?(?![A-Za-z0-9])", 0.8
        ),
        Pattern("plain", r"(?<![A-Za-z0-9])(?:[A-Z]{2}|[a-z]{2})\d{2}[A-Za-z0-9]{11,30}(?![A-Za-z0-9])", 0.8),
    ]
    return ValidatedRecognizer(IBAN, patterns, iban_ok)


def email_recognizer() -> ValidatedRecognizer:
    # ASCII local part and domain: a Hangul particle glued on ("abc@naver.com으로") is not part of the address.
    patterns = [
        Pattern(
            "email",
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
            r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])",
            0.8,
        )
    ]
    return ValidatedRecognizer(EMAIL, patterns, email_domain_ok, context=("email", "e-mail", "이메일", "메일"))


def all_recognizers() -> list[ContextPatternRecognizer]:
    return [
        email_recognizer(),
        phone_recognizer(),
        rrn_recognizer(),
        arn_recognizer(),
        kr_passport_recognizer(),
        kr_driver_license_recognizer(),
        bank_account_recognizer(),
        credit_card_recognizer(),
        ip_recognizer(),
        ssn_recognizer(),
        iban_recognizer(),
    ]
