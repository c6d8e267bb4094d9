"""Stage reports come from what the tasks tallied and sampled in their ledgers (lmpipe.core.ledger), never from
reading the stage's outputs back (issue 17): checked here against a recount from those outputs, on the bundled
samples, with 1 and 3 workers, and with excluded text off (where the old read-back found no decont hit at all)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from lmpipe.catalog import STAGES
from lmpipe.core import schema
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.stages.decont.stage import DecontConfig
from lmpipe.stages.filter.analysis import RULES_LANG
from lmpipe.stages.filter.stage import FilterConfig
from lmpipe.stages.pii.stage import PII_COUNTS, PiiConfig

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _rows(folder: Path, pattern: str, columns: list[str]) -> list[dict]:
    rows = []
    for f in sorted(folder.glob(pattern)):
        names = pq.read_schema(f).names
        rows += pq.read_table(f, columns=[c for c in columns if c in names]).to_pylist()
    return rows


def _lang(row: dict) -> str:
    meta = orjson.loads(row["metadata_json"]) if row.get("metadata_json") else {}
    return meta.get(RULES_LANG) or row.get(schema.LANG) or meta.get(schema.LANG) or "unknown"


def test_filter_report_equals_a_recount_of_its_outputs_whatever_the_workers(tmp_path):
    inputs = [InputSpec(path=str(SAMPLES / "corpus")), InputSpec(path=str(SAMPLES / "warc"))]
    reports = {}
    for workers in (1, 3):
        out = tmp_path / f"filter-{workers}"
        result = run_stage(STAGES["filter"], FilterConfig(), inputs, out, RunConfig(workers=workers))
        reports[workers] = (out / "report.md").read_text()
        stats = result.stats
        assert "tallies" not in stats and "samples" not in stats  # the tasks' raw tallies stay out of stats.json
        kept = Counter(_lang(r) for r in _rows(out, "data/part-*.parquet", [schema.LANG, "metadata_json"]))
        removed: dict[str, Counter] = {}
        for r in _rows(out, "excluded/*.parquet", [schema.DROP_REASON, schema.LANG, "metadata_json"]):
            removed.setdefault(_lang(r), Counter())[r[schema.DROP_REASON]] += 1
        assert stats["removed_by_lang"] == {lang: dict(c) for lang, c in removed.items()}
        assert stats["docs_in_by_lang"] == {
            lang: kept[lang] + sum(removed.get(lang, {}).values()) for lang in set(kept) | set(removed)
        }
        assert sum(sum(c.values()) for c in removed.values()) == stats["docs_excluded"] > 100
    assert reports[1] == reports[3]  # the same examples: the first ones in task order, whatever the workers


def test_pii_counts_equal_a_recount_of_the_kept_metadata(tmp_path):
    out = tmp_path / "pii"
    result = run_stage(
        STAGES["pii"], PiiConfig(), [InputSpec(path=str(SAMPLES / "corpus"))], out, RunConfig(workers=2)
    )
    totals, docs = Counter(), 0
    for r in _rows(out, "data/part-*.parquet", ["metadata_json"]):
        counts = (orjson.loads(r["metadata_json"]) if r["metadata_json"] else {}).get(PII_COUNTS)
        if counts:
            docs += 1
            totals.update(counts)
    assert result.stats["pii"] == {"docs_with_pii": docs, "replacements": dict(sorted(totals.items()))}
    assert docs > 0


def test_decont_hits_are_counted_with_excluded_text_off(tmp_path):
    from lmpipe.stages.decont.benchmarks import discover, load_examples

    bench = SAMPLES / "benchmarks"
    example = next(e for spec in discover(str(bench)) for e in load_examples(spec) if len(e.text) > 200)
    rows = [{"id": f"clean-{i}", "text": f"A plain sentence about the weather, number {i}."} for i in range(50)]
    rows.append({"id": "leak", "text": "Notes copied from a test set: " + example.text})
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = DecontConfig(benchmarks=str(bench), cache_dir=str(tmp_path / "cache"))
    stats = {}
    for keep in (True, False):
        out = tmp_path / f"decont-{keep}"
        run = RunConfig(workers=1, keep_excluded_text=keep)
        stats[keep] = run_stage(STAGES["decont"], cfg, [InputSpec(path=str(inp))], out, run).stats["decont"]
        report = (out / "report.md").read_text()
        assert "hit: 1." in report and "in/leak" in report
        assert ("(not kept" in report) is not keep  # the matched window is document text: only with text kept
    assert stats[True] == stats[False] and stats[True]["docs_hit"] == 1
