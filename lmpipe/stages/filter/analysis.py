"""What the rule filters share about one text: its rule profile (ko/en), lines and words, computed once.

Filters run one after another on the same documents; MeCab and the n-gram scans are the expensive part, so each
document's view is kept and reused while its text object is unchanged. A transform that rewrites the text makes a
new string, so the next filter recomputes. Steps work on batches (lmpipe.core.steps: every filter sees the whole
batch before the next filter starts), so the cache holds a batch's worth of views: with one entry (the last
text) every filter re-ran MeCab on every Korean document, a third of the stage's time.
"""

from __future__ import annotations

import re
from functools import cached_property
from itertools import compress

from datatrove.data import Document

from lmpipe.core import schema
from lmpipe.core.steps import BATCH_DOCS
from lmpipe.text import words as W

RULES_LANG = "rules.lang"  # metadata: which rule profile ("ko" or "en") judged the document
# one word per line: the classes must not match the newline itself (\W does), or a match spans words
_SYMBOL_WORD = re.compile(r"^(?:[^\w\n]|_)+$", re.MULTILINE)
_LETTERLESS_WORD = re.compile(r"^(?:[^\w\n]|[\d_])+$", re.MULTILINE)


def rule_lang(doc: Document) -> str:
    """'ko' or 'en': the document's `lang` when set ("ko..." -> ko, anything else -> en), else the script."""
    lang = doc.metadata.get(RULES_LANG)
    if lang is None:
        declared = doc.metadata.get(schema.LANG)
        lang = ("ko" if str(declared).lower().startswith("ko") else "en") if declared else W.script_lang(doc.text)
        doc.metadata[RULES_LANG] = lang
    return lang


def _nonblank(strings: list[str]) -> list[str]:
    """The strings that hold more than whitespace (one C pass: compress over map, no Python loop)."""
    return list(compress(strings, map(str.strip, strings)))


class TextView:
    def __init__(self, text: str, lang: str):
        self.text = text
        self.lang = lang

    @cached_property
    def utf8(self) -> bytes:
        return self.text.encode()

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def nonblank_lines(self) -> list[str]:
        return _nonblank(self.lines)

    @cached_property
    def words(self) -> list[str]:
        """Morphemes (Korean) or word/symbol tokens (English), see lmpipe.text.words."""
        return W.words(self.text, self.lang)

    @cached_property
    def _letterless(self) -> list[str]:
        # Words one per line, so the per-word test runs as one regex pass (words never contain a newline).
        return _LETTERLESS_WORD.findall("\n".join(self.words))

    @cached_property
    def content_word_stats(self) -> tuple[int, int]:
        """(number of words with a letter or digit, their characters): Gopher's "non-symbol words"."""
        # A word without a letter or digit is a letterless word without a digit: the second pass runs over those
        # few words only, not over the whole text again.
        symbols = _SYMBOL_WORD.findall("\n".join(self._letterless))
        return len(self.words) - len(symbols), sum(map(len, self.words)) - sum(map(len, symbols))

    @cached_property
    def letterless_words(self) -> int:
        """Words without any letter (numbers, symbols)."""
        return len(self._letterless)


# id(doc) -> the view of its text, for four batches (steps.BATCH_DOCS each): chained steps cut their batches at
# different documents, so one step's batch spans two of the step before it (with two batches, a third of the
# Korean documents were parsed again). A hit also checks that the text is the same object, so a reused id (a
# document freed, another allocated there) or a rewritten text never returns a stale view.
_views: dict[int, TextView] = {}
MAX_VIEWS = 4 * BATCH_DOCS


def view(doc: Document) -> TextView:
    lang = rule_lang(doc)
    cached = _views.get(id(doc))
    if cached is not None and cached.text is doc.text and cached.lang == lang:
        return cached
    if len(_views) >= MAX_VIEWS:
        for key in list(_views)[: MAX_VIEWS // 2]:  # oldest half (dicts keep insertion order)
            del _views[key]
    _views[id(doc)] = v = TextView(doc.text, lang)
    return v
