"""The whole recipe as one job: each stage in order, each reading the previous stage's kept documents.

Locally (embedded Ray):     python jobs/full.py --config jobs/configs/sample.yaml
On a cluster:               ray job submit --address http://HEAD:8265 --working-dir . -- \
                                python jobs/full.py --config jobs/configs/sample.yaml
Re-running a finished job does no work; an interrupted one resumes from its unfinished tasks.
Check first:                python jobs/full.py --config FILE --dry-run   (the plan; runs nothing)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python jobs/full.py` from a plain checkout

from loguru import logger  # noqa: E402

from lmpipe.catalog import STAGES  # noqa: E402
from lmpipe.core import storage  # noqa: E402
from lmpipe.core.completion import completed_parts, read_manifest  # noqa: E402
from lmpipe.core.config import (  # noqa: E402
    ConfigError,
    deep_merge,
    from_dict,
    load_yaml,
    parse_overrides,
    settings_yaml,
)
from lmpipe.core.console import setup_console  # noqa: E402
from lmpipe.core.ledger import AccountingError  # noqa: E402
from lmpipe.core.readers import InputError  # noqa: E402
from lmpipe.core.runner import InputSpec, RunConfig, StageError, resolve_input, run_stage  # noqa: E402
from lmpipe.core.runs import interrupt_on_sigterm, resolve_output_dir  # noqa: E402
from lmpipe.report import write_run_report  # noqa: E402
from lmpipe.stages.decont.stage import DECONT_STAGE  # noqa: E402
from lmpipe.stages.dedup.run import DEDUP_STAGE  # noqa: E402
from lmpipe.stages.filter.stage import FILTER_STAGE  # noqa: E402
from lmpipe.stages.ingest.stage import INGEST_STAGE  # noqa: E402
from lmpipe.stages.pack.stage import PACK_STAGE  # noqa: E402
from lmpipe.stages.pii.stage import PII_STAGE  # noqa: E402
from lmpipe.stages.quality.stage import QUALITY_STAGE  # noqa: E402
from lmpipe.stages.tokenizer.stage import TOKENIZER_STAGE, trained_tokenizer  # noqa: E402


@dataclass(frozen=True)
class TrainRunConfig:
    """A short training run on the packed shards at the end of the job, proving they train (jobs/train.py)."""

    device: str | None = None  # None: "cuda" when a GPU is present, else no run; "cpu" forces a (slow) CPU run
    model: str = "tiny"  # a named config of lmpipe/trainer/model.py: tiny, 125m, 350m, 1b
    max_steps: int = 50
    batch_size: int = 8


@dataclass(frozen=True)
class JobConfig:
    name: str = "sample"
    output_dir: str = "runs/sample"  # relative paths: see lmpipe.core.runs.resolve_output_dir
    inputs: list[InputSpec] = field(default_factory=list)
    run: RunConfig = RunConfig(executor="ray", workers=2)
    stages: dict = field(default_factory=dict)  # stage name -> overrides of that stage's config dataclass
    train: TrainRunConfig = TrainRunConfig()


def load_job_config(path: str | None, overrides: list[str]) -> tuple[JobConfig, dict]:
    """The job's config and every stage's typed config, all validated before any stage runs (a typo in the
    last stage's settings fails now, not after seven stages)."""
    data = load_yaml(path) if path else {}
    data = deep_merge(data, parse_overrides(overrides))
    cfg = from_dict(JobConfig, data)
    unknown = set(cfg.stages) - set(STAGES)
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(sorted(unknown))} under stages; valid: {', '.join(STAGES)}")
    if not cfg.inputs:
        raise ConfigError("the job config names no inputs")
    stage_cfgs = {
        name: from_dict(stage.config_cls, dict(cfg.stages.get(name) or {}), where=f"stages.{name}")
        for name, stage in STAGES.items()
    }
    return cfg, stage_cfgs


