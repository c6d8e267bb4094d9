"""The run report of a job: Markdown and HTML (with figures), from the stages' stats.json and a bounded sample.

Everything shown is read back from what the stages wrote, so a report re-made after a resumed run shows the same
as one made after an uninterrupted run. Driver memory and time do not grow with the corpus (issue 17: reading
every part file back and re-tokenizing took 2 minutes and 3.35 GB of driver memory on a 128 MB job):

- counts, bytes and reasons per stage, dedup/decont/pii/pack figures: the stage's stats.json (its merged ledgers);
- per-language documents and bytes: counted on a sample of each stage's kept documents and scaled to the stage's
  totals in stats.json (exact when the sample is the whole stage, as on the bundled samples);
- tokens: the pack stage's own totals (stats.json's copy of shards/pack.json), spread over languages and stages
  by the bytes per token this run's tokenizer gives on the tokenizer stage's sample;
- compression: on that same sample, capped per language in documents and bytes;
- bytes and tokens funnel: stats.json's bytes per stage; tokens as packed (pack.json's exact total at the pack
  stage, estimated with one EOS per document for the earlier ones);
- per-source documents and bytes, and the final mix (share of each source and language in the packed tokens):
  the same samples (one more column, `source`) scaled to stats.json's totals and pack.json's tokens;
- histograms of document length, quality_score and lang_score: the sample of the stage that feeds pack (its rows
  read, unweighted: at most SAMPLE_ROWS values each);
- removal reasons link each stage's own report.md (relative links) for the examples: none are quoted here;
- the resolved job config (YAML), the versions of lmpipe and its main dependencies (importlib.metadata: nothing is
  imported for it) and the code version; the stages' manifests (_stage.json) for their fingerprints;
- warnings at the top: an empty split, a stage removing more than WARN_REMOVED_SHARE of its input, input records
  skipped, pack round-trip mismatches, a stage whose documents in != kept + excluded.

Why a sample read back by the report rather than a reservoir kept by the writers while the stage runs: it needs
no change to what the stages write, works for runs finished before this code, and costs one bounded read per
stage (a fixed number of part files, the first rows of each, two columns). Its bias (first rows of a file rather
than a uniform draw) only touches per-language estimates; every total comes from stats.json.

No document text is quoted: the sample is only measured (lengths, languages, tokens).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmpipe.core import storage
from lmpipe.core.completion import read_manifest, resolve_ref
from lmpipe.core.ledger import AccountingError, write_text_atomic
from lmpipe.core.runner import StageResult
from lmpipe.core.runs import code_version

# The bounds: per stage at most SAMPLE_FILES part files are opened (spread evenly over the stage's list) and at
# most SAMPLE_ROWS rows read (the first rows of each file, two columns), stopping early at SAMPLE_TEXT_BYTES of
# text, so a handful of huge documents cannot blow the driver's memory either.
SAMPLE_FILES = 16
SAMPLE_ROWS = 2_000
SAMPLE_TEXT_BYTES = 16_000_000
_BATCH_ROWS = 128  # rows decoded at a time
# Compression (a ratio of totals: stable to ~1% on a sample this size) and bytes per token: per language.
MAX_DOCS_PER_LANG_FOR_COMPRESSION = 1_000
MAX_BYTES_PER_LANG_FOR_COMPRESSION = 4_000_000
THIS_RUN = "this run's tokenizer"
WARN_REMOVED_SHARE = 0.9  # a stage removing more than this share of its input documents or bytes gets a warning
HIST_BINS = 30
# Distributions whose versions the report lists (importlib.metadata: read from the installed metadata, so torch
# is never imported into the driver).
VERSIONED = ["datatrove", "ray", "tokenizers", "pyarrow", "torch"]


@dataclass
class StageSample:
    """What was read of one stage's kept documents: per language documents and UTF-8 bytes (weighted: each row
    read stands for its file's rows), and (when asked) the texts read. `rows`: rows read; `files`: files opened."""

    docs: Counter = field(default_factory=Counter)
    bytes: Counter = field(default_factory=Counter)
    texts: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 0
    files: int = 0
    # (source, lang) -> weighted documents / bytes, like docs and bytes
    source_docs: Counter = field(default_factory=Counter)
    source_bytes: Counter = field(default_factory=Counter)
    # when measured: per row read (unweighted), UTF-8 length and the two scores (None rows left out)
    lengths: list[int] = field(default_factory=list)
    quality_score: list[float] = field(default_factory=list)
    lang_score: list[float] = field(default_factory=list)


