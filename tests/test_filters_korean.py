"""Korean rules: boilerplate lines, Hangul share, spam words, MeCab words, and the datatrove normalization trap."""

from __future__ import annotations

import random
import re
import sys

import pytest
from datatrove.data import Document

from lmpipe.stages.filter import korean
from lmpipe.stages.filter.config import english_rules, korean_rules
from lmpipe.stages.filter.korean import BoilerplateLineCleaner, KoreanRulesFilter, SpamWordFilter, boilerplate_kind
from lmpipe.text import words as W
from lmpipe.text.korean import morpheme_spans, morphemes

EN, KO = english_rules(), korean_rules()

# A Korean news article as pages serve it (text of a real article style: body, byline, links, footer, menu).
ARTICLE = """정부는 올해 하반기부터 청년 일자리 지원 사업을 확대한다고 20일 밝혔다.
고용노동부에 따르면 지원 대상은 만 34세 이하 미취업 청년으로, 참여 기업에는 1인당 월 최대 80만 원이 지급된다.
노동부 관계자는 "지역 중소기업의 구인난을 덜고 청년의 첫 일자리를 돕기 위한 것"이라고 설명했다.
김민수 기자 minsu@example.co.kr
▶ 관련기사 청년 고용률 석 달째 하락
▶ 네이버에서 뉴스 구독하기
ⓒ 한국경제신문, 무단전재 및 재배포 금지
홈 | 뉴스 | 경제 | 사회 | 로그인 | 회원가입"""


BOILERPLATE_CASES = [
    ("ⓒ 한국경제신문, 무단전재 및 재배포 금지", korean.COPYRIGHT),
    ("<저작권자 ⓒ 연합뉴스, 무단 전재-재배포, AI 학습 및 활용 금지>", korean.COPYRIGHT),
    ("Copyright © 2024 Example Media. All rights reserved.", korean.COPYRIGHT),
    ("김민수 기자 minsu@example.co.kr", korean.BYLINE),
    ("[서울경제 박지영 기자]", korean.BYLINE),
    ("(워싱턴=연합뉴스) 이준서 특파원", korean.BYLINE),
    ("▶ 관련기사 청년 고용률 석 달째 하락", korean.LINK_LIST),
    ("☞ 네이버에서 뉴스 구독하기", korean.LINK_LIST),
    ("홈 | 뉴스 | 경제 | 사회 | 로그인 | 회원가입", korean.MENU),
    ("이전글 다음글 목록", korean.MENU),
    ("회사소개 · 광고문의 · 제휴안내 · 채용정보", korean.MENU),
    ("Home | News | Sports | Login", korean.MENU),
    # content, not boilerplate
    ("정부는 올해 하반기부터 청년 일자리 지원 사업을 확대한다고 20일 밝혔다.", None),
    ("김 기자는 현장에서 주민들의 이야기를 들었다고 말했다.", None),
    ("와우  완전  재밌다  짱임 ㅋㅋ", None),  # a real NSMC review: double spaces are not separators
    ("타워링>>>넘사벽>>>>짝퉁  타워", None),  # another
    ("뉴스 검색 결과를 보면 청년층의 관심이 높다", None),
]


@pytest.mark.parametrize("line,kind", BOILERPLATE_CASES)
def test_boilerplate_kind(line, kind):
    assert boilerplate_kind(line) == kind


BOILERPLATE_VARIANTS = [
    "COPYRIGHT 2024 EXAMPLE MEDIA",
    "copyrıght 2024",  # dotless i: `re` matches it to "i" case-insensitively
    "ALL RİGHTS RESERVED",  # dotted capital I: its lowercase is two characters
    "HOME | LOGIN | SEARCH",
    "Sign-In  Register",
    "홈/ 뉴스 /로그인",
    "a > b > c > d",
]


@pytest.mark.parametrize("line", [line for line, kind in BOILERPLATE_CASES if kind] + BOILERPLATE_VARIANTS)
def test_every_boilerplate_line_passes_the_pre_check(line):
    # the cleaner tests only lines the pre-check finds in the lowercased text: it must find every boilerplate line
    assert boilerplate_kind(line) is not None
    assert korean._MAY_BE_BOILERPLATE.search(line.lower())


def test_pre_check_characters_have_no_other_case_forms():
    # The copyright test matches case-insensitively; the pre-check looks for its words in the lowercased line. That
    # holds when every character `re` matches to a letter of "copyr" / "all r" lowercases to that letter, and when
    # lowering adds no newline (the lowered text has the same lines) and keeps each separator character.
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    for letter in "copyral ©ⓒ":
        assert {c.lower() for c in re.findall(re.escape(letter), every, re.IGNORECASE)} == {letter}
    lowered = every.lower()
    assert all(c.lower() == c and lowered.count(c) == 1 for c in "\n|·•»›ㆍ┃│>/")


def test_cleaner_removes_boilerplate_lines_and_records_kinds():
    doc = Document(text=ARTICLE, id="a", metadata={"lang": "ko"})
    BoilerplateLineCleaner(EN, KO).transform(doc)
    assert doc.metadata["boilerplate.kinds"] == {"byline": 1, "link_list": 2, "copyright": 1, "menu": 1}
    assert doc.text.splitlines() == ARTICLE.splitlines()[:3]
    assert KoreanRulesFilter(EN, KO).filter(doc) is True


