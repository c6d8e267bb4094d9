"""What the rule filters share about one text: its rule profile (ko/en), lines and words, computed once.

Filters run one after another on the same document; MeCab and the n-gram scans are the expensive part, so the
last text's view is kept (one entry, per process) and reused while the text object is unchanged. A transform that
rewrites the text makes a new string, so the next filter recomputes.
"""

from __future__ import annotations

import re
from functools import cached_property

from datatrove.data import Document

from lmpipe.core import schema
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


class TextView:
    def __init__(self, text: str, lang: str):
        self.text = text
        self.lang = lang

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def nonblank_lines(self) -> list[str]:
        return [line for line in self.lines if line.strip()]

    @cached_property
    def words(self) -> list[str]:
        """Morphemes (Korean) or word/symbol tokens (English), see lmpipe.text.words."""
        return W.words(self.text, self.lang)

    @cached_property
    def _joined_words(self) -> str:
        # Words one per line, so per-word tests run as one regex pass (words never contain a newline).
        return "\n".join(self.words)

    @cached_property
    def content_word_stats(self) -> tuple[int, int]:
        """(number of words with a letter or digit, their characters): Gopher's "non-symbol words"."""
        symbols = _SYMBOL_WORD.findall(self._joined_words)
        return len(self.words) - len(symbols), sum(map(len, self.words)) - sum(map(len, symbols))

    @cached_property
    def letterless_words(self) -> int:
        """Words without any letter (numbers, symbols)."""
        return len(_LETTERLESS_WORD.findall(self._joined_words))


_last: TextView | None = None


def view(doc: Document) -> TextView:
    global _last
    lang = rule_lang(doc)
    if _last is None or _last.text is not doc.text or _last.lang != lang:
        _last = TextView(doc.text, lang)
    return _last
