"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", Table A1), Korean-aware.

Differences from datatrove 0.10.1's GopherQualityFilter / GopherRepetitionFilter, on purpose:
- Korean words are MeCab morphemes (lmpipe.text.words), never kiwipiepy (its pinned <0.22 versions raise
  UnicodeDecodeError on some inputs) and never text passed through `simplify_text` (which decomposes Hangul).
- Every signal is computed and kept in metadata before deciding; reasons say what is wrong.
- Line ratios count non-blank lines; bullets include the marks Korean pages use (·, ●, ■, ▪).
The n-gram definitions are datatrove's (top n-gram: words joined by spaces; duplicated n-grams: joined without,
skipping past a repeat), so FineWeb-2's Korean thresholds keep their meaning.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from itertools import accumulate

import numpy as np

from lmpipe.stages.filter.analysis import TextView, _nonblank
from lmpipe.stages.filter.base import RuleFilter, above, below
from lmpipe.stages.filter.config import LanguageRules

GOPHER_TOO_FEW_WORDS = "gopher.too_few_words"
GOPHER_TOO_MANY_WORDS = "gopher.too_many_words"
GOPHER_WORDS_TOO_SHORT = "gopher.mean_word_too_short"
GOPHER_WORDS_TOO_LONG = "gopher.mean_word_too_long"
GOPHER_TOO_MANY_HASHES = "gopher.too_many_hashes"
GOPHER_TOO_MANY_ELLIPSES = "gopher.too_many_ellipses"
GOPHER_TOO_MANY_BULLET_LINES = "gopher.too_many_bullet_lines"
GOPHER_TOO_MANY_ELLIPSIS_LINES = "gopher.too_many_ellipsis_lines"
GOPHER_TOO_FEW_ALPHA_WORDS = "gopher.too_few_alpha_words"
GOPHER_TOO_FEW_STOP_WORDS = "gopher.too_few_stop_words"

REPETITION_DUP_LINES = "repetition.too_many_duplicate_lines"
REPETITION_DUP_PARAGRAPHS = "repetition.too_many_duplicate_paragraphs"
REPETITION_DUP_LINE_CHARS = "repetition.too_much_text_in_duplicate_lines"
REPETITION_DUP_PARAGRAPH_CHARS = "repetition.too_much_text_in_duplicate_paragraphs"
REPETITION_TOP_NGRAM = "repetition.top_ngram_too_frequent"
REPETITION_DUP_NGRAMS = "repetition.too_many_duplicate_ngrams"

BULLETS = "•-*·●■▪◦‣"
# Counted with one regex pass over the text (per-line Python loops dominate on books with 10K lines).
_BULLET_LINE = re.compile(rf"^[ \t]*[{re.escape(BULLETS)}]", re.MULTILINE)
_ELLIPSIS_LINE = re.compile(r"(?:\.\.\.|…)[ \t]*$", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LINE_BREAK = re.compile(r"\n+")


class GopherQualityFilter(RuleFilter):
    """Gopher quality rules: word count and length, symbols, bullets, alphabetic words, stop words."""

    name = "🥇 Gopher quality (ko/en)"
    slug = "gopher"
    prefix = "gopher"

    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]:
        r = rules.gopher
        words = v.words
        n_words = max(len(words), 1)
        n_content, content_chars = v.content_word_stats
        n_lines = max(len(v.nonblank_lines), 1)
        return {
            "word_count": n_content,
            "mean_word_chars": content_chars / n_content if n_content else 0.0,
            "hash_word_ratio": v.text.count("#") / n_words,
            "ellipsis_word_ratio": (v.text.count("...") + v.text.count("…")) / n_words,
            "bullet_line_ratio": len(_BULLET_LINE.findall(v.text)) / n_lines,
            "ellipsis_line_ratio": len(_ELLIPSIS_LINE.findall(v.text)) / n_lines,
            "alpha_word_ratio": (len(words) - v.letterless_words) / n_words,
            "stop_words": len(set(r.stop_words).intersection(words)),
        }

    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        r = rules.gopher
        if below(s["word_count"], r.min_words):
            return GOPHER_TOO_FEW_WORDS
        if above(s["word_count"], r.max_words):
            return GOPHER_TOO_MANY_WORDS
        if below(s["mean_word_chars"], r.min_mean_word_chars):
            return GOPHER_WORDS_TOO_SHORT
        if above(s["mean_word_chars"], r.max_mean_word_chars):
            return GOPHER_WORDS_TOO_LONG
        if above(s["hash_word_ratio"], r.max_hash_word_ratio):
            return GOPHER_TOO_MANY_HASHES
        if above(s["ellipsis_word_ratio"], r.max_ellipsis_word_ratio):
            return GOPHER_TOO_MANY_ELLIPSES
        if above(s["bullet_line_ratio"], r.max_bullet_line_ratio):
            return GOPHER_TOO_MANY_BULLET_LINES
        if above(s["ellipsis_line_ratio"], r.max_ellipsis_line_ratio):
            return GOPHER_TOO_MANY_ELLIPSIS_LINES
        if below(s["alpha_word_ratio"], r.min_alpha_word_ratio):
            return GOPHER_TOO_FEW_ALPHA_WORDS
        if below(s["stop_words"], r.min_stop_words):
            return GOPHER_TOO_FEW_STOP_WORDS
        return None


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items seen before, characters in them): every occurrence but each item's first."""
    distinct = set(items)  # set and len passes in C, not a Python loop over the lines
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


