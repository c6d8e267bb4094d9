"""Word splitting for the rule filters, in one place: tokens for English, eojeol and MeCab morphemes for Korean.

Which unit a rule counts is a choice per rule (see filters/rules): published thresholds for Korean (FineWeb-2's
kor_Hang config) were measured on morphemes (kiwipiepy tokens), so word counts, word lengths, stop words and
n-gram repetition use morphemes; rules about lines (words per line) use eojeol, the space-separated unit.

No text normalization happens here. datatrove's `simplify_text` (norm_unicode_diacritics) runs NFD and drops
combining marks, which turns Hangul syllables into conjoining jamo before any word splitting ("한국" becomes
the six code points U+1112 U+1161 U+11AB U+1100 U+116E U+11A8).
"""

from __future__ import annotations

import re

from lmpipe.text.korean import (  # noqa: F401  (hangul_ratio, script_lang: the filters' word helpers)
    KOREAN_SCRIPT_MIN_HANGUL_RATIO,
    hangul_ratio,
    morphemes,
    script_lang,
)

_ALNUM = re.compile(r"[^\W_]")
_ALPHA = re.compile(r"[^\W\d_]")


def english_words(text: str) -> list[str]:
    """Whitespace-separated words, Gopher's unit (Rae et al. 2021, A1).

    datatrove splits English with spaCy, punctuation as separate words; with that unit Gopher's "80% of words
    contain a letter" removed 21% of English Wikipedia articles in benches/rule_filters.py (numbers, dates, citations),
    with whitespace words 1%.
    """
    return text.split()


def eojeols(text: str) -> list[str]:
    """Space-separated units (어절): a Korean eojeol is a word plus its particles and endings."""
    return text.split()


def words(text: str, lang: str) -> list[str]:
    """Words as the rule filters count them: MeCab morphemes for Korean (FineWeb-2's unit for its Korean
    thresholds), whitespace words otherwise (Gopher's unit)."""
    return morphemes(text) if lang == "ko" else english_words(text)


def has_alnum(token: str) -> bool:
    """False for a punctuation or symbol token. Use with filter(): the regex call runs without a Python frame."""
    return _ALNUM.search(token) is not None


def has_letter(token: str) -> bool:
    return _ALPHA.search(token) is not None
