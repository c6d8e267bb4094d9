"""Build tests/data/pii/labelled.jsonl: Korean and English sentences with planted PII and look-alikes.

Every value is generated here (seeded, deterministic): no real person's data. Each record is
{"id", "lang", "text", "pii": [{"start", "end", "entity", "format"}], "lookalikes": [{"start", "end", "family"}]}.
A PII span must be replaced; a look-alike span must come out unchanged.

    .venv/bin/python tests/data/pii/make_labelled.py     # rewrites labelled.jsonl beside this file
"""

from __future__ import annotations

import json
import random
from pathlib import Path

RNG = random.Random(8)


def d(n: int) -> str:
    return "".join(RNG.choice("0123456789") for _ in range(n))


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + d(length - len(prefix) - 1)
    for check in "0123456789":
        number = body + check
        total = 0
        for i, c in enumerate(reversed(number)):
            x = int(c)
            if i % 2:
                x = x * 2 - 9 if x > 4 else x * 2
            total += x
        if total % 10 == 0:
            return number
    raise AssertionError


def rrn(gender: str, valid_checksum: bool, sep: str = "-") -> str:
    yy, mm, dd = d(2), f"{RNG.randint(1, 12):02d}", f"{RNG.randint(1, 28):02d}"
    body = yy + mm + dd + gender + d(5)
    s = sum(int(c) * w for c, w in zip(body, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)))
    offset = 13 if gender in "5678" else 11
    check = (offset - s % 11) % 10
    if not valid_checksum:
        check = (check + RNG.randint(1, 9)) % 10
    full = body + str(check)
    return full[:6] + sep + full[6:]


def iban(country: str, bban_len: int, grouped: bool) -> str:
    bban = "".join(RNG.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + d(bban_len - 4)
    if country == "DE":
        bban = d(bban_len)
    num = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    code = f"{country}{98 - num % 97:02d}{bban}"
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4)) if grouped else code


def ssn() -> str:
    area = RNG.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{RNG.randint(1, 99):02d}-{RNG.randint(1, 9999):04d}"


def ipv4() -> str:
    first = RNG.choice([n for n in range(1, 224) if n != 127])  # unicast hosts: no loopback, no multicast
    return ".".join([str(first)] + [str(RNG.randint(0, 254)) for _ in range(3)])


def ipv6(compressed: bool) -> str:
    groups = [f"{RNG.randint(0, 65535):x}" for _ in range(8)]
    if compressed:
        return f"2001:db8:{groups[2]}::{groups[6]}:{groups[7]}"
    return ":".join(groups)


def card(prefix: str, length: int, sep: str) -> str:
    n = luhn_complete(prefix, length)
    if not sep:
        return n
    if length == 15:
        return sep.join((n[:4], n[4:10], n[10:]))
    return sep.join(n[i : i + 4] for i in range(0, length, 4))


LOCALS = ["hong.gildong", "kimminji92", "j.park", "lee_sooyoung", "support.team", "alice.smith", "bob+news", "m.kim"]
DOMAINS = ["naver.com", "daum.net", "hanmail.net", "gmail.com", "example.co.kr", "company.com", "univ.ac.kr"]
DOMAINS += ["mail.org"]

