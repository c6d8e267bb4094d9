"""C4 rules (Raffel et al. 2020, section 2.2; TFDS c4_utils) as two steps: a line cleaner and a document filter.

datatrove's C4QualityFilter does both in one `filter()` that rewrites `doc.text`; here the cleaner is a
Transform (removes lines, never documents) and `C4DocumentFilter` judges the cleaned text (never rewrites it).
Unlike C4 the cleaner keeps blank lines as paragraph breaks (collapsed to one), so later rules and training see
paragraphs. Lines are measured in whitespace words, which are eojeol for Korean.
"""

from __future__ import annotations

import re

from datatrove.data import Document

from lmpipe.core.steps import Transform
from lmpipe.stages.filter.analysis import TextView, rule_lang
from lmpipe.stages.filter.base import RuleFilter, above, below
from lmpipe.stages.filter.config import LanguageRules

C4_NO_TEXT_LEFT = "c4.no_text_left_after_line_cleaning"
C4_ALL_LINES_REMOVED = "c4.all_lines_removed"  # metadata flag set by C4LineCleaner
C4_TOO_FEW_SENTENCES = "c4.too_few_sentences"
C4_LOREM_IPSUM = "c4.lorem_ipsum"
C4_CURLY_BRACKET = "c4.curly_bracket"

CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]|\[편집\]|\[출처 필요\]", re.IGNORECASE)
# C4's terminal marks, plus their CJK full-width forms and closing quotes used in Korean text.
TERMINAL_PUNCT = (".", "?", "!", '"', "'", "。", "？", "！", "”", "’", "」", "』")
POLICY_PHRASES = (
    "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies",
    "개인정보처리방침", "개인정보 처리방침", "개인정보취급방침", "이용약관", "쿠키를 사용", "쿠키 사용", "쿠키 정책",
)  # fmt: skip
JAVASCRIPT = ("javascript", "자바스크립트")
# One regex pass per line instead of a Python loop over the phrases (a generator per line was 10% of the stage).
_POLICY_RE = re.compile("|".join(map(re.escape, POLICY_PHRASES)))
_JAVASCRIPT_RE = re.compile("|".join(map(re.escape, JAVASCRIPT)))
_NOTICE_RE = re.compile("|".join(map(re.escape, JAVASCRIPT + POLICY_PHRASES)))
# A sentence ends at terminal punctuation (and closing quotes/brackets) followed by whitespace or the end.
_SENTENCE_END = re.compile(r"[.!?。？！]+[\"'”’」』)\]]*(?=\s|$)")
# A curly bracket as code and templates use it (issue 19): a block opened at the end of a line or after ")", "=",
# "=>", ":" or a CSS selector; template and interpolation tags ({{ }}, {% %}, ${ }); a block holding ";" or a
# "key": value pair. A typesetting mark in a book (M^{r.}, x^{2}) is none of these.
_CODE_BRACE = re.compile(
    r"\{[ \t]*(?:\n|$)|[)=>:][ \t]*\{|[\w\]][ \t]+\{[^{}\n]*:|\{\{|\{%|\$\{|\{[^{}\n]*;|\{[ \t]*[\"'][^\"'\n]*[\"'][ \t]*:"
)


def count_sentences(line: str) -> int:
    ends = list(_SENTENCE_END.finditer(line))
    tail = line[ends[-1].end() :] if ends else line
    return len(ends) + bool(tail.strip())


class C4LineCleaner(Transform):
    """Removes lines C4 would not keep: too few words, over-long words, JavaScript and policy notices, and (when
    configured) lines without terminal punctuation. Counts removed lines per reason in `c4.removed_lines`."""

    name = "⛰ C4 line cleaning (ko/en)"
    slug = "c4_lines"

    def __init__(self, en: LanguageRules, ko: LanguageRules):
        super().__init__()
        self.rules = {"en": en, "ko": ko}

    def line_problem(self, line: str, lang: str, notices: bool = True) -> str | None:
        """Why C4 drops `line`, or None; `notices=False`: the text holds no JavaScript or policy phrase."""
        r = self.rules[lang].c4
        words = line.split()
        if r.max_word_chars is not None and max(map(len, words), default=0) > r.max_word_chars:
            return "too_long_word"
        if r.drop_lines_without_terminal_punct and (not line.endswith(TERMINAL_PUNCT) or line.endswith("...")):
            return "no_terminal_punct"
        if r.min_words_per_line is not None and len(words) < r.min_words_per_line:
            return "too_few_words"
        if not notices:
            return None
        lower = line.lower()
        if r.drop_javascript_lines and _JAVASCRIPT_RE.search(lower):
            return "javascript"
        if r.drop_policy_lines and _POLICY_RE.search(lower):
            return "policy"
        return None

    def transform(self, doc: Document) -> None:
        lang = rule_lang(doc)
        remove_citations = self.rules[lang].c4.remove_citations
        kept: list[str] = []
        removed: dict[str, int] = {}
        # A line holds a JavaScript or policy phrase only where the lowercased text does, unless removing a citation
        # joins the two sides of one ("java[1]script"). Most texts hold none: their lines skip lowering and both
        # searches, as they skip the citation pattern without a "[" (every citation starts with one).
        notices = (remove_citations and "[" in doc.text) or _NOTICE_RE.search(doc.text.lower()) is not None
        for raw in doc.text.split("\n"):
            line = raw.strip()
            if not line:
                if kept and kept[-1]:
                    kept.append("")  # one blank line keeps the paragraph break
                continue
            if remove_citations and "[" in line:
                line = CITATION.sub("", line).strip()
            problem = self.line_problem(line, lang, notices)
            if problem is None:
                kept.append(line)
            else:
                removed[problem] = removed.get(problem, 0) + 1
        text = "\n".join(kept).strip("\n")
        doc.metadata["c4.removed_lines"] = sum(removed.values())
        if not text:
            # Nothing would be left: keep the text so C4DocumentFilter drops it and DIR/excluded shows what it was.
            doc.metadata[C4_ALL_LINES_REMOVED] = True
        elif text != doc.text:
            doc.text = text
        if removed:
            doc.metadata["c4.removed_line_reasons"] = removed
            self.stat_update("lines_removed", value=sum(removed.values()))


class C4DocumentFilter(RuleFilter):
    """C4 document rules on the cleaned text: enough sentences, no "lorem ipsum", no curly bracket."""

    name = "⛰ C4 document rules (ko/en)"
    slug = "c4"
    prefix = "c4"

    def filter(self, doc):
        if doc.metadata.get(C4_ALL_LINES_REMOVED):
            return False, C4_NO_TEXT_LEFT
        return super().filter(doc)

    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]:
        lower = v.text.lower()
        return {
            "sentences": sum(map(count_sentences, v.nonblank_lines)),
            "chars": len(v.text) - sum(map(v.text.count, " \t\n")),  # non-space characters
            "lorem_ipsum": int("lorem ipsum" in lower),
            "curly_bracket": int("{" in v.text),
            "code_curly_brackets": len(_CODE_BRACE.findall(v.text)) if "{" in v.text else 0,
        }

    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        r = rules.c4
        if s["sentences"] == 0:
            return C4_NO_TEXT_LEFT
        if r.drop_lorem_ipsum and s["lorem_ipsum"]:
            return C4_LOREM_IPSUM
        if r.drop_curly_bracket and s["code_curly_brackets" if r.curly_bracket == "code-like" else "curly_bracket"]:
            return C4_CURLY_BRACKET
        if below(s["sentences"], r.min_sentences) and not above(s["chars"], r.min_sentences_max_chars):
            return C4_TOO_FEW_SENTENCES
        return None
