"""Exact and MinHash near-duplicate removal over a whole dataset (issue 6): the `dedup` stage, `run.DEDUP_STAGE`."""
