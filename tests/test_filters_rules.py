"""Rule filters: one case per drop reason and one keep case, Korean and English, on real or realistic text."""

from __future__ import annotations

import dataclasses
import random

import pytest
from datatrove.data import Document

from lmpipe.stages.filter import c4, fineweb, gopher
from lmpipe.stages.filter.c4 import C4DocumentFilter, C4LineCleaner
from lmpipe.stages.filter.config import english_rules, korean_rules
from lmpipe.stages.filter.fineweb import FineWebLineFilter
from lmpipe.stages.filter.gopher import GopherQualityFilter, GopherRepetitionFilter

EN, KO = english_rules(), korean_rules()

# Constitution of the Republic of Korea (public statute text, samples/corpus/ko_constitution.txt), articles 10-12.
KO_PROSE = (
    "모든 국민은 인간으로서의 존엄과 가치를 가지며, 행복을 추구할 권리를 가진다. 국가는 개인이 가지는 불가침의 "
    "기본적 인권을 확인하고 이를 보장할 의무를 진다.\n"
    "모든 국민은 법 앞에 평등하다. 누구든지 성별·종교 또는 사회적 신분에 의하여 정치적·경제적·사회적·문화적 "
    "생활의 모든 영역에 있어서 차별을 받지 아니한다.\n"
    "사회적 특수계급의 제도는 인정되지 아니하며, 어떠한 형태로도 이를 창설할 수 없다.\n"
    "훈장등의 영전은 이를 받은 자에게만 효력이 있고, 어떠한 특권도 이에 따르지 아니한다.\n"
    "모든 국민은 신체의 자유를 가진다. 누구든지 법률에 의하지 아니하고는 체포·구속·압수·수색 또는 심문을 받지 "
    "아니하며, 법률과 적법한 절차에 의하지 아니하고는 처벌·보안처분 또는 강제노역을 받지 아니한다.\n"
    "모든 국민은 고문을 받지 아니하며, 형사상 자기에게 불리한 진술을 강요당하지 아니한다."
)
# Alice's Adventures in Wonderland, chapter 1 (public domain, samples/corpus/en_gutenberg.jsonl.gz), unwrapped.
EN_PROSE = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: once "
    "or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it, "
    "“and what is the use of a book,” thought Alice “without pictures or conversations?”\n\n"
    "So she was considering in her own mind (as well as she could, for the hot day made her feel very sleepy and "
    "stupid), whether the pleasure of making a daisy-chain would be worth the trouble of getting up and picking "
    "the daisies, when suddenly a White Rabbit with pink eyes ran close by her.\n\n"
    "There was nothing so very remarkable in that; nor did Alice think it so very much out of the way to hear the "
    "Rabbit say to itself, “Oh dear! Oh dear! I shall be late!” (when she thought it over afterwards, it occurred "
    "to her that she ought to have wondered at this, but at the time it all seemed quite natural). The rabbit-hole "
    "went straight on like a tunnel for some way. Either the well was very deep, or she fell very slowly."
)
PROSE = {"ko": KO_PROSE, "en": EN_PROSE}


def doc(text: str, lang: str) -> Document:
    return Document(text=text, id=f"test/{lang}", metadata={"lang": lang})


def run(step_cls, text: str, lang: str, en=EN, ko=KO):
    d = doc(text, lang)
    return step_cls(en, ko).filter(d), d


def all_steps_keep(text: str, lang: str) -> bool:
    d = doc(text, lang)
    for cls in (GopherRepetitionFilter, GopherQualityFilter):
        if cls(EN, KO).filter(d) is not True:
            return False
    C4LineCleaner(EN, KO).transform(d)
    return all(cls(EN, KO).filter(d) is True for cls in (C4DocumentFilter, FineWebLineFilter))


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_real_prose_is_kept_and_scored(lang):
    assert all_steps_keep(PROSE[lang], lang)
    result, d = run(GopherQualityFilter, PROSE[lang], lang)
    assert result is True
    assert d.metadata["gopher.word_count"] >= 50 and d.metadata["gopher.stop_words"] >= 2  # signals kept


def test_korean_words_are_morphemes_and_stop_words_are_particles():
    _, d = run(GopherQualityFilter, KO_PROSE, "ko")
    # Korean stop words (FineWeb-2) are particles and endings: only found after morpheme splitting.
    assert d.metadata["gopher.stop_words"] >= 5
    assert 1.0 <= d.metadata["gopher.mean_word_chars"] <= 3.0
    # The same text judged with English whitespace words has no English stop word at all.
    result, _ = run(GopherQualityFilter, KO_PROSE, "en")
    assert result == (False, gopher.GOPHER_TOO_FEW_STOP_WORDS)


