"""One folder per stage, in the order jobs/full.py runs them: ingest, filter, quality, dedup, decont, pii,
tokenizer, pack. Each holds its config dataclass, its steps and its barrier function if it has one."""
