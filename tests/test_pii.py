"""PII recognizers and scrubber: every type, every look-alike family, Korean and English, offline."""

from __future__ import annotations

import json
import socket
from collections import defaultdict
from pathlib import Path

import pytest

from lmpipe.stages.pii import recognizers as rec
from lmpipe.stages.pii.entities import ENTITIES
from lmpipe.stages.pii.evaluate import score
from lmpipe.stages.pii.scrubber import PiiScrubber, candidate_windows

DATA = Path(__file__).parent / "data" / "pii"


def _load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).open(encoding="utf-8")]


LABELLED = _load("labelled.jsonl")
REAL_EN = _load("real_en.jsonl")


@pytest.fixture(scope="module")
def scrubber() -> PiiScrubber:
    return PiiScrubber()


def _find(scrubber: PiiScrubber):
    return lambda text: [(f.start, f.end) for f in scrubber.find(text)]


def _by_key(records: list[dict], kind: str, key: str) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    for r in records:
        for span in r[kind]:
            only = {"pii": [], "lookalikes": [], kind: [span]}
            groups[span[key]].append({**r, **only})
    return groups


PLANTED = _by_key(LABELLED, "pii", "entity")
FAMILIES = _by_key(LABELLED, "lookalikes", "family")


def test_labelled_set_covers_every_type_and_family_in_both_languages():
    assert set(PLANTED) == set(ENTITIES)
    for family in ("date", "isbn", "version", "price", "population", "law_article", "cas_number", "sports_score",
                   "time_range"):  # fmt: skip
        assert {r["lang"] for r in FAMILIES[family]} >= {"ko", "en"}
    assert {r["lang"] for r in LABELLED if r["pii"]} >= {"ko", "en"}


@pytest.mark.parametrize("entity", sorted(PLANTED))
def test_every_planted_type_is_scrubbed(scrubber, entity):
    result = score(_find(scrubber), PLANTED[entity])
    found, total = result["pii"][entity]
    assert found / total >= 0.98, f"{entity}: {found}/{total}"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_lookalike_family_survives(scrubber, family):
    result = score(_find(scrubber), FAMILIES[family])
    kept, total = result["lookalikes"][family]
    assert kept / total >= 0.98, f"{family}: {kept}/{total}"


def test_third_party_labelled_english_recall_and_lookalikes(scrubber):
    # presidio-research synth (Faker) + NeMo Curator test lines: data we did not write.
    result = score(_find(scrubber), REAL_EN)
    assert result["recall"] >= 0.97
    assert result["kept"] >= 0.98  # dates, ZIP codes, ages are not scrubbed
    for entity in ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "US_SSN"):
        found, total = result["pii"][entity]
        assert found == total, entity


def _scrub(scrubber: PiiScrubber, text: str) -> str:
    return scrubber.scrub(text)[0]


def test_korean_sentence_keeps_particles_and_placeholders_are_typed(scrubber):
    text = "연락처는 010-1234-5678이고 메일은 hong.gildong@naver.com으로 보내 주세요."
    out, counts = scrubber.scrub(text)
    assert out == "연락처는 <PHONE_NUMBER>이고 메일은 <EMAIL_ADDRESS>으로 보내 주세요."
    assert counts == {"PHONE_NUMBER": 1, "EMAIL_ADDRESS": 1}


def test_rrn_issued_after_2020_has_no_valid_check_digit_and_is_still_scrubbed(scrubber):
    post_2020 = "900101-1234560"  # checksum of 900101-123456x is 8: this one fails it
    assert not rec.rrn_checksum_ok(post_2020.replace("-", ""))
    assert _scrub(scrubber, f"주민등록번호 {post_2020} 확인") == "주민등록번호 <KR_RRN> 확인"
    assert _scrub(scrubber, f"신청인 {post_2020}") == "신청인 <KR_RRN>"  # the hyphenated shape is evidence enough


def test_rrn_run_together_needs_checksum_or_context(scrubber):
    assert rec.rrn_checksum_ok("9001011234568")
    assert _scrub(scrubber, "번호 9001011234568 입니다") == "번호 <KR_RRN> 입니다"
    # 13 digits, a valid date, no checksum, no context: an order number as often as not, kept
    assert _scrub(scrubber, "주문 9001011234560 배송") == "주문 9001011234560 배송"
    assert _scrub(scrubber, "주민번호 9001011234560") == "주민번호 <KR_RRN>"


def test_alien_registration_number_and_masked_rrn(scrubber):
    assert _scrub(scrubber, "외국인등록번호: 850505-5123456") == "외국인등록번호: <KR_FRN>"
    assert _scrub(scrubber, "생년월일 포함 900101-1******") == "생년월일 포함 <KR_RRN>"
    assert _scrub(scrubber, "날짜 901301-1234567") == "날짜 901301-1234567"  # month 13: not a registration number


def test_bank_account_only_where_context_says_so(scrubber):
    assert _scrub(scrubber, "국민은행 123-45-678901 (예금주 홍길동)") == "국민은행 <BANK_ACCOUNT> (예금주 홍길동)"
    assert _scrub(scrubber, "Wire it to bank account 000123456789.") == "Wire it to bank account <BANK_ACCOUNT>."
    assert _scrub(scrubber, "주문번호 123-45-678901 조회") == "주문번호 123-45-678901 조회"
    assert _scrub(scrubber, "우리 하나의 기업 123-45-678901") == "우리 하나의 기업 123-45-678901"  # everyday words
    text = "초일류 기업이 간다 기사입력 2013-10-24 03:00:00 (하나은행 후원)"
    assert _scrub(scrubber, text) == text  # a timestamp next to a bank name


