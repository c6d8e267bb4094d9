"""Quality classifier: URL normalization and extraction, the fastText trainer and format, the training-set
builder, evaluation, and the `quality` stage."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from lmpipe.core import schema
from lmpipe.stages.quality import dataset
from lmpipe.stages.quality.evaluate import at_threshold, evaluate, roc_auc
from lmpipe.stages.quality.fasttext_model import TrainConfig, fnv1a, read_sidecar, save_bin, train
from lmpipe.stages.quality.scorer import SHIPPED_MODEL, QualityScorer
from lmpipe.stages.quality.stage import (
    QUALITY_LOW_SCORE,
    QUALITY_NOT_TOP_FRACTION,
    QualityClassifierFilter,
    QualityConfig,
)
from lmpipe.stages.quality.text import fasttext_line
from lmpipe.stages.quality.urls import (
    iter_dump_pages,
    reference_keys,
    url_key,
    urls_from_citations_csv,
    urls_from_wikitext,
)

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "classifier"
SAMPLES = REPO / "samples" / "corpus"

KO_NEWS = (
    "한국은행은 올해 경제성장률 전망치를 2.1%로 하향 조정했다고 밝혔다. 한은은 수출 둔화와 내수 부진이 "
    "겹치면서 하반기 회복세가 예상보다 더딜 것으로 내다봤다. 이창용 총재는 기자간담회에서 물가 안정에 "
    "우선순위를 두겠다고 말했다."
)
KO_REVIEW = "ㅋㅋㅋㅋ 진짜 개노잼 돈아까움 ㅡㅡ 평점 1점도 아깝다"
EN_WIKI = (
    "The Battle of Hastings was fought on 14 October 1066 between the Norman-French army of William, the Duke "
    "of Normandy, and an English army under the Anglo-Saxon King Harold Godwinson, beginning the Norman "
    "Conquest of England. The battle took place approximately 7 mi northwest of Hastings, close to the present-"
    "day town of Battle, East Sussex, and was a decisive Norman victory."
)
EN_BOILERPLATE = (
    "Home | About | Contact\nLogin Register\nCopyright 2023 All rights reserved.\nClick here to subscribe to our "
    "newsletter!!! Best deals cheap prices free shipping BUY NOW\nShare on Facebook Tweet Pin it"
)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# --- URLs -------------------------------------------------------------------------------------------------
def test_url_key_joins_spellings_of_one_page():
    key = "nature.com/articles/nature14539?a=1&b=2"
    assert url_key("https://www.nature.com/articles/nature14539/?b=2&a=1#sec1") == key
    assert url_key("http://WWW.Nature.com:80/articles/nature14539?a=1&b=2&utm_source=twitter&fbclid=x") == key
    assert (
        url_key("https://web.archive.org/web/20190101000000/http://www.nature.com/articles/nature14539?a=1&b=2") == key
    )
    assert url_key("//www.nature.com/articles/nature14539?a=1&b=2") == key
    assert url_key(key) == key  # keys written by `urls` read back as themselves
    # different pages stay different: path case, other query values, other port
    assert url_key("https://nature.com/Articles/nature14539") != url_key("https://nature.com/articles/nature14539")
    assert url_key("https://nature.com/a?id=1") != url_key("https://nature.com/a?id=2")
    assert url_key("https://nature.com:8443/a") == "nature.com:8443/a"


def test_url_key_percent_encoding_idn_and_non_web():
    assert url_key("https://ko.wikipedia.org/wiki/화성") == url_key("https://ko.wikipedia.org/wiki/%ED%99%94%EC%84%B1")
    assert url_key("https://한국.kr/경로").startswith("xn--")
    assert url_key("ftp://ftp.example.org/file") is None
    assert url_key("mailto:someone@example.org") is None
    assert url_key("http://[broken") is None


def test_urls_from_wikitext_refs_templates_and_external_links():
    wikitext = """'''Hastings''' is a town.<ref>{{cite web |url=https://www.bbc.co.uk/news/uk-england-sussex-1 |title=T
|archive-url=https://web.archive.org/web/2020/https://www.bbc.co.uk/news/uk-england-sussex-1 |access-date=2020}}</ref>
It had 90,000 people.<ref name="ons">[http://www.ons.gov.uk/census/2011 Census 2011].</ref><ref name="ons"/>
== External links ==
* [https://www.hastings.gov.uk/ Hastings Borough Council]
* See also http://example.org/page).
"""
    assert urls_from_wikitext(wikitext, refs_only=True) == [
        "https://www.bbc.co.uk/news/uk-england-sussex-1",
        "https://web.archive.org/web/2020/https://www.bbc.co.uk/news/uk-england-sussex-1",
        "http://www.ons.gov.uk/census/2011",
    ]
    everywhere = urls_from_wikitext(wikitext)
    assert "https://www.hastings.gov.uk/" in everywhere and "http://example.org/page" in everywhere


def test_dump_pages_streams_articles_only(tmp_path):
    ns = "http://www.mediawiki.org/xml/export-0.10/"
    xml = f"""<mediawiki xmlns="{ns}"><page><title>Hastings</title><ns>0</ns><revision><text>
A town.&lt;ref&gt;{{{{cite news |url=https://www.theguardian.com/uk/hastings}}}}&lt;/ref&gt;</text></revision></page>
<page><title>Talk:Hastings</title><ns>1</ns><revision><text>[http://spam.example.com x]</text></revision></page>
<page><title>해운대구</title><ns>0</ns><revision><text>부산의 구.&lt;ref&gt;[https://www.haeundae.go.kr/ 해운대구청]&lt;/ref&gt;
</text></revision></page></mediawiki>"""
    path = tmp_path / "kowiki-pages-articles.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(xml)
    pages = list(iter_dump_pages(str(path)))
    assert [title for title, _ in pages] == ["Hastings", "해운대구"]
    keys, stats = reference_keys([str(path)], refs_only=True)
    assert keys == {"theguardian.com/uk/hastings", "haeundae.go.kr"}
    assert stats == {"urls": 2, "not_web_url": 0, "keys": 2}


def test_citations_csv_urls_including_protocol_relative():
    urls = list(urls_from_citations_csv(str(DATA / "wikipedia_citations_sample.csv")))
    assert len(urls) == 10  # 12 citations, 2 of them (books) carry no URL
    assert "//www.ncbi.nlm.nih.gov/pmc/articles/PMC3607698" in urls
    assert url_key(urls[0]).startswith("books.google.co.uk/books?")
    assert "archive.org/stream/bulletinofpaname6329pana" in {url_key(u) for u in urls}  # fragment dropped


# --- text and the fastText model ------------------------------------------------------------------------------
def test_fasttext_line_segments_korean_and_tokenizes_english():
    assert fasttext_line("정부의 발표", None).split() == ["정부", "의", "발표"]
    assert fasttext_line("Hello, World!\nNew  line", None) == "hello , world ! new line"
    assert "__label__" not in fasttext_line("fake __label__hq token", None)
    assert fasttext_line("a" * 50 + " tail", 10) == "a" * 10


def test_fnv1a_signed_bytes():
    # Korean bytes are >= 0x80: fastText sign-extends them (uint32_t(int8_t(c))), plain FNV-1a would not.
    assert fnv1a("</s>") == fnv1a("</s>")
    plain = 2166136261
    for b in "가".encode():
        plain = ((plain ^ b) * 16777619) & 0xFFFFFFFF
    assert fnv1a("가") != plain


def _tiny_corpus() -> tuple[list[str], list[str]]:
    pos = [KO_NEWS, EN_WIKI, KO_NEWS.replace("2.1%", "1.9%"), EN_WIKI.replace("1066", "1067")] * 3
    neg = [KO_REVIEW, EN_BOILERPLATE, KO_REVIEW + " 최악", EN_BOILERPLATE.lower()] * 3
    lines = [fasttext_line(t, None) for t in pos + neg]
    return lines, ["__label__hq"] * len(pos) + ["__label__cc"] * len(neg)


def test_trained_model_round_trips_through_fasttext_binary(tmp_path):
    lines, labels = _tiny_corpus()
    model = train(lines, labels, TrainConfig(dim=8, epoch=5, bucket=1000, min_count=1))
    assert model.losses[-1] < model.losses[0]  # it learns
    path = tmp_path / "model.bin"
    save_bin(model, path)
    import fasttext  # fasttext-predict: the C++ scorer of production

    ft = fasttext.load_model(str(path))
    probe = lines + [fasttext_line("처음 보는 문장입니다 unseen words here", None), ""]
    for line in probe:
        got = dict(zip(*ft.predict(line, k=-1)))
        ours = model.predict_proba(line)
        for label, p in zip(model.label_names, ours):
            # fastText reports exp(log(p + 1e-5)); anything larger means another hashing or format
            assert got[label] == pytest.approx(p + 1e-5, abs=2e-6)


def test_training_refuses_bad_input_and_stops_on_divergence():
    lines, labels = _tiny_corpus()
    with pytest.raises(ValueError, match="two classes"):
        train(lines, ["__label__hq"] * len(lines), TrainConfig())
    with pytest.raises(ValueError, match="__label__"):
        train(lines, ["hq" if y.endswith("hq") else "cc" for y in labels], TrainConfig())
    with pytest.raises(FloatingPointError, match="lower lr"):
        with np.errstate(all="ignore"):
            train(lines, labels, TrainConfig(dim=8, epoch=2, bucket=1000, lr=1e30))


def test_sidecar_hash_is_asserted(tmp_path):
    scorer = QualityScorer()
    assert scorer.header["positive_label"] == "hq"
    bad = tmp_path / "model.bin"
    bad.write_bytes(SHIPPED_MODEL.read_bytes()[:-4] + b"\0\0\0\0")
    (tmp_path / "model.json").write_bytes(SHIPPED_MODEL.with_suffix(".json").read_bytes())
    with pytest.raises(ValueError, match="sha256"):
        read_sidecar(bad)


def test_shipped_model_scores_match_train_time_preparation():
    scorer = QualityScorer()
    for text in (KO_NEWS, EN_WIKI, KO_REVIEW):
        assert scorer.score(text) == scorer.score_line(fasttext_line(text, scorer.header["text"]["max_chars"]))
    assert scorer.score(KO_NEWS) > 0.5 > scorer.score(KO_REVIEW)
    assert scorer.score(EN_WIKI) > 0.5 > scorer.score(EN_BOILERPLATE)


# --- training-set builder -----------------------------------------------------------------------------------
def test_cited_recipe_joins_crawl_by_normalized_url(tmp_path):
    refs = _jsonl(tmp_path / "refs.jsonl", [{"url": "https://www.bbc.co.uk/news/science-1"},
                                            {"url": "http://www.kinu.or.kr/report/2019?id=7"}])  # fmt: skip
    crawl = [
        {"id": "a", "url": "http://bbc.co.uk/news/science-1/?utm_medium=social", "text": EN_WIKI},
        {"id": "b", "url": "https://kinu.or.kr/report/2019?id=7#top", "text": KO_NEWS, "lang": "ko"},
        {"id": "c", "url": "https://shop.example.com/deal", "text": EN_BOILERPLATE},
        {"id": "d", "url": "https://movie.example.kr/review/1", "text": KO_REVIEW, "lang": "ko"},
        {"id": "e", "text": "A page that came without a URL at all, still a random crawl page."},
    ]
    crawl_path = _jsonl(tmp_path / "crawl.jsonl", crawl)
    keys, _ = reference_keys([str(refs)])
    report = dataset.BuildReport("cited")
    examples = dataset.examples_from_citations([str(crawl_path)], keys, report, negatives_per_positive=5)
    assert sorted(e.id.split("/")[-1] for e in examples if e.positive) == ["a", "b"]
    assert sorted(e.id.split("/")[-1] for e in examples if not e.positive) == ["c", "d", "e"]
    assert report.joined == {"cited": 2, "not_cited": 3, "no_url": 1}
    with pytest.raises(ValueError, match="crawl does not contain the cited pages"):
        dataset.examples_from_citations([str(crawl_path)], {"nowhere.org/x"}, dataset.BuildReport("cited"))


def test_dedup_balance_per_language_and_leak_free_split():
    ex = [dataset.Example(f"ko pos {i}", True, "ko", "s", f"kp{i}") for i in range(10)]
    ex += [dataset.Example(f"ko neg {i}", False, "ko", "s", f"kn{i}") for i in range(40)]
    ex += [dataset.Example(f"en pos {i} {j}", True, "en", "s", f"ep{i}#{j}") for i in range(5) for j in range(4)]
    ex += [dataset.Example(f"en neg {i}", False, "en", "s", f"en{i}") for i in range(8)]
    ex += [dataset.Example("KO  POS 0", False, "ko", "s", "dup"), dataset.Example("ja", True, "ja", "s", "ja")]
    report = dataset.BuildReport("corpora")
    kept = dataset.balance(dataset.dedup(ex, report), report, seed=1)
    assert report.duplicates_removed == {"negative": 1}  # "KO  POS 0" is "ko pos 0" folded; the positive stays
    assert report.final == {"ko/positive": 10, "ko/negative": 10, "en/positive": 8, "en/negative": 8}
    assert report.balanced_away["ja/positive"] == 1  # one class only: cannot be learned, left out (counted)
    train_set, test_set = dataset.split(kept, 0.25, seed=1)
    assert len(train_set) + len(test_set) == len(kept)
    doc = lambda e: e.id.split("#")[0]  # noqa: E731
    assert not {doc(e) for e in train_set} & {doc(e) for e in test_set}
    assert {(e.lang, e.positive) for e in test_set} == {("ko", True), ("ko", False), ("en", True), ("en", False)}


def test_chunk_text_splits_at_paragraphs():
    text = "\n\n".join(f"Paragraph {i} " + "word " * 40 for i in range(10))
    pieces = dataset.chunk_text(text, 600)
    assert len(pieces) > 1 and all(len(p) <= 600 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


# --- evaluation ---------------------------------------------------------------------------------------------
def test_metrics():
    y = np.array([True, True, False, False])
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), y) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), y) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), y) == 0.5
    assert roc_auc(np.array([0.9, 0.1]), np.array([True, True])) is None
    row = at_threshold(np.array([0.9, 0.4, 0.6, 0.1]), y, 0.5)
    assert (row["precision"], row["recall"], row["keep_rate"]) == (0.5, 0.5, 0.5)
    m = evaluate([0.9, 0.4, 0.6, 0.1], list(y), ["ko", "en", "ko", "en"])
    assert m["per_language"]["ko"]["roc_auc"] == 1.0 and m["per_language"]["en"]["roc_auc"] == 1.0
    assert [r["threshold"] for r in m["thresholds"]][0] == 0.1


# --- the quality stage ----------------------------------------------------------------------------------------
def _doc(text: str, lang: str, i: int) -> Document:
    return Document(text=text, id=f"t/{i}", metadata={schema.LANG: lang})


def test_filter_scores_every_document_and_names_the_reason():
    f = QualityClassifierFilter(QualityConfig(min_score=0.5))
    docs = [_doc(KO_NEWS, "ko", 0), _doc(KO_REVIEW, "ko", 1), _doc(EN_WIKI, "en", 2), _doc(EN_BOILERPLATE, "en", 3)]
    results = [f.filter(d) for d in docs]
    assert results == [True, (False, QUALITY_LOW_SCORE), True, (False, QUALITY_LOW_SCORE)]
    assert all(0.0 <= d.metadata[schema.QUALITY_SCORE] <= 1.0 for d in docs)
    # per-language threshold and languages not judged
    f = QualityClassifierFilter(QualityConfig(min_score=0.5, min_score_by_lang={"ko": 0.0}, languages=("ko",)))
    assert [f.filter(d) for d in docs] == [True, True, True, True]


def test_top_fraction_per_language_within_a_block():
    f = QualityClassifierFilter(QualityConfig(min_score=None, top_fraction=0.5, block_docs=8))
    assert f.batch_size == 8
    texts = [(KO_NEWS, "ko"), (KO_REVIEW, "ko"), (KO_REVIEW + " 별로", "ko"), (KO_NEWS[:80], "ko"),
             (EN_WIKI, "en"), (EN_BOILERPLATE, "en"), (EN_WIKI[:150], "en")]  # fmt: skip
    docs = [_doc(t, lang, i) for i, (t, lang) in enumerate(texts)]
    results = f.filter_batch(docs)
    kept = {d.id for d, r in zip(docs, results) if r is True}
    assert len([d for d in docs[:4] if d.id in kept]) == 2 and len([d for d in docs[4:] if d.id in kept]) == 2
    assert "t/0" in kept and "t/4" in kept  # the best of each language
    assert all(r in (True, (False, QUALITY_NOT_TOP_FRACTION)) for r in results)
    with pytest.raises(ValueError, match="top_fraction"):
        QualityConfig(top_fraction=1.5)


def test_train_cli_then_quality_stage_end_to_end(tmp_path):
    """Train with the repo's trainer on the bundled samples, then run the stage with that model."""
    from lmpipe.core.runner import InputSpec, Stage, run_stage
    from lmpipe.stages.quality.__main__ import main
    from lmpipe.stages.quality.stage import build_quality

    pos, neg = tmp_path / "pos", tmp_path / "neg"
    pos.mkdir()
    neg.mkdir()
    for name in ("en_wikitext.jsonl.gz", "ko_news_parallel.jsonl.zst"):
        (pos / name).write_bytes((SAMPLES / name).read_bytes())
    (neg / "en_cc_documents.jsonl.gz").write_bytes((SAMPLES / "en_cc_documents.jsonl.gz").read_bytes())
    reviews = pq.read_table(SAMPLES / "ko_nsmc_reviews.parquet").to_pylist()[:600]
    pages = [{"id": f"p{i}", "text": "\n".join(r["text"] for r in reviews[i : i + 6]), "lang": "ko"}
             for i in range(0, 600, 6)]  # fmt: skip
    _jsonl(neg / "ko_nsmc_pages.jsonl", pages)
    model_dir = tmp_path / "model"
    rc = main(["train", "--positive", str(pos), "--negative", str(neg), "--out", str(model_dir),
               "--set", "train.epoch=5", "--set", "train.bucket=5000", "--set", "build.chunk_chars=1500"])  # fmt: skip
    assert rc == 0
    card = (model_dir / "MODEL_CARD.md").read_text()
    metrics = json.loads((model_dir / "metrics.json").read_text())["held_out"]
    assert metrics["roc_auc"] > 0.8 and f"ROC-AUC {metrics['roc_auc']:.3f}" in card
    assert (model_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"

    out = tmp_path / "quality"
    cfg = QualityConfig(model_path=str(model_dir / "model.bin"), min_score=0.5)
    inputs = [
        InputSpec(str(SAMPLES / "ko_news_parallel.jsonl.zst")),
        InputSpec(str(SAMPLES / "en_cc_documents.jsonl.gz")),
    ]
    # the Stage as registered in lmpipe/catalog.py (built here: that module imports every other stage too)
    stage = Stage("quality", "fastText quality classifier", QualityConfig, build_quality)
    stats = run_stage(stage, cfg, inputs, out).stats
    assert stats["docs_in"] == 130 == stats["docs_out"] + stats["docs_excluded"]
    assert set(stats["excluded"]) <= {QUALITY_LOW_SCORE}
    kept = [r for p in out.glob("data/part-*.parquet") for r in pq.read_table(p).to_pylist()]
    assert kept and all(r[schema.QUALITY_SCORE] >= 0.5 for r in kept)
    excluded = [r for p in (out / "excluded").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert all(json.loads(r["metadata_json"])[schema.QUALITY_SCORE] < 0.5 for r in excluded)
