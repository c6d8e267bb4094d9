"""Korean web rules: boilerplate lines (copyright, reporter bylines, "▶" link lists, menus), Hangul share, spam words.

Korean news and portal pages end with lines no published rule set knows: "무단전재 및 재배포 금지",
"홍길동 기자 hong@yna.co.kr", "▶ 관련기사 ...", "홈 | 뉴스 | 로그인 | 회원가입". The line cleaner removes them
(a transform: it never drops a document) and records how many of each kind it saw; `KoreanRulesFilter` then drops
documents that were mostly boilerplate or whose Korean profile has too little Hangul, and `SpamWordFilter` drops
gambling/adult spam text. Patterns were written from real Korean pages (shared/data/web/html/korean_pages, news in
shared/data/ko) and are tested in tests/test_filters_korean.py.
"""

from __future__ import annotations

import re
from itertools import compress

from datatrove.data import Document

from lmpipe.core.steps import Transform
from lmpipe.stages.filter.analysis import TextView, rule_lang
from lmpipe.stages.filter.base import RuleFilter, above, below
from lmpipe.stages.filter.config import LanguageRules
from lmpipe.text import words as W

KOREAN_TOO_LITTLE_HANGUL = "korean.too_little_hangul"
BOILERPLATE_MOSTLY = "boilerplate.mostly_boilerplate_lines"
SPAM_TOO_MANY_SPAM_WORDS = "spam.too_many_spam_words"

COPYRIGHT, BYLINE, LINK_LIST, MENU = "copyright", "byline", "link_list", "menu"

