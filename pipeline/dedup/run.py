"""Exact + MinHash near-duplicate removal over a whole dataset, distributed over local processes or Ray tasks.

    phase 1  signatures, one task per input task                          DIR/_dedup/docs, keys
    phase 2  buckets -> connected components -> keep rule, one task per partition of the intermediate data
    phase 3  `run_stage` with `DedupFilter`: standard outputs, stats.json, excluded/ with reasons, report.md

No step holds all buckets, edges or documents: every intermediate table is split into `partitions` key ranges
sized from `max_partition_mb`, and each range is one task that reads only its rows from disk (shuffle.py).
"""

from __future__ import annotations

import functools
import hashlib
import math
import shutil
import time
from pathlib import Path

from loguru import logger

from pipeline.dedup import phases
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.minhash import lsh_params
from pipeline.dedup.shuffle import SLOTS, TaskRunner
from pipeline.dedup.stage import build_dedup, finalize_dedup, size_histogram
from pipeline.ledger import write_json_atomic
from pipeline.readers import InputSource
from pipeline.stage import InputSpec, RunConfig, Stage, StageError, StageResult, run_stage

BYTES_PER_ROW = 64  # in-memory size of one key or edge row with numpy temporaries, for sizing partitions


def prepare_dedup(cfg: DedupConfig, sources: list[InputSource], tasks: int, out: Path, run: RunConfig):
    """Phases 1-2 over the whole input (signatures, buckets, components, keep decisions) into DIR/_dedup; returns
    the build function of phase 3, the per-document filter that applies the decisions. run_stage calls this after
    its fingerprint check, so DIR/_dedup always belongs to these inputs and this config."""
    root = out / "_dedup"
    # The same inputs split over another number of tasks give other phase-1 files: keyed by the task count too.
    key = hashlib.sha256(f"{(out / '_stage.json').read_text()}/{tasks}".encode()).hexdigest()[:16]
    if (root / "fingerprint").exists() and (root / "fingerprint").read_text() != key:
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "fingerprint").write_text(key)
    with TaskRunner(run.executor, run.workers, run.ray_mem_per_task_gb) as execute:
        summary = find_duplicates(cfg, sources, tasks, root, run, execute)
    write_json_atomic(root / "summary.json", summary)
    return functools.partial(build_dedup, decisions_dir=str(root / "decisions"))


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
    cfg: DedupConfig, sources: list[InputSource], tasks: int, root: Path, run: RunConfig, execute: TaskRunner
) -> dict:
    """Phases 1-2: decide, for every document in a duplicate cluster, whether it is kept (files in root)."""
    bands, rows = (cfg.bands, cfg.rows) if cfg.bands is not None else lsh_params(cfg.threshold, cfg.num_perm)
    timings = {}

    started = time.monotonic()
    sig = execute(phases.signature_task, [(t, tasks, sources, cfg, bands, rows, str(root)) for t in range(tasks)])
    timings["signatures"] = time.monotonic() - started
    docs = sum(r["docs"] for r in sig)
    key_rows = sum(r["key_rows"] for r in sig)
    partitions = _partitions(key_rows, cfg, run)
    logger.info(f"dedup: {docs:,} documents, {key_rows:,} bucket keys -> {partitions} partition(s)")

    started = time.monotonic()
    key_files = [str(root / "keys" / f"{t:05d}.parquet") for t in range(tasks)]
    step_dir = root / "cc" / "000"
    buckets = execute(
        phases.bucket_task, [(p, partitions, key_files, str(step_dir / f"{p:05d}.parquet")) for p in range(partitions)]
    )
    timings["buckets"] = time.monotonic() - started

    started = time.monotonic()
    edge_files, steps = _components(cfg, partitions, root, step_dir, execute)
    label_dir = root / "labels"
    execute(
        phases.labels_task,
        [(p, partitions, edge_files, str(label_dir / f"{p:05d}.parquet")) for p in range(partitions)],
    )
    timings["components"] = time.monotonic() - started

    started = time.monotonic()
    label_files = [str(label_dir / f"{p:05d}.parquet") for p in range(partitions)]
    execute(
        phases.attach_task,
        [
            (t, label_files, str(root / "docs" / f"{t:05d}.parquet"), str(root / "members" / f"{t:05d}.parquet"))
            for t in range(tasks)
        ],
    )
    member_files = [str(root / "members" / f"{t:05d}.parquet") for t in range(tasks)]
    chosen = execute(
        phases.choose_task,
        [
            (p, partitions, member_files, str(root / "decisions" / f"{p:05d}.parquet"), cfg.report_examples)
            for p in range(partitions)
        ],
    )
    timings["keep_rule"] = time.monotonic() - started

    removed: dict[str, int] = {}
    for c in chosen:
        for reason, n in c["removed"].items():
            removed[reason] = removed.get(reason, 0) + n
    examples = [e for c in chosen for e in c["examples"]]
    examples = sorted(examples, key=lambda e: -e["size"])[: cfg.report_examples] + [
        e for e in examples if any(m["reason"] == "dedup.near_duplicate" for m in e["members"])
    ][: cfg.report_examples]
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
        "component_steps": steps,
        "max_rows_held_by_a_task": max(
            [b["rows_held"] for b in buckets] + [c["rows_held"] for c in chosen], default=0
        ),
        "removed": removed,
        "cluster_sizes": size_histogram([c["sizes"] for c in chosen]),
        "phase_seconds": {k: round(v, 3) for k, v in timings.items()},
        "examples": unique_examples,
    }


def _partitions(key_rows: int, cfg: DedupConfig, run: RunConfig) -> int:
    by_memory = math.ceil(key_rows * BYTES_PER_ROW / (cfg.max_partition_mb * 1e6))
    floor = cfg.min_partitions if cfg.min_partitions is not None else run.workers
    return max(1, min(SLOTS, max(by_memory, floor)))


def _components(cfg: DedupConfig, partitions: int, root: Path, first_dir: Path, execute) -> tuple[list[str], int]:
    """Alternate large-star and small-star steps until two steps in a row change nothing."""
    files = [str(first_dir / f"{p:05d}.parquet") for p in range(partitions)]
    unchanged_in_a_row = 0
    step = 0
    while unchanged_in_a_row < 2:
        step += 1
        if step > cfg.max_component_steps:
            raise StageError(f"dedup: connected components did not converge in {cfg.max_component_steps} steps")
        large = step % 2 == 1
        step_dir = root / "cc" / f"{step:03d}"
        results = execute(
            phases.star_task,
            [(p, partitions, files, str(step_dir / f"{p:05d}.parquet"), large) for p in range(partitions)],
        )
        changed = sum(r["changed"] for r in results)
        unchanged_in_a_row = unchanged_in_a_row + 1 if changed == 0 else 0
        logger.info(f"dedup: {'large' if large else 'small'}-star step {step}: {changed:,} node(s) changed")
        for f in files:  # the previous step's edges are no longer needed (its result markers stay for resuming)
            Path(f).unlink(missing_ok=True)
        files = [str(step_dir / f"{p:05d}.parquet") for p in range(partitions)]
    return files, step
