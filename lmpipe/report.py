"""The run report of a job: Markdown and HTML (with figures), from the stages' stats.json and outputs.

Everything shown is read back from what the stages wrote (stats.json, part-*.parquet), so a report re-made after
a resumed run shows the same as one made after an uninterrupted run.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmpipe.core.ledger import AccountingError, write_text_atomic
from lmpipe.core.runner import StageResult
from lmpipe.core.runs import code_version

MAX_DOCS_PER_LANG_FOR_COMPRESSION = 2_000  # compression is a ratio: a sample this size is stable to ~1%
MAX_DOCS_PER_LANG_FOR_TOKENS = 20_000  # per stage and language; beyond it tokens are scaled by bytes


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


def _kept_by_lang(result: StageResult) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """Documents and UTF-8 bytes kept by a stage per language, and the first MAX_DOCS_PER_LANG_FOR_TOKENS texts of
    each language (for token counts and compression)."""
    stats: dict[str, dict[str, int]] = {}
    sample: dict[str, list[str]] = {}
    for part in sorted(result.output_dir.glob("part-*.parquet")):
        table = pq.read_table(part, columns=["lang", "text"])
        langs = table.column("lang").fill_null("unknown")
        sizes = table.append_column("lang_", langs).append_column("nbytes", pc.binary_length(table.column("text")))
        for row in sizes.group_by("lang_").aggregate([("nbytes", "sum"), ("nbytes", "count")]).to_pylist():
            total = stats.setdefault(row["lang_"], {"docs": 0, "bytes": 0})
            total["docs"] += row["nbytes_count"]
            total["bytes"] += row["nbytes_sum"]
        for lang in stats:
            bucket = sample.setdefault(lang, [])
            if len(bucket) < MAX_DOCS_PER_LANG_FOR_TOKENS:
                texts = table.filter(pc.equal(langs, lang)).column("text").slice(0, MAX_DOCS_PER_LANG_FOR_TOKENS)
                bucket += texts.to_pylist()[: MAX_DOCS_PER_LANG_FOR_TOKENS - len(bucket)]
    return dict(sorted(stats.items())), sample


def _add_tokens(stats: dict[str, dict[str, int]], sample: dict[str, list[str]], tokenizer) -> None:
    """Tokens per language with this run's tokenizer: counted on the sample, scaled by bytes beyond it."""
    for lang, texts in sample.items():
        tokens = sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))
        sampled_bytes = sum(len(t.encode("utf-8")) for t in texts)
        stats[lang]["tokens"] = round(tokens * stats[lang]["bytes"] / max(sampled_bytes, 1))


def _compression(tokenizer_path: str, sample: dict[str, list[str]]) -> list[dict]:
    """Tokens per word etc. of the job's tokenizer and the shipped 102k tokenizer on the documents the job kept."""
    from lmpipe.tokenizer.load import ours
    from lmpipe.tokenizer.report import TextSet, measure

    sets = [
        TextSet(f"{lang}-kept", docs[:MAX_DOCS_PER_LANG_FOR_COMPRESSION])
        for lang, docs in sorted(sample.items())
        if any(t.split() for t in docs)
    ]
    refs = [ours(tokenizer_path, name="this run's tokenizer"), ours(name="shipped ko-en-102k")]
    return [
        {
            "tokenizer": row.tokenizer,
            "vocab_size": row.vocab_size,
            "text": row.text,
            "docs": row.docs,
            "tokens": row.tokens,
            "tokens_per_word": round(row.tokens_per_word, 3),
            "bytes_per_token": round(row.bytes_per_token, 3),
            "chars_per_token": round(row.chars_per_token, 3),
        }
        for row in measure(refs, sets)
    ]


def collect(job: str, run_dir: Path, results: list[StageResult], config: dict) -> RunData:
    data = RunData(job, run_dir, results, config)
    trained = next((r for r in results if "tokenizer" in r.stats), None)
    tokenizer = None
    if trained is not None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(trained.stats["tokenizer"]["path"])
    for r in results:
        stats, sample = _kept_by_lang(r)
        if tokenizer is not None:
            _add_tokens(stats, sample, tokenizer)
        if r is trained:
            data.compression = _compression(trained.stats["tokenizer"]["path"], sample)
        data.kept_by_lang[r.stage] = stats
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
    rows = []
    for stage, counts in data.kept_by_lang.items():
        row = [stage]
        for lang in langs:
            v = counts.get(lang, {"docs": 0, "bytes": 0, "tokens": 0})
            row += [f"{v['docs']:,}", _mb(v["bytes"])] + ([f"{v.get('tokens', 0):,}"] if with_tokens else [])
        rows.append(row)
    title = "Kept per language"
    if with_tokens:
        title += " (tokens: this run's tokenizer, counted on up to 20,000 documents per language, scaled by bytes)"
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
            ("Tokenizer compression on the kept documents (tokens per word: lower is better; words split on "
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