TOP_NS = (2, 3, 4)  # top n-gram rules
DUP_NS = range(5, 11)  # duplicated n-gram rules
_WIDTH = max(*TOP_NS, DUP_NS[0])  # every rule's n-grams are prefixes of the _WIDTH words from a position


def _sorted_positions(words: list[str]) -> tuple[np.ndarray, Callable[[int], np.ndarray], np.ndarray]:
    """Word positions sorted by the _WIDTH words from there, so that equal n-grams (n <= _WIDTH) are runs: one sort
    for all the rules (a np.unique per n and rule was the stage's top cost after MeCab, mostly numpy's per-call
    work on documents of a few hundred words). Returns (order, bounds, ids): bounds(n) are the indices into
    `order` where runs of equal n-grams start, then len(words); ids are the words as ints (the position where each
    first occurs).

    Past the last word come sentinels (ids no word has, each once), so a position too near the end for an n-gram
    starts one that is unique and never counts as a repeat.
    """
    m = len(words)
    first: dict[str, int] = {}
    ids = np.fromiter(map(first.setdefault, words, range(m)), dtype=np.int64, count=m)
    padded = np.concatenate([ids, np.arange(m, m + _WIDTH - 1)])
    edges = np.ones(m + 1, dtype=bool)  # edges[k]: sorted positions k-1 and k start different n-grams
    base = m + _WIDTH - 1
    if base**_WIDTH < 2**63:  # one int64 key per position (documents up to about 6,200 words)
        keys = padded[:m].copy()
        for j in range(1, _WIDTH):
            keys = keys * base + padded[j : j + m]
        order = keys.argsort()
        ranked = keys[order]

        def bounds(n: int) -> np.ndarray:
            prefix = ranked // base ** (_WIDTH - n)  # the key of the first n words
            np.not_equal(prefix[1:], prefix[:-1], out=edges[1:-1])
            return np.flatnonzero(edges)

        return order, bounds, ids
    windows = np.lib.stride_tricks.sliding_window_view(padded, _WIDTH)
    order = np.lexsort(windows.T[::-1])
    rows = windows[order]
    differ = np.logical_or.accumulate(rows[1:] != rows[:-1], axis=1)  # column n-1: in the first n words

    def bounds(n: int) -> np.ndarray:
        edges[1:-1] = differ[:, n - 1]
        return np.flatnonzero(edges)

    return order, bounds, ids


