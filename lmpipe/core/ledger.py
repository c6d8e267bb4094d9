"""Per-task accounting of a stage: documents and bytes in, kept, excluded by reason, input records skipped.

The reader, the exclusion writers and the output writer of one task share one `Ledger`; the output writer (the
last step) saves it when the task's stream is exhausted. After all tasks, `merge_ledgers` sums them into the
stage's stats.json and checks that every document read is either kept or excluded.

A stage's report reads what its tasks gathered here, never its output parts again (issue 17: no driver work in
proportion to the corpus): `tally` counts under a name and key (kept documents per language, replacements per PII
type), `sample` keeps a task's first few items under a name (the report's examples). Merged, tallies are summed
and samples concatenated in task order, so the first items of a name are the same whatever the worker count.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lmpipe.core import storage


class AccountingError(RuntimeError):
    """Documents in != kept + excluded: something was lost or duplicated."""


@dataclass
class Ledger:
    docs_in: int = 0
    bytes_in: int = 0
    docs_out: int = 0
    bytes_out: int = 0
    excluded_docs: Counter = field(default_factory=Counter)  # reason -> documents
    excluded_bytes: Counter = field(default_factory=Counter)  # reason -> UTF-8 bytes of text
    skipped_input: Counter = field(default_factory=Counter)  # reason -> input records that were no document
    files: list[str] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() when the task began reading
    tallies: dict[str, Counter] = field(default_factory=dict)  # name -> key -> count
    samples: dict[str, list] = field(default_factory=dict)  # name -> the task's first items (JSON values)

    def reset(self) -> None:
        # One process may run several tasks in turn with the same step objects: start each task from zero.
        self.__init__()

    def exclude(self, reason: str, nbytes: int) -> None:
        self.excluded_docs[reason] += 1
        self.excluded_bytes[reason] += nbytes

    def tally(self, name: str, key: str, n: int = 1) -> None:
        counter = self.tallies.get(name)
        if counter is None:
            counter = self.tallies[name] = Counter()
        counter[key] += n

    def has_room(self, name: str, cap: int) -> bool:
        """Whether `sample(name, ..., cap)` would keep an item (check first when the item is costly to build)."""
        return len(self.samples.get(name, ())) < cap

    def sample(self, name: str, item, cap: int) -> None:
        """Keep `item` (a JSON value) if this task has fewer than `cap` under `name`."""
        items = self.samples.setdefault(name, [])
        if len(items) < cap:
            items.append(item)

    def save(self, path: str | Path, wall_seconds: float) -> None:
        data = {
            "docs_in": self.docs_in,
            "bytes_in": self.bytes_in,
            "docs_out": self.docs_out,
            "bytes_out": self.bytes_out,
            "excluded_docs": dict(self.excluded_docs),
            "excluded_bytes": dict(self.excluded_bytes),
            "skipped_input": dict(self.skipped_input),
            "files": self.files,
            "wall_seconds": wall_seconds,
            "tallies": {name: dict(c) for name, c in self.tallies.items()},
            "samples": self.samples,
        }
        write_json_atomic(path, data)


def write_text_atomic(path: str | Path, text: str) -> str | Path:
    """Readers see the old file or the new one, never half of one (a rename locally, one PUT for a URL)."""
    storage.write_bytes(path, text.encode("utf-8"))
    return path


def write_json_atomic(path: str | Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def merge_ledgers(paths: list[str | Path]) -> dict:
    """Sum per-task ledgers into the stage totals and check the invariant docs_in == kept + excluded."""
    total = {"docs_in": 0, "bytes_in": 0, "docs_out": 0, "bytes_out": 0, "task_seconds": 0.0}
    excluded_docs: Counter = Counter()
    excluded_bytes: Counter = Counter()
    skipped: Counter = Counter()
    tallies: dict[str, Counter] = {}
    samples: dict[str, list] = {}
    for path in paths:
        part = json.loads(storage.read_bytes(path))
        for key in ("docs_in", "bytes_in", "docs_out", "bytes_out"):
            total[key] += part[key]
        total["task_seconds"] += part["wall_seconds"]
        excluded_docs.update(part["excluded_docs"])
        excluded_bytes.update(part["excluded_bytes"])
        skipped.update(part["skipped_input"])
        for name, counts in part.get("tallies", {}).items():
            tallies.setdefault(name, Counter()).update(counts)
        for name, items in part.get("samples", {}).items():
            samples.setdefault(name, []).extend(items)
    total["task_seconds"] = round(total["task_seconds"], 3)
    total["docs_excluded"] = sum(excluded_docs.values())
    total["bytes_excluded"] = sum(excluded_bytes.values())
    total["excluded"] = {
        reason: {"docs": excluded_docs[reason], "bytes": excluded_bytes[reason]} for reason in sorted(excluded_docs)
    }
    total["skipped_input"] = dict(sorted(skipped.items()))
    # for the stage's finalize (its report); the runner takes them out of stats.json
    total["tallies"] = {name: dict(sorted(c.items())) for name, c in sorted(tallies.items())}
    total["samples"] = samples
    if total["docs_in"] != total["docs_out"] + total["docs_excluded"]:
        raise AccountingError(
            f"documents in ({total['docs_in']}) != kept ({total['docs_out']}) + excluded ({total['docs_excluded']})"
        )
    return total