@dataclass
class RunData:
    job: str
    run_dir: Path
    results: list[StageResult]
    config: dict
    finished: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    version: str = field(default_factory=code_version)
    kept_by_lang: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=dict
    )  # stage -> lang -> docs/bytes/tokens
    kept_basis: dict[str, str] = field(default_factory=dict)  # stage -> "all N documents" / "sample of N ..."
    compression: list[dict] = field(default_factory=list)  # tokenizer rows on the kept documents
    kept_by_source: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # stage -> source -> docs/bytes
    source_lang: dict[str, dict[tuple[str, str], dict[str, float]]] = field(default_factory=dict)  # pack stage's
    mix: list[dict] = field(default_factory=list)  # source, lang, docs, bytes, tokens of the packed corpus
    tokens_out: dict[str, int] = field(default_factory=dict)  # stage -> tokens as packed (with one EOS per doc)
    tokens_exact: set[str] = field(default_factory=set)  # stages whose tokens_out is pack.json's, not estimated
    pack_json: dict = field(default_factory=dict)
    hist_stage: str = ""
    hist: dict[str, list[float]] = field(default_factory=dict)  # length_bytes / quality_score / lang_score
    stage_reports: dict[str, str] = field(default_factory=dict)  # stage -> its report.md, relative to run_dir
    manifests: dict[str, dict] = field(default_factory=dict)  # stage -> fingerprint, parts, complete
    versions: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def check_funnel(results: list[StageResult]) -> None:
    """Every stage: in == kept + excluded; between stages: what one kept is what the next read. Else fail loudly."""
    previous = None
    for r in results:
        s = r.stats
        if s["docs_in"] != s["docs_out"] + s["docs_excluded"]:
            raise AccountingError(f"stage {r.stage}: {s['docs_in']} in != {s['docs_out']} kept + {s['docs_excluded']}")
        if previous is not None and s["docs_in"] != previous.stats["docs_out"]:
            raise AccountingError(
                f"stage {r.stage} read {s['docs_in']} documents but {previous.stage} kept {previous.stats['docs_out']}"
            )
        previous = r


def _part_files(folder: Path | str) -> list[str]:
    """The stage's part files as its completion manifest lists them (no directory walk), else a glob; for a
    folder in object storage, URLs."""
    try:
        manifest = read_manifest(folder)
    except Exception:  # a damaged manifest: the report still shows what it can
        manifest = None
    if manifest and manifest.get("parts"):
        # "path": a passthrough stage's reference to its input's part, relative to the folder
        return [
            resolve_ref(folder, e["path"]) if "path" in e else storage.join(folder, e["name"])
            for e in manifest["parts"]
        ]
    return storage.glob(storage.join(folder, "data", "part-*.parquet"))


def _spread(items: list, k: int) -> list:
    """At most k items, evenly spaced over the list (first and last included)."""
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)] if k > 1 else items[:1]


def sample_stage(
    folder: Path, keep_texts: bool = False, measure: bool = False, parts: list[str] | None = None
) -> StageSample:
    """Read the first rows of at most SAMPLE_FILES part files of a stage folder, SAMPLE_ROWS rows in all.

    Columns read: lang, text and source; with `measure`, quality_score and lang_score too (and each row's length,
    score kept: at most SAMPLE_ROWS numbers each)."""
    out = StageSample()
    files = _spread(_part_files(folder) if parts is None else parts, SAMPLE_FILES)
    text_bytes = 0
    for i, path in enumerate(files):
        quota = (SAMPLE_ROWS - out.rows) // (len(files) - i)  # what a short file leaves goes to the next ones
        if quota <= 0 or text_bytes >= SAMPLE_TEXT_BYTES:
            continue
        if not storage.isfile(path):
            continue
        # a URL is read through fsspec: only the footer and the row groups needed are fetched
        pf = pq.ParquetFile(storage.open_read(path) if storage.is_url(path) else path)
        out.files += 1
        groups, rows = [], 0  # only the first row group(s), enough for the quota
        while len(groups) < pf.metadata.num_row_groups and rows < quota:
            rows += pf.metadata.row_group(len(groups)).num_rows
            groups.append(len(groups))
        names = set(pf.schema_arrow.names)
        columns = ["lang", "text"] + [c for c in ("source",) if c in names]
        scores = [c for c in ("quality_score", "lang_score") if measure and c in names]
        taken, docs, nbytes = 0, Counter(), Counter()
        for batch in pf.iter_batches(batch_size=min(_BATCH_ROWS, quota), row_groups=groups, columns=columns + scores):
            batch = batch.slice(0, quota - taken)
            taken += batch.num_rows
            langs = batch.column("lang").fill_null("unknown").to_pylist()
            sizes = pc.binary_length(batch.column("text")).to_pylist()
            sources = (
                batch.column("source").fill_null("unknown").to_pylist()
                if "source" in columns
                else ["unknown"] * len(sizes)
            )
            for lang, source, size in zip(langs, sources, sizes):
                docs[(source, lang)] += 1
                nbytes[(source, lang)] += size
            if measure:
                out.lengths.extend(sizes)
                for name in scores:
                    getattr(out, name).extend(v for v in batch.column(name).to_pylist() if v is not None)
            if keep_texts:
                for lang, text in zip(langs, batch.column("text").to_pylist()):
                    out.texts.setdefault(lang, []).append(text)
            text_bytes += sum(sizes)
            if taken >= quota or text_bytes >= SAMPLE_TEXT_BYTES:
                break
        # Stratified by file: the rows read stand for all of their file's rows (a file of one language is not
        # outweighed by a bigger file of another because both gave the same number of rows).
        weight = pf.metadata.num_rows / max(taken, 1)
        for key in docs:
            out.source_docs[key] += docs[key] * weight
            out.source_bytes[key] += nbytes[key] * weight
            out.docs[key[1]] += docs[key] * weight
            out.bytes[key[1]] += nbytes[key] * weight
        out.rows += taken
    return out


