"""Train the byte-level BPE (EXAONE 3.0 recipe: MeCab pre-tokenization for Korean, 102,400 tokens, from scratch).

Two streaming passes over the corpus (pipeline Parquet shards, JSONL, text; see `lmpipe.core.readers`), so memory is
bounded by the trainer's pair counts, never by the corpus:
1. scan: characters per language, to size a language-balanced sample (HF tokenizers issues report runs over
   100 GB exhausting 750 GB of RAM and overflowing 32-bit pair counts: cap the sample, don't feed everything);
2. train: each document is kept with its language's sampling rate (hash of its id: deterministic, order-free),
   cut at MeCab morpheme boundaries (`lmpipe.tokenizer.pretok`) and fed to `BpeTrainer` in batches.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import xxhash
from datatrove.data import Document
from loguru import logger
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from lmpipe.core import schema, storage
from lmpipe.core.config import ConfigError
from lmpipe.core.ledger import write_json_atomic
from lmpipe.core.progress import Progress
from lmpipe.core.readers import RecordKeys, Skip, iter_file, resolve_inputs
from lmpipe.tokenizer.pretok import HANGUL_RE, byte_level, training_chunks

# Special tokens, ids 0..15 in this order. No unknown token: byte-level BPE can spell every byte.
BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
PAD = "<|pad|>"
RESERVED = tuple(f"<|reserved_{i}|>" for i in range(13))  # for chat turns, FIM, tools: assign before training
SPECIAL_TOKENS: tuple[str, ...] = (BOS, EOS, PAD, *RESERVED)
N_BYTES = 256

_LATIN_RE = re.compile("[A-Za-z]")


class TrainError(ConfigError):
    """Input or settings that cannot give the tokenizer asked for (empty corpus, no Korean, vocabulary too small).

    A ConfigError, so `python -m lmpipe run tokenizer` and the jobs print it as a one-line error too."""


@dataclass(frozen=True)
class TrainConfig:
    vocab_size: int = 102_400  # total: special tokens + 256 byte symbols + merges (EXAONE 3.0's size)
    mecab: bool = True  # cut Korean words at MeCab morpheme boundaries (split only: text is never changed)
    min_frequency: int = 2  # a pair seen once is noise, not a token
    languages: tuple[str, ...] = ("ko", "en")  # balanced in equal shares; documents in other languages are counted
    balance_by: str = "chars"  # "chars" or "bytes": a Hangul syllable is 3 UTF-8 bytes but one character
    max_chars_per_lang: int | None = None  # cap on the sample per language (in balance_by units); None: all
    seed: int = 0  # salt of the per-document sampling hash
    batch_docs: int = 512  # documents per batch handed to the trainer
    require_full_vocab: bool = True  # False: a corpus too small for vocab_size gives a smaller vocabulary, logged

    def __post_init__(self):
        floor = len(SPECIAL_TOKENS) + N_BYTES
        if self.vocab_size <= floor:
            raise TrainError(
                f"vocab_size {self.vocab_size} is not larger than the alphabet: {N_BYTES} bytes + "
                f"{len(SPECIAL_TOKENS)} special tokens = {floor}; ask for more than {floor}"
            )
        if self.balance_by not in ("chars", "bytes"):
            raise TrainError(f"balance_by must be 'chars' or 'bytes', not {self.balance_by!r}")
        if not self.languages:
            raise TrainError("languages is empty")
        if self.max_chars_per_lang is not None and self.max_chars_per_lang <= 0:
            raise TrainError("max_chars_per_lang must be positive (None: no cap)")


@dataclass
class LangCount:
    docs: int = 0
    chars: int = 0
    bytes: int = 0

    def add(self, text: str, nbytes: int) -> None:
        self.docs += 1
        self.chars += len(text)
        self.bytes += nbytes


@dataclass
class CorpusScan:
    """What pass 1 saw: per language (None: not one of cfg.languages) and per file."""

    langs: dict[str, LangCount] = field(default_factory=dict)
    other_langs: Counter = field(default_factory=Counter)
    hangul_chars: int = 0
    skipped: Counter = field(default_factory=Counter)
    files: dict[str, dict] = field(default_factory=dict)


def document_language(text: str, tagged: str | None) -> str | None:
    """The document's `lang` tag if it has one, else a guess from its letters: mostly Hangul, mostly Latin."""
    if tagged:
        return tagged
    sample = text[:20_000]
    letters = sum(ch.isalpha() for ch in sample)
    if not letters:
        return None
    if len(HANGUL_RE.findall(sample)) >= 0.5 * letters:
        return "ko"
    if len(_LATIN_RE.findall(sample)) >= 0.5 * letters:
        return "en"
    return None


