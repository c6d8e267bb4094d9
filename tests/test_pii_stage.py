"""The `pii` stage end to end: CLI run, placeholders in the output, per-type counts in stats.json, no values leak."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from lmpipe.core.config import ConfigError, from_dict
from lmpipe.stages.pii.stage import PII_COUNTS, PiiConfig, PiiScrub

REPO = Path(__file__).resolve().parent.parent

VALUES = {
    "PHONE_NUMBER": "010-2987-6543",
    "EMAIL_ADDRESS": "minji.kim77@daum.net",
    "KR_RRN": "880315-2345671",
    "CREDIT_CARD": "4532 0151 1283 0366",
    "IP_ADDRESS": "198.51.100.23",
    "US_SSN": "219-09-9999",
}
DOCS = [
    {
        "id": "ko-1",
        "text": f"고객센터 담당자 휴대폰 {VALUES['PHONE_NUMBER']}, 이메일 {VALUES['EMAIL_ADDRESS']}로 문의하세요.",
    },
    {
        "id": "ko-2",
        "text": f"주민등록번호 {VALUES['KR_RRN']} 인 신청인은 2024년 5월 12일 제출했다. 인구 51,780,579명.",
    },
    {
        "id": "en-1",
        "text": f"Card {VALUES['CREDIT_CARD']} was used from {VALUES['IP_ADDRESS']} (SSN {VALUES['US_SSN']}).",
    },
    {"id": "en-2", "text": "Chrome 120.0.6099.109 shipped on 2023-12-05; ISBN 978-0-306-40615-7 costs $1,299.99."},
]


def test_transform_replaces_and_counts_in_metadata_only():
    step = PiiScrub(PiiConfig())
    doc = Document(text=DOCS[0]["text"], id="ko-1", metadata={})
    step.transform(doc)
    assert doc.text == "고객센터 담당자 휴대폰 <PHONE_NUMBER>, 이메일 <EMAIL_ADDRESS>로 문의하세요."
    assert doc.metadata[PII_COUNTS] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    clean = Document(text=DOCS[3]["text"], id="en-2", metadata={})
    step.transform(clean)
    assert clean.text == DOCS[3]["text"] and PII_COUNTS not in clean.metadata


def test_config_is_checked_before_any_document():
    with pytest.raises(ValueError, match="unknown entity type"):
        PiiScrub(PiiConfig(entities=("PHONE",)))
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(PiiConfig, {"placeholder_format": "x"})
    cfg = from_dict(PiiConfig, {"entities": ["EMAIL_ADDRESS"], "placeholders": {"EMAIL_ADDRESS": "<email>"}})
    assert cfg.entities == ("EMAIL_ADDRESS",)


def test_cli_run_scrubs_korean_and_english_and_reports_counts(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    with (src / "docs.jsonl").open("w", encoding="utf-8") as f:
        for d in DOCS:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "lmpipe", "run", "pii", "--input", str(src), "--output", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    tables = [pq.read_table(f).to_pylist() for f in sorted(out.glob("data/part-*.parquet"))]
    rows = {r["id"].removeprefix("docs/"): r for table in tables for r in table}  # ids are <source>/<record id>
    assert set(rows) == {d["id"] for d in DOCS}
    assert rows["ko-2"]["text"] == "주민등록번호 <KR_RRN> 인 신청인은 2024년 5월 12일 제출했다. 인구 51,780,579명."
    assert rows["en-1"]["text"] == "Card <CREDIT_CARD> was used from <IP_ADDRESS> (SSN <US_SSN>)."
    assert rows["en-2"]["text"] == DOCS[3]["text"]  # version, date, ISBN, price survive

    stats = json.loads((out / "stats.json").read_text())
    assert stats["docs_in"] == stats["docs_out"] == 4
    assert stats["pii"] == {"docs_with_pii": 3, "replacements": {k: 1 for k in sorted(VALUES)}}

    # No found value anywhere but where it was replaced: not in stats, logs, metadata or the CLI's output.
    texts = [run.stdout, run.stderr, (out / "stats.json").read_text()]
    texts += [p.read_text(errors="replace") for p in (out / "_logs").rglob("*") if p.is_file()]
    texts += [json.dumps(r) for r in rows.values()]
    for value in VALUES.values():
        assert not any(value in t for t in texts), "a found value leaked"