def _apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split an exact total over keys in proportion to weights (largest remainder: the parts add up to total)."""
    if not weights:
        return {}
    norm = sum(weights.values())
    if norm <= 0:
        weights, norm = dict.fromkeys(weights, 1.0), float(len(weights))
    raw = {k: total * w / norm for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: out[k] - raw[k])[: total - sum(out.values())]:
        out[k] += 1
    return out


def _kept_by_lang(result: StageResult, sample: StageSample) -> dict[str, dict[str, int]]:
    """Documents and bytes kept per language: the sample's shares of the stage's exact totals (stats.json)."""
    if not sample.rows:  # nothing readable (no part files): the totals, language unknown
        sample.docs["unknown"], sample.bytes["unknown"] = 1, 1
    docs = _apportion(result.stats["docs_out"], dict(sample.docs))
    nbytes = _apportion(result.stats["bytes_out"], dict(sample.bytes))
    return {lang: {"docs": docs[lang], "bytes": nbytes[lang]} for lang in sorted(docs)}


def _compression_sets(texts: dict[str, list[str]]):
    """Per language at most MAX_DOCS_PER_LANG_FOR_COMPRESSION documents and MAX_BYTES_PER_LANG_FOR_COMPRESSION."""
    from lmpipe.tokenizer.report import TextSet

    sets = []
    for lang, docs in sorted(texts.items()):
        chosen, size = [], 0
        for t in docs[:MAX_DOCS_PER_LANG_FOR_COMPRESSION]:
            size += len(t.encode("utf-8"))
            if chosen and size > MAX_BYTES_PER_LANG_FOR_COMPRESSION:
                break
            chosen.append(t)
        if any(t.split() for t in chosen):
            sets.append(TextSet(f"{lang}-kept", chosen))
    return sets


def _compression(tokenizer_path: str, texts: dict[str, list[str]]) -> list[dict]:
    """Tokens per word etc. of the job's tokenizer and the shipped 102k tokenizer on a sample of the kept documents."""
    from lmpipe.tokenizer.load import ours
    from lmpipe.tokenizer.report import measure

    refs = [ours(storage.local_file(tokenizer_path), name=THIS_RUN), ours(name="shipped ko-en-102k")]
    return [
        {
            "tokenizer": row.tokenizer,
            "vocab_size": row.vocab_size,
            "text": row.text,
            "docs": row.docs,
            "tokens": row.tokens,
            "bytes": row.bytes,
            "tokens_per_word": round(row.tokens_per_word, 3),
            "bytes_per_token": round(row.bytes_per_token, 3),
            "chars_per_token": round(row.chars_per_token, 3),
        }
        for row in measure(refs, _compression_sets(texts))
    ]


def _add_tokens(data: RunData) -> None:
    """Tokens per stage and language. The exact total is the pack stage's (its shards' tokens less one EOS per
    document); it is spread over languages by bytes x tokens-per-byte of this run's tokenizer on the sample, and
    the same calibrated tokens-per-byte gives the earlier stages' tokens. Without a pack stage: the sample's."""
    ratio = {
        c["text"].removesuffix("-kept"): c["tokens"] / max(c["bytes"], 1)
        for c in data.compression
        if c["tokenizer"] == THIS_RUN
    }
    if not ratio:
        return
    fallback = sum(ratio.values()) / len(ratio)
    pack = next((r for r in data.results if "pack" in r.stats), None)
    scale = 1.0
    if pack is not None and pack.stage in data.kept_by_lang:
        splits = pack.stats["pack"].get("splits", {}).values()
        exact = sum(s["tokens"] - s["documents"] for s in splits)  # every document's tokens end with one EOS
        weights = {lang: v["bytes"] * ratio.get(lang, fallback) for lang, v in data.kept_by_lang[pack.stage].items()}
        scale = exact / max(sum(weights.values()), 1e-9)
        for lang, n in _apportion(exact, weights).items():
            data.kept_by_lang[pack.stage][lang]["tokens"] = n
    for stage, counts in data.kept_by_lang.items():
        if pack is not None and stage == pack.stage:
            continue
        for lang, v in counts.items():
            v["tokens"] = round(v["bytes"] * ratio.get(lang, fallback) * scale)


