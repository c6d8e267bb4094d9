"""Charset decoding of Korean pages: header, meta, detection; mislabelled pages; no silent mojibake."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmpipe.core.charset import UndecodableError, decode_html, meta_charset, normalize_charset

DATA = Path(__file__).parent / "data" / "web"
REPO = Path(__file__).resolve().parent.parent
WIKI_SENTENCE = "역사적 예수 연구자들은 복음서나 사도들의 서신서 속의 교리적 예수가 아닌"


def constitution(chars: int = 3000) -> str:
    return (REPO / "samples/corpus/ko_constitution.txt").read_text(encoding="utf-8").replace("\r\n", "\n")[:chars]


def korean_html(meta: str | None, body: str) -> str:
    meta_tag = f'<meta http-equiv="Content-Type" content="text/html; charset={meta}">' if meta else ""
    return f"<html><head>{meta_tag}<title>대한민국헌법</title></head><body><p>{body}</p></body></html>"


def test_real_euc_kr_without_declaration_is_detected():
    decoded = decode_html((DATA / "euc-kr_ude_euc1.txt").read_bytes())
    assert decoded.charset == "cp949"
    assert WIKI_SENTENCE in decoded.text


def test_real_iso_2022_kr_is_not_taken_for_ascii():
    decoded = decode_html((DATA / "iso-2022-kr_ude_iso1.txt").read_bytes())
    assert decoded.charset == "iso2022_kr"
    assert WIKI_SENTENCE in decoded.text


@pytest.mark.parametrize("label", ["euc-kr", "EUC-KR", "ks_c_5601-1987", "windows-949", "cp949"])
def test_declared_korean_labels_decode_as_cp949(label):
    text = constitution() + " 똠방각하 햏"  # 똠, 햏: in CP949 but not in EUC-KR (KS X 1001)
    raw = korean_html(label, text).encode("cp949")
    decoded = decode_html(raw)
    assert decoded.charset == "cp949"
    assert text in decoded.text
    assert decode_html(raw, http_charset=label).text == decoded.text  # same from the HTTP header


def test_http_header_wins_over_meta():
    text = constitution(500)
    raw = korean_html("iso-8859-1", text).encode("cp949")
    assert decode_html(raw, http_charset="euc-kr").charset == "cp949"


def test_page_declared_euc_kr_but_really_utf8_is_read_as_utf8():
    text = constitution()
    decoded = decode_html(korean_html("euc-kr", text).encode("utf-8"), http_charset="euc-kr")
    assert decoded.charset == "utf-8"
    assert decoded.declared == "euc-kr"
    assert text in decoded.text


def test_korean_bytes_declared_latin1_are_not_decoded_as_mojibake():
    text = constitution()
    decoded = decode_html(korean_html("iso-8859-1", text).encode("cp949"))
    assert decoded.charset == "cp949"
    assert text in decoded.text


def test_johab_detected():
    text = constitution()
    decoded = decode_html(text.encode("johab"))
    assert decoded.charset == "johab"
    assert decoded.text == text


def test_a_few_broken_bytes_are_replaced_and_counted():
    raw = korean_html("euc-kr", constitution()).encode("cp949")
    cut = raw.index("대한민국은".encode("cp949"))
    damaged = raw[:cut] + b"\xff\xff" + raw[cut:]  # 0xFF is no CP949 lead byte
    decoded = decode_html(damaged)
    assert decoded.replaced >= 1
    assert "대한민국은 민주공화국이다" in decoded.text


def test_widespread_damage_is_an_error_not_mojibake():
    # Korean text with every 4th byte corrupted: no charset decodes it without widespread damage.
    raw = bytearray(constitution().encode("cp949"))
    raw[3::4] = b"\xff" * len(raw[3::4])
    with pytest.raises(UndecodableError):
        decode_html(bytes(raw), http_charset="euc-kr")


def test_meta_charset_forms():
    assert meta_charset(b'<html><head><meta charset="euc-kr">') == "euc-kr"
    assert meta_charset(b"<meta http-equiv=Content-Type content='text/html; charset=ks_c_5601-1987'>") == (
        "ks_c_5601-1987"
    )
    assert meta_charset(b"<html><body>charset=utf-8 in text</body>") is None
    assert normalize_charset("no-such-charset") is None