# --- Gopher quality: one case per reason --------------------------------------------------------------------------
GOPHER_CASES = {
    gopher.GOPHER_TOO_FEW_WORDS: {"ko": "페이지를 찾을 수 없습니다.", "en": "Page not found. Go back home."},
    gopher.GOPHER_TOO_MANY_WORDS: {"ko": KO_PROSE * 520, "en": EN_PROSE * 600},
    gopher.GOPHER_WORDS_TOO_SHORT: {"en": " ".join(["a b c d e f g h i j to of"] * 10)},
    gopher.GOPHER_WORDS_TOO_LONG: {
        # MeCab splits long Korean compounds; long "words" in Korean pages are Latin keyword tags
        "ko": " ".join(
            ["관련 태그는 telecommunications internationalization microelectromechanical electroencephalography 이다"]
            * 12
        ),
        "en": " ".join(["internationalization-telecommunications-infrastructure"] * 60),
    },
    gopher.GOPHER_TOO_MANY_HASHES: {
        "ko": KO_PROSE + "\n" + " ".join(f"#맛집{i} #서울맛집 #데일리" for i in range(40)),
        "en": EN_PROSE + "\n" + " ".join(f"#travel{i} #instagood #photooftheday" for i in range(40)),
    },
    gopher.GOPHER_TOO_MANY_ELLIPSES: {
        "ko": "\n".join(["그래서 그날은... 정말... 아무것도... 할 수 없었다... 그리고 또... 그랬다..."] * 12)
        + "\n"
        + KO_PROSE,
        "en": "\n".join(["and then... well... you know... it was... so... yeah..."] * 12) + "\n" + EN_PROSE,
    },
    gopher.GOPHER_TOO_MANY_BULLET_LINES: {
        "ko": "\n".join(f"• {s.strip()}" for s in KO_PROSE.split("."))[:-2],
        "en": "\n".join(f"- {s.strip()}" for s in EN_PROSE.replace("\n", " ").split(".") if s.strip()),
    },
    gopher.GOPHER_TOO_MANY_ELLIPSIS_LINES: {
        "ko": "\n".join(s.strip() + "..." for s in KO_PROSE.split(".") if s.strip()),
        "en": "\n".join(s.strip() + " …" for s in EN_PROSE.split(".") if s.strip()),
    },
    gopher.GOPHER_TOO_FEW_ALPHA_WORDS: {
        "ko": "오늘의 가격표는 다음과 같다 " + " ".join(f"{i * 1000:,} ({i}%) ₩{i} ★" for i in range(1, 40)),
        "en": "Price list of the week and to " + " ".join(f"${i}.99 -{i}% {i}/{i + 1} ***" for i in range(1, 40)),
    },
    gopher.GOPHER_TOO_FEW_STOP_WORDS: {
        "ko": " ".join(["서울맛집 강남맛집 홍대맛집 맛집추천 데이트코스 신상카페 인스타감성"] * 10),
        "en": " ".join(["cheap flights hotels deals discount booking travel insurance"] * 10),
    },
}


@pytest.mark.parametrize(
    "reason,lang", [(r, lang) for r, texts in GOPHER_CASES.items() for lang in texts], ids=lambda x: str(x)
)
def test_gopher_quality_reasons(reason, lang):
    # Repetition is judged by its own filter: these texts may repeat on purpose.
    result, d = run(GopherQualityFilter, GOPHER_CASES[reason][lang], lang)
    assert result == (False, reason), {k: v for k, v in d.metadata.items() if k.startswith("gopher.")}


