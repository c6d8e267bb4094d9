"""Ingest throughput with inputs and outputs in object storage vs on local disk, side by side in one run.

    .venv/bin/python benches/s3_ingest.py [--mb 100] [--files 4] [--repeat 2] [--stages ingest,dedup,pack]

Starts a real S3 server (SeaweedFS on loopback, lmpipe.testing.s3server), writes --files JSONL.gz files holding
about --mb MB of text (the bundled Korean and English samples repeated, real text), uploads them, then runs the
`ingest` stage with one worker three ways, in turn, --repeat times each: local files to a local folder,
`s3://bench/corpus/` to a local folder, and `s3://bench/corpus/` to `s3://bench/out/` (the stage folder in the
bucket); reports MB of text per second (best run). The S3 runs include the listing, the ETag fingerprint and the
copy of each object to a local temporary file (storage.local_copy); the S3 output the upload of every part,
ledger, log and the manifest.

With `--stages` naming dedup and/or pack, those stages then run on the ingested folders two ways, local -> local
and s3 -> s3: with a bucket output their phase tasks read and write their work files (_dedup/, _pack/) in the
bucket, by range, and pack's shard tasks write the shards there.
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
from lmpipe.core import storage  # noqa: E402
from lmpipe.core.runner import InputSpec, RunConfig, run_stage  # noqa: E402
from lmpipe.stages.dedup.config import DedupConfig  # noqa: E402
from lmpipe.stages.ingest.stage import IngestConfig  # noqa: E402
from lmpipe.stages.pack.config import PackConfig  # noqa: E402
from lmpipe.testing.s3server import SeaweedS3  # noqa: E402

CONFIGS = {"ingest": IngestConfig, "dedup": DedupConfig, "pack": PackConfig}


def timed(spec: str, out: str, stage: str = "ingest") -> tuple[float, dict]:
    storage.remove_tree(out)
    start = time.perf_counter()
    result = run_stage(STAGES[stage], CONFIGS[stage](), [InputSpec(path=spec)], out, RunConfig(workers=1))
    return time.perf_counter() - start, result.stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--stages", default="ingest", help="ingest, then optionally dedup and/or pack on its output")
    args = ap.parse_args()
    later = [s for s in args.stages.split(",") if s != "ingest"]
    assert all(s in ("dedup", "pack") for s in later), later
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
        ways = {
            "local -> local": (str(corpus), str(work / "out-local")),
            "s3 -> local": ("s3://bench/corpus/", str(work / "out-s3")),
            "s3 -> s3": ("s3://bench/corpus/", "s3://bench/out/ingest"),
        }
        best = dict.fromkeys(ways, float("inf"))
        docs = {}
        for _ in range(args.repeat):
            for name, (spec, out) in ways.items():
                seconds, stats = timed(spec, out)
                best[name] = min(best[name], seconds)
                docs[name] = stats["docs_out"]
        chained = {}  # stage -> way -> (best seconds, MB of its input, docs kept)
        inputs = {"local -> local": str(work / "out-local"), "s3 -> s3": "s3://bench/out/ingest"}
        for stage in later:
            chained[stage] = {}
            for name, spec in inputs.items():
                out = f"{spec.rsplit('/', 1)[0]}/{stage}" if spec.startswith("s3://") else str(work / f"out-{stage}")
                runs = [timed(spec, out, stage) for _ in range(args.repeat)]
                stats = runs[-1][1]
                chained[stage][name] = (min(r[0] for r in runs), stats["bytes_in"] / 1e6, stats["docs_out"])
                inputs[name] = out
            assert len({v[2] for v in chained[stage].values()}) == 1, chained[stage]
    assert len(set(docs.values())) == 1, docs
    on_disk = sum(f.stat().st_size for f in corpus.iterdir())
    print(
        f"{args.files} files, {on_disk / 1e6:.1f} MB gzip, {text_bytes / 1e6:.1f} MB of text, {docs['s3 -> s3']:,} docs"
    )
    print("| input -> output | best wall s | MB of text/s (1 worker) |")
    print("|---|---:|---:|")
    for name in ways:
        print(f"| {name} | {best[name]:.1f} | {text_bytes / 1e6 / best[name]:.2f} |")
    for stage, ways_of in chained.items():
        print(f"\n{stage} (1 worker), on the previous stage's output; same documents kept both ways")
        print("| input -> output | best wall s | MB of its input/s |")
        print("|---|---:|---:|")
        for name, (seconds, mb, _) in ways_of.items():
            print(f"| {name} | {seconds:.1f} | {mb / seconds:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
