"""Stored signals reused by a later run of a stage: tag once, then re-decide (dolma's tag-then-mix). Used by the
filter stage's rule filters (`filter.signals_from`) and the quality stage's score (`quality.signals_from`, the
`quality_score` column with a `quality.basis` of text and model).

Every rule filter writes its signals into the document's metadata (`gopher.word_count`, ...) with a basis,
`<prefix>.basis` = hash of the text it scored and of every scoring setting (each setting that is not a `min_` or
`max_` threshold). A run with `filter.signals_from=OLD` (the output folder of an earlier filter run, its excluded
documents written with their metadata) looks each document up in OLD: where the basis is equal, the stored
signals are used and only `decide()` runs with the new thresholds; anywhere else (a document an earlier filter
had dropped, a text a changed transform rewrote, a changed scoring setting) the filter scores it as usual. So the
result equals a full re-run by construction, and MeCab and the n-gram scans run only where something changed.

The lookup reads OLD's files of the same task (data/part-<task>.parquet, excluded/*-<task>.parquet): the same inputs
and task count put the same documents in each task. A task's documents elsewhere are misses, scored as usual.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import xxhash

BASIS = "basis"


def scoring_settings(rules) -> dict:
    """The settings of a LanguageRules that scoring may read: all but the min_/max_ thresholds, recursively.
    (tests/test_filter_signals.py checks that no filter's score() reads a threshold.)"""
    out = {}
    for f in dataclasses.fields(rules):
        value = getattr(rules, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = scoring_settings(value)
        elif not f.name.startswith(("min_", "max_")):
            out[f.name] = value
    return out


def settings_key(rules) -> str:
    return xxhash.xxh3_64_hexdigest(json.dumps(scoring_settings(rules), sort_keys=True, default=str))


def basis(text: str, key: str) -> str:
    """One 64-bit hash of the scored text and the scoring settings (16 hex characters per filter and document)."""
    return xxhash.xxh3_64_hexdigest(f"{key}\0{text}")


def basis_prefix(key: str) -> bytes:
    return f"{key}\0".encode()


def encoded_basis(prefix: bytes, text_utf8: bytes) -> str:
    """basis(text, key) from basis_prefix(key) and text.encode(): a text that several filters score is encoded
    once, and not copied behind each filter's key (1.4% of the filter stage)."""
    h = xxhash.xxh3_64(prefix)
    h.update(text_utf8)
    return h.hexdigest()


class SignalCache:
    """Stored metadata of an earlier run's documents (its kept parts and excluded rows), one task at a time.
    `columns`: columns of the kept schema read into the metadata too (the quality stage's `quality_score`)."""

    def __init__(self, folder: str, columns: tuple[str, ...] = ()):
        self.folder = Path(folder)
        self.columns = columns
        self.rank: int | None = None
        self.meta: dict[str, dict] = {}
        self.hits = self.misses = 0

    def load(self, rank: int) -> None:
        if rank == self.rank:
            return
        self.rank, self.meta = rank, {}
        files = [
            self.folder / "data" / f"part-{rank:05d}.parquet",
            *sorted(self.folder.glob(f"excluded/*-{rank:05d}.parquet")),
        ]
        for path in files:
            if not path.exists():
                continue
            names = pq.read_schema(path).names
            extra = [c for c in self.columns if c in names]
            table = pq.read_table(path, columns=["id", "metadata_json", *extra])
            values = {c: table.column(c).to_pylist() for c in extra}
            for i, (doc_id, meta) in enumerate(
                zip(table.column("id").to_pylist(), table.column("metadata_json").to_pylist())
            ):
                m = orjson.loads(meta) if meta else {}
                for c in extra:
                    if values[c][i] is not None:
                        m[c] = values[c][i]
                if m:
                    self.meta[doc_id] = m

    def signals(self, doc_id: str, prefix: str, expected_basis: str) -> dict | None:
        meta = self.meta.get(doc_id)
        if meta is None or meta.get(f"{prefix}.{BASIS}") != expected_basis:
            self.misses += 1
            return None
        self.hits += 1
        start = f"{prefix}."
        return {k[len(start) :]: v for k, v in meta.items() if k.startswith(start) and k != f"{prefix}.{BASIS}"}

    def lookup(self, doc_id: str) -> dict | None:
        return self.meta.get(doc_id)


def signals_folder_check(folder: str, stage_name: str = "filter") -> None:
    """Fail at start for a folder that cannot serve signals (not a finished run of `stage_name`)."""
    manifest = Path(folder) / "_stage.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{stage_name}.signals_from={folder}: no stage output there (no _stage.json)")
    stage = json.loads(manifest.read_text()).get("stage")
    if stage != stage_name:
        raise ValueError(f"{stage_name}.signals_from={folder}: holds stage '{stage}', not '{stage_name}'")
