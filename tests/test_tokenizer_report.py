"""Compression report: reference loaders (tokenizer.json, vocab+merges, tiktoken), metrics, table and chart."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from pathlib import Path

import orjson
import pytest
from conftest import SAMPLES
from tokenizers import Tokenizer

from lmpipe.tokenizer.__main__ import main as cli
from lmpipe.tokenizer.load import load_references, ours
from lmpipe.tokenizer.report import Row, TextSet, markdown_table, measure, read_text_set
from lmpipe.tokenizer.train import TrainConfig, train

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    corpus = [str(SAMPLES / "corpus" / name) for name in ("ko_nsmc_reviews.parquet", "en_news_parallel.jsonl")]
    train(corpus, out, TrainConfig(vocab_size=900))
    return out


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> list[str]:
    """Korean and English news (translations of each other) and code: this repository's own tokenizer source."""
    folder = tmp_path_factory.mktemp("texts")
    code = folder / "code-python.txt"
    code.write_text((REPO / "lmpipe" / "tokenizer" / "pretok.py").read_text(encoding="utf-8"), encoding="utf-8")
    return [
        f"ko-news={SAMPLES / 'corpus' / 'ko_news_parallel.jsonl.zst'}",
        f"en-news={SAMPLES / 'corpus' / 'en_news_parallel.jsonl'}",
        str(code),
    ]


def test_words_are_whitespace_separated_eojeol():
    ts = TextSet("ko", ["나는 학교에서 공부했다.", "  오늘은\n날씨가\t좋다  "])
    assert ts.words == 6
    assert ts.chars == len("나는 학교에서 공부했다.") + len("  오늘은\n날씨가\t좋다  ")
    assert ts.bytes == sum(len(t.encode()) for t in ts.docs)


def test_row_ratios_are_ratios_of_totals():
    row = Row("t", "ours", 1000, "ko", tokens=50, bytes=300, chars=100, words=20, docs=2, roundtrip_failures=0)
    assert (row.tokens_per_word, row.bytes_per_token, row.chars_per_token) == (2.5, 6.0, 2.0)


def test_read_text_set_labels_and_errors(texts, tmp_path):
    assert read_text_set(texts[0]).label == "ko-news"
    assert read_text_set(texts[2]).label == "code-python"
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(orjson.dumps({"id": 1, "text": "   "}) + b"\n")
    with pytest.raises(ValueError, match="no words"):
        read_text_set(str(blank))