def run_training(cfg: TrainRunConfig, run_dir: Path | str) -> int:
    device = cfg.device
    if device is None:
        probe = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.cuda.is_available())"], capture_output=True, text=True
        )
        device = "cuda" if probe.stdout.strip() == "True" else None
    if device is None:
        logger.info("no GPU (or no torch): the training run on the shards is skipped; set train.device=cpu to force")
        return 0
    if storage.is_url(run_dir):
        # the trainer memory-maps shards from a local disk: it runs on the shards' local copy
        local = storage.scratch_dir(str(run_dir))
        storage.download_tree(storage.join(run_dir, "pack", "shards"), local / "pack" / "shards")
        rc = run_training(cfg, local)
        if rc == 0:
            storage.upload_tree(local / "train", storage.join(run_dir, "train"), skip=("ckpt",))
        return rc
    log, done = run_dir / "train" / "log.jsonl", run_dir / "train" / "done.json"
    marker = json.dumps(asdict(cfg) | {"device": device}, sort_keys=True)
    if done.exists() and done.read_text() == marker:
        logger.info(f"training run already done: {log}")
        return 0
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).with_name("train.py")), "--data", str(run_dir / "pack"),
           "--model", cfg.model, "--max-steps", str(cfg.max_steps), "--batch-size", str(cfg.batch_size),
           "--device", device, "--ckpt-dir", str(run_dir / "train" / "ckpt"), "--log-file", str(log)]  # fmt: skip
    logger.info(f"training run: {' '.join(cmd)}")
    rc = subprocess.run(cmd).returncode
    if rc == 0:
        done.write_text(marker)
        print(f"training log: {log}")
    return rc


def run_recipe(cfg: JobConfig, stage: dict, out: Path | str) -> list:
    """EXAONE 3.0/3.5's order: rules, ML quality filter, dedup, decontamination, PII; then tokenizer and packing.
    Each stage reads the kept documents of the one before (`result.kept`)."""
    run = cfg.run

    def at(name: str) -> str:  # out may be a local folder or an s3:// / gs:// prefix
        return storage.join(out, name)

    ingest = run_stage(INGEST_STAGE, stage["ingest"], list(cfg.inputs), at("ingest"), run)
    filtered = run_stage(FILTER_STAGE, stage["filter"], [ingest.kept], at("filter"), run)
    quality = run_stage(QUALITY_STAGE, stage["quality"], [filtered.kept], at("quality"), run)
    deduped = run_stage(DEDUP_STAGE, stage["dedup"], [quality.kept], at("dedup"), run)
    clean = run_stage(DECONT_STAGE, stage["decont"], [deduped.kept], at("decont"), run)
    scrubbed = run_stage(PII_STAGE, stage["pii"], [clean.kept], at("pii"), run)
    tokenizer = run_stage(TOKENIZER_STAGE, stage["tokenizer"], [scrubbed.kept], at("tokenizer"), run)
    # pack with the tokenizer this job just trained, unless the config names one
    pack_cfg = stage["pack"]
    if "tokenizer" not in (cfg.stages.get("pack") or {}):
        pack_cfg = replace(pack_cfg, tokenizer=trained_tokenizer(tokenizer))
    packed = run_stage(PACK_STAGE, pack_cfg, [tokenizer.kept], at("pack"), run)
    return [ingest, filtered, quality, deduped, clean, scrubbed, tokenizer, packed]


def resolved_config_yaml(cfg: JobConfig, stage_cfgs: dict) -> str:
    """The whole config as the job will run it (every stage's settings, defaults included), as a job config YAML."""
    text = settings_yaml(replace(cfg, stages=stage_cfgs))
    if "tokenizer" not in (cfg.stages.get("pack") or {}):
        # Not `tokenizer: null`: saved and reused, that would pack with the shipped tokenizer, not the trained one.
        text = re.sub(
            r"(?m)^(  pack:\n(?:    .*\n)*?)    tokenizer: .*$",
            r"\1    # tokenizer: (unset) the job packs with the tokenizer its tokenizer stage trains",
            text,
        )
    return text


def _size(files: list[str]) -> str:
    total, unknown = 0, 0
    for f in files:
        if not storage.is_url(f):
            total += os.path.getsize(f)
        elif len(files) <= 100:  # a HEAD request each; not for a whole crawl
            total += storage.identity(f)["size"]
        else:
            unknown += 1
    return f"{len(files):,} file(s), {total / 1e6:,.1f} MB" + (
        f" (+ {unknown:,} remote, sizes not read)" if unknown else ""
    )


def _stage_state(folder: Path | str, name: str, stage_cfg) -> str:
    manifest = read_manifest(folder)
    if manifest is None:
        exists = storage.exists(folder)
        return "not run" if not exists else "not run (folder exists, no _stage.json)"
    if not manifest.get("complete"):
        return "started, not finished (a run resumes it)"
    state = "complete"
    ran = dict(manifest.get("config") or {})
    want = json.loads(json.dumps(asdict(stage_cfg), default=str))
    if name == "pack":  # the trained tokenizer is filled in at run time
        ran.pop("tokenizer", None)
        want.pop("tokenizer", None)
    if ran != want:
        state += " (with another config: the run stops there; change output_dir or remove the folder)"
    return state


