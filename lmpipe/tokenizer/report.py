"""Compression report: bytes per token, characters per token and tokens per word, per tokenizer and text set.

Tokens per word is EXAONE's "compression ratio" (lower is better). Words are whitespace-separated, so a Korean
word is an eojeol (어절: a stem with its particles or endings). Every text is encoded without special tokens, one
document at a time, and the counts are summed over the set (a ratio of totals, not a mean of ratios).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from loguru import logger

from lmpipe.core.readers import RecordKeys, Skip, iter_file, resolve_inputs
from lmpipe.tokenizer.load import Reference

# Encoded in slices of this many documents: bounded memory on big sets, Rust threads busy within a slice.
_SLICE = 256


@dataclass(frozen=True)
class TextSet:
    label: str  # "ko-news", "en-book", "code-python": the part before the first "-" is the language
    docs: list[str]

    @property
    def chars(self) -> int:
        return sum(len(t) for t in self.docs)

    @property
    def bytes(self) -> int:
        return sum(len(t.encode("utf-8")) for t in self.docs)

    @property
    def words(self) -> int:
        return sum(len(t.split()) for t in self.docs)


@dataclass(frozen=True)
class Row:
    tokenizer: str
    kind: str
    vocab_size: int
    text: str
    tokens: int
    bytes: int
    chars: int
    words: int
    docs: int
    roundtrip_failures: int  # documents whose decode(encode(text)) differs from the text

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.tokens

    @property
    def tokens_per_word(self) -> float:
        return self.tokens / self.words


def read_text_set(spec: str) -> TextSet:
    """`LABEL=PATH` or `PATH` (label: file name without suffixes); PATH is any corpus file or folder we read."""
    label, _, path = spec.rpartition("=")
    if not label:
        label = Path(path).name.split(".")[0]
    docs = []
    for file in resolve_inputs([path]):
        for item in iter_file(file, RecordKeys()):
            if isinstance(item, Skip):
                logger.warning(f"report text {file}:{item.row}: skipped ({item.reason}: {item.detail})")
                continue
            docs.append(item.text)
    if not docs or not any(t.split() for t in docs):
        raise ValueError(f"text set {spec!r} has no words")
    return TextSet(label, docs)


def measure(tokenizers: list[Reference], texts: list[TextSet]) -> list[Row]:
    rows = []
    for ref in tokenizers:
        for ts in texts:
            tokens = failures = 0
            for i in range(0, len(ts.docs), _SLICE):
                docs = ts.docs[i : i + _SLICE]
                encoded = ref.encode(docs)
                tokens += sum(len(ids) for ids in encoded)
                failures += sum(ref.decode(ids) != doc for ids, doc in zip(encoded, docs))
            rows.append(
                Row(
                    ref.name,
                    ref.kind,
                    ref.vocab_size,
                    ts.label,
                    tokens,
                    ts.bytes,
                    ts.chars,
                    ts.words,
                    len(ts.docs),
                    failures,
                )
            )
            logger.info(f"{ref.name:>24} {ts.label:<14} {tokens / ts.words:.3f} tokens/word")
    return rows


def markdown_table(rows: list[Row], texts: list[str]) -> str:
    """One line per tokenizer, sorted by tokens per word on the first text set; three numbers per set."""
    by_tok: dict[str, dict[str, Row]] = {}
    for r in rows:
        by_tok.setdefault(r.tokenizer, {})[r.text] = r
    order = sorted(by_tok, key=lambda name: by_tok[name][texts[0]].tokens_per_word)
    head = "| tokenizer | vocab | exact round trip | " + " | ".join(
        f"{t} tok/word | {t} bytes/tok | {t} chars/tok" for t in texts
    )
    sep = "|---|---:|---|" + "---:|---:|---:|" * len(texts)
    lines = [head + " |", sep]
    for name in order:
        cells = by_tok[name]
        first = next(iter(cells.values()))
        values = " | ".join(
            f"{cells[t].tokens_per_word:.2f} | {cells[t].bytes_per_token:.2f} | {cells[t].chars_per_token:.2f}"
            for t in texts
        )
        failed = sum(cells[t].roundtrip_failures for t in texts)
        roundtrip = "yes" if not failed else f"no: {failed:,} of {sum(cells[t].docs for t in texts):,} docs"
        lines.append(f"| {name} | {first.vocab_size:,} | {roundtrip} | {values} |")
    return "\n".join(lines) + "\n"


def chart(rows: list[Row], texts: list[str], path: Path, title: str) -> None:
    """Grouped horizontal bars of tokens per word: one group per text set, one bar per tokenizer."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    names = sorted({r.tokenizer for r in rows}, key=lambda n: _tpw(rows, n, texts[0]), reverse=True)
    fig, axes = plt.subplots(1, len(texts), figsize=(4.2 * len(texts), 0.38 * len(names) + 1.6), sharey=True)
    axes = [axes] if len(texts) == 1 else list(axes)
    for ax, text in zip(axes, texts):
        values = [_tpw(rows, n, text) for n in names]
        colors = ["tab:red" if n.startswith("ours") else "tab:gray" for n in names]
        ax.barh(names, values, color=colors)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        ax.set_title(text)
        ax.set_xlabel("tokens per word (lower is better)")
        ax.set_xlim(0, max(values) * 1.18)
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _tpw(rows: list[Row], name: str, text: str) -> float:
    return next(r.tokens_per_word for r in rows if r.tokenizer == name and r.text == text)


def write_report(rows: list[Row], texts: list[TextSet], output_dir: str | Path, title: str) -> Path:
    """DIR/compression.md (table), DIR/compression.png (chart), DIR/compression.json (every count)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = [t.label for t in texts]
    sets = "\n".join(f"| {t.label} | {len(t.docs):,} | {t.words:,} | {t.chars:,} | {t.bytes:,} |" for t in texts)
    md = (
        f"# {title}\n\n"
        "Tokens per word is EXAONE's compression ratio (lower is better). Words are whitespace-separated "
        "(a Korean word is an eojeol); bytes are UTF-8. No special tokens are added; literal special-token "
        "strings count as text. Counts are summed over each set, then divided. Exact round trip: "
        "decode(encode(text)) == text for every document (tokenizers that normalize text, such as NFKC, or drop "
        "characters fail it; their counts are then of a different text).\n\n"
        "| text set | documents | words | characters | bytes |\n|---|---:|---:|---:|---:|\n"
        f"{sets}\n\n{markdown_table(rows, labels)}\n![tokens per word](compression.png)\n"
    )
    (out / "compression.md").write_text(md, encoding="utf-8")
    data = [
        asdict(r)
        | {
            "tokens_per_word": r.tokens_per_word,
            "bytes_per_token": r.bytes_per_token,
            "chars_per_token": r.chars_per_token,
        }
        for r in rows
    ]
    (out / "compression.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    chart(rows, labels, out / "compression.png", title)
    return out / "compression.md"
