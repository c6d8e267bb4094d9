"""Exact + MinHash near-duplicate removal over a whole dataset, distributed over local processes or Ray tasks.

    phase 1  signatures, one task per input task                          DIR/_dedup/docs, keys
    phase 2  buckets -> connected components -> keep rule, one task per partition of the intermediate data
    phase 3  `run_stage` with `DedupFilter`: standard outputs, stats.json, excluded/ with reasons, report.md

No step holds all buckets, edges or documents: every intermediate table is split into `partitions` key ranges
sized from `max_partition_mb`, and each range is one task that reads only its rows, from disk or the bucket (shuffle.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from pathlib import Path

from loguru import logger

from lmpipe.core import storage
from lmpipe.core.completion import read_manifest
from lmpipe.core.ledger import write_json_atomic
from lmpipe.core.readers import InputSource
from lmpipe.core.records import InputError
from lmpipe.core.runner import InputSpec, RunConfig, Stage, StageError, StageFolder, StageResult, run_stage
from lmpipe.core.tasks import TaskRunner
from lmpipe.stages.dedup import phases
from lmpipe.stages.dedup.cluster import ComponentsError, cluster
from lmpipe.stages.dedup.config import DedupConfig
from lmpipe.stages.dedup.minhash import lsh_params
from lmpipe.stages.dedup.shuffle import SLOTS
from lmpipe.stages.dedup.stage import build_dedup, finalize_dedup, size_histogram

BYTES_PER_ROW = 64  # in-memory size of one key or edge row with numpy temporaries, for sizing partitions


def prepare_dedup(cfg: DedupConfig, sources: list[InputSource], tasks: int, folder: StageFolder, run: RunConfig):
    """Phases 1-2 over the whole input (signatures, buckets, components, keep decisions) into DIR/_dedup; returns
    the build function of phase 3, the per-document filter that applies the decisions. run_stage calls this after
    its fingerprint check, so DIR/_dedup always belongs to these inputs and this config. DIR/_dedup is in the
    stage's location, a bucket too: the phases' tasks run wherever the executor puts them and share nothing else."""
    root = folder.path("_dedup")
    # The same inputs split over another number of tasks give other phase-1 files: keyed by the task count too.
    stage_fingerprint = json.loads((folder.local / "_stage.json").read_text())["fingerprint"]  # inputs + config
    key = hashlib.sha256(f"{stage_fingerprint}/{tasks}".encode()).hexdigest()[:16]
    marker = storage.join(root, "fingerprint")
    if storage.exists(marker) and storage.read_bytes(marker).decode() != key:
        storage.remove_tree(root)
    storage.write_bytes(marker, key.encode())
    with TaskRunner(run.executor, run.workers, run.ray_mem_per_task_gb) as execute:
        try:
            summary = find_duplicates(cfg, sources, tasks, root, run, execute)
        except ComponentsError as e:
            raise StageError(str(e)) from e
    # the report's input, read by finalize_dedup in the driver's folder (the mirror of a bucket output)
    write_json_atomic(folder.local / "_dedup" / "summary.json", summary)
    return functools.partial(
        build_dedup,
        decisions_dir=storage.join(root, "decisions"),
        example_ids=frozenset(m["id"] for c in summary["examples"] for m in c["members"]),
        keep_removed_text=run.keep_excluded_text,
    )


DEDUP_STAGE = Stage(
    "dedup",
    "exact + MinHash near-duplicate removal over the whole dataset, clustered in parallel (Ray or processes)",
    DedupConfig,
    build_dedup,
    finalize=finalize_dedup,
    prepare=prepare_dedup,
)


def run_dedup(
    cfg: DedupConfig,
    inputs: list[InputSpec],
    output_dir: str | Path,
    run: RunConfig = RunConfig(),
    overwrite: bool = False,
) -> StageResult:
    """Dedup `inputs` into `output_dir`: `run_stage` with this stage (outputs as any stage, plus DIR/report.md)."""
    return run_stage(DEDUP_STAGE, cfg, inputs, output_dir, run, overwrite=overwrite)


def find_duplicates(
    cfg: DedupConfig, sources: list[InputSource], tasks: int, root: str, run: RunConfig, execute: TaskRunner
) -> dict:
    """Phases 1-2: decide, for every document in a duplicate cluster, whether it is kept (files in root)."""
    bands, rows = (
        (cfg.bands, cfg.rows) if cfg.bands is not None else lsh_params(cfg.threshold, cfg.num_perm, cfg.verify)
    )
    timings = {}

    started = time.monotonic()
    if cfg.signatures_from is not None:  # stored signatures of an earlier run: band keys only, no MinHash
        old = _signatures_folder(cfg, tasks, root)
        args = [(t, old[t], bands, rows, root, cfg.max_partition_mb) for t in range(tasks)]
        sig = execute(phases.keys_from_signatures_task, args)
    else:
        sig = execute(phases.signature_task, [(t, tasks, sources, cfg, bands, rows, root) for t in range(tasks)])
    timings["signatures"] = time.monotonic() - started
    docs = sum(r["docs"] for r in sig)
    key_rows = sum(r["key_rows"] for r in sig)
    partitions = _partitions(key_rows, cfg, run)
    logger.info(f"dedup: {docs:,} documents, {key_rows:,} bucket keys -> {partitions} partition(s)")

    result = cluster(cfg, partitions, tasks, root, execute)
    buckets, chosen, steps = result["buckets"], result["chosen"], result["steps"]
    timings.update(result["seconds"])

    removed: dict[str, int] = {}
    for c in chosen:
        for reason, n in c["removed"].items():
            removed[reason] = removed.get(reason, 0) + n
    examples = [e for c in chosen for e in c["examples"]]
    examples = (
        sorted(examples, key=lambda e: -e["size"])[: cfg.report_examples]
        + [e for e in examples if any(m["reason"] == "dedup.near_duplicate" for m in e["members"])][
            : cfg.report_examples
        ]
    )
    unique_examples = list({e["cluster"]: e for e in examples}.values())
    return {
        "documents": docs,
        "docs_without_shingles": sum(r.get("docs_without_shingles", 0) for r in sig),
        "bands": bands,
        "rows": rows,
        "partitions": partitions,
        "tasks": tasks,
        "bucket_keys": key_rows,
        "edges": sum(b["edges"] for b in buckets),
        "exact_buckets": sum(b["exact_buckets"] for b in buckets),
        "lsh_buckets": sum(b["lsh_buckets"] for b in buckets),
        "lsh_candidates": sum(b.get("lsh_candidates", 0) for b in buckets),
        "lsh_verified": sum(r["verified"] for r in result["verified"]) if cfg.verify else None,
        "component_steps": steps,
        "max_rows_held_by_a_task": max(
            [b["rows_held"] for b in buckets] + [c["rows_held"] for c in chosen], default=0
        ),
        "removed": removed,
        "cluster_sizes": size_histogram([c["sizes"] for c in chosen]),
        "phase_seconds": {k: round(v, 3) for k, v in timings.items()},
        "examples": unique_examples,
    }


def _signatures_folder(cfg: DedupConfig, tasks: int, root: str) -> list[str]:
    """The docs files (one per task) of the run named by dedup.signatures_from, checked to hold signatures of
    exactly these inputs, split the same way, made with the same signature settings; a clear error otherwise."""
    old = str(cfg.signatures_from)
    where = f"dedup.signatures_from={old}"
    try:
        manifest = read_manifest(old) or {}
    except InputError as e:
        raise StageError(f"{where}: {e}") from None
    if manifest.get("stage") != "dedup" or not manifest.get("complete"):
        raise StageError(f"{where}: holds no finished dedup run")

    def contents(m: dict) -> list:
        return [e.get("xxh3") or e.get("etag") for e in m.get("input_hashes", {}).values()]

    if contents(manifest) != contents(read_manifest(root.rsplit("/", 1)[0]) or {}):
        raise StageError(f"{where}: that run read other inputs")
    for key in phases.SIGNATURE_SETTINGS:
        if manifest["config"].get(key) != getattr(cfg, key):
            raise StageError(
                f"{where}: that run used {key}={manifest['config'].get(key)!r}, this one {getattr(cfg, key)!r}"
            )
    docs = storage.glob(storage.join(old, "_dedup", "docs", "*.parquet"))
    if len(docs) != tasks:
        raise StageError(f"{where}: that run split its input into other tasks (run.tasks / run.bytes_per_task)")
    return docs


def _partitions(key_rows: int, cfg: DedupConfig, run: RunConfig) -> int:
    by_memory = math.ceil(key_rows * BYTES_PER_ROW / (cfg.max_partition_mb * 1e6))
    floor = cfg.min_partitions if cfg.min_partitions is not None else run.workers
    return max(1, min(SLOTS, max(by_memory, floor)))