def _iter_docs(files: list[str], label: str, skipped: Counter | None = None) -> Iterator[tuple[str, Document]]:
    """(file, document) of every readable record; unreadable ones are counted in `skipped` and logged (the first
    20 loudly: a corrupt 10 GB file must not flood the console)."""
    keys = RecordKeys()
    with Progress(label) as progress:
        for path in files:
            for item in iter_file(path, keys):
                if isinstance(item, Skip):
                    if skipped is not None:
                        if sum(skipped.values()) < 20:
                            where = item.file if item.row is None else f"{item.file} line {item.row + 1}"
                            logger.warning(f"skipped input record in {where}: {item.reason} ({item.detail})")
                        skipped[item.reason] += 1
                    continue
                progress.update(len(item.text))
                yield path, item


def scan_corpus(files: list[str], cfg: TrainConfig) -> CorpusScan:
    scan = CorpusScan(langs={lang: LangCount() for lang in cfg.languages})
    for path, doc in _iter_docs(files, "tokenizer scan", scan.skipped):
        text = doc.text
        per_file = scan.files.setdefault(path, {"docs": 0, "langs": Counter()})
        per_file["docs"] += 1
        lang = document_language(text, doc.metadata.get(schema.LANG))
        if HANGUL_RE.search(text):  # cheap test first: most English documents have none
            scan.hangul_chars += len(HANGUL_RE.findall(text))
        if lang in scan.langs:
            scan.langs[lang].add(text, len(text.encode("utf-8")))
            per_file["langs"][lang] += 1
        else:
            scan.other_langs[str(lang)] += 1
    return scan


def sampling_rates(scan: CorpusScan, cfg: TrainConfig) -> dict[str, float]:
    """Per language, the share of its documents to keep so that every language gets the same amount of text."""
    if not any(c.docs for c in scan.langs.values()) and not scan.other_langs:
        raise TrainError("the corpus is empty: no document with text in the input")
    if "ko" in cfg.languages and (scan.hangul_chars == 0 or scan.langs["ko"].docs == 0):
        raise TrainError(
            "the corpus has no Korean text (no Hangul in any document): this tokenizer's MeCab pre-tokenization "
            "and goals are for Korean; check the input, or set languages (--languages) without ko"
        )
    missing = [lang for lang, c in scan.langs.items() if c.docs == 0]
    if missing:
        found = {lang: c.docs for lang, c in scan.langs.items()} | dict(scan.other_langs)
        raise TrainError(
            f"no documents in language(s) {missing} (found: {found}); a balanced sample needs them all, "
            f"or pass --languages {' '.join(lang for lang in cfg.languages if lang not in missing)}"
        )
    amount = {lang: (c.chars if cfg.balance_by == "chars" else c.bytes) for lang, c in scan.langs.items()}
    target = min(amount.values())
    if cfg.max_chars_per_lang is not None:
        target = min(target, cfg.max_chars_per_lang)
    return {lang: min(1.0, target / n) for lang, n in amount.items()}


def _keep(doc_id: str, rate: float, seed: int) -> bool:
    return rate >= 1.0 or xxhash.xxh64_intdigest(f"{seed}:{doc_id}") < rate * 2**64


def iter_training_batches(
    files: list[str], cfg: TrainConfig, rates: dict[str, float], used: dict[str, LangCount]
) -> Iterator[list[str]]:
    """Batches of pre-split chunks of the sampled documents; `used` counts what was fed, per language."""
    batch: list[str] = []
    docs_in_batch = 0
    for _, doc in _iter_docs(files, "tokenizer train"):
        lang = document_language(doc.text, doc.metadata.get(schema.LANG))
        if lang not in rates or not _keep(doc.id, rates[lang], cfg.seed):
            continue
        used.setdefault(lang, LangCount()).add(doc.text, len(doc.text.encode("utf-8")))
        batch.extend(training_chunks(doc.text, mecab=cfg.mecab))
        docs_in_batch += 1
        if docs_in_batch >= cfg.batch_docs:
            yield batch
            batch, docs_in_batch = [], 0
    if batch:
        yield batch


