"""The `pii` stage: replace PII with typed placeholders, count per type, never record a found value.

    python -m lmpipe run pii --input DIR --output DIR [--set placeholder='[{entity}]']

Not only the text: an id holding PII becomes `<source>/pii-<hash>`, string metadata (extra input fields, nested too)
gets the same placeholders, and the URL's query values and path segments are scrubbed (counts in stats.json under
`pii_outside_text`).

Names and addresses are not scrubbed by default: pretraining text (Wikipedia, news) is full of public people and
places, and an NER model would both remove them and need a model this pipeline cannot download. `ner_model`
turns NER on with a spaCy model installed beforehand (see docs/notes/issue-8.md).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from datatrove.data import Document
from loguru import logger

from lmpipe.core import schema
from lmpipe.core.runner import Stage, StageFolder
from lmpipe.core.steps import Transform
from lmpipe.stages.pii.entities import ENTITIES

PII_COUNTS = "pii_counts"  # metadata key: {entity type: replacements} (only on documents that had some)
# metadata key: replacements outside the text, {"id" | "metadata" | "url": {entity type: n}} (only when some);
# "id" is there exactly when the document's id was replaced by its hash (see PiiScrub.scrub_id)
PII_OUTSIDE = "pii_outside_text"
_NOTHING: Counter = Counter()  # shared "no findings" result: callers only read it
ID_PREFIX = "pii-"  # a document id that held PII becomes <source>/pii-<16 hex of sha256(original id)>

# Metadata the pipeline itself writes whose values are codes, dates, hashes or numbers, never free text: not
# scrubbed (a WARC record id's digit groups or a crawl date could only give false findings). Numbers and booleans
# anywhere are never scrubbed; every other string, nested ones included, is. The URL's host and DOMAIN are kept
# (a page's server, not a person's; scrubbing it would break the URL); its userinfo, path and query are scrubbed.
NOT_SCRUBBED = frozenset(
    {
        schema.DOMAIN,
        schema.CRAWL_DATE,
        schema.WARC_RECORD_ID,
        schema.CONTENT_TYPE,
        schema.CHARSET,
        schema.LANG,
        schema.LANG_SCORE,
        schema.QUALITY_SCORE,
        schema.DEDUP_CLUSTER,  # a hash of the kept id
        schema.INPUT_ROW,
        PII_COUNTS,
        PII_OUTSIDE,
    }
)


@dataclass(frozen=True)
class PiiConfig:
    entities: tuple[str, ...] = ENTITIES  # types to scrub (names as in lmpipe/stages/pii/recognizers.py)
    placeholder: str = "<{entity}>"  # replacement text; {entity} is the type, e.g. <PHONE_NUMBER>
    placeholders: dict[str, str] = field(default_factory=dict)  # per-type override, e.g. {EMAIL_ADDRESS: "<email>"}
    ner_model: str | None = None  # installed spaCy model name for PERSON/LOCATION (slow: whole text); None: off


class PiiScrub(Transform):
    """Replace every PII finding in the text with its placeholder; counts go to metadata and task stats.

    Everything else the document carries forward is scrubbed too: an id holding PII becomes a hash-based id
    (`scrub_id`), string metadata (nested too; not NOT_SCRUBBED) gets the same placeholders as the text, and the
    `url` has its userinfo, path segments and query values scrubbed, the placeholder percent-encoded.
    """

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
        self._key_cache: dict[str, tuple[str, Counter]] = {}
        self._may_hold = None

    @property
    def scrubber(self):
        if self._scrubber is None:  # presidio is imported and loaded in the worker, on first use
            from lmpipe.stages.pii.scrubber import PiiScrubber

            self._scrubber = PiiScrubber(tuple(self.cfg.entities), ner_model=self.cfg.ner_model)
        return self._scrubber

    @property
    def _may_hold_pii(self):
        if self._may_hold is None:
            from lmpipe.stages.pii.scrubber import may_hold_pii

            self._may_hold = may_hold_pii
        return self._may_hold

    def _scrub(self, value: str, context: str = "") -> tuple[str, Counter]:
        # Most metadata strings (codes, paths, words) hold no trigger at all: skip them before the scrubber's
        # passes (measured: 14x the text scrub's time on clean web documents without this and the key cache).
        if self.cfg.ner_model is None and not self._may_hold_pii(value):
            return value, _NOTHING
        return self.scrubber.scrub(value, self.cfg.placeholder, self.cfg.placeholders, context=context)

    def _scrub_key(self, key: str) -> tuple[str, Counter]:
        # Keys repeat across documents (`gopher.word_count` ...): their scrub is remembered, up to a bound.
        cached = self._key_cache.get(key)
        if cached is None:
            cached = self._scrub(key)
            if len(self._key_cache) < 100_000:
                self._key_cache[key] = cached
        return cached

    def transform_batch(self, batch: list[Document]) -> None:
        totals: Counter = Counter()  # datatrove counters once per batch (lmpipe.core.steps)
        for doc in batch:
            self._transform(doc, totals)
        for key, n in sorted(totals.items()):
            self.stat_update(key, value=n, unit="batch")

    def transform(self, doc: Document) -> None:
        totals: Counter = Counter()
        self._transform(doc, totals)
        for key, n in sorted(totals.items()):
            self.stat_update(key, value=n)

    def _transform(self, doc: Document, totals: Counter) -> None:
        text, counts = self._scrub(doc.text)
        if counts:
            doc.text = text
            doc.metadata[PII_COUNTS] = dict(sorted(counts.items()))
            totals["docs_with_pii"] += 1
            for entity, n in counts.items():
                totals[f"pii.{entity}"] += n
        outside = self._scrub_outside_text(doc)
        if outside:
            doc.metadata[PII_OUTSIDE] = outside
            totals["docs_with_pii_outside_text"] += 1
            for where, per_entity in outside.items():
                totals[f"pii_outside_text.{where}"] += sum(per_entity.values())

    def _scrub_outside_text(self, doc: Document) -> dict[str, dict[str, int]]:
        found: dict[str, Counter] = {"id": Counter(), "metadata": Counter(), "url": Counter()}
        new_id, counts = self.scrub_id(doc.id)
        doc.id = new_id
        found["id"].update(counts)
        metadata = doc.metadata
        for key in list(metadata):
            if key in NOT_SCRUBBED:
                continue
            value = metadata[key]
            if isinstance(key, str) and key not in schema.COLUMN_KEYS:
                # a key that itself holds PII ({"kim@example.com": ...}) is renamed, as nested keys are
                new_key, counts = self._scrub_key(key)
                if counts and new_key not in metadata:
                    del metadata[key]
                    key = new_key
                    found["metadata"].update(counts)
            if key == schema.URL and isinstance(value, str):
                value, counts = self._scrub_url(value)
                found["url"].update(counts)
            elif key == schema.DEDUP_KEPT_ID and isinstance(value, str):
                value, counts = self.scrub_id(value)  # the same mapping as the kept document's own id
                found["metadata"].update(counts)
            else:
                value = self._scrub_value(value, str(key), found["metadata"])
            metadata[key] = value
        return {where: dict(sorted(c.items())) for where, c in found.items() if c}

    def scrub_id(self, doc_id: str) -> tuple[str, Counter]:
        """`doc_id` unchanged when it holds no PII, else `<source>/pii-<sha256(doc_id)[:16]>`: deterministic
        (the same id in every run and task), unique as long as the original ids are, and free of the value.
        `<source>` is the id's part before its first '/' (ids are `<source>/<record id>`), dropped if it holds PII
        itself; a function of the id alone, so a `dedup_kept_id` naming this document maps to the same new id."""
        _, counts = self._scrub(doc_id)
        if not counts:
            return doc_id, counts
        digest = hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:16]
        source, slash, _ = doc_id.partition("/")
        keep_source = slash and source and not self._scrub(source)[1]
        return (f"{source}/{ID_PREFIX}{digest}" if keep_source else f"{ID_PREFIX}{digest}"), counts

    def _scrub_value(self, value, context: str, found: Counter):
        if isinstance(value, str):
            new, counts = self._scrub(value, context)
            found.update(counts)
            return new
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(k, str):
                    new_k, counts = self._scrub_key(k)
                    if counts and new_k not in value:
                        found.update(counts)
                        k = new_k
                out[k] = self._scrub_value(v, str(k), found)
            return out
        if isinstance(value, (list, tuple)):
            return [self._scrub_value(v, context, found) for v in value]
        return value  # numbers, booleans, None, numpy scalars: never scrubbed

    def _scrub_url(self, url: str) -> tuple[str, Counter]:
        """Scrub a URL's userinfo, path segments, query keys and values, fragment; the host stays. Each part is
        decoded before scrubbing (kim%40example.com is an e-mail too) and re-encoded only where it changed."""
        found: Counter = Counter()
        try:
            parts = urlsplit(url)
        except ValueError:  # not a URL (bad IPv6 brackets ...): scrub it as plain text
            return self._scrub(url)

        def component(raw: str, context: str = "", plus: bool = False) -> str:
            decoded = unquote_plus(raw) if plus else unquote(raw)
            new, counts = self._scrub(decoded, context)
            if not counts:
                return raw
            found.update(counts)
            return quote_plus(new, safe="") if plus else quote(new, safe="")

        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            netloc = f"{':'.join(component(p) for p in userinfo.split(':'))}@{host}"
        path = "/".join(component(segment) for segment in parts.path.split("/"))
        pairs = []
        for pair in parts.query.split("&") if parts.query else []:
            key, eq, value = pair.partition("=")
            key = component(key, plus=True)
            pairs.append(f"{key}{eq}{component(value, unquote_plus(key), plus=True)}")
        fragment = component(parts.fragment)
        if not found:
            return url, found
        return urlunsplit((parts.scheme, netloc, path, "&".join(pairs), fragment)), found


def build_pii(cfg: PiiConfig) -> list:
    return [PiiScrub(cfg)]


def pii_account(cfg: PiiConfig, doc: Document, kept: bool, with_text: bool, ledger) -> None:
    """In the tasks: the per-type counts of every kept document (counts only, never values) into the ledger."""
    if not kept:
        return
    counts = doc.metadata.get(PII_COUNTS)
    if counts:
        ledger.tally("pii", "docs_with_pii")
        for entity, n in counts.items():
            ledger.tally("pii.replacements", entity, n)
    outside = doc.metadata.get(PII_OUTSIDE)
    if outside:
        ledger.tally("pii", "docs_outside")
        ledger.tally("pii", "ids_rehashed", int("id" in outside))
        for where, per_entity in outside.items():
            for entity, n in per_entity.items():
                ledger.tally(f"pii.outside.{where}", entity, n)


def pii_finalize(folder: StageFolder, cfg: PiiConfig, stats: dict, run=None) -> dict:
    """The tasks' per-type counts (pii_account), summed, into stats.json: in the text, and outside it (ids
    rehashed, metadata fields, URLs)."""
    tallies = stats["tallies"]
    docs = tallies.get("pii", {})
    totals = tallies.get("pii.replacements", {})
    outside = {"id": {}, "metadata": {}, "url": {}}
    outside |= {name.removeprefix("pii.outside."): c for name, c in tallies.items() if name.startswith("pii.outside.")}
    n_outside = sum(sum(c.values()) for c in outside.values())
    logger.info(
        f"pii: {sum(totals.values()):,} replacements in {docs.get('docs_with_pii', 0):,} documents; "
        f"{n_outside:,} outside the text (ids, metadata, URLs) in {docs.get('docs_outside', 0):,} documents"
    )
    return {
        "pii": {"docs_with_pii": docs.get("docs_with_pii", 0), "replacements": dict(sorted(totals.items()))},
        "pii_outside_text": {
            "docs": docs.get("docs_outside", 0),
            "ids_rehashed": docs.get("ids_rehashed", 0),
            **{where: dict(sorted(c.items())) for where, c in outside.items()},
        },
    }


PII_STAGE = Stage(
    "pii",
    "replace PII (e-mail, phone, KR RRN ...) with typed placeholders",
    PiiConfig,
    build_pii,
    finalize=pii_finalize,
    account=pii_account,
)
