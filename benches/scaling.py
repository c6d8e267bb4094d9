"""Whole-job throughput with 1 and 2 Ray workers on one machine, and on a 2-node local Ray cluster; or a size
series with per-stage speed and memory.

    .venv/bin/python benches/scaling.py --shared ../shared/data [--mb 8]
    .venv/bin/python benches/scaling.py --shared ../shared/data --series 16,128,512 [--workers 2]

--series: for each size (MB of text), a corpus of real sentences, the whole job with --workers embedded Ray
workers, and per stage: wall seconds and MB of that stage's input per second per core; the time outside the
stages (job wall minus the stages' walls: startup, Ray, the report); the driver's peak RSS and the largest peak
RSS of any other process of the job (Ray workers, raylet), polled every 0.5 s from /proc.

Builds a corpus of real Korean and English text from the shared data (NSMC reviews, news, WikiText, Gutenberg,
bills; split into --parts files so that tasks can spread; beyond the ~22 MB of distinct text, documents of real
sentences recombined at random), then runs jobs/full.py three times into fresh output
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
import re
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


_SENTENCE = re.compile(r"(?<=[.!?。다])\s+")


def _recombined(docs: list[dict], missing_bytes: float) -> list[dict]:
    """Beyond the ~22 MB of distinct shared text: new documents of 8-30 real sentences drawn at random (seeded)
    from documents of one language, so they read as prose, and are distinct enough that dedup keeps them."""
    if missing_bytes <= 0:
        return []
    rng = random.Random(1)
    pools: dict[str, list[str]] = {}
    for d in docs:
        lang = d.get("lang") or "en"
        pools.setdefault(lang, []).extend(s for s in _SENTENCE.split(d["text"]) if 20 <= len(s) <= 400)
    out, made, langs = [], 0.0, sorted(pools)
    while made < missing_bytes:
        lang = langs[len(out) % len(langs)]
        text = " ".join(rng.choice(pools[lang]) for _ in range(rng.randint(8, 30)))
        out.append({"id": f"recombined-{len(out)}", "text": text, "lang": lang})
        made += len(text.encode())
    return out


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
    docs += _recombined(docs, target_mb * 1e6 - sum(len(d["text"].encode()) for d in docs))
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


def _rss_tree(root: int) -> dict[int, int]:
    """RSS in bytes of `root` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1]) * 1024
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        out[pid] = rss.get(pid, 0)
        todo += children.get(pid, [])
    return out


def run_job(corpus: Path, out: Path, workers: int, env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | env_extra
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    cmd = [
        sys.executable, "jobs/full.py", "--config", "jobs/configs/sample.yaml", "--set", f"output_dir={out}",
        "--set", f"inputs=[{{path: {corpus}}}]", "--set", f"run.workers={workers}",
        "--set", "stages.tokenizer.vocab_size=8192", "--set", "stages.pack.seq_len=2048",
    ]  # fmt: skip
    start = time.perf_counter()
    log = open(out.parent / f"{out.name}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    driver_peak = other_peak = 0
    other_what = ""
    while proc.poll() is None:
        tree = _rss_tree(proc.pid)
        driver_peak = max(driver_peak, tree.pop(proc.pid, 0))
        for pid, rss in tree.items():
            if rss > other_peak:  # which process: a Ray worker's title names its task ("ray::filter:3")
                other_peak, other_what = rss, _title(pid)
        time.sleep(0.5)
    wall = time.perf_counter() - start
    log.close()
    if proc.returncode != 0:
        raise RuntimeError((out.parent / f"{out.name}.log").read_text()[-3000:])
    stages, bytes_in = {}, {}
    for stage_dir in sorted(p for p in out.iterdir() if (p / "stats.json").exists()):
        s = json.loads((stage_dir / "stats.json").read_text())
        stages[s["stage"]] = s["wall_seconds"]
        bytes_in[s["stage"]] = s["bytes_in"]
    return {"wall": wall, "stages": stages, "bytes_in": bytes_in, "driver_peak_mb": driver_peak / 1e6,
            "other_peak_mb": other_peak / 1e6, "other_peak_process": other_what}  # fmt: skip


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:80].strip()
    except OSError:
        return "?"


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
    parser.add_argument("--series", help="comma-separated sizes in MB of text, e.g. 16,128,512")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.series:
        return size_series(Path(args.shared), [float(x) for x in args.series.split(",")], args.workers, args.parts)
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


def size_series(shared: Path, sizes: list[float], workers: int, parts: int) -> None:
    rows = []
    for mb in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            total = build_corpus(shared, tmp / "corpus", mb, max(parts, workers * 4))
            r = run_job(tmp / "corpus", tmp / "run", workers, {})
            r["mb"], r["total"] = mb, total
            rows.append(r)
            print(json.dumps(r), flush=True)
    names = list(rows[0]["stages"])
    print(f"\nworkers: {workers}; MB/s per core = a stage's input MB / its wall s / {workers}")
    print("| input MB | job wall s | MB/s per core, whole job | outside the stages s | driver peak MB | largest other "
          "process MB | " + " | ".join(names) + " |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|" + "---:|" * len(names))
    for r in rows:
        outside = r["wall"] - sum(r["stages"].values())
        cells = " | ".join(f"{r['bytes_in'][n] / 1e6 / max(r['stages'][n], 1e-9) / workers:.2f}" for n in names)
        print(f"| {r['total'] / 1e6:.0f} | {r['wall']:.0f} | {r['total'] / 1e6 / r['wall'] / workers:.2f} | "
              f"{outside:.0f} | {r['driver_peak_mb']:.0f} | {r['other_peak_mb']:.0f} | {cells} |")  # fmt: skip
    for r in rows:
        print(f"largest other process at {r['total'] / 1e6:.0f} MB: {r.get('other_peak_process', '?')}")


if __name__ == "__main__":
    main()
