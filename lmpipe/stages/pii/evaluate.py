"""Score a PII finder on labelled records: recall per type and look-alikes kept per family.

A record is {"text", "pii": [{"start", "end", "entity"}], "lookalikes": [{"start", "end", "family"}]}
(tests/data/pii/labelled.jsonl). A planted value counts as found when the finder's spans cover every character
of it (whatever type they claim: the text is scrubbed either way); a look-alike is kept when no span touches it.
Only counts come out: no value is ever copied into a report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

Span = tuple[int, int]


def _covered(spans: list[Span], start: int, end: int) -> bool:
    covered = [False] * (end - start)
    for s, e in spans:
        for i in range(max(s, start), min(e, end)):
            covered[i - start] = True
    return all(covered)


def _touched(spans: list[Span], start: int, end: int) -> bool:
    return any(s < end and e > start for s, e in spans)


def score(find: Callable[[str], list[Span]], records: Iterable[dict], key: str = "entity") -> dict:
    """{"pii": {type: [found, total]}, "lookalikes": {family: [kept, total]}, "recall", "kept"}."""
    pii: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    look: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        spans = find(r["text"])
        for p in r.get("pii", []):
            pii[p[key]][1] += 1
            pii[p[key]][0] += _covered(spans, p["start"], p["end"])
        for lk in r.get("lookalikes", []):
            look[lk["family"]][1] += 1
            look[lk["family"]][0] += not _touched(spans, lk["start"], lk["end"])
    found, total = sum(v[0] for v in pii.values()), sum(v[1] for v in pii.values())
    kept, seen = sum(v[0] for v in look.values()), sum(v[1] for v in look.values())
    return {
        "pii": dict(sorted(pii.items())),
        "lookalikes": dict(sorted(look.items())),
        "recall": found / total if total else None,
        "kept": kept / seen if seen else None,
    }


def misses(find: Callable[[str], list[Span]], records: Iterable[dict]) -> list[str]:
    """Ids of records with a missed value or a destroyed look-alike (ids only, for debugging)."""
    bad = []
    for r in records:
        spans = find(r["text"])
        if any(not _covered(spans, p["start"], p["end"]) for p in r.get("pii", [])) or any(
            _touched(spans, lk["start"], lk["end"]) for lk in r.get("lookalikes", [])
        ):
            bad.append(r["id"])
    return bad
