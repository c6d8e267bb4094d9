"""Ingest throughput with inputs in object storage vs on local disk, side by side in one run.

    .venv/bin/python benches/s3_ingest.py [--mb 100] [--files 4] [--repeat 2]

Starts a real S3 server (SeaweedFS on loopback, lmpipe.testing.s3server), writes --files JSONL.gz files holding
about --mb MB of text (the bundled Korean and English samples repeated, real text), uploads them, then runs the
`ingest` stage with one worker on the local files and on `s3://bench/corpus/` alternately, --repeat times each,
and reports MB of text per second (best run). The S3 run includes the listing, the ETag fingerprint and the copy
of each object to a local temporary file (storage.local_copy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest_corpus import build_corpus  # noqa: E402

from lmpipe.catalog import STAGES  # noqa: E402
from lmpipe.core.runner import InputSpec, RunConfig, run_stage  # noqa: E402
from lmpipe.stages.ingest.stage import IngestConfig  # noqa: E402
from lmpipe.testing.s3server import SeaweedS3  # noqa: E402


def timed(spec: str, out: Path) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = run_stage(STAGES["ingest"], IngestConfig(), [InputSpec(path=spec)], out, RunConfig(workers=1))
    return time.perf_counter() - start, result.stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s3bench-"))
    corpus = work / "corpus"
    corpus.mkdir()
    text_bytes = 0
    for i in range(args.files):
        path, nbytes = build_corpus(work, args.mb / args.files)
        path.rename(corpus / f"part-{i}.jsonl.gz")
        text_bytes += nbytes
    with SeaweedS3(work / "seaweed") as s3:
        os.environ.update(s3.env)
        fs = s3.fs()
        fs.mkdir("bench")
        for f in sorted(corpus.iterdir()):
            fs.put_file(str(f), f"bench/corpus/{f.name}")
        best = {"local": float("inf"), "s3": float("inf")}
        docs = {}
        for _ in range(args.repeat):
            for name, spec in (("local", str(corpus)), ("s3", "s3://bench/corpus/")):
                seconds, stats = timed(spec, work / f"out-{name}")
                best[name] = min(best[name], seconds)
                docs[name] = stats["docs_out"]
    assert docs["local"] == docs["s3"], docs
    on_disk = sum(f.stat().st_size for f in corpus.iterdir())
    print(f"{args.files} files, {on_disk / 1e6:.1f} MB gzip, {text_bytes / 1e6:.1f} MB of text, {docs['s3']:,} docs")
    print("| input | best wall s | MB of text/s (1 worker) |")
    print("|---|---:|---:|")
    for name in ("local", "s3"):
        print(f"| {name} | {best[name]:.1f} | {text_bytes / 1e6 / best[name]:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
