"""The `filter` stage: URL rules, then the rule filters for Korean and English, then a report of what went.

Steps, in FineWeb's order (URL, repetition, quality, C4, FineWeb) with the Korean steps first so that later
rules judge the text without its boilerplate:

    url -> boilerplate lines (T) -> korean -> spam -> repetition -> gopher -> C4 lines (T) -> C4 -> fineweb

(T) = transform, never drops. Every filter's drops go to DIR/excluded/<step>-<task>.parquet with a named reason.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import orjson
from datatrove.data import Document

from lmpipe.core import schema
from lmpipe.core.config import ConfigError
from lmpipe.core.runner import Stage, StageFolder
from lmpipe.core.signals import SignalCache, signals_folder_check
from lmpipe.core.steps import Transform
from lmpipe.stages.filter.analysis import RULES_LANG
from lmpipe.stages.filter.c4 import C4DocumentFilter, C4LineCleaner
from lmpipe.stages.filter.config import KoLanguageRules, LanguageRules
from lmpipe.stages.filter.fineweb import FineWebLineFilter
from lmpipe.stages.filter.gopher import GopherQualityFilter, GopherRepetitionFilter
from lmpipe.stages.filter.korean import BoilerplateLineCleaner, KoreanRulesFilter, SpamWordFilter
from lmpipe.stages.filter.url import URL_MATCH, UrlConfig, UrlFilter

REPORT_EXAMPLES = 3
EXAMPLE_CHARS = 300


@dataclass(frozen=True)
class FilterConfig:
    url: UrlConfig = field(default_factory=UrlConfig)
    en: LanguageRules = field(default_factory=LanguageRules)  # documents not in Korean
    ko: KoLanguageRules = field(default_factory=KoLanguageRules)  # lang "ko", or Hangul-dominated when lang unset
    rules: bool = True  # False: URL rules only
    # Signals (`gopher.word_count`, ...) stay in the metadata of kept documents: about 1 KB each in metadata_json.
    # False keeps them only on excluded documents (where the report reads them).
    signals_in_kept: bool = True
    # Quote excluded documents (id and first EXAMPLE_CHARS characters) in DIR/report.md. Off by default: the
    # filter stage runs before pii, so its examples are unscrubbed text (phones, e-mails, resident registration
    # numbers ...) and its ids may hold PII too; a report is shared more widely than the data. Off, the report
    # still gives every reason's share and the signals (numbers, the matched list entry) of a few examples.
    report_examples: bool = False
    # The output folder of an earlier filter run (its excluded documents written with text): each rule filter
    # reuses that run's stored signals where it scored the same text with the same scoring settings, and only
    # re-decides with this config's thresholds (lmpipe/core/signals.py). Same result as a full run.
    signals_from: str | None = None


def build_filter(cfg: FilterConfig) -> list:
    steps: list = [UrlFilter(cfg.url)]
    if cfg.rules:
        cache = None
        if cfg.signals_from is not None:
            try:
                signals_folder_check(cfg.signals_from)
            except (OSError, ValueError) as e:
                raise ConfigError(str(e)) from None
            cache = SignalCache(cfg.signals_from)
        steps += [
            BoilerplateLineCleaner(cfg.en, cfg.ko),
            KoreanRulesFilter(cfg.en, cfg.ko, cache),
            SpamWordFilter(cfg.en, cfg.ko, cache),
            GopherRepetitionFilter(cfg.en, cfg.ko, cache),
            GopherQualityFilter(cfg.en, cfg.ko, cache),
            C4LineCleaner(cfg.en, cfg.ko),
            C4DocumentFilter(cfg.en, cfg.ko, cache),
            FineWebLineFilter(cfg.en, cfg.ko, cache),
        ]
        if not cfg.signals_in_kept:
            steps.append(DropSignals())
    return steps


SIGNAL_PREFIXES = ("gopher.", "repetition.", "c4.", "fineweb.", "korean.", "boilerplate.", "spam.")


class DropSignals(Transform):
    """Removes rule signals from the metadata of kept documents (FilterConfig.signals_in_kept=False)."""

    name = "🧹 drop rule signals"
    slug = "drop_signals"

    def transform(self, doc: Document) -> None:
        for key in [k for k in doc.metadata if k.startswith(SIGNAL_PREFIXES)]:
            del doc.metadata[key]


def _lang_of(metadata: dict) -> str:
    return metadata.get(RULES_LANG) or metadata.get(schema.LANG) or "unknown"


def filter_account(cfg: FilterConfig, doc: Document, kept: bool, with_text: bool, ledger) -> None:
    """In the tasks: kept and removed documents per rule language (and reason), and the first REPORT_EXAMPLES
    removed documents of each reason: their signals, and their id and text only with cfg.report_examples."""
    lang = _lang_of(doc.metadata)
    if kept:
        ledger.tally("filter.kept_by_lang", lang)
        return
    reason = doc.metadata[schema.DROP_REASON]
    ledger.tally(f"filter.removed.{lang}", reason)
    name = f"filter.examples.{reason}"
    if not ledger.has_room(name, REPORT_EXAMPLES):
        return
    family = reason.split(".")[0] + "."
    signals = {k: v for k, v in doc.metadata.items() if k.startswith(family) or k == URL_MATCH}
    if not with_text:  # the run keeps no excluded text: no string signal (a matched URL) either
        signals = {k: v for k, v in signals.items() if not isinstance(v, str)}
    # through orjson as the excluded rows are written (numpy numbers become plain ones)
    example = {
        "lang": lang,
        "signals": orjson.loads(orjson.dumps(signals, option=orjson.OPT_SERIALIZE_NUMPY, default=str)),
    }
    if cfg.report_examples:
        example |= {"id": doc.id, "text": doc.text[: EXAMPLE_CHARS + 1] if with_text else None}
    ledger.sample(name, example, REPORT_EXAMPLES)


def filter_finalize(folder: StageFolder, cfg: FilterConfig, stats: dict, run=None) -> dict:
    """Writes DIR/report.md: share of documents removed per reason and language, 3 examples per reason (their
    signals only, unless FilterConfig.report_examples: then also their ids and text)."""
    out_dir = folder.local
    tallies, samples = stats["tallies"], stats["samples"]  # gathered by filter_account in the tasks
    kept = Counter(tallies.get("filter.kept_by_lang", {}))
    removed: dict[str, Counter] = defaultdict(Counter)  # lang -> reason -> documents
    for name, counts in tallies.items():
        if name.startswith("filter.removed."):
            removed[name.removeprefix("filter.removed.")].update(counts)
    examples = {
        name.removeprefix("filter.examples."): items[:REPORT_EXAMPLES]  # task order: as the excluded files sort
        for name, items in samples.items()
        if name.startswith("filter.examples.")
    }
    langs = sorted(set(kept) | set(removed))
    totals = {lang: kept[lang] + sum(removed[lang].values()) for lang in langs}
    reasons = sorted({r for c in removed.values() for r in c})

    lines = ["# Filter report", ""]
    n_in, n_out, n_excluded = (stats.get(k, 0) for k in ("docs_in", "docs_out", "docs_excluded"))
    lines.append(f"Documents in: {n_in:,}; kept: {n_out:,}; excluded: {n_excluded:,}.")
    lines += ["", "## Share of documents removed, per reason and language", ""]
    lines.append("| reason | " + " | ".join(f"{lang} (n={totals[lang]:,})" for lang in langs) + " |")
    lines.append("|---|" + "---:|" * len(langs))
    for reason in reasons:
        cells = [_share(removed[lang][reason], totals[lang]) for lang in langs]
        lines.append(f"| `{reason}` | " + " | ".join(cells) + " |")
    cells = [_share(sum(removed[lang].values()), totals[lang]) for lang in langs]
    lines.append("| **all reasons** | " + " | ".join(f"**{c}**" for c in cells) + " |")
    if cfg.report_examples:
        lines += ["", f"## Examples ({REPORT_EXAMPLES} per reason, first {EXAMPLE_CHARS} characters)", ""]
    else:
        lines += ["", f"## Signals of {REPORT_EXAMPLES} excluded documents per reason", ""]
        lines += [
            "Documents are not quoted: this stage runs before pii, so their text and ids are unscrubbed "
            "(set `report_examples=true` to quote them).",
            "",
        ]
    for reason in reasons:
        lines += [f"### `{reason}`", ""]
        for ex in examples.get(reason, []):
            signals_md = f"signals: `{json.dumps(ex['signals'], ensure_ascii=False)}`"
            if not cfg.report_examples:
                lines.append(f"- ({ex['lang']}) {signals_md}")
                continue
            lines.append(f"- `{ex['id']}` ({ex['lang']}) {signals_md}")
            text = "(text not kept: run without --no-excluded-text)" if ex["text"] is None else ex["text"]
            quoted = text[:EXAMPLE_CHARS].replace("\n", " ⏎ ").replace("`", "'")
            lines.append(f"  > {quoted}{' …' if len(text) > EXAMPLE_CHARS else ''}")
        lines.append("")
    tmp = out_dir / "report.md.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "report.md")
    return {"removed_by_lang": {lang: dict(removed[lang]) for lang in langs}, "docs_in_by_lang": totals}


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%} ({n:,})" if total else "-"


FILTER_STAGE = Stage(
    "filter",
    "URL blocklists and Gopher/C4/FineWeb/Korean quality rules",
    FilterConfig,
    build_filter,
    finalize=filter_finalize,
    account=filter_account,
)
