"""Settings of the dedup stage (YAML `stages: {dedup: {...}}` and `--set` override these defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmpipe.core.config import ConfigError


@dataclass(frozen=True)
class DedupConfig:
    # Near-duplicate threshold on the Jaccard similarity of shingle sets; bands/rows are chosen for it.
    threshold: float = 0.8
    fuzzy: bool = True  # False: exact dedup only (hash of normalized text)
    # Character 4-grams with spaces and punctuation removed: most Korean copies found (0.986, no unique lost)
    # of char 4/5, word 3/5 and MeCab-morpheme 3/5 n-grams, no segmenter, 2.3x faster than morphemes
    # (docs/bench/dedup.md). Word n-grams break on Korean spacing variants and agglutinated particles.
    shingle: Literal["char", "word", "morpheme"] = "char"
    shingle_size: int = 4  # units (characters, words or morphemes) per shingle
    # MinHash permutations = bands x rows (at most). 384: the signature estimate of a pair's Jaccard has a standard
    # deviation of ~0.02 near 0.8 (0.035 at 128), so verification keeps copies at 0.82-0.85 and rejects rewrites at
    # 0.7-0.78; on the issue-19 families copies found 0.889 -> 0.997 and related 0.7-0.78 pairs merged 71 -> 39
    # of 1,349, at ~2.5x the signature time of 128 (docs/bench/dedup.md, "Light edits (issue 19)").
    num_perm: int = 384
    # None: minhash.lsh_params for `threshold`, tuned for recall when `verify` (48 x 8 for 0.8 and 384: a pair at
    # 0.8 is a candidate with probability 0.9998; the balanced 9 x 13 at 128 made only 40% of them candidates),
    # datasketch's balanced optimum without verification (22 x 17).
    bands: int | None = None
    rows: int | None = None  # rows per band; set together with `bands`
    seed: int = 1  # permutation seed: identical on every worker by construction
    # Keep an LSH candidate pair only if its signatures agree on >= threshold of their slots (the MinHash estimate
    # of its Jaccard similarity). Band collisions alone also join pairs well below the threshold (48 x 8 bands:
    # 94% of pairs at Jaccard 0.7), and one such edge merges two clusters. Exact-text duplicates need no check.
    verify: bool = True
    # Memory budget of one grouping or components task: intermediate data is split into enough partitions
    # (each one Ray/local task, the rest waits on disk) that one partition fits in this many megabytes.
    max_partition_mb: float = 512.0
    min_partitions: int | None = None  # None: at least one partition per worker
    max_component_steps: int = 200  # large-star/small-star steps before giving up (converges in O(log^2 n))
    report_examples: int = 5  # example clusters in DIR/report.md
    # The output folder of an earlier dedup run (local) over the same inputs, task count and signature settings
    # (shingle, shingle_size, num_perm, seed, fuzzy): its stored MinHash signatures are used and only the band
    # keys and clustering are redone, so a changed threshold / bands / verify re-decides without re-shingling.
    signatures_from: str | None = None

    def __post_init__(self):
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"dedup.threshold must be in (0, 1], got {self.threshold}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("dedup.bands and dedup.rows are set together (or both left null)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ConfigError(f"dedup.bands x rows ({self.bands} x {self.rows}) exceeds num_perm ({self.num_perm})")
        if self.shingle_size < 1:
            raise ConfigError("dedup.shingle_size must be >= 1")
