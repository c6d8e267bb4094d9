"""Issue 19: look-alikes scrubbed as identifiers (dates, year ranges, ISBN-13) and identifiers missed ((010) prefix,
passport glued to its word). One case per family, inline text shaped like the real lines they came from."""

from __future__ import annotations

import pytest

from lmpipe.stages.pii.recognizers import date_shaped, in_isbn, isbn13_ok, year_range_shaped
from lmpipe.stages.pii.scrubber import PiiScrubber


@pytest.fixture(scope="module")
def scrubber():
    return PiiScrubber()


def _found(scrubber, text: str) -> list[tuple[str, str]]:
    return [(text[f.start : f.end], f.entity) for f in scrubber.find(text)]


# (text, the look-alike that must come out unchanged); each has a phone or bank word near it
KEPT = {
    "iso_date_ko": (
        "수집에 불편함이 있으시다면 언제든지 메일로 연락주세요.\n\n2016-12-23\n\n피부 관리법",
        "2016-12-23",
    ),
    "iso_date_en": ("Periodical -> The Daily Telegraph, Date -> 2014-01-22, Authors -> [{last=Smith}]", "2014-01-22"),
    "dotted_date_ko": ("고객센터 전화 문의 게시일 2016. 12. 23 오후", "2016. 12. 23"),
    "year_range_en": ("Parallels Desktop trial today!\n\n© 1999-2020 Parallels International", "1999-2020"),
    "year_range_ko": ("연락처 안내: 본 행사는 1980-1998 기간의 기록을 다룬다.", "1980-1998"),
    "isbn13_en": ('Authors -> [{last=Telfer, first=Gary}])",{ISBN=978-1494285449}', "978-1494285449"),
    "isbn13_grouped": ("Hungary, ID_list -> {ISBN=978-963-9627-38-3}, PublisherName -> Bank", "978-963-9627-38-3"),
    "isbn13_ko": ("도서 문의 전화는 아래로. ISBN 979-11-5839-110-2 (은행나무 출판)", "979-11-5839-110-2"),
}


@pytest.mark.parametrize("case", sorted(KEPT))
def test_lookalike_is_kept(scrubber, case):
    text, value = KEPT[case]
    assert value in text
    found = _found(scrubber, text)
    start = text.index(value)
    assert not [f for f in scrubber.find(text) if f.start < start + len(value) and f.end > start], found


# (text, the identifier that must be scrubbed whole, its type)
SCRUBBED = {
    "kr_mobile_paren": ("대피하기 늦을 것”이라고 (010) 4146-5415로 말했다.", "(010) 4146-5415", "PHONE_NUMBER"),
    "kr_mobile_paren_glued": ("유망주 (010)1318-7611으로 5명이 팀을 꾸렸다", "(010)1318-7611", "PHONE_NUMBER"),
    "passport_glued_en": ("The distress call was made PassportM538F3514. from the ship", "M538F3514", "KR_PASSPORT"),
    "passport_glued_text_start": ("passportM12345678 was found in the bag", "M12345678", "KR_PASSPORT"),
}


@pytest.mark.parametrize("case", sorted(SCRUBBED))
def test_identifier_is_scrubbed(scrubber, case):
    text, value, entity = SCRUBBED[case]
    assert (value, entity) in _found(scrubber, text)


@pytest.mark.parametrize(
    "text",
    ["여권번호M12345678 소지자", "여권번호: M12345678", "여권번호M123A4567을 제시했다"],
    ids=["glued", "colon", "current"],
)
def test_korean_passport_word_glued_still_scrubbed(scrubber, text):
    assert [e for _, e in _found(scrubber, text)] == ["KR_PASSPORT"]


def test_real_identifiers_next_to_the_shapes_are_still_scrubbed(scrubber):
    # phones beside a date, a year range and an ISBN; a Korean nationwide number that reads like years
    text = (
        "2016-12-23 문의 전화 010-1234-5678, © 1999-2020 Tel. 02-123-4567 ISBN 978-1494285449 고객센터 전화 1588-1600"
    )
    found = _found(scrubber, text)
    assert ("010-1234-5678", "PHONE_NUMBER") in found and ("02-123-4567", "PHONE_NUMBER") in found
    assert ("1588-1600", "PHONE_NUMBER") in found
    assert all(v not in ("2016-12-23", "1999-2020", "978-1494285449") for v, _ in found)
    # an invalid ISBN check digit, a date that does not exist, a range that runs backwards: no veto
    assert not isbn13_ok("978-1494285448") and not in_isbn("ISBN 978-1494285448", 5, 19)
    assert not date_shaped("2014-02-30") and date_shaped("2014-02-28 03")
    assert not year_range_shaped("2020-1999") and year_range_shaped("1624 – 1643")
