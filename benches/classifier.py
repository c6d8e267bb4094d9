"""Quality classifier scoring speed: documents per second on one core, real pages of mixed length.

    .venv/bin/python benches/classifier.py [--data ../shared/data] [--model lmpipe/stages/quality/assets/model.bin]

Pages: Korean web pages (web/html/korean_pages, extracted with resiliparse), English pages of trafilatura's
evaluation set (extracted the same way), Naver movie reviews (short), Korean-English news (grouped), WikiText
articles (long). One process, one thread (fastText's predict is single-threaded); each pass scores every page
once with `QualityScorer.score` (MeCab/tokenizing + fastText), the time of preparation and of prediction also
reported apart. Best of --repeat passes.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmpipe.stages.quality.scorer import QualityScorer  # noqa: E402
from lmpipe.stages.quality.text import fasttext_line, has_hangul  # noqa: E402


def _jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [orjson.loads(line) for line in f]


def load_pages(data: Path) -> list[str]:
    from resiliparse.extract.html2text import extract_plain_text

    rng = random.Random(1)
    pages = []
    for row in _jsonl(data / "web/html/korean_pages.jsonl.gz"):
        pages.append(extract_plain_text(row["html"], main_content=True))
    for row in _jsonl(data / "web/html/trafilatura_eval_en.jsonl.gz"):
        pages.append(extract_plain_text(row["html"], main_content=True))
    with gzip.open(data / "ko/nsmc_reviews_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        pages += [orjson.loads(line)["text"] for _, line in zip(range(300), f)]
    pairs = _jsonl(data / "ko/korean_english_news_parallel.jsonl.gz")
    for side in ("ko", "en"):
        pages += ["\n".join(p[side] for p in pairs[i : i + 10]) for i in range(0, 1000, 10)]
    with gzip.open(data / "en/wikitext-2_test.txt.gz", "rt", encoding="utf-8") as f:
        pages += [a for a in f.read().split("\n = ") if len(a) > 500][:60]
    pages = [p for p in pages if p.strip()]
    rng.shuffle(pages)
    return pages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pages = load_pages(Path(args.data))
    lengths = sorted(len(p) for p in pages)
    ko = sum(has_hangul(p) for p in pages)
    print(f"{len(pages)} pages ({ko} with Hangul), chars: median {statistics.median(lengths):,.0f}, "
          f"p90 {lengths[int(0.9 * len(lengths))]:,}, max {lengths[-1]:,}, total {sum(lengths):,}")  # fmt: skip
    scorer = QualityScorer(args.model)
    scorer.score("warm up 워밍업")  # load model and MeCab outside the timing
    max_chars = scorer.header["text"]["max_chars"]
    best = {"total": float("inf"), "cpu": float("inf"), "prepare": float("inf"), "predict": float("inf")}
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        for p in pages:
            scorer.score(p)
        best["total"] = min(best["total"], time.perf_counter() - t0)
        # CPU seconds of this process: on a shared, overloaded machine the honest "per core" figure
        best["cpu"] = min(best["cpu"], time.process_time() - c0)
        t0 = time.perf_counter()
        lines = [fasttext_line(p, max_chars) for p in pages]
        best["prepare"] = min(best["prepare"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for line in lines:
            scorer.score_line(line)
        best["predict"] = min(best["predict"], time.perf_counter() - t0)
    for name in ("ko", "other"):
        subset = [p for p in pages if has_hangul(p) == (name == "ko")]
        c0 = time.process_time()
        for p in subset:
            scorer.score(p)
        print(f"  {name}: {len(subset)} pages, {len(subset) / (time.process_time() - c0):,.0f} docs per CPU-second")
    n = len(pages)
    print(f"score (prepare + predict): {n / best['cpu']:,.0f} docs per CPU-second, {n / best['total']:,.0f} docs/s wall ({sum(lengths) / best['total'] / 1e6:.2f} "
          f"Mchars/s); prepare alone {n / best['prepare']:,.0f} docs/s, predict alone {n / best['predict']:,.0f} "
          f"docs/s; max_chars={max_chars}; load {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
