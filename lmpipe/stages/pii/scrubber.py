"""Find and replace PII: a fast candidate pass over the whole text, presidio only on the windows around candidates.

Presidio's AnalyzerEngine runs every recognizer's regex over the whole text and builds an explanation object per
match; on web text that is about 0.2 MB/s per core. Almost all text holds no PII, and every identifier we scrub
has a cheap trigger (7+ digits with light separators, an IPv4 or IPv6 shape, '@', a passport shape), so three
fast trigger passes find the few places worth analysing (3% of real web text); presidio then runs once per
trigger group per document on those windows, joined, with only the recognizers the group can need (ours, in
lmpipe/stages/pii/recognizers.py) and an NLP engine that loads no model. Measured: docs/bench/pii.md.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from lmpipe.stages.pii import recognizers as rec
from lmpipe.stages.pii.entities import EMAIL, ENTITIES, IBAN, IP_ADDRESS, KR_PASSPORT

# Triggers: a superset of what the recognizers accept (recall is decided by presidio, not here). Three passes, each
# a pattern `re` can skip through by its first character (a digit; the literal ':' or '@'): one alternation of
# all of them, or any branch that may start anywhere, makes sre try every position and runs ~8x slower.
_TRIGGERS = (
    (
        "num",
        re.compile(
            r"\d(?:(?:[ \-.()/\u2010-\u2015]{0,3}\d){6,}"  # 7+ digits: phones, RRN/ARN, cards, SSN, accounts, IBAN
            r"|\d{0,2}\.\d{1,3}\.\d{1,3}\.\d"  # IPv4 with fewer digits (10.0.0.1)
            r"|\d\d[A-Z]\d{4})"  # Korean passport, current form (M123A4567: its letter is inside the window)
        ),
    ),
    ("ip6", re.compile(r":[0-9A-Fa-f]{0,4}:")),
    ("at", re.compile(r"@")),
)
# Per trigger group: the recognizers it calls for (presidio runs once per group, on that group's windows), and
# the characters kept before and after each trigger for the patterns to match whole. Context words are read from
# the document itself (recognizers.window_map), so windows stay tight: presidio scans ~2% of the text.
_GROUPS: dict[str, tuple[tuple[str, ...], int, int]] = {
    "num": (tuple(e for e in ENTITIES if e != EMAIL), 8, 12),  # "+82 (0)", " ext. 1234"
    "ip6": ((IP_ADDRESS,), 8, 8),
    "at": ((EMAIL,), 72, 72),  # local part and domain
}
_EXTEND_TO_SPACE = 12
# Recognizers of the "num" group that cannot match unless their joined windows contain this: skipped otherwise
# (each presidio recognizer call costs ~0.1 ms even when it finds nothing).
_NEEDS = {
    IBAN: re.compile(r"[A-Za-z]{2}\d\d"),
    KR_PASSPORT: re.compile(r"[A-Z]\d{3}"),
    IP_ADDRESS: re.compile(r"\d\.\d"),
}  # widen a window edge to the next whitespace so no token is cut in two


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    entity: str
    score: float


def may_hold_pii(text: str) -> bool:
    """False when no trigger matches `text`: nothing for presidio to look at (NER mode aside). The stage asks this
    first for each of the many short metadata strings, most of which hold no digit run, ':' pair or '@'."""
    return any(trigger.search(text) is not None for _, trigger in _TRIGGERS)


def build_analyzer(ner_model: str | None = None):
    """An offline presidio AnalyzerEngine with our recognizers; with `ner_model`, also spaCy PERSON/LOCATION.

    No model is ever downloaded: without `ner_model` the NLP engine is presidio's NoOpNlpEngine; with it, the
    spaCy package must already be installed (pip install <model wheel>) or this fails.
    """
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    class ContextInRecognizers(ContextAwareEnhancer):
        # Our recognizers decide context themselves (on the source document); presidio's lemma enhancer needs
        # spaCy tokens we don't have and deep-copies every result: a third of the analyze() time for nothing.
        def __init__(self):
            super().__init__(0, 0, 0, 0)

        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
            return raw_results

    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)  # its debug lines can quote matched text
    registry = RecognizerRegistry(supported_languages=[rec.LANGUAGE])
    for recognizer in rec.all_recognizers():
        registry.add_recognizer(recognizer)
    if ner_model is None:
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": rec.LANGUAGE, "model_name": "none"}])
    else:
        import spacy.util
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        if not spacy.util.is_package(ner_model):
            # SpacyNlpEngine would call spacy.cli.download here: refuse instead (offline workers).
            raise ImportError(
                f"NER mode needs the spaCy model '{ner_model}' installed locally, e.g. "
                f"pip install {ner_model}-<version>-py3-none-any.whl (no download at run time)"
            )
        nlp_engine = SpacyNlpEngine(models=[{"lang_code": rec.LANGUAGE, "model_name": ner_model}])
        registry.add_recognizer(
            SpacyRecognizer(supported_language=rec.LANGUAGE, supported_entities=["PERSON", "LOCATION"])
        )
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[rec.LANGUAGE],
        context_aware_enhancer=ContextInRecognizers() if ner_model is None else None,
    )


def candidate_windows(text: str) -> dict[str, list[tuple[int, int]]]:
    """Per trigger group, merged [start, end) windows of `text` around the triggers, widened to whitespace."""
    groups: dict[str, list[tuple[int, int]]] = {}
    n = len(text)
    for group, trigger in _TRIGGERS:
        _, before, after = _GROUPS[group]
        windows: list[tuple[int, int]] = []
        for m in trigger.finditer(text):
            start, end = max(0, m.start() - before), min(n, m.end() + after)
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
            else:
                windows.append((start, end))
        if windows:
            groups[group] = windows
    for group, windows in groups.items():
        out = []
        for start, end in windows:
            # the text's own start and end count as whitespace: "passportM12345678" opening a text is one token
            if start > 0:
                space = text.rfind(" ", max(0, start - _EXTEND_TO_SPACE), start)
                start = space + 1 if space >= 0 else 0 if start <= _EXTEND_TO_SPACE else start
            if end < n:
                space = text.find(" ", end, end + _EXTEND_TO_SPACE)
                end = space if space >= 0 else n if n - end <= _EXTEND_TO_SPACE else end
            out.append((start, end))
        groups[group] = out
    return groups


def _resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    # Longest span first (a card number beats the phone-shaped piece inside it), then the stronger score.
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (-(f.end - f.start), -f.score, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


class PiiScrubber:
    """Finds PII with presidio on candidate windows; `scrub(text)` returns the new text and counts per type.

    `entities`: the types to look for (default: all of entities.ENTITIES). `ner_model`: see build_analyzer;
    NER needs whole sentences, so in that mode presidio reads the whole text (slow) instead of windows.
    """

    def __init__(self, entities: tuple[str, ...] | None = None, ner_model: str | None = None):
        unknown = set(entities or ()) - set(ENTITIES) - {"PERSON", "LOCATION"}
        if unknown:
            raise ValueError(f"unknown PII type(s) {sorted(unknown)}; known: {', '.join(ENTITIES)}")
        self.entities = list(entities or ENTITIES)
        self.ner_model = ner_model
        if ner_model is not None:
            self.entities += [e for e in ("PERSON", "LOCATION") if e not in self.entities]
        self._analyzer = None  # loaded on first use, in the worker

    @property
    def analyzer(self):
        if self._analyzer is None:
            self._analyzer = build_analyzer(self.ner_model)
        return self._analyzer

    def find(self, text: str) -> list[Finding]:
        if self.ner_model is not None:
            return _resolve_overlaps(self._find_in(text, [(0, len(text))], self.entities))
        findings = []
        for group, windows in candidate_windows(text).items():
            entities = [e for e in _GROUPS[group][0] if e in self.entities]
            if group == "num":
                joined_hint = "".join(text[s:e] for s, e in windows)
                entities = [e for e in entities if e not in _NEEDS or _NEEDS[e].search(joined_hint)]
            if entities:
                findings += self._find_in(text, windows, entities)
        return _resolve_overlaps(findings)

    def _find_in(self, text: str, spans: list[tuple[int, int]], entities: list[str]) -> list[Finding]:
        # One presidio call for all windows, joined by a separator no pattern or context look crosses.
        pieces, offsets, pos = [], [], 0
        for start, end in spans:
            offsets.append(pos)
            pieces.append(text[start:end])
            pos += end - start + len(rec.WINDOW_SEPARATOR)
        joined = rec.WINDOW_SEPARATOR.join(pieces)
        token = rec.window_map.set(rec.WindowMap(text, offsets, spans))
        try:
            results = self.analyzer.analyze(text=joined, language=rec.LANGUAGE, entities=entities)
        finally:
            rec.window_map.reset(token)
        findings, w = [], 0
        for r in sorted(results, key=lambda r: r.start):
            while w + 1 < len(offsets) and offsets[w + 1] <= r.start:
                w += 1
            start = spans[w][0] + r.start - offsets[w]
            end = start + (r.end - r.start)
            # A window edge that cut a longer token (no whitespace near it) could fake a boundary: drop those.
            if (start == spans[w][0] and start > 0 and text[start - 1].isalnum()) or (
                end == spans[w][1] and end < len(text) and text[end].isalnum()
            ):
                continue
            findings.append(Finding(start, end, r.entity_type, r.score))
        return findings

    def scrub(self, text: str, placeholder: str = "<{entity}>", placeholders: dict | None = None, context: str = ""):
        """(new text, Counter of entity type -> replacements). Values never leave this function.

        `context`: words read before `text` only for the recognizers' context checks, never changed or returned:
        the field name of a short value ("phone" for a metadata field "phone": "01012345678").
        """
        if context:
            offset = len(context) + 2
            # a finding that reaches into `text` from the context is cut at its start, never left in
            findings = [
                Finding(max(f.start, offset) - offset, f.end - offset, f.entity, f.score)
                for f in self.find(f"{context}: {text}")
                if f.end > offset
            ]
        else:
            findings = self.find(text)
        if not findings:
            return text, Counter()
        out, pos, counts = [], 0, Counter()
        for f in findings:
            out.append(text[pos : f.start])
            out.append((placeholders or {}).get(f.entity) or placeholder.format(entity=f.entity))
            pos = f.end
            counts[f.entity] += 1
        out.append(text[pos:])
        return "".join(out), counts
