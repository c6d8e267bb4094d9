"""Scan every window of a batch of documents against a `DecontIndex`, in time linear in the text.

A batch is normalized and hashed as one array (numpy's per-call cost would otherwise dominate short documents
such as reviews), windows that straddle two documents are discarded, and only the windows that pass the index's
probe filter are looked up exactly (see `Scanner._scan_units`). `sample_windows` reproduces EXAONE 3.5's sampling of a
fixed number of windows per document instead of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xxhash

from lmpipe.stages.decont import normalize as norm
from lmpipe.stages.decont.index import POWERS, DecontIndex, bloom_candidates, hashes_at, lookup, prefix_hashes

MAX_BATCH_UNITS = 1 << 22  # code points hashed at once: bounds the temporary arrays (about 200 MB)


@dataclass
class DocHits:
    """Where a document matched: window starts (in normalized units) and the example each one matched."""

    positions: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # window, or the length of a whole short example
    examples: list[int] = field(default_factory=list)


class Scanner:
    def __init__(self, index: DecontIndex, sample_windows: int | None = None, seed: int = 0):
        self.index = index
        self.sample_windows = sample_windows
        self.seed = seed
        self.units_scanned = 0

    # -- normalization of a batch ----------------------------------------------------------------------------
    def _batch_units(self, texts: list[str], ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated normalized units of `texts` and the boundaries (len(texts) + 1) between documents;
        `ends` are the cumulative character lengths of `texts`."""
        if self.index.params.unit == "words":
            parts = [self.index.params.units(t) for t in texts]
            return _concat(parts)
        mapped = norm.table()[norm.codepoints("".join(texts))]
        unsafe = mapped == norm.UNSAFE
        keep = (mapped != 0) & ~unsafe
        # Kept units per document by a segmented sum (a cumulative sum over every unit, or boolean indexing
        # instead of np.compress, cost a third of the whole scan on 8 KB English pages).
        lens = np.diff(ends, prepend=0)
        counts = np.zeros(len(lens), dtype=np.int64)
        nonempty = lens > 0  # reduceat needs increasing starts; empty documents keep 0
        if nonempty.any():
            counts[nonempty] = np.add.reduceat(keep, (ends - lens)[nonempty], dtype=np.int64)
        units, bounds = np.compress(keep, mapped), np.r_[0, np.cumsum(counts)]
        slow = np.unique(np.searchsorted(ends, np.flatnonzero(unsafe), side="right"))
        if len(slow) == 0:
            return units, bounds
        # Documents holding a context-dependent code point take the exact path; splice their units in.
        pieces, lengths, prev = [], np.diff(bounds), 0
        for d in slow.tolist():
            exact = norm.codepoints(norm.normalize(texts[d]))
            pieces += [units[bounds[prev] : bounds[d]], exact]
            lengths[d] = len(exact)
            prev = d + 1
        pieces.append(units[bounds[prev] :])
        return np.concatenate(pieces), np.r_[0, np.cumsum(lengths)]

    # -- the scan -------------------------------------------------------------------------------------------
    def scan(self, texts: list[str], ids: list[str] | None = None) -> dict[int, DocHits]:
        """Hits by position of the document in `texts`; documents without a hit are absent."""
        hits: dict[int, DocHits] = {}
        ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
        lo = 0
        while lo < len(texts):
            # Documents up to MAX_BATCH_UNITS characters in all (at least one).
            start = int(ends[lo - 1]) if lo else 0
            hi = max(int(np.searchsorted(ends, start + MAX_BATCH_UNITS, side="right")), lo + 1)
            for doc, h in self._scan_units(*self._batch_units(texts[lo:hi], ends[lo:hi] - start)).items():
                hits[lo + doc] = h
            lo = hi
        if self.sample_windows is not None:
            hits = self._sampled(hits, texts, ids)
        return hits

    def _scan_units(self, units: np.ndarray, bounds: np.ndarray) -> dict[int, DocHits]:
        self.units_scanned += len(units)
        ix = self.index
        w, m, stride = ix.params.window, ix.params.min_short_units, ix.params.probe_stride
        p = prefix_hashes(units)
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (starts, lengths, examples)
        if len(ix.keys):
            # Probe (window - stride + 1)-unit windows at every stride-th position: every shared `window`-unit
            # window holds one of them. Then check exactly the `stride` windows that could contain each probe hit.
            probes = _probe(p, w - stride + 1, stride)
            cand = bloom_candidates(probes, ix.bloom) * stride
            if len(cand):
                starts = (cand[:, None] - np.arange(stride)[None, :]).ravel()
                starts = starts[_inside(starts, w, bounds)]
                at = lookup(ix.keys, ix.key_dir, hashes_at(p, starts, w))
                ok = at >= 0
                found.append((starts[ok], np.full(int(ok.sum()), w), ix.key_example[at[ok]].astype(np.int64)))
        if m is not None and len(ix.short_prefix):
            probes = _probe(p, m - stride + 1, stride)
            cand = bloom_candidates(probes, ix.short_bloom) * stride
            if len(cand):
                found.append(self._verify_short(p, cand, bounds))
        hits: dict[int, DocHits] = {}
        for starts, lengths, examples in found:
            docs = np.searchsorted(bounds, starts, side="right") - 1
            for d, s, n, e in zip(docs.tolist(), starts.tolist(), lengths.tolist(), examples.tolist()):
                dh = hits.setdefault(d, DocHits())
                dh.positions.append(s - int(bounds[d]))
                dh.lengths.append(n)
                dh.examples.append(e)
        return hits

    def _verify_short(self, p: np.ndarray, cand: np.ndarray, bounds: np.ndarray):
        """A whole short example (length < window) containing the probe at `cand` starts at most window - 1 -
        probe units before it: find starts whose min_short_units-prefix is a short key, then check full hashes."""
        ix = self.index
        m, stride = ix.params.min_short_units, ix.params.probe_stride
        reach = ix.params.window - (m - stride + 1)
        starts = np.unique((cand[:, None] - np.arange(reach)[None, :]).ravel())
        starts = starts[_inside(starts, m, bounds)]
        hv = hashes_at(p, starts, np.full(len(starts), m))
        left = np.searchsorted(ix.short_prefix, hv, side="left")
        right = np.searchsorted(ix.short_prefix, hv, side="right")
        out_s, out_n, out_e = [], [], []
        for j in np.flatnonzero(right > left).tolist():
            pos = int(starts[j])
            for k in range(int(left[j]), int(right[j])):
                n = int(ix.short_len[k])
                inside = _inside(np.array([pos]), n, bounds)[0]
                if inside and hashes_at(p, np.array([pos]), np.array([n]))[0] == ix.short_full[k]:
                    out_s.append(pos)
                    out_n.append(n)
                    out_e.append(int(ix.short_example[k]))
        return np.array(out_s, dtype=np.int64), np.array(out_n, dtype=np.int64), np.array(out_e, dtype=np.int64)

    def _sampled(self, hits: dict[int, DocHits], texts: list[str], ids: list[str] | None) -> dict[int, DocHits]:
        """Keep only hits at `sample_windows` window starts drawn per document (seeded by its id: reproducible)."""
        out = {}
        w = self.index.params.window
        for d, dh in hits.items():
            n_units = len(self.index.params.units(texts[d]))
            n_windows = max(n_units - w + 1, 1)
            key = ids[d] if ids is not None else texts[d][:200]
            rng = np.random.default_rng([self.seed, xxhash.xxh3_64_intdigest(key.encode())])
            chosen = set(rng.choice(n_windows, size=min(self.sample_windows, n_windows), replace=False).tolist())
            kept = [i for i, pos in enumerate(dh.positions) if pos in chosen]
            if kept:
                out[d] = DocHits(
                    [dh.positions[i] for i in kept], [dh.lengths[i] for i in kept], [dh.examples[i] for i in kept]
                )
        return out


def _probe(p: np.ndarray, n: int, stride: int) -> np.ndarray:
    """Hashes of the n-unit windows starting at 0, stride, 2*stride, ..."""
    count = (len(p) - 1 - n) // stride + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    end = (count - 1) * stride + 1
    return (p[n : n + end : stride] - p[:end:stride]) * POWERS.ipw[:end:stride]


def _inside(starts: np.ndarray, n: int, bounds: np.ndarray) -> np.ndarray:
    """Mask of the n-unit windows at `starts` that lie inside one document."""
    ok = starts >= 0
    doc = np.searchsorted(bounds, np.where(ok, starts, 0), side="right") - 1
    return ok & (starts + n <= bounds[np.minimum(doc + 1, len(bounds) - 1)])


def _concat(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.r_[0, np.cumsum([len(x) for x in parts])].astype(np.int64)
    units = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
    return units, bounds
