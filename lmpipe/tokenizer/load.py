"""The one loader of our tokenizer, and loaders of the reference tokenizers the report compares it with.

Encoding: tokenizer.json is portable (byte-level pre-tokenizer only: HF tokenizers cannot serialize the Python
MeCab pre-tokenizer). `load_tokenizer(mecab=True)` re-attaches MeCab so Korean words are cut at morpheme
boundaries at encode time exactly as at training time. Which is the default is decided by held-out compression
(docs/tokenizer_report/README.md): see ENCODE_WITH_MECAB.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from lmpipe.tokenizer.pretok import mecab_pre_tokenizer

DEFAULT_TOKENIZER = Path(__file__).parent / "assets" / "ko-en-102k" / "tokenizer.json"

# Measured on held-out text (docs/tokenizer_report/README.md): the portable file gives 2.18 tokens per word on
# Korean news and 2.29 on Korean Wikipedia, MeCab at encode time 2.29 and 2.40 (merges such as 했+다 learned where
# MeCab kept a word whole apply everywhere, MeCab would cut them again); English and code are identical. Portable
# also needs no MeCab, is 11-14x faster on Korean and is what transformers reproduces from tokenizer.json.
ENCODE_WITH_MECAB = False


def load_tokenizer(path: str | Path | None = None, mecab: bool | None = None) -> Tokenizer:
    """Our tokenizer from `path` (a tokenizer.json or its folder; default: the committed ko-en-102k).

    mecab: cut Korean words at MeCab morpheme boundaries before byte-level BPE, as at training time
    (default ENCODE_WITH_MECAB). Literal special-token strings in documents ("<|end_of_text|>") are encoded as
    text, never as the special token: pretraining data must not be able to forge a document boundary.
    """
    path = Path(path) if path is not None else DEFAULT_TOKENIZER
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"no tokenizer at {path}: train one with `python -m lmpipe.tokenizer train`")
    tok = Tokenizer.from_file(str(path))
    if ENCODE_WITH_MECAB if mecab is None else mecab:
        tok.pre_tokenizer = mecab_pre_tokenizer()
    tok.encode_special_tokens = True
    return tok


# --- reference tokenizers --------------------------------------------------------------------------------------


@dataclass
class Reference:
    """A tokenizer to measure: texts -> token ids (no special tokens added), and ids -> text."""

    name: str
    vocab_size: int
    kind: str  # "tokenizer.json", "vocab+merges", "tiktoken", "ours"
    encode: Callable[[list[str]], list[list[int]]]
    decode: Callable[[list[int]], str]

    def count(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.encode(texts)]


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    return path.read_text(encoding="utf-8")


def _from_hf(name: str, tok: Tokenizer, kind: str) -> Reference:
    tok.encode_special_tokens = True  # measure text as text, in every tokenizer alike

    def encode(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]

    def decode(ids: list[int]) -> str:
        return tok.decode(ids, skip_special_tokens=False)

    return Reference(name, tok.get_vocab_size(with_added_tokens=True), kind, encode, decode)


def _first(folder: Path, *names: str) -> Path | None:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def _vocab_merges(name: str, vocab_path: Path, merges_path: Path, digits_one_by_one: bool) -> Reference:
    vocab = json.loads(_read_text(vocab_path))
    merges = [
        tuple(line.split(" "))
        for line in _read_text(merges_path).splitlines()
        if line and not line.startswith("#version")
    ]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if digits_one_by_one:  # EXAONE: digits split one by one before the GPT-2 byte-level pattern
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    return _from_hf(name, tok, "vocab+merges")


# Split patterns of OpenAI's encodings (tiktoken_ext/openai_public.py in tiktoken 0.14.0): a .tiktoken file holds
# ranks only, and tiktoken's own constructors download the file, so we build the Encoding from the local file.
_TIKTOKEN_PATTERNS = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "r50k_base": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
}


def _tiktoken(path: Path) -> Reference:
    import tiktoken

    encoding_name = re.sub(r"\.tiktoken(\.gz)?$", "", path.name)
    if encoding_name not in _TIKTOKEN_PATTERNS:
        raise ValueError(f"{path}: unknown tiktoken encoding {encoding_name!r} (known: {sorted(_TIKTOKEN_PATTERNS)})")
    ranks = {}
    for line in _read_text(path).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    enc = tiktoken.Encoding(
        encoding_name, pat_str=_TIKTOKEN_PATTERNS[encoding_name], mergeable_ranks=ranks, special_tokens={}
    )

    return Reference(encoding_name, enc.n_vocab, "tiktoken", enc.encode_ordinary_batch, enc.decode)


def load_references(path: str | Path) -> list[Reference]:
    """Every tokenizer at `path`: a tokenizer.json, a .tiktoken file, or a folder holding tokenizer.json,
    vocab.json + merges.txt, encoder.json + vocab.bpe (GPT-2) or .tiktoken files; a folder of such folders
    gives all of them. Gzipped files (.gz) are read as well."""
    path = Path(path)
    if path.is_file():
        if ".tiktoken" in path.name:
            return [_tiktoken(path)]
        if path.name.removesuffix(".gz").endswith(".json"):
            name = path.parent.name if path.name.startswith("tokenizer.json") else path.name.split(".")[0]
            return [_from_hf(name, Tokenizer.from_str(_read_text(path)), "tokenizer.json")]
        raise ValueError(f"{path}: not a tokenizer.json or .tiktoken file")
    if not path.is_dir():
        raise FileNotFoundError(f"no tokenizer at {path}")
    found: list[Reference] = []
    vocab, merges = _first(path, "vocab.json"), _first(path, "merges.txt")
    encoder, bpe = _first(path, "encoder.json"), _first(path, "vocab.bpe")
    main = _first(path, "tokenizer.json")
    if main is not None:
        found.append(_from_hf(path.name, Tokenizer.from_str(_read_text(main)), "tokenizer.json"))
    elif vocab and merges:
        found.append(_vocab_merges(path.name, vocab, merges, digits_one_by_one=_is_exaone(path)))
    elif encoder and bpe:
        found.append(_vocab_merges(path.name, encoder, bpe, digits_one_by_one=False))
    for other in sorted(path.glob("*tokenizer.json*")):  # e.g. dolma-test/gpt-neo-test-tokenizer.json.gz
        if other != main and other.is_file():
            found.extend(load_references(other))
    for tk in sorted(path.glob("*.tiktoken*")):
        found.extend(load_references(tk))
    if not found:
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            found.extend(load_references(sub))
    if not found:
        raise ValueError(f"no tokenizer found in {path}")
    return found


def _is_exaone(folder: Path) -> bool:
    config = folder / "config.json"
    return config.exists() and json.loads(config.read_text()).get("model_type", "").startswith("exaone")


def ours(path: str | Path | None = None, mecab: bool | None = None, name: str | None = None) -> Reference:
    """Our tokenizer as a report entry, named "ours" or "ours+mecab" unless `name` is given."""
    use_mecab = ENCODE_WITH_MECAB if mecab is None else mecab
    return _from_hf(name or f"ours{'+mecab' if use_mecab else ''}", load_tokenizer(path, mecab=mecab), "ours")
