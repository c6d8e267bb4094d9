"""Web ingest benchmark: extractor quality and speed, language-ID accuracy, and the whole stage's WARC MB/s per core
against datatrove's WarcReader + Trafilatura on the same WARC files.

    .venv/bin/python benches/ingest_web.py [--shared ../shared/data] [--repeat 3] [--out docs/bench/ingest_web.json]

Reads the shared data directory (real pages with ground truth); writes nothing into the repository except --out.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lmpipe.core.charset import decode_html
from lmpipe.stages.ingest.extract import EXTRACTORS, get_extractor
from lmpipe.stages.ingest.langid import LanguageIdentifier
from lmpipe.testing.warc_pack import Page, write_warc

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def norm(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def load_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [orjson.loads(line) for line in f]


def korean_page_bytes(row: dict) -> bytes:
    return base64.b64decode(row["html_b64"]) if row.get("html_b64") else row["html"].encode("utf-8")


# --- extractor quality -------------------------------------------------------------------------------------------
def snippet_rates(rows: list[dict], extract) -> dict:
    """trafilatura's eval: share of `with` snippets found in the output (keep) and of `without` absent (drop)."""
    kept = keep_total = dropped = drop_total = empty = 0
    seconds = 0.0
    for row in rows:
        t = time.perf_counter()
        out = norm(extract(row["html"]) or "")
        seconds += time.perf_counter() - t
        empty += not out
        for s in row.get("with") or []:
            keep_total += 1
            kept += norm(s) in out
        for s in row.get("without") or []:
            drop_total += 1
            dropped += norm(s) not in out
    html_mb = sum(len(r["html"].encode()) for r in rows) / 1e6
    return {
        "pages": len(rows),
        "keep_rate": round(kept / keep_total, 4),
        "drop_rate": round(dropped / drop_total, 4),
        "snippets_keep": keep_total,
        "snippets_drop": drop_total,
        "empty_outputs": empty,
        "seconds": round(seconds, 3),
        "html_mb_per_s": round(html_mb / seconds, 2),
    }


def _words(text: str) -> Counter:
    return Counter(_WORD.findall(text.lower()))


def readability_scores(rows: list[dict], extract) -> dict:
    """Bag-of-words precision/recall/F1 of the output against Readability.js's expected article."""
    from lxml import html as lxml_html

    p_sum = r_sum = f_sum = 0.0
    seconds = 0.0
    empty = 0
    for row in rows:
        expected = _words(lxml_html.fromstring(row["expected_html"]).text_content())
        t = time.perf_counter()
        got = _words(extract(row["source_html"]) or "")
        seconds += time.perf_counter() - t
        empty += not got
        overlap = sum((expected & got).values())
        p = overlap / max(sum(got.values()), 1)
        r = overlap / max(sum(expected.values()), 1)
        p_sum, r_sum, f_sum = p_sum + p, r_sum + r, f_sum + (2 * p * r / (p + r) if p + r else 0.0)
    n = len(rows)
    html_mb = sum(len(r["source_html"].encode()) for r in rows) / 1e6
    return {
        "pages": n,
        "precision": round(p_sum / n, 4),
        "recall": round(r_sum / n, 4),
        "f1": round(f_sum / n, 4),
        "empty_outputs": empty,
        "html_mb_per_s": round(html_mb / seconds, 2),
    }


