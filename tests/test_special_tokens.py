"""Literal special-token strings in documents are text in every loader of our tokenizer (issue 20 item 3).

Web text that contains "<|end_of_text|>" must not become the real EOS id: that would forge a document boundary
in the packed shards of anyone who tokenizes our data with transformers (`AutoTokenizer.from_pretrained(folder)`).
`load_tokenizer` sets encode_special_tokens=True; tokenizer_config.json says `"split_special_tokens": true` so
transformers does the same. Checked on the shipped ko-en-102k and on a tokenizer the project's trainer writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from lmpipe.stages.pack.tokenize import load_tokenizer as pack_load_tokenizer
from lmpipe.tokenizer.load import DEFAULT_TOKENIZER, load_tokenizer
from lmpipe.tokenizer.train import EOS, SPECIAL_TOKENS, TrainConfig, train

SHIPPED = DEFAULT_TOKENIZER.parent
SPECIAL_IDS = set(range(len(SPECIAL_TOKENS)))  # ids 0..15, asserted by the trainer

EVERY_SPECIAL = " ".join(SPECIAL_TOKENS)
TEXTS = [
    f"a web page that quotes {EVERY_SPECIAL} in its text",
    "".join(SPECIAL_TOKENS),  # back to back, no spaces
    f"word{EOS}word",
    f"문서의 끝{EOS}다음 문서가 아니다. 특수 토큰: {EVERY_SPECIAL}",
    f"{EOS}\n\n{SPECIAL_TOKENS[0]}at the start and the end{SPECIAL_TOKENS[-1]}",
    "<|end_of_text |> <| end_of_text|> <|END_OF_TEXT|> <|reserved_13|> <|reserved_|>",  # near misses
]


def _transformers_tokenizers(folder: Path) -> dict:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    return {
        "AutoTokenizer": AutoTokenizer.from_pretrained(str(folder)),  # a local folder: no hub access
        "PreTrainedTokenizerFast": PreTrainedTokenizerFast.from_pretrained(str(folder)),
    }


def _assert_same_ids_and_no_special(folder: Path) -> None:
    ours = load_tokenizer(folder)
    packer, eos_id = pack_load_tokenizer(str(folder / "tokenizer.json"), EOS)
    assert eos_id == 1
    expected = [ours.encode(t, add_special_tokens=False).ids for t in TEXTS]
    assert [packer.encode(t, add_special_tokens=False).ids for t in TEXTS] == expected
    for ids in expected:
        assert not SPECIAL_IDS & set(ids)
    for name, hf in _transformers_tokenizers(folder).items():
        assert hf.split_special_tokens, name
        assert hf.eos_token == EOS and hf.eos_token_id == 1, name
        for text, ids in zip(TEXTS, expected):
            assert hf.encode(text, add_special_tokens=False) == ids, (name, text)
            assert hf.encode(text) == ids, (name, text)  # add_bos/add_eos false: nothing is added
            assert hf.decode(ids) == text, (name, text)
        assert hf(TEXTS)["input_ids"] == expected, name  # the batch call, as a data loader uses it
        # The special tokens themselves still exist and decode: only text never produces them.
        assert hf.convert_ids_to_tokens(sorted(SPECIAL_IDS)) == list(SPECIAL_TOKENS), name


def test_shipped_tokenizer_config_splits_special_tokens():
    config = json.loads((SHIPPED / "tokenizer_config.json").read_text())
    assert config["split_special_tokens"] is True


def test_shipped_tokenizer_encodes_literal_special_tokens_as_text_in_transformers():
    _assert_same_ids_and_no_special(SHIPPED)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny tokenizer from the project's trainer on a few documents (under a second)."""
    tmp = tmp_path_factory.mktemp("special")
    rows = [
        {"id": f"k{i}", "text": "오늘 나는 학교에서 공부했다. 내일은 도서관에 간다.", "lang": "ko"} for i in range(50)
    ]
    rows += [
        {"id": f"e{i}", "text": "Today I studied at school. Tomorrow I go to the library.", "lang": "en"}
        for i in range(50)
    ]
    rows += [{"id": f"x{i}", "text": f"a forged boundary {EOS} inside training text", "lang": "en"} for i in range(20)]
    corpus = tmp / "docs.jsonl"
    corpus.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp / "tok"
    train([str(corpus)], out, TrainConfig(vocab_size=400, min_frequency=1, require_full_vocab=False))
    return out


def test_trained_tokenizer_config_splits_special_tokens(trained):
    config = json.loads((trained / "tokenizer_config.json").read_text())
    assert config["split_special_tokens"] is True


def test_trained_tokenizer_encodes_literal_special_tokens_as_text_in_transformers(trained):
    _assert_same_ids_and_no_special(trained)