def _kept_by_source(result: StageResult, sample: StageSample) -> dict[str, dict[str, int]]:
    """Documents and bytes kept per source: the sample's shares of the stage's exact totals (stats.json)."""
    docs_w, bytes_w = Counter(), Counter()
    for (source, _), n in sample.source_docs.items():
        docs_w[source] += n
    for (source, _), n in sample.source_bytes.items():
        bytes_w[source] += n
    if not docs_w:
        docs_w["unknown"], bytes_w["unknown"] = 1, 1
    docs = _apportion(result.stats["docs_out"], dict(docs_w))
    nbytes = _apportion(result.stats["bytes_out"], {k: bytes_w.get(k, 0) for k in docs})
    return {src: {"docs": docs[src], "bytes": nbytes[src]} for src in sorted(docs)}


def _pack_stats(result: StageResult) -> dict:
    """The pack stage's figures: stats.json's copy of shards/pack.json, else pack.json itself; {} when neither."""
    if "pack" in result.stats:
        return result.stats["pack"]
    path = storage.join(result.output_dir, "shards", "pack.json")
    try:
        return json.loads(storage.read_bytes(path)) if storage.isfile(path) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _add_mix(data: RunData, stage: str) -> None:
    """The final mix: per (source, language) of the packed corpus documents, bytes and tokens (each language's
    exact share of the packed tokens, from _add_tokens, spread over its sources by bytes; one EOS per document)."""
    weights = data.source_lang.get(stage, {})
    counts = data.kept_by_lang.get(stage, {})
    rows = []
    for lang, v in counts.items():
        by_src = {src: w for (src, lg), w in weights.items() if lg == lang} or {"unknown": {"docs": 1, "bytes": 1}}
        docs = _apportion(v["docs"], {k: w["docs"] for k, w in by_src.items()})
        nbytes = _apportion(v["bytes"], {k: w["bytes"] for k, w in by_src.items()})
        tokens = _apportion(v["tokens"], {k: w["bytes"] for k, w in by_src.items()}) if "tokens" in v else {}
        for src in sorted(by_src):
            row = {"source": src, "lang": lang, "docs": docs[src], "bytes": nbytes[src]}
            if "tokens" in v:
                row["tokens"] = tokens[src] + docs[src]  # as packed: each document ends with one EOS
            rows.append(row)
    data.mix = sorted(rows, key=lambda r: (-r.get("tokens", r["bytes"]), r["source"], r["lang"]))


def _versions() -> dict[str, str]:
    """lmpipe's and its main dependencies' versions, from the installed metadata (nothing imported for it)."""
    import importlib.metadata
    import platform

    import lmpipe

    out = {"python": platform.python_version(), "lmpipe (lmpipe.__version__)": lmpipe.__version__}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _warnings(data: RunData) -> list[str]:
    """What an auditor should see first: every line is something to look at before using the corpus."""
    out = []
    for r in data.results:
        s = r.stats
        if s["docs_in"] != s["docs_out"] + s["docs_excluded"]:
            out.append(
                f"{r.stage}: {s['docs_in']:,} documents in != {s['docs_out']:,} kept + {s['docs_excluded']:,} "
                "excluded (documents lost or duplicated)"
            )
        if s["docs_in"] and s["docs_excluded"] / s["docs_in"] > WARN_REMOVED_SHARE:
            out.append(
                f"{r.stage}: removed {s['docs_excluded'] / s['docs_in']:.1%} of its input documents "
                f"({s['docs_excluded']:,} of {s['docs_in']:,})"
            )
        removed_bytes = s["bytes_in"] - s["bytes_out"]
        if s["bytes_in"] and removed_bytes / s["bytes_in"] > WARN_REMOVED_SHARE:
            out.append(
                f"{r.stage}: removed {removed_bytes / s['bytes_in']:.1%} of its input bytes "
                f"({_mb(removed_bytes)} of {_mb(s['bytes_in'])} MB)"
            )
        skipped = s.get("skipped_input", {})
        if sum(skipped.values()):
            reasons = ", ".join(f"{k}: {n:,}" for k, n in skipped.items() if n)
            out.append(f"{r.stage}: {sum(skipped.values()):,} input record(s) skipped ({reasons})")
        if s["docs_out"] and r.stage in data.kept_basis and data.kept_basis[r.stage].startswith("sample of 0 "):
            out.append(f"{r.stage}: none of its part files could be read: per-language and per-source figures unknown")
    for r in data.results:
        pack = _pack_stats(r) if (r.stage == "pack" or "pack" in r.stats) else {}
        for split, v in pack.get("splits", {}).items():
            if v.get("sequences", 1) == 0:  # (a pack.json without the key: an older run, no warning)
                out.append(
                    f"{r.stage}: the {split} split has 0 sequences of {pack.get('seq_len', '?')} tokens "
                    f"({v.get('documents', 0):,} document(s), {v.get('tokens', 0):,} tokens)"
                    + (": nothing to evaluate on (raise stages.pack.val_fraction)" if split == "val" else "")
                )
        if pack.get("roundtrip_mismatches"):
            out.append(
                f"{r.stage}: {pack['roundtrip_mismatches']:,} document(s) did not decode back to their text "
                "(round-trip mismatches)"
            )
    return out


