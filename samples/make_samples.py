"""Regenerate the bundled sample data in samples/ from the shared real-data directory.

Usage (from the repository root):

    .venv/bin/python samples/make_samples.py [SHARED_DATA_DIR] [--out OUT_DIR]

SHARED_DATA_DIR defaults to ../shared/data relative to the repository root; OUT_DIR defaults to the folder this
script lives in (samples/). Output is deterministic (gzip mtime 0, no file name in gzip headers, fixed zstd level),
so re-running it on the same inputs gives byte-identical files. Origins and licenses: see samples/SOURCES.md.
Only redistributable sets are used; the script never reads the non-redistributable files in the shared data.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent

NEWS_PAIRS = 1000  # first N sentence pairs of the Korean-English news parallel corpus
NEWS_GROUP = 10  # sentences per pseudo-document
NSMC_RECORDS = 3000
WIKITEXT_ARTICLES = 20
GUTENBERG_BOOKS = (11, 84)
WARC_FILES = (
    "dolma-sample-0000.warc.gz",
    "resiliparse-cc-main-2020-34-sample.warc.gz",
    "warcio-example.warc.gz",
)

# A top-level WikiText heading is exactly " = Title = " (sub-headings are " = = Title = = ").
WIKITEXT_HEADING = re.compile(r"^ = [^=](?:.*[^=])? = $")


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_text_gz(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return f.read()


def jsonl_bytes(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def write_gzip(path: Path, data: bytes) -> None:
    buf = io.BytesIO()
    # fileobj + mtime=0: no file name and no timestamp in the header -> reproducible bytes.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(data)
    path.write_bytes(buf.getvalue())


def write_jsonl_gz(path: Path, records: list[dict]) -> int:
    write_gzip(path, jsonl_bytes(records))
    return len(records)


def make_kobill(data: Path, out: Path) -> int:
    recs = read_jsonl_gz(data / "ko/konlpy_kobill.jsonl.gz")
    docs = [{"id": r["id"], "text": r["text"], "source": "konlpy_kobill", "lang": "ko"} for r in recs]
    return write_jsonl_gz(out / "ko_kobill.jsonl.gz", docs)


def make_constitution(data: Path, out: Path) -> int:
    shutil.copyfile(data / "ko/konlpy_kolaw_constitution.txt", out / "ko_constitution.txt")
    return 1


def _news_docs(pairs: list[dict], side: str) -> list[dict]:
    docs = []
    for n, start in enumerate(range(0, len(pairs), NEWS_GROUP)):
        group = pairs[start : start + NEWS_GROUP]
        docs.append(
            {
                "id": f"kenews-{side}-{n}",
                "text": "\n".join(p[side] for p in group),
                "source": "korean_english_news_parallel",
                "lang": side,
            }
        )
    return docs


def make_news(data: Path, out: Path) -> tuple[int, int]:
    pairs = read_jsonl_gz(data / "ko/korean_english_news_parallel.jsonl.gz")[:NEWS_PAIRS]
    assert len(pairs) == NEWS_PAIRS, len(pairs)
    ko, en = _news_docs(pairs, "ko"), _news_docs(pairs, "en")
    cctx = zstandard.ZstdCompressor(level=19)
    (out / "ko_news_parallel.jsonl.zst").write_bytes(cctx.compress(jsonl_bytes(ko)))
    (out / "en_news_parallel.jsonl").write_bytes(jsonl_bytes(en))
    return len(ko), len(en)


def make_nsmc(data: Path, out: Path) -> int:
    recs = []
    with gzip.open(data / "ko/nsmc_reviews_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            if len(recs) == NSMC_RECORDS:
                break
            recs.append(json.loads(line))
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("lang", pa.string())])
    table = pa.Table.from_pydict(
        {
            "id": [str(r["id"]) for r in recs],
            "text": [r["text"] for r in recs],  # kept as is: duplicates, emoticons, noise
            "source": ["nsmc"] * len(recs),
            "lang": ["ko"] * len(recs),
        },
        schema=schema,
    )
    pq.write_table(table, out / "ko_nsmc_reviews.parquet", compression="zstd")
    return table.num_rows


def _cc_doc(rec: dict, source: str) -> dict:
    doc = {"id": rec["id"], "text": rec["text"], "source": source, "lang": "en"}
    if re.match(r"^https?://", str(rec["id"])):
        doc["url"] = rec["id"]
    return doc


def make_cc(data: Path, out: Path) -> int:
    docs = [_cc_doc(r, "dolma_cc") for r in read_jsonl_gz(data / "en/dolma_cc_documents_sample.jsonl.gz")]
    docs += [_cc_doc(r, "dolma_ccnet") for r in read_jsonl_gz(data / "en/dolma_ccnet_en_head_sample.jsonl.gz")]
    assert len({d["id"] for d in docs}) == len(docs), "duplicate ids"
    return write_jsonl_gz(out / "en_cc_documents.jsonl.gz", docs)


def make_gutenberg(data: Path, out: Path) -> int:
    docs = [
        {
            "id": f"gutenberg/{n}",
            "text": read_text_gz(data / f"en/gutenberg/pg{n}.txt.gz"),
            "source": "gutenberg",
            "lang": "en",
        }
        for n in GUTENBERG_BOOKS
    ]
    return write_jsonl_gz(out / "en_gutenberg.jsonl.gz", docs)


def split_wikitext(text: str) -> list[str]:
    """Split WikiText into articles: each starts at a top-level " = Title = " line and runs to the next one."""
    articles: list[list[str]] = []
    for line in text.split("\n"):
        if WIKITEXT_HEADING.match(line):
            articles.append([line])
        elif articles:
            articles[-1].append(line)
    return ["\n".join(lines).strip("\n") + "\n" for lines in articles]


def make_wikitext(data: Path, out: Path) -> int:
    articles = split_wikitext(read_text_gz(data / "en/wikitext-2_test.txt.gz"))[:WIKITEXT_ARTICLES]
    assert len(articles) == WIKITEXT_ARTICLES, len(articles)
    docs = [
        {"id": f"wikitext2-test/{n}", "text": t, "source": "wikitext2", "lang": "en"} for n, t in enumerate(articles)
    ]
    return write_jsonl_gz(out / "en_wikitext.jsonl.gz", docs)


def copy_warcs(data: Path, out: Path) -> list[str]:
    names = []
    for name in WARC_FILES:
        src, dst = data / "web/warc" / name, out / name
        shutil.copyfile(src, dst)
        assert hashlib.sha256(src.read_bytes()).digest() == hashlib.sha256(dst.read_bytes()).digest()
        names.append(name)
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="shared data dir (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output samples dir (default: %(default)s)")
    args = ap.parse_args()
    data: Path = args.data.resolve()
    if not (data / "SOURCES.md").is_file():
        ap.error(f"{data} does not look like the shared data dir (no SOURCES.md)")
    corpus, warc = args.out / "corpus", args.out / "warc"
    corpus.mkdir(parents=True, exist_ok=True)
    warc.mkdir(parents=True, exist_ok=True)

    counts = {
        "corpus/ko_kobill.jsonl.gz": make_kobill(data, corpus),
        "corpus/ko_constitution.txt": make_constitution(data, corpus),
    }
    ko, en = make_news(data, corpus)
    counts["corpus/ko_news_parallel.jsonl.zst"] = ko
    counts["corpus/en_news_parallel.jsonl"] = en
    counts["corpus/ko_nsmc_reviews.parquet"] = make_nsmc(data, corpus)
    counts["corpus/en_cc_documents.jsonl.gz"] = make_cc(data, corpus)
    counts["corpus/en_gutenberg.jsonl.gz"] = make_gutenberg(data, corpus)
    counts["corpus/en_wikitext.jsonl.gz"] = make_wikitext(data, corpus)
    for name in copy_warcs(data, warc):
        counts[f"warc/{name}"] = "copied"
    for path, n in counts.items():
        size = (args.out / path).stat().st_size
        print(f"{path:45s} {size:>9,d} B  {n}")


if __name__ == "__main__":
    main()
