"""`python -m pipeline.dedup --input PATH ... --output DIR`: the dedup stage, with the options of
`python -m pipeline run`, until that command dispatches `dedup` to `run_dedup` (see docs/notes/issue-6.md)."""

from __future__ import annotations

import argparse
import sys

from loguru import logger

from pipeline.config import ConfigError, deep_merge, from_dict, load_yaml, parse_overrides
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.run import run_dedup
from pipeline.readers import InputError
from pipeline.stage import InputSpec, RunConfig, StageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.dedup", description=__doc__)
    parser.add_argument("--input", nargs="+", required=True, metavar="PATH", help="files or folders to read")
    parser.add_argument("--output", required=True, metavar="DIR", help="output folder of the stage")
    parser.add_argument("--config", metavar="FILE", help="YAML with dedup settings (or a job config)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--workers", type=int, default=1, help="tasks run at once (default 1)")
    parser.add_argument("--tasks", type=int, default=None, help="number of input tasks (default: one per file)")
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--source", help="source name for the documents (default: the record's or file's)")
    parser.add_argument("--lang", help="language code when the input is known to be one language")
    parser.add_argument("--no-excluded-text", action="store_true", help="record excluded ids and reasons only")
    parser.add_argument("--overwrite", action="store_true", help="replace output of a different earlier run")
    return parser


def dedup_config(config_file: str | None, overrides: list[str]) -> DedupConfig:
    data: dict = load_yaml(config_file) if config_file else {}
    if "stages" in data:  # a job config: this stage's settings are under stages.dedup
        data = (data["stages"] or {}).get("dedup") or {}
    data = deep_merge(data, parse_overrides([o.removeprefix("dedup.") for o in overrides]))
    return from_dict(DedupConfig, data, where="dedup")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = dedup_config(args.config, args.set)
        run = RunConfig(
            executor=args.executor,
            workers=args.workers,
            tasks=args.tasks,
            keep_excluded_text=not args.no_excluded_text,
        )
        inputs = [InputSpec(path=p, source=args.source, lang=args.lang) for p in args.input]
        result = run_dedup(cfg, inputs, args.output, run, overwrite=args.overwrite)
    except (ConfigError, InputError, StageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logger.info(f"outputs in {result.output_dir}; report in {result.output_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