def collect(job: str, run_dir: Path, results: list[StageResult], config: dict) -> RunData:
    data = RunData(job, run_dir, results, config)
    trained = next((r for r in results if "tokenizer" in r.stats), None)
    packed = next((r for r in results if "pack" in r.stats), None)
    # the histograms' stage: the one pack reads (the last before it), else the last stage
    i = results.index(packed) if packed is not None else len(results)
    measured = results[i - 1] if i > 0 else (results[-1] if results else None)
    data.hist_stage = measured.stage if measured is not None else ""
    last = packed or (results[-1] if results else None)
    # Stages that keep the same part files (tokenizer and pack keep pii's by reference) share one sample, read
    # once with what any of them needs; otherwise one stage's sample is in memory at a time.
    parts = [_part_files(r.output_dir) for r in results]
    needs: dict[int, list[bool]] = {}  # index of a group's first stage -> [keep_texts, measure]
    first = []
    for k, r in enumerate(results):
        head = first[-1] if k and parts[k] == parts[k - 1] else k
        first.append(head)
        flags = needs.setdefault(head, [False, False])
        flags[0] |= r is trained
        flags[1] |= r is measured
    sample = None
    for idx, r in enumerate(results):
        if first[idx] == idx:
            sample = sample_stage(r.output_dir, keep_texts=needs[idx][0], measure=needs[idx][1], parts=parts[idx])
        data.kept_by_lang[r.stage] = _kept_by_lang(r, sample)
        data.kept_by_source[r.stage] = _kept_by_source(r, sample)
        if r is last:
            data.source_lang[r.stage] = {
                k: {"docs": sample.source_docs[k], "bytes": sample.source_bytes.get(k, 0)} for k in sample.source_docs
            }
        if r is measured:
            data.hist = {
                "length_bytes": sample.lengths,
                "quality_score": sample.quality_score,
                "lang_score": sample.lang_score,
            }
        stage_report = storage.join(r.output_dir, "report.md")
        if storage.isfile(stage_report):
            remote = storage.is_url(stage_report)
            data.stage_reports[r.stage] = stage_report if remote else os.path.relpath(stage_report, run_dir)
        try:
            manifest = read_manifest(r.output_dir) or {}
        except Exception:  # a damaged manifest: the report still shows what it can
            manifest = {"fingerprint": "damaged"}
        data.manifests[r.stage] = {
            "fingerprint": manifest.get("fingerprint", ""),
            "parts": len(manifest.get("parts", [])),
            "complete": manifest.get("complete"),
        }
        exact = sample.rows == r.stats["docs_out"]
        data.kept_basis[r.stage] = (
            f"all {sample.rows:,}" if exact else f"sample of {sample.rows:,} in {sample.files} file(s)"
        )
        if r is trained:
            data.compression = _compression(trained.stats["tokenizer"]["path"], sample.texts)
    _add_tokens(data)
    for r in results:
        counts = data.kept_by_lang[r.stage]
        if counts and all("tokens" in v for v in counts.values()):
            data.tokens_out[r.stage] = sum(v["tokens"] for v in counts.values()) + r.stats["docs_out"]
    if packed is not None:
        data.pack_json = _pack_stats(packed)
        splits = data.pack_json.get("splits", {})
        if splits:
            data.tokens_out[packed.stage] = sum(v["tokens"] for v in splits.values())
            data.tokens_exact.add(packed.stage)
    if last is not None:
        _add_mix(data, last.stage)
    data.versions = _versions()
    data.warnings = _warnings(data)
    return data


# --- Markdown --------------------------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


@dataclass(frozen=True)
class Link:
    """A table cell linking a file of the run folder by a relative path (Markdown and HTML alike)."""

    text: str
    href: str

    def __str__(self) -> str:
        return f"[{self.text}]({self.href})"


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else ""


def _quantiles(values: list[float]) -> list:
    ordered = sorted(values)
    n = len(ordered)
    return [ordered[min(n - 1, int(q * n))] for q in (0.0, 0.1, 0.5, 0.9)] + [ordered[-1]]


