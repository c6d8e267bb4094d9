"""Issue 19: good prose families the rule filters dropped, each fixed at its rule, and junk that must still go.

Each good case is dropped by the rule as it was (the settings of before, passed explicitly) and kept by the whole
rule chain with today's defaults; the junk cases are dropped by the whole chain.
"""

from __future__ import annotations

import dataclasses

import pytest
from datatrove.data import Document

from lmpipe.core.steps import Transform
from lmpipe.stages.filter.analysis import TextView
from lmpipe.stages.filter.c4 import C4_CURLY_BRACKET, C4_TOO_FEW_SENTENCES, C4DocumentFilter
from lmpipe.stages.filter.config import english_rules, korean_rules
from lmpipe.stages.filter.fineweb import FINEWEB_TOO_FEW_PUNCT_LINES, FineWebLineFilter
from lmpipe.stages.filter.stage import FilterConfig, build_filter

EN, KO = english_rules(), korean_rules()
# the rules as they were before issue 19
EN_BEFORE = dataclasses.replace(
    EN,
    fineweb=dataclasses.replace(EN.fineweb, min_hard_wrapped_line_ratio=None),
    c4=dataclasses.replace(EN.c4, curly_bracket="any"),
)
KO_BEFORE = dataclasses.replace(KO, c4=dataclasses.replace(KO.c4, min_sentences_max_chars=None))

