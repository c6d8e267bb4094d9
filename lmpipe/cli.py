"""`python -m lmpipe run STAGE --input PATH ... --output DIR`: one stage, locally or on a Ray cluster.
`python -m lmpipe config [STAGE]`: every setting of a stage (or of the job), its default and what it means."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from loguru import logger

from lmpipe.catalog import STAGES
from lmpipe.core.config import (
    ConfigError,
    deep_merge,
    describe,
    from_dict,
    load_yaml,
    parse_overrides,
    settings_yaml,
    yaml_value,
)
from lmpipe.core.console import setup_console
from lmpipe.core.readers import InputError
from lmpipe.core.runner import InputSpec, RunConfig, StageError, run_stage
from lmpipe.core.runs import interrupt_on_sigterm


def _stage_list() -> str:
    width = max(len(n) for n in STAGES)
    return "stages:\n" + "\n".join(f"  {name:<{width}}  {stage.summary}" for name, stage in STAGES.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lmpipe",
        description="Korean/English pretraining-data pipeline: run one stage on local files.",
        epilog=_stage_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run one stage",
        description="Run one stage on local files (or s3:// inputs). `python -m lmpipe config STAGE` lists the "
        "stage's settings with their defaults and meaning; `--format yaml` writes them as a file for --config.",
        epilog=_stage_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("stage", help="stage name (see the list below)")
    run.add_argument("--input", nargs="+", required=True, metavar="PATH", help="files or folders to read")
    run.add_argument("--output", required=True, metavar="DIR", help="output folder of the stage")
    run.add_argument("--config", metavar="FILE", help="YAML with this stage's settings (or a job config)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    run.add_argument("--workers", type=int, default=1, help="tasks run at once (default 1)")
    run.add_argument("--tasks", type=int, default=None, help="number of tasks (default: one per input file)")
    run.add_argument("--executor", choices=["local", "ray"], default="local")
    run.add_argument("--source", help="source name for the documents (default: the record's or file's)")
    run.add_argument("--lang", help="language code when the input is known to be one language")
    run.add_argument("--no-excluded-text", action="store_true", help="record excluded ids and reasons only")
    run.add_argument("--overwrite", action="store_true", help="replace output of a different earlier run")
    run.add_argument("--verbose", action="store_true", help="also show datatrove's per-task logs on the console")
    config = sub.add_parser(
        "config",
        help="list a stage's settings (or the job's) with defaults and comments",
        description="Every setting of STAGE's config (nested ones as dotted keys, as --set takes them), its default "
        "and the comment beside it in the source. Without STAGE: the job config of jobs/full.py and the stages.",
        epilog=_stage_list(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config.add_argument("stage", nargs="?", help="stage name (default: the job config)")
    config.add_argument(
        "--format",
        choices=["text", "yaml"],
        default="text",
        dest="fmt",
        help="yaml: a file to save, edit and pass to --config (comments kept)",
    )
    export = sub.add_parser(
        "export",
        help="convert the pack stage's shards for another trainer (llm.c, Megatron-LM, datatrove)",
        description="Convert the pack stage's token shards (+ document index) for another trainer; docs/FORMATS.md.",
    )
    export.add_argument("--format", required=True, choices=["llmc", "megatron", "datatrove"], dest="fmt")
    export.add_argument("--input", required=True, metavar="PACK_DIR", help="the pack stage's output (or its shards/)")
    export.add_argument("--output", required=True, metavar="DIR", help="folder for the exported files")
    export.add_argument("--split", nargs="+", choices=["train", "val"], default=["train", "val"])
    return parser


def _export(args) -> int:
    from lmpipe.export import ExportError, export
    from lmpipe.trainer.shards import ShardError

    try:
        result = export(args.fmt, args.input, args.output, splits=args.split)
    except (ExportError, ShardError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, split in result["splits"].items():
        logger.info(f"export {args.fmt}: {name}: {split['documents']:,} documents, {split['tokens']:,} tokens")
    logger.info(f"exported to {args.output}; manifest in {args.output}/export.json")
    return 0


def _settings_text(obj, width: int = 48) -> str:
    """`key = value  # comment [type]`, one setting a line; a nested group as `key.*  # what it is`."""
    lines = []
    for setting in describe(obj):
        if setting.group:
            lines.append(
                f"{setting.key + '.*':<{width}}  # {setting.comment}" if setting.comment else f"{setting.key}.*"
            )
            continue
        left = f"{setting.key} = {yaml_value(setting.value)}"
        note = f"{setting.comment} [{setting.type}]" if setting.comment else f"[{setting.type}]"
        lines.append(f"{left:<{width}}  # {note}")
    return "\n".join(lines)


def load_job_module():
    """jobs/full.py of this checkout (the job config lives there, beside the recipe)."""
    path = Path(__file__).resolve().parent.parent / "jobs" / "full.py"
    if not path.is_file():
        raise ConfigError(f"no job script at {path}: the job config is in jobs/full.py of a checkout")
    name = "lmpipe_jobs_full"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before exec: dataclasses and get_type_hints look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def _config(args) -> int:
    from dataclasses import replace

    if args.stage is not None:
        if args.stage not in STAGES:
            print(f"error: unknown stage '{args.stage}'\n{_stage_list()}", file=sys.stderr)
            return 2
        stage = STAGES[args.stage]
        cls = stage.config_cls
        where = f"{cls.__module__}.{cls.__name__}"
        if args.fmt == "yaml":
            print(f"# {args.stage}: {stage.summary}")
            print(f"# settings of {where}, defaults; use: python -m lmpipe run {args.stage} --config FILE ...")
            print(f"# (or put them under stages.{args.stage} of a job config). Keep only what you change.")
            print(settings_yaml(cls))
            return 0
        print(f"{args.stage}: {stage.summary}")
        print(f"settings of {where}, with defaults; set one with `--set KEY=VALUE` (run {args.stage}) or")
        print(f"`stages.{args.stage}.KEY` in a job config; `--format yaml` writes them all as a file for --config\n")
        print(_settings_text(cls))
        return 0
    job = load_job_module()
    if args.fmt == "yaml":
        print("# The job config of jobs/full.py, defaults; every stage's settings under stages.<name>.")
        print("# Use: python jobs/full.py --config FILE. Keep only what you change; add inputs, e.g.")
        print("#   inputs: [{path: samples/corpus}, {path: warc.paths.gz, base_url: 's3://commoncrawl/'}]")
        cfg = replace(job.JobConfig(), stages={name: stage.config_cls() for name, stage in STAGES.items()})
        print(settings_yaml(cfg))
        return 0
    print("job config of jobs/full.py (python jobs/full.py --config FILE --set KEY=VALUE), with defaults\n")
    print(_settings_text(job.JobConfig()))
    print("\neach of inputs (a list: inputs: [{path: samples/corpus}, ...]):")
    print("\n".join(f"  {line}" for line in _settings_text(InputSpec("PATH"), width=46).splitlines()))
    print("\nstages (settings under stages.<name>; `python -m lmpipe config <name>` lists them), in the job's order:")
    width = max(len(n) for n in STAGES)
    print("\n".join(f"  {name:<{width}}  {stage.summary}" for name, stage in STAGES.items()))
    return 0


def stage_config(stage_name: str, config_file: str | None, overrides: list[str]):
    stage = STAGES[stage_name]
    data: dict = {}
    if config_file:
        data = load_yaml(config_file)
        # A job config holds every stage's settings under `stages:`; a stage config is the mapping itself.
        if "stages" in data:
            data = (data["stages"] or {}).get(stage_name) or {}
    # `--set decont.benchmarks=X` and `--set benchmarks=X` mean the same for `run decont`.
    overrides = [o.removeprefix(f"{stage_name}.") for o in overrides]
    data = deep_merge(data, parse_overrides(overrides))
    return from_dict(stage.config_cls, data, where=stage_name)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_console(verbose=getattr(args, "verbose", False))
    interrupt_on_sigterm()
    if args.command == "export":
        return _export(args)
    if args.command == "config":
        try:
            return _config(args)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if args.stage not in STAGES:
        print(f"error: unknown stage '{args.stage}'\n{_stage_list()}", file=sys.stderr)
        return 2
    try:
        cfg = stage_config(args.stage, args.config, args.set)
        run = RunConfig(
            executor=args.executor,
            workers=args.workers,
            tasks=args.tasks,
            keep_excluded_text=not args.no_excluded_text,
        )
        inputs = [InputSpec(path=p, source=args.source, lang=args.lang) for p in args.input]
        if args.executor == "ray":
            from lmpipe.core.ray_cluster import connect_or_start

            connect_or_start(args.workers)
        result = run_stage(STAGES[args.stage], cfg, inputs, args.output, run, overwrite=args.overwrite)
    except (ConfigError, InputError, StageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output that is unwritable, a full disk: say which file, not a traceback
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished tasks are kept, a re-run resumes the rest", file=sys.stderr)
        return 130
    logger.info(f"outputs in {result.output_dir}; stats in {result.output_dir / 'stats.json'}")
    return 0
