"""Command line of the quality classifier.

    # reference URLs (Wikipedia XML dump, Wikipedia Citations CSV, or a URL list) -> normalized keys
    python -m filters.classifier urls enwiki-pages-articles.xml.bz2 --out refs.txt
    # LLaMA recipe: cited crawl pages against random crawl pages
    python -m filters.classifier train --references refs.txt --crawl runs/x/ingest --out models/wikiref
    # explicit corpora (e.g. Wikipedia text against random crawl), hyper-parameters overridden
    python -m filters.classifier train --positive wiki/ --negative crawl/ --out models/q --set train.epoch=5
    # the small model shipped in filters/classifier/assets/, from the shared data directory
    python -m filters.classifier shipped --data ../shared/data --out filters/classifier/assets

Then `python -m pipeline run quality --input DIR --output DIR --set model_path=models/q/model.bin`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.config import ConfigError, from_dict, parse_overrides


def _configs(overrides: list[str]):
    from filters.classifier.fasttext_model import TrainConfig
    from filters.classifier.train import BuildConfig

    data = parse_overrides(overrides)
    unknown = set(data) - {"train", "build"}
    if unknown:
        raise ConfigError(f"--set keys start with train. or build., got {sorted(unknown)}")
    return from_dict(TrainConfig, data.get("train", {}), "train"), from_dict(BuildConfig, data.get("build", {}), "build")


def cmd_urls(args) -> int:
    from filters.classifier.urls import reference_keys

    keys, stats = reference_keys(args.inputs, refs_only=args.refs_only)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(f"{k}\n" for k in sorted(keys)), encoding="utf-8")
    tmp.replace(out)
    print(f"{stats['urls']:,} URLs read, {stats['not_web_url']:,} not http(s), {stats['keys']:,} distinct keys -> {out}")
    return 0


def cmd_train(args) -> int:
    from filters.classifier import dataset
    from filters.classifier.train import run_training
    from filters.classifier.urls import reference_keys

    train_cfg, build_cfg = _configs(args.set)
    if args.references:
        if not args.crawl:
            raise ConfigError("--references needs --crawl (the crawl to find the cited pages in)")
        keys, _ = reference_keys(args.references)
        report = dataset.BuildReport(recipe="cited (LLaMA): crawl pages cited by Wikipedia vs random crawl pages")
        examples = dataset.examples_from_citations(
            args.crawl, keys, report, build_cfg.negatives_per_positive, build_cfg.max_negatives, build_cfg.seed
        )
    elif args.positive and args.negative:
        report = dataset.BuildReport(recipe="corpora: explicit positive corpus vs negative corpus")
        examples = dataset.examples_from_corpora(args.positive, args.negative, report, build_cfg.chunk_chars)
    else:
        raise ConfigError("give --references and --crawl (LLaMA recipe), or --positive and --negative")
    metrics = run_training(examples, report, args.out, train_cfg, build_cfg, description=args.description or "")
    print(f"held-out: precision {metrics['precision']:.3f} recall {metrics['recall']:.3f} F1 {metrics['f1']:.3f} "
          f"ROC-AUC {metrics['roc_auc']:.3f} -> {args.out}/MODEL_CARD.md")  # fmt: skip
    return 0


def cmd_shipped(args) -> int:
    from filters.classifier.shipped import build_shipped

    build_shipped(args.data, args.out, args.set)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m filters.classifier", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("urls", help="extract and normalize reference URLs")
    p.add_argument("inputs", nargs="+", help="*.xml[.bz2|.gz] dump, *.csv[.gz] Wikipedia Citations, or URL list")
    p.add_argument("--out", required=True)
    p.add_argument("--refs-only", action="store_true", help="dump: only URLs inside <ref> tags")
    p.set_defaults(func=cmd_urls)
    p = sub.add_parser("train", help="build the training set, train, evaluate, write the model folder")
    p.add_argument("--out", required=True, help="model folder (model.bin, model.json, MODEL_CARD.md, curves.png)")
    p.add_argument("--positive", nargs="+", help="corpora recipe: positive files/folders")
    p.add_argument("--negative", nargs="+", help="corpora recipe: negative files/folders")
    p.add_argument("--references", nargs="+", help="cited recipe: reference URL files (see `urls`)")
    p.add_argument("--crawl", nargs="+", help="cited recipe: crawl documents with `url` (e.g. ingest output)")
    p.add_argument("--description", help="one paragraph for the model card: what the data is")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="train.epoch=5, build.seed=2")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("shipped", help="train the small model shipped in filters/classifier/assets")
    p.add_argument("--data", default="../shared/data", help="the shared data directory")
    p.add_argument("--out", default=str(Path(__file__).parent / "assets"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_shipped)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