def test_mostly_boilerplate_page_is_dropped_with_its_text():
    page = "\n".join(ARTICLE.splitlines()[3:] + ["청년 일자리 지원 확대"])
    doc = Document(text=page, id="b", metadata={"lang": "ko"})
    BoilerplateLineCleaner(EN, KO).transform(doc)
    assert doc.text == page  # left whole, so DIR/excluded shows what was there
    assert KoreanRulesFilter(EN, KO).filter(doc) == (False, korean.BOILERPLATE_MOSTLY)


def test_too_little_hangul_for_a_korean_document():
    text = "Samsung Galaxy S24 Ultra 256GB Titanium Black unlocked smartphone 정품 " * 5
    doc = Document(text=text, id="c", metadata={"lang": "ko"})
    assert KoreanRulesFilter(EN, KO).filter(doc) == (False, korean.KOREAN_TOO_LITTLE_HANGUL)
    assert doc.metadata["korean.hangul_ratio"] < 0.3
    # the same text as English: the Hangul share is not a rule there
    doc = Document(text=text, id="c", metadata={"lang": "en"})
    assert KoreanRulesFilter(EN, KO).filter(doc) is True


@pytest.mark.parametrize(
    "text,lang",
    [
        (
            "토토사이트 추천 먹튀검증 완료 안전놀이터 메이저사이트 카지노사이트 바카라 실시간 배팅 꽁머니 지급 이벤트",
            "ko",
        ),
        ("Best online casino bonus, play baccarat for real money, top betting sites and casino promo codes", "en"),
    ],
)
def test_spam_text_is_dropped(text, lang):
    doc = Document(text=text, id="s", metadata={"lang": lang})
    assert SpamWordFilter(EN, KO).filter(doc) == (False, korean.SPAM_TOO_MANY_SPAM_WORDS)


def test_a_mention_is_not_spam():
    # real NSMC-style reviews: 토토로 (Totoro) and one mention of a casino film
    for text in ("토토로 너무 귀여워요 어릴 때 보던 그 느낌 그대로", "카지노 로얄은 다니엘 크레이그 최고의 본드 영화"):
        assert SpamWordFilter(EN, KO).filter(Document(text=text, id="r", metadata={"lang": "ko"})) is True


def test_rule_profile_from_lang_or_script():
    from lmpipe.stages.filter.analysis import RULES_LANG, rule_lang

    assert rule_lang(Document(text="Hello there.", id="1", metadata={"lang": "ko-KR"})) == "ko"
    assert rule_lang(Document(text="대한민국은 민주공화국이다.", id="2", metadata={})) == "ko"
    d = Document(text="The Republic of Korea is a democratic republic.", id="3", metadata={})
    assert rule_lang(d) == "en" and d.metadata[RULES_LANG] == "en"


def test_hangul_ratio():
    assert W.hangul_ratio("대한민국") == 1.0
    assert W.hangul_ratio("대한민국 Korea") == pytest.approx(4 / 9)
    assert W.hangul_ratio("1234 !!") == 0.0


def test_hangul_ratio_counts_as_the_regexes_do():
    # hangul_ratio counts through a per-code-point table built from the regexes that counted before; every plane
    # (surrogates included) and random mixes must give what counting with them gives
    from lmpipe.text.korean import _NON_HANGUL, _NON_LETTERS

    def by_regex(text):
        letters = len(_NON_LETTERS.sub("", text))
        return len(_NON_HANGUL.sub("", text)) / letters if letters else 0.0

    rng = random.Random(3)
    planes = ["".join(map(chr, range(p << 16, (p + 1) << 16, 7))) for p in range(17)]
    mixes = ["".join(rng.choice(planes[0] + "가a1 _\n") for _ in range(rng.randint(0, 40))) for _ in range(300)]
    for text in [*planes, *mixes, "", "\ud800가"]:
        assert W.hangul_ratio(text) == by_regex(text), repr(text[:20])


def test_datatrove_normalization_decomposes_hangul_and_we_do_not_use_it():
    """The trap named in issue 4: datatrove's simplify_text (norm_unicode_diacritics) turns syllables into jamo."""
    from datatrove.utils.text import simplify_text

    decomposed = simplify_text("한국어 문장")
    assert decomposed != "한국어 문장" and W.hangul_ratio(decomposed) == 1.0  # still "Hangul", but jamo
    assert not any("\uac00" <= c <= "\ud7a3" for c in decomposed)
    # our word splitting sees syllables and MeCab morphemes
    assert W.words("한국어 문장입니다", "ko") == ["한국어", "문장", "입니다"]


def test_morphemes_match_spans():
    text = "대한민국은 민주공화국이다.\n모든 권력은\t국민으로부터 나온다."
    assert morphemes(text) == [text[s:e] for s, e in morpheme_spans(text)]
    assert morphemes(text)[:3] == ["대한민국", "은", "민주"]
    assert morphemes("") == [] and morphemes(" \n ") == []
