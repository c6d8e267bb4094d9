"""The `decont` stage: drop (or cut from) training documents that overlap benchmark test sets (EXAONE 3.5).

    python -m lmpipe run decont --input DIR --output DIR --set decont.benchmarks=PATH

The index is built lazily, once per worker process, or memory-mapped from a cache file keyed by the benchmark
files' content hash (see `index.load_or_build`); steps pickle only their config.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from datatrove.data import Document
from loguru import logger

from lmpipe.core import schema, storage
from lmpipe.core.config import ConfigError
from lmpipe.core.runner import Stage, StageFolder
from lmpipe.core.steps import Filter, Transform
from lmpipe.stages.decont import normalize as norm
from lmpipe.stages.decont.benchmarks import discover, load_examples
from lmpipe.stages.decont.index import DecontIndex, IndexParams, load_or_build
from lmpipe.stages.decont.scan import DocHits, Scanner

DECONT_BENCHMARK_OVERLAP = "decont.benchmark_overlap"

# metadata written on a hit
HIT_BENCHMARK = "decont_benchmark"  # benchmark of the first matching window
HIT_EXAMPLE = "decont_example"  # "<file stem>/<example id>" of that benchmark
HIT_MATCH = "decont_match"  # the matching window, normalized
HIT_WINDOWS = "decont_windows"  # matching windows in the document
HIT_BENCHMARKS = "decont_benchmarks"  # every benchmark matched, sorted
CUT_CHARS = "decont_cut_chars"  # characters removed (cut mode)
UNCUT = "decont_uncut"  # cut mode could not place the match in the original text (see DecontCut)


@dataclass(frozen=True)
class DecontConfig:
    benchmarks: str | None = None  # manifest YAML, or a folder with manifest.yaml or the shared benchmark layout
    unit: Literal["chars", "words"] = "chars"  # chars: EXAONE 3.5; words: GPT-3/LLaMA-style n-grams
    window: int = 50  # units per window (50 characters in EXAONE 3.5; 13 words is the GPT-3 choice)
    min_short_units: int | None = 25  # examples shorter than `window`: indexed whole from this length; None: none
    probe_stride: int = 8  # scan speed/memory trade-off; results do not depend on it (tests pin that)
    sample_windows: int | None = None  # EXAONE 3.5 samples 10 windows per document; None scans every window
    sample_seed: int = 0
    action: Literal["drop", "cut"] = "drop"  # cut: remove the matching spans plus `cut_margin_chars` each side
    cut_margin_chars: int = 200
    batch_chars: int = 1 << 18  # text normalized and hashed together: amortizes numpy's per-call cost, stays
    batch_docs: int = 8192  # in cache (256K chars: best of 64K-2M on all four bench corpora, docs/bench/decont.md)
    # index cache; None: $LMPIPE_CACHE or ~/.cache/lmpipe, then /decont. An s3:// or gs:// prefix: one cache for
    # every node of a cluster (downloaded once per node)
    cache_dir: str | None = None
    report_examples: int = 5  # hit examples shown per benchmark in report.md

    def params(self) -> IndexParams:
        return IndexParams(self.unit, self.window, self.min_short_units, self.probe_stride)


# --- the index, once per process ---------------------------------------------------------------------------
_lock = threading.Lock()
_indexes: dict[tuple, DecontIndex] = {}


def _cache_dir(cfg: DecontConfig) -> Path | str:
    if cfg.cache_dir:
        return cfg.cache_dir if storage.is_url(cfg.cache_dir) else Path(cfg.cache_dir)
    return Path(os.environ.get("LMPIPE_CACHE") or Path.home() / ".cache" / "lmpipe") / "decont"


def get_index(cfg: DecontConfig) -> DecontIndex:
    if not cfg.benchmarks:
        raise ConfigError("decont needs benchmarks: --set decont.benchmarks=PATH (manifest YAML or folder)")
    key = (str(Path(cfg.benchmarks).resolve()), cfg.params(), str(_cache_dir(cfg)))
    with _lock:
        if key not in _indexes:
            _indexes[key] = load_or_build(discover(cfg.benchmarks), cfg.params(), _cache_dir(cfg))
        return _indexes[key]


def _match_text(index: DecontIndex, text: str, pos: int, length: int) -> str:
    if index.params.unit == "words":
        return " ".join(norm.normalized_words(text)[pos : pos + length])
    return norm.normalize(text)[pos : pos + length] if pos + length > 0 else ""


def record_hit(index: DecontIndex, doc: Document, hits: DocHits) -> None:
    first = int(np.argmin(hits.positions))
    benchmark, example = index.examples[hits.examples[first]]
    doc.metadata[HIT_BENCHMARK] = benchmark
    doc.metadata[HIT_EXAMPLE] = example
    doc.metadata[HIT_MATCH] = _match_text(index, doc.text, hits.positions[first], hits.lengths[first])
    doc.metadata[HIT_WINDOWS] = len(hits.positions)
    doc.metadata[HIT_BENCHMARKS] = sorted({index.examples[e][0] for e in hits.examples})


class DecontFilter(Filter):
    """Drop documents sharing a normalized window with a benchmark example (EXAONE 3.5, sec. 2.2)."""

    name = "benchmark decontamination"
    slug = "decont"

    def __init__(self, cfg: DecontConfig):
        super().__init__(cfg.batch_chars, cfg.batch_docs)
        self.cfg = cfg
        self._scanner: Scanner | None = None

    def __getstate__(self):  # the scanner holds the index: never pickled, rebuilt or mapped in the worker
        return self.__dict__ | {"_scanner": None}

    @property
    def scanner(self) -> Scanner:
        if self._scanner is None:
            self._scanner = Scanner(get_index(self.cfg), self.cfg.sample_windows, self.cfg.sample_seed)
        return self._scanner

    def setup(self, rank: int) -> None:
        self.scanner  # noqa: B018 - the benchmark index, built or memory-mapped once per worker process

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def scan(self, batch: list[Document]) -> dict[int, DocHits]:
        ids = [d.id for d in batch] if self.cfg.sample_windows is not None else None  # sampling is seeded by id
        return self.scanner.scan([d.text for d in batch], ids)

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        hits = self.scan(batch)
        results: list[bool | tuple[bool, str]] = [True] * len(batch)
        for i, h in hits.items():
            record_hit(self.scanner.index, batch[i], h)
            self.stat_update(f"hit_{batch[i].metadata[HIT_BENCHMARK]}")
            results[i] = (False, DECONT_BENCHMARK_OVERLAP)
        return results


class DecontCut(Transform):
    """Cut the matching spans, plus a margin, out of documents that overlap a benchmark; never drops.

    Offsets come from normalizing one character at a time (`normalize_with_offsets`); where that differs from
    the whole-text normalization (composing sequences such as decomposed jamo) and the match cannot be placed,
    the document is kept whole and marked `decont_uncut`, counted in the step's stats.
    """

    name = "benchmark decontamination (cut)"
    slug = "decont-cut"

    def __init__(self, cfg: DecontConfig):
        super().__init__(cfg.batch_chars, cfg.batch_docs)
        if cfg.unit != "chars":
            raise ConfigError("decont action=cut needs unit=chars (word positions do not map back to the text)")
        self.cfg = cfg
        self._scanner: Scanner | None = None

    __getstate__ = DecontFilter.__getstate__
    scanner = DecontFilter.scanner
    setup = DecontFilter.setup
    scan = DecontFilter.scan

    def transform(self, doc: Document) -> None:
        self.transform_batch([doc])

    def transform_batch(self, batch: list[Document]) -> None:
        for i, h in self.scan(batch).items():
            self._cut(batch[i], h)

    def _cut(self, doc: Document, hits: DocHits) -> None:
        record_hit(self.scanner.index, doc, hits)
        self.stat_update(f"hit_{doc.metadata[HIT_BENCHMARK]}")
        codes, offsets = norm.normalize_with_offsets(doc.text)
        exact = self.scanner._scan_units(codes, np.array([0, len(codes)])).get(0)
        if exact is None:
            doc.metadata[UNCUT] = True
            self.stat_update("uncut")
            logger.warning(f"decont: {doc.id}: matched but the span could not be placed; kept whole, marked {UNCUT}")
            return
        m = self.cfg.cut_margin_chars
        spans = sorted(
            (max(int(offsets[p]) - m, 0), min(int(offsets[p + n - 1]) + 1 + m, len(doc.text)))
            for p, n in zip(exact.positions, exact.lengths)
        )
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        pieces, prev = [], 0
        for a, b in merged:
            pieces.append(doc.text[prev:a])
            prev = b
        pieces.append(doc.text[prev:])
        new = "\n".join(p.strip("\n") for p in pieces if p.strip())
        doc.metadata[CUT_CHARS] = len(doc.text) - len(new)
        doc.text = new


def build_decont(cfg: DecontConfig) -> list:
    if not cfg.benchmarks:
        raise ConfigError("decont needs benchmarks: --set decont.benchmarks=PATH (manifest YAML or folder)")
    discover(cfg.benchmarks)  # fail now, in the driver, on a wrong path or manifest; the index stays lazy
    cfg.params()
    return [DecontCut(cfg) if cfg.action == "cut" else DecontFilter(cfg)]


# --- report ------------------------------------------------------------------------------------------------
def decont_account(cfg: DecontConfig, doc: Document, kept: bool, with_text: bool, ledger) -> None:
    """In the tasks: documents that hit (the excluded ones with action drop, the cut ones with action cut), per
    benchmark, and the first `report_examples` of each benchmark (the matched window only with text kept)."""
    meta = doc.metadata
    if HIT_BENCHMARK not in meta or kept != (cfg.action == "cut"):
        return
    if not kept and meta.get(schema.DROP_REASON) != DECONT_BENCHMARK_OVERLAP:
        return
    ledger.tally("decont", "docs_hit")
    for b in meta.get(HIT_BENCHMARKS) or [meta[HIT_BENCHMARK]]:
        ledger.tally("decont.docs_hit", b)
    example = {"id": doc.id, HIT_EXAMPLE: meta[HIT_EXAMPLE], HIT_WINDOWS: int(meta[HIT_WINDOWS])}
    if with_text:
        example[HIT_MATCH] = meta[HIT_MATCH]
    ledger.sample(f"decont.examples.{meta[HIT_BENCHMARK]}", example, cfg.report_examples)


def decont_finalize(folder: StageFolder, cfg: DecontConfig, stats: dict, run=None) -> dict:
    """Write DIR/report.md: per benchmark, examples indexed and documents hit, with a few hits to judge."""
    out_dir = folder.local
    index = get_index(cfg)
    n_hit = stats["tallies"].get("decont", {}).get("docs_hit", 0)  # gathered by decont_account in the tasks
    docs_hit = stats["tallies"].get("decont.docs_hit", {})
    shown = {
        name.removeprefix("decont.examples."): items[: cfg.report_examples]
        for name, items in stats["samples"].items()
        if name.startswith("decont.examples.")
    }
    texts = _example_texts(cfg, {r[HIT_EXAMPLE] for rs in shown.values() for r in rs})
    p = index.params
    lines = [
        "# Benchmark decontamination report",
        "",
        f"Rule: NFKC, lower case, letters and digits only; every {p.window}-{p.unit[:-1]} window (stride 1"
        + (f", {cfg.sample_windows} sampled per document" if cfg.sample_windows else ", all scanned")
        + f"). Examples shorter than {p.window} units: indexed whole from {p.min_short_units} units, "
        "shorter ones not indexed (column `too short`).",
        f"Action: {cfg.action}. Documents in: {stats.get('docs_in', 0):,}; "
        f"hit: {n_hit:,}. Index: {len(index.keys):,} window keys ({index.key}).",
        "",
        "| benchmark | examples | indexed (windows) | indexed whole (short) | too short | windows | documents hit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in index.counts.items():
        lines.append(
            f"| {name} | {c.examples:,} | {c.indexed:,} | {c.indexed_whole:,} | {c.too_short:,} | {c.windows:,} "
            f"| {docs_hit.get(name, 0):,} |"
        )
    for name, rs in shown.items():
        lines += ["", f"## {name}: hits to judge", ""]
        for r in rs:
            example = texts.get(r[HIT_EXAMPLE], "").replace("\n", " ")
            lines += [
                f"- document `{r['id']}` ({r[HIT_WINDOWS]} matching windows) matched example `{r[HIT_EXAMPLE]}`",
                f"  - match (normalized): `{r.get(HIT_MATCH, '(not kept: the run keeps no excluded text)')}`",
                f"  - example: {example[:300]}{'...' if len(example) > 300 else ''}",
            ]
    (Path(out_dir) / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    per = {
        name: {
            "examples": c.examples,
            "indexed": c.indexed,
            "indexed_whole": c.indexed_whole,
            "too_short": c.too_short,
            "docs_hit": docs_hit.get(name, 0),
        }
        for name, c in index.counts.items()
    }
    return {"decont": {"docs_hit": n_hit, "benchmarks": per}}


def _example_texts(cfg: DecontConfig, wanted: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if not wanted:
        return out
    for spec in discover(cfg.benchmarks):
        for ex in load_examples(spec):
            if ex.id in wanted:
                out[ex.id] = ex.text
    return out


DECONT_STAGE = Stage(
    "decont",
    "drop documents sharing a 50-character normalized window with a benchmark (EXAONE 3.5)",
    DecontConfig,
    build_decont,
    finalize=decont_finalize,
    account=decont_account,
)
