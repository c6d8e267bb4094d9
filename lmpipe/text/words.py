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

from lmpipe.text.korean import morphemes

# Hangul: syllables, conjoining jamo, compatibility jamo, extended jamo A/B (see _NON_HANGUL below).

# Share of Hangul among the letters of a text above which a document without a `lang` is treated as Korean.
# Korean Wikipedia paragraphs (KorQuAD v1 dev contexts, 964) have a median Hangul share of letters of 0.99, 1st
# percentile 0.60, minimum 0.23; English prose has 0. 0.3 leaves room for Korean pages full of Latin names.
KOREAN_SCRIPT_MIN_HANGUL_RATIO = 0.3


_NON_LETTERS = re.compile(r"[\W\d_]+")
_NON_HANGUL = re.compile("[^\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff]+")
_ALNUM = re.compile(r"[^\W_]")
_ALPHA = re.compile(r"[^\W\d_]")


def hangul_ratio(text: str) -> float:
    """Hangul characters / letters (any script); 0.0 when the text has no letter."""
    # `sub` to count: one C pass each, no list of matches
    letters = len(_NON_LETTERS.sub("", text))
    return len(_NON_HANGUL.sub("", text)) / letters if letters else 0.0


def script_lang(text: str) -> str:
    """'ko' when Hangul dominates the letters of `text`, else 'en' (rule profile, not language identification)."""
    return "ko" if hangul_ratio(text) >= KOREAN_SCRIPT_MIN_HANGUL_RATIO else "en"


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
