"""The `quality` stage: score every document with the quality classifier, then keep by threshold or by top
fraction per language (score, then decide: `quality_score` is stored on every document, kept or excluded, so a
threshold can move later without re-scoring)."""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from datatrove.data import Document

from lmpipe.core import schema
from lmpipe.core.config import ConfigError
from lmpipe.core.runner import Stage
from lmpipe.core.signals import SignalCache, basis, signals_folder_check
from lmpipe.core.steps import Filter
from lmpipe.stages.quality.scorer import QualityScorer

QUALITY_LOW_SCORE = "quality.score_below_threshold"
QUALITY_NOT_TOP_FRACTION = "quality.below_top_fraction"
QUALITY_BASIS = "quality.basis"  # hash of the scored text and the model: where a stored score may be reused


@dataclass(frozen=True)
class QualityConfig:
    model_path: str | None = (
        None  # a model.bin written by `python -m lmpipe.stages.quality train`; None: the shipped one
    )
    # Keep documents with quality_score >= this (None: no threshold). 0.5 is the shipped model's best-F1 region;
    # see the threshold table in its MODEL_CARD.md for the keep rate each value buys.
    min_score: float | None = 0.5
    min_score_by_lang: dict[str, float] = field(default_factory=dict)  # per-language override of min_score
    # Keep the top fraction of documents by score within each language (None: off). Decided per block of
    # `block_docs` documents of a task, since a streaming task never sees the whole dataset: blocks of thousands
    # of documents make the cut-off stable; the last, smaller block of a task uses its own cut-off.
    top_fraction: float | None = None
    block_docs: int = 5000
    # Languages judged; documents in other languages are scored but always kept (None: judge every language).
    # The shipped model has only seen Korean and English.
    languages: tuple[str, ...] | None = None
    # The output folder of an earlier quality run: where a document's text and the model are the same (the
    # `quality.basis` hash beside its stored quality_score), that score is used and only the decision runs with
    # this config's min_score / top_fraction: fastText runs only on what changed. Same result as a full run.
    signals_from: str | None = None

    def __post_init__(self):
        if self.top_fraction is not None and not 0.0 < self.top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {self.top_fraction}")
        if self.block_docs < 1:
            raise ValueError(f"block_docs must be >= 1, got {self.block_docs}")


class QualityClassifierFilter(Filter):
    """Adds `quality_score` to every document; drops below the threshold or outside the top fraction."""

    name = "quality classifier"
    slug = "quality"

    def __init__(self, cfg: QualityConfig = QualityConfig()):
        # A block is scored before any of it is decided: top_fraction needs the block's score distribution, so a
        # block is exactly block_docs documents (whatever their length).
        if cfg.top_fraction is not None:
            super().__init__(max_batch_chars=sys.maxsize, max_batch_docs=cfg.block_docs)
        else:
            super().__init__()
        self.cfg = cfg
        self.scorer = QualityScorer(cfg.model_path)  # loads its model on first use, in the worker
        # what a score depends on besides the text: the model's content (its model.json records the sha256)
        self.model_key = "quality:" + self.scorer.header["sha256"]
        self.signals = None
        if cfg.signals_from is not None:
            try:
                signals_folder_check(cfg.signals_from, "quality")
            except (OSError, ValueError) as e:
                raise ConfigError(str(e)) from None
            self.signals = SignalCache(cfg.signals_from, columns=(schema.QUALITY_SCORE,))

    def setup(self, rank: int) -> None:
        self.scorer.load()  # the fastText model, once per task process
        if self.signals is not None:
            self.signals.load(rank)

    def _judged(self, doc: Document) -> bool:
        return self.cfg.languages is None or doc.metadata.get(schema.LANG) in self.cfg.languages

    def _threshold(self, doc: Document) -> float | None:
        return self.cfg.min_score_by_lang.get(doc.metadata.get(schema.LANG) or "", self.cfg.min_score)

    def _score(self, doc: Document) -> float:
        b = basis(doc.text, self.model_key)
        stored = self.signals.lookup(doc.id) if self.signals is not None else None
        if stored is not None and stored.get(QUALITY_BASIS) == b and stored.get(schema.QUALITY_SCORE) is not None:
            self.signals.hits += 1
            score = stored[schema.QUALITY_SCORE]
        else:
            if self.signals is not None:
                self.signals.misses += 1
            # float32, as the kept schema's column stores it: a re-decision from the stored score is exact
            score = float(np.float32(self.scorer.score(doc.text)))
        doc.metadata[schema.QUALITY_SCORE] = score
        doc.metadata[QUALITY_BASIS] = b
        return score

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        score = self._score(doc)
        threshold = self._threshold(doc)
        if self._judged(doc) and threshold is not None and score < threshold:
            return False, QUALITY_LOW_SCORE
        return True

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        if self.cfg.top_fraction is None:
            return [self.filter(doc) for doc in batch]
        results: list[bool | tuple[bool, str]] = [self.filter(doc) for doc in batch]
        by_lang: dict[str, list[int]] = defaultdict(list)
        for i, doc in enumerate(batch):
            if self._judged(doc):
                by_lang[doc.metadata.get(schema.LANG) or ""].append(i)
        for indices in by_lang.values():
            # The top ceil(fraction * n) of the block's documents in this language; ties broken by position.
            n_keep = math.ceil(self.cfg.top_fraction * len(indices))
            ranked = sorted(indices, key=lambda i: -batch[i].metadata[schema.QUALITY_SCORE])
            for i in ranked[n_keep:]:
                if results[i] is True:
                    results[i] = (False, QUALITY_NOT_TOP_FRACTION)
        return results


def build_quality(cfg: QualityConfig) -> list:
    return [QualityClassifierFilter(cfg)]


QUALITY_STAGE = Stage(
    "quality",
    "fastText quality classifier: add quality_score, keep by threshold or top fraction",
    QualityConfig,
    build_quality,
)
