"""Thresholds of the rule filters, one set per language. `None` disables a rule; names give direction and unit.

Sources, cited per value below:
- Gopher: Rae et al. 2021, "Scaling Language Models", Table A1 (English defaults, as in datatrove 0.10.1).
- C4: Raffel et al. 2020, section 2.2; FineWeb (Penedo et al. 2024) runs it without the terminal-punctuation rule.
- FineWeb: Penedo et al. 2024, datatrove's FineWebQualityFilter defaults.
- FW2-ko: FineWeb-2 configs/kor_Hang.yml (huggingface/fineweb-2@d0defb24, Apache-2.0), a copy is in
  shared/data/filters/fineweb2/configs_kor_Hang.yml. Its word units are kiwipiepy morphemes; we count MeCab
  (mecab-ko-dic) morphemes, which split Korean the same way for the units these rules count (particles, endings,
  nouns).
- measured-ko: measured here on real Korean text (KorQuAD v1 dev Wikipedia paragraphs, 964; Korean-English news,
  Korean side; National Assembly bills); the numbers are in docs/bench/filters.md and benches/rule_filters.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Gopher's English stop words (Rae et al. 2021, A1: "at least two of the, be, to, of, and, that, have, with").
EN_STOP_WORDS: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")
# FW2-ko stop words: the 21 most frequent morphemes of Korean web text (particles 의 이 는 에 을 은 를 가 으로 로
# 에서, endings 다 고, 하/했/되/있/인/한, 년/월).
KO_STOP_WORDS: tuple[str, ...] = (
    "의", "다", "이", "는", "에", "을", "한", "년", "하", "은", "를",
    "했", "고", "에서", "가", "있", "으로", "인", "월", "로", "되",
)  # fmt: skip


@dataclass(frozen=True)
class GopherQualityRules:
    """Gopher quality rules (Rae et al. 2021, Table A1). Words are morphemes for Korean, tokens for English."""

    min_words: int | None = 50  # non-symbol words
    max_words: int | None = 100_000
    min_mean_word_chars: float | None = 3.0
    max_mean_word_chars: float | None = 10.0
    max_hash_word_ratio: float | None = 0.1  # "#" per word
    max_ellipsis_word_ratio: float | None = 0.1  # "..." and "…" per word
    max_bullet_line_ratio: float | None = 0.9  # lines starting with a bullet
    max_ellipsis_line_ratio: float | None = 0.3  # lines ending with an ellipsis
    min_alpha_word_ratio: float | None = 0.8  # words with at least one letter
    min_stop_words: int | None = 2  # distinct stop words present ("at least two of", Gopher A1)
    stop_words: tuple[str, ...] = EN_STOP_WORDS


@dataclass(frozen=True)
class RepetitionRules:
    """Gopher repetition rules (Rae et al. 2021, Table A1): shares of duplicated lines, paragraphs and n-grams."""

    max_dup_line_ratio: float | None = 0.3  # duplicated lines / lines
    max_dup_para_ratio: float | None = 0.3  # duplicated paragraphs / paragraphs
    max_dup_line_char_ratio: float | None = 0.2  # characters in duplicated lines / characters
    max_dup_para_char_ratio: float | None = 0.2
    # characters covered by the most frequent n-gram / characters
    max_top_2gram_char_ratio: float | None = 0.20
    max_top_3gram_char_ratio: float | None = 0.18
    max_top_4gram_char_ratio: float | None = 0.16
    # characters in n-grams seen before / characters
    max_dup_5gram_char_ratio: float | None = 0.15
    max_dup_6gram_char_ratio: float | None = 0.14
    max_dup_7gram_char_ratio: float | None = 0.13
    max_dup_8gram_char_ratio: float | None = 0.12
    max_dup_9gram_char_ratio: float | None = 0.11
    max_dup_10gram_char_ratio: float | None = 0.10


@dataclass(frozen=True)
class C4Rules:
    """C4 line cleaning and document rules (Raffel et al. 2020; TFDS c4_utils), as FineWeb ran them."""

    # line cleaning (a transform: removes lines, never documents)
    drop_lines_without_terminal_punct: bool = False  # C4 on; FineWeb off (it removed too much good text)
    min_words_per_line: int | None = 3  # whitespace words (eojeol for Korean)
    max_word_chars: int | None = 1000  # a line with a longer "word" is dropped
    drop_javascript_lines: bool = True
    drop_policy_lines: bool = True  # cookie / terms-of-use / privacy notices
    remove_citations: bool = True  # "[1]", "[edit]", "[citation needed]"
    # document rules (a filter, on the cleaned text)
    min_sentences: int | None = 5
    # min_sentences applies to texts of at most this many non-space characters (None: to all, as C4)
    min_sentences_max_chars: int | None = None
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True  # C4: "{" marks code or templates
    # "any": C4, any "{" drops the text; "code-like": only a "{" used as code and templates use it (a block opened
    # at a line end or after ")", "=", ":"; {{ }}, {% %}, ${ }; braces holding ";" or "key": value). Measured
    # (issue 19, docs/bench/filters.md): "any" dropped 3 of 239 Gutenberg excerpts for one typesetting mark
    # (M^{r.}); "code-like" keeps them and still drops all 80 code/template pages of the labelled set.
    curly_bracket: str = "code-like"


@dataclass(frozen=True)
class FineWebRules:
    """FineWeb line rules (Penedo et al. 2024, datatrove FineWebQualityFilter)."""

    min_terminal_punct_line_ratio: float | None = 0.12  # lines ending in terminal punctuation / lines
    # endings that also count as terminal for that ratio (besides punctuation and closing quotes)
    extra_terminal_endings: tuple[str, ...] = ()
    max_short_line_ratio: float | None = 0.67  # lines of at most short_line_max_chars / lines
    short_line_max_chars: int = 30
    max_dup_line_char_ratio: float | None = 0.01  # characters in repeated lines / characters (newlines excluded)
    max_newline_word_ratio: float | None = 0.3  # newlines / words: lists and menus
    # Hard-wrapped text (issue 19): a line of hard_wrap_chars characters (stripped) that does not end in terminal
    # punctuation is a wrapped line; when they are at least min_hard_wrapped_line_ratio of the non-blank lines,
    # the four rules above count paragraphs (blank-line blocks, joined) instead of lines. None turns either off.
    hard_wrap_chars: tuple[int, int] | None = (50, 80)
    min_hard_wrapped_line_ratio: float | None = 0.5


@dataclass(frozen=True)
class KoreanRules:
    """Script share for documents judged by the Korean profile."""

    min_hangul_ratio: float | None = None  # Hangul / letters


@dataclass(frozen=True)
class BoilerplateRules:
    """Boilerplate lines of (mostly Korean) web pages: copyright, reporter bylines, "▶" link lists, menus."""

    remove_lines: bool = True  # the boilerplate line cleaner (a transform) removes them
    max_char_ratio: float | None = 0.5  # characters in boilerplate lines / characters, counted before removal


@dataclass(frozen=True)
class SpamRules:
    """Gambling, adult and pill spam words in the text (URLs have their own list in lmpipe/stages/filter/url.py)."""

    max_spam_word_ratio: float | None = 0.05  # whitespace words holding a spam word / whitespace words
    # and at least this many of them: a 10-word review naming "카지노 로얄" once is not spam
    min_spam_words: int = 3
    extra_words: tuple[str, ...] = ()  # added to lmpipe.stages.filter.korean.SPAM_WORDS


@dataclass(frozen=True)
class LanguageRules:
    """Every rule family for one language."""

    gopher: GopherQualityRules = field(default_factory=GopherQualityRules)
    repetition: RepetitionRules = field(default_factory=RepetitionRules)
    c4: C4Rules = field(default_factory=C4Rules)
    fineweb: FineWebRules = field(default_factory=FineWebRules)
    korean: KoreanRules = field(default_factory=KoreanRules)
    boilerplate: BoilerplateRules = field(default_factory=BoilerplateRules)
    spam: SpamRules = field(default_factory=SpamRules)


def english_rules() -> LanguageRules:
    """Published English defaults (Gopher, C4 as FineWeb ran it, FineWeb), plus boilerplate and spam rules."""
    return LanguageRules()


# Korean defaults are subclasses, not instances: a YAML or --set override of one Korean threshold
# (`--set ko.gopher.min_words=40`) builds the nested dataclass from its class defaults, which must be Korean.
@dataclass(frozen=True)
class KoGopherQualityRules(GopherQualityRules):
    min_words: int | None = 50  # FW2-ko keeps Gopher's 50 (kiwipiepy morphemes there, MeCab morphemes here)
    min_mean_word_chars: float | None = 1.0  # FW2-ko min_avg_word_length
    max_mean_word_chars: float | None = 6.0  # FW2-ko max_avg_word_length
    # measured-ko, not FW2-ko's 0.791 (its max_non_alpha_words_ratio, a min despite the name): MeCab splits
    # numbers ("1,000" -> 1 , 000) where kiwipiepy keeps one token, so 0.791 removed 58 of 964 KorQuAD
    # Wikipedia paragraphs (6%). Their 1st percentile is 0.696, 2nd 0.745; symbol-noise pages are < 0.15.
    min_alpha_word_ratio: float | None = 0.7
    stop_words: tuple[str, ...] = KO_STOP_WORDS  # FW2-ko stopwords


@dataclass(frozen=True)
class KoRepetitionRules(RepetitionRules):
    max_dup_line_ratio: float | None = 0.374  # FW2-ko dup_line_frac
    max_top_2gram_char_ratio: float | None = 0.282  # FW2-ko top_n_grams
    max_top_3gram_char_ratio: float | None = 0.228
    max_top_4gram_char_ratio: float | None = 0.185
    max_dup_5gram_char_ratio: float | None = 0.201  # FW2-ko dup_n_grams
    max_dup_6gram_char_ratio: float | None = 0.184
    max_dup_7gram_char_ratio: float | None = 0.168
    max_dup_8gram_char_ratio: float | None = 0.154
    max_dup_9gram_char_ratio: float | None = 0.140
    max_dup_10gram_char_ratio: float | None = 0.127


@dataclass(frozen=True)
class KoC4Rules(C4Rules):
    # measured-ko: an eojeol carries about two English words. In the 10 Korean bills (hard-wrapped), lines
    # of fewer than 3 eojeol are 31% of the lines, fewer than 2: 19%.
    min_words_per_line: int | None = 2
    # measured-ko: Korean Wikipedia sentences are long; of the 964 KorQuAD paragraphs 19.4% have fewer than
    # 5 sentences, 1.5% fewer than 3.
    min_sentences: int | None = 3
    # measured-ko (issue 19): a Korean sentence is 61 non-space characters at the median (KorQuAD; news 50), and
    # legal text runs one sentence over many clauses (the Constitution's preamble: one sentence, 341 characters).
    # The Korean texts of 1-2 sentences the rule dropped were 160-592 characters, all prose; no junk of the
    # labelled set reaches this rule with fewer than 3 sentences. So it applies up to 150 (2.5 median sentences).
    min_sentences_max_chars: int | None = 150


@dataclass(frozen=True)
class KoFineWebRules(FineWebRules):
    min_terminal_punct_line_ratio: float | None = 0.062  # FW2-ko line_punct_thr
    # measured-ko: a Korean sentence is complete at its final ending (-다, -요) even when the period is
    # missing: one-line KorQuAD Wikipedia paragraphs dropped by this rule went from 16 of 964 to 9 (those 9
    # are cut mid-sentence in the KorQuAD data)
    extra_terminal_endings: tuple[str, ...] = ("다", "요")
    # measured-ko: a Korean character carries about as much as 2-3 Latin ones, so FineWeb's 30 characters
    # are a long Korean line: 75% of the bills' lines are <= 30 characters (over the 0.67 limit), 44% are
    # <= 15.
    short_line_max_chars: int = 15
    max_newline_word_ratio: float | None = 0.196  # FW2-ko new_line_ratio (per morpheme)


@dataclass(frozen=True)
class KoKoreanRules(KoreanRules):
    # measured-ko: 1st percentile of KorQuAD paragraphs is 0.60 (Hanja and Latin names in parentheses);
    # below 0.3 a "Korean" page is mostly another script.
    min_hangul_ratio: float | None = 0.3


@dataclass(frozen=True)
class KoLanguageRules(LanguageRules):
    gopher: KoGopherQualityRules = field(default_factory=KoGopherQualityRules)
    repetition: KoRepetitionRules = field(default_factory=KoRepetitionRules)
    c4: KoC4Rules = field(default_factory=KoC4Rules)
    fineweb: KoFineWebRules = field(default_factory=KoFineWebRules)
    korean: KoKoreanRules = field(default_factory=KoKoreanRules)


def korean_rules() -> LanguageRules:
    return KoLanguageRules()
