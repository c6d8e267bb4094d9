"""The small model shipped in lmpipe/stages/quality/assets/: explicit-corpora proxy of the LLaMA recipe.

No crawl of the pages Wikipedia cites is at hand (the citation extract has URLs only), so positives are
reference-style text itself and negatives are raw web and user text, all from the shared data directory and
all under terms that allow redistributing a model trained on them (see assets/SOURCES.md):

    positives  en: WikiText-2 test+valid articles (Wikipedia Good/Featured, CC BY-SA 3.0), English side of the
                   Korean-English news corpus (CC BY-SA 3.0)
               ko: Korean side of that news corpus (CC BY-SA 3.0), National Assembly bills and the Constitution
                   (public documents, KOGL)
    negatives  en: Common Crawl documents from dolma's test data (Apache-2.0; CC ToU), pages of dolma's wget
                   WARC crawl (Apache-2.0) extracted with resiliparse
               ko: Naver movie reviews (NSMC, CC0) and Naver news comments (korean-hate-speech, CC BY-SA 4.0),
                   grouped into pseudo-pages of 1-30 posts, the way they appear on a review or comment page
"""

from __future__ import annotations

import gzip
import random
import re
import tempfile
from pathlib import Path

import orjson

from lmpipe.stages.quality import dataset
from lmpipe.stages.quality.train import configs_from_overrides, run_training

DESCRIPTION = (
    "Explicit-corpora proxy of LLaMA's cited-by-Wikipedia classifier: no crawl of the cited pages is available "
    "offline, so positives are reference-style text (English Wikipedia Good/Featured articles from WikiText-2, "
    "Korean/English news from the Korean-English parallel news corpus, Korean bills and the Constitution) and "
    "negatives are raw web and user-generated text (Common Crawl documents and a wget crawl from dolma's test "
    "data; Naver movie reviews (NSMC) and Naver news comments grouped into pseudo-pages). All inputs allow "
    "redistributing a model trained on them (CC BY-SA 3.0/4.0, CC0, Apache-2.0, public documents); see "
    "SOURCES.md beside this card. Long documents were cut into pieces of about 2,000 characters."
)
LIMITATIONS = (
    "Tiny training set (hundreds of examples per language) from few sources: the model separates edited "
    "prose (encyclopedia, news, legal) from web boilerplate, reviews and comments; it has not seen the "
    "cited pages LLaMA used, and English negatives come from few sites. Its held-out metrics are measured on "
    "the same sources, so they overstate accuracy on a real crawl. Use it to run the pipeline offline and as "
    "a baseline; train your own with `python -m lmpipe.stages.quality train` on your crawl. Languages other "
    "than Korean and English were never seen."
)


