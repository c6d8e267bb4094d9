"""`lmpipe export`: the pack stage's shards as llm.c, Megatron-LM and datatrove files, read back by their readers.

datatrove: its own DatatroveFolderDataset (installed). Megatron: megatron-core's IndexedDataset when importable
(CPU; `pip install --no-deps megatron-core`), and always a reader re-implemented from its `_IndexReader`. llm.c:
a re-implementation of its loader's header checks (llmc/dataloader.h `dataloader_load_shard_`, llama3 branch, and
train_llama3.py `_load_data_shard`): it is C/CUDA, not importable here.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from lmpipe.catalog import STAGES  # noqa: E402
from lmpipe.cli import main as cli_main  # noqa: E402
from lmpipe.core.runner import InputSpec, run_stage  # noqa: E402
from lmpipe.export.datatrove_tokens import export_datatrove  # noqa: E402
from lmpipe.export.megatron import export_megatron  # noqa: E402
from lmpipe.export.source import load_split  # noqa: E402
from lmpipe.stages.pack.config import PackConfig  # noqa: E402
from lmpipe.trainer.shards import HEADER_BYTES, ShardSet  # noqa: E402

TOKENIZER = Path(__file__).parent / "data" / "pack" / "tokenizer.json"
SPLITS = ("train", "val")


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "pack"
    cfg = PackConfig(tokenizer=str(TOKENIZER), seq_len=64, sequences_per_shard=512, val_fraction=0.05)
    run_stage(STAGES["pack"], cfg, [InputSpec(str(Path(__file__).parent.parent / "samples" / "corpus"))], out)
    return out


def stream(packed: Path, split: str) -> np.ndarray:
    return np.concatenate([np.asarray(t) for t in ShardSet(packed, split).tokens]).astype(np.int64)


def doc_lengths(packed: Path, split: str) -> np.ndarray:
    return pq.read_table(packed / "shards" / f"index-{split}.parquet").column("n_tokens").to_numpy()


def documents(tokens: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
    return [d.tolist() for d in np.split(np.asarray(tokens, dtype=np.int64), np.cumsum(lengths)[:-1])]


def run_export(fmt: str, packed: Path, out: Path) -> dict:
    assert cli_main(["export", "--format", fmt, "--input", str(packed), "--output", str(out)]) == 0
    return json.loads((out / "export.json").read_text())


# ---- llm.c ---------------------------------------------------------------------------------------------------


def llmc_load(path: Path) -> np.ndarray:
    """llm.c's checks on a data file (dataloader.h, llama3 branch), then its tokens."""
    size = path.stat().st_size
    header = np.fromfile(path, dtype="<i4", count=256)
    magic, version = int(header[0]), int(header[1])
    assert magic in (20240520, 20240801), "Bad magic in the data file"
    assert version == (1 if magic == 20240520 else 7), "Bad version in data file"
    token_dtype = np.dtype("<u2") if magic == 20240520 else np.dtype("<u4")
    ntok = int(header[2])
    assert ntok > 0
    assert size == 256 * 4 + ntok * token_dtype.itemsize, "Error: file size is not as expected"
    tokens = np.fromfile(path, dtype=token_dtype, offset=256 * 4)
    assert len(tokens) == ntok, "number of tokens read does not match header?"
    return tokens


def test_llmc_export(packed, tmp_path):
    out = tmp_path / "llmc"
    result = run_export("llmc", packed, out)
    for split in SPLITS:
        files = sorted(out.glob(f"{split}_*.bin"))  # llm.c globs a pattern and reads the files in sorted order
        assert [f.name for f in files] == result["splits"][split]["files"]
        assert len(files) == len(ShardSet(packed, split).paths)
        got = np.concatenate([llmc_load(f) for f in files]).astype(np.int64)
        np.testing.assert_array_equal(got, stream(packed, split))
        eos = json.loads((packed / "shards" / "pack.json").read_text())["eos_id"]
        # document boundaries: the EOS tokens, where the index puts each document's end
        np.testing.assert_array_equal(np.flatnonzero(got == eos) + 1, np.cumsum(doc_lengths(packed, split)))
        assert result["splits"][split]["tokens"] == len(got)
    assert len(list(out.glob("train_*.bin"))) > 1  # several shards: documents continue across files
    (out / "train_000099.bin").write_bytes((out / "train_000000.bin").read_bytes())  # left by an older export
    run_export("llmc", packed, out)
    assert not (out / "train_000099.bin").exists()