# --- Gopher repetition -----------------------------------------------------------------------------------------------
def _repetition_cases(lang: str) -> dict[str, str]:
    sentences = [s.strip() + "." for s in PROSE[lang].replace("\n", " ").split(".") if len(s.strip()) > 20]
    whole = " ".join(sentences)
    return {
        gopher.REPETITION_DUP_PARAGRAPHS: "\n\n".join([sentences[0], sentences[1]] * 4 + sentences[2:4]),
        gopher.REPETITION_DUP_PARAGRAPH_CHARS: "\n\n".join([s[:60] for s in sentences[:2]] + [whole] * 2),
        gopher.REPETITION_DUP_LINES: "\n".join(sentences + ["로그인" if lang == "ko" else "Log in"] * 6),
        gopher.REPETITION_DUP_LINE_CHARS: "\n".join([s[:60] for s in sentences[:2]] + [whole] * 2),
        gopher.REPETITION_TOP_NGRAM: " ".join(
            (["강남 맛집 추천"] if lang == "ko" else ["best cheap hotels"]) * 30 + sentences[:3]
        ),
        gopher.REPETITION_DUP_NGRAMS: " ".join(sentences + sentences[1:4]),
    }


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize(
    "reason",
    [
        gopher.REPETITION_DUP_PARAGRAPHS,
        gopher.REPETITION_DUP_PARAGRAPH_CHARS,
        gopher.REPETITION_DUP_LINES,
        gopher.REPETITION_DUP_LINE_CHARS,
        gopher.REPETITION_TOP_NGRAM,
        gopher.REPETITION_DUP_NGRAMS,
    ],
)
def test_repetition_reasons(reason, lang):
    result, d = run(GopherRepetitionFilter, _repetition_cases(lang)[reason], lang)
    assert result == (False, reason), {k: v for k, v in d.metadata.items() if k.startswith("repetition.")}


def test_duplicate_ngrams_equal_datatrove():
    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate

    words = (EN_PROSE + " " + EN_PROSE[:400]).split()
    fast = gopher.repeated_ngram_chars(words)[1]
    assert fast[5] > 0
    assert all(fast[n] == find_all_duplicate(words, n) for n in range(5, 11))


def test_top_ngram_needs_a_repeat():
    # datatrove counts a single occurrence, which drops every short text; a repeat is required here
    assert gopher.repeated_ngram_chars("a short review with no repeats".split())[0][2] == 0
    assert gopher.repeated_ngram_chars("buy now buy now buy now".split())[0][2] == len("buy now") * 3


# --- C4 -----------------------------------------------------------------------------------------------------------
def test_c4_line_cleaner_removes_lines_never_documents():
    en_page = (
        "Home\nThis website uses cookies to improve your experience and for analytics.\n"
        "Please enable JavaScript in your browser to use this site.\n" + EN_PROSE + "[1]\n"
        + "x" * 1200 + " too long\n"
    )  # fmt: skip
    d = doc(en_page, "en")
    C4LineCleaner(EN, KO).transform(d)
    assert d.metadata["c4.removed_line_reasons"] == {
        "too_few_words": 1, "policy": 1, "javascript": 1, "too_long_word": 1
    }  # fmt: skip
    assert "cookies" not in d.text and "[1]" not in d.text and d.text.startswith("Alice was")
    assert "\n\n" in d.text  # paragraph breaks survive

    ko_page = (
        "홈\n이 사이트는 쿠키를 사용합니다. 계속 이용하면 동의한 것으로 봅니다.\n자바스크립트를 켜 주세요. 화면이 보이지 않습니다.\n"
        + KO_PROSE
    )
    d = doc(ko_page, "ko")
    C4LineCleaner(EN, KO).transform(d)
    assert d.metadata["c4.removed_line_reasons"] == {"too_few_words": 1, "policy": 1, "javascript": 1}
    assert d.text == KO_PROSE


def test_c4_notice_lines_found_without_a_citation_and_across_a_removed_one():
    # the cleaner looks for notice phrases in the lowercased text first; a removed citation can join one
    for line in ("PLEASE ENABLE JAVASCRIPT IN YOUR BROWSER TO CONTINUE.", "Please enable java[1]script to go on."):
        d = doc(EN_PROSE + "\n" + line, "en")
        C4LineCleaner(EN, KO).transform(d)
        assert d.metadata["c4.removed_line_reasons"] == {"javascript": 1}, line