def _config_yaml(config: dict) -> str:
    import yaml

    plain = json.loads(json.dumps(config, default=str))  # Paths, enums: as text
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=110)


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _sections(data: RunData) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) of every table in the report; shared by Markdown and HTML."""
    sections = []
    funnel = []
    for r in data.results:
        s = r.stats
        wall = max(s["wall_seconds"], 1e-9)
        funnel.append(
            [r.stage, f"{s['docs_in']:,}", f"{s['docs_out']:,}", f"{s['docs_excluded']:,}",
             f"{sum(s.get('skipped_input', {}).values()):,}", _mb(s["bytes_in"]), _mb(s["bytes_out"]), s["tasks"],
             f"{s['wall_seconds']:.1f}", f"{s['docs_in'] / wall:,.0f}", f"{s['bytes_in'] / 1e6 / wall:.2f}",
             "already complete: not re-run" if r.skipped_run else ""]
        )  # fmt: skip
    sections.append(
        ("Funnel", ["stage", "docs in", "kept", "excluded", "input skipped", "MB in", "MB kept", "tasks", "wall s",
                    "docs/s", "MB/s", "note"], funnel)
    )  # fmt: skip
    langs = sorted({lang for counts in data.kept_by_lang.values() for lang in counts})
    with_tokens = any("tokens" in v for counts in data.kept_by_lang.values() for v in counts.values())
    header = ["stage"]
    for lang in langs:
        header += [f"{lang} docs", f"{lang} MB"] + ([f"{lang} tokens"] if with_tokens else [])
    header.append("counted on (documents)")
    rows = []
    for stage, counts in data.kept_by_lang.items():
        row = [stage]
        for lang in langs:
            v = counts.get(lang, {"docs": 0, "bytes": 0, "tokens": 0})
            row += [f"{v['docs']:,}", _mb(v["bytes"])] + ([f"{v.get('tokens', 0):,}"] if with_tokens else [])
        rows.append(row + [data.kept_basis.get(stage, "")])
    title = (
        f"Kept per language (per-language shares counted on the first rows of up to {SAMPLE_FILES} part files, "
        f"{SAMPLE_ROWS:,} documents per stage, and scaled to the stage's totals"
    )
    if with_tokens:
        title += (
            "; tokens: the pack stage's exact total without EOS, spread over languages and earlier stages by the "
            "bytes per token of this run's tokenizer on the tokenizer stage's sample"
        )
    title += ")"
    sections.append((title, header, rows))
    sections.append(_bytes_tokens_funnel(data))
    sections.append(_per_source(data))
    if data.mix:
        sections.append(_final_mix(data))
    reasons = []
    for r in data.results:
        examples = data.stage_reports.get(r.stage)
        link = Link(f"{r.stage}/report.md", examples) if examples else ""
        for reason, v in r.stats["excluded"].items():
            reasons.append([r.stage, "excluded", f"`{reason}`", f"{v['docs']:,}", _mb(v["bytes"]), link])
        for reason, n in r.stats["skipped_input"].items():
            reasons.append([r.stage, "input skipped", f"`{reason}`", f"{n:,}", "", ""])
    sections.append(
        ("Removal and skip reasons (examples per reason, not quoted here: the stage's own report)",
         ["stage", "kind", "reason", "docs", "MB", "examples"], reasons)
    )  # fmt: skip
    sections.append(
        ("Stage reports", ["stage", "report"],
         [[stage, Link(path, path)] for stage, path in data.stage_reports.items()])
    )  # fmt: skip
    if any(data.hist.values()):
        sections.append(
            (f"Distributions in the sample of stage {data.hist_stage} (rows read, unweighted; the HTML has the "
             "histograms)", ["measure", "documents", "min", "p10", "median", "p90", "max"],
             [[name, f"{len(v):,}", *(f"{q:,.3f}" if isinstance(q, float) else f"{q:,}" for q in _quantiles(v))]
              if v else [name, "0 (no values in the sample)", "", "", "", "", ""] for name, v in data.hist.items()])
        )  # fmt: skip
    by_name = {r.stage: r.stats for r in data.results}
    if "dedup" in by_name and "dedup" in by_name["dedup"]:
        sizes = by_name["dedup"]["dedup"].get("cluster_sizes", {})
        sections.append(
            ("Dedup cluster sizes", ["cluster size", "clusters"],
             [[k, f"{v:,}"] for k, v in sorted(sizes.items(), key=lambda kv: int(kv[0]))])
        )  # fmt: skip
    if "decont" in by_name and "decont" in by_name["decont"]:
        bench = by_name["decont"]["decont"].get("benchmarks", {})
        sections.append(
            ("Decontamination hits per benchmark", ["benchmark", "examples", "indexed", "too short", "docs hit"],
             [[k, v.get("examples"), v.get("indexed"), v.get("too_short"), v.get("docs_hit")] for k, v in bench.items()])
        )  # fmt: skip
    if "pii" in by_name and "pii" in by_name["pii"]:
        found = by_name["pii"]["pii"].get("replacements", {})
        sections.append(("PII replaced per type", ["type", "replacements"], [[k, f"{v:,}"] for k, v in found.items()]))
    if "pack" in by_name and "pack" in by_name["pack"]:
        splits = by_name["pack"]["pack"].get("splits", {})
        sections.append(
            ("Packed token shards", ["split", "documents", "tokens", "sequences", "shards"],
             [[k, f"{v['documents']:,}", f"{v['tokens']:,}", f"{v['sequences']:,}", v["shards"]]
              for k, v in splits.items()])
        )  # fmt: skip
    if data.compression:
        sections.append(
            ("Tokenizer compression on the kept documents (a sample of up to "
             f"{MAX_DOCS_PER_LANG_FOR_COMPRESSION:,} per language; tokens per word: lower is better; words split on "
             "whitespace, eojeol for Korean)", ["tokenizer", "vocab", "text", "docs", "tokens/word", "bytes/token",
                                                "chars/token"],
             [[c["tokenizer"], f"{c['vocab_size']:,}", c["text"], c["docs"], c["tokens_per_word"],
               c["bytes_per_token"], c["chars_per_token"]] for c in data.compression])
        )  # fmt: skip
    sections.append(("Versions", ["component", "version"], [["code version", data.version], *data.versions.items()]))
    sections.append(
        ("Stage manifests (_stage.json)", ["stage", "fingerprint", "part files", "complete"],
         [[stage, f"`{m['fingerprint']}`" if m["fingerprint"] else "", m["parts"], m["complete"]]
          for stage, m in data.manifests.items()])
    )  # fmt: skip
    return sections


def _bytes_tokens_funnel(data: RunData) -> tuple[str, list[str], list[list]]:
    rows = []
    for r in data.results:
        s = r.stats
        removed = s["bytes_in"] - s["bytes_out"]
        tokens = data.tokens_out.get(r.stage)
        basis = (
            "exact: pack.json"
            if r.stage in data.tokens_exact
            else ("estimated: bytes per token of this run's tokenizer" if tokens is not None else "")
        )
        rows.append(
            [r.stage, f"{s['docs_out']:,}", _pct(s["docs_excluded"], s["docs_in"]), _mb(s["bytes_in"]),
             _mb(s["bytes_out"]), _mb(removed), _pct(removed, s["bytes_in"]), _mb(s["bytes_excluded"]),
             f"{tokens:,}" if tokens is not None else "", basis]
        )  # fmt: skip
    title = (
        "Bytes and tokens funnel (MB of UTF-8 text from stats.json; MB removed includes text cut from kept "
        "documents; tokens as packed, one EOS per document)"
    )
    header = ["stage", "docs kept", "% docs removed", "MB in", "MB kept", "MB removed", "% bytes removed",
              "MB in excluded docs", "tokens kept", "tokens"]  # fmt: skip
    return title, header, rows


def _per_source(data: RunData) -> tuple[str, list[str], list[list]]:
    rows = []
    for r in data.results:
        counts = data.kept_by_source.get(r.stage, {})
        total = sum(v["bytes"] for v in counts.values())
        basis = data.kept_basis.get(r.stage, "")
        marked = (
            basis if basis.startswith("all ") else f"sampled: {basis.removeprefix('sample of ')}, scaled to stats.json"
        )
        for src, v in sorted(counts.items(), key=lambda kv: -kv[1]["bytes"]):
            rows.append([r.stage, src, f"{v['docs']:,}", _mb(v["bytes"]), _pct(v["bytes"], total), marked])
    title = "Kept per source (the sample's shares of each stage's totals in stats.json)"
    return title, ["stage", "source", "docs", "MB", "share of stage MB", "counted on (documents)"], rows


def _final_mix(data: RunData) -> tuple[str, list[str], list[list]]:
    key = "tokens" if all("tokens" in m for m in data.mix) else "bytes"
    total = sum(m[key] for m in data.mix)
    rows = []
    for m in data.mix:
        rows.append([m["source"], m["lang"], f"{m['docs']:,}", _mb(m["bytes"]),
                     f"{m['tokens']:,}" if "tokens" in m else "", _pct(m[key], total)])  # fmt: skip
    for field_, label in (("lang", "all sources"), ("source", "all languages")):
        groups: Counter = Counter()
        for m in data.mix:
            groups[m[field_]] += m[key]
        if len(groups) > 1 or field_ == "lang":
            for name, n in sorted(groups.items(), key=lambda kv: -kv[1]):
                src, lang = (label, name) if field_ == "lang" else (name, label)
                rows.append([src, lang, "", "", f"{n:,}" if key == "tokens" else "", _pct(n, total)])
    stage = data.results[-1].stage if data.results else ""
    packed = "the packed tokens (pack.json's total)" if key == "tokens" else f"the bytes kept by {stage}"
    title = f"Final mix: share of each source and language in {packed}"
    return title, ["source", "lang", "docs", "MB", "tokens", f"share of {key}"], rows


def write_markdown(data: RunData) -> Path:
    lines = [f"# Run report: {data.job}", "", f"- finished: {data.finished}", f"- code version: {data.version}",
             f"- output folder: {data.run_dir}", "- HTML version with figures: [report.html](report.html)"]  # fmt: skip
    lines += ["", "## Warnings", ""] + ([f"- {w}" for w in data.warnings] or ["(none)"])
    for title, header, rows in _sections(data):
        lines += ["", f"## {title}", ""] + (_table(header, rows) if rows else ["(none)"])
    lines += ["", "Excluded documents are in `<stage>/excluded/`, skipped input records in `<stage>/skipped/`."]
    lines += ["", "## Config (resolved)", "", "```yaml", _config_yaml(data.config).rstrip("\n"), "```", ""]
    return write_text_atomic(data.run_dir / "report.md", "\n".join(lines))


# --- HTML ------------------------------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _figures(data: RunData) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figures = []
    stages = [r.stage for r in data.results]
    langs = sorted({lang for counts in data.kept_by_lang.values() for lang in counts})
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bottom = [0] * len(stages)
    for lang in langs:
        values = [data.kept_by_lang[s].get(lang, {}).get("docs", 0) for s in stages]
        ax.bar(stages, values, bottom=bottom, label=lang)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("documents kept")
    ax.set_title("Documents kept after each stage, by language")
    ax.legend()
    figures.append(("Funnel by language", _png(fig)))
    plt.close(fig)

    reasons = [(f"{r.stage}: {k}", v["docs"]) for r in data.results for k, v in r.stats["excluded"].items()]
    if reasons:
        reasons.sort(key=lambda x: x[1])
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(reasons))))
        ax.barh([r for r, _ in reasons], [n for _, n in reasons], color="#c0504d")
        counts = [n for _, n in reasons]
        if max(counts) > 100 * min(counts):  # one reason dwarfing the rest: a log scale keeps the others visible
            ax.set_xscale("log")
        ax.set_xlabel("documents removed")
        ax.set_title("Removal reasons")
        figures.append(("Removal reasons", _png(fig)))
        plt.close(fig)

    for name, values in data.hist.items():
        if not values:
            continue
        fig, ax = plt.subplots(figsize=(8, 2.8))
        if name == "length_bytes" and min(values) > 0 and max(values) > 20 * min(values):
            import numpy as np

            ax.hist(values, bins=np.geomspace(min(values), max(values), HIST_BINS + 1), color="#9bbb59")
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels overlap
        else:
            ax.hist(values, bins=HIST_BINS, color="#9bbb59")
        label = "document length (UTF-8 bytes)" if name == "length_bytes" else name
        ax.set_xlabel(label)
        ax.set_ylabel("documents")
        title = f"Histogram of {label}: {len(values):,} documents sampled from stage {data.hist_stage}"
        ax.set_title(title, fontsize=10)
        figures.append((title, _png(fig)))
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(stages, [r.stats["wall_seconds"] for r in data.results], color="#4f81bd")
    ax.set_ylabel("wall seconds")
    ax.set_title("Time per stage")
    figures.append(("Time per stage", _png(fig)))
    plt.close(fig)
    return figures


_CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#eee}td{text-align:right}td:first-child{text-align:left}img{max-width:100%}
pre{background:#f6f6f6;padding:1em;font-size:12px;overflow:auto}
ul.warnings li{color:#9c2b00}"""


