"""Command line of the quality classifier.

    # reference URLs (Wikipedia XML dump, Wikipedia Citations CSV, or a URL list) -> normalized keys
    python -m lmpipe.stages.quality urls enwiki-pages-articles.xml.bz2 --out refs.txt
    # LLaMA recipe: cited crawl pages against random crawl pages
    python -m lmpipe.stages.quality train --references refs.txt --crawl runs/x/ingest --out models/wikiref
    # explicit corpora (e.g. Wikipedia text against random crawl), hyper-parameters overridden
    python -m lmpipe.stages.quality train --positive wiki/ --negative crawl/ --out models/q --set train.epoch=5
    # the small model shipped in lmpipe/stages/quality/assets/, from the shared data directory
    python -m lmpipe.stages.quality shipped --data ../shared/data --out lmpipe/stages/quality/assets

Then `python -m lmpipe run quality --input DIR --output DIR --set model_path=models/q/model.bin`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmpipe.core.config import ConfigError


def cmd_urls(args) -> int:
    from lmpipe.stages.quality.urls import reference_keys

    keys, stats = reference_keys(args.inputs, refs_only=args.refs_only)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(f"{k}\n" for k in sorted(keys)), encoding="utf-8")
    tmp.replace(out)
    print(
        f"{stats['urls']:,} URLs read, {stats['not_web_url']:,} not http(s), {stats['keys']:,} distinct keys -> {out}"
    )
    return 0


def cmd_train(args) -> int:
    from lmpipe.stages.quality import dataset
    from lmpipe.stages.quality.train import configs_from_overrides, run_training
    from lmpipe.stages.quality.urls import reference_keys

    train_cfg, build_cfg = configs_from_overrides(args.set)
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
    from lmpipe.stages.quality.shipped import build_shipped

    build_shipped(args.data, args.out, args.set)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmpipe.stages.quality", description=__doc__,
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
    p = sub.add_parser("shipped", help="train the small model shipped in lmpipe/stages/quality/assets")
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
