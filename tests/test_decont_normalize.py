"""Normalization for decontamination: the table path must equal the reference `normalize` everywhere."""

import random
import unicodedata

import numpy as np
import pytest

from lmpipe.core.readers import RecordKeys, Skip, iter_file
from lmpipe.stages.decont import normalize as norm


def test_reference_rule_korean_and_english():
    assert norm.normalize("The Quick, BROWN fox!  (2024)") == "thequickbrownfox2024"
    assert (
        norm.normalize("대한민국은 민주공화국이다.\n대한민국의 주권은 국민에게 있고")
        == "대한민국은민주공화국이다대한민국의주권은국민에게있고"
    )
    assert norm.normalize("ＡＢＣ１２３") == "abc123"  # full-width forms (NFKC)
    assert norm.normalize("①㈜") == "1주"
    assert norm.normalize(unicodedata.normalize("NFD", "한국어")) == "한국어"  # decomposed jamo compose back
    assert norm.normalize("snake_case—dash") == "snakecasedash"  # "_" is no letter


def _agree(text: str) -> bool:
    return np.array_equal(norm.normalize_codes(text), norm.codepoints(norm.normalize(text)))


@pytest.mark.parametrize("name", ["en_wikitext.jsonl.gz", "ko_news_parallel.jsonl.zst", "ko_nsmc_reviews.parquet"])
def test_table_path_equals_reference_on_real_text(name):
    docs = [d for d in iter_file(f"samples/corpus/{name}", RecordKeys()) if not isinstance(d, Skip)]
    assert docs
    assert all(_agree(d.text) for d in docs[:500])


def test_table_path_equals_reference_on_odd_code_points():
    rng = random.Random(7)
    pools = [
        (0, 0x110000),
        (0, 0x80),
        (0xAC00, 0xD7A4),
        (0x3130, 0x3190),
        (0x1100, 0x1200),
        (0x300, 0x370),
        (0x370, 0x400),
        (0xFF00, 0xFFF0),
        (0x3200, 0x3400),
    ]
    for _ in range(5000):
        text = "".join(chr(rng.randrange(*rng.choice(pools))) for _ in range(rng.randrange(1, 16)))
        text = text.encode("utf-8", "replace").decode("utf-8")
        assert _agree(text), ascii(text)


def test_greek_final_sigma_takes_the_exact_path():
    assert _agree("ΟΔΟΣ ΣΟΦΙΑΣ")
    assert norm.normalize("ΟΔΟΣ") == "οδος"


def test_offsets_point_into_the_original_text():
    text = "Ｈｅｌｌｏ, 세계!"
    codes, offsets = norm.normalize_with_offsets(text)
    assert "".join(map(chr, codes)) == "hello세계"
    assert [text[i] for i in offsets] == list("Ｈｅｌｌｏ세계")
