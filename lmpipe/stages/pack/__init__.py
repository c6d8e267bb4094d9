"""Stage `pack`: tokenized, EOS-separated, shuffled, fixed-length-packed train/validation token shards."""

from lmpipe.stages.pack.config import PackConfig
from lmpipe.stages.pack.stage import build_pack, finalize_pack

__all__ = ["PackConfig", "build_pack", "finalize_pack"]
