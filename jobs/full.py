"""The whole pipeline as one job: every stage in order, each reading the previous stage's kept documents.

Locally (embedded Ray):     python jobs/full.py --config jobs/configs/sample.yaml
On a cluster:               ray job submit --address http://HEAD:8265 --working-dir . -- \
                                python jobs/full.py --config jobs/configs/sample.yaml
Re-running a finished job does no work; an interrupted one resumes from its unfinished tasks.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python jobs/full.py` from a plain checkout

from loguru import logger  # noqa: E402

from pipeline.config import ConfigError, deep_merge, from_dict, load_yaml, parse_overrides  # noqa: E402
from pipeline.readers import InputError  # noqa: E402
from pipeline.ledger import AccountingError  # noqa: E402
from pipeline.report import write_run_report  # noqa: E402
from pipeline.runs import resolve_output_dir  # noqa: E402
from pipeline.stage import InputSpec, RunConfig, StageError, run_stage  # noqa: E402
from pipeline.stages import STAGES  # noqa: E402

# Every stage, in the recipe's order (pipeline/stages.py lists them so).
STAGE_ORDER = list(STAGES)


@dataclass(frozen=True)
class JobConfig:
    name: str = "sample"
    output_dir: str = "runs/sample"  # relative paths: see pipeline.runs.resolve_output_dir
    inputs: list[InputSpec] = field(default_factory=list)
    run: RunConfig = RunConfig(executor="ray", workers=2)
    stages: dict = field(default_factory=dict)  # stage name -> overrides of that stage's config dataclass


def load_job_config(path: str | None, overrides: list[str]) -> JobConfig:
    data = load_yaml(path) if path else {}
    data = deep_merge(data, parse_overrides(overrides))
    cfg = from_dict(JobConfig, data)
    unknown = set(cfg.stages) - set(STAGES)
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(sorted(unknown))} under stages; valid: {', '.join(STAGES)}")
    if not cfg.inputs:
        raise ConfigError("the job config names no inputs")
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="jobs/configs/sample.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="e.g. run.workers=4")
    args = parser.parse_args(argv)

    # 1) config
    try:
        cfg = load_job_config(args.config, args.set)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run_dir = resolve_output_dir(cfg.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    logger.info(f"job {cfg.name}: outputs go to {run_dir}")
    if cfg.run.executor == "ray":
        from pipeline.ray_cluster import connect_or_start

        connect_or_start(cfg.run.workers)

    # 2) stages, in order, each on the previous one's output
    results = []
    inputs = list(cfg.inputs)
    trained_tokenizer = None
    try:
        for name in STAGE_ORDER:
            stage = STAGES[name]
            overrides = dict(cfg.stages.get(name) or {})
            if name == "pack" and "tokenizer" not in overrides and trained_tokenizer:
                overrides["tokenizer"] = trained_tokenizer  # pack with the tokenizer this job just trained
            stage_cfg = from_dict(stage.config_cls, overrides, where=f"stages.{name}")
            result = run_stage(stage, stage_cfg, inputs, run_dir / name, cfg.run)
            results.append(result)
            if name == "tokenizer":
                trained_tokenizer = result.stats["tokenizer"]["path"]
            inputs = [InputSpec(path=str(result.output_dir))]
    except (ConfigError, InputError, StageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    # 3) accounting across the whole job, then the report
    try:
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