def new_tokenizer() -> Tokenizer:
    """An empty byte-level BPE with the portable pipeline: what tokenizer.json holds."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = byte_level()
    tok.decoder = decoders.ByteLevel()
    # trim_offsets=False: offsets cover the leading space too, so they tile the text exactly.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def train(inputs: list[str], output_dir: str | Path, cfg: TrainConfig = TrainConfig()) -> dict:
    """Train on `inputs` (files or folders, stage output folders included) and write the tokenizer to `output_dir`.

    Writes tokenizer.json (portable: byte-level pre-tokenizer only; see `lmpipe.tokenizer.load`), tokenizer_config.json
    and special_tokens_map.json (for transformers), training_config.json (config + measurements) and
    data_manifest.json (every input file with its hash and what was used from it). Returns the measurements.
    """
    # Long on purpose: scan, sample, train, save and verify in the order they happen, each a few lines.
    # files in object storage are read as they are (a passthrough stage's inputs); local ones are listed
    local = [i for i in inputs if not storage.is_url(i)]
    files = [i for i in inputs if storage.is_url(i)] + (resolve_inputs(local) if local else [])
    out = Path(output_dir)
    started = time.monotonic()
    scan = scan_corpus(files, cfg)
    rates = sampling_rates(scan, cfg)
    scan_seconds = time.monotonic() - started
    logger.info(f"tokenizer scan: {_describe(scan.langs)}; sampling rates {rates}")

    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, even those never seen
        show_progress=sys.stderr.isatty(),
    )
    used: dict[str, LangCount] = {}
    train_started = time.monotonic()
    tok.train_from_iterator(iter_training_batches(files, cfg, rates, used), trainer=trainer)
    train_seconds = time.monotonic() - train_started
    if not used:
        raise TrainError("the sample is empty: no document was selected for training")
    reached = tok.get_vocab_size(with_added_tokens=True)
    if reached < cfg.vocab_size:
        message = (
            f"the corpus supports only {reached:,} tokens (min_frequency={cfg.min_frequency}), not the "
            f"{cfg.vocab_size:,} asked for"
        )
        if cfg.require_full_vocab:
            raise TrainError(f"{message}: add text, lower --vocab-size or --min-frequency")
        logger.warning(message)
    for i, token in enumerate(SPECIAL_TOKENS):  # ids the rest of the project may hard-code
        assert tok.token_to_id(token) == i, (token, tok.token_to_id(token))

    used_bytes = sum(c.bytes for c in used.values())
    total_seconds = time.monotonic() - started
    stats = {
        "vocab_size": reached,
        "special_tokens": {"bos": BOS, "eos": EOS, "pad": PAD, "reserved": list(RESERVED)},
        "documents_used": {lang: asdict(c) for lang, c in used.items()},
        "documents_available": {lang: asdict(c) for lang, c in scan.langs.items()},
        "documents_other_language": dict(scan.other_langs),
        "skipped_input": dict(scan.skipped),
        "sampling_rates": rates,
        "training_bytes": used_bytes,
        "scan_seconds": round(scan_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(total_seconds, 1),
        "gb_per_hour": round(used_bytes / 1e9 / (train_seconds / 3600), 3) if train_seconds else None,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "cpus": os.cpu_count(),
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "tokenizer.json.tmp"
    tok.save(str(tmp), pretty=False)
    os.replace(tmp, out / "tokenizer.json")
    _write_transformers_files(out)
    write_json_atomic(out / "training_config.json", {"config": asdict(cfg), "stats": stats})
    manifest = {
        "inputs": [str(p) for p in inputs],
        "files": [
            {
                "path": path,
                "bytes": storage.size(path),
                **({"etag": storage.identity(path)["etag"]} if storage.is_url(path) else {"sha256": _sha256(path)}),
                "docs": info["docs"],
                "docs_per_language": dict(info["langs"]),
            }
            for path, info in scan.files.items()
        ],
    }
    write_json_atomic(out / "data_manifest.json", manifest)
    logger.info(
        f"tokenizer trained: {reached:,} tokens on {used_bytes / 1e6:,.1f} MB ({_describe(used)}) in "
        f"{total_seconds:.0f}s (train {train_seconds:.0f}s, {stats['gb_per_hour']} GB/h), "
        f"peak RSS {stats['peak_rss_mb']:.0f} MB -> {out}"
    )
    return stats


def _describe(langs: dict[str, LangCount]) -> str:
    return ", ".join(f"{lang}: {c.docs:,} docs {c.chars / 1e6:.1f}M chars" for lang, c in langs.items())


def _write_transformers_files(out: Path) -> None:
    """tokenizer_config.json + special_tokens_map.json: `AutoTokenizer.from_pretrained(dir)` then works."""
    special = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "additional_special_tokens": list(RESERVED)}
    write_json_atomic(out / "special_tokens_map.json", special)
    write_json_atomic(
        out / "tokenizer_config.json",
        special
        | {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "add_bos_token": False,
            "add_eos_token": False,
            "clean_up_tokenization_spaces": False,  # would change decoded text (" ," -> ",")
            "model_max_length": 1_000_000_000,
            # A literal "<|end_of_text|>" in a document is text, as in `load_tokenizer` (encode_special_tokens):
            # without this, transformers would encode it as the real EOS and web text could forge a boundary.
            "split_special_tokens": True,
        },
    )
