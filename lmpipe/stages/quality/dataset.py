"""Training sets for the quality classifier: positives against negatives, deduplicated, balanced, split.

Two recipes:
- **cited** (LLaMA, Touvron et al. 2023): positives are crawl pages whose URL Wikipedia cites as a reference
  (joined by `urls.url_key`), negatives are pages sampled at random from the same crawl;
- **corpora**: any positive corpus against any negative corpus (Wikipedia text against random crawl when the
  cited pages were never crawled; DCLM's instruction-style positives, Li et al. 2024, the same way).
Inputs are anything `lmpipe.core.readers` reads (a stage's Parquet output, JSONL, text; run `ingest` on WARC first
so pages are text). Records that yield no document are counted and logged, never dropped silently.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from datatrove.data import Document
from loguru import logger

from lmpipe.core import schema
from lmpipe.core.readers import RecordKeys, Skip, iter_file, resolve_inputs
from lmpipe.stages.quality.text import has_hangul
from lmpipe.stages.quality.urls import url_key


@dataclass
class Example:
    text: str
    positive: bool
    lang: str  # the document's `lang`, else "ko" for Hangul text, else "und"
    source: str
    id: str


@dataclass
class BuildReport:
    """What the builder read and did, for the model card."""

    recipe: str
    read: Counter = field(default_factory=Counter)  # documents read per role
    skipped_input: Counter = field(default_factory=Counter)  # reader skip reasons
    joined: Counter = field(default_factory=Counter)  # cited recipe: crawl docs by outcome of the URL join
    duplicates_removed: Counter = field(default_factory=Counter)
    balanced_away: Counter = field(default_factory=Counter)  # per "lang/class": examples dropped to balance
    final: Counter = field(default_factory=Counter)  # per "lang/class"
    sources: Counter = field(default_factory=Counter)  # per "class/source" in the final set


def read_documents(paths: Iterable[str], report: BuildReport, role: str) -> Iterator[Document]:
    for path in resolve_inputs(list(paths)):
        for item in iter_file(path, RecordKeys()):
            if isinstance(item, Skip):
                report.skipped_input[item.reason] += 1
                logger.warning(f"skipped {item.file}:{item.row}: {item.reason} ({item.detail})")
                continue
            report.read[role] += 1
            yield item


def _lang(doc: Document) -> str:
    lang = doc.metadata.get(schema.LANG)
    if lang:
        return str(lang)
    return "ko" if has_hangul(doc.text) else "und"


def _example(doc: Document, positive: bool) -> Example:
    return Example(doc.text, positive, _lang(doc), str(doc.metadata.get(schema.SOURCE, "")), doc.id)


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Split at paragraph (then line) boundaries into pieces of at most about `max_chars` characters."""
    if len(text) <= max_chars:
        return [text]
    pieces, current = [], ""
    for para in re.split(r"(\n\s*\n|\n)", text):
        if current and len(current) + len(para) > max_chars:
            pieces.append(current.strip())
            current = ""
        current += para
    if current.strip():
        pieces.append(current.strip())
    return [p for p in pieces if p]


def examples_from_corpora(
    positive_paths: list[str], negative_paths: list[str], report: BuildReport, chunk_chars: int | None = None
) -> list[Example]:
    examples = []
    for paths, positive in ((positive_paths, True), (negative_paths, False)):
        for doc in read_documents(paths, report, "positive" if positive else "negative"):
            ex = _example(doc, positive)
            pieces = chunk_text(ex.text, chunk_chars) if chunk_chars else [ex.text]
            for i, piece in enumerate(pieces):
                examples.append(Example(piece, positive, ex.lang, ex.source, f"{ex.id}#{i}" if i else ex.id))
    return examples