def test_c4_terminal_punct_rule_is_off_by_default_and_can_be_enabled():
    text = "Chapter One of the story\n" + EN_PROSE
    d = doc(text, "en")
    C4LineCleaner(EN, KO).transform(d)
    assert d.text.startswith("Chapter One")
    strict = dataclasses.replace(EN, c4=dataclasses.replace(EN.c4, drop_lines_without_terminal_punct=True))
    d = doc(text, "en")
    C4LineCleaner(strict, KO).transform(d)
    assert d.metadata["c4.removed_line_reasons"] == {"no_terminal_punct": 1}


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_c4_document_reasons(lang):
    prose = PROSE[lang]
    cases = {
        c4.C4_LOREM_IPSUM: prose + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
        c4.C4_CURLY_BRACKET: prose + "\nfunction init() { window.dataLayer = []; }",
        c4.C4_TOO_FEW_SENTENCES: prose.split("\n")[0].split(". ")[0] + ".",
    }
    for reason, text in cases.items():
        assert run(C4DocumentFilter, text, lang)[0] == (False, reason)
    # every line removed by the cleaner: dropped, and the excluded text is the original
    menu = "홈\n뉴스\n로그인" if lang == "ko" else "Home\nNews\nLogin"
    d = doc(menu, lang)
    C4LineCleaner(EN, KO).transform(d)
    assert d.text == menu
    assert C4DocumentFilter(EN, KO).filter(d) == (False, c4.C4_NO_TEXT_LEFT)


def test_sentence_count_korean_and_english():
    assert c4.count_sentences("대한민국은 민주공화국이다. 주권은 국민에게 있다.") == 2
    assert c4.count_sentences("He said “Oh dear!” and left. Then") == 3
    assert c4.count_sentences("제1장 총강") == 1


# --- FineWeb --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_fineweb_reasons(lang):
    prose = PROSE[lang]
    first = prose.split("\n")[0]
    items = ["정치", "경제", "사회", "문화", "스포츠", "연예"] if lang == "ko" else ["Politics", "Business", "Sports"]
    cases = {
        fineweb.FINEWEB_EMPTY: "\n \n",
        fineweb.FINEWEB_TOO_FEW_PUNCT_LINES: "\n".join(
            s.strip().rstrip(".").replace("다", "음") for s in prose.replace("\n", " ").split(". ")
        ) * 3,
        fineweb.FINEWEB_TOO_MANY_SHORT_LINES: first + "\n" + "\n".join(f"{i}. {items[i % 3]}." for i in range(20)),
        fineweb.FINEWEB_TOO_MUCH_DUP_LINE_TEXT: prose + "\n" + first,
        # a list: few words per line, lines long enough not to count as short, every line unique
        fineweb.FINEWEB_LIST_LIKE: "\n".join(
            (f"제{i}조." if i % 2 else f"Article {i} Telecommunications.") if lang == "ko"
            else f"Article {i} Telecommunications-Infrastructure."
            for i in range(40)
        ),
    }  # fmt: skip
    for reason, text in cases.items():
        result, d = run(FineWebLineFilter, text, lang)
        assert result == (False, reason), (reason, {k: v for k, v in d.metadata.items() if k.startswith("fineweb")})


def test_fineweb_korean_sentence_endings_count_as_terminal():
    text = "\n".join(s.strip().rstrip(".") for s in KO_PROSE.split("\n"))  # periods dropped, "-다" endings kept
    assert run(FineWebLineFilter, text, "ko")[0] is True
    assert run(FineWebLineFilter, text, "en")[0] == (False, fineweb.FINEWEB_TOO_FEW_PUNCT_LINES)


def test_thresholds_none_disable_rules():
    off = dataclasses.replace(KO, gopher=dataclasses.replace(KO.gopher, min_words=None, min_stop_words=None))
    assert run(GopherQualityFilter, "페이지를 찾을 수 없습니다.", "ko", ko=off)[0] is True


def test_ngram_counts_match_the_reference_on_small_and_huge_vocabularies():
    # Word n-grams are sorted as int keys, or as rows of ids when a key would overflow int64 (documents of more
    # than about 6,200 words): both paths must give datatrove's duplicate count and Counter.most_common's top
    # n-gram (ties: the n-gram seen first), down to texts too short for any n-gram.
    from collections import Counter

    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate

    rng = random.Random(7)
    for vocab_size in (3, 40, 70_000):
        vocab = [f"w{i}" for i in range(vocab_size)]
        for _ in range(20):
            length = rng.choice([rng.randint(0, 12), rng.randint(6, 1500), rng.randint(6300, 8000)])
            words = [rng.choice(vocab) for _ in range(length)]
            words += words[: len(words) // 3]  # a repeated block
            top, fast = gopher.repeated_ngram_chars(words)
            assert all(fast[n] == find_all_duplicate(words, n) for n in range(5, 11))
            for n in (2, 3, 4):
                gram, count = (Counter(zip(*(words[i:] for i in range(n)))).most_common(1) or [((), 0)])[0]
                expected = (sum(map(len, gram)) + n - 1) * count if count > 1 else 0
                assert top[n] == expected
