"""The one abstraction for a stage, and the runner that executes it locally or on Ray.

A stage is a list of datatrove steps (our filters and transforms, or datatrove's own) that the runner wraps
between a reader and a writer:

    CorpusReader -> step 1 -> ... -> step n -> DocumentWriter       (filters get an ExcludedWriter each)

and runs as `tasks` datatrove tasks under `LocalPipelineExecutor` (local) or `RayTaskExecutor` (inside a Ray
job). Resumability is datatrove's: a completion marker per finished task; a finished stage (stats.json present
for the same inputs and config) is not run again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from loguru import logger

from lmpipe.core.ledger import Ledger, merge_ledgers, write_json_atomic
from lmpipe.core.readers import CorpusReader, InputSource, RecordKeys, resolve_inputs
from lmpipe.core.writers import DocumentWriter, ExcludedWriter


class StageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Stage:
    """A named stage: its config dataclass and a function that builds its steps from that config."""

    name: str
    summary: str  # one line, shown by `python -m lmpipe --help`
    config_cls: type
    build: Callable[[Any], list[PipelineStep]]
    # Optional, runs once after all tasks, in the driver: (output dir, config, stats) -> extra stats to merge into
    # stats.json (for example a stage's report.md built from its outputs). Must be idempotent.
    finalize: Callable[[Path, Any, dict], dict | None] | None = None
    # Optional, runs once before the per-document pass, in the driver, over the whole input: for stages whose
    # decision needs every document first (dedup's signature and clustering phases). Gets (config, input sources,
    # task count, output dir, run config) and returns the build function the per-document pass uses instead of
    # `build`. Must resume its own intermediate work (under DIR) if interrupted.
    prepare: Callable[[Any, list[InputSource], int, Path, RunConfig], Callable[[Any], list[PipelineStep]]] | None = (
        None
    )


@dataclass(frozen=True)
class RunConfig:
    """How a stage runs, as opposed to what it does."""

    executor: Literal["local", "ray"] = "local"
    workers: int = 1  # tasks running at once; size it to the cores (each task is one process)
    tasks: int | None = None  # number of tasks (input files are split among them); None: one per file, max 64
    keep_excluded_text: bool = True  # write the text of excluded documents to DIR/excluded (off for huge runs)
    ray_mem_per_task_gb: float = 2.0  # memory Ray reserves for each task


@dataclass(frozen=True)
class InputSpec:
    """One input of a job: a file or folder, and what to record about its documents."""

    path: str
    source: str | None = None  # default: the record's own "source" field, else the file name
    lang: str | None = None  # set when a corpus is known to be one language and records don't say
    text_key: str = "text"
    id_key: str = "id"


@dataclass
class StageResult:
    stage: str
    output_dir: Path
    stats: dict
    skipped_run: bool = False  # True when the stage was already complete and did no work

    @property
    def kept(self) -> InputSpec:
        """This stage's kept documents as the next stage's input."""
        return InputSpec(path=str(self.output_dir))


def fingerprint(stage: Stage, cfg: Any, inputs: list[InputSpec], files: list[str]) -> str:
    # Names and sizes, not absolute paths: a Ray job runs in a copy of the working dir, at another path.
    h = hashlib.sha256()
    h.update(json.dumps([stage.name, asdict(cfg), [asdict(i) | {"path": None} for i in inputs]], default=str).encode())
    for f in files:
        p = Path(f)
        h.update(f"{p.name}\0{p.stat().st_size}\0".encode())
    return h.hexdigest()[:16]


def _step_slug(step: PipelineStep, index: int) -> str:
    slug = getattr(step, "slug", None) or type(step).__name__.lower()
    return f"{index:02d}-{slug}"


def input_sources(inputs: list[InputSpec], files_per_input: list[list[str]]) -> list[InputSource]:
    return [
        InputSource(tuple(files), RecordKeys(text=spec.text_key, id=spec.id_key), spec.source, spec.lang)
        for spec, files in zip(inputs, files_per_input)
    ]


def build_pipeline(
    stage_name: str, steps: list[PipelineStep], sources: list[InputSource], out: Path, run: RunConfig
) -> list[PipelineStep]:
    """CorpusReader -> steps -> DocumentWriter, sharing one ledger; every filter gets its own ExcludedWriter."""
    ledger = Ledger()
    for i, step in enumerate(steps):
        if isinstance(step, BaseFilter):
            step.exclusion_writer = ExcludedWriter(
                str(out), _step_slug(step, i), stage_name, ledger, keep_text=run.keep_excluded_text
            )
    reader = CorpusReader(sources, ledger, str(out / "skipped"), label=stage_name)
    return [reader] + steps + [DocumentWriter(str(out), ledger)]


def run_stage(
    stage: Stage,
    cfg: Any,
    inputs: list[InputSpec],
    output_dir: str | Path,
    run: RunConfig = RunConfig(),
    overwrite: bool = False,
) -> StageResult:
    """Run one stage over `inputs` into `output_dir`; returns its stats (also written to DIR/stats.json)."""
    out = Path(output_dir).resolve()
    files_per_input = [resolve_inputs([spec.path]) for spec in inputs]
    all_files = [f for files in files_per_input for f in files]
    fp = fingerprint(stage, cfg, inputs, all_files)
    marker = out / "_stage.json"
    if marker.exists():
        previous = json.loads(marker.read_text())
        if previous.get("fingerprint") != fp:
            if not overwrite:
                raise StageError(
                    f"{out} holds output of a different run of '{previous.get('stage')}' (other inputs or config); "
                    "choose another output directory or pass --overwrite"
                )
            logger.warning(f"overwriting {out}: inputs or config changed")
            shutil.rmtree(out)
        elif (out / "stats.json").exists():
            stats = json.loads((out / "stats.json").read_text())
            logger.info(f"stage {stage.name}: already complete in {out}, nothing to do")
            return StageResult(stage.name, out, stats, skipped_run=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(marker, {"stage": stage.name, "fingerprint": fp, "config": asdict(cfg), "inputs": all_files})

    started = time.time()
    sources = input_sources(inputs, files_per_input)
    tasks = run.tasks or max(1, min(len(all_files), 64))
    build = stage.build if stage.prepare is None else stage.prepare(cfg, sources, tasks, out, run)
    pipeline = build_pipeline(stage.name, build(cfg), sources, out, run)
    executor = _make_executor(pipeline, tasks, out, run)
    logger.info(f"stage {stage.name}: {len(all_files)} file(s), {tasks} task(s), {run.workers} worker(s) -> {out}")
    executor.run()
    incomplete = executor.get_incomplete_ranks()
    if incomplete:
        raise StageError(
            f"stage {stage.name}: tasks {incomplete[:10]} did not complete; see logs in {out / '_logs' / 'logs'}"
        )
    ledgers = [out / "_ledger" / f"{rank:05d}.json" for rank in range(tasks)]
    stats = {"stage": stage.name, "output_dir": str(out), "tasks": tasks, "files": len(all_files)}
    stats |= merge_ledgers(ledgers)
    if stage.finalize is not None:
        stats |= stage.finalize(out, cfg, stats) or {}
    stats["wall_seconds"] = round(time.time() - started, 3)
    stats["config"] = asdict(cfg)
    write_json_atomic(out / "stats.json", stats)
    stats = json.loads((out / "stats.json").read_text())  # what a later run reads back (tuples become lists)
    logger.info(
        f"stage {stage.name}: {stats['docs_in']:,} in, {stats['docs_out']:,} kept, "
        f"{stats['docs_excluded']:,} excluded, {sum(stats['skipped_input'].values()):,} input records skipped "
        f"in {stats['wall_seconds']:.1f}s"
    )
    return StageResult(stage.name, out, stats)


def _make_executor(pipeline: list[PipelineStep], tasks: int, out: Path, run: RunConfig):
    logging_dir = str(out / "_logs")
    if run.executor == "ray":
        from lmpipe.core.ray_executor import RayTaskExecutor  # why not datatrove's RayPipelineExecutor: see there

        return RayTaskExecutor(
            pipeline,
            tasks=tasks,
            workers=run.workers,
            logging_dir=logging_dir,
            mem_per_task_gb=run.ray_mem_per_task_gb,
        )
    from datatrove.executor.local import LocalPipelineExecutor

    # workers=1 runs in this process (no pickling, fast start); more use a forkserver pool of task processes.
    return LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(run.workers, tasks), logging_dir=logging_dir)
