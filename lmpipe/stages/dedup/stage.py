"""Phase 3 of dedup: the filter that applies the decisions of phases 1-2, and the stage's report.md.

The filter runs inside the standard stage runner (`run_stage`), so dedup ends in the same outputs as every stage:
data/part-*.parquet, excluded/ with a named reason per removed document, stats.json with in == kept + excluded.
"""

from __future__ import annotations

import json

import pyarrow.dataset as ds
from datatrove.data import Document
from loguru import logger

from lmpipe.core import schema, storage
from lmpipe.core.runner import StageError, StageFolder
from lmpipe.core.steps import Filter
from lmpipe.stages.dedup.config import DedupConfig
from lmpipe.stages.dedup.phases import DEDUP_EXACT, DEDUP_NEAR  # noqa: F401  (the reasons, re-exported)


class DedupFilter(Filter):
    """Drops the documents that phases 1-2 decided to remove; records cluster and kept id on every member.

    Decisions are keyed by (task, position in the task's stream): each task loads only its own decisions
    (DIR/_dedup/decisions/*.parquet, rows with part == rank), lazily in the worker."""

    name = "dedup"
    slug = "dedup"

    def __init__(self, decisions_dir: str, example_ids: frozenset[str] = frozenset(), keep_removed_text: bool = True):
        super().__init__()
        self.decisions_dir = decisions_dir
        # the members of the report's example clusters: their texts go to the ledger (the report's exact Jaccard),
        # a removed one's only when the run keeps excluded text
        self.example_ids = example_ids
        self.keep_removed_text = keep_removed_text
        self._decisions: dict[int, tuple[str, str, str, str | None]] = {}
        self._ordinal = 0

    def setup(self, rank: int) -> None:
        """This task's decisions (rows with part == rank)."""
        files = storage.glob(storage.join(self.decisions_dir, "*.parquet"))
        self._decisions, self._ordinal = {}, 0
        if not files:
            return
        table = storage.parquet_dataset(files).to_table(filter=ds.field("part") == rank)
        columns = [table[c].to_pylist() for c in ("ordinal", "id", "cluster", "kept_id", "reason")]
        self._decisions = {row[0]: row[1:] for row in zip(*columns)}
        logger.info(f"dedup task {rank}: {len(self._decisions):,} documents in duplicate clusters")

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        ordinal = self._ordinal
        self._ordinal += 1
        decision = self._decisions.get(ordinal)
        if decision is None:
            return True
        doc_id, cluster, kept_id, reason = decision
        if doc_id != doc.id:
            raise StageError(
                f"dedup: document {ordinal} of this task is {doc.id!r}, signatures saw {doc_id!r}: "
                "the input changed between phases; re-run with --overwrite"
            )
        doc.metadata[schema.DEDUP_CLUSTER] = cluster
        doc.metadata[schema.DEDUP_KEPT_ID] = kept_id
        if doc_id in self.example_ids and self.ledger is not None and (reason is None or self.keep_removed_text):
            self.ledger.sample("dedup.example_texts", [doc_id, doc.text], len(self.example_ids))
        return True if reason is None else (False, reason)


def build_dedup(
    cfg: DedupConfig,
    decisions_dir: str | None = None,
    example_ids: frozenset[str] = frozenset(),
    keep_removed_text: bool = True,
) -> list:
    """Steps of phase 3. `prepare_dedup` binds `decisions_dir` (and the report's example members) after phases
    1-2; without it there is nothing to apply."""
    if decisions_dir is None:
        raise StageError("dedup's filter needs the decisions of phases 1-2: run the stage through run_stage")
    return [DedupFilter(decisions_dir, example_ids, keep_removed_text)]


# --- report ---------------------------------------------------------------------------------------------------


def finalize_dedup(folder: StageFolder, cfg: DedupConfig, stats: dict, run=None) -> dict:
    """Write DIR/report.md from the phase summary; returns the summary for stats.json."""
    out = folder.local
    summary_path = out / "_dedup" / "summary.json"
    if not summary_path.exists():
        return {}
    summary = json.loads(summary_path.read_text())
    texts = dict(stats["samples"].get("dedup.example_texts", []))  # gathered by DedupFilter in the tasks
    for example in summary["examples"]:
        kept_text = texts.get(example["kept_id"])
        for m in example["members"]:
            other = texts.get(m["id"])
            if kept_text is not None and other is not None:
                from lmpipe.stages.dedup.minhash import exact_jaccard

                m["exact_jaccard"] = exact_jaccard(kept_text, other, cfg.shingle, cfg.shingle_size)
    (out / "report.md").write_text(_report(summary, stats, cfg), encoding="utf-8")
    return {"dedup": {k: v for k, v in summary.items() if k != "examples"}}


def _report(summary: dict, stats: dict, cfg: DedupConfig) -> str:
    sizes = {int(k): v for k, v in summary["cluster_sizes"].items()}
    lines = [
        "# Dedup report",
        "",
        f"- documents in: {stats['docs_in']:,}; kept: {stats['docs_out']:,}; removed: {stats['docs_excluded']:,}",
        *(f"  - `{r}`: {n:,}" for r, n in sorted(summary["removed"].items())),
        f"- shingles: {cfg.shingle} {cfg.shingle_size}-grams; MinHash {cfg.num_perm} permutations, "
        f"{summary['bands']} bands x {summary['rows']} rows for Jaccard threshold {cfg.threshold}"
        + ("" if cfg.fuzzy else " (fuzzy dedup off: exact only)"),
        f"- partitions: {summary['partitions']}; component steps: {summary['component_steps']}; "
        f"clusters: {sum(sizes.values()):,}",
        (
            f"- LSH candidate pairs: {summary['lsh_candidates']:,}; kept after signature verification "
            f"(estimated Jaccard >= {cfg.threshold}): {summary['lsh_verified']:,}"
            if summary.get("lsh_verified") is not None
            else "- LSH candidate pairs not verified (dedup.verify=false)"
        ),
        "",
        "## Cluster sizes",
        "",
        "| documents in cluster | clusters |",
        "|---:|---:|",
    ]
    lines += [f"| {size} | {count:,} |" for size, count in sorted(sizes.items())]
    lines += ["", "## Example clusters", ""]
    lines.append("Jaccard to the kept document: estimated from MinHash signatures, and exact on the shingles.")
    for ex in summary["examples"]:
        lines += ["", f"### {ex['cluster']} ({ex['size']} documents, kept `{ex['kept_id']}`)", ""]
        lines += ["| document | decision | est. Jaccard | exact Jaccard |", "|---|---|---:|---:|"]
        for m in ex["members"]:
            est = "" if m["jaccard"] is None else f"{m['jaccard']:.3f}"
            exact = f"{m['exact_jaccard']:.3f}" if "exact_jaccard" in m else ""
            lines.append(f"| `{m['id']}` | {m['reason'] or 'kept'} | {est} | {exact} |")
    return "\n".join(lines) + "\n"


def size_histogram(per_partition: list[dict]) -> dict[str, int]:
    total: dict[int, int] = {}
    for part in per_partition:
        for k, v in part.items():
            total[int(k)] = total.get(int(k), 0) + v
    return {str(k): total[k] for k in sorted(total)}
