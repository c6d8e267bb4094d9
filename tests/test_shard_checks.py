"""Shard headers asserted against the data and the pack manifest: one corrupted field at a time, a clear error."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lmpipe.catalog import STAGES  # noqa: E402
from lmpipe.core.runner import InputSpec, run_stage  # noqa: E402
from lmpipe.stages.pack.config import PackConfig  # noqa: E402
from lmpipe.trainer.shards import HEADER_BYTES, ShardError, ShardSet, read_header  # noqa: E402

TOKENIZER = Path(__file__).parent / "data" / "pack" / "tokenizer.json"
SEQ_LEN = 64
# int32 index of each header field, from the format table in lmpipe/trainer/shards.py (and docs/FORMATS.md)
FIELDS = {"num_tokens": 2, "num_documents": 6, "vocab_size": 7, "eos_id": 8, "seq_len": 9}


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shard_checks") / "out"
    cfg = PackConfig(tokenizer=str(TOKENIZER), seq_len=SEQ_LEN, sequences_per_shard=1024, val_fraction=0.05)
    run_stage(STAGES["pack"], cfg, [InputSpec(str(Path(__file__).parent.parent / "samples" / "corpus"))], out)
    return out / "shards"


@pytest.fixture
def shards(packed, tmp_path) -> Path:
    """A private copy of the packed shards/ folder to corrupt."""
    copy = tmp_path / "shards"
    shutil.copytree(packed, copy)
    return copy


def set_header(path: Path, field: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    header = np.frombuffer(data, dtype="<i4", count=HEADER_BYTES // 4).copy()
    header[FIELDS[field]] = value
    data[:HEADER_BYTES] = header.tobytes()
    path.write_bytes(bytes(data))


def set_token(path: Path, index: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[HEADER_BYTES + 4 * index : HEADER_BYTES + 4 * index + 4] = np.uint32(value).tobytes()
    path.write_bytes(bytes(data))


def test_good_shards_open(packed):
    for split in ("train", "val"):
        s = ShardSet(packed, split)
        assert len(s.paths) >= 1 and s.num_tokens > 0
    assert len(ShardSet(packed, "train").paths) > 1  # the cross-shard checks below need several train shards


def test_seq_len_differing_between_shards_of_a_split(shards):
    (shards / "pack.json").unlink()  # the shards alone must disagree loudly
    set_header(shards / "train-00001.bin", "seq_len", 7)
    with pytest.raises(ShardError, match=r"train-00001\.bin: header field seq_len 7 differs"):
        ShardSet(shards, "train")


def test_seq_len_of_every_shard_checked_against_whole_sequences(shards):
    (shards / "pack.json").unlink()
    for path in sorted(shards.glob("train-*.bin")):
        set_header(path, "seq_len", 7)  # all agree, but 64 * 1024 tokens are no whole number of 7-token sequences
    with pytest.raises(ShardError, match=r"train-00000\.bin: header field num_tokens 65536 is no multiple"):
        ShardSet(shards, "train")


def test_seq_len_against_pack_manifest(shards):
    set_header(shards / "val-00000.bin", "seq_len", 7)  # the only val shard: only pack.json can tell
    with pytest.raises(ShardError, match=r"val-00000\.bin: header field seq_len 7, but .*pack\.json says 64"):
        ShardSet(shards, "val")


def test_vocab_size_against_pack_manifest(shards):
    set_header(shards / "val-00000.bin", "vocab_size", 2048)
    with pytest.raises(ShardError, match=r"val-00000\.bin: header field vocab_size 2048, but .*pack\.json says 1024"):
        ShardSet(shards, "val")


def test_vocab_size_too_small_for_the_tokens(shards):
    (shards / "pack.json").unlink()
    eos = read_header(shards / "val-00000.bin").eos_id
    set_header(shards / "val-00000.bin", "vocab_size", eos + 1)  # eos_id still valid, most tokens are not
    with pytest.raises(ShardError, match=r"val-00000\.bin: token id \d+ at token \d+ is not below header field"):
        ShardSet(shards, "val")


def test_token_id_beyond_vocabulary(shards):
    set_token(shards / "val-00000.bin", 3, 5000)
    with pytest.raises(ShardError, match=r"val-00000\.bin: token id 5000 at token 3 is not below .*vocab_size 1024"):
        ShardSet(shards, "val")


def test_token_id_beyond_vocabulary_in_a_later_shard(shards):
    last = sorted(shards.glob("train-*.bin"))[-1]
    n = read_header(last).num_tokens
    set_token(last, n - 2, 2**32 - 1)
    with pytest.raises(ShardError, match=rf"{last.name}: token id 4294967295 at token {n - 2} is not below"):
        ShardSet(shards, "train")


def test_eos_id_outside_vocabulary(shards):
    set_header(shards / "val-00000.bin", "eos_id", 1024)
    with pytest.raises(ShardError, match=r"val-00000\.bin: corrupt header field eos_id = 1024 \(not in \[0, vocab"):
        ShardSet(shards, "val")


def test_num_documents_against_eos_tokens(shards):
    (shards / "pack.json").unlink()  # else pack.json's document count tells first
    h = read_header(shards / "val-00000.bin")
    set_header(shards / "val-00000.bin", "num_documents", h.num_documents + 1)
    with pytest.raises(ShardError, match=r"val-00000\.bin: header field num_documents \d+, but the shard holds"):
        ShardSet(shards, "val")


def test_truncated_file(shards):
    path = shards / "val-00000.bin"
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ShardError, match=r"val-00000\.bin: .* bytes, header announces .* \(truncated\)"):
        ShardSet(shards, "val")


def test_truncated_shard_with_consistent_header_against_manifest(shards):
    """A shard cut short and its header rewritten to match: only pack.json's token count tells."""
    last = sorted(shards.glob("train-*.bin"))[-1]
    data = last.read_bytes()
    tokens = np.frombuffer(data, dtype="<u4", offset=HEADER_BYTES)
    keep = tokens[: int(np.flatnonzero(tokens == read_header(last).eos_id)[0]) + 1]  # up to its first EOS
    last.write_bytes(data[:HEADER_BYTES] + keep.tobytes())
    set_header(last, "num_tokens", len(keep))
    set_header(last, "num_documents", 1)
    with pytest.raises(ShardError, match=r"the train shards hold [\d,]+ tokens, .*pack\.json says"):
        ShardSet(shards, "train")


def test_missing_last_shard_against_manifest(shards):
    sorted(shards.glob("train-*.bin"))[-1].unlink()
    with pytest.raises(ShardError, match=r"the train shards hold \d+ shards, .*pack\.json says \d+"):
        ShardSet(shards, "train")


def test_unreadable_manifest(shards):
    (shards / "pack.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ShardError, match=r"pack\.json: unreadable pack manifest"):
        ShardSet(shards, "val")


def test_training_refuses_corrupt_seq_len(shards):
    """The training loop reads the shards through ShardSet: a corrupted seq_len stops it before any step."""
    from lmpipe.trainer.train import TrainConfig, train

    set_header(shards / "train-00000.bin", "seq_len", 7)
    manifest = json.loads((shards / "pack.json").read_text())
    assert manifest["seq_len"] == SEQ_LEN
    with pytest.raises(ShardError, match="seq_len"):
        train(TrainConfig(data=str(shards), model="tiny", device="cpu", batch_size=2, max_steps=1))
