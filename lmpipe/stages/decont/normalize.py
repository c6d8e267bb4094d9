"""Text normalization for decontamination (EXAONE 3.5, sec. 2.2): Unicode NFKC, lower case, letters and digits.

The definition is `normalize(text)`:

    "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())

`isalnum` is Unicode categories L* and N*, so the rule is the same for Hangul syllables and Latin letters.
Python's NFKC (about 65 MB/s on English) and a regex filter (25 MB/s) are too slow for a 50 MB/s scan, so the
scanner uses a per-code-point table instead: for every code point whose normalization does not depend on its
neighbours it holds the single normalized code point (or 0: dropped). Code points that can compose with a
neighbour (combining marks, Hangul jamo, Greek capital sigma's final form) or that expand to several letters
(`ﬁ`, `½`, `㎞`) are marked UNSAFE, and a document holding one takes the exact path. tests/test_decont_normalize.py
checks that both paths agree.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import numpy as np

UNSAFE = np.uint32(0xFFFFFFFF)  # table value: this code point needs the exact (string) path
_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_" (CPython's sre): drop the rest and "_"
_TOKEN = re.compile(r"[^\W_]+")
_lock = threading.Lock()
_table: np.ndarray | None = None


def normalize(text: str) -> str:
    """The reference normalization: NFKC, lower case, keep letters and digits only."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).lower())


def normalized_words(text: str) -> list[str]:
    """Words for the word-level mode: runs of letters and digits after NFKC and lower case."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def _composition_seconds() -> set[int]:
    """Code points that can be the second half of a canonical composition (so they join their left neighbour)."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo (algorithmic)
    for cp in range(0x110000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = d.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    return seconds


def build_table() -> np.ndarray:
    """uint32[0x110000]: normalized code point, 0 when dropped, UNSAFE when context-dependent or expanding."""
    seconds = _composition_seconds()
    table = np.zeros(0x110000, dtype=np.uint32)
    for cp in range(0x110000):
        ch = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            continue  # lone surrogates cannot occur in UTF-32 encoded text; dropped
        if cp < 0x80:
            table[cp] = ord(ch.lower()) if ch.isalnum() else 0
            continue
        nfkd = unicodedata.normalize("NFKD", ch)
        first = nfkd[0]
        if unicodedata.combining(first) or ord(first) in seconds or cp == 0x03A3:
            table[cp] = UNSAFE  # may compose or reorder with the character before it; Σ lowers by context
            continue
        out = "".join(c for c in unicodedata.normalize("NFKC", ch).lower() if c.isalnum())
        if len(out) > 1:
            table[cp] = UNSAFE
        elif out:
            table[cp] = ord(out)
    return table


def table() -> np.ndarray:
    """The per-code-point table, built once per process on first use (about 2 s)."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = build_table()
    return _table


def set_table(t: np.ndarray) -> None:
    """Install a table loaded from an index cache file (saves the 2 s build in every worker)."""
    global _table
    assert t.dtype == np.uint32 and t.shape == (0x110000,), "normalization table has the wrong shape"
    _table = t


def codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def normalize_codes(text: str) -> np.ndarray:
    """Normalized text as uint32 code points: the table where it applies, the exact path otherwise."""
    mapped = table()[codepoints(text)]
    if (mapped == UNSAFE).any():
        return codepoints(normalize(text))
    return mapped[mapped != 0]


def normalize_with_offsets(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalized code points and, for each, the index in `text` of the character it came from.

    Characters are normalized one at a time here (so offsets exist); for text with composing sequences this can
    differ from `normalize`, which the cut mode accounts for (see `stage.DecontCut`).
    """
    cps = codepoints(text)
    mapped = table()[cps]
    if not (mapped == UNSAFE).any():
        keep = np.flatnonzero(mapped)
        return mapped[keep], keep
    codes: list[int] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        for c in normalize(ch):
            codes.append(ord(c))
            offsets.append(i)
    return np.array(codes, dtype=np.uint32), np.array(offsets, dtype=np.int64)
