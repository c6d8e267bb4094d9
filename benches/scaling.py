"""Whole-job throughput with 1 and 2 Ray workers on one machine, and on a 2-node local Ray cluster.

    .venv/bin/python benches/scaling.py --shared ../shared/data [--mb 8]

Builds a corpus of real Korean and English text from the shared data (NSMC reviews, news, WikiText, Gutenberg,
bills; split into --parts files so that tasks can spread), then runs jobs/full.py three times into fresh output
folders: embedded Ray with 1 CPU, embedded Ray with 2 CPUs, and a cluster of two Ray nodes on this host
(`ray start --head --num-cpus 1` + `ray start --address ... --num-cpus 1`), driver connected with RAY_ADDRESS.
Prints MB of input text per second for the whole job and per stage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def build_corpus(shared: Path, folder: Path, target_mb: float, parts: int) -> int:
    docs: list[dict] = []
    with gzip.open(shared / "ko" / "nsmc_reviews_sample.jsonl.gz", "rt") as f:
        # short reviews joined 20 at a time into pages, so the quality rules see documents, not one-liners
        batch = []
        for i, line in enumerate(f):
            batch.append(json.loads(line)["text"])
            if len(batch) == 20:
                docs.append({"id": f"nsmc-{i}", "text": "\n".join(batch), "lang": "ko"})
                batch = []
    for name in ("ko/konlpy_kobill.jsonl.gz", "en/dolma_ccnet_en_head_sample.jsonl.gz"):
        with gzip.open(shared / name, "rt") as f:
            docs += [{"id": f"{name}-{j}", "text": json.loads(x)["text"]} for j, x in enumerate(f)]
    with gzip.open(shared / "ko" / "korean_english_news_parallel.jsonl.gz", "rt") as f:
        rows = [json.loads(x) for x in f]
    for k in range(0, len(rows), 10):
        docs.append({"id": f"news-ko-{k}", "text": "\n".join(r["ko"] for r in rows[k : k + 10]), "lang": "ko"})
        docs.append({"id": f"news-en-{k}", "text": "\n".join(r["en"] for r in rows[k : k + 10]), "lang": "en"})
    for name in ("wikitext-2_test.txt.gz", "wikitext-2_valid.txt.gz"):
        text = gzip.open(shared / "en" / name, "rt").read()
        for j, article in enumerate(text.split("\n = ")):
            if len(article) > 500:
                docs.append({"id": f"{name}-{j}", "text": " = " + article, "lang": "en"})
    for book in sorted((shared / "en" / "gutenberg").glob("*.txt.gz")):
        text = gzip.open(book, "rt").read()
        for j, chapter in enumerate(text.split("\n\n\n")):
            if len(chapter) > 1000:
                docs.append({"id": f"{book.name}-{j}", "text": chapter, "lang": "en"})
    random.Random(0).shuffle(docs)  # sources mixed in every file and in whatever prefix --mb keeps
    folder.mkdir(parents=True, exist_ok=True)
    total, written = 0, 0
    files = [gzip.open(folder / f"part-{p:02d}.jsonl.gz", "wb") for p in range(parts)]
    for doc in docs:
        if total >= target_mb * 1e6:
            break
        files[written % parts].write(orjson.dumps(doc) + b"\n")
        total += len(doc["text"].encode())
        written += 1
    for f in files:
        f.close()
    print(f"corpus: {written:,} documents, {total / 1e6:.1f} MB of text in {parts} files")
    return total


def run_job(corpus: Path, out: Path, workers: int, env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | env_extra
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    cmd = [
        sys.executable, "jobs/full.py", "--config", "jobs/configs/sample.yaml", "--set", f"output_dir={out}",
        "--set", f"inputs=[{{path: {corpus}}}]", "--set", f"run.workers={workers}",
        "--set", "stages.tokenizer.vocab_size=8192", "--set", "stages.pack.seq_len=2048",
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    stages = {}
    for stage_dir in sorted(p for p in out.iterdir() if (p / "stats.json").exists()):
        s = json.loads((stage_dir / "stats.json").read_text())
        stages[s["stage"]] = s["wall_seconds"]
    return {"wall": wall, "stages": stages}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_node_cluster(tmp: Path):
    # A loopback-only bench cluster: no token auth (driver and nodes would otherwise need the same token file).
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    port = _free_port()
    head = subprocess.Popen(
        [BIN / "ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    time.sleep(15)
    worker = subprocess.Popen(
        [BIN / "ray", "start", "--block", f"--address=127.0.0.1:{port}", "--num-cpus=1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    time.sleep(15)
    return f"127.0.0.1:{port}", [worker, head]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mb", type=float, default=8)
    parser.add_argument("--parts", type=int, default=8)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        total = build_corpus(Path(args.shared), tmp / "corpus", args.mb, args.parts)
        results["1 worker (embedded Ray, 1 CPU)"] = run_job(tmp / "corpus", tmp / "w1", 1, {})
        results["2 workers (embedded Ray, 2 CPUs)"] = run_job(tmp / "corpus", tmp / "w2", 2, {})
        print(json.dumps(results), flush=True)  # kept even if the cluster part fails
        address, procs = two_node_cluster(tmp)
        try:
            results["2 nodes x 1 CPU (local Ray cluster)"] = run_job(
                tmp / "corpus", tmp / "n2", 2, {"RAY_ADDRESS": address, "RAY_AUTH_MODE": "disabled"}
            )
            print(json.dumps(results), flush=True)
        finally:
            for p in procs:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=60)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(p.pid, signal.SIGKILL)
    stage_names = list(next(iter(results.values()))["stages"])
    print("\n| setup | job wall s | MB/s (whole job) | " + " | ".join(f"{s} s" for s in stage_names) + " |")
    print("|---|---:|---:|" + "---:|" * len(stage_names))
    for name, r in results.items():
        cells = " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in stage_names)
        print(f"| {name} | {r['wall']:.1f} | {total / 1e6 / r['wall']:.2f} | {cells} |")


if __name__ == "__main__":
    main()