def dry_run(cfg: JobConfig, stage_cfgs: dict, run_dir: Path | str) -> int:
    """The plan, without running anything or creating any folder: inputs resolved (a missing one fails now), each
    stage's output folder and whether it is already complete there, the resolved config."""
    files = [resolve_input(spec) for spec in cfg.inputs]
    all_files = [f for fs in files for f in fs]
    print(f"job {cfg.name}: dry run, nothing is run or written")
    print(f"outputs: {run_dir}")
    tasks = cfg.run.tasks or (
        "one per file" if cfg.run.bytes_per_task is None else f"files grouped by {cfg.run.bytes_per_task:,} bytes"
    )
    print(f"run: {cfg.run.executor} executor, {cfg.run.workers} worker(s), tasks: {tasks}")
    print(f"inputs: {_size(all_files)}")
    for spec, fs in zip(cfg.inputs, files):
        print(f"  {spec.path}: {_size(fs)}")
    print("stages, in order:")
    width, path_width = max(len(n) for n in STAGES), max(len(storage.join(run_dir, n)) for n in STAGES)
    previous = None
    for i, name in enumerate(STAGES, 1):  # the order of run_recipe
        folder = storage.join(run_dir, name)
        if previous is None:
            source = f"the job's inputs, {_size(all_files)}"
        else:
            try:
                parts = completed_parts(previous[1])
            except InputError:
                parts = None
            source = f"{previous[0]}'s output, " + (_size(parts) if parts else "after it runs")
        state = _stage_state(folder, name, stage_cfgs[name])
        print(f"  {i}. {name:<{width}}  {folder:<{path_width}}  [{state}]  input: {source}")
        previous = (name, folder)
    print("\nresolved config (--print-config prints only this; save it to run it as is):")
    print(resolved_config_yaml(cfg, stage_cfgs))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="jobs/configs/sample.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="e.g. run.workers=4")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the config and inputs, print the plan (stages, output folders, what is done) and exit",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config (YAML) and exit")
    parser.add_argument("--verbose", action="store_true", help="also show datatrove's per-task logs on the console")
    args = parser.parse_args(argv)
    setup_console(verbose=args.verbose)
    interrupt_on_sigterm()

    # 1) config: the job's and every stage's, checked before any work
    try:
        cfg, stage_cfgs = load_job_config(args.config, args.set)
        run_dir = resolve_output_dir(cfg.output_dir)
        if args.print_config:
            print(resolved_config_yaml(cfg, stage_cfgs))
            return 0
        if args.dry_run:
            return dry_run(cfg, stage_cfgs, run_dir)
    except (ConfigError, InputError, StageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    if not storage.is_url(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
    logger.info(f"job {cfg.name}: outputs go to {run_dir}")
    if cfg.run.executor == "ray":
        from lmpipe.core.ray_cluster import connect_or_start

        connect_or_start(cfg.run.workers)

    # 2) the stages, in the recipe's order
    try:
        results = run_recipe(cfg, stage_cfgs, run_dir)
    except (ConfigError, InputError, StageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an unwritable output folder, a full disk: which file, not a traceback
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished tasks are kept, a re-run resumes the rest", file=sys.stderr)
        return 130

    # 3) optionally, a short training run on the shards (torch runs in its own process, never in this driver)
    if run_training(cfg.train, run_dir) != 0:
        print("error: the training run on the packed shards failed", file=sys.stderr)
        return 4

    # 4) accounting across the whole job, then the report
    try:
        if storage.is_url(run_dir):  # written in the local mirror, then uploaded beside the stage folders
            local = storage.scratch_dir(run_dir)
            write_run_report(local, cfg.name, results, asdict(cfg))
            for name in ("report.md", "report.html"):
                storage.write_bytes(storage.join(run_dir, name), (local / name).read_bytes())
            report_md, report_html = storage.join(run_dir, "report.md"), storage.join(run_dir, "report.html")
        else:
            report_md, report_html = write_run_report(run_dir, cfg.name, results, asdict(cfg))
    except AccountingError as e:
        print(f"error: documents lost or duplicated: {e}", file=sys.stderr)
        return 3
    print(f"outputs: {run_dir}")
    print(f"kept documents: {results[-1].output_dir}")
    print(f"run report: {report_md}")
    print(f"run report (HTML, figures): {report_html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