# (entity, format, generator)
PII = [
    ("EMAIL_ADDRESS", "ascii", lambda: f"{RNG.choice(LOCALS)}{d(2)}@{RNG.choice(DOMAINS)}"),
    ("PHONE_NUMBER", "kr_mobile_dash", lambda: f"010-{d(4)}-{d(4)}"),
    ("PHONE_NUMBER", "kr_mobile_space", lambda: f"010 {d(4)} {d(4)}"),
    ("PHONE_NUMBER", "kr_mobile_dot", lambda: f"010.{d(4)}.{d(4)}"),
    ("PHONE_NUMBER", "kr_mobile_plain", lambda: f"010{d(8)}"),
    ("PHONE_NUMBER", "kr_mobile_old", lambda: f"011-{d(3)}-{d(4)}"),
    ("PHONE_NUMBER", "kr_mobile_+82", lambda: f"+82 10-{d(4)}-{d(4)}"),
    ("PHONE_NUMBER", "kr_mobile_+82dash", lambda: f"+82-10-{d(4)}-{d(4)}"),
    ("PHONE_NUMBER", "kr_seoul", lambda: f"02-{d(RNG.choice([3, 4]))}-{d(4)}"),
    ("PHONE_NUMBER", "kr_area", lambda: f"0{RNG.choice(['31', '32', '51', '53', '62', '64'])}-{d(3)}-{d(4)}"),
    ("PHONE_NUMBER", "kr_paren", lambda: f"(02) {d(4)}-{d(4)}"),
    ("PHONE_NUMBER", "kr_voip", lambda: f"070-{d(4)}-{d(4)}"),
    ("PHONE_NUMBER", "kr_+82_landline", lambda: f"+82 2 {d(4)} {d(4)}"),
    ("PHONE_NUMBER", "us_paren", lambda: f"({RNG.randint(201, 989)}) {RNG.randint(200, 999)}-{d(4)}"),
    ("PHONE_NUMBER", "us_dash", lambda: f"{RNG.randint(201, 989)}-{RNG.randint(200, 999)}-{d(4)}"),
    ("PHONE_NUMBER", "us_dot", lambda: f"{RNG.randint(201, 989)}.{RNG.randint(200, 999)}.{d(4)}"),
    ("PHONE_NUMBER", "us_+1", lambda: f"+1 {RNG.randint(201, 989)} {RNG.randint(200, 999)} {d(4)}"),
    ("PHONE_NUMBER", "us_ext", lambda: f"{RNG.randint(201, 989)}-{RNG.randint(200, 999)}-{d(4)} ext. {d(3)}"),
    ("PHONE_NUMBER", "intl_uk", lambda: f"+44 20 {d(4)} {d(4)}"),
    ("PHONE_NUMBER", "intl_de", lambda: f"+49 30 {d(7)}"),
    ("PHONE_NUMBER", "intl_fr", lambda: f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}"),
    ("PHONE_NUMBER", "intl_jp", lambda: f"+81 3-{d(4)}-{d(4)}"),
    ("KR_RRN", "hyphen_checksum", lambda: rrn(RNG.choice("1234"), True)),
    ("KR_RRN", "hyphen_post2020", lambda: rrn(RNG.choice("1234"), False)),
    ("KR_RRN", "plain_checksum", lambda: rrn(RNG.choice("1234"), True, "")),
    ("KR_RRN", "masked", lambda: rrn(RNG.choice("1234"), True)[:8] + "******"),
    ("KR_FRN", "hyphen_checksum", lambda: rrn(RNG.choice("5678"), True)),
    ("KR_FRN", "hyphen_post2020", lambda: rrn(RNG.choice("5678"), False)),
    ("KR_PASSPORT", "current", lambda: f"{RNG.choice('MSROD')}{d(3)}{RNG.choice('ABCDEFGHJK')}{d(4)}"),
    ("KR_PASSPORT", "previous", lambda: f"{RNG.choice('MS')}{d(8)}"),
    ("KR_DRIVER_LICENSE", "numeric", lambda: f"{RNG.randint(11, 28)}-{d(2)}-{d(6)}-{d(2)}"),
    ("KR_DRIVER_LICENSE", "region", lambda: f"{RNG.choice(['서울', '경기', '부산'])} {d(2)}-{d(6)}-{d(2)}"),
    ("BANK_ACCOUNT", "kb_3_2_6", lambda: f"{d(3)}-{d(2)}-{d(6)}"),
    ("BANK_ACCOUNT", "shinhan_3_3_6", lambda: f"110-{d(3)}-{d(6)}"),
    ("BANK_ACCOUNT", "woori_4_3_6", lambda: f"1002-{d(3)}-{d(6)}"),
    ("BANK_ACCOUNT", "plain_12", lambda: f"{d(12)}"),
    ("CREDIT_CARD", "visa_space", lambda: card("4", 16, " ")),
    ("CREDIT_CARD", "mc_dash", lambda: card(RNG.choice(["51", "53", "55"]), 16, "-")),
    ("CREDIT_CARD", "visa_plain", lambda: card("4", 16, "")),
    ("CREDIT_CARD", "amex", lambda: card(RNG.choice(["34", "37"]), 15, " ")),
    ("CREDIT_CARD", "kr_domestic_9", lambda: card("94", 16, "-")),
    ("IP_ADDRESS", "ipv4", ipv4),
    ("IP_ADDRESS", "ipv6_full", lambda: ipv6(False)),
    ("IP_ADDRESS", "ipv6_compressed", lambda: ipv6(True)),
    ("US_SSN", "dash", ssn),
    ("IBAN_CODE", "de_grouped", lambda: iban("DE", 18, True)),
    ("IBAN_CODE", "gb_plain", lambda: iban("GB", 18, False)),
    ("IBAN_CODE", "fr_grouped", lambda: iban("FR", 23, True)),
    ("IBAN_CODE", "nl_plain", lambda: iban("NL", 14, False)),
]

