"""Corpus ingest throughput per core: our `ingest` stage vs datatrove's JsonlReader -> ParquetWriter, same files.

    .venv/bin/python benches/ingest_corpus.py [--mb 200] [--repeat 3]

Builds a JSONL.gz corpus of about --mb MB of text by repeating the bundled Korean and English samples (real text),
then runs each pipeline with one task in this process (one core) and reports MB of text per second (best of
--repeat runs). Both read gzip JSONL and write zstd Parquet, so the comparison is like for like.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from lmpipe.catalog import STAGES
from lmpipe.core.readers import RecordKeys, Skip, iter_file, resolve_inputs
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.stages.ingest.stage import IngestConfig

REPO = Path(__file__).resolve().parent.parent


def build_corpus(folder: Path, target_mb: float) -> tuple[Path, int]:
    docs = []
    for f in resolve_inputs([REPO / "samples" / "corpus"]):
        docs += [d for d in iter_file(f, RecordKeys()) if not isinstance(d, Skip)]
    path = folder / "corpus.jsonl.gz"
    nbytes = 0
    with gzip.open(path, "wb", compresslevel=6) as out:
        i = 0
        while nbytes < target_mb * 1e6:
            for d in docs:
                out.write(orjson.dumps({"id": f"{d.id}#{i}", "text": d.text, "lang": d.metadata.get("lang")}) + b"\n")
                nbytes += len(d.text.encode())
            i += 1
    return path, nbytes


def run_ours(path: Path, out: Path, cfg: IngestConfig = IngestConfig()) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    run_stage(STAGES["ingest"], cfg, [InputSpec(path=str(path))], out, RunConfig(workers=1))
    return time.perf_counter() - start


def run_datatrove(path: Path, out: Path) -> float:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import ParquetWriter

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    LocalPipelineExecutor(
        [JsonlReader(str(path.parent), glob_pattern=path.name), ParquetWriter(str(out / "data"), compression="zstd")],
        tasks=1,
        workers=1,
        logging_dir=str(out / "logs"),
    ).run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path, nbytes = build_corpus(tmp, args.mb)
        print(f"corpus: {nbytes / 1e6:.1f} MB of text, {path.stat().st_size / 1e6:.1f} MB gzip")
        no_langid = "ours, language ID off (like for like with datatrove's pair)"
        best = {
            "ours (ingest stage)": float("inf"),
            no_langid: float("inf"),
            "datatrove JsonlReader+ParquetWriter": float("inf"),
        }
        for _ in range(args.repeat):
            best["ours (ingest stage)"] = min(best["ours (ingest stage)"], run_ours(path, tmp / "ours"))
            best[no_langid] = min(best[no_langid], run_ours(path, tmp / "ours-nolid", IngestConfig(langid=None)))
            best["datatrove JsonlReader+ParquetWriter"] = min(
                best["datatrove JsonlReader+ParquetWriter"], run_datatrove(path, tmp / "dt")
            )
        print("| pipeline | seconds (best) | MB text/s per core |")
        print("|---|---:|---:|")
        for name, secs in best.items():
            print(f"| {name} | {secs:.2f} | {nbytes / 1e6 / secs:.1f} |")


if __name__ == "__main__":
    main()
