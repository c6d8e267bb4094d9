"""The tokenizer and pack stages copy no documents: over a finished stage folder its kept documents are that folder's
part files by reference (Stage.passthrough), and everything that reads a stage folder reads them through it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from lmpipe.catalog import STAGES
from lmpipe.core.completion import completed_parts
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.stages.ingest.stage import IngestConfig
from lmpipe.tokenizer.train import TrainConfig

REPO = Path(__file__).resolve().parent.parent
CORPUS = [REPO / "samples/corpus" / n for n in ("ko_kobill.jsonl.gz", "en_wikitext.jsonl.gz")]
SMALL = TrainConfig(vocab_size=1024)


def _kept(parts: list[str]) -> list[tuple[str, str]]:
    rows = []
    for f in parts:
        t = pq.read_table(f, columns=["id", "text"])
        rows += zip(t["id"].to_pylist(), t["text"].to_pylist())
    return sorted(rows)


def test_tokenizer_stage_keeps_its_input_by_reference(tmp_path):
    run = tmp_path / "run"
    ingest = run_stage(STAGES["ingest"], IngestConfig(), [InputSpec(str(p)) for p in CORPUS], run / "ingest")
    tok = run_stage(STAGES["tokenizer"], SMALL, [ingest.kept], run / "tokenizer", RunConfig(workers=2))
    assert not (run / "tokenizer" / "data").exists()  # nothing copied
    assert (run / "tokenizer" / "tokenizer" / "tokenizer.json").is_file()
    assert tok.stats["docs_in"] == tok.stats["docs_out"] == ingest.stats["docs_out"]
    assert tok.stats["bytes_out"] == ingest.stats["bytes_out"] and tok.stats["kept_by_reference"]
    manifest = json.loads((run / "tokenizer" / "_stage.json").read_text())
    assert all(e["path"].startswith("../ingest/data/part-") for e in manifest["parts"])
    assert completed_parts(run / "tokenizer") == completed_parts(run / "ingest")

    # the next stage reads it as any stage folder; a moved run folder keeps its references right
    moved = tmp_path / "moved"
    shutil.move(run, moved)
    assert completed_parts(moved / "tokenizer") == completed_parts(moved / "ingest")
    assert _kept(completed_parts(moved / "tokenizer")) == _kept(completed_parts(moved / "ingest"))

    # its dataset card points at the referenced parts: loading the folder by name gives the kept documents
    import datasets

    loaded = datasets.load_dataset(str(moved / "tokenizer"), split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(zip(loaded["id"], loaded["text"])) == _kept(completed_parts(moved / "ingest"))

    # a re-run (of the moved folders) finds it complete
    again = run_stage(STAGES["tokenizer"], SMALL, [InputSpec(str(moved / "ingest"))], moved / "tokenizer")
    assert again.skipped_run


def test_raw_files_go_through_the_pass_into_the_schema(tmp_path):
    tok = run_stage(STAGES["tokenizer"], SMALL, [InputSpec(str(p)) for p in CORPUS], tmp_path / "tok")
    assert sorted((tmp_path / "tok" / "data").glob("part-*.parquet"))  # raw inputs: the pass writes its parts
    assert "kept_by_reference" not in tok.stats
    assert (tmp_path / "tok" / "tokenizer" / "tokenizer.json").is_file()


def test_pack_over_stage_folders_copies_nothing_and_packs_every_document(tmp_path):
    from lmpipe.stages.pack.config import PackConfig

    run = tmp_path / "run"
    ingest = run_stage(STAGES["ingest"], IngestConfig(), [InputSpec(str(p)) for p in CORPUS], run / "ingest")
    tok = run_stage(STAGES["tokenizer"], SMALL, [ingest.kept], run / "tokenizer")
    cfg = PackConfig(tokenizer=str(run / "tokenizer" / "tokenizer" / "tokenizer.json"), seq_len=128, val_fraction=0.1)
    packed = run_stage(STAGES["pack"], cfg, [tok.kept], run / "pack", RunConfig(workers=2))
    assert not (run / "pack" / "data").exists() and packed.stats["kept_by_reference"]
    kept = _kept(completed_parts(run / "pack"))
    assert kept == _kept(completed_parts(run / "ingest"))
    index = [
        pq.read_table(run / "pack" / "shards" / f"index-{s}.parquet").column("id").to_pylist()
        for s in ("train", "val")
    ]
    assert sorted(index[0] + index[1]) == sorted(i for i, _ in kept)  # every kept document packed, once
    assert packed.stats["pack"]["splits"]["val"]["documents"] == len(index[1]) > 0
