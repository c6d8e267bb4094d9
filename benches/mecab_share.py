"""How much of each stage's CPU time is MeCab: the floor under the whole job's MB/s per core.

    .venv/bin/python benches/mecab_share.py --shared ../shared/data [--mb 128]

Builds benches/scaling.py's corpus (real Korean and English sentences), ingests it, then runs every later stage
of the job once, in order, each in one process (`--workers 1`: the stage's tasks in that process, nothing
spawned) with the scaling bench's settings (jobs/configs/sample.yaml, vocab 8,192, seq_len 2,048), each stage
reading the one before. In each process MeCab's taggers are wrapped: the CPU seconds spent inside the C calls
(`Tagger.parse`, `parseToNode`; a node walk in Python after parseToNode is not counted), the calls and the
characters given. Prints per stage: its input MB, CPU seconds, MeCab seconds and share, MeCab characters per
input character (how many times the stage parses its Korean text).

What MeCab costs is what this recipe asks of it: the rule filters count morphemes of the whole text (and again
after C4's line cleaning, which changes the text), the classifier reads morphemes of the first 5,000 characters,
the tokenizer cuts Korean words at morpheme boundaries when it trains and when pack encodes. No stage can be
faster than its MeCab time, nor the job than their sum.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benches"))

STAGES = ["filter", "quality", "dedup", "decont", "pii", "tokenizer", "pack"]
SETTINGS = {"tokenizer": ["--set", "vocab_size=8192"], "pack": ["--set", "seq_len=2048"]}


def _child(stage: str, src: str, out: str) -> None:
    """One stage in this process, with MeCab's C calls timed; prints one JSON line."""
    sys.path.insert(0, str(REPO))
    import lmpipe.text.korean as korean

    spent = {"mecab_s": 0.0, "calls": 0, "chars": 0}
    made = korean._tagger

    class Timed:
        def __init__(self, tagger):
            self._t = tagger

        def _timed(self, fn, text):
            start = time.process_time()
            try:
                return fn(text)
            finally:
                spent["mecab_s"] += time.process_time() - start
                spent["calls"] += 1
                spent["chars"] += len(text)

        def parse(self, text):
            return self._timed(self._t.parse, text)

        def parseToNode(self, text):  # noqa: N802 (MeCab's name)
            return self._timed(self._t.parseToNode, text)

    def tagger(*args, **kwargs):
        return Timed(made(*args, **kwargs))  # the counts are in `spent`: a wrapper per call holds nothing

    korean._tagger = tagger
    from lmpipe.cli import main as cli

    sys.argv = ["lmpipe", "run", stage, "--input", src, "--output", out, "--workers", "1",
                "--config", str(REPO / "jobs/configs/sample.yaml"), *SETTINGS.get(stage, [])]  # fmt: skip
    rc = cli()
    if rc:
        raise SystemExit(rc)
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps(spent | {"cpu_s": use.ru_utime + use.ru_stime}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--mb", type=float, default=128)
    ap.add_argument("--child", nargs=3, metavar=("STAGE", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)
    from scaling import build_corpus

    work = Path(tempfile.mkdtemp(prefix="mecabshare-"))
    env = os.environ | {"PYTHONPATH": str(REPO)}
    try:
        build_corpus(Path(args.shared), work / "corpus", args.mb, parts=8)
        prev = work / "ingest"
        subprocess.run(
            [sys.executable, "-m", "lmpipe", "run", "ingest", "--input", str(work / "corpus"), "--output", str(prev),
             "--workers", "2", "--config", str(REPO / "jobs/configs/sample.yaml")],
            cwd=REPO, env=env, check=True, capture_output=True,
        )  # fmt: skip
        rows = []
        for stage in STAGES:
            out = work / stage
            done = subprocess.run([sys.executable, __file__, "--child", stage, str(prev), str(out)], cwd=REPO,
                                  env=env, capture_output=True, text=True)  # fmt: skip
            if done.returncode:
                raise SystemExit(f"{stage} failed:\n{done.stderr[-3000:]}")
            spent = json.loads(done.stdout.strip().splitlines()[-1])
            stats = json.loads((out / "stats.json").read_text())
            rows.append((stage, stats["bytes_in"], spent))
            print(stage, json.dumps(spent), flush=True)
            prev = out
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ncorpus {args.mb:.0f} MB; load average at the end {os.getloadavg()[0]:.2f} (2 cores)")
    print("| stage | input MB | CPU s | MeCab s | MeCab share | MeCab calls | MB/s per core | without MeCab |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    total_cpu = total_mecab = 0.0
    for stage, bytes_in, s in rows:
        mb = bytes_in / 1e6
        total_cpu += s["cpu_s"]
        total_mecab += s["mecab_s"]
        rest = s["cpu_s"] - s["mecab_s"]
        print(f"| {stage} | {mb:.1f} | {s['cpu_s']:.1f} | {s['mecab_s']:.1f} | {s['mecab_s'] / s['cpu_s']:.0%} | "
              f"{s['calls']:,} | {mb / s['cpu_s']:.2f} | {mb / rest:.2f} |")  # fmt: skip
    print(f"| all after ingest | | {total_cpu:.1f} | {total_mecab:.1f} | {total_mecab / total_cpu:.0%} | | | |")
    print(
        f"job input {args.mb:.0f} MB: MeCab alone caps the stages after ingest at "
        f"{args.mb / total_mecab:.2f} MB of job input per CPU-second"
    )


if __name__ == "__main__":
    main()
