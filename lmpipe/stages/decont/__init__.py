"""Benchmark decontamination (EXAONE 3.5): 50-character windows, stride 1, against local benchmark files."""

from lmpipe.stages.decont.stage import DecontConfig, build_decont, decont_finalize

__all__ = ["DecontConfig", "build_decont", "decont_finalize"]