_COPYRIGHT = re.compile(
    r"무단\s*(?:전재|복제|배포|복사)|재배포\s*금지|저작권자|copyright\b|all rights reserved|[©ⓒⒸ]", re.IGNORECASE
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_REPORTER = re.compile(r"(?:기자|특파원|통신원|객원기자|인턴기자|리포터)(?![가-힣])")
# A byline line: optional bracket/outlet, a 2-4 syllable name, a reporter title, an optional e-mail, nothing else.
_BYLINE = re.compile(
    r"^[\[(【<]?\s*(?:[가-힣A-Za-z]+\s*[=/]\s*)?(?:[가-힣]+(?:일보|뉴스|신문|방송|통신|닷컴|경제)[\])】>]?\s+)?"
    r"[가-힣]{2,4}\s*(?:기자|특파원|통신원|객원기자|인턴기자|리포터)\s*[\])】>]?\s*"
    r"(?:[(<\[]?\s*[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*[)>\]]?)?\s*$"
)
_LINK_MARKS = ("▶", "▷", "►", "☞", "☜", "→", "⇒", "[관련기사]", "<관련기사>", "관련기사", "[관련 기사]", "※ 관련")
# Explicit separators only; ">" and "/" count when spaced (" > "), so "타워링>>>넘사벽" is not a menu.
_MENU_SEPARATORS = re.compile(r"\s*[|·•»›ㆍ┃│]\s*|\s+[>/]\s+")
_MENU_TOKENS = re.compile(r"[\s|·•»›ㆍ┃│>/]+")
MENU_WORDS = frozenset(
    "홈 홈으로 로그인 로그아웃 회원가입 마이페이지 고객센터 사이트맵 이전글 다음글 목록 맨위로 위로 top 공유하기 "
    "페이스북 트위터 카카오톡 카카오스토리 밴드 네이버블로그 구독 즐겨찾기 전체메뉴 메뉴 검색 닫기 인쇄 스크랩 "
    "댓글 좋아요 더보기 바로가기 본문바로가기 뉴스 스포츠 연예 경제 정치 사회 문화 오피니언 포토 영상 "
    "home login logout sign-in signup register menu search share print subscribe contact about next previous".split()
)
_TERMINAL = (".", "?", "!", "。", "？", "！", "다", "요")
# What a lowercased line must hold to be any kind of boilerplate: each kind's test needs one of these, so the
# four tests run only on the few lines that hold one (they were 7% of the filter stage on every line). A
# copyright word ("copyr", "all r": no other character matches these letters case-insensitively, see
# tests/test_filters_korean.py), a reporter title, a link mark, a navigation word ending its menu token, or three
# menu separator characters (each separator match holds one). Every alternative starts with a literal, so `re`
# skips ahead to its first characters instead of trying each position.
_MENU_CHARS = "|·•»›ㆍ┃│>/"
_MENU_CHAR, _OTHERS = f"[{re.escape(_MENU_CHARS)}]", f"[^{re.escape(_MENU_CHARS)}]*"
_MAY_BE_BOILERPLATE = re.compile(
    "|".join(
        [
            *("무단", "재배포", "저작권자", "copyr", "all r", "©", "ⓒ", "Ⓒ"),
            *("기자", "특파원", "통신원", "리포터"),
            *map(re.escape, _LINK_MARKS),
            *(rf"{re.escape(w)}(?![^\s{re.escape(_MENU_CHARS)}])" for w in sorted(MENU_WORDS)),
            *(f"{re.escape(c)}{_OTHERS}{_MENU_CHAR}{_OTHERS}{_MENU_CHAR}" for c in _MENU_CHARS),
        ]
    )
)

# Gambling, adult and pill spam (Korean web spam vocabulary and its English counterparts). A word counts when an
# eojeol contains it, so "토토사이트" and "카지노추천" match; news about the casino industry stays far below 5%.
# Bare "토토" is not listed: it is also Totoro (토토로) and a dog's name in real reviews (NSMC).
SPAM_WORDS: tuple[str, ...] = (
    "토토사이트", "스포츠토토", "사설토토", "토토커뮤니티", "카지노", "바카라", "먹튀", "슬롯머신", "홀덤",
    "파워볼", "배팅", "베팅", "꽁머니", "출장안마", "출장마사지", "조건만남", "오피걸", "야동", "성인방송",
    "비아그라", "시알리스",
    "casino", "baccarat", "betting", "viagra", "cialis", "porn", "escort",
)  # fmt: skip


def boilerplate_kind(line: str) -> str | None:
    """Which kind of boilerplate `line` is (COPYRIGHT, BYLINE, LINK_LIST, MENU), or None for content."""
    s = line.strip()
    if not s:
        return None
    if len(s) <= 150 and _COPYRIGHT.search(s):
        return COPYRIGHT
    if len(s) <= 80 and _REPORTER.search(s) and (_BYLINE.match(s) or (_EMAIL.search(s) and len(s) <= 50)):
        return BYLINE
    if len(s) <= 120 and s.startswith(_LINK_MARKS):
        return LINK_LIST
    if _is_menu(s):
        return MENU
    return None


def _is_menu(s: str) -> bool:
    if len(s) > 200 or s.endswith(_TERMINAL[:6]):
        return False
    tokens = [t for t in _MENU_TOKENS.split(s) if t]
    menu_words = sum(t.lower() in MENU_WORDS for t in tokens)
    # "로그인" alone, or "홈 뉴스 스포츠 연예 로그인": (nearly) every token is a navigation word
    if tokens and (menu_words == len(tokens) or (len(tokens) >= 3 and menu_words >= 0.7 * len(tokens))):
        return True
    # short items between explicit separators: "회사소개 | 광고문의 | 제휴안내 | 채용정보"
    items = [i for i in _MENU_SEPARATORS.split(s) if i]
    separators = len(_MENU_SEPARATORS.findall(s))
    return len(items) >= 4 and separators >= 3 and sum(map(len, items)) / len(items) <= 8


class BoilerplateLineCleaner(Transform):
    """Removes boilerplate lines (see `boilerplate_kind`); records counts per kind in metadata. Never drops."""

    name = "🧽 Korean boilerplate lines"
    slug = "boilerplate"

    def __init__(self, en: LanguageRules, ko: LanguageRules):
        super().__init__()
        self.rules = {"en": en, "ko": ko}

    def transform(self, doc: Document) -> None:
        rules = self.rules[rule_lang(doc)].boilerplate
        lines = doc.text.split("\n")
        counts: dict[str, int] = {}
        removed: set[int] = set()
        removed_chars = 0
        # lowering maps no character to a newline, so the lowered text has the same lines
        hints = map(_MAY_BE_BOILERPLATE.search, doc.text.lower().split("\n"))
        for i in compress(range(len(lines)), hints):
            kind = boilerplate_kind(lines[i])
            if kind is not None:
                counts[kind] = counts.get(kind, 0) + 1
                removed.add(i)
                removed_chars += len(lines[i].strip())
        chars = sum(map(len, map(str.strip, lines)))
        # characters, not lines: a news page has 3 long paragraphs and 5 short footer lines
        ratio = removed_chars / chars if chars else 0.0
        doc.metadata["boilerplate.lines"] = sum(counts.values())
        doc.metadata["boilerplate.char_ratio"] = round(ratio, 4)
        if counts:
            doc.metadata["boilerplate.kinds"] = counts
            # A document KoreanRulesFilter will drop as mostly boilerplate keeps its text, so DIR/excluded shows it.
            if rules.remove_lines and not above(ratio, rules.max_char_ratio):
                kept = [line for i, line in enumerate(lines) if i not in removed]
                doc.text = "\n".join(kept).strip("\n")
                self.stat_update("lines_removed", value=sum(counts.values()))


class KoreanRulesFilter(RuleFilter):
    """Drops pages that were mostly boilerplate, and Korean-profile pages with too little Hangul."""

    name = "🇰🇷 Korean rules"
    slug = "korean"
    prefix = "korean"

    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]:
        return {"hangul_ratio": W.hangul_ratio(v.text)}

    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        if below(s["hangul_ratio"], rules.korean.min_hangul_ratio):
            return KOREAN_TOO_LITTLE_HANGUL
        return None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        limit = self.rules[rule_lang(doc)].boilerplate.max_char_ratio
        if above(doc.metadata.get("boilerplate.char_ratio", 0.0), limit):
            return False, BOILERPLATE_MOSTLY
        return super().filter(doc)


