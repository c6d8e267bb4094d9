"""What someone auditing a corpus looks for in the run report (issue 20 item 6): a bytes and tokens funnel, per-source
tables and the final mix, histograms, links to the stages' reports, the resolved config and versions, and warnings;
all from stats.json, pack.json, manifests and the bounded sample, quoting no document."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from test_report_bounded import STAGES, _results, run_dir  # noqa: F401  (run_dir: the fixture, a real small job)

from lmpipe import report

CONFIG = {"name": "audit", "stages": {"pack": {"seq_len": 512, "val_fraction": 0.005}}, "output_dir": Path("/x")}


@pytest.fixture(scope="module")
def written(run_dir, tmp_path_factory) -> tuple[Path, report.RunData]:  # noqa: F811
    """The report written on a copy of the small run, and what it was made from."""
    run = tmp_path_factory.mktemp("audit") / "run"
    shutil.copytree(run_dir, run, symlinks=True)
    results = _results(run)
    report.write_run_report(run, "audit", results, CONFIG)
    return run, report.collect("audit", run, results, CONFIG)


def _section(md: str, prefix: str) -> str:
    """The body of the Markdown section whose title starts with prefix."""
    start = md.index(f"\n## {prefix}")
    end = md.find("\n## ", start + 1)
    return md[start : end if end > 0 else len(md)]


def _rows(md: str, prefix: str) -> list[dict[str, str]]:
    lines = [ln for ln in _section(md, prefix).splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[2:]]


def _num(cell: str) -> int:
    return int(cell.replace(",", ""))


def _pack_json(run: Path) -> dict:
    return json.loads((run / "pack" / "shards" / "pack.json").read_text())


def test_audit_funnel_bytes_and_tokens_are_stats_and_pack_json(written):
    run, data = written
    md = (run / "report.md").read_text(encoding="utf-8")
    rows = {r["stage"]: r for r in _rows(md, "Bytes and tokens funnel")}
    assert list(rows) == STAGES
    for stage in STAGES:
        s = json.loads((run / stage / "stats.json").read_text())
        row = rows[stage]
        assert _num(row["docs kept"]) == s["docs_out"], stage
        assert row["MB in"] == report._mb(s["bytes_in"]) and row["MB kept"] == report._mb(s["bytes_out"]), stage
        assert row["MB removed"] == report._mb(s["bytes_in"] - s["bytes_out"]), stage
        assert row["MB in excluded docs"] == report._mb(s["bytes_excluded"]), stage
        assert row["tokens kept"], stage  # known at every stage: this run's tokenizer gives bytes per token
    packed = sum(v["tokens"] for v in _pack_json(run)["splits"].values())
    assert _num(rows["pack"]["tokens kept"]) == packed == data.tokens_out["pack"]
    assert rows["pack"]["tokens"] == "exact: pack.json" and data.tokens_exact == {"pack"}
    assert rows["ingest"]["tokens"].startswith("estimated")


def test_audit_per_source_tables_add_up_to_stats_and_the_mix_to_pack_json(written):
    run, data = written
    md = (run / "report.md").read_text(encoding="utf-8")
    table = _rows(md, "Kept per source")
    for stage in STAGES:
        s = json.loads((run / stage / "stats.json").read_text())
        counts = data.kept_by_source[stage]
        assert sum(v["docs"] for v in counts.values()) == s["docs_out"], stage
        assert sum(v["bytes"] for v in counts.values()) == s["bytes_out"], stage
        assert sum(_num(r["docs"]) for r in table if r["stage"] == stage) == s["docs_out"], stage
        # every stage of the small run is smaller than the sample: exact, and said so
        truth: Counter = Counter()
        for part in report._part_files(run / stage):
            truth.update(pq.read_table(part, columns=["source"]).column("source").to_pylist())
        assert {k: v["docs"] for k, v in counts.items()} == dict(truth), stage
        assert all(r["counted on (documents)"] == f"all {s['docs_out']:,}" for r in table if r["stage"] == stage)
    assert {r["source"] for r in table} == {"konlpy_kobill", "wikitext2"}

    packed = sum(v["tokens"] for v in _pack_json(run)["splits"].values())
    assert sum(m["tokens"] for m in data.mix) == packed
    assert sum(m["docs"] for m in data.mix) == json.loads((run / "pack" / "stats.json").read_text())["docs_out"]
    mix = _rows(md, "Final mix")
    by_lang = {r["lang"]: _num(r["tokens"]) for r in mix if r["source"] == "all sources"}
    assert set(by_lang) == {"en", "ko"} and sum(by_lang.values()) == packed
    shares = [float(r["share of tokens"].rstrip("%")) for r in mix if r["source"] == "all sources"]
    assert abs(sum(shares) - 100) < 0.2


def test_audit_warns_on_an_empty_validation_split_and_other_trouble(written, tmp_path):
    run, data = written
    assert not any("split has 0 sequences" in w for w in data.warnings)  # the small run's val split is not empty
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    for path in (copy / "pack" / "shards" / "pack.json", copy / "pack" / "stats.json"):
        doc = json.loads(path.read_text())
        splits = doc["pack"]["splits"] if "pack" in doc else doc["splits"]
        splits["val"]["sequences"] = 0
        path.write_text(json.dumps(doc))
    report.write_run_report(copy, "audit", _results(copy), CONFIG)
    md = (copy / "report.md").read_text(encoding="utf-8")
    warnings = _section(md, "Warnings")
    assert md.index("## Warnings") < md.index("## Funnel")  # at the top
    assert "pack: the val split has 0 sequences of 512 tokens" in warnings
    html = (copy / "report.html").read_text(encoding="utf-8")
    assert "the val split has 0 sequences" in html and html.index("<h2>Warnings") < html.index("<h2>Funnel")

    # the other warnings, on stats edited in memory (collect() does not check the funnel: write_run_report does)
    results = _results(copy)
    by = {r.stage: r.stats for r in results}
    by["filter"]["bytes_out"] = by["filter"]["bytes_in"] // 20  # 95% of the bytes removed
    by["quality"]["skipped_input"] = {"bad_json": 3}
    by["dedup"]["docs_excluded"] += 1  # documents in != kept + excluded
    by["pack"]["pack"]["roundtrip_mismatches"] = 2
    warnings = report.collect("audit", copy, results, CONFIG).warnings
    assert any(w.startswith("filter: removed 95.0% of its input bytes") for w in warnings), warnings
    assert any(w.startswith("quality: 3 input record(s) skipped (bad_json: 3)") for w in warnings), warnings
    assert any(w.startswith("dedup:") and "!=" in w for w in warnings), warnings
    assert any("2 document(s) did not decode back" in w for w in warnings), warnings
    assert any("val split has 0 sequences" in w for w in warnings), warnings


def test_audit_versions_config_links_and_histograms(written):
    run, data = written
    md = (run / "report.md").read_text(encoding="utf-8")
    versions = {r["component"]: r["version"] for r in _rows(md, "Versions")}
    assert versions["code version"] == data.version and versions["code version"]
    assert versions["lmpipe (lmpipe.__version__)"] == __import__("lmpipe").__version__
    for name in ("python", "datatrove", "ray", "tokenizers", "pyarrow", "torch"):
        assert versions.get(name), name
    config = _section(md, "Config (resolved)").split("```yaml\n", 1)[1].split("\n```", 1)[0]
    assert yaml.safe_load(config) == json.loads(json.dumps(CONFIG, default=str))
    # examples per removal reason: a relative link to the stage's own report, which is there
    reasons = _rows(md, "Removal and skip reasons")
    assert reasons and all(
        r["examples"] == "[filter/report.md](filter/report.md)" for r in reasons if r["stage"] == "filter"
    )
    assert (run / "filter" / "report.md").is_file()
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "<a href='filter/report.md'>filter/report.md</a>" in html
    for label in ("document length (UTF-8 bytes)", "quality_score"):
        assert f"Histogram of {label}: 16 documents sampled from stage tokenizer" in html
    assert len(data.hist["length_bytes"]) == 16 and len(data.hist["quality_score"]) == 16
    fingerprints = {r["stage"]: r["fingerprint"] for r in _rows(md, "Stage manifests")}
    for stage in STAGES:
        assert fingerprints[stage] == f"`{json.loads((run / stage / '_stage.json').read_text())['fingerprint']}`"


def test_audit_report_quotes_no_document_text(written):
    run, _ = written
    md = (run / "report.md").read_text(encoding="utf-8")
    html = (run / "report.html").read_text(encoding="utf-8")
    for stage in ("ingest", "tokenizer", "pack"):  # unscrubbed (before pii) and kept, final documents
        texts = pq.read_table(report._part_files(run / stage)[0], columns=["text"]).column("text").to_pylist()
        assert texts
        for text in texts[:: max(1, len(texts) // 8)]:
            snippet = text.strip()[:40]
            assert snippet and snippet not in md and snippet not in html, (stage, snippet)
    excluded = sorted((run / "filter" / "excluded").rglob("*.parquet"))
    for path in excluded[:2]:  # the filter's removed documents are not quoted either
        for text in pq.read_table(path, columns=["text"]).column("text").to_pylist()[:5]:
            assert text.strip()[:40] not in md and text.strip()[:40] not in html
