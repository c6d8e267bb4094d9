"""FineWeb line rules (Penedo et al. 2024; datatrove FineWebQualityFilter), with FineWeb-2's Korean thresholds.

Terminal punctuation is datatrove's TERMINAL_PUNCTUATION set (all scripts); lines are the non-blank lines;
the newline/word ratio counts morphemes for Korean, as FineWeb-2 counted kiwipiepy tokens.

Hard-wrapped text (issue 19: books and mail as they are, lines of 60-80 characters that end mid-sentence) is
judged by its paragraphs: FineWeb's text (trafilatura output) had one paragraph per line, so its line rules mean
"paragraphs", and a wrapped line that ends mid-sentence is not a line without punctuation. Scoring writes both
the line signals and the paragraph ones (`para_*`) with the share of wrapped lines; decide() picks the paragraph
signals when that share reaches `min_hard_wrapped_line_ratio`.
"""

from __future__ import annotations

import re
from itertools import repeat

from datatrove.utils.text import TERMINAL_PUNCTUATION

from lmpipe.stages.filter.analysis import TextView
from lmpipe.stages.filter.base import RuleFilter, above, below
from lmpipe.stages.filter.config import LanguageRules
from lmpipe.stages.filter.gopher import _duplicates

FINEWEB_EMPTY = "fineweb.empty"
FINEWEB_TOO_FEW_PUNCT_LINES = "fineweb.too_few_lines_ending_in_punctuation"
FINEWEB_TOO_MANY_SHORT_LINES = "fineweb.too_many_short_lines"
FINEWEB_TOO_MUCH_DUP_LINE_TEXT = "fineweb.too_much_text_in_repeated_lines"
FINEWEB_LIST_LIKE = "fineweb.too_many_newlines_per_word"

# datatrove's set has no closing quotes; FineWeb's first version had '"' and "'" (STOP_CHARS): a line of dialogue
# ending in ” is a finished sentence (12 of 150 Gutenberg excerpts dropped without them in benches/rule_filters.py).
_STOP_CHARS = tuple(TERMINAL_PUNCTUATION) + ('"', "'", "”", "’", "」", "』")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def _line_signals(lines: list[str], chars: int, n_words: int, stops: tuple[str, ...], short: int) -> dict:
    n = len(lines)
    return {
        "punct_line_ratio": sum(map(str.endswith, map(str.rstrip, lines), repeat(stops))) / n,
        "short_line_ratio": sum(map(short.__ge__, map(len, lines))) / n,
        "dup_line_char_ratio": _duplicates(lines)[1] / max(chars, 1),
        # newlines between non-blank lines: the C4 cleaner keeps paragraph breaks, FineWeb's text had none
        "newline_word_ratio": (n - 1) / max(n_words, 1),
    }


class FineWebLineFilter(RuleFilter):
    name = "🍷 FineWeb line rules (ko/en)"
    slug = "fineweb"
    prefix = "fineweb"

    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]:
        lines = v.nonblank_lines
        if not lines:
            return {"lines": 0}
        r = rules.fineweb
        stops = _STOP_CHARS + r.extra_terminal_endings
        chars = len(v.text) - v.text.count("\n")
        out = {"lines": len(lines)} | _line_signals(lines, chars, len(v.words), stops, r.short_line_max_chars)
        if r.hard_wrap_chars is None:
            return out
        low, high = r.hard_wrap_chars
        # a wrapped line: of the wrap width and ending mid-sentence (a sentence per line ends in punctuation)
        wrapped = sum(low <= len(line.strip()) <= high and not line.rstrip().endswith(stops) for line in lines)
        paras = list(filter(None, map(" ".join, map(str.split, _PARAGRAPH_BREAK.split(v.text)))))
        para = _line_signals(paras, sum(map(len, paras)), len(v.words), stops, r.short_line_max_chars)
        return out | {"wrapped_line_ratio": wrapped / len(lines)} | {f"para_{k}": x for k, x in para.items()}

    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        r = rules.fineweb
        if not s["lines"]:
            return FINEWEB_EMPTY
        wrapped = r.min_hard_wrapped_line_ratio is not None and "wrapped_line_ratio" in s
        # hard-wrapped text: the same rules over its paragraphs (their signals are `para_<line signal>`)
        k = "para_" if wrapped and not below(s["wrapped_line_ratio"], r.min_hard_wrapped_line_ratio) else ""
        if below(s[k + "punct_line_ratio"], r.min_terminal_punct_line_ratio):
            return FINEWEB_TOO_FEW_PUNCT_LINES
        if above(s[k + "short_line_ratio"], r.max_short_line_ratio):
            return FINEWEB_TOO_MANY_SHORT_LINES
        if above(s[k + "dup_line_char_ratio"], r.max_dup_line_char_ratio):
            return FINEWEB_TOO_MUCH_DUP_LINE_TEXT
        if above(s[k + "newline_word_ratio"], r.max_newline_word_ratio):
            return FINEWEB_LIST_LIKE
        return None