def _wikitext_articles(path: Path) -> list[str]:
    """WikiText-2 articles (split at ` = Title = ` lines), its tokenization undone (` @-@ `, ` , `, `<unk>`)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        text = f.read()
    articles = re.split(r"\n (?== [^=])", text)
    out = []
    for art in articles:
        art = re.sub(r" @(.)@ ", r"\1", art).replace("<unk>", "")
        art = re.sub(r"^ (=+) (.*?) \1 $", r"\2", art, flags=re.MULTILINE)  # headings -> plain title lines
        art = re.sub(r" ([.,;:!?)\]'])", r"\1", art).replace("( ", "(").replace(" n't", "n't")
        art = re.sub(r"[ \t]+", " ", art).strip()
        if len(art) > 200:
            out.append(art)
    return out


def _groups(texts: list[str], rng: random.Random, max_size: int) -> list[str]:
    out, i = [], 0
    while i < len(texts):
        n = rng.randint(1, max_size)
        out.append("\n".join(texts[i : i + n]))
        i += n
    return out


def _write(path: Path, docs: list[tuple[str, str]], source: str, lang: str) -> None:
    with open(path, "wb") as f:
        for i, (doc_id, text) in enumerate(docs):
            f.write(orjson.dumps({"id": doc_id or str(i), "text": text, "source": source, "lang": lang}) + b"\n")


def prepare_corpora(data: Path, work: Path, seed: int = 1) -> tuple[Path, Path]:
    rng = random.Random(seed)
    pos, neg = work / "positive", work / "negative"
    pos.mkdir(parents=True, exist_ok=True)
    neg.mkdir(parents=True, exist_ok=True)
    # --- positives
    wiki = _wikitext_articles(data / "en/wikitext-2_test.txt.gz") + _wikitext_articles(
        data / "en/wikitext-2_valid.txt.gz"
    )
    _write(pos / "en_wikitext.jsonl", [(f"wt/{i}", t) for i, t in enumerate(wiki)], "wikitext2", "en")
    with gzip.open(data / "ko/korean_english_news_parallel.jsonl.gz", "rt", encoding="utf-8") as f:
        pairs = [orjson.loads(line) for line in f]
    for side in ("ko", "en"):
        grouped = _groups([p[side] for p in pairs], random.Random(seed), 15)
        _write(pos / f"{side}_news.jsonl", [(f"news-{side}/{i}", t) for i, t in enumerate(grouped)], "kenews", side)
    with gzip.open(data / "ko/konlpy_kobill.jsonl.gz", "rt", encoding="utf-8") as f:
        bills = [(r["id"], r["text"]) for r in map(orjson.loads, f)]
    law = (data / "ko/konlpy_kolaw_constitution.txt").read_text(encoding="utf-8")
    _write(pos / "ko_public.jsonl", bills + [("constitution", law)], "ko_public_documents", "ko")
    # --- negatives
    docs = []
    for name in ("en/dolma_cc_documents_sample.jsonl.gz", "en/dolma_ccnet_en_head_sample.jsonl.gz"):
        with gzip.open(data / name, "rt", encoding="utf-8") as f:
            docs += [(r["id"], r["text"]) for r in map(orjson.loads, f)]
    _write(neg / "en_dolma_cc.jsonl", docs, "dolma_cc", "en")
    from lmpipe.core.readers import Skip
    from lmpipe.core.warc import iter_warc_file
    from lmpipe.stages.ingest.extract import get_extractor

    extract = get_extractor("resiliparse")
    pages = []
    for name in ("web/warc/dolma-sample-0000.warc.gz", "web/warc/dolma-sample-0001.warc.gz"):
        for item in iter_warc_file(str(data / name), "dolma_warc"):
            if not isinstance(item, Skip):
                text = extract(item.text)
                if len(text.strip()) > 200:
                    pages.append((item.id, text))
    _write(neg / "en_dolma_warc.jsonl", pages, "dolma_warc", "en")
    with gzip.open(data / "ko/nsmc_reviews_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        reviews = [orjson.loads(line)["text"] for _, line in zip(range(20_000), f)]
    grouped = _groups(reviews, rng, 30)
    _write(neg / "ko_nsmc.jsonl", [(f"nsmc-page/{i}", t) for i, t in enumerate(grouped)], "nsmc", "ko")
    with gzip.open(data / "ko/korean_hate_speech/unlabeled_comments_5.txt.gz", "rt", encoding="utf-8") as f:
        comments = [line.strip() for _, line in zip(range(20_000), f) if line.strip()]
    grouped = _groups(comments, rng, 30)
    _write(neg / "ko_comments.jsonl", [(f"khs-page/{i}", t) for i, t in enumerate(grouped)], "news_comments", "ko")
    return pos, neg


def build_shipped(data_dir: str, out_dir: str, overrides: list[str]) -> dict:
    train_cfg, build_cfg = configs_from_overrides(
        ["build.chunk_chars=2000", "train.dim=16", "train.bucket=20000", *overrides]
    )
    with tempfile.TemporaryDirectory() as tmp:
        pos, neg = prepare_corpora(Path(data_dir), Path(tmp), build_cfg.seed)
        report = dataset.BuildReport(recipe="corpora (explicit-corpora proxy of the cited-by-Wikipedia recipe)")
        examples = dataset.examples_from_corpora([str(pos)], [str(neg)], report, build_cfg.chunk_chars)
        return run_training(examples, report, out_dir, train_cfg, build_cfg, DESCRIPTION, LIMITATIONS)
