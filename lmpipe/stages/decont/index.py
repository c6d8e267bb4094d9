"""The n-gram index: 64-bit hashes of every window (stride 1) of every normalized benchmark example.

Hash: polynomial in a fixed odd 64-bit base, arithmetic mod 2^64,

    h(s[i:i+n]) = sum_k s[i+k] * B^k  =  (P[i+n] - P[i]) * B^-i,    P[j] = sum_{m<j} s[m] * B^m

so all windows of a text cost one multiply, one cumulative sum, one subtraction and one multiply, in numpy, with no
per-window re-hashing (B is odd, so B^-1 mod 2^64 exists).

Looking every window up in a 100 MB key set is memory-latency bound (~50 ns a random read here), so the scan is
exact but probes first: a `window`-unit window shared with a benchmark contains a (window - s + 1)-unit window
starting at a multiple of s (s = probe_stride). Those probes are checked against a cache-friendly blocked Bloom
filter of every such sub-window of the benchmarks; only around a probe hit are the s full windows hashed and
looked up exactly. The result is the same as checking every window (tests pin it for several s), at 1/s of
the random reads. Units are code points (EXAONE 3.5's character rule,
the default) or 64-bit word hashes (the word-level GPT-3/LLaMA-style mode).

Rule for examples shorter than the window (stated, counted in the report): an example of L normalized units with
`min_short_units <= L < window` is indexed whole, as one key of length L (a document matches when it contains the
whole example); shorter ones are not indexed and counted as `too_short`, since a 10-character KoBEST sentiment
line ("만족입니다") is common text, not a leak. The scanner finds whole short examples through a key on their first
`min_short_units` units, then checks the full-length hash.

File (a cache keyed by the benchmark files' content hash, written atomically, read with np.memmap so the forked
workers of a machine share one copy in the page cache):
    b"LMDECONT" | u32 version | u32 header bytes | JSON header (params, counts, arrays: offset/dtype/shape,
    examples) | arrays, each at a 64-byte aligned offset.
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import xxhash
from loguru import logger

from lmpipe.core import storage
from lmpipe.stages.decont import normalize as norm
from lmpipe.stages.decont.benchmarks import BenchmarkSpec, content_hash, load_examples

MAGIC = b"LMDECONT"
VERSION = 1
BASE = 0x9E3779B97F4A7C15  # odd: invertible mod 2^64
_MASK = (1 << 64) - 1


def _inverse(b: int) -> int:
    x = 1
    for _ in range(7):  # Newton's iteration doubles the correct low bits: 1 -> 128 >= 64
        x = (x * (2 - b * x)) & _MASK
    return x


class Powers:
    """B^i and B^-i mod 2^64 for i < len, grown on demand (per process)."""

    def __init__(self) -> None:
        self.pw = np.ones(1, dtype=np.uint64)
        self.ipw = np.ones(1, dtype=np.uint64)

    def ensure(self, n: int) -> None:
        if n <= len(self.pw):
            return
        size = max(n, 2 * len(self.pw), 1 << 16)
        self.pw = self._powers(BASE, size)
        self.ipw = self._powers(_inverse(BASE), size)

    @staticmethod
    def _powers(b: int, size: int) -> np.ndarray:
        out = np.full(size, b, dtype=np.uint64)
        out[0] = 1
        return np.cumprod(out, out=out)  # wraps mod 2^64, which is the arithmetic we want


POWERS = Powers()


def prefix_hashes(codes: np.ndarray) -> np.ndarray:
    """P[0..n]: P[j] = sum_{m<j} codes[m] * B^m mod 2^64."""
    n = len(codes)
    POWERS.ensure(n + 1)
    p = np.empty(n + 1, dtype=np.uint64)
    p[0] = 0
    np.cumsum(codes.astype(np.uint64, copy=False) * POWERS.pw[:n], out=p[1:])
    return p


def window_hashes(p: np.ndarray, n: int) -> np.ndarray:
    """Hashes of all windows of `n` units of the text whose prefix hashes are `p` (empty when shorter)."""
    count = len(p) - n
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    return (p[n:] - p[:count]) * POWERS.ipw[:count]


def hashes_at(p: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Hashes of the spans [starts, starts + lengths) (vectorized; used to verify whole short examples)."""
    return (p[starts + lengths] - p[starts]) * POWERS.ipw[starts]