# Moby Dick, chapter 8 (public domain, Project Gutenberg #2701), as the book is: hard-wrapped at 70 characters.
HARD_WRAPPED = (
    "Like most old fashioned pulpits, it was a very lofty one, and since a\n"
    "regular stairs to such a height would, by its long angle with the\n"
    "floor, seriously contract the already small area of the chapel, the\n"
    "architect, it seemed, had acted upon the hint of Father Mapple, and\n"
    "finished the pulpit without a stairs, substituting a perpendicular side\n"
    "ladder, like those used in mounting a ship from a boat at sea. The wife\n"
    "of a whaling captain had provided the chapel with a handsome pair of\n"
    "red worsted man-ropes for this ladder, which, being itself nicely\n"
    "headed, and stained with a mahogany colour, the whole contrivance,\n"
    "considering what manner of chapel it was, seemed by no means in bad\n"
    "taste. Halting for an instant at the foot of the ladder, and with both\n"
    "hands grasping the ornamental knobs of the man-ropes, Father Mapple\n"
    "cast a look upwards, and then with a truly sailor-like but still\n"
    "reverential dexterity, hand over hand, mounted the steps as if\n"
    "ascending the main-top of his vessel.\n"
    "\n"
    "The perpendicular parts of this side ladder, as is usually the case\n"
    "with swinging ones, were of cloth-covered rope, only the rounds were of\n"
    "wood, so that at every step there was a joint. At my first glimpse of\n"
    "the pulpit, it had not escaped me that however convenient for a ship,\n"
    "these joints in the present instance seemed unnecessary. For I was not\n"
    "prepared to see Father Mapple after gaining the height, slowly turn\n"
    "round, and stooping over the pulpit, deliberately drag up the ladder\n"
    "step by step, till the whole was deposited within, leaving him\n"
    "impregnable in his little Quebec."
)
# Pride and Prejudice, chapter 1 (public domain, Project Gutenberg #1342), paragraphs unwrapped; the illustration
# caption carries the edition's typesetting mark M^{r.}.
BOOK_WITH_MARK = (
    "“My dear, you flatter me. I certainly _have_ had my share of beauty, but I do not pretend to be anything extraordinary now. When a woman has five grown-up daughters, she ought to give over thinking of her own beauty.”\n\n"
    "“In such cases, a woman has not often much beauty to think of.”\n\n"
    "“But, my dear, you must indeed go and see Mr. Bingley when he comes into the neighbourhood.”\n\n"
    "“It is more than I engage for, I assure you.”\n\n"
    "“But consider your daughters. Only think what an establishment it would be for one of them. Sir William and Lady Lucas are determined to go, merely on that account; for in general, you know, they visit no new comers. Indeed you must go, for it will be impossible for _us_ to visit him, if you do not.”\n\n"
    "“You are over scrupulous, surely. I dare say Mr. Bingley will be very glad to see you; and I will send a few lines by you to assure him of my hearty consent to his marrying whichever he chooses of the girls--though I must throw in a good word for my little Lizzy.”\n\n"
    "“I desire you will do no such thing. Lizzy is not a bit better than the others: and I am sure she is not half so handsome as Jane, nor half so good-humoured as Lydia. But you are always giving _her_ the preference.”\n\n"
    "“They have none of them much to recommend them,” replied he: “they are all silly and ignorant like other girls; but Lizzy has something more of quickness than her sisters.”\n\n"
    "“Mr. Bennet, how can you abuse your own children in such a way? You take delight in vexing me. You have no compassion on my poor nerves.”\n\n"
    "“You mistake me, my dear. I have a high respect for your nerves. They are my old friends. I have heard you mention them with consideration these twenty years at least.”\n\n"
    "“Ah, you do not know what I suffer.”\n\n"
    "“But I hope you will get over it, and live to see many young men of four thousand a year come into the neighbourhood.”\n\n"
    "“It will be no use to us, if twenty such should come, since you will not visit them.”\n\n"
    "“Depend upon it, my dear, that when there are twenty, I will visit them all.”\n\n"
    "Mr. Bennet was so odd a mixture of quick parts, sarcastic humour, reserve, and caprice, that the experience of three-and-twenty years had been insufficient to make his wife understand his character. _Her_ mind was less difficult to develope. She was a woman of mean understanding, little information, and uncertain temper. When she was discontented, she fancied herself nervous. The business of her life was to get her daughters married: its solace was visiting and news.\n\n"
    "[Illustration: M^{r.} & M^{rs.} Bennet\n\n"
    "[_Copyright 1894 by George Allen._]]"
)
# Constitution of the Republic of Korea, preamble (public statute text): one sentence of 433 characters.
KO_LEGAL_SENTENCE = (
    "유구한 역사와 전통에 빛나는 우리 대한국민은 3·1운동으로 건립된 대한민국임시정부의 법통과 불의에 항거한 4·19민주이념을 계승하고, 조국의 민주개혁과 평화적 통일의 사명에 입각하"
    "여 정의·인도와 동포애로써 민족의 단결을 공고히 하고, 모든 사회적 폐습과 불의를 타파하며, 자율과 조화를 바탕으로 자유민주적 기본질서를 더욱 확고히 하여 정치·경제·사회·문화의 "
    "모든 영역에 있어서 각인의 기회를 균등히 하고, 능력을 최고도로 발휘하게 하며, 자유와 권리에 따르는 책임과 의무를 완수하게 하여, 안으로는 국민생활의 균등한 향상을 기하고 밖으로"
    "는 항구적인 세계평화와 인류공영에 이바지함으로써 우리들과 우리들의 자손의 안전과 자유와 행복을 영원히 확보할 것을 다짐하면서 1948년 7월 12일에 제정되고 8차에 걸쳐 개정된 "
    "헌법을 이제 국회의 의결을 거쳐 국민투표에 의하여 개정한다."
)

EN_MENU_PAGE = (
    "Home | News | Sports | Business | Tech | Entertainment | Opinion | Video\n"
    "Login · Register · Contact · About · Search\n"
    "Breaking: markets close higher after a volatile week\n"
    "News > Sports > Business > Tech > Opinion\n"
    "Home  News  Video  Login  Register  Contact\n"
    "About Us | Contact | Advertise | Privacy Policy | Terms of Use | Careers\n"
    "Copyright © 2024 Example Media Group. All rights reserved."
)
JS_TEMPLATE_PAGE = (
    "The council approved the new budget on Tuesday after a long debate over school funding.\n"
    "function initMenu() {\n"
    "  var menu = document.getElementById('gnb');\n"
    "  menu.addEventListener('click', toggle);\n"
    "}\n"
    "Officials said the measure would add two hundred teachers to the district over the next three years.\n"
    "{{ article.title }} | {{ site.name }}\n"
    "$(document).ready(function() { $('.slider').slick({ autoplay: true, dots: false }); });\n"
    "Opponents argued that the plan leaves the transport budget short by several million dollars.\n"
    "The mayor is expected to sign the bill before the end of the month, her office said in a statement.\n"
    "Residents will be able to comment on the plan at a public hearing that the council has scheduled for May."
)