def test_vocab_merges_folder_counts_like_the_tokenizer_json(tiny, tmp_path):
    """The same BPE exported as vocab.json + merges.txt (gzipped, as in the shared folder) gives the same counts."""
    folder = tmp_path / "exported"
    folder.mkdir()
    Tokenizer.from_file(str(tiny / "tokenizer.json")).model.save(str(folder))
    for name in ("vocab.json", "merges.txt"):
        with open(folder / name, "rb") as src, gzip.open(folder / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        (folder / name).unlink()
    (ref,) = load_references(folder)
    assert ref.kind == "vocab+merges" and ref.name == "exported"
    docs = read_text_set(f"ko={SAMPLES / 'corpus' / 'ko_news_parallel.jsonl.zst'}").docs
    assert ref.count(docs) == ours(tiny, mecab=False).count(docs)


def test_tokenizer_json_gz_and_folder_of_folders(tiny, tmp_path):
    root = tmp_path / "refs"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    raw = (tiny / "tokenizer.json").read_bytes()
    (root / "a" / "tokenizer.json").write_bytes(raw)
    (root / "b" / "tokenizer.json.gz").write_bytes(gzip.compress(raw))
    (root / "b" / "extra-test-tokenizer.json.gz").write_bytes(gzip.compress(raw))
    refs = load_references(root)
    assert [r.name for r in refs] == ["a", "b", "extra-test-tokenizer"]
    assert {r.vocab_size for r in refs} == {900}
    text = ["오늘 날씨가 좋네요. The weather is nice."]
    assert len({tuple(r.count(text)) for r in refs}) == 1


def test_tiktoken_file_is_loaded_without_download(tiny, tmp_path):
    """A .tiktoken ranks file (base64 token, rank) built from our vocabulary encodes every byte sequence."""
    tok = Tokenizer.from_file(str(tiny / "tokenizer.json"))
    byte_of = {ch: b for b, ch in _bytes_to_unicode().items()}
    vocab = sorted(tok.get_vocab(with_added_tokens=False).items(), key=lambda kv: kv[1])
    lines = [
        f"{base64.b64encode(bytes(byte_of[c] for c in token)).decode()} {rank}"
        for rank, (token, _) in enumerate(vocab)
    ]
    path = tmp_path / "r50k_base.tiktoken.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (ref,) = load_references(path)
    assert ref.kind == "tiktoken" and ref.vocab_size == len(vocab)
    docs = ["Alice was beginning to get very tired.", "오늘은 날씨가 좋네요", "def f(x):\n    return x"]
    counts = ref.count(docs)
    assert all(0 < n <= len(d.encode()) for n, d in zip(counts, docs))
    with pytest.raises(ValueError, match="unknown tiktoken encoding"):
        load_references(path.rename(tmp_path / "mystery.tiktoken.gz"))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the ByteLevel alphabet)."""
    bs = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def test_measure_counts_every_document(tiny, texts):
    ref = ours(tiny, mecab=True)
    sets = [read_text_set(t) for t in texts]
    rows = measure([ref], sets)
    assert [r.text for r in rows] == ["ko-news", "en-news", "code-python"]
    for row, ts in zip(rows, sets):
        assert row.tokens == sum(ref.count(ts.docs))
        assert row.words == ts.words and row.bytes == ts.bytes
        assert row.bytes_per_token > 1.0  # BPE merges something on every set
    table = markdown_table(rows, [r.text for r in rows])
    assert table.count("\n") == 3 and "| ours+mecab | 900 | yes |" in table


def test_lossy_reference_is_flagged(tiny, tmp_path):
    """A tokenizer that normalizes (NFKC, like KoGPT2) does not give the text back; the report says so."""
    from tokenizers import normalizers

    tok = Tokenizer.from_file(str(tiny / "tokenizer.json"))
    tok.normalizer = normalizers.NFKC()
    (tmp_path / "lossy").mkdir()
    tok.save(str(tmp_path / "lossy" / "tokenizer.json"))
    docs = ["ＡＢＣ 전각 문자와 ① 동그라미 숫자", "plain ascii text"]
    rows = measure([ours(tiny), *load_references(tmp_path / "lossy")], [TextSet("mixed", docs)])
    assert [(r.tokenizer, r.roundtrip_failures) for r in rows] == [("ours", 0), ("lossy", 1)]
    assert "| lossy | 900 | no: 1 of 2 docs |" in markdown_table(rows, ["mixed"])


def test_report_cli_writes_table_chart_and_numbers(tiny, texts, tmp_path, capsys):
    refs = tmp_path / "refs"
    (refs / "other").mkdir(parents=True)
    shutil.copy(tiny / "tokenizer.json", refs / "other" / "tokenizer.json")
    out = tmp_path / "report"
    code = cli(["report", "--tokenizer", str(tiny), "--text", *texts, "--compare", str(refs), "--output", str(out)])
    assert code == 0
    md = (out / "compression.md").read_text()
    assert "| ours | 900 | yes |" in md and "| ours+mecab | 900 | yes |" in md and "| other | 900 | yes |" in md
    assert "ko-news tok/word" in md and "eojeol" in md
    assert (out / "compression.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "compression.json").read_text())
    assert len(data) == 3 * 3
    for row in data:
        assert row["tokens_per_word"] == pytest.approx(row["tokens"] / row["words"])
    # the same file under another name counts the same
    by = {(r["tokenizer"], r["text"]): r["tokens"] for r in data}
    assert all(by[("ours", t)] == by[("other", t)] for t in ("ko-news", "en-news", "code-python"))
    assert "ours" in capsys.readouterr().out


def test_report_cli_bad_paths_are_clear_errors(tiny, tmp_path, capsys):
    assert cli(["report", "--tokenizer", str(tmp_path), "--text", str(tmp_path), "--output", str(tmp_path)]) == 2
    assert "no tokenizer" in capsys.readouterr().err
