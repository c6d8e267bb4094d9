"""lmpipe: a pretraining-data pipeline for a Korean and English LLM (EXAONE 3.0/3.5 and LLaMA data recipes)."""

__version__ = "0.2.0"
