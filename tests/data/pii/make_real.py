"""Build tests/data/pii/real_en.jsonl from third-party labelled PII (licenses allow redistribution; see SOURCES.md).

- presidio-research synth_dataset_v2 (MIT): Faker-generated English sentences with character spans. Records with
  a type we scrub are kept; DATE_TIME, ZIP_CODE and AGE spans become look-alikes (we do not scrub them).
- NeMo-Curator tests/pii_data (Apache-2.0): hand-written lines with inline tags; types we scrub are kept.

Same record format as labelled.jsonl. Reads the shared data directory (default ../shared/data/pii):

    .venv/bin/python tests/data/pii/make_real.py [SHARED_PII_DIR]
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}
PRESIDIO_LOOKALIKES = {"DATE_TIME": "date", "ZIP_CODE": "zip_code", "AGE": "age"}
NEMO_TYPES = {
    "email": "EMAIL_ADDRESS",
    "phone_number": "PHONE_NUMBER",
    "credit_card_number": "CREDIT_CARD",
    "ssn": "US_SSN",
    "ip_address": "IP_ADDRESS",
}
_TAG = re.compile(r"<(\w+)>(.*?)</\1>")


def presidio_records(path: Path) -> list[dict]:
    out = []
    for i, r in enumerate(json.load(gzip.open(path, "rt", encoding="utf-8"))):
        pii = [
            {"start": s["start_position"], "end": s["end_position"], "entity": PRESIDIO_TYPES[s["entity_type"]]}
            for s in r["spans"]
            if s["entity_type"] in PRESIDIO_TYPES
        ]
        look = [
            {"start": s["start_position"], "end": s["end_position"], "family": PRESIDIO_LOOKALIKES[s["entity_type"]]}
            for s in r["spans"]
            if s["entity_type"] in PRESIDIO_LOOKALIKES
        ]
        if pii or look:
            record = {
                "id": f"presidio-synth/{i}",
                "lang": "en",
                "text": r["full_text"],
                "pii": pii,
                "lookalikes": look,
            }
            out.append(record)
    return out


def nemo_records(path: Path) -> list[dict]:
    out = []
    for line in gzip.open(path, "rt", encoding="utf-8"):
        r = json.loads(line)
        text, pii, pos, last = [], [], 0, 0
        for m in _TAG.finditer(r["tagged"]):
            text.append(r["tagged"][last : m.start()])
            pos += m.start() - last
            if m.group(1) in NEMO_TYPES:
                pii.append({"start": pos, "end": pos + len(m.group(2)), "entity": NEMO_TYPES[m.group(1)]})
            text.append(m.group(2))
            pos += len(m.group(2))
            last = m.end()
        text.append(r["tagged"][last:])
        if pii:
            out.append({"id": r["id"], "lang": "en", "text": "".join(text), "pii": pii, "lookalikes": []})
    return out


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[3] / "../shared/data/pii")
    records = presidio_records(src / "presidio_synth_dataset_v2.json.gz") + nemo_records(
        src / "nemo_curator_pii_test_lines.jsonl.gz"
    )
    out = Path(__file__).with_name("real_en.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for r in records:
            for s in r["pii"] + r["lookalikes"]:
                assert r["text"][s["start"] : s["end"]].strip(), r["id"]
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(records)} records -> {out}")


if __name__ == "__main__":
    main()
