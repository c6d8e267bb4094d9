"""The run report of a job: Markdown and HTML (with figures), from the stages' stats.json and a bounded sample.

Everything shown is read back from what the stages wrote, so a report re-made after a resumed run shows the same
as one made after an uninterrupted run. Driver memory and time do not grow with the corpus (issue 17: reading
every part file back and re-tokenizing took 2 minutes and 3.35 GB of driver memory on a 128 MB job):

- counts, bytes and reasons per stage, dedup/decont/pii/pack figures: the stage's stats.json (its merged ledgers);
- per-language documents and bytes: counted on a sample of each stage's kept documents and scaled to the stage's
  totals in stats.json (exact when the sample is the whole stage, as on the bundled samples);
- tokens: the pack stage's own totals (stats.json's copy of shards/pack.json), spread over languages and stages
  by the bytes per token this run's tokenizer gives on the tokenizer stage's sample;
- compression: on that same sample, capped per language in documents and bytes.

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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmpipe.core.completion import read_manifest
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


@dataclass
class StageSample:
    """What was read of one stage's kept documents: per language documents and UTF-8 bytes (weighted: each row
    read stands for its file's rows), and (when asked) the texts read. `rows`: rows read; `files`: files opened."""

    docs: Counter = field(default_factory=Counter)
    bytes: Counter = field(default_factory=Counter)
    texts: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 0
    files: int = 0


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


def _part_files(folder: Path) -> list[Path]:
    """The stage's part files as its completion manifest lists them (no directory walk), else a glob."""
    try:
        manifest = read_manifest(folder)
    except Exception:  # a damaged manifest: the report still shows what it can
        manifest = None
    if manifest and manifest.get("parts"):
        return [folder / e["name"] for e in manifest["parts"]]
    return sorted(folder.glob("part-*.parquet"))


def _spread(items: list, k: int) -> list:
    """At most k items, evenly spaced over the list (first and last included)."""
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)] if k > 1 else items[:1]


def sample_stage(folder: Path, keep_texts: bool = False) -> StageSample:
    """Read the first rows of at most SAMPLE_FILES part files of a stage folder, SAMPLE_ROWS rows in all."""
    out = StageSample()
    files = _spread(_part_files(folder), SAMPLE_FILES)
    text_bytes = 0
    for i, path in enumerate(files):
        quota = (SAMPLE_ROWS - out.rows) // (len(files) - i)  # what a short file leaves goes to the next ones
        if quota <= 0 or text_bytes >= SAMPLE_TEXT_BYTES:
            continue
        if not path.is_file():
            continue
        pf = pq.ParquetFile(path)
        out.files += 1
        groups, rows = [], 0  # only the first row group(s), enough for the quota
        while len(groups) < pf.metadata.num_row_groups and rows < quota:
            rows += pf.metadata.row_group(len(groups)).num_rows
            groups.append(len(groups))
        taken, docs, nbytes = 0, Counter(), Counter()
        for batch in pf.iter_batches(batch_size=min(_BATCH_ROWS, quota), row_groups=groups, columns=["lang", "text"]):
            batch = batch.slice(0, quota - taken)
            taken += batch.num_rows
            langs = batch.column("lang").fill_null("unknown").to_pylist()
            sizes = pc.binary_length(batch.column("text")).to_pylist()
            for lang, size in zip(langs, sizes):
                docs[lang] += 1
                nbytes[lang] += size
            if keep_texts:
                for lang, text in zip(langs, batch.column("text").to_pylist()):
                    out.texts.setdefault(lang, []).append(text)
            text_bytes += sum(sizes)
            if taken >= quota or text_bytes >= SAMPLE_TEXT_BYTES:
                break
        # Stratified by file: the rows read stand for all of their file's rows (a file of one language is not
        # outweighed by a bigger file of another because both gave the same number of rows).
        weight = pf.metadata.num_rows / max(taken, 1)
        for lang in docs:
            out.docs[lang] += docs[lang] * weight
            out.bytes[lang] += nbytes[lang] * weight
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

    refs = [ours(tokenizer_path, name=THIS_RUN), ours(name="shipped ko-en-102k")]
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


def collect(job: str, run_dir: Path, results: list[StageResult], config: dict) -> RunData:
    data = RunData(job, run_dir, results, config)
    trained = next((r for r in results if "tokenizer" in r.stats), None)
    for r in results:
        sample = sample_stage(r.output_dir, keep_texts=r is trained)  # one stage's sample in memory at a time
        data.kept_by_lang[r.stage] = _kept_by_lang(r, sample)
        exact = sample.rows == r.stats["docs_out"]
        data.kept_basis[r.stage] = (
            f"all {sample.rows:,}" if exact else f"sample of {sample.rows:,} in {sample.files} file(s)"
        )
        if r is trained:
            data.compression = _compression(trained.stats["tokenizer"]["path"], sample.texts)
    _add_tokens(data)
    return data


# --- Markdown --------------------------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


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
    reasons = []
    for r in data.results:
        for reason, v in r.stats["excluded"].items():
            reasons.append([r.stage, "excluded", f"`{reason}`", f"{v['docs']:,}", _mb(v["bytes"])])
        for reason, n in r.stats["skipped_input"].items():
            reasons.append([r.stage, "input skipped", f"`{reason}`", f"{n:,}", ""])
    sections.append(("Removal and skip reasons", ["stage", "kind", "reason", "docs", "MB"], reasons))
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
    return sections


def write_markdown(data: RunData) -> Path:
    lines = [f"# Run report: {data.job}", "", f"- finished: {data.finished}", f"- code version: {data.version}",
             f"- output folder: {data.run_dir}", f"- HTML version with figures: {data.run_dir / 'report.html'}"]  # fmt: skip
    for title, header, rows in _sections(data):
        lines += ["", f"## {title}", ""] + (_table(header, rows) if rows else ["(none)"])
    lines += ["", "Excluded documents are in `<stage>/excluded/`, skipped input records in `<stage>/skipped/`."]
    lines += ["", "## Config", "", "```json", json.dumps(data.config, indent=2, ensure_ascii=False, default=str),
              "```", ""]  # fmt: skip
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
pre{background:#f6f6f6;padding:1em;font-size:12px;overflow:auto}"""


def write_html(data: RunData) -> Path:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Run report: {esc(data.job)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>Run report: {esc(data.job)}</h1>",
             f"<p>finished {esc(data.finished)} &middot; code version <code>{esc(data.version)}</code> &middot; "
             f"outputs in <code>{esc(str(data.run_dir))}</code></p>"]  # fmt: skip
    for title, png in _figures(data):
        parts.append(f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{png}'>")
    for title, header, rows in _sections(data):
        parts.append(f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{esc(str(c).strip('`'))}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("<h2>Config</h2><pre>" + esc(json.dumps(data.config, indent=2, ensure_ascii=False, default=str)))
    parts.append("</pre></body></html>")
    return write_text_atomic(data.run_dir / "report.html", "\n".join(parts))


def write_run_report(run_dir: Path, job: str, results: list[StageResult], config: dict) -> tuple[Path, Path]:
    """Check the funnel, then write report.md and report.html; returns both paths."""
    check_funnel(results)
    data = collect(job, run_dir, results, config)
    return write_markdown(data), write_html(data)
