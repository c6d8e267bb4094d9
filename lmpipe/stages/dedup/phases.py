"""The tasks of dedup's phases 1-2; each runs in its own process (local pool or Ray task) on one partition.

    signatures (per input task)  -> docs/<task>.parquet, keys/<task>.parquet        (exact key + LSH band keys)
    buckets    (per key range)   -> cc/000/<p>.parquet     star edges member -> smallest node of each bucket
    stars      (per node range)  -> cc/<step>/<p>.parquet  alternating large-star / small-star steps
    labels     (per node range)  -> labels/<p>.parquet     node -> smallest node of its component
    attach     (per input task)  -> members/<task>.parquet label + keep-rule fields of that task's documents
    choose     (per label range) -> decisions/<p>.parquet  kept or removed, reason, cluster, kept id

Connected components: "large-star / small-star" (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014). Each step is local to one node's neighbourhood, so a partition of nodes is processed
alone; the steps alternate until neither changes an edge, at which point every component is a star whose
centre is its smallest node. O(log^2 n) steps, and a chain of near-duplicates (A~B~C, A!~C) is one component.

Every folder here (`root`, `out`) may be a local path or an object-storage URL: tasks read and write through
lmpipe.core.storage, so with a bucket output Ray spreads them over the cluster's nodes like any stage's tasks.

A document is a node `task << 32 | ordinal`: its input task (the same split of files that the final filtering
stage uses) and its position in that task's stream, so phase 3 knows its documents without loading ids.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import xxhash

from lmpipe.core import storage
from lmpipe.stages.dedup import minhash
from lmpipe.stages.dedup.config import DedupConfig
from lmpipe.stages.dedup.shuffle import (
    SortedRunWriter,
    read_range,
    slot_of_hash,
    slot_of_node,
    slot_range,
    write_sorted,
)

if TYPE_CHECKING:
    from lmpipe.core.readers import InputSource

# Reasons of removed documents (phase 3 writes them to excluded/); here so phase-2 tasks import no reader stack.
DEDUP_EXACT = "dedup.exact_duplicate"  # same normalized text as the kept document of its cluster
DEDUP_NEAR = "dedup.near_duplicate"  # in a near-duplicate cluster (MinHash LSH) whose kept document differs
EXACT_BAND = -1  # band number of the exact-hash key
ORDINAL_BITS = 32
BATCH_DOCS = 1024

DOCS_SCHEMA = pa.schema(
    [
        ("node", pa.int64()),
        ("id", pa.string()),
        ("quality", pa.float64()),
        ("nbytes", pa.int64()),  # UTF-8 length of the normalized text
        ("exact1", pa.uint64()),
        ("exact2", pa.uint64()),
        ("sig", pa.binary()),
    ]
)
KEYS_SCHEMA = pa.schema(
    [("part", pa.int32()), ("band", pa.int16()), ("k1", pa.uint64()), ("k2", pa.uint64()), ("node", pa.int64())]
)


def _cached(marker: str, fn, *args) -> dict:
    """Resumability: a task whose marker (its result) exists is done; the marker is written after its files."""
    if storage.exists(marker):
        return json.loads(storage.read_bytes(marker))
    started = time.monotonic()
    result = fn(*args)
    result["seconds"] = round(time.monotonic() - started, 3)
    storage.write_bytes(marker, json.dumps(result).encode())
    return result


# --- phase 1: signatures ------------------------------------------------------------------------------------------


def iter_task_documents(sources: list[InputSource], task: int, tasks: int):
    """The documents of one task in the order `CorpusReader` yields them (same files, same skips)."""
    # Imported here: only phase 1 reads inputs; the clustering tasks need numpy, pyarrow and xxhash alone.
    from lmpipe.core.readers import Skip, iter_file, task_files

    for source, path in task_files(sources, task, tasks):
        for item in iter_file(path, source.keys, source.source):
            if not isinstance(item, Skip):
                yield item


def signature_task(
    task: int, tasks: int, sources: list[InputSource], cfg: DedupConfig, bands: int, rows: int, root: str
) -> dict:
    marker = storage.join(root, "sig", f"{task:05d}.json")
    return _cached(marker, _signatures, task, tasks, sources, cfg, bands, rows, root)


def _signatures(task, tasks, sources, cfg: DedupConfig, bands, rows, root) -> dict:
    docs_path = storage.join(root, "docs", f"{task:05d}.parquet")
    # Keys spill to disk in sorted runs: one task's keys never have to fit in memory at once.
    key_path = storage.join(root, "keys", f"{task:05d}.parquet")
    keys = SortedRunWriter(key_path, KEYS_SCHEMA, _key_run_rows(cfg.max_partition_mb))
    counts = Counter()
    batch = []
    with (
        storage.writing(docs_path) as docs_tmp,  # committed whole when the block ends, removed if it raises
        pq.ParquetWriter(docs_tmp, DOCS_SCHEMA, compression="zstd") as docs_writer,
    ):

        def flush():
            _signature_batch(batch, task, counts["docs"] - len(batch), cfg, bands, rows, docs_writer, keys, counts)
            batch.clear()

        for doc in iter_task_documents(sources, task, tasks):
            batch.append(doc)
            counts["docs"] += 1
            if len(batch) >= BATCH_DOCS:
                flush()
        flush()
    counts["key_rows"] = keys.close()
    counts["key_runs"] = keys.runs
    return {"task": task, **counts}


SIGNATURE_SETTINGS = ("shingle", "shingle_size", "num_perm", "seed", "fuzzy")  # what a stored signature depends on


def keys_from_signatures_task(task: int, old_docs: str, bands: int, rows: int, root: str, max_mb: float) -> dict:
    """Phase 1 from an earlier run's stored signatures (dedup.signatures_from): its docs table as it is, and
    the band keys for this run's bands x rows, computed from the stored signatures (no shingling, no MinHash)."""
    marker = storage.join(root, "sig", f"{task:05d}.json")
    return _cached(marker, _keys_from_signatures, task, old_docs, bands, rows, root, max_mb)


