"""Stage `pack`: shards with asserted headers, exact detokenization, seeded shuffle and split, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# `trainer` is a top-level package beside `pipeline`; until pyproject's package list includes it, the editable
# install does not map it, so the repository root goes on the path here.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402
from datatrove.data import Document  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from lmpipe.catalog import STAGES  # noqa: E402
from lmpipe.cli import main as cli_main  # noqa: E402
from lmpipe.core.runner import InputSpec, run_stage  # noqa: E402
from lmpipe.stages.pack.config import PackConfig  # noqa: E402
from lmpipe.stages.pack.stage import PACK_EMPTY_TEXT, PackableFilter  # noqa: E402
from lmpipe.trainer.shards import HEADER_BYTES, ShardError, ShardSet, file_sha256, read_header  # noqa: E402

TOKENIZER = Path(__file__).parent / "data" / "pack" / "tokenizer.json"
SEQ_LEN = 64


def pack(samples: Path, out: Path, **overrides) -> dict:
    cfg = PackConfig(tokenizer=str(TOKENIZER), seq_len=SEQ_LEN, sequences_per_shard=1024, val_fraction=0.05)
    cfg = PackConfig(**{**cfg.__dict__, **overrides})
    return run_stage(STAGES["pack"], cfg, [InputSpec(str(samples / "corpus"))], out).stats


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pack") / "out"
    pack(Path(__file__).parent.parent / "samples", out)
    return out


def kept_texts(out: Path) -> dict[str, str]:
    texts = {}
    for part in sorted(out.glob("data/part-*.parquet")):
        t = pq.read_table(part, columns=["id", "text"])
        texts.update(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))
    return texts


def split_documents(out: Path, split: str) -> list[list[int]]:
    stream = np.concatenate([np.asarray(t) for t in ShardSet(out, split).tokens])
    eos = read_header(out / "shards" / f"{split}-00000.bin").eos_id
    ends = np.flatnonzero(stream == eos)
    assert ends[-1] == len(stream) - 1, "every split ends with a document's EOS"
    return [stream[a + 1 : b].tolist() for a, b in zip(np.concatenate([[-1], ends[:-1]]), ends)]


def test_accounting_and_every_document_packed_once(packed):
    stats = json.loads((packed / "stats.json").read_text())
    assert stats["docs_in"] == stats["docs_out"] + stats["docs_excluded"]
    index = packed / "shards"
    ids = {s: pq.read_table(index / f"index-{s}.parquet").column("id").to_pylist() for s in ("train", "val")}
    assert sorted(ids["train"] + ids["val"]) == sorted(kept_texts(packed))
    assert not set(ids["train"]) & set(ids["val"])
    assert stats["pack"]["splits"]["val"]["documents"] == len(ids["val"]) > 0


def test_headers_agree_with_contents(packed):
    tok = Tokenizer.from_file(str(TOKENIZER))
    for split in ("train", "val"):
        shards = ShardSet(packed, split, tokenizer_sha256=file_sha256(TOKENIZER))
        assert shards.vocab_size == tok.get_vocab_size() == 1024
        assert shards.eos_id == tok.token_to_id("<|end_of_text|>")
        for i, (h, tokens) in enumerate(zip(shards.headers, shards.tokens)):
            assert h.num_documents == int(np.count_nonzero(tokens == h.eos_id))
            assert h.seq_len == SEQ_LEN
            if i < len(shards.headers) - 1:
                assert h.num_tokens == SEQ_LEN * 1024  # whole sequences; only a split's last shard has a tail
    manifest = json.loads((packed / "shards" / "pack.json").read_text())
    assert manifest["splits"]["train"]["shards"] == len(ShardSet(packed, "train").paths) > 1


def test_detokenizing_shards_gives_back_the_documents_exactly(packed):
    tok = Tokenizer.from_file(str(TOKENIZER))
    texts = kept_texts(packed)
    everything = []
    for split in ("train", "val"):
        order = pq.read_table(packed / "shards" / f"index-{split}.parquet").column("id").to_pylist()
        decoded = [tok.decode(ids, skip_special_tokens=False) for ids in split_documents(packed, split)]
        assert decoded == [texts[i] for i in order]
        everything += decoded
    assert any("대한민국" in t for t in everything)  # the constitution, CRLF line endings included
    assert any("\r\n" in t for t in everything) and texts["gutenberg/gutenberg/11"] in everything


def test_shuffle_is_seeded_and_split_is_stable(tmp_path, samples, packed):
    again = tmp_path / "again"
    pack(samples, again)
    for name in ("train-00000.bin", "val-00000.bin", "index-train.parquet"):
        assert (again / "shards" / name).read_bytes() == (packed / "shards" / name).read_bytes()
    other = tmp_path / "other_seed"
    pack(samples, other, seed=7)
    order = lambda d: pq.read_table(d / "shards" / "index-train.parquet").column("id").to_pylist()  # noqa: E731
    assert order(other) != order(packed) and len(order(other)) > 0


def test_empty_text_filtered_and_literal_eos_stays_text(tmp_path):
    src = tmp_path / "in.jsonl"
    docs = [
        {"id": "ko", "text": "대한민국은 민주공화국이다.\n모든 권력은 국민으로부터 나온다."},
        {"id": "en", "text": "The quick brown fox jumps over the lazy dog."},
        {"id": "blank", "text": " \n\t "},
        {"id": "forged", "text": "한국어 문장 <|end_of_text|> and an attempt to forge a boundary."},
    ]
    src.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    cfg = PackConfig(tokenizer=str(TOKENIZER), seq_len=8, sequences_per_shard=4, val_fraction=0.0)
    stats = run_stage(STAGES["pack"], cfg, [InputSpec(str(src))], tmp_path / "out").stats
    # the reader already skips a record with blank text (reader.no_text); PackableFilter guards stage inputs
    assert stats["docs_out"] == 3 and stats["docs_excluded"] + sum(stats["skipped_input"].values()) == 1
    out = tmp_path / "out"
    tok = Tokenizer.from_file(str(TOKENIZER))
    decoded = sorted(tok.decode(d, skip_special_tokens=False) for d in split_documents(out, "train"))
    assert decoded == sorted(d["text"] for d in docs if d["id"] != "blank")


def test_packable_filter_cases():
    f = PackableFilter()
    assert f.filter(Document(text="안녕하세요", id="ko")) is True
    assert f.filter(Document(text="hello", id="en")) is True
    assert f.filter(Document(text="\u3000 \n", id="blank")) == (False, PACK_EMPTY_TEXT)


def test_bad_shards_fail_clearly(packed, tmp_path):
    good = packed / "shards" / "val-00000.bin"
    data = good.read_bytes()
    bad = tmp_path / "shards"
    bad.mkdir()
    (bad / "val-00000.bin").write_bytes(data[:-4])
    with pytest.raises(ShardError, match="truncated"):
        ShardSet(tmp_path, "val")
    (bad / "val-00000.bin").write_bytes(b"\0" * 4 + data[4:])
    with pytest.raises(ShardError, match="not a token shard"):
        ShardSet(tmp_path, "val")
    (bad / "val-00000.bin").write_bytes(data[: HEADER_BYTES - 10])
    with pytest.raises(ShardError, match="shorter than the 1024-byte header"):
        ShardSet(tmp_path, "val")
    with pytest.raises(ShardError, match="not the given tokenizer"):
        ShardSet(packed, "val", tokenizer_sha256="0" * 64)


def test_cli_rejects_missing_tokenizer(tmp_path, samples, capsys):
    rc = cli_main(
        [
            "run",
            "pack",
            "--input",
            str(samples / "corpus" / "en_news_parallel.jsonl"),
            "--output",
            str(tmp_path / "o"),
            "--set",
            f"pack.tokenizer={tmp_path / 'missing.json'}",
        ]
    )
    assert rc == 2 and "no tokenizer at" in capsys.readouterr().err


def test_bucketed_shuffle_in_bounded_memory_is_exact_and_task_independent(samples, tmp_path, monkeypatch):
    # Buckets of ~8 KB of tokens force hundreds of buckets on the samples: every document still lands once, with
    # its exact tokens, and the order is the same whatever the number of tasks (part files) of the stage.
    from lmpipe.core.runner import RunConfig
    from lmpipe.stages.pack import packing

    monkeypatch.setattr(packing, "BUCKET_BYTES", 8 << 10)
    cfg = PackConfig(tokenizer=str(TOKENIZER), seq_len=SEQ_LEN, sequences_per_shard=1024, val_fraction=0.05)
    inputs = [InputSpec(str(samples / "corpus"))]
    a = run_stage(STAGES["pack"], cfg, inputs, tmp_path / "a", RunConfig(tasks=1)).stats
    b = run_stage(STAGES["pack"], cfg, inputs, tmp_path / "b", RunConfig(tasks=5)).stats
    assert a["pack"]["shuffle_buckets"] > 100 and b["tasks"] == 5 and a["tasks"] == 1
    tok = Tokenizer.from_file(str(TOKENIZER))
    texts = kept_texts(tmp_path / "a")
    for split in ("train", "val"):
        order_a = pq.read_table(tmp_path / "a" / "shards" / f"index-{split}.parquet").column("id").to_pylist()
        order_b = pq.read_table(tmp_path / "b" / "shards" / f"index-{split}.parquet").column("id").to_pylist()
        assert order_a == order_b and len(set(order_a)) == len(order_a)
        docs = split_documents(tmp_path / "a", split)
        assert len(docs) == len(order_a)
        assert all(tok.decode(ids, skip_special_tokens=False) == texts[i] for i, ids in zip(order_a, docs))
    assert sorted(texts) == sorted(
        i
        for s in ("train", "val")
        for i in pq.read_table(tmp_path / "a" / "shards" / f"index-{s}.parquet")["id"].to_pylist()
    )
    for s in ("train", "val"):
        assert (tmp_path / "a" / "shards" / f"{s}-00000.bin").read_bytes() == (
            tmp_path / "b" / "shards" / f"{s}-00000.bin"
        ).read_bytes()


def test_roundtrip_mismatches_are_counted_and_kept_across_a_resumed_run(tmp_path):
    """A tokenizer that lower-cases cannot give back a text with capitals: each such document is one mismatch;
    the per-part result files keep the count, so a re-run that reuses the token files reports the same."""
    spec = json.loads(TOKENIZER.read_text())
    spec["normalizer"] = {"type": "Lowercase"}
    lower = tmp_path / "lower.json"
    lower.write_text(json.dumps(spec))
    samples = Path(__file__).parent.parent / "samples"
    first = pack(samples, tmp_path / "out", tokenizer=str(lower))
    texts = kept_texts(tmp_path / "out")
    expected = sum(t != t.lower() for t in texts.values())
    assert first["pack"]["roundtrip_mismatches"] == expected > 0
    tokens = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "_pack" / "tokens").glob("*.bin")}
    (tmp_path / "out" / "_stage.json").unlink()  # an interrupted run: the stage runs again over its token files
    again = pack(samples, tmp_path / "out", tokenizer=str(lower))
    assert tokens and {p: p.stat().st_mtime_ns for p in tokens} == tokens  # reused, not tokenized again
    assert again["pack"]["roundtrip_mismatches"] == expected
