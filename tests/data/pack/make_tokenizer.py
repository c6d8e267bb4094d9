"""Regenerate tests/data/pack/tokenizer.json: a 1,024-token byte-level BPE trained on the bundled samples.

    .venv/bin/python tests/data/pack/make_tokenizer.py

Only for tests of the pack stage and the training loop (the project's tokenizer is lmpipe/tokenizer/assets/ko-en-102k).
Trained on samples/corpus (see samples/SOURCES.md for origins and licenses); the file holds merges, no text.
"""

from pathlib import Path

import pyarrow.parquet as pq
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = Path(__file__).parent
SAMPLES = HERE.parents[2] / "samples" / "corpus"


def texts():
    import gzip
    import json

    for path in sorted(SAMPLES.iterdir()):
        if path.name.endswith(".jsonl.gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                yield from (json.loads(line)["text"] for line in f)
        elif path.name.endswith(".jsonl"):
            yield from (json.loads(line)["text"] for line in path.open(encoding="utf-8"))
        elif path.suffix == ".parquet":
            yield from pq.read_table(path, columns=["text"]).column("text").to_pylist()
        elif path.suffix == ".txt":
            yield path.read_text(encoding="utf-8")


def main() -> None:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=["<|end_of_text|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts(), trainer)
    tok.save(str(HERE / "tokenizer.json"))
    print(f"vocab {tok.get_vocab_size()} -> {HERE / 'tokenizer.json'}")


if __name__ == "__main__":
    main()