def chain(text: str, lang: str, en=EN, ko=KO) -> str | None:
    """The reason the whole rule chain (URL rules aside) drops the text, None when it keeps it."""
    d = Document(text=text, id=f"test/{lang}", metadata={"lang": lang})
    for step in build_filter(FilterConfig(en=en, ko=ko))[1:]:
        if isinstance(step, Transform):
            step.transform(d)
            continue
        result = step.filter(d)
        if result is not True:
            return result[1]
    return None


@pytest.mark.parametrize(
    ("text", "lang", "reason_before"),
    [
        pytest.param(HARD_WRAPPED, "en", FINEWEB_TOO_FEW_PUNCT_LINES, id="hard-wrapped"),
        pytest.param(BOOK_WITH_MARK, "en", C4_CURLY_BRACKET, id="typesetting-brace"),
        pytest.param(KO_LEGAL_SENTENCE, "ko", C4_TOO_FEW_SENTENCES, id="ko-legal-sentence"),
    ],
)
def test_good_family_dropped_before_kept_now(text, lang, reason_before):
    assert chain(text, lang, EN_BEFORE, KO_BEFORE) == reason_before
    assert chain(text, lang) is None


def test_hard_wrapped_block_is_judged_by_paragraphs():
    assert len(HARD_WRAPPED.split("\n")) == 25
    s = FineWebLineFilter(EN, KO).score(TextView(HARD_WRAPPED, "en"), EN)
    assert s["punct_line_ratio"] < EN.fineweb.min_terminal_punct_line_ratio  # 2 of 24 lines end a sentence
    assert s["wrapped_line_ratio"] >= EN.fineweb.min_hard_wrapped_line_ratio
    assert s["para_punct_line_ratio"] == 1.0  # both paragraphs do


def test_one_sentence_per_line_is_not_hard_wrapped():
    news = "\n".join(
        [
            "The central bank left its key interest rate unchanged at 3.5 percent.",
            "Analysts had expected the decision after inflation eased in March.",
            "The governor said the board would watch consumer prices closely.",
            "Markets rose slightly after the announcement on Thursday morning.",
        ]
    )
    assert FineWebLineFilter(EN, KO).score(TextView(news, "en"), EN)["wrapped_line_ratio"] == 0.0


@pytest.mark.parametrize(
    ("text", "code_like"),
    [
        ("[Illustration: M^{r.} & M^{rs.} Bennet", 0),
        ("The area is r^{2} times pi, and the set {1, 2, 3} has three members.", 0),
        ("function f() {\n  return 1;\n}", 1),
        ("<li>{{ item.name }}</li> {% endfor %}", 2),
        (".nav { display: none; }", 1),
        ('var state = {"page": 1};', 1),
        ("const label = `${count} items`;", 1),
    ],
)
def test_code_like_curly_brackets(text, code_like):
    s = C4DocumentFilter(EN, KO).score(TextView(text, "en"), EN)
    assert s["curly_bracket"] == 1
    assert (s["code_curly_brackets"] > 0) == bool(code_like)


def test_min_sentences_still_applies_to_short_korean_text():
    short = (
        "국회는 국정을 감사하거나 특정한 국정사안에 대하여 조사할 수 있으며, 이에 필요한 서류의 제출을 요구할 수 있다"
    )
    s = C4DocumentFilter(EN, KO).score(TextView(short, "ko"), KO)
    assert s["chars"] <= KO.c4.min_sentences_max_chars
    assert C4DocumentFilter(EN, KO).decide(s, KO) == C4_TOO_FEW_SENTENCES


@pytest.mark.parametrize("text", [EN_MENU_PAGE, JS_TEMPLATE_PAGE], ids=["menu", "js-template"])
def test_junk_still_dropped(text):
    assert chain(text, "en") is not None


def test_js_template_goes_for_its_braces():
    s = C4DocumentFilter(EN, KO).score(TextView(JS_TEMPLATE_PAGE, "en"), EN)
    assert C4DocumentFilter(EN, KO).decide(s, EN) == C4_CURLY_BRACKET