def test_credit_card_needs_luhn(scrubber):
    assert _scrub(scrubber, "card 4111 1111 1111 1111 on file") == "card <CREDIT_CARD> on file"
    assert _scrub(scrubber, "카드 5500-0000-0000-0004") == "카드 <CREDIT_CARD>"
    assert _scrub(scrubber, "serial 4111 1111 1111 1112 on file") == "serial 4111 1111 1111 1112 on file"


def test_phone_formats_korean_us_international(scrubber):
    phones = ["010-1234-5678", "+82 10-1234-5678", "02-2133-5152", "(031) 123-4567", "070 1234 5678"]
    phones += ["(555) 123-4567", "555.123.4567", "+1-555-123-4567", "+44 20 7946 0958", "+81 3-1234-5678"]
    for phone in phones:
        assert _scrub(scrubber, f"Tel {phone} 입니다") == "Tel <PHONE_NUMBER> 입니다", phone


def test_ip_addresses_and_version_numbers(scrubber):
    assert _scrub(scrubber, "from 203.0.113.7 and 2001:db8::8a2e:370:7334") == "from <IP_ADDRESS> and <IP_ADDRESS>"
    assert _scrub(scrubber, "서버 192.168.0.1에서") == "서버 <IP_ADDRESS>에서"
    kept = ["version 10.0.0.1", "v1.2.3.4 released", "버전 2.1.0.3", "OID 1.3.6.1.4.1", "at 12:30:45"]
    kept += ["• 1.1.1.1parted 설정", "절 1.2.3.4 참조", "mongodb://127.0.0.1:27017", "broadcast 255.255.255.255:9"]
    for text in kept:
        assert _scrub(scrubber, text) == text


def test_passport_driver_licence_ssn_iban(scrubber):
    assert _scrub(scrubber, "여권번호 M123A4567") == "여권번호 <KR_PASSPORT>"
    assert _scrub(scrubber, "여권 M12345678 분실") == "여권 <KR_PASSPORT> 분실"
    assert _scrub(scrubber, "part M12345678 in stock") == "part M12345678 in stock"  # old form needs context
    assert _scrub(scrubber, "운전면허 11-19-123456-12") == "운전면허 <KR_DRIVER_LICENSE>"
    assert _scrub(scrubber, "SSN 536-22-1234.") == "SSN <US_SSN>."
    assert _scrub(scrubber, "not 666-22-1234") == "not 666-22-1234"  # never issued
    assert _scrub(scrubber, "IBAN DE89 3704 0044 0532 0130 00") == "IBAN <IBAN_CODE>"
    assert _scrub(scrubber, "IBAN DE89 3704 0044 0532 0130 01") == "IBAN DE89 3704 0044 0532 0130 01"  # mod 97


def test_configurable_placeholders_and_subset_of_types():
    scrubber = PiiScrubber(entities=("EMAIL_ADDRESS",))
    text = "mail kim@example.co.kr or call 010-1234-5678"
    out, counts = scrubber.scrub(text, placeholder="[{entity}]", placeholders={"EMAIL_ADDRESS": "<email>"})
    assert out == "mail <email> or call 010-1234-5678" and counts == {"EMAIL_ADDRESS": 1}
    with pytest.raises(ValueError, match="unknown PII type"):
        PiiScrubber(entities=("EMAIL",))


def test_candidate_windows_cover_little_of_ordinary_text():
    text = "오늘은 날씨가 맑았다. The weather was fine, 2024년 5월에는 비가 왔다. " * 50 + "문의 010-1234-5678"
    windows = candidate_windows(text)
    assert list(windows) == ["num"]
    assert sum(e - s for s, e in windows["num"]) < 60


def test_long_documents_and_edges(scrubber):
    text = ("가" * 5000) + " 010-1234-5678 " + ("b" * 5000) + " x@y.com"
    out, counts = scrubber.scrub(text)
    assert counts == {"PHONE_NUMBER": 1, "EMAIL_ADDRESS": 1}
    assert out == ("가" * 5000) + " <PHONE_NUMBER> " + ("b" * 5000) + " <EMAIL_ADDRESS>"
    assert scrubber.scrub("")[0] == "" and scrubber.scrub("010-1234-5678")[0] == "<PHONE_NUMBER>"
    digits = "1" * 40  # a cut window must not fake a boundary inside a long run
    assert _scrub(scrubber, digits) == digits


def test_loading_and_running_presidio_opens_no_socket(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    rec._suffix_extractor.cache_clear()  # e-mail domains load the suffix list now, under the patch
    scrubber = PiiScrubber()
    out, counts = scrubber.scrub(
        "메일 someone@company.co.kr, 전화 02-123-4567, IP 8.26.56.26, 카드 4111-1111-1111-1111"
    )
    assert counts == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1, "IP_ADDRESS": 1, "CREDIT_CARD": 1}
    with pytest.raises(ImportError, match="installed locally"):  # NER mode refuses to download a model
        PiiScrubber(ner_model="xx_no_such_model_sm").find("Kim lives in Seoul")
