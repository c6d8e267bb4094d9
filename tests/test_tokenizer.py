"""Tokenizer training, MeCab pre-tokenization, the loader, exact round trip and portability (issue 9).

Tiny tokenizers only (a few seconds), trained on the bundled samples through the ingest stage's Parquet shards.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import orjson
import pytest
from conftest import SAMPLES
from tokenizers import Tokenizer, pre_tokenizers

from lmpipe.core.runner import InputSpec, Stage, run_stage
from lmpipe.stages.ingest.stage import IngestConfig, build_ingest
from lmpipe.text.korean import morphemes
from lmpipe.tokenizer.__main__ import main as cli
from lmpipe.tokenizer.load import load_tokenizer
from lmpipe.tokenizer.pretok import byte_level, mecab_pre_tokenizer, morpheme_cuts, training_chunks
from lmpipe.tokenizer.train import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    CorpusScan,
    LangCount,
    TrainConfig,
    TrainError,
    document_language,
    sampling_rates,
    train,
)

VOCAB = 1200

TORTURE = [
    "",
    " ",
    "\n\n\n",
    "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.",
    "나는 학교에서 공부했다. 어제 iPhone을 샀어요! 가격은 1,234,567.89원이었습니다.",
    "ㅋㅋㅋㅋ ㅠㅠ 진짜 재밌네요~~ 10점 만점에 10점!!!",
    unicodedata.normalize("NFD", "한국어 자모 분해 텍스트: 학교에서 공부했습니다"),
    "大韓民國 憲法 第1條 ① 大韓民國은 民主共和國이다.",
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do.",
    "def f(x):\n\treturn {'a': [1, 2, 3], \"b\": x ** 2}  # comment\r\n\nclass A:\n    pass\n",
    'for (int i = 0; i < n; ++i) { printf("%d\\n", a[i]); }',
    "emoji: 😀 👩‍👩‍👧‍👦 🇰🇷 👍🏽 ❤️ 🫠",
    "mixed: 日本語のテキスト، العربية नमस्ते ภาษาไทย Ελληνικά русский 中文",
    "control: \x00\x01\x02\x07\x08\x0b\x0c\x1b[31mred\x1b[0m\x7f\u0085\u2028\u2029\u200b\u200d\ufeff end",
    "combining: e\u0301 a\u0308 n\u0303 \u1100\u1161\u11a8",
    "astral: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀𠀁 𝟘𝟙",
    "a" * 5000,
    "가" * 3000,
    "https://example.com/" + "path/" * 500 + "?q=" + "x" * 1000,
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" * 200,
    "literal special tokens: <|begin_of_text|> <|end_of_text|> <|pad|> <|reserved_0|>",
    "   leading and trailing spaces   \t",
    "ﾡﾢﾣ half-width hangul ＡＢＣ full-width",
]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """The bundled samples through the ingest stage: pipeline Parquet shards, as training gets them."""
    out = tmp_path_factory.mktemp("ingest")
    ingest = Stage("ingest", "ingest", IngestConfig, build_ingest)  # as registered in lmpipe/catalog.py
    run_stage(ingest, IngestConfig(), [InputSpec(str(SAMPLES / "corpus"))], out)
    return out


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    train([str(shards)], out, TrainConfig(vocab_size=VOCAB))
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


# --- MeCab pre-tokenization ------------------------------------------------------------------------------------


def test_morpheme_cuts_split_korean_words_only_between_morphemes():
    text = "나는 학교에서 공부했다"
    chunks = training_chunks(text)
    assert "".join(chunks) == text  # nothing inserted, nothing lost
    assert "학교" in morphemes(text) and "에서" in morphemes(text)
    cut = text.index("에서")
    assert cut in morpheme_cuts(text)
    assert text.index(" 학교") not in morpheme_cuts(text)  # spaces are byte-level's business


def test_english_and_code_are_not_cut_by_mecab():
    for text in ["The quick brown fox jumps over the lazy dog.", "def tokenize(text): return text.split()"]:
        assert morpheme_cuts(text) == []
    # English inside a Korean line keeps byte-level splitting; only the Korean word next to it is cut.
    text = "어제 iPhone을 샀어요"
    cuts = morpheme_cuts(text)
    assert text.index("을") in cuts
    assert all(not (text.index("iPhone") < c < text.index("iPhone") + 6) for c in cuts)


@pytest.mark.parametrize("text", TORTURE)
def test_train_time_and_encode_time_pre_tokenization_are_equal(text):
    """Training feeds `training_chunks` to byte-level; encoding runs MecabSplit then byte-level: same pieces."""
    at_train = [piece for chunk in training_chunks(text) for piece, _ in byte_level().pre_tokenize_str(chunk)]
    at_encode = [piece for piece, _ in mecab_pre_tokenizer().pre_tokenize_str(text)]
    assert at_train == at_encode


# --- training ----------------------------------------------------------------------------------------------------


def test_trained_tokenizer_has_the_vocabulary_asked_for(trained):
    tok = Tokenizer.from_file(str(trained / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB
    for i, token in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(token) == i
    vocab = tok.get_vocab()
    assert all(symbol in vocab for symbol in pre_tokenizers.ByteLevel.alphabet())  # all 256 bytes


def test_training_writes_config_manifest_and_measurements(trained, shards):
    stats = json.loads((trained / "training_config.json").read_text())["stats"]
    assert stats["vocab_size"] == VOCAB
    assert set(stats["documents_used"]) == {"ko", "en"}
    assert stats["training_bytes"] == sum(c["bytes"] for c in stats["documents_used"].values())
    assert stats["peak_rss_mb"] > 0 and stats["gb_per_hour"] > 0 and stats["train_seconds"] >= 0
    # balanced in characters: the scarcer language is used whole, the other sampled to about the same amount
    used = stats["documents_used"]
    scarce = min(stats["documents_available"], key=lambda lang: stats["documents_available"][lang]["chars"])
    assert used[scarce] == stats["documents_available"][scarce]
    manifest = json.loads((trained / "data_manifest.json").read_text())
    parts = sorted(p.name for p in shards.glob("data/part-*.parquet"))
    assert sorted(Path(f["path"]).name for f in manifest["files"]) == parts
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])


def test_mecab_keeps_merges_inside_morphemes(samples, tmp_path):
    """A frequent eojeol becomes one token without MeCab; with MeCab its particle stays a separate token."""
    rows = [{"id": f"k{i}", "text": "오늘 나는 학교에서 공부했다.", "lang": "ko"} for i in range(300)]
    rows += [{"id": f"e{i}", "text": "Today I studied at school.", "lang": "en"} for i in range(300)]
    corpus = _write_jsonl(tmp_path / "c.jsonl", rows)
    word = byte_level().pre_tokenize_str(" 학교에서")[0][0]
    plain = train([str(corpus)], tmp_path / "plain", TrainConfig(vocab_size=320, mecab=False))
    assert plain["vocab_size"] == 320
    assert Tokenizer.from_file(str(tmp_path / "plain" / "tokenizer.json")).token_to_id(word) is not None
    train([str(corpus)], tmp_path / "mecab", TrainConfig(vocab_size=320))
    tok = Tokenizer.from_file(str(tmp_path / "mecab" / "tokenizer.json"))
    assert tok.token_to_id(word) is None
    assert tok.token_to_id(byte_level().pre_tokenize_str(" 학교")[0][0]) is not None
    assert tok.token_to_id(byte_level().pre_tokenize_str("에서")[0][0]) is not None


def test_sampling_rates_balance_languages_and_honour_the_cap():
    scan = CorpusScan(langs={"ko": LangCount(10, 1_000, 3_000), "en": LangCount(10, 4_000, 4_000)}, hangul_chars=900)
    assert sampling_rates(scan, TrainConfig()) == {"ko": 1.0, "en": 0.25}
    assert sampling_rates(scan, TrainConfig(balance_by="bytes")) == {"ko": 1.0, "en": 0.75}
    assert sampling_rates(scan, TrainConfig(max_chars_per_lang=500)) == {"ko": 0.5, "en": 0.125}


def test_document_language_uses_the_tag_then_the_letters():
    assert document_language("anything", "ja") == "ja"
    assert document_language("오늘은 날씨가 좋네요 ok", None) == "ko"
    assert document_language("The weather is nice today 좋다", None) == "en"
    assert document_language("12345 !!! ...", None) is None


# --- bad input ---------------------------------------------------------------------------------------------------


def test_empty_corpus_is_a_clear_error(tmp_path):
    corpus = tmp_path / "empty.jsonl"
    corpus.write_text("")
    with pytest.raises(TrainError, match="empty"):
        train([str(corpus)], tmp_path / "out", TrainConfig(vocab_size=400))


def test_corpus_without_korean_is_a_clear_error(samples, tmp_path):
    with pytest.raises(TrainError, match="no Korean"):
        train([str(samples / "corpus" / "en_news_parallel.jsonl")], tmp_path / "out", TrainConfig(vocab_size=400))


def test_corpus_missing_a_balanced_language_is_a_clear_error(samples, tmp_path):
    korean_only = str(samples / "corpus" / "ko_nsmc_reviews.parquet")
    with pytest.raises(TrainError, match=r"no documents in language\(s\) \['en'\]"):
        train([korean_only], tmp_path / "out", TrainConfig(vocab_size=400))
    stats = train([korean_only], tmp_path / "ko", TrainConfig(vocab_size=400, languages=("ko",)))
    assert set(stats["documents_used"]) == {"ko"}


def test_vocabulary_smaller_than_the_alphabet_is_a_clear_error():
    with pytest.raises(TrainError, match="not larger than the alphabet"):
        TrainConfig(vocab_size=256)


def test_vocabulary_the_corpus_cannot_fill_is_a_clear_error(tmp_path):
    rows = [{"id": "1", "text": "가나 다라", "lang": "ko"}, {"id": "2", "text": "ab cd", "lang": "en"}]
    corpus = _write_jsonl(tmp_path / "tiny.jsonl", rows)
    with pytest.raises(TrainError, match="supports only"):
        train([str(corpus)], tmp_path / "out", TrainConfig(vocab_size=5000))


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    corpus = tmp_path / "empty.jsonl"
    corpus.write_text("")
    assert cli(["train", "--input", str(corpus), "--output", str(tmp_path / "o"), "--vocab-size", "100"]) == 2
    assert "not larger than the alphabet" in capsys.readouterr().err
    assert cli(["train", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


# --- round trip, loader, portability -----------------------------------------------------------------------------


@pytest.mark.parametrize("mecab", [False, True])
def test_round_trip_is_exact_on_the_torture_set(trained, mecab):
    tok = load_tokenizer(trained, mecab=mecab)
    for text in TORTURE:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == text, repr(text[:80])


def test_round_trip_is_exact_on_sample_documents(trained, shards):
    import pyarrow.parquet as pq

    tok = load_tokenizer(trained, mecab=True)
    texts = [
        t
        for p in sorted(shards.glob("data/part-*.parquet"))
        for t in pq.read_table(p, columns=["text"])["text"].to_pylist()
    ]
    texts = texts[:: max(1, len(texts) // 300)]
    encodings = tok.encode_batch(texts, add_special_tokens=False)
    assert [tok.decode(e.ids, skip_special_tokens=False) for e in encodings] == texts


def test_literal_special_token_strings_stay_text(trained):
    tok = load_tokenizer(trained)
    ids = tok.encode(f"a {EOS} b", add_special_tokens=False).ids
    assert tok.token_to_id(EOS) not in ids


def test_mecab_at_encode_cuts_korean_words_like_training(trained):
    text = "학교에서 공부했다"
    portable = load_tokenizer(trained, mecab=False).encode(text).offsets
    with_mecab = load_tokenizer(trained, mecab=True).encode(text).offsets
    cut = text.index("에서")
    assert any(start == cut for start, _ in with_mecab)  # a token starts where the particle starts
    assert all(start < end for start, end in portable + with_mecab)


def test_tokenizer_json_loads_with_tokenizers_and_transformers(trained):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    plain = Tokenizer.from_file(str(trained / "tokenizer.json"))
    ours = load_tokenizer(trained, mecab=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_file=str(trained / "tokenizer.json"), bos_token=BOS, eos_token=EOS, pad_token=PAD
    )
    auto = AutoTokenizer.from_pretrained(str(trained))  # a local folder: no hub access
    assert auto.bos_token == BOS and auto.eos_token_id == 1 and auto.pad_token_id == 2
    for text in TORTURE[3:12]:
        ids = ours.encode(text, add_special_tokens=False).ids
        assert plain.encode(text, add_special_tokens=False).ids == ids
        assert fast.encode(text, add_special_tokens=False) == ids
        assert auto.encode(text, add_special_tokens=False) == ids
        assert auto.decode(ids) == text


def test_load_tokenizer_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m lmpipe.tokenizer train"):
        load_tokenizer(tmp_path)


def test_tokenizer_stage_passes_documents_through_and_trains(tmp_path):
    """As `make run` would run it: after ingest, documents are kept as they are and DIR/tokenizer/ is written."""
    from lmpipe.stages.tokenizer.stage import TOKENIZER_STAGE

    ingest = Stage("ingest", "ingest", IngestConfig, build_ingest)
    first = run_stage(ingest, IngestConfig(), [InputSpec(str(SAMPLES / "corpus"))], tmp_path / "ingest")
    result = run_stage(
        TOKENIZER_STAGE, TrainConfig(vocab_size=800), [InputSpec(str(first.output_dir))], tmp_path / "tokenizer"
    )
    assert result.stats["docs_out"] == first.stats["docs_out"] and result.stats["docs_excluded"] == 0
    assert result.stats["tokenizer"]["vocab_size"] == 800
    tok = load_tokenizer(tmp_path / "tokenizer" / "tokenizer")
    assert tok.decode(tok.encode(TORTURE[4]).ids) == TORTURE[4]
