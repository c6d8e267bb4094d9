"""FineWeb line rules (Penedo et al. 2024; datatrove FineWebQualityFilter), with FineWeb-2's Korean thresholds.

Terminal punctuation is datatrove's TERMINAL_PUNCTUATION set (all scripts); lines are the non-blank lines;
the newline/word ratio counts morphemes for Korean, as FineWeb-2 counted kiwipiepy tokens.
"""

from __future__ import annotations

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


class FineWebLineFilter(RuleFilter):
    name = "🍷 FineWeb line rules (ko/en)"
    slug = "fineweb"
    prefix = "fineweb"

    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]:
        lines = v.nonblank_lines
        if not lines:
            return {"lines": 0}
        n = len(lines)
        short = rules.fineweb.short_line_max_chars
        stops = _STOP_CHARS + rules.fineweb.extra_terminal_endings
        chars = len(v.text) - v.text.count("\n")
        return {
            "lines": n,
            "punct_line_ratio": sum(line.rstrip().endswith(stops) for line in lines) / n,
            "short_line_ratio": sum(len(line) <= short for line in lines) / n,
            "dup_line_char_ratio": _duplicates(lines)[1] / max(chars, 1),
            # newlines between non-blank lines: the C4 cleaner keeps paragraph breaks, FineWeb's text had none
            "newline_word_ratio": (n - 1) / max(len(v.words), 1),
        }

    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        r = rules.fineweb
        if not s["lines"]:
            return FINEWEB_EMPTY
        if below(s["punct_line_ratio"], r.min_terminal_punct_line_ratio):
            return FINEWEB_TOO_FEW_PUNCT_LINES
        if above(s["short_line_ratio"], r.max_short_line_ratio):
            return FINEWEB_TOO_MANY_SHORT_LINES
        if above(s["dup_line_char_ratio"], r.max_dup_line_char_ratio):
            return FINEWEB_TOO_MUCH_DUP_LINE_TEXT
        if above(s["newline_word_ratio"], r.max_newline_word_ratio):
            return FINEWEB_LIST_LIKE
        return None
