"""Dedup's clustering step (phase 2: buckets, connected components, labels, keep rule) with 1..N workers.

    python benches/dedup_clustering.py --docs 2000000 --tasks 32 --partitions 64 --workers 1,2,4,8,16

The claim under test (issue 6): no step of the clustering must run in one process, so its time falls as workers
are added. This host has 2 cores, so the bench is written to run where there are more (the device machine has
16): it needs numpy, pyarrow, xxhash, pyyaml and loguru, not Ray or datatrove, and runs the tasks in the same
`TaskRunner` process pool the stage uses without Ray (Ray tasks run the same task functions).

Input: phase 1's files for a synthetic corpus, generated here (signatures of real documents at this scale would
take hours on 2 cores). Only the structure matters to phase 2, and it is modelled on web data: 60% of documents
unique, the rest in near-duplicate clusters with heavy-tailed sizes (Zipf, up to 1,000) plus one boilerplate
cluster of 1% of all documents (the hot spot of star-shaped components); each clustered document shares each of
the 9 LSH band keys of its cluster with probability 0.8 (9 x 13 rows, threshold 0.8) and is an exact copy with
probability 0.3. The result is checked: every true cluster should end in one
component (split_true_clusters counts those that did not; a few may, rightly: two members of a pair share no key
with chance 0.36^9), and no decision cluster joins two true clusters (merged_true_clusters, must be 0).
Prints a table and writes a JSON summary (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lmpipe.core.tasks import TaskRunner  # noqa: E402
from lmpipe.stages.dedup import phases  # noqa: E402
from lmpipe.stages.dedup.cluster import cluster  # noqa: E402
from lmpipe.stages.dedup.config import DedupConfig  # noqa: E402
from lmpipe.stages.dedup.shuffle import mix64, slot_of_hash, write_sorted  # noqa: E402

BANDS = 9


def synthetic_phase1(root: Path, n_docs: int, tasks: int, seed: int = 0) -> np.ndarray:
    """Write root/docs/<t>.parquet and root/keys/<t>.parquet; return each document's true cluster (-1: unique)."""
    rng = np.random.default_rng(seed)
    clustered = int(n_docs * 0.4)
    hot = int(n_docs * 0.01)
    sizes = np.minimum(rng.zipf(2.0, clustered) + 1, 1000)
    sizes = sizes[np.cumsum(sizes) <= clustered - hot]
    owner = np.full(n_docs, -1, dtype=np.int64)
    members = np.concatenate([np.full(hot, 0), np.repeat(np.arange(1, len(sizes) + 1), sizes)])
    where = rng.permutation(n_docs)[: len(members)]
    owner[where] = members
    per_task = -(-n_docs // tasks)
    for t in range(tasks):
        lo, hi = t * per_task, min((t + 1) * per_task, n_docs)
        n = hi - lo
        nodes = (np.int64(t) << phases.ORDINAL_BITS) + np.arange(n, dtype=np.int64)
        own = owner[lo:hi]
        inc = own >= 0
        # exact keys: a third of the clustered documents are exact copies of their cluster's text
        exact_copy = inc & (rng.random(n) < 0.3)
        e1 = mix64(np.where(exact_copy, own + (1 << 40), nodes + (1 << 50)))
        e2 = mix64(e1 ^ np.uint64(0x9E3779B97F4A7C15))
        quality = rng.random(n)
        docs = pa.table(
            {
                "node": nodes,
                "id": [f"doc-{t}-{i}" for i in range(n)],
                "quality": quality,
                "nbytes": rng.integers(200, 20000, n),
                "exact1": e1,
                "exact2": e2,
                "sig": pa.array([b""] * n, pa.binary()),
            },
            schema=phases.DOCS_SCHEMA,
        )
        (root / "docs").mkdir(parents=True, exist_ok=True)
        pq.write_table(docs, root / "docs" / f"{t:05d}.parquet", compression="zstd")
        band = np.tile(np.arange(BANDS, dtype=np.int64), n)
        shared = np.repeat(inc, BANDS) & (rng.random(n * BANDS) < 0.8)
        base = np.where(shared, np.repeat(own, BANDS) * 64 + band, np.repeat(nodes, BANDS) * 64 + band + (1 << 60))
        k1 = mix64(base.astype(np.uint64))
        k1_all = np.concatenate([e1, k1])
        keys = pa.table(
            {
                "part": slot_of_hash(k1_all).astype(np.int32),
                "band": np.concatenate([np.full(n, phases.EXACT_BAND, np.int16), band.astype(np.int16)]),
                "k1": k1_all,
                "k2": mix64(k1_all ^ np.uint64(0x5851F42D4C957F2D)),
                "node": np.concatenate([nodes, np.repeat(nodes, BANDS)]),
            },
            schema=phases.KEYS_SCHEMA,
        )
        write_sorted(root / "keys" / f"{t:05d}.parquet", keys)
    return owner


def check(root: Path, owner: np.ndarray, tasks: int, n_docs: int) -> dict:
    """Every cluster maps to decisions with one kept document; no decision joins two true clusters."""
    table = pa.concat_tables(pq.read_table(f) for f in sorted((root / "decisions").glob("*.parquet")))
    per_task = -(-n_docs // tasks)
    doc = table["part"].to_numpy().astype(np.int64) * per_task + table["ordinal"].to_numpy()
    truth = owner[doc]
    cluster_ids = table["cluster"].to_numpy(zero_copy_only=False)
    by_cluster: dict[str, set] = {}
    for c, t in zip(cluster_ids, truth):
        by_cluster.setdefault(c, set()).add(int(t))
    merged = sum(1 for s in by_cluster.values() if len(s - {-1}) > 1)
    decided = dict(zip(doc.tolist(), cluster_ids))
    by_truth: dict[int, set] = {}
    for d in np.flatnonzero(owner >= 0).tolist():
        by_truth.setdefault(int(owner[d]), set()).add(decided.get(d))
    split = sum(1 for s in by_truth.values() if len(s) > 1 or None in s)
    kept = table.num_rows - table["reason"].drop_null().length() if table.num_rows else 0
    return {
        "decisions": table.num_rows,
        "clusters": len(by_cluster),
        "kept": int(kept),
        "true_clusters": len(by_truth),
        "split_true_clusters": split,
        "merged_true_clusters": merged,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=2_000_000)
    ap.add_argument("--tasks", type=int, default=32)
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--work", default="/tmp/dedup-clustering")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    base = work / "phase1"
    t = time.perf_counter()
    owner = synthetic_phase1(base, args.docs, args.tasks)
    key_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in (base / "keys").glob("*.parquet"))
    print(
        f"phase-1 files: {args.docs:,} documents, {key_rows:,} key rows, {args.tasks} tasks, "
        f"made in {time.perf_counter() - t:.1f}s; {os.cpu_count()} CPUs",
        flush=True,
    )
    cfg = DedupConfig(report_examples=0, verify=False)  # synthetic documents have no signatures to verify
    results = []
    for w in [int(x) for x in args.workers.split(",")]:
        root = work / f"w{w}"
        shutil.copytree(base, root)
        started = time.perf_counter()
        with TaskRunner("local", w) as execute:
            r = cluster(cfg, args.partitions, args.tasks, root, execute)
        wall = time.perf_counter() - started
        row = {
            "workers": w,
            "wall_s": round(wall, 2),
            **{k: round(v, 2) for k, v in r["seconds"].items()},
            "component_steps": r["steps"],
            "edges": sum(b["edges"] for b in r["buckets"]),
            "max_rows_held_by_a_task": max(b["rows_held"] for b in r["buckets"]),
            **check(root, owner, args.tasks, args.docs),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(root)
    print("\n| workers | clustering wall s | buckets s | components s | keep rule s | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['workers']} | {r['wall_s']:.1f} | {r['buckets']:.1f} | {r['components']:.1f} | "
            f"{r['keep_rule']:.1f} | {results[0]['wall_s'] / r['wall_s']:.2f}x |"
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "dedup_clustering.json").write_text(
        json.dumps(
            {
                "docs": args.docs,
                "key_rows": key_rows,
                "tasks": args.tasks,
                "partitions": args.partitions,
                "cpus": os.cpu_count(),
                "runs": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
