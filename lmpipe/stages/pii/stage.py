"""The `pii` stage: replace PII with typed placeholders, count per type, never record a found value.

    python -m lmpipe run pii --input DIR --output DIR [--set placeholder='[{entity}]']

Names and addresses are not scrubbed by default: pretraining text (Wikipedia, news) is full of public people and
places, and an NER model would both remove them and need a model this pipeline cannot download. `ner_model`
turns NER on with a spaCy model installed beforehand (see docs/notes/issue-8.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from datatrove.data import Document
from loguru import logger

from lmpipe.core.runner import Stage
from lmpipe.core.steps import Transform
from lmpipe.stages.pii.entities import ENTITIES

PII_COUNTS = "pii_counts"  # metadata key: {entity type: replacements} (only on documents that had some)


@dataclass(frozen=True)
class PiiConfig:
    entities: tuple[str, ...] = ENTITIES  # types to scrub (names as in lmpipe/stages/pii/recognizers.py)
    placeholder: str = "<{entity}>"  # replacement text; {entity} is the type, e.g. <PHONE_NUMBER>
    placeholders: dict[str, str] = field(default_factory=dict)  # per-type override, e.g. {EMAIL_ADDRESS: "<email>"}
    ner_model: str | None = None  # installed spaCy model name for PERSON/LOCATION (slow: whole text); None: off


class PiiScrub(Transform):
    """Replace every PII finding in the text with its placeholder; counts go to metadata and task stats."""

    name = "pii scrub"
    slug = "pii"

    def __init__(self, cfg: PiiConfig):
        super().__init__()
        self.cfg = cfg
        if not cfg.placeholder:
            raise ValueError("pii: placeholder must not be empty")
        unknown = set(cfg.entities) - set(ENTITIES)
        if unknown:
            raise ValueError(f"pii: unknown entity type(s) {sorted(unknown)}; known: {', '.join(ENTITIES)}")
        self._scrubber = None

    @property
    def scrubber(self):
        if self._scrubber is None:  # presidio is imported and loaded in the worker, on first use
            from lmpipe.stages.pii.scrubber import PiiScrubber

            self._scrubber = PiiScrubber(tuple(self.cfg.entities), ner_model=self.cfg.ner_model)
        return self._scrubber

    def transform(self, doc: Document) -> None:
        text, counts = self.scrubber.scrub(doc.text, self.cfg.placeholder, self.cfg.placeholders)
        if not counts:
            return
        doc.text = text
        doc.metadata[PII_COUNTS] = dict(sorted(counts.items()))
        self.stat_update("docs_with_pii")
        for entity, n in counts.items():
            self.stat_update(f"pii.{entity}", value=n)


def build_pii(cfg: PiiConfig) -> list:
    return [PiiScrub(cfg)]


def pii_finalize(out_dir: Path, cfg: PiiConfig, stats: dict) -> dict:
    """Sum the per-type counts of the stage's Parquet output into stats.json (counts only, never values)."""
    import pyarrow.parquet as pq

    totals: Counter = Counter()
    docs_with_pii = 0
    for part in sorted(Path(out_dir).glob("part-*.parquet")):
        for value in pq.read_table(part, columns=["metadata_json"]).column("metadata_json").to_pylist():
            if not value:
                continue
            counts = orjson.loads(value).get(PII_COUNTS)
            if counts:
                docs_with_pii += 1
                totals.update(counts)
    logger.info(f"pii: {sum(totals.values()):,} replacements in {docs_with_pii:,} documents")
    return {"pii": {"docs_with_pii": docs_with_pii, "replacements": dict(sorted(totals.items()))}}


PII_STAGE = Stage(
    "pii",
    "replace PII (e-mail, phone, KR RRN ...) with typed placeholders",
    PiiConfig,
    build_pii,
    finalize=pii_finalize,
)
