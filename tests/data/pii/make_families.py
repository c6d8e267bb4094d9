"""Labelled records for the issue-19 families, built from real text in the shared data directory (never bundled).

Look-alikes (must survive) are taken where they occur in real text: ISO dates (`2014-08-08`), year ranges
(`1980-1998`, `( 1624 – 1643 )`) and ISBN-13 numbers (`ISBN=978-...`) in Wikipedia citations (wiki-citations,
CC0), WikiText, Korean Wikipedia (KorQuAD contexts), Korean/English news (korean_english_news_parallel) and the
Korean and English web pages of the PII benchmark. Identifiers (must be scrubbed) are generated (seeded, random:
nobody's) and written into real Korean and English news sentences: Korean mobile numbers with a parenthesised
prefix (`(010) 1234-5678`) and passport numbers glued to their context word (`여권번호M12345678`).

Records: {"id", "lang", "text", "pii": [{"start", "end", "entity", "format"}], "lookalikes": [{"start", "end",
"family", "source"}]}, as tests/data/pii/labelled.jsonl. The shared data has no license for redistribution in
places (web pages), so the records are built when needed (benches/pii.py) and never written into the repository:

    .venv/bin/python tests/data/pii/make_families.py [--shared ../shared/data]   # prints counts per family
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
from collections import Counter
from pathlib import Path

ISO_DATE = re.compile(r"(?<![\d\-./])(?:1\d|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?![\d\-])")
YEAR_RANGE = re.compile(r"(?<![\d\-./])((?:1\d|20)\d\d) ?(?:-|–|—|~|@-@) ?((?:1\d|20)\d\d)(?![\d\-./])")
ISBN13 = re.compile(r"(?<=ISBN)(?:-13)?[=:]? ?(97[89](?:[\- ]?\d){10})(?![\d\-])")


def year_range_ok(m: re.Match) -> bool:
    first, last = int(m.group(1)), int(m.group(2))
    return first < last <= first + 200


def lookalikes_in(text: str) -> list[dict]:
    out = [{"start": m.start(), "end": m.end(), "family": "iso_date"} for m in ISO_DATE.finditer(text)]
    out += [{"start": m.start(), "end": m.end(), "family": "year_range"} for m in YEAR_RANGE.finditer(text)]
    out = [lk for lk in out if lk["family"] != "year_range" or year_range_ok(YEAR_RANGE.match(text, lk["start"]))]
    out += [{"start": m.start(1), "end": m.end(1), "family": "isbn13"} for m in ISBN13.finditer(text)]
    return sorted(out, key=lambda lk: lk["start"])


def _gz(path: Path) -> str:
    return gzip.open(path, "rt", encoding="utf-8").read()


def real_texts(shared: Path) -> list[tuple[str, str, str]]:
    """(source, lang, text) units of real text: a citation row, a WikiText line, a sentence, a paragraph."""
    units = []
    rows = csv.reader(io.StringIO(_gz(shared / "wiki-citations/wikipedia_citations_with_ids_part-00122.csv.gz")))
    units += [("wiki-citations", "en", row[2]) for row in rows if len(row) > 2]  # the citation's map, as written
    for split in ("test", "valid"):
        units += [
            ("wikitext", "en", line.strip()) for line in _gz(shared / f"en/wikitext-2_{split}.txt.gz").split("\n")
        ]
    for line in gzip.open(shared / "ko/korean_english_news_parallel.jsonl.gz", "rt", encoding="utf-8"):
        r = json.loads(line)
        units += [("news", "ko", r["ko"]), ("news", "en", r["en"])]
    for line in gzip.open(shared / "ko/korquad_v1_dev_wiki_paragraphs.jsonl.gz", "rt", encoding="utf-8"):
        units.append(("korquad", "ko", json.loads(line)["text"]))
    return units


def web_units(ko: list[str], en: list[str]) -> list[tuple[str, str, str]]:
    """Web page texts cut into 5-line pieces around each line holding a look-alike (footers, post dates)."""
    units = []
    for lang, pages in (("ko", ko), ("en", en)):
        for page in pages:
            lines = page.split("\n")
            for i, line in enumerate(lines):
                if lookalikes_in(line):
                    units.append((f"web_{lang}", lang, "\n".join(lines[max(0, i - 2) : i + 3])))
    return units


def lookalike_records(units: list[tuple[str, str, str]]) -> list[dict]:
    records, seen = [], set()
    for source, lang, text in units:
        found = lookalikes_in(text)
        if not found or text in seen:
            continue
        seen.add(text)
        for lk in found:
            lk["source"] = source
        records.append({"id": f"{source}/{len(records)}", "lang": lang, "text": text, "pii": [], "lookalikes": found})
    return records


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


# (entity, format, lang, generator of (text before the value, value)); the labelled span is the value only
IDENTIFIERS = [
    ("PHONE_NUMBER", "kr_mobile_paren", "ko", lambda r: ("", f"(010) {_d(r, 4)}-{_d(r, 4)}")),
    ("PHONE_NUMBER", "kr_mobile_paren", "ko", lambda r: ("", f"(010){_d(r, 4)}-{_d(r, 4)}")),
    ("PHONE_NUMBER", "kr_mobile_paren", "ko", lambda r: ("", f"(010) {_d(r, 4)} {_d(r, 4)}")),
    ("PHONE_NUMBER", "kr_mobile_paren", "ko", lambda r: ("", f"(011) {_d(r, 3)}-{_d(r, 4)}")),
    ("PHONE_NUMBER", "kr_mobile_paren", "ko", lambda r: ("", f"(016) {_d(r, 3)}-{_d(r, 4)}")),
    ("KR_PASSPORT", "passport_glued", "ko", lambda r: ("여권번호", f"{r.choice('MS')}{_d(r, 8)}")),
    ("KR_PASSPORT", "passport_glued", "ko", lambda r: ("여권번호: ", f"{r.choice('MS')}{_d(r, 8)}")),
    ("KR_PASSPORT", "passport_glued", "ko", lambda r: ("여권번호", f"M{_d(r, 3)}{r.choice('ABCDEFGHJK')}{_d(r, 4)}")),
    ("KR_PASSPORT", "passport_glued", "ko", lambda r: ("여권번호:", f"{r.choice('MS')}{_d(r, 8)}")),
    ("KR_PASSPORT", "passport_glued", "en", lambda r: ("passport", f"M{_d(r, 8)}")),
    ("KR_PASSPORT", "passport_glued", "en", lambda r: ("Passport", f"M{_d(r, 3)}{r.choice('ABCDEFGHJK')}{_d(r, 4)}")),
]
PARTICLES = ("", "", "로", "으로", "이", "를", ",")


def identifier_records(shared: Path, per_form: int = 30, seed: int = 19) -> list[dict]:
    """Each identifier form written into `per_form` real news sentences, at a random word boundary."""
    rng = random.Random(seed)
    news = [
        json.loads(line)
        for line in gzip.open(shared / "ko/korean_english_news_parallel.jsonl.gz", "rt", encoding="utf-8")
    ]
    sentences = {
        "ko": [r["ko"] for r in news if len(r["ko"]) > 20],
        "en": [r["en"] for r in news if len(r["en"]) > 30],
    }
    records = []
    for k, (entity, fmt, lang, gen) in enumerate(IDENTIFIERS):
        for i in range(per_form):
            words = rng.choice(sentences[lang]).split(" ")
            cut = rng.randrange(len(words) + 1)
            before, value = gen(rng)
            particle = rng.choice(PARTICLES) if lang == "ko" else rng.choice(("", ",", "."))
            head = " ".join(words[:cut])
            head = head + " " if head else ""
            start = len(head) + len(before)
            text = head + before + value + particle + (" " + " ".join(words[cut:]) if cut < len(words) else "")
            span = {"start": start, "end": start + len(value), "entity": entity, "format": fmt}
            records.append({"id": f"pii/{fmt}/{k}/{i}", "lang": lang, "text": text, "pii": [span], "lookalikes": []})
    return records


def build(shared: Path, web: tuple[list[str], list[str]] | None = None) -> list[dict]:
    """Look-alike records from real text (+ web page pieces when `web` = (Korean, English) page texts given)."""
    units = real_texts(shared) + (web_units(*web) if web else [])
    return lookalike_records(units) + identifier_records(shared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "../shared/data")
    args = parser.parse_args()
    records = build(args.shared)
    counts = Counter((lk["family"], lk["source"]) for r in records for lk in r["lookalikes"])
    counts.update(("pii", p["format"]) for r in records for p in r["pii"])
    for key, n in sorted(counts.items()):
        print(*key, n)


if __name__ == "__main__":
    main()