def repeated_ngram_chars(words: list[str]) -> tuple[dict[int, int], dict[int, int]]:
    """({n: top n-gram characters} for TOP_NS, {n: duplicated n-gram characters} for DUP_NS).

    Top n-gram: characters covered by the most frequent n-gram (joined with spaces) times its count; 0 if no
    n-gram repeats. datatrove counts the top n-gram even when it occurs once, which drops every short text (a
    30-character review's first 2-gram covers 20% of it); Gopher's rule is about repetition, so a single
    occurrence counts 0 here. Ties go to the n-gram seen first, as `Counter.most_common(1)` over the n-grams in
    text order does.

    Duplicated n-grams: characters in n-grams already seen earlier (joined without spaces), jumping past each
    repeat: the result of datatrove's find_all_duplicate, computed faster. An n-gram (n >= DUP_NS[0]) can repeat
    only where its first DUP_NS[0] words repeat. datatrove's scan steps by one word over every other position and
    nothing seen there can match later, so the scan jumps from candidate to candidate: a few percent of the
    positions of real text.
    """
    top, dup = dict.fromkeys(TOP_NS, 0), dict.fromkeys(DUP_NS, 0)
    m = len(words)
    if m < 2:
        return top, dup
    order, bounds, ids = _sorted_positions(words)
    for n in TOP_NS:
        runs = bounds(n)
        counts = runs[1:] - runs[:-1]
        count = int(counts.max())
        if count < 2:
            break  # no longer n-gram repeats either
        i = int(np.minimum.reduceat(order, runs[:-1])[counts == count].min())  # the first-seen of the top n-grams
        top[n] = (sum(map(len, words[i : i + n])) + n - 1) * count

    runs = bounds(DUP_NS[0])
    counts = runs[1:] - runs[:-1]
    if counts.max() < 2:
        return top, dup
    candidates = np.sort(order[np.repeat(counts > 1, counts)]).tolist()
    seq = ids.tolist()
    prefix = [0, *accumulate(map(len, words))]
    for n in DUP_NS:
        seen: set[tuple[int, ...]] = set()
        chars = i = k = 0
        last = m - n
        while True:
            k = bisect_left(candidates, i, k)
            if k == len(candidates) or candidates[k] > last:
                break
            i = candidates[k]
            gram = tuple(seq[i : i + n])
            if gram in seen:
                chars += prefix[i + n] - prefix[i]
                i += n
            else:
                seen.add(gram)
                i += 1
        dup[n] = chars
    return top, dup


class GopherRepetitionFilter(RuleFilter):
    """Gopher repetition rules: duplicated lines and paragraphs, top n-grams, duplicated n-grams."""

    name = "👯 Gopher repetition (ko/en)"
    slug = "repetition"
    prefix = "repetition"

    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]:
        text = v.text.strip()
        n_chars = max(len(text), 1)
        # Whitespace-only lines and paragraphs are layout, not repetition (datatrove counts " " lines as duplicates).
        paragraphs = _nonblank(_PARAGRAPH_BREAK.split(text)) or [""]
        lines = _nonblank(_LINE_BREAK.split(text)) or [""]
        dup_paras, dup_para_chars = _duplicates(paragraphs)
        dup_lines, dup_line_chars = _duplicates(lines)
        s: dict[str, float] = {
            "dup_para_ratio": dup_paras / len(paragraphs),
            "dup_para_char_ratio": dup_para_chars / n_chars,
            "dup_line_ratio": dup_lines / len(lines),
            "dup_line_char_ratio": dup_line_chars / n_chars,
        }
        top, dup = repeated_ngram_chars(v.words)
        for n, chars in top.items():
            s[f"top_{n}gram_char_ratio"] = chars / n_chars
        for n, chars in dup.items():
            s[f"dup_{n}gram_char_ratio"] = chars / n_chars
        return s

    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        r = rules.repetition
        if above(s["dup_para_ratio"], r.max_dup_para_ratio):
            return REPETITION_DUP_PARAGRAPHS
        if above(s["dup_para_char_ratio"], r.max_dup_para_char_ratio):
            return REPETITION_DUP_PARAGRAPH_CHARS
        if above(s["dup_line_ratio"], r.max_dup_line_ratio):
            return REPETITION_DUP_LINES
        if above(s["dup_line_char_ratio"], r.max_dup_line_char_ratio):
            return REPETITION_DUP_LINE_CHARS
        for n in TOP_NS:
            if above(s[f"top_{n}gram_char_ratio"], getattr(r, f"max_top_{n}gram_char_ratio")):
                return REPETITION_TOP_NGRAM
        for n in DUP_NS:
            if above(s[f"dup_{n}gram_char_ratio"], getattr(r, f"max_dup_{n}gram_char_ratio")):
                return REPETITION_DUP_NGRAMS
        return None