# Sentences per entity; {v} is the value. Context words appear where real text has them.
TEMPLATES = {
    "EMAIL_ADDRESS": [
        ("ko", "자세한 문의는 {v}으로 보내 주시기 바랍니다."),
        ("ko", "작가 이메일: {v}"),
        ("en", "Send your résumé to {v} before Friday."),
        ("en", "Contact: {v} (replies within two days)"),
    ],
    "PHONE_NUMBER": [
        ("ko", "예약 문의는 {v}로 전화 주세요."),
        ("ko", "담당자 연락처 {v} (평일 9시~18시)"),
        ("ko", "휴대폰 번호를 {v}에서 다른 번호로 바꿨습니다."),
        ("en", "Call me at {v} after lunch."),
        ("en", "Our office line is {v}; leave a message."),
        ("en", "Phone: {v}"),
    ],
    "KR_RRN": [
        ("ko", "주민등록번호 {v}를 입력하세요."),
        ("ko", "신청서에 적힌 주민번호는 {v}입니다."),
        ("en", "Her Korean resident registration number, {v}, was leaked."),
    ],
    "KR_FRN": [
        ("ko", "외국인등록번호: {v}"),
        ("ko", "등록증 번호 {v}로 조회했다."),
        ("en", "Alien registration number {v} was printed on the card."),
    ],
    "KR_PASSPORT": [
        ("ko", "여권번호 {v} 소지자는 입국 심사대로 가십시오."),
        ("en", "Passport number: {v}"),
    ],
    "KR_DRIVER_LICENSE": [
        ("ko", "운전면허번호 {v}로 본인 확인을 했다."),
        ("en", "Korean driver's license {v} expired last year."),
    ],
    "BANK_ACCOUNT": [
        ("ko", "국민은행 {v} (예금주 홍길동)으로 입금 바랍니다."),
        ("ko", "후원 계좌: {v}"),
        ("en", "Wire the deposit to bank account {v} today."),
    ],
    "CREDIT_CARD": [
        ("ko", "결제한 카드 번호는 {v}입니다."),
        ("ko", "{v} 카드로 결제했습니다."),
        ("en", "The card {v} was charged twice."),
        ("en", "Paid with {v} on the 3rd."),
    ],
    "IP_ADDRESS": [
        ("ko", "접속 IP {v}에서 로그인 시도가 있었습니다."),
        ("en", "The request came from {v} at midnight."),
        ("en", "Blocked host {v} after repeated failures."),
    ],
    "US_SSN": [
        ("en", "My social security number is {v}."),
        ("en", "SSN {v} appears on the W-2."),
        ("ko", "미국 사회보장번호 {v}를 제출했다."),
    ],
    "IBAN_CODE": [
        ("en", "Please transfer the fee to {v} by Monday."),
        ("ko", "해외 송금 IBAN: {v}"),
    ],
}
PER_FORMAT = 6  # instances of every format, cycling through its entity's templates