def korean_extraction(rows: list[dict], extract) -> dict:
    """No ground truth: Hangul characters kept (of the page's visible Hangul) and pages with no output."""
    hangul = re.compile(r"[\uac00-\ud7a3]")
    kept_ratio = []
    empty = 0
    seconds = 0.0
    mb = 0.0
    for row in rows:
        html = decode_html(korean_page_bytes(row)).text
        mb += len(html.encode()) / 1e6
        t = time.perf_counter()
        out = extract(html) or ""
        seconds += time.perf_counter() - t
        empty += not out.strip()
        if row.get("hangul_chars"):
            kept_ratio.append(min(len(hangul.findall(out)) / row["hangul_chars"], 1.0))
    kept_ratio.sort()
    return {
        "pages": len(rows),
        "empty_outputs": empty,
        "median_hangul_kept": round(kept_ratio[len(kept_ratio) // 2], 3),
        "html_mb_per_s": round(mb / seconds, 2),
    }


# --- language ID ---------------------------------------------------------------------------------------------------
def langid_accuracy(shared: Path) -> dict:
    lid = LanguageIdentifier()
    pairs = load_jsonl(shared / "ko/korean_english_news_parallel.jsonl.gz")
    ko = [p["ko"] for p in pairs if len(p["ko"]) > 10]
    en = [p["en"] for p in pairs if len(p["en"]) > 10]
    # code-mixed: a Korean sentence followed by an English one (a bilingual page or a quoted passage)
    mixed = [f"{p['ko']} {p['en']}" for p in pairs[:1000]]
    result = {
        "news_ko_accuracy": round(sum(lid.predict(s)[0] == "ko" for s in ko) / len(ko), 4),
        "news_ko_sentences": len(ko),
        "news_en_accuracy": round(sum(lid.predict(s)[0] == "en" for s in en) / len(en), 4),
        "news_en_sentences": len(en),
        "mixed_ko_en_predicted": dict(Counter(lid.predict(s)[0] for s in mixed).most_common(4)),
        "mixed_ko_en_kept_at_0.5": round(
            sum(lid.predict(s)[0] in ("ko", "en") and lid.predict(s)[1] >= 0.5 for s in mixed) / len(mixed), 4
        ),
    }
    rows = [
        line.split("\t") for line in (shared / "langid/tatoeba_long_langid_sample.tsv").read_text().splitlines()[1:]
    ]
    right = sum(lid.predict(r[3])[0] == r[0].split("-")[0] for r in rows)
    ko_en = [r for r in rows if r[0] in ("ko", "en")]
    result["tatoeba_all_accuracy"] = round(right / len(rows), 4)
    result["tatoeba_sentences"] = len(rows)
    result["tatoeba_ko_en_accuracy"] = round(sum(lid.predict(r[3])[0] == r[0] for r in ko_en) / len(ko_en), 4)
    result["tatoeba_ko_en_sentences"] = len(ko_en)
    # speed on page-sized text
    texts = [p["ko"] + " " + p["en"] for p in pairs] * 3
    t = time.perf_counter()
    for s in texts:
        lid.predict(s)
    result["predictions_per_s"] = round(len(texts) / (time.perf_counter() - t))
    return result


def fasttext_bindings(shared: Path) -> dict:
    """fasttext-predict (used) vs fasttext-numpy2 vs the official fasttext 0.9.3, each in a subprocess.

    The two others are installed on demand into /tmp with `pip install --target` (not into the venv: they share
    the module name `fasttext`)."""
    script = (
        "import time,sys,fasttext\n"
        f"m=fasttext.load_model({str(shared / 'langid/lid.176.ftz')!r})\n"
        "t='대한민국은 민주공화국이다 and the supercomputer performs 12.3 trillion calculations a second'\n"
        "try:\n  m.predict(t)\nexcept Exception as e:\n  print('FAIL', type(e).__name__, str(e)[:80]); sys.exit()\n"
        "s=time.perf_counter()\nfor _ in range(20000): m.predict(t)\n"
        "print(round(20000/(time.perf_counter()-s)))\n"
    )
    out = {}
    for name, target in (
        ("fasttext-predict==0.9.2.4", None),
        ("fasttext-numpy2==0.10.4", "/tmp/ftnp2"),
        ("fasttext==0.9.3", "/tmp/ft093"),
    ):
        env = dict(os.environ)
        if target:
            if not Path(target).exists():
                subprocess.run(
                    [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, name], check=False
                )
            env["PYTHONPATH"] = target
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
        out[name] = r.stdout.strip() or r.stderr.strip()[-200:]
    return out


# --- whole stage vs datatrove --------------------------------------------------------------------------------------
def _http_url(url: str | None, page_id: str) -> str:
    # some eval pages carry ids like "hard::site.com-x.html" as url: warcio parses HTTP only for http(s) targets
    return url if url and url.startswith("http") else f"https://eval.example/{page_id.replace(':', '-')}"


def build_warcs(shared: Path, folder: Path) -> list[Path]:
    """Real pages packed into Common Crawl-style WARC.gz files, plus the real WARC samples."""
    folder.mkdir(parents=True, exist_ok=True)
    ko = load_jsonl(shared / "web/html/korean_pages.jsonl.gz")
    pages = [
        Page(
            r["url"] or f"https://{r['site']}/{r['id']}",
            korean_page_bytes(r),
            "text/html" + (f"; charset={r['charset_declared']}" if r.get("charset_declared") else ""),
        )
        for r in ko
    ]
    write_warc(str(folder / "korean-pages.warc.gz"), pages)
    en = load_jsonl(shared / "web/html/trafilatura_eval_en.jsonl.gz")
    write_warc(
        str(folder / "trafilatura-eval-en.warc.gz"),
        [Page(_http_url(r.get("url"), r["id"]), r["html"].encode()) for r in en],
    )
    rd = load_jsonl(shared / "web/html/readability_test_pages.jsonl.gz")
    write_warc(
        str(folder / "readability.warc.gz"),
        [Page(f"https://readability.example/{r['id']}", r["source_html"].encode()) for r in rd],
    )
    for name in (
        "dolma-sample-0000.warc.gz",
        "dolma-sample-0001.warc.gz",
        "resiliparse-cc-main-2020-34-sample.warc.gz",
    ):
        shutil.copy(shared / "web/warc" / name, folder / name)
    return sorted(folder.glob("*.warc.gz"))


def run_ours(folder: Path, out: Path, extractor: str) -> dict:
    from lmpipe.catalog import STAGES
    from lmpipe.core.runner import InputSpec, RunConfig, run_stage
    from lmpipe.stages.ingest.stage import IngestConfig

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    result = run_stage(
        STAGES["ingest"],
        IngestConfig(extractor=extractor),
        [InputSpec(str(folder))],
        out,
        RunConfig(workers=1, tasks=1),
    )
    seconds = time.perf_counter() - t
    s = result.stats
    return {
        "seconds": round(seconds, 2),
        "docs_in": s["docs_in"],
        "kept": s["docs_out"],
        "excluded": {k: v["docs"] for k, v in s["excluded"].items()},
        "skipped": s["skipped_input"],
    }


def run_datatrove(folder: Path, out: Path) -> dict:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    kept = []

    def collect(data, rank=0, world_size=1):
        for doc in data:
            kept.append(doc.id)
            yield doc

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    LocalPipelineExecutor(
        [WarcReader(str(folder)), Trafilatura(favour_precision=True, timeout=1.0), collect],
        tasks=1,
        workers=1,
        logging_dir=str(out),
    ).run()
    return {"seconds": round(time.perf_counter() - t, 2), "kept": len(kept)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "docs/bench/ingest_web.json"))
    ap.add_argument("--skip", nargs="*", default=[], choices=["quality", "langid", "bindings", "stage"])
    args = ap.parse_args()
    shared = Path(args.shared)
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_before": os.getloadavg()}

    if "quality" not in args.skip:
        eval_en = load_jsonl(shared / "web/html/trafilatura_eval_en.jsonl.gz")
        readability = load_jsonl(shared / "web/html/readability_test_pages.jsonl.gz")
        korean = load_jsonl(shared / "web/html/korean_pages.jsonl.gz")
        report["extractors"] = {}
        for name in EXTRACTORS:
            fn = get_extractor(name)
            best = None
            for _ in range(args.repeat):  # best speed of N; quality is deterministic
                r = {
                    "trafilatura_eval_en": snippet_rates(eval_en, fn),
                    "readability": readability_scores(readability, fn),
                    "korean_pages": korean_extraction(korean, fn),
                }
                if best is None or r["trafilatura_eval_en"]["seconds"] < best["trafilatura_eval_en"]["seconds"]:
                    best = r
            report["extractors"][name] = best
            print(name, json.dumps(best, indent=1), flush=True)
    if "langid" not in args.skip:
        report["langid"] = langid_accuracy(shared)
        print(json.dumps(report["langid"], indent=1), flush=True)
    if "bindings" not in args.skip:
        report["fasttext_bindings_predictions_per_s"] = fasttext_bindings(shared)
        print(report["fasttext_bindings_predictions_per_s"], flush=True)
    if "stage" not in args.skip:
        tmp = Path(tempfile.mkdtemp(prefix="ingest_web_"))
        files = build_warcs(shared, tmp / "warc")
        mb = sum(f.stat().st_size for f in files) / 1e6
        runs: dict = {"ours_resiliparse": [], "ours_trafilatura": [], "datatrove_trafilatura": []}
        for _ in range(args.repeat):
            runs["ours_resiliparse"].append(run_ours(tmp / "warc", tmp / "out_r", "resiliparse"))
            runs["ours_trafilatura"].append(run_ours(tmp / "warc", tmp / "out_t", "trafilatura"))
            runs["datatrove_trafilatura"].append(run_datatrove(tmp / "warc", tmp / "out_dt"))
        stage = {"warc_files": len(files), "warc_mb": round(mb, 2)}
        for name, rs in runs.items():
            best = min(rs, key=lambda r: r["seconds"])
            stage[name] = best | {"warc_mb_per_s_per_core": round(mb / best["seconds"], 3)}
        report["stage"] = stage
        print(json.dumps(stage, indent=1), flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
