"""Tag, then re-decide: a filter run with `signals_from` an earlier run and changed thresholds gives the same
result as a full re-run, without re-scoring (MeCab, n-grams) what was scored before."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmpipe.catalog import STAGES
from lmpipe.core import schema
from lmpipe.core.config import ConfigError, from_dict
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.core.signals import basis, basis_prefix, encoded_basis
from lmpipe.stages.filter import stage as filter_stage
from lmpipe.stages.filter.analysis import TextView, rule_lang
from lmpipe.stages.filter.base import RuleFilter
from lmpipe.stages.filter.config import KoLanguageRules, LanguageRules
from lmpipe.stages.filter.stage import FilterConfig
from lmpipe.text import words as W

CHANGED = {
    "en": {"gopher": {"min_words": 120}},  # more English documents go for too few words
    "ko": {"c4": {"min_sentences": 1}, "repetition": {"max_dup_line_ratio": 0.2}},  # fewer / more Korean drops
}


def _outcome(folder: Path) -> tuple[list, list]:
    kept, excluded = [], []
    for f in sorted(folder.glob("data/part-*.parquet")):
        t = pq.read_table(f, columns=["id", "text"])
        kept += zip(t["id"].to_pylist(), t["text"].to_pylist())
    for f in sorted(folder.glob("excluded/*.parquet")):
        t = pq.read_table(f, columns=["id", "drop_reason"])
        excluded += zip(t["id"].to_pylist(), t["drop_reason"].to_pylist())
    return sorted(kept), sorted(excluded)


def _count_morphemes(monkeypatch) -> list[int]:
    calls = [0]
    real = W.morphemes

    def counted(text):
        calls[0] += 1
        return real(text)

    monkeypatch.setattr(W, "morphemes", counted)
    return calls


def test_re_deciding_from_stored_signals_equals_a_full_run(ingested_corpus, tmp_path, monkeypatch):
    run = RunConfig(workers=1)  # in this process, so MeCab calls can be counted
    filter_stage_ = STAGES["filter"]
    calls = _count_morphemes(monkeypatch)
    run_stage(filter_stage_, FilterConfig(), [InputSpec(str(ingested_corpus))], tmp_path / "old", run)
    changed = from_dict(FilterConfig, CHANGED)
    calls[0] = 0
    full = run_stage(filter_stage_, changed, [InputSpec(str(ingested_corpus))], tmp_path / "full", run)
    full_calls = calls[0]
    remix_cfg = dataclasses.replace(changed, signals_from=str(tmp_path / "old"))
    calls[0] = 0
    remix = run_stage(filter_stage_, remix_cfg, [InputSpec(str(ingested_corpus))], tmp_path / "remix", run)
    assert _outcome(tmp_path / "remix") == _outcome(tmp_path / "full")
    assert remix.stats["excluded"] == full.stats["excluded"] and remix.stats["docs_out"] == full.stats["docs_out"]
    assert _outcome(tmp_path / "full") != _outcome(tmp_path / "old")  # the thresholds did change the result
    # MeCab only for the documents the old run never scored with the filter that now sees them
    assert full_calls > 100 and calls[0] < full_calls / 4, (calls[0], full_calls)


def test_signals_from_must_be_a_filter_stage(ingested_corpus, tmp_path):
    cfg = FilterConfig(signals_from=str(ingested_corpus))  # an ingest folder
    with pytest.raises(ConfigError, match="holds stage 'ingest', not 'filter'"):
        filter_stage.build_filter(cfg)


def _perturbed(rules):
    """The same rules with every min_/max_ threshold changed (numbers moved, None set, values set to None)."""
    changes = {}
    for f in dataclasses.fields(rules):
        value = getattr(rules, f.name)
        if dataclasses.is_dataclass(value):
            changes[f.name] = _perturbed(value)
        elif f.name.startswith(("min_", "max_")):
            changes[f.name] = 7 if value is None else None if isinstance(value, float) else value * 3 + 1
    return dataclasses.replace(rules, **changes)


def _rule_filters(en, ko) -> list[RuleFilter]:
    return [s for s in filter_stage.build_filter(FilterConfig(en=en, ko=ko)) if isinstance(s, RuleFilter)]


def test_no_rule_filter_scores_with_a_threshold(samples):
    # The basis of stored signals leaves min_/max_ settings out (they only decide): if a score() read one, a
    # re-decision would reuse signals computed under another threshold. Every filter, both languages.
    from lmpipe.core.readers import RecordKeys, Skip, iter_file

    docs = []
    for name in ("ko_kobill.jsonl.gz", "en_cc_documents.jsonl.gz", "ko_nsmc_reviews.parquet", "en_wikitext.jsonl.gz"):
        docs += [d for d in iter_file(str(samples / "corpus" / name), RecordKeys()) if not isinstance(d, Skip)][:15]
    base = _rule_filters(LanguageRules(), KoLanguageRules())
    moved = _rule_filters(_perturbed(LanguageRules()), _perturbed(KoLanguageRules()))
    assert len(base) == 6
    for a, b in zip(base, moved):
        for doc in docs:
            lang = rule_lang(doc)
            view = TextView(doc.text, lang)
            assert a.score(view, a.rules[lang]) == b.score(view, b.rules[lang]), (type(a).__name__, doc.id)
            assert a.keys == b.keys


def test_encoded_basis_is_the_basis():
    # the rule filters hash each text's UTF-8 once behind an encoded key: the same basis as basis(text, key)
    for text in ("", "대한민국 헌법", "plain English\n\nwith lines", "\x00é"):
        assert encoded_basis(basis_prefix("GopherQualityFilter:0a1b"), text.encode()) == basis(
            text, "GopherQualityFilter:0a1b"
        )


def test_stored_signals_are_what_decided(ingested_corpus, tmp_path):
    # signals are rounded before the decision: an excluded document's stored signals give its reason again
    run_stage(
        STAGES["filter"], FilterConfig(), [InputSpec(str(ingested_corpus))], tmp_path / "f", RunConfig(workers=1)
    )
    filters = {f.prefix: f for f in _rule_filters(LanguageRules(), KoLanguageRules())}
    rows = [r for p in sorted((tmp_path / "f").glob("excluded/*.parquet")) for r in pq.read_table(p).to_pylist()]
    checked = 0
    for row in rows:
        prefix = row["drop_reason"].split(".")[0]
        if prefix not in filters:
            continue  # URL rules, boilerplate share (korean filter uses its own prefix)
        doc = schema.row_to_document(row)
        if f"{prefix}.basis" not in doc.metadata:
            continue  # dropped before scoring (C4: every line removed by the line cleaner)
        f = filters[prefix]
        signals = {
            k[len(prefix) + 1 :]: v
            for k, v in doc.metadata.items()
            if k.startswith(prefix + ".") and k != f"{prefix}.basis"
        }
        assert f.decide(signals, f.rules[rule_lang(doc)]) == row["drop_reason"]
        checked += 1
    assert checked > 50