def _keys_from_signatures(task, old_docs, bands, rows, root, max_mb) -> dict:
    docs_path = storage.join(root, "docs", f"{task:05d}.parquet")
    storage.copy_file(old_docs, docs_path)  # the docs table as it is: ids, exact keys, signatures
    table = storage.parquet_dataset([docs_path]).to_table(columns=["node", "exact1", "exact2", "sig"])
    keys = SortedRunWriter(storage.join(root, "keys", f"{task:05d}.parquet"), KEYS_SCHEMA, _key_run_rows(max_mb))
    counts = Counter(docs=table.num_rows)
    raw = table.column("sig").to_pylist()
    # a document without shingles has a signature of EMPTY slots (or none, exact-only): no band keys, as in phase 1
    has = np.array([len(s) > 0 and bool((np.frombuffer(s, dtype=np.uint32) != minhash.EMPTY).any()) for s in raw])
    counts["docs_without_shingles"] = int((~has).sum()) if any(len(s) for s in raw) else 0
    sigs = np.stack([np.frombuffer(s, dtype=np.uint32) for s, h in zip(raw, has) if h]) if has.any() else None
    exact1, exact2 = table.column("exact1").to_numpy(), table.column("exact2").to_numpy()
    _write_keys(keys, table.column("node").to_numpy(), exact1, exact2, sigs, has, bands, rows)
    counts["key_rows"] = keys.close()
    counts["key_runs"] = keys.runs
    return {"task": task, **counts}


def _signature_batch(docs, task, first_ordinal, cfg, bands, rows, docs_writer, keys, counts) -> None:
    if not docs:
        return
    nodes = (np.int64(task) << ORDINAL_BITS) + np.arange(first_ordinal, first_ordinal + len(docs), dtype=np.int64)
    exact = np.array([minhash.exact_key(d.text) for d in docs], dtype=np.uint64).reshape(-1, 3)
    from lmpipe.core.schema import QUALITY_SCORE

    quality = []
    for d in docs:
        q = d.metadata.get(QUALITY_SCORE)
        quality.append(float(q) if q is not None and q == q else None)  # NaN ranks like unknown: lowest
    if cfg.fuzzy:
        hashes = [minhash.shingle_hashes(d.text, cfg.shingle, cfg.shingle_size) for d in docs]
        sigs = minhash.signatures(hashes, cfg.num_perm, cfg.seed)
        has = np.array([len(h) > 0 for h in hashes])
        counts["docs_without_shingles"] += int((~has).sum())
    else:
        sigs = np.zeros((len(docs), 0), dtype=np.uint32)
        has = np.zeros(len(docs), dtype=bool)
    docs_writer.write_table(
        pa.table(
            {
                "node": nodes,
                "id": [d.id for d in docs],
                "quality": pa.array(quality, pa.float64()),
                "nbytes": exact[:, 2].astype(np.int64),
                "exact1": exact[:, 0],
                "exact2": exact[:, 1],
                "sig": [s.tobytes() for s in sigs],
            },
            schema=DOCS_SCHEMA,
        )
    )
    _write_keys(keys, nodes, exact[:, 0], exact[:, 1], sigs[has] if has.any() else None, has, bands, rows)