def examples_from_citations(
    crawl_paths: list[str], reference_keys: set[str], report: BuildReport, negatives_per_positive: float = 1.0,
    max_negatives: int | None = None, seed: int = 1,
) -> list[Example]:  # fmt: skip
    """Crawl pages whose URL is cited (positives) and a uniform random sample of the others (negatives).

    The negatives are drawn by reservoir sampling, so a crawl of any size streams through in bounded memory;
    the reservoir holds `max_negatives` pages (None: all non-cited pages are candidates, then balanced later).
    """
    rng = random.Random(seed)
    positives: list[Example] = []
    reservoir: list[Example] = []
    seen = 0
    for doc in read_documents(crawl_paths, report, "crawl"):
        url = doc.metadata.get(schema.URL)
        key = url_key(str(url)) if url else None
        if url is None:
            report.joined["no_url"] += 1
        elif key is None:
            report.joined["url_not_web"] += 1
        if key is not None and key in reference_keys:
            report.joined["cited"] += 1
            positives.append(_example(doc, True))
            continue
        report.joined["not_cited"] += 1
        seen += 1
        ex = _example(doc, False)
        if max_negatives is None or len(reservoir) < max_negatives:
            reservoir.append(ex)
        else:
            j = rng.randrange(seen)
            if j < max_negatives:
                reservoir[j] = ex
    if not positives:
        raise ValueError(
            f"none of {report.read['crawl']:,} crawl documents has a cited URL ({len(reference_keys):,} reference "
            "keys): the crawl does not contain the cited pages; crawl them, or train on explicit corpora"
        )
    n_neg = min(len(reservoir), round(len(positives) * negatives_per_positive))
    return positives + rng.sample(reservoir, n_neg)


def text_fingerprint(text: str) -> str:
    return hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def dedup(examples: list[Example], report: BuildReport) -> list[Example]:
    """Exact duplicates (case and whitespace folded) go; a text in both classes is kept as a positive only."""
    by_print: dict[str, Example] = {}
    for ex in examples:
        fp = text_fingerprint(ex.text)
        kept = by_print.get(fp)
        if kept is None:
            by_print[fp] = ex
            continue
        report.duplicates_removed["positive" if ex.positive else "negative"] += 1
        if ex.positive and not kept.positive:
            by_print[fp] = ex
    return list(by_print.values())


def balance(examples: list[Example], report: BuildReport, seed: int = 1, max_ratio: float = 1.0) -> list[Example]:
    """Per language, sample the larger class down to `max_ratio` times the smaller one.

    Per language, not overall: otherwise a Korean-heavy negative set teaches "Korean = bad" and the classifier
    judges language, not quality. A language with one class only is left out (it cannot be learned).
    """
    rng = random.Random(seed)
    groups: dict[str, dict[bool, list[Example]]] = defaultdict(lambda: {True: [], False: []})
    for ex in examples:
        groups[ex.lang][ex.positive].append(ex)
    out = []
    for lang, classes in sorted(groups.items()):
        n_min = min(len(classes[True]), len(classes[False]))
        if n_min == 0:
            for positive, items in classes.items():
                report.balanced_away[f"{lang}/{'positive' if positive else 'negative'}"] += len(items)
            logger.warning(f"language {lang}: only one class present, {sum(map(len, classes.values()))} left out")
            continue
        cap = max(n_min, int(n_min * max_ratio))
        for positive, items in classes.items():
            kept = rng.sample(items, cap) if len(items) > cap else items
            name = f"{lang}/{'positive' if positive else 'negative'}"
            report.balanced_away[name] += len(items) - len(kept)
            report.final[name] += len(kept)
            out += kept
    for ex in out:
        report.sources[f"{'positive' if ex.positive else 'negative'}/{ex.source}"] += 1
    return out


def split(examples: list[Example], holdout_fraction: float, seed: int = 1) -> tuple[list[Example], list[Example]]:
    """Stratified by (language, class); whole documents go to one side, so the chunks of one long document never
    sit in train and test at once (that would inflate the held-out metrics)."""
    rng = random.Random(seed)
    groups: dict[tuple[str, bool], dict[str, list[Example]]] = defaultdict(lambda: defaultdict(list))
    for ex in examples:
        groups[(ex.lang, ex.positive)][ex.id.split("#", 1)[0]].append(ex)
    train, test = [], []
    for _, docs in sorted(groups.items()):
        doc_ids = sorted(docs)
        rng.shuffle(doc_ids)
        target = round(sum(len(v) for v in docs.values()) * holdout_fraction)
        n_test = 0
        for doc_id in doc_ids:
            if n_test < target and len(doc_ids) > 1:
                test += docs[doc_id]
                n_test += len(docs[doc_id])
            else:
                train += docs[doc_id]
    return train, test
