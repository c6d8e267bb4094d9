"""The `filter` stage's throughput per core, this checkout against another commit, on the same ingested corpus.

    .venv/bin/python benches/filter_stage.py --shared ../shared/data [--mb 40] [--base HEAD~1] [--repeat 2]

Builds a corpus of real Korean and English text from the shared data (benches/scaling.py's mix: NSMC reviews
as pages, news, bills, CCNet, WikiText, Gutenberg chapters), ingests it once, then runs
`python -m lmpipe run filter --workers 1` on the ingested folder with this checkout and with `--base` (a git
worktree of that commit, imported first via PYTHONPATH), alternately, --repeat times each. Reports MB of input
text per second on one core (the run with the least CPU time) and checks that both kept the same documents.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benches"))

from scaling import build_corpus  # noqa: E402


def run_filter(code: Path, src: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `run filter --workers 1` (one process: CPU time is what one core spent,
    and stays meaningful when other work shares the machine, where wall time does not)."""
    shutil.rmtree(out, ignore_errors=True)
    env = os.environ | {"PYTHONPATH": str(code)}
    cmd = [sys.executable, "-m", "lmpipe", "run", "filter", "--input", str(src), "--output", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd + ["--workers", "1"], cwd=code, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def kept_digest(out: Path) -> str:
    h = hashlib.sha256()
    rows = []
    for f in sorted(out.glob("data/part-*.parquet")):
        t = pq.read_table(f, columns=["id", "text"])
        rows += zip(t["id"].to_pylist(), t["text"].to_pylist())
    for i, t in sorted(rows):
        h.update(f"{i}\0{t}\0".encode())
    return f"{len(rows)} docs {h.hexdigest()[:12]}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--mb", type=float, default=40)
    ap.add_argument("--base", default="HEAD~1")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="filterbench-"))
    build_corpus(Path(args.shared), work / "corpus", args.mb, parts=4)
    ing = work / "ingest"
    subprocess.run(
        [sys.executable, "-m", "lmpipe", "run", "ingest", "--input", str(work / "corpus"), "--output", str(ing),
         "--workers", "2"], cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    in_bytes = int(__import__("json").loads((ing / "stats.json").read_text())["bytes_out"])
    base = work / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(base), args.base], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    try:
        best = {"this": (float("inf"),) * 2, "base": (float("inf"),) * 2}
        digests = {}
        for _ in range(args.repeat):
            for name, code in (("base", base), ("this", REPO)):
                best[name] = min(best[name], run_filter(code, ing, work / f"out-{name}"), key=lambda t: t[1])
                digests[name] = kept_digest(work / f"out-{name}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, capture_output=True)
    print(f"filter input: {in_bytes / 1e6:.1f} MB of text; kept: base {digests['base']}, this {digests['this']}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores)")
    print("| code | wall s | CPU s | MB/s per CPU-second | MB/s wall |")
    print("|---|---:|---:|---:|---:|")
    for name in ("base", "this"):
        wall, cpu = best[name]
        print(f"| {name} ({args.base if name == 'base' else 'checkout'}) | {wall:.1f} | {cpu:.1f} | "
              f"{in_bytes / 1e6 / cpu:.2f} | {in_bytes / 1e6 / wall:.2f} |")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