# ---- Megatron-LM ---------------------------------------------------------------------------------------------

MEGATRON_DTYPES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}


def megatron_read(prefix: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """A reader written from megatron.core.datasets.indexed_dataset (_IndexReader, _MMapBinReader): the documents
    and the document indices."""
    idx = prefix.with_suffix(".idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00", "bad header"
    assert struct.unpack("<Q", idx[9:17])[0] == 1, "bad version"
    dtype = np.dtype(MEGATRON_DTYPES[idx[17]])
    seqs, docs = struct.unpack("<QQ", idx[18:34])
    lengths = np.frombuffer(idx, dtype="<i4", count=seqs, offset=34)
    pointers = np.frombuffer(idx, dtype="<i8", count=seqs, offset=34 + 4 * seqs)
    doc_index = np.frombuffer(idx, dtype="<i8", count=docs, offset=34 + 12 * seqs)
    assert len(idx) == 34 + 12 * seqs + 8 * docs
    assert doc_index[-1] == seqs == len(lengths)  # IndexedDataset's own assertions
    data = np.memmap(prefix.with_suffix(".bin"), dtype=np.uint8, mode="r")
    assert len(data) == int(pointers[-1]) + int(lengths[-1]) * dtype.itemsize
    seqs_out = [np.frombuffer(data, dtype=dtype, count=int(n), offset=int(p)) for p, n in zip(pointers, lengths)]
    return seqs_out, doc_index


def test_megatron_export_read_back(packed, tmp_path):
    out = tmp_path / "megatron"
    result = run_export("megatron", packed, out)
    for split in SPLITS:
        assert result["splits"][split]["token_dtype"] == "uint16"  # vocabulary 1024 < 65,500
        seqs, doc_index = megatron_read(out / split)
        expected = documents(stream(packed, split), doc_lengths(packed, split))
        assert [s.tolist() for s in seqs] == expected
        np.testing.assert_array_equal(doc_index, np.arange(len(expected) + 1))


def test_megatron_int32_tokens(packed, tmp_path):
    """A vocabulary of 65,500 or more (ours: 102k) is stored as int32, Megatron's code 4 (it has no uint32)."""
    split = load_split(packed, "val")
    export_megatron(split, tmp_path, dtype=np.int32)
    assert (tmp_path / "val.idx").read_bytes()[17] == 4
    seqs, _ = megatron_read(tmp_path / "val")
    assert [s.tolist() for s in seqs] == documents(stream(packed, "val"), doc_lengths(packed, "val"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # megatron's builder, numpy 2
@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_megatron_real_reader(packed, tmp_path, dtype):
    import torch
    from megatron.core.datasets import indexed_dataset as indexed  # megatron-core is in the test extras

    split = load_split(packed, "val")
    export_megatron(split, tmp_path, dtype=dtype)
    ds = indexed.IndexedDataset(str(tmp_path / "val"), multimodal=False, mmap=True)
    expected = documents(stream(packed, "val"), doc_lengths(packed, "val"))
    assert len(ds) == len(expected)
    assert [ds[i].tolist() for i in range(len(ds))] == expected
    np.testing.assert_array_equal(ds.document_indices, np.arange(len(expected) + 1))
    longest = int(np.argmax([len(d) for d in expected]))
    assert ds.get(longest, offset=2, length=3).tolist() == expected[longest][2:5]
    # byte for byte what megatron's own builder writes for the same documents
    builder = indexed.IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=dtype)
    for doc in expected:
        builder.add_document(torch.tensor(doc), [len(doc)])
    builder.finalize(str(tmp_path / "ref.idx"))
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"val{ext}").read_bytes() == (tmp_path / f"ref{ext}").read_bytes()


# ---- datatrove -------------------------------------------------------------------------------------------------


def test_datatrove_export_read_back(packed, tmp_path):
    from datatrove.utils.dataset import DatatroveFolderDataset

    out = tmp_path / "datatrove"
    result = run_export("datatrove", packed, out)
    for split in SPLITS:
        assert result["splits"][split]["token_size"] == 2
        tokens, lengths = stream(packed, split), doc_lengths(packed, split)
        # the whole split as one window: its tokens in order, positions restarting at each document (.index)
        whole = DatatroveFolderDataset(str(out / split), seq_len=len(tokens) - 1, token_size=2, return_positions=True)
        assert len(whole) == 1
        item = whole[0]
        np.testing.assert_array_equal(item["input_ids"].numpy(), tokens)
        expected_pos = np.concatenate([np.arange(n) for n in lengths])
        np.testing.assert_array_equal(item["positions"].numpy(), expected_pos)
        # the training view: windows of seq_len + 1 tokens, back to back
        ds = DatatroveFolderDataset(str(out / split), seq_len=64, token_size=2)
        assert len(ds) == len(tokens) // 65
        for i in (0, len(ds) // 2, len(ds) - 1):
            np.testing.assert_array_equal(ds[i]["input_ids"].numpy(), tokens[i * 65 : (i + 1) * 65])
        meta = (out / split / f"00000_{split}.ds.metadata").read_text().splitlines()
        assert meta[0].endswith("tokenizer.json|2") and int(meta[1]) == len(tokens)


def test_datatrove_uint32_tokens(packed, tmp_path):
    from datatrove.utils.dataset import DatatroveFolderDataset

    split = load_split(packed, "val")
    export_datatrove(split, tmp_path, "tok", token_size=4)
    tokens = stream(packed, "val")
    ds = DatatroveFolderDataset(str(tmp_path / "val"), seq_len=len(tokens) - 1, token_size=4, return_positions=True)
    np.testing.assert_array_equal(ds[0]["input_ids"].numpy(), tokens)
    lengths = doc_lengths(packed, "val")
    np.testing.assert_array_equal(ds[0]["positions"].numpy(), np.concatenate([np.arange(n) for n in lengths]))


# ---- errors ----------------------------------------------------------------------------------------------------


def test_export_refuses_corrupt_shards(packed, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(packed / "shards", bad / "shards")
    path = bad / "shards" / "val-00000.bin"
    data = bytearray(path.read_bytes())
    data[HEADER_BYTES : HEADER_BYTES + 4] = np.uint32(99_999).tobytes()
    path.write_bytes(bytes(data))
    rc = cli_main(["export", "--format", "megatron", "--input", str(bad), "--output", str(tmp_path / "o")])
    assert rc == 2 and "token id 99999 at token 0" in capsys.readouterr().err
    assert not (tmp_path / "o" / "export.json").exists()


def test_export_refuses_index_of_another_pack(packed, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(packed / "shards", bad / "shards")
    (bad / "shards" / "index-val.parquet").write_bytes((bad / "shards" / "index-train.parquet").read_bytes())
    rc = cli_main(["export", "--format", "llmc", "--input", str(bad), "--output", str(tmp_path / "o")])
    assert rc == 2 and "index and shards of different packs" in capsys.readouterr().err


def test_export_needs_a_pack_output(tmp_path, capsys):
    rc = cli_main(["export", "--format", "datatrove", "--input", str(tmp_path), "--output", str(tmp_path / "o")])
    assert rc == 2 and "no pack.json" in capsys.readouterr().err
