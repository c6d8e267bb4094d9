"""Stage folders load by name in the field's tools: HF datasets (the dataset card's configs), pandas/pyarrow,
DuckDB; the kept documents alone under data/, side files out of their way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmpipe.catalog import STAGES
from lmpipe.core.runner import InputSpec, run_stage
from lmpipe.stages.filter.stage import FilterConfig
from lmpipe.stages.ingest.stage import IngestConfig


@pytest.fixture(scope="module")
def filtered(tmp_path_factory, samples=Path(__file__).resolve().parent.parent / "samples") -> Path:
    root = tmp_path_factory.mktemp("load")
    run_stage(STAGES["ingest"], IngestConfig(), [InputSpec(str(samples / "corpus"))], root / "ingest")
    run_stage(STAGES["filter"], FilterConfig(), [InputSpec(str(root / "ingest"))], root / "filter")
    return root / "filter"


def test_hf_datasets_loads_kept_and_excluded_by_name(filtered, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    stats = json.loads((filtered / "stats.json").read_text())
    kept = datasets.load_dataset(str(filtered), split="train")
    assert kept.num_rows == stats["docs_out"] and "text" in kept.column_names and "metadata_json" in kept.column_names
    excluded = datasets.load_dataset(str(filtered), "excluded", split="train")
    assert excluded.num_rows == stats["docs_excluded"] and "drop_reason" in excluded.column_names
    streamed = datasets.load_dataset(str(filtered), split="train", streaming=True)
    assert sum(1 for _ in streamed) == stats["docs_out"]  # not the rows of stats.json


def test_pandas_pyarrow_and_duckdb_read_the_data_folder(filtered):
    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq

    stats = json.loads((filtered / "stats.json").read_text())
    assert len(pd.read_parquet(filtered / "data")) == stats["docs_out"]
    assert pq.read_table(filtered / "data").num_rows == stats["docs_out"]
    n = duckdb.sql(f"select count(*) from read_parquet('{filtered}/data/*.parquet')").fetchall()[0][0]
    assert n == stats["docs_out"]