def write_html(data: RunData) -> Path:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Run report: {esc(data.job)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>Run report: {esc(data.job)}</h1>",
             f"<p>finished {esc(data.finished)} &middot; code version <code>{esc(data.version)}</code> &middot; "
             f"outputs in <code>{esc(str(data.run_dir))}</code></p>"]  # fmt: skip
    parts.append("<h2>Warnings</h2>")
    if data.warnings:
        parts.append("<ul class='warnings'>" + "".join(f"<li>{esc(w)}</li>" for w in data.warnings) + "</ul>")
    else:
        parts.append("<p>(none)</p>")
    for title, png in _figures(data):
        parts.append(f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{png}'>")

    def cell(c) -> str:
        if isinstance(c, Link):
            return f"<a href='{esc(c.href)}'>{esc(c.text)}</a>"
        return esc(str(c).strip("`"))

    for title, header, rows in _sections(data):
        parts.append(f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Config (resolved)</h2><pre>" + esc(_config_yaml(data.config)))
    parts.append("</pre></body></html>")
    return write_text_atomic(data.run_dir / "report.html", "\n".join(parts))


def write_run_report(run_dir: Path, job: str, results: list[StageResult], config: dict) -> tuple[Path, Path]:
    """Check the funnel, then write report.md and report.html; returns both paths."""
    check_funnel(results)
    data = collect(job, run_dir, results, config)
    return write_markdown(data), write_html(data)