def _key_run_rows(max_partition_mb: float) -> int:
    """Rows of a sorted run of keys: one task's keys spill to disk and never have to fit in memory at once."""
    return max(256, int(max_partition_mb * 1e6 / 64))


def _write_keys(keys, nodes, exact1, exact2, sigs, has, bands: int, rows: int) -> None:
    """A batch's bucket keys: its exact-text key, and `bands` LSH band keys of each document with shingles (`sigs`:
    the signatures of the documents where `has`, or None)."""
    band_no = [np.full(len(nodes), EXACT_BAND, dtype=np.int16)]
    k1, k2, key_nodes = [exact1], [exact2], [nodes]
    if sigs is not None:
        # A document without shingles (no letter or digit at all) gets no band keys: its empty signature would
        # put every such document in one bucket. It still takes part in exact dedup.
        b1, b2 = minhash.band_keys(sigs, bands, rows)
        band_no.append(np.tile(np.arange(bands, dtype=np.int16), int(has.sum())))
        k1.append(b1.ravel())
        k2.append(b2.ravel())
        key_nodes.append(np.repeat(nodes[has], bands))
    k1 = np.concatenate(k1)
    keys.write(
        pa.table(
            {
                "part": slot_of_hash(k1).astype(np.int32),
                "band": np.concatenate(band_no),
                "k1": k1,
                "k2": np.concatenate(k2),
                "node": np.concatenate(key_nodes),
            },
            schema=KEYS_SCHEMA,
        )
    )


# --- phase 2: buckets and connected components ------------------------------------------------------------------


def _edges_table(u: np.ndarray, v: np.ndarray) -> pa.Table:
    """Undirected edges, stored in both directions, partitioned by their first node."""
    a, b = np.concatenate([u, v]), np.concatenate([v, u])
    return pa.table({"part": slot_of_node(a).astype(np.int32), "u": a, "v": b})


