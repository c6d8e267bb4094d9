"""Phase 2 of dedup: from the band and exact keys of phase 1 to a keep-or-remove decision per duplicate.

    buckets -> [verify LSH candidates] -> connected components (large-star / small-star steps) -> labels
            -> attach keep-rule fields -> choose

Every step runs as `partitions` (or `tasks`) independent tasks through a `TaskRunner` (Ray tasks or a process
pool); each task reads only its key range of the previous step's files. This module needs numpy, pyarrow and
xxhash only (benches/dedup_clustering.py runs it alone).
"""

from __future__ import annotations

import time

from loguru import logger

from lmpipe.core import storage
from lmpipe.core.tasks import TaskRunner
from lmpipe.stages.dedup import phases
from lmpipe.stages.dedup.config import DedupConfig


class ComponentsError(RuntimeError):
    """Connected components did not converge within `max_component_steps`."""


def _files(root: str, folder: str, n: int) -> list[str]:
    """root/folder/00000.parquet ... for n tasks or partitions (root: a local folder or a URL)."""
    return [storage.join(root, folder, f"{i:05d}.parquet") for i in range(n)]


def cluster(cfg: DedupConfig, partitions: int, tasks: int, root: str, execute: TaskRunner) -> dict:
    """Phase 2 over root/keys/*.parquet and root/docs/*.parquet (one per input task) into root/decisions.
    Returns the buckets' and keep rule's task results, the component steps and each step's seconds."""
    timings = {}
    started = time.monotonic()
    key_files = _files(root, "keys", tasks)
    docs = _files(root, "docs", tasks)
    edge_files = _files(root, "cc/000", partitions)
    candidate_files = _files(root, "candidates", partitions) if cfg.verify else None
    buckets = execute(
        phases.bucket_task,
        [(p, partitions, key_files, edge_files[p], candidate_files and candidate_files[p]) for p in range(partitions)],
    )
    timings["buckets"] = time.monotonic() - started

    verified = []
    if cfg.verify:
        started = time.monotonic()
        with_sig = _files(root, "candidates-sig", tasks)
        execute(phases.candidate_signature_task, [(t, candidate_files, docs[t], with_sig[t]) for t in range(tasks)])
        kept = _files(root, "verified", tasks)
        verified = execute(phases.verify_task, [(t, with_sig, docs[t], cfg.threshold, kept[t]) for t in range(tasks)])
        edge_files += kept
        timings["verify"] = time.monotonic() - started

    started = time.monotonic()
    edge_files, steps = _components(cfg, partitions, root, edge_files, execute)
    label_files = _files(root, "labels", partitions)
    execute(phases.labels_task, [(p, partitions, edge_files, label_files[p]) for p in range(partitions)])
    timings["components"] = time.monotonic() - started

    started = time.monotonic()
    member_files = _files(root, "members", tasks)
    execute(phases.attach_task, [(t, label_files, docs[t], member_files[t]) for t in range(tasks)])
    decisions = _files(root, "decisions", partitions)
    chosen = execute(
        phases.choose_task,
        [(p, partitions, member_files, decisions[p], cfg.report_examples) for p in range(partitions)],
    )
    timings["keep_rule"] = time.monotonic() - started
    return {"buckets": buckets, "verified": verified, "chosen": chosen, "steps": steps, "seconds": timings}


def _components(cfg: DedupConfig, partitions: int, root: str, files: list[str], execute) -> tuple[list[str], int]:
    """Alternate large-star and small-star steps over the edges in `files` until two steps change nothing."""
    unchanged_in_a_row = 0
    step = 0
    while unchanged_in_a_row < 2:
        step += 1
        if step > cfg.max_component_steps:
            raise ComponentsError(f"dedup: connected components did not converge in {cfg.max_component_steps} steps")
        large = step % 2 == 1
        out = _files(root, f"cc/{step:03d}", partitions)
        results = execute(phases.star_task, [(p, partitions, files, out[p], large) for p in range(partitions)])
        changed = sum(r["changed"] for r in results)
        unchanged_in_a_row = unchanged_in_a_row + 1 if changed == 0 else 0
        logger.info(f"dedup: {'large' if large else 'small'}-star step {step}: {changed:,} node(s) changed")
        for f in files:  # the previous step's edges are no longer needed (its result markers stay for resuming)
            storage.remove(f)
        files = out
    return files, step