def word_codes(text: str) -> np.ndarray:
    """The word-level mode's units: a 64-bit hash per normalized word."""
    words = norm.normalized_words(text)
    return np.fromiter((xxhash.xxh3_64_intdigest(w.encode()) for w in words), dtype=np.uint64, count=len(words))


@dataclass(frozen=True)
class IndexParams:
    unit: str = "chars"  # "chars" (EXAONE 3.5) or "words"
    window: int = 50
    min_short_units: int | None = 25
    probe_stride: int = 8  # see module doc: the Bloom filter holds windows of (window - probe_stride + 1) units

    def units(self, text: str) -> np.ndarray:
        return norm.normalize_codes(text) if self.unit == "chars" else word_codes(text)


@dataclass
class BenchmarkCounts:
    examples: int = 0
    indexed: int = 0  # examples with at least `window` units: all their windows are keys
    indexed_whole: int = 0  # short examples indexed whole (min_short_units <= length < window)
    too_short: int = 0  # shorter than min_short_units: not indexed
    windows: int = 0


_C1, _C2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)  # multiply-shift: two bits per key


def _bloom_parts(h: np.ndarray, words_log2: int) -> tuple[np.ndarray, np.ndarray]:
    """Word index (top bits of the hash) and the two-bit mask of each hash in a blocked Bloom filter."""
    word = h >> np.uint64(64 - words_log2)
    mask = (np.uint64(1) << ((h * _C1) >> np.uint64(58))) | (np.uint64(1) << ((h * _C2) >> np.uint64(58)))
    return word, mask


def build_bloom(hashes: np.ndarray) -> np.ndarray:
    """Blocked Bloom filter, 2 bits per key in one 64-bit word, about 48 bits per key (false positives ~0.2%)."""
    words_log2 = int(min(max(np.ceil(np.log2(max(len(hashes), 1) * 48 / 64)), 10), 28))
    bloom = np.zeros(1 << words_log2, dtype=np.uint64)
    if len(hashes):
        word, mask = _bloom_parts(hashes, words_log2)
        order = np.argsort(word, kind="stable")
        word, mask = word[order], mask[order]
        starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
        bloom[word[starts]] = np.bitwise_or.reduceat(mask, starts)
    return bloom


def bloom_candidates(h: np.ndarray, bloom: np.ndarray) -> np.ndarray:
    """Positions in `h` that may be in the filter (no false negatives)."""
    word, mask = _bloom_parts(h, int(np.log2(len(bloom))))
    return np.flatnonzero((bloom[word] & mask) == mask)


DIR_BITS = 22  # directory of the sorted keys by their top 22 bits: an exact lookup is two or three memory reads


def build_directory(keys_sorted: np.ndarray) -> np.ndarray:
    top = keys_sorted >> np.uint64(64 - DIR_BITS)
    return np.searchsorted(top, np.arange((1 << DIR_BITS) + 1, dtype=np.uint64)).astype(np.uint32)


