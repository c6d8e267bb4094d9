"""Tokenizer bench: build the training and held-out sets from the shared data, train through the pipeline, report.

    .venv/bin/python benches/tokenizer_bench.py all --shared ../shared/data --work /tmp/tokbench

runs, in order (each step is also a subcommand):
  prepare  shared corpora -> WORK/train/*.jsonl and WORK/heldout/*.jsonl (id, text, source, lang)
  ingest   `python -m lmpipe run ingest --input WORK/train --output WORK/ingest` (Parquet shards)
  train    `python -m lmpipe.tokenizer train --input WORK/ingest --output lmpipe/tokenizer/assets/ko-en-102k` (timed)
  curve    102,400-token tokenizers on growing caps of the same sample -> held-out tokens per word
  report   `python -m lmpipe.tokenizer report` with every reference in SHARED/tokenizers -> docs/tokenizer_report/
  encode-speed  (not in `all`) encoding MB/s of the committed tokenizer, portable and with MeCab

Held-out text is never in the training set: the test split of the Korean-English news pairs (both sides), the
KorQuAD paragraphs (Korean Wikipedia), Sherlock Holmes (PG #1661) and HumanEval (code). Benchmarks are not
trained on either (decontamination targets). Everything else that is Korean or English prose is, except
trafilatura's cache pages (mostly German).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
# This file is benches/tokenizer_bench.py: without this, `import tokenizer` would import the bench itself.
sys.path.insert(0, str(REPO))
ASSET = REPO / "lmpipe" / "tokenizer" / "assets" / "ko-en-102k"
REPORT = REPO / "docs" / "tokenizer_report"
PY = sys.executable

# (file under SHARED, reader, source, license as SOURCES.md states it)
TRAIN_SOURCES = [
    ("ko/nsmc_reviews_sample.jsonl.gz", "jsonl", "nsmc", "CC0 1.0"),
    ("ko/korean_hate_speech/unlabeled_comments_5.txt.gz", "lines", "khs_unlabeled", "CC BY-SA 4.0"),
    ("ko/korean_hate_speech/labeled_train.tsv.gz", "tsv_comments", "khs_train", "CC BY-SA 4.0"),
    ("ko/korean_hate_speech/labeled_dev.tsv.gz", "tsv_comments", "khs_dev", "CC BY-SA 4.0"),
    ("ko/korean_hate_speech/test_no_label.tsv.gz", "tsv_comments", "khs_test", "CC BY-SA 4.0"),
    ("ko/korean_hate_speech/train.news_title.txt.gz", "lines", "khs_titles", "CC BY-SA 4.0"),
    ("ko/soynlp_news_sample.txt.gz", "lines", "soynlp_news", "news text, internal use only"),
    ("ko/konlpy_kobill.jsonl.gz", "jsonl", "konlpy_kobill", "public records"),
    ("ko/konlpy_kolaw_constitution.txt", "whole", "konlpy_kolaw", "KOGL (statute)"),
    ("ko/korean_english_news_parallel.jsonl.gz", "parallel_dev", "kenews", "CC BY-SA 3.0"),
    ("web/html/korean_pages.jsonl.gz", "html", "ko_web", "pages (c) their authors, internal use only"),
    ("en/gutenberg/pg11.txt.gz", "whole", "gutenberg", "public domain (US)"),
    ("en/gutenberg/pg1342.txt.gz", "whole", "gutenberg", "public domain (US)"),
    ("en/gutenberg/pg2701.txt.gz", "whole", "gutenberg", "public domain (US)"),
    ("en/gutenberg/pg84.txt.gz", "whole", "gutenberg", "public domain (US)"),
    ("en/wikitext-2_test.txt.gz", "wikitext", "wikitext2", "CC BY-SA 3.0"),
    ("en/wikitext-2_valid.txt.gz", "wikitext", "wikitext2", "CC BY-SA 3.0"),
    ("en/ag_news_test.csv.gz", "agnews", "ag_news", "non-commercial, internal use"),
    ("en/dolma_cc_documents_sample.jsonl.gz", "jsonl", "dolma_cc", "Apache-2.0 / CC ToU"),
    ("en/dolma_ccnet_en_head_sample.jsonl.gz", "jsonl", "dolma_ccnet", "Apache-2.0 / CC ToU"),
    ("web/html/readability_test_pages.jsonl.gz", "html", "readability", "Apache-2.0; third-party pages"),
    ("web/html/trafilatura_eval_en.jsonl.gz", "html", "trafilatura_eval", "Apache-2.0; third-party pages"),
]
HELDOUT = {
    "ko-news": ("ko/korean_english_news_parallel.jsonl.gz", "parallel_test_ko"),
    "ko-wiki": ("ko/korquad_v1_dev_wiki_paragraphs.jsonl.gz", "jsonl"),
    "en-news": ("ko/korean_english_news_parallel.jsonl.gz", "parallel_test_en"),
    "en-book": ("en/gutenberg/pg1661.txt.gz", "whole"),
    "code-python": ("benchmarks/HumanEval.jsonl.gz", "humaneval"),
}
CURVE_CAPS = [300_000, 1_000_000, 3_000_000, None]  # characters per language; None: everything


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parallel(path: Path, split: str, side: str):
    """Sentence pairs of one split, 10 consecutive sentences per document (as in samples/)."""
    rows = [r for r in map(orjson.loads, _open(path)) if r["split"] == split]
    for i in range(0, len(rows), 10):
        yield f"{split}-{side}/{i // 10}", "\n".join(r[side] for r in rows[i : i + 10])


def _html(path: Path):
    import trafilatura  # installed for the web stage; extraction quality is that stage's concern

    for row in map(orjson.loads, _open(path)):
        html = row.get("html") or row.get("source_html")
        text = trafilatura.extract(html, include_comments=False) if html else None
        if text:
            yield row["id"], text


def read_source(path: Path, how: str):
    """(id, text) of the documents of one shared file."""
    if how == "jsonl":
        for i, row in enumerate(map(orjson.loads, _open(path))):
            yield str(row.get("id", i)), row["text"]
    elif how == "lines":
        for i, line in enumerate(_open(path)):
            if line.strip():
                yield str(i), line.rstrip("\n")
    elif how == "tsv_comments":
        for i, row in enumerate(csv.DictReader(_open(path), delimiter="\t")):
            yield str(i), row["comments"]
    elif how == "whole":
        with _open(path) as f:
            yield path.name, f.read()
    elif how == "wikitext":
        text = _open(path).read()
        articles = re.split(r"\n(?= = [^=].* = \n)", text)
        for i, article in enumerate(articles):
            if article.strip():
                yield str(i), article.strip("\n") + "\n"
    elif how == "agnews":
        for i, row in enumerate(csv.DictReader(_open(path))):
            yield str(i), f"{row['title']}\n{row['description']}"
    elif how == "parallel_dev":
        yield from _parallel(path, "dev", "ko")
        yield from _parallel(path, "dev", "en")
    elif how == "parallel_test_ko":
        yield from _parallel(path, "test", "ko")
    elif how == "parallel_test_en":
        yield from _parallel(path, "test", "en")
    elif how == "html":
        yield from _html(path)
    elif how == "humaneval":
        for row in map(orjson.loads, _open(path)):
            yield row["task_id"], row["prompt"] + row["canonical_solution"] + "\n\n" + row["test"]
    else:
        raise ValueError(how)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(shared: Path, work: Path) -> None:
    from lmpipe.tokenizer.train import document_language

    (work / "train").mkdir(parents=True, exist_ok=True)
    (work / "heldout").mkdir(parents=True, exist_ok=True)
    sources = []
    for rel, how, source, license_ in TRAIN_SOURCES:
        path = shared / rel
        out = work / "train" / (rel.replace("/", "__").split(".")[0] + ".jsonl")
        langs: dict[str, int] = {}
        with open(out, "wb") as f:
            for doc_id, text in read_source(path, how):
                lang = document_language(text, None)
                if lang is None:
                    continue
                langs[lang] = langs.get(lang, 0) + 1
                f.write(orjson.dumps({"id": doc_id, "text": text, "source": source, "lang": lang}) + b"\n")
        sources.append({"file": rel, "sha256": _sha256(path), "license": license_, "documents": langs})
        print(f"train   {rel}: {langs}", flush=True)
    (work / "train_sources.json").write_text(json.dumps(sources, indent=1))
    for label, (rel, how) in HELDOUT.items():
        with open(work / "heldout" / f"{label}.jsonl", "wb") as f:
            n = 0
            for doc_id, text in read_source(shared / rel, how):
                f.write(orjson.dumps({"id": doc_id, "text": text}) + b"\n")
                n += 1
        print(f"heldout {label}: {n} docs from {rel}", flush=True)


def _run(cmd: list[str]) -> float:
    print("$", " ".join(cmd), flush=True)
    started = time.monotonic()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.monotonic() - started


def ingest(work: Path) -> None:
    _run(
        [
            PY,
            "-m",
            "lmpipe",
            "run",
            "ingest",
            "--input",
            str(work / "train"),
            "--output",
            str(work / "ingest"),
            "--workers",
            "2",
            "--overwrite",
        ]
    )


def train(work: Path, output: Path = ASSET, extra: list[str] = ()) -> dict:
    _run([PY, "-m", "lmpipe.tokenizer", "train", "--input", str(work / "ingest"), "--output", str(output), *extra])
    sources = json.loads((work / "train_sources.json").read_text())
    manifest_path = output / "data_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    # The Parquet shards live in a scratch folder: name them relative to it, and record the shared files behind.
    for entry in manifest["files"]:
        entry["path"] = os.path.relpath(entry["path"], work)
    manifest["inputs"] = [os.path.relpath(p, work) for p in manifest["inputs"]]
    manifest["sources"] = sources
    manifest["built_by"] = "benches/tokenizer_bench.py (prepare -> pipeline ingest -> tokenizer train)"
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return json.loads((output / "training_config.json").read_text())["stats"]


def heldout_specs(work: Path) -> list[str]:
    return [f"{label}={work / 'heldout' / f'{label}.jsonl'}" for label in HELDOUT]


def curve(work: Path) -> None:
    """Held-out tokens per word of 102,400-token tokenizers trained on growing samples (the largest sample is the
    committed tokenizer, not trained again), and of a plain byte-level BPE on the full sample (what MeCab buys)."""
    from lmpipe.tokenizer.load import ours
    from lmpipe.tokenizer.report import measure, read_text_set

    texts = [read_text_set(s) for s in heldout_specs(work)]
    REPORT.mkdir(parents=True, exist_ok=True)
    runs = [(cap, True, work / f"curve-{cap}") for cap in CURVE_CAPS if cap is not None]
    runs += [(None, True, ASSET), (None, False, work / "curve-all-no-mecab")]
    rows = []
    for cap, mecab, out in runs:
        if out == ASSET:
            stats = json.loads((ASSET / "training_config.json").read_text())["stats"]
        else:
            extra = ["--allow-smaller-vocab"] + ([] if cap is None else ["--max-chars-per-lang", str(cap)])
            extra += [] if mecab else ["--no-mecab"]
            stats = train(work, out, extra)
        for row in measure([ours(out, mecab=False, name=f"cap-{cap or 'all'}")], texts):
            rows.append(
                {
                    "cap_chars_per_lang": cap,
                    "mecab_at_training": mecab,
                    "vocab_size": stats["vocab_size"],
                    "training_bytes": stats["training_bytes"],
                    "train_seconds": stats["train_seconds"],
                    "peak_rss_mb": stats["peak_rss_mb"],
                    "text": row.text,
                    "tokens_per_word": round(row.tokens_per_word, 4),
                }
            )
        (REPORT / "curve.json").write_text(json.dumps(rows, indent=1) + "\n")  # partial results survive a stop
    _curve_chart(rows, REPORT / "curve.png")


def _curve_chart(rows: list[dict], path: Path) -> None:
    """Tokens per word against sample size, one line per held-out set; x: plain BPE (no MeCab) on everything."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for text in dict.fromkeys(r["text"] for r in rows):
        pts = [r for r in rows if r["text"] == text and r["mecab_at_training"]]
        line = ax.plot(
            [r["training_bytes"] / 1e6 for r in pts], [r["tokens_per_word"] for r in pts], marker="o", label=text
        )[0]
        for r in rows:
            if r["text"] == text and not r["mecab_at_training"]:
                ax.plot(
                    r["training_bytes"] / 1e6, r["tokens_per_word"], marker="x", markersize=9, color=line.get_color()
                )
    first = [r for r in rows if r["text"] == rows[0]["text"] and r["mecab_at_training"]]
    for r in first:
        ax.annotate(
            f"{r['vocab_size'] / 1000:.0f}k tokens",
            (r["training_bytes"] / 1e6, r["tokens_per_word"]),
            textcoords="offset points",
            xytext=(4, 6),
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_xlabel("training sample (MB of UTF-8 text, ko + en balanced by characters)")
    ax.set_ylabel("held-out tokens per word (lower is better)")
    ax.set_title("Compression against training-set size (o: MeCab at training, x: plain byte-level BPE)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def encode_speed(work: Path, repeats: int = 3) -> None:
    """Encoding throughput of the committed tokenizer, portable and with MeCab, on the held-out sets (best of 3)."""
    from lmpipe.tokenizer.load import load_tokenizer
    from lmpipe.tokenizer.report import read_text_set

    texts = {label: read_text_set(spec).docs for label, spec in zip(HELDOUT, heldout_specs(work))}
    for mecab in (False, True):
        tok = load_tokenizer(ASSET, mecab=mecab)
        for label, docs in texts.items():
            nbytes = sum(len(d.encode()) for d in docs)
            best = min(_timed(tok, docs) for _ in range(repeats))
            print(f"encode mecab={mecab!s:<5} {label:<12} {nbytes / 1e6 / best:7.2f} MB/s ({best:.2f}s)", flush=True)


def _timed(tok, docs: list[str]) -> float:
    started = time.perf_counter()
    tok.encode_batch(docs, add_special_tokens=False)
    return time.perf_counter() - started


def report(work: Path, shared: Path) -> None:
    _run(
        [
            PY,
            "-m",
            "lmpipe.tokenizer",
            "report",
            "--tokenizer",
            str(ASSET),
            "--mecab",
            "both",
            "--text",
            *heldout_specs(work),
            "--compare",
            str(shared / "tokenizers"),
            "--output",
            str(REPORT),
            "--title",
            "ko-en-102k against reference tokenizers, held-out text",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "step", choices=["prepare", "ingest", "train", "curve", "curve-chart", "report", "encode-speed", "all"]
    )
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tokbench"))
    args = parser.parse_args()
    steps = ["prepare", "ingest", "train", "report", "curve"] if args.step == "all" else [args.step]
    for step in steps:
        started = time.monotonic()
        if step == "prepare":
            prepare(args.shared, args.work)
        elif step == "ingest":
            ingest(args.work)
        elif step == "train":
            print(json.dumps(train(args.work), indent=1))
        elif step == "curve":
            curve(args.work)
        elif step == "curve-chart":  # redraw from the committed numbers
            _curve_chart(json.loads((REPORT / "curve.json").read_text()), REPORT / "curve.png")
        elif step == "report":
            report(args.work, args.shared)
        elif step == "encode-speed":
            encode_speed(args.work)
        print(f"== {step}: {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main()
