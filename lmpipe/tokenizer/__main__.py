"""`python -m lmpipe.tokenizer train ...` and `python -m lmpipe.tokenizer report ...` (see lmpipe/tokenizer/train.py, report.py)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from lmpipe.tokenizer.train import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lmpipe.tokenizer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train the byte-level BPE (MeCab pre-tokenization) on corpus files")
    train.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATH",
        help="files or folders: pipeline stage outputs (Parquet shards), JSONL, text",
    )
    train.add_argument("--output", required=True, metavar="DIR", help="folder for tokenizer.json and its config")
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    train.add_argument(
        "--vocab-size",
        type=int,
        default=defaults["vocab_size"],
        help="tokens in total, special tokens and 256 bytes included (default %(default)s)",
    )
    train.add_argument("--min-frequency", type=int, default=defaults["min_frequency"])
    train.add_argument(
        "--languages",
        nargs="+",
        default=list(defaults["languages"]),
        help="languages balanced in equal shares (default: ko en)",
    )
    train.add_argument("--balance-by", choices=["chars", "bytes"], default=defaults["balance_by"])
    train.add_argument(
        "--max-chars-per-lang",
        type=int,
        default=None,
        help="cap the sample per language (default: as much as the scarcest language has)",
    )
    train.add_argument("--no-mecab", action="store_true", help="plain byte-level BPE (for comparison)")
    train.add_argument("--seed", type=int, default=defaults["seed"])
    train.add_argument(
        "--allow-smaller-vocab",
        action="store_true",
        help="a corpus too small for --vocab-size gives a smaller vocabulary instead of an error",
    )

    report = sub.add_parser("report", help="compression report: our tokenizer against reference tokenizers")
    report.add_argument(
        "--tokenizer",
        nargs="+",
        default=[None],
        metavar="PATH",
        help="our tokenizer.json(s) or folder(s) (default: the committed ko-en-102k)",
    )
    report.add_argument(
        "--text",
        nargs="+",
        required=True,
        metavar="[LABEL=]PATH",
        help="held-out text sets (JSONL/Parquet/text); label like ko-news, en-book, code-python",
    )
    report.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="PATH",
        help="reference tokenizers: tokenizer.json, vocab.json+merges.txt folder, .tiktoken, or "
        "a folder of such folders",
    )
    report.add_argument(
        "--mecab",
        choices=["default", "on", "off", "both"],
        default="both",
        help="encode ours with MeCab pre-tokenization, without, or both (default: both)",
    )
    report.add_argument("--output", required=True, metavar="DIR")
    report.add_argument("--title", default="Tokenizer compression on held-out text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lmpipe.core.readers import InputError
    from lmpipe.tokenizer.train import TrainError

    try:
        if args.command == "train":
            from lmpipe.tokenizer.train import train

            cfg = TrainConfig(
                vocab_size=args.vocab_size,
                min_frequency=args.min_frequency,
                languages=tuple(args.languages),
                balance_by=args.balance_by,
                max_chars_per_lang=args.max_chars_per_lang,
                mecab=not args.no_mecab,
                seed=args.seed,
                require_full_vocab=not args.allow_smaller_vocab,
            )
            train(args.input, args.output, cfg)
        else:
            from lmpipe.tokenizer.load import load_references, ours
            from lmpipe.tokenizer.report import measure, read_text_set, write_report

            modes = {"default": [None], "on": [True], "off": [False], "both": [False, True]}[args.mecab]
            refs = []
            for i, path in enumerate(args.tokenizer):
                suffix = "" if len(args.tokenizer) == 1 else f"-{i}"
                for mode in modes:
                    label = None if mode is None else f"ours{suffix}{'+mecab' if mode else ''}"
                    refs.append(ours(path, mecab=mode, name=label))
            for path in args.compare:
                refs.extend(load_references(path))
            texts = [read_text_set(spec) for spec in args.text]
            md = write_report(measure(refs, texts), texts, args.output, args.title)
            print(md.read_text(encoding="utf-8"))
    except (TrainError, InputError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
