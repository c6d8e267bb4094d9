"""Decontamination benchmark: index build (time, memory) over every benchmark in the shared folder, scan speed
(MB/s, one core, every window) on real Korean and English text, side by side with datatrove's
NGramsDecontFilter at 50-grams fed with index files we build (its own indexer needs lighteval + the HF hub).

    .venv/bin/python benches/decont.py [--benchmarks /work/shared/data/benchmarks] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from datatrove.data import Document

from lmpipe.stages.decont import normalize as norm
from lmpipe.stages.decont.benchmarks import discover, load_examples
from lmpipe.stages.decont.index import IndexParams, build_index
from lmpipe.stages.decont.scan import Scanner
from lmpipe.stages.decont.stage import DecontConfig, DecontFilter

DATA = Path("/work/shared/data")


def corpus() -> dict[str, list[str]]:
    def lines(p):
        return [ln for ln in gzip.open(p, "rt", encoding="utf-8").read().split("\n") if ln.strip()]

    en = [gzip.open(p, "rt", encoding="utf-8").read() for p in sorted((DATA / "en/gutenberg").glob("*.gz"))]
    en_docs = [t[i : i + 8000] for t in en for i in range(0, len(t), 8000)]
    wiki = gzip.open(DATA / "en/wikitext-2_test.txt.gz", "rt", encoding="utf-8").read().split(" \n = ")
    nsmc = [json.loads(x)["text"] for x in lines(DATA / "ko/nsmc_reviews_sample.jsonl.gz")[:60000]]
    news = lines(DATA / "ko/soynlp_news_sample.txt.gz")
    return {"en gutenberg (8 KB docs)": en_docs, "en wikitext": wiki, "ko news": news, "ko nsmc reviews": nsmc}


def mb(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1e6


def ours(step: DecontFilter, texts: list[str], repeat: int) -> tuple[float, int]:
    """The stage's own filter step (its character batching and stats included), best of `repeat`."""
    best, hits = float("inf"), 0
    for _ in range(repeat):
        docs = [Document(text=x, id=str(i)) for i, x in enumerate(texts)]
        t = time.perf_counter()
        hits = len(docs) - sum(1 for _ in step.run(iter(docs)))
        best = min(best, time.perf_counter() - t)
    return mb(texts) / best, hits


def datatrove_filter(specs, tmp: Path):
    """datatrove's filter at n_grams=50 over index files built here with its own normalization and hash."""
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.text import ngrams, simplify_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    cfg = NGramsDecontConfig(n_grams=50, find_query_ngrams=True)
    tok, hf = load_word_tokenizer("en"), create_hash_func(cfg.hash_config)  # ko needs kiwipiepy: not installed
    t = time.perf_counter()
    by_task: dict[str, set] = {}
    for s in specs:
        for e in load_examples(s):
            words = tok.word_tokenize(simplify_text(e.text, cfg.norm_config))
            by_task.setdefault(e.benchmark, set()).update(hf(" ".join(g)) for g in ngrams(words, cfg.n_grams))
    for task, hashes in by_task.items():
        np.array(sorted(hashes), dtype=cfg.hash_config.np_descr).tofile(tmp / f"{task}.index.hashes")
    build = time.perf_counter() - t
    f = NGramsDecontFilter(str(tmp), config=cfg)
    f.load_index_hashes()
    return f, build, sum(len(h) for h in by_task.values())


def planted_sampling(index, specs, repeat_seed: int = 0) -> tuple[int, int, int]:
    rng = random.Random(repeat_seed)
    host = gzip.open(DATA / "en/gutenberg/pg1342.txt.gz", "rt", encoding="utf-8").read()
    exs = [e for s in specs for e in load_examples(s) if len(norm.normalize(e.text)) >= 120]
    docs = []
    for e in rng.sample(exs, 50):
        a = rng.randrange(len(host) - 20000)
        words = e.text.split()
        docs.append(
            host[a : a + 10000] + " " + " ".join(words[: max(len(words) // 2, 12)]) + " " + host[a + 10000 : a + 20000]
        )
    full = Scanner(index).scan(docs)
    sampled = Scanner(index, sample_windows=10).scan(docs, [f"p{i}" for i in range(len(docs))])
    return len(docs), len(full), len(sampled)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--benchmarks", default=str(DATA / "benchmarks"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-datatrove", action="store_true")
    args = ap.parse_args()
    specs = discover(args.benchmarks)
    t = time.perf_counter()
    norm.table()
    print(f"normalization table: {time.perf_counter() - t:.1f}s")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    index = build_index(specs, IndexParams())
    build = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"ours: index of {len(index.examples):,} examples, {len(index.keys):,} keys in {build:.1f}s; "
        f"index {index.nbytes / 2**20:.0f} MiB, peak RSS +{rss1 - rss0:.0f} MiB while building"
    )
    for name, c in index.counts.items():
        print(
            f"  {name}: {c.examples} examples, {c.indexed} windowed, {c.indexed_whole} whole, {c.too_short} too short"
        )
    docs = corpus()
    step = DecontFilter(DecontConfig(benchmarks=args.benchmarks))
    step._scanner = Scanner(index)  # the index built above (the stage would load it from its cache file)
    dt = None
    if not args.skip_datatrove:
        tmp = Path(tempfile.mkdtemp())
        dt, dt_build, dt_keys = datatrove_filter(specs, tmp)
        print(f"datatrove: {dt_keys:,} 50-gram hashes built in {dt_build:.1f}s")
    print("| corpus | MB | ours MB/s | ours hits | datatrove MB/s | datatrove hits |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, texts in docs.items():
        speed, hits = ours(step, texts, args.repeat)
        row = f"| {name} | {mb(texts):.1f} | {speed:.1f} | {hits} |"
        if dt is not None:
            sample = texts[: max(len(texts) // 4, 1)]  # datatrove is slow: a quarter of the corpus
            t = time.perf_counter()
            dhits = sum(not dt.filter(__import__("datatrove").data.Document(x, str(i))) for i, x in enumerate(sample))
            row += f" {mb(sample) / (time.perf_counter() - t):.2f} | {dhits} (of {len(sample)} docs) |"
        print(row)
    n, full, sampled = planted_sampling(index, specs)
    print(
        f"planted (half an example in a 20 KB document): full scan finds {full}/{n}, 10 sampled windows {sampled}/{n}"
    )


if __name__ == "__main__":
    main()