class SpamWordFilter(RuleFilter):
    """Drops text stuffed with gambling/adult/pill spam words (share of whitespace words holding one)."""

    name = "🎰 Spam words"
    slug = "spam"
    prefix = "spam"

    def __init__(self, en: LanguageRules, ko: LanguageRules, signals=None):
        super().__init__(en, ko, signals)
        self._words: dict[str, tuple[str, ...]] = {}
        self._patterns: dict[str, re.Pattern] = {}

    def _compile(self, lang: str) -> None:
        words = tuple(sorted({w.lower() for w in SPAM_WORDS + self.rules[lang].spam.extra_words}, key=len))
        self._words[lang] = words
        self._patterns[lang] = re.compile("|".join(map(re.escape, reversed(words))))  # longest first

    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]:
        if v.lang not in self._words:
            self._compile(v.lang)
        lower = v.text.lower()
        if not any(map(lower.__contains__, self._words[v.lang])):  # C substring search; the regex only on hits
            return {"words": 0, "word_ratio": 0.0}
        # distinct whitespace words holding a spam word: count the start of each hit's word once
        starts = {max(lower.rfind(" ", 0, m.start()), lower.rfind("\n", 0, m.start())) for m in
                  self._patterns[v.lang].finditer(lower)}  # fmt: skip
        n_words = len(lower.split())
        return {"words": len(starts), "word_ratio": len(starts) / n_words}

    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        r = rules.spam
        spam = s["words"] >= r.min_spam_words and above(s["word_ratio"], r.max_spam_word_ratio)
        return SPAM_TOO_MANY_SPAM_WORDS if spam else None
