"""Stage `pack`: tokenized, EOS-separated, shuffled, fixed-length-packed train/validation token shards."""

from pipeline.pack.stage import PackConfig, build_pack, finalize_pack

__all__ = ["PackConfig", "build_pack", "finalize_pack"]