def lookup(keys: np.ndarray, directory: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Index in `keys` of each query, -1 when absent. A binary search over 100 MB is ~20 dependent cache misses
    per query (4 us measured here); the directory narrows it to one bucket of ~3 keys."""
    found = np.full(len(q), -1, dtype=np.int64)
    if len(q) == 0 or len(keys) == 0:
        return found
    b = q >> np.uint64(64 - DIR_BITS)
    pos = directory[b].astype(np.int64)
    end = directory[b + np.uint64(1)].astype(np.int64)
    todo = np.flatnonzero(pos < end)
    while len(todo):
        at = pos[todo]
        hit = keys[at] == q[todo]
        found[todo[hit]] = at[hit]
        pos[todo] += 1
        todo = todo[~hit & (pos[todo] < end[todo])]
    return found


@dataclass
class DecontIndex:
    params: IndexParams
    keys: np.ndarray  # uint64, sorted, unique: hashes of every `window`-unit window of every long example
    key_example: np.ndarray  # uint32: example of each key (the first one that had it)
    key_dir: np.ndarray  # uint32[2^DIR_BITS + 1]: start of each top-bits bucket in `keys`
    bloom: np.ndarray  # uint64: hashes of every (window - probe_stride + 1)-unit window of long examples
    short_prefix: np.ndarray  # uint64, sorted: hash of the first min_short_units units of each short example
    short_full: np.ndarray  # uint64: hash of the whole short example
    short_len: np.ndarray  # int64: its length in units
    short_example: np.ndarray  # uint32
    short_bloom: np.ndarray  # uint64: every (min_short_units - probe_stride + 1)-unit window of short examples
    examples: list[tuple[str, str]]  # (benchmark, example id) by example number
    counts: dict[str, BenchmarkCounts] = field(default_factory=dict)
    key: str = ""  # content hash of the benchmark files and params

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in _ARRAYS)


def build_index(specs: list[BenchmarkSpec], params: IndexParams) -> DecontIndex:
    # Kept whole: the index is built in one pass whose steps share their arrays (memory is the constraint).
    w, m, s = params.window, params.min_short_units, params.probe_stride
    if not 1 <= s <= w:
        raise ValueError(f"probe_stride must be between 1 and window ({w}), got {s}")
    if m is not None and not s <= m < w:
        raise ValueError(f"min_short_units must be at least probe_stride ({s}) and below window ({w}), got {m}")
    started = time.time()
    examples: list[tuple[str, str]] = []
    counts: dict[str, BenchmarkCounts] = {}
    key_parts, ex_parts, probe_parts, short_probe_parts = [], [], [], []
    short: list[tuple[int, int, int, int]] = []  # prefix hash, full hash, length, example
    for spec in specs:
        for ex in load_examples(spec):
            c = counts.setdefault(ex.benchmark, BenchmarkCounts())
            c.examples += 1
            number = len(examples)
            examples.append((ex.benchmark, ex.id))
            units = params.units(ex.text)
            p = prefix_hashes(units)
            if len(units) >= w:
                h = window_hashes(p, w)
                key_parts.append(h)
                ex_parts.append(np.full(len(h), number, dtype=np.uint32))
                probe_parts.append(window_hashes(p, w - s + 1))
                c.indexed += 1
                c.windows += len(h)
            elif m is not None and len(units) >= m:
                short.append((int(window_hashes(p, m)[0]), int(window_hashes(p, len(units))[0]), len(units), number))
                short_probe_parts.append(window_hashes(p, m - s + 1))
                c.indexed_whole += 1
            else:
                c.too_short += 1
    keys = np.concatenate(key_parts) if key_parts else np.empty(0, np.uint64)
    key_ex = np.concatenate(ex_parts) if ex_parts else np.empty(0, np.uint32)
    order = np.argsort(keys, kind="stable")  # stable: the first example with a window keeps it
    keys, key_ex = keys[order], key_ex[order]
    first = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.empty(0, bool)
    keys, key_ex = keys[first], key_ex[first]
    del order, first
    probes = np.unique(np.concatenate(probe_parts)) if probe_parts else np.empty(0, np.uint64)
    short_probes = np.unique(np.concatenate(short_probe_parts)) if short_probe_parts else np.empty(0, np.uint64)
    short.sort()
    index = DecontIndex(
        params=params,
        keys=keys,
        key_example=key_ex,
        key_dir=build_directory(keys),
        bloom=build_bloom(probes),
        short_prefix=np.array([x[0] for x in short], dtype=np.uint64),
        short_full=np.array([x[1] for x in short], dtype=np.uint64),
        short_len=np.array([x[2] for x in short], dtype=np.int64),
        short_example=np.array([x[3] for x in short], dtype=np.uint32),
        short_bloom=build_bloom(short_probes),
        examples=examples,
        counts=counts,
    )
    logger.info(
        f"decont index: {len(examples):,} examples, {len(keys):,} window keys, {len(short):,} whole short examples, "
        f"{index.nbytes / 2**20:.0f} MiB, built in {time.time() - started:.1f}s"
    )
    return index


_ARRAYS = (
    "keys",
    "key_example",
    "key_dir",
    "bloom",
    "short_prefix",
    "short_full",
    "short_len",
    "short_example",
    "short_bloom",
)


def save_index(index: DecontIndex, path: Path, table: np.ndarray | None = None) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    arrays = {name: getattr(index, name) for name in _ARRAYS}
    if table is not None:
        arrays["norm_table"] = table
    layout, offset = {}, 0
    for name, a in arrays.items():
        layout[name] = {"offset": offset, "dtype": a.dtype.str, "shape": list(a.shape)}
        offset += -(-a.nbytes // 64) * 64
    header = {
        "params": asdict(index.params),
        "key": index.key,
        "unidata_version": __import__("unicodedata").unidata_version,
        "counts": {k: asdict(v) for k, v in index.counts.items()},
        "examples": index.examples,
        "arrays": layout,
    }
    head = json.dumps(header, ensure_ascii=False).encode()
    start = -(-(len(MAGIC) + 8 + len(head)) // 64) * 64
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(head)) + head)
        for name, a in arrays.items():
            f.seek(start + layout[name]["offset"])
            f.write(np.ascontiguousarray(a).tobytes())
    os.replace(tmp, path)


def load_index(path: Path) -> tuple[DecontIndex, np.ndarray | None]:
    """Memory-map an index file; returns it and the normalization table it carries (if any)."""
    with open(path, "rb") as f:
        magic = f.read(len(MAGIC))
        if magic != MAGIC:
            raise ValueError(f"{path}: not a decont index (magic {magic!r})")
        version, head_len = struct.unpack("<II", f.read(8))
        if version != VERSION:
            raise ValueError(f"{path}: index version {version}, this code reads {VERSION}")
        header = json.loads(f.read(head_len))
    start = -(-(len(MAGIC) + 8 + head_len) // 64) * 64
    arrays = {}
    for name, spec in header["arrays"].items():
        shape = tuple(spec["shape"])
        if int(np.prod(shape)) == 0:
            arrays[name] = np.empty(shape, dtype=np.dtype(spec["dtype"]))
        else:
            mm = np.memmap(path, mode="r", dtype=np.dtype(spec["dtype"]), offset=start + spec["offset"], shape=shape)
            arrays[name] = mm.view(np.ndarray)  # np.memmap's __getitem__ costs ~0.3 ms a call; a view does not
    table = arrays.pop("norm_table", None)
    if table is not None and header["unidata_version"] != __import__("unicodedata").unidata_version:
        table = None  # built by another Python's Unicode data: rebuild rather than disagree with `normalize`
    index = DecontIndex(
        params=IndexParams(**header["params"]),
        examples=[tuple(e) for e in header["examples"]],
        counts={k: BenchmarkCounts(**v) for k, v in header["counts"].items()},
        key=header["key"],
        **arrays,
    )
    return index, table


def cache_key(specs: list[BenchmarkSpec], params: IndexParams) -> str:
    p = params
    return f"{content_hash(specs)}-{p.unit}{p.window}-s{p.min_short_units}-p{p.probe_stride}-v{VERSION}"


def load_or_build(specs: list[BenchmarkSpec], params: IndexParams, cache_dir: Path | str | None) -> DecontIndex:
    """The index for these benchmark files: from the cache file when present, else built (and cached). A cache in
    object storage (`s3://...`: one index for every node of a cluster) is downloaded once per node and content
    (storage.local_file) and memory-mapped from there; a node that builds it uploads it whole."""
    key = cache_key(specs, params)
    name = f"decont-{key}.idx"
    if cache_dir is not None and storage.is_url(cache_dir):
        url = storage.join(cache_dir, name)
        if storage.isfile(url):
            cache_dir, name = None, None
            path = Path(storage.local_file(url))
        else:
            index = build_index(specs, params)
            index.key = key
            tmp = storage.temp_path_for(url)
            save_index(index, tmp, norm.table())
            storage.commit_file(tmp, url)
            logger.info(f"decont index: cached in {url}")
            return index
    else:
        path = Path(cache_dir) / name if cache_dir is not None else None
    if path is not None and path.is_file():
        index, table = load_index(path)
        if table is not None:
            norm.set_table(np.asarray(table))
        logger.info(f"decont index: loaded {path} ({len(index.keys):,} keys)")
        return index
    index = build_index(specs, params)
    index.key = key
    if path is not None:
        save_index(index, path, norm.table())
        logger.info(f"decont index: cached in {path}")
    return index
