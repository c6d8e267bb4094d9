"""Settings of the pack stage (lmpipe.stages.pack.stage runs them; packing.py and tokenize.py read them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmpipe.core import storage
from lmpipe.core.runner import StageError


@dataclass(frozen=True)
class PackConfig:
    tokenizer: str | None = None  # a tokenizer.json (HF tokenizers); None: the shipped ko-en-102k (lmpipe.tokenizer)
    eos_token: str = "<|end_of_text|>"  # appended after every document
    seq_len: int = 2048  # tokens per training sequence; shards hold whole sequences (+ the split's tail)
    sequences_per_shard: int = 32_768  # 64M tokens = 256 MiB per shard at seq_len 2048
    val_fraction: float = 0.005  # share of documents held out for validation (by seeded hash of the id)
    seed: int = 1234  # document split and shuffle
    verify_roundtrip: bool = True  # decode every document and count those that do not give back their text

    def tokenizer_path(self) -> str:
        """A local path: a tokenizer in object storage (the job's trained one, when its output is a bucket) is
        downloaded once per content (lmpipe.core.storage.local_file)."""
        from lmpipe.tokenizer.load import DEFAULT_TOKENIZER

        if self.tokenizer is None:
            return str(DEFAULT_TOKENIZER)
        return storage.local_file(self.tokenizer) if storage.is_url(self.tokenizer) else self.tokenizer


def check_config(cfg: PackConfig) -> None:
    if cfg.seq_len < 1 or cfg.sequences_per_shard < 1:
        raise StageError("pack: seq_len and sequences_per_shard must be positive")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise StageError(f"pack: val_fraction {cfg.val_fraction} must be in [0, 1)")
    if not Path(cfg.tokenizer_path()).is_file():
        raise StageError(f"pack: no tokenizer at {cfg.tokenizer_path()} (set pack.tokenizer=PATH/tokenizer.json)")