def _unique_edges(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (u, v) pairs sorted by u, then v."""
    if len(u) == 0:
        return u, v
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    keep = np.ones(len(u), dtype=bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[keep], v[keep]


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def bucket_task(
    partition: int, partitions: int, key_files: list[str], out: str, candidates: str | None = None
) -> dict:
    return _cached(storage.with_suffix(out, ".json"), _buckets, partition, partitions, key_files, out, candidates)


def _buckets(partition, partitions, key_files, out, candidates: str | None) -> dict:
    """Star edges member -> smallest node of each bucket. With `candidates` (verification on), the edges that
    come from LSH band buckets go there instead, partitioned by the input task of their member node."""
    lo, hi = slot_range(partition, partitions)
    table = read_range(key_files, lo, hi, ["band", "k1", "k2", "node"])
    held = 0 if table is None else table.num_rows
    u = v = np.empty(0, dtype=np.int64)
    from_lsh = np.empty(0, dtype=bool)
    exact_groups = lsh_groups = 0
    if held:
        band, k1, k2, node = (table[c].to_numpy() for c in ("band", "k1", "k2", "node"))
        del table
        order = np.lexsort((node, k2, k1, band))
        band, k1, k2, node = band[order], k1[order], k2[order], node[order]
        new = np.r_[True, (band[1:] != band[:-1]) | (k1[1:] != k1[:-1]) | (k2[1:] != k2[:-1])]
        group = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        sizes = np.diff(np.r_[starts, len(node)])
        centre = node[starts][group]  # smallest node of each bucket (sorted by node within it)
        member = node != centre
        u, v, from_lsh = node[member], centre[member], band[member] != EXACT_BAND
        multi = sizes > 1
        exact_groups = int((multi & (band[starts] == EXACT_BAND)).sum())
        lsh_groups = int((multi & (band[starts] != EXACT_BAND)).sum())
    result = {"rows_held": held, "exact_buckets": exact_groups, "lsh_buckets": lsh_groups}
    if candidates is not None:
        cu, cv = _unique_edges(u[from_lsh], v[from_lsh])
        write_sorted(candidates, pa.table({"part": (cu >> ORDINAL_BITS).astype(np.int32), "u": cu, "v": cv}))
        u, v = u[~from_lsh], v[~from_lsh]
        result["lsh_candidates"] = len(cu)
    u, v = _unique_edges(u, v)
    write_sorted(out, _edges_table(u, v))
    return {**result, "edges": len(u)}


# --- phase 2, optional: verify LSH candidates against their signatures ---------------------------------------------
# Two joins, each task one input task's documents (their signatures live in docs/<task>.parquet):
#   A  candidates whose member u is in task t  -> + u's signature, repartitioned by the task of v
#   B  candidates whose centre v is in task t  -> estimated Jaccard (equal signature slots); keep >= threshold
# A task holds its own documents' signatures and the candidate edges touching them, never all of them.


def _documents_of(docs_file: str, nodes: np.ndarray, what: str, columns: list[str] | None = None) -> pa.Table:
    """Rows of `nodes` (sorted, unique) from one task's docs file, sorted by node; `what` named a missing one."""
    table = (
        storage.parquet_dataset([docs_file])
        .to_table(columns=columns, filter=ds.field("node").isin(pa.array(nodes, pa.int64())))
        .sort_by("node")
    )
    if not np.array_equal(table["node"].to_numpy(), nodes):
        raise RuntimeError(f"dedup: {what} name documents missing from {docs_file}")
    return table


def _signatures_of(docs_file: str, nodes: np.ndarray) -> np.ndarray:
    """Signature rows (uint32) of `nodes` (sorted, unique) from one task's docs file, in the order of `nodes`."""
    return _sig_rows(_documents_of(docs_file, nodes, "candidate edges", ["node", "sig"])["sig"].to_pylist())


def _sig_rows(sigs: list[bytes]) -> np.ndarray:
    if not sigs:
        return np.empty((0, 0), np.uint32)
    return np.frombuffer(b"".join(sigs), dtype=np.uint32).reshape(len(sigs), -1)


def candidate_signature_task(task: int, candidate_files: list[str], docs_file: str, out: str) -> dict:
    return _cached(storage.with_suffix(out, ".json"), _candidate_signatures, task, candidate_files, docs_file, out)


def _candidate_signatures(task, candidate_files, docs_file, out) -> dict:
    table = read_range(candidate_files, task, task + 1, ["u", "v"])
    u = np.empty(0, np.int64) if table is None else table["u"].to_numpy()
    v = np.empty(0, np.int64) if table is None else table["v"].to_numpy()
    nodes, at = np.unique(u, return_inverse=True)
    sig = _signatures_of(docs_file, nodes)[at] if len(u) else _sig_rows([])
    out_table = pa.table(
        {
            "part": (v >> ORDINAL_BITS).astype(np.int32),
            "u": u,
            "v": v,
            "sig_u": pa.array([row.tobytes() for row in sig], pa.binary()),
        }
    )
    write_sorted(out, out_table)
    return {"candidates": len(u)}


def verify_task(task: int, files: list[str], docs_file: str, threshold: float, out: str) -> dict:
    return _cached(storage.with_suffix(out, ".json"), _verify, task, files, docs_file, threshold, out)


def _verify(task, files, docs_file, threshold, out) -> dict:
    table = read_range(files, task, task + 1, ["u", "v", "sig_u"])
    if table is None or table.num_rows == 0:
        write_sorted(out, _edges_table(np.empty(0, np.int64), np.empty(0, np.int64)))
        return {"candidates": 0, "verified": 0}
    u, v = table["u"].to_numpy(), table["v"].to_numpy()
    nodes, at = np.unique(v, return_inverse=True)
    sig_v = _signatures_of(docs_file, nodes)[at]
    sig_u = _sig_rows(table["sig_u"].to_pylist())
    similarity = (sig_u == sig_v).mean(axis=1)  # MinHash estimate of the Jaccard similarity
    keep = similarity >= threshold
    write_sorted(out, _edges_table(u[keep], v[keep]))
    return {"candidates": len(u), "verified": int(keep.sum())}


def star_task(partition: int, partitions: int, in_files: list[str], out: str, large: bool) -> dict:
    return _cached(storage.with_suffix(out, ".json"), _star, partition, partitions, in_files, out, large)


def _read_edges(partition, partitions, in_files) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = slot_range(partition, partitions)
    table = read_range(in_files, lo, hi, ["u", "v"])
    if table is None or table.num_rows == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return _unique_edges(table["u"].to_numpy(), table["v"].to_numpy())


def _star(partition, partitions, in_files, out, large: bool) -> dict:
    u, v = _read_edges(partition, partitions, in_files)
    held = len(u)
    if large:
        # Large star: connect every larger neighbour of u to the smallest node of u's closed neighbourhood.
        starts = _group_starts(u) if held else np.empty(0, dtype=np.int64)
        m = np.minimum(u[starts], np.minimum.reduceat(v, starts)) if held else u
        m_edge = np.repeat(m, np.diff(np.r_[starts, held]))
        larger = v > u
        a, b = v[larger], m_edge[larger]
        changed = int((m_edge[larger] != u[larger]).sum())
    else:
        # Small star: connect u and its smaller neighbours to the smallest of them.
        smaller = v < u
        su, sv = u[smaller], v[smaller]  # still sorted by u, then v: the first of each group is its minimum
        starts = _group_starts(su) if len(su) else np.empty(0, dtype=np.int64)
        counts = np.diff(np.r_[starts, len(su)])
        m_edge = np.repeat(sv[starts], counts)
        others = sv != m_edge
        a = np.concatenate([sv[others], su[starts]])
        b = np.concatenate([m_edge[others], sv[starts]])
        changed = int((counts > 1).sum())
    write_sorted(out, _edges_table(a, b))
    return {"rows_held": held, "changed": changed, "edges_out": len(a)}


def labels_task(partition: int, partitions: int, in_files: list[str], out: str) -> dict:
    return _cached(storage.with_suffix(out, ".json"), _labels, partition, partitions, in_files, out)


def _labels(partition, partitions, in_files, out) -> dict:
    """After convergence every component is a star around its smallest node: label = min(u, neighbours)."""
    u, v = _read_edges(partition, partitions, in_files)
    starts = _group_starts(u) if len(u) else np.empty(0, dtype=np.int64)
    nodes = u[starts]
    labels = np.minimum(nodes, np.minimum.reduceat(v, starts)) if len(u) else nodes
    table = pa.table({"part": (nodes >> ORDINAL_BITS).astype(np.int32), "node": nodes, "label": labels})
    write_sorted(out, table)
    return {"rows_held": len(u), "nodes": len(nodes)}


# --- phase 2b: keep one document per component -------------------------------------------------------------------


def attach_task(task: int, label_files: list[str], docs_file: str, out: str) -> dict:
    return _cached(storage.with_suffix(out, ".json"), _attach, task, label_files, docs_file, out)


def _attach(task, label_files, docs_file, out) -> dict:
    labels = read_range(label_files, task, task + 1, ["node", "label"])
    if labels is None or labels.num_rows == 0:
        write_sorted(out, _members_table(None, np.empty(0, dtype=np.int64)))
        return {"members": 0}
    labels = labels.sort_by("node")
    docs = _documents_of(docs_file, labels["node"].to_numpy(), f"task {task}: component labels")
    table = _members_table(docs, labels["label"].to_numpy())
    write_sorted(out, table)
    return {"members": table.num_rows}


def _members_table(docs: pa.Table | None, labels: np.ndarray) -> pa.Table:
    if docs is None:
        docs = DOCS_SCHEMA.empty_table()
    return docs.append_column("label", pa.array(labels, pa.int64())).append_column(
        "part", pa.array(slot_of_node(labels).astype(np.int32), pa.int32())
    )


DECISIONS_SCHEMA = pa.schema(
    [
        ("part", pa.int32()),  # input task of the document
        ("ordinal", pa.int64()),  # its position in that task's stream
        ("id", pa.string()),
        ("cluster", pa.string()),
        ("kept_id", pa.string()),
        ("reason", pa.string()),  # null for the kept document
    ]
)


def cluster_id(kept_id: str) -> str:
    """Cluster ids follow the kept document, so they do not change with the number of tasks."""
    return "dedup-" + xxhash.xxh3_64_hexdigest(kept_id.encode("utf-8"))


def choose_task(partition: int, partitions: int, member_files: list[str], out: str, examples: int) -> dict:
    return _cached(storage.with_suffix(out, ".json"), _choose, partition, partitions, member_files, out, examples)


def _choose(partition, partitions, member_files, out, examples: int) -> dict:
    lo, hi = slot_range(partition, partitions)
    table = read_range(member_files, lo, hi)
    if table is None or table.num_rows == 0:
        write_sorted(out, DECISIONS_SCHEMA.empty_table())
        return {"rows_held": 0, "sizes": {}, "removed": {}, "examples": []}
    # Keep rule: highest quality score (unknown lowest), then longest text, then smallest id (then input order).
    order = [("label", "ascending"), ("quality", "descending"), ("nbytes", "descending"), ("id", "ascending")]
    table = table.sort_by(order + [("node", "ascending")])
    label = table["label"].to_numpy()
    starts = _group_starts(label)
    sizes = np.diff(np.r_[starts, len(label)])
    first = np.repeat(starts, sizes)  # row of the kept document of each row's cluster
    ids = table["id"].to_pylist()
    kept_ids = [ids[i] for i in starts]
    clusters = [cluster_id(k) for k in kept_ids]
    group = np.repeat(np.arange(len(starts)), sizes)
    e1, e2 = table["exact1"].to_numpy(), table["exact2"].to_numpy()
    is_kept = np.arange(len(label)) == first
    exact = (e1 == e1[first]) & (e2 == e2[first])
    reasons = np.where(is_kept, None, np.where(exact, DEDUP_EXACT, DEDUP_NEAR))
    nodes = table["node"].to_numpy()
    decisions = pa.table(
        {
            "part": (nodes >> ORDINAL_BITS).astype(np.int32),
            "ordinal": nodes & ((1 << ORDINAL_BITS) - 1),
            "id": ids,
            "cluster": [clusters[g] for g in group],
            "kept_id": [kept_ids[g] for g in group],
            "reason": pa.array(reasons.tolist(), pa.string()),
        },
        schema=DECISIONS_SCHEMA,
    )
    write_sorted(out, decisions)
    removed = Counter(r for r in reasons.tolist() if r is not None)
    return {
        "rows_held": table.num_rows,
        "sizes": {str(k): int(v) for k, v in Counter(sizes.tolist()).items()},
        "removed": dict(removed),
        "examples": _examples(table, starts, sizes, clusters, reasons, examples),
    }


def _examples(table, starts, sizes, clusters, reasons, n: int) -> list[dict]:
    """The largest clusters and the near-duplicate clusters with the lowest similarity (the borderline ones)."""
    if n <= 0:
        return []
    sigs = table["sig"].to_pylist()
    ids = table["id"].to_pylist()
    picked = list(np.argsort(-sizes, kind="stable")[:n])
    has_near = [any(r == DEDUP_NEAR for r in reasons[s : s + k]) for s, k in zip(starts, sizes)]
    picked += [g for g in np.flatnonzero(has_near) if g not in picked][:n]
    out = []
    for g in picked:
        s = starts[g]
        kept_sig = np.frombuffer(sigs[s], dtype=np.uint32)
        members = []
        for i in range(s, s + min(int(sizes[g]), 6)):
            sig = np.frombuffer(sigs[i], dtype=np.uint32)
            jac = minhash.estimated_jaccard(kept_sig, sig) if len(sig) and len(kept_sig) else None
            members.append({"id": ids[i], "reason": reasons[i], "jaccard": jac})
        out.append({"cluster": clusters[g], "size": int(sizes[g]), "kept_id": ids[s], "members": members})
    return out