LOOKALIKES = {
    "date": [
        "2024-05-12", "2024.05.12", "2024. 5. 12.", "20240512", "12/05/2024", "1990-01-01T12:30:00",
        "2019년 3월 1일", "1998-12-31", "2023/11/05", "2020.10.01 ~ 2021.03.31",
    ],
    "isbn": [
        "ISBN 978-89-01-12345-6", "ISBN 0-306-40615-2", "ISBN 9788901123456", "ISBN-13: 979-11-5839-123-4",
        "ISBN 89-7914-063-0", "ISBN 978 0 262 03384 8",
    ],
    "version": [
        "version 10.0.0.1", "v1.2.3.4", "Chrome 120.0.6099.109", "Linux 5.15.0-91-generic", "버전 2.1.0.3",
        "Python 3.11.7", "build 6.1.7601.17514", "v2.10.3.1",
    ],
    "price": [
        "₩1,234,567", "$1,299.99", "1,234,567원", "USD 12,345,678.90", "3,450,000원", "€ 2.499,00",
        "12,000,000,000원", "$ 1 234 567",
    ],
    "population": [
        "51,780,579명", "331,449,281 people", "인구 9,411,000명", "population of 1,411,750,000", "51 780 579",
        "8,336,817 residents",
    ],
    "law_article": [
        "제123조의2 제1항", "법률 제17893호", "Article 12(3)", "Public Law 117-58", "대통령령 제31380호",
        "42 U.S.C. § 1983", "제2023-12호", "헌법 제10조",
    ],
    "cas_number": ["CAS 7732-18-5", "CAS No. 50-00-0", "1310-73-2", "7440-57-5", "CAS RN 64-17-5", "9002-88-4"],
    "sports_score": ["3-2", "102-98", "6-4, 3-6, 7-6", "2대1", "1-0", "115-109", "21-19, 18-21"],
    "time_range": [
        "09:00-18:00", "10:30~12:00", "14:00:00-15:30:00", "오전 9시~오후 6시", "9:00 AM - 5:30 PM",
        "18:00~22:00", "07:30 – 09:15",
    ],
    "file_at_name": ["logo@2x.png", "icon@3x.webp"],
    "coordinates": ["37.5665, 126.9780", "N 37° 33' 58.87\""],
    "measurement": ["1,024 x 768", "3.5 x 10^8 m/s", "12.5 kg", "1920x1080"],
}  # fmt: skip
LOOKALIKE_TEMPLATES = [
    ("ko", "참고로 {v} 기록은 공식 자료에 나와 있다."),
    ("en", "For reference, {v} is listed in the official record."),
]


def record(rid: str, lang: str, template: str, value: str, key: str, label: dict) -> dict:
    start = template.index("{v}")
    text = template.replace("{v}", value)
    span = {"start": start, "end": start + len(value)} | label
    return {"id": rid, "lang": lang, "text": text, key: [span], ("lookalikes" if key == "pii" else "pii"): []}


def main() -> None:
    records = []
    for entity, fmt, gen in PII:
        templates = TEMPLATES[entity]
        for i in range(PER_FORMAT):
            lang, template = templates[i % len(templates)]
            rid = f"pii/{entity}/{fmt}/{i}"
            records.append(record(rid, lang, template, gen(), "pii", {"entity": entity, "format": fmt}))
    for family, values in LOOKALIKES.items():
        for j, value in enumerate(values):
            for lang, template in LOOKALIKE_TEMPLATES:
                rid = f"lookalike/{family}/{j}/{lang}"
                records.append(record(rid, lang, template, value, "lookalikes", {"family": family}))
    # A few mixed records: several PII and look-alikes in one text, as in real pages.
    for k in range(12):
        parts, pii, look = [], [], []
        pos = 0
        for piece_kind in ("lookalike", "pii", "lookalike", "pii"):
            if piece_kind == "pii":
                entity, fmt, gen = RNG.choice(PII)
                lang, template = RNG.choice(TEMPLATES[entity])
                value, target, label = gen(), pii, {"entity": entity, "format": fmt}
            else:
                family = RNG.choice(sorted(LOOKALIKES))
                lang, template = RNG.choice(LOOKALIKE_TEMPLATES)
                value, target, label = RNG.choice(LOOKALIKES[family]), look, {"family": family}
            start = pos + template.index("{v}")
            target.append({"start": start, "end": start + len(value)} | label)
            sentence = template.replace("{v}", value) + " "
            parts.append(sentence)
            pos += len(sentence)
        records.append({"id": f"mixed/{k}", "lang": "mixed", "text": "".join(parts), "pii": pii, "lookalikes": look})
    out = Path(__file__).with_name("labelled.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for r in records:
            for s in r["pii"] + r["lookalikes"]:
                assert r["text"][s["start"] : s["end"]], r
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(records)} records -> {out}")


if __name__ == "__main__":
    main()
