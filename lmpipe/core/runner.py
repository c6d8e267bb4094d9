"""The one abstraction for a stage, and the runner that executes it locally or on Ray.

A stage is a list of datatrove steps (our filters and transforms, or datatrove's own) that the runner wraps
between a reader and a writer:

    CorpusReader -> step 1 -> ... -> step n -> DocumentWriter       (filters get an ExcludedWriter each)

and runs as `tasks` datatrove tasks under `LocalPipelineExecutor` (local) or `RayTaskExecutor` (inside a Ray
job). Resumability is datatrove's: a completion marker per finished task; a finished stage (stats.json present
for the same inputs and config) is not run again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from loguru import logger

from lmpipe.core import slices, storage
from lmpipe.core.card import write_card
from lmpipe.core.completion import (
    FolderLock,
    LockedError,
    completed_parts,
    file_hashes,
    make_ref,
    part_entries,
    read_manifest,
)
from lmpipe.core.config import ConfigError
from lmpipe.core.ledger import Ledger, merge_ledgers, write_json_atomic
from lmpipe.core.readers import CorpusReader, InputError, InputSource, RecordKeys, file_format, resolve_inputs
from lmpipe.core.steps import Filter, Transform
from lmpipe.core.tasks import WorkersDiedError
from lmpipe.core.writers import DocumentWriter, ExcludedWriter


class StageError(RuntimeError):
    pass


@dataclass(frozen=True)
class StageFolder:
    """Where a stage's outputs live, and the local folder its driver-side work uses.

    `location` is a local folder or an object-storage URL. Tasks, wherever they run, read and write there: the
    per-document passes' parts (lmpipe.core.writers), and the barrier phases' work files (dedup's _dedup/, pack's
    _pack/), so the nodes of a cluster share nothing but the bucket. What runs in the driver alone (tokenizer
    training, pack's document index, the stage reports) works in `local`: the location itself, or for a URL a scratch
    mirror on the driver's machine whose results are published to the bucket."""

    location: str
    local: Path

    @classmethod
    def at(cls, location: str | Path) -> StageFolder:
        if storage.is_url(location):
            return cls(str(location).rstrip("/"), storage.scratch_dir(str(location)))
        path = Path(location).resolve()
        return cls(str(path), path)

    @property
    def remote(self) -> bool:
        return storage.is_url(self.location)

    def path(self, *rel: str) -> str:
        return storage.join(self.location, *rel)

    def publish(self, skip: tuple[str, ...] = ()) -> None:
        """Upload what driver-side work wrote in `local` (not `skip`'s top folders) when remote."""
        if self.remote:
            storage.upload_tree(self.local, self.location, skip)

    def as_location(self, value):
        """`value` (stats from finalize) with local mirror paths replaced by the location's."""
        if not self.remote:
            return value
        if isinstance(value, str):
            return self.location + value[len(str(self.local)) :] if value.startswith(str(self.local)) else value
        if isinstance(value, dict):
            return {k: self.as_location(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.as_location(v) for v in value]
        return value


@dataclass(frozen=True)
class Stage:
    """A named stage: its config dataclass and a function that builds its steps from that config."""

    name: str
    summary: str  # one line, shown by `python -m lmpipe --help`
    config_cls: type
    build: Callable[[Any], list[PipelineStep]]
    # Optional, runs once after all tasks, in the driver: (stage folder, config, stats, run config) -> extra stats
    # to merge into stats.json (a stage's report.md from what its tasks tallied, see `account`; pack's shards:
    # barrier work that runs its own tasks through lmpipe.core.tasks.TaskRunner with the run config). Must be
    # idempotent, and must not read the stage's parts back (that grows with the corpus). folder.local is always a
    # local folder (for an object-storage output a mirror); what finalize writes there is published to the bucket
    # afterwards. Work files its tasks share go under folder.path(...), the location itself, so that those tasks
    # can run on any node.
    finalize: Callable[[StageFolder, Any, dict, RunConfig], dict | None] | None = None
    # Optional, runs once before the per-document pass, in the driver, over the whole input: for stages whose
    # decision needs every document first (dedup's signature and clustering phases). Gets (config, input sources,
    # task count, stage folder, run config) and returns the build function the per-document pass uses instead of
    # `build`. Its tasks work under folder.path(...) (a bucket too) and resume if interrupted.
    prepare: (
        Callable[[Any, list[InputSource], int, StageFolder, RunConfig], Callable[[Any], list[PipelineStep]]] | None
    ) = None
    # True for a stage that decides nothing per document (tokenizer training): when every input is a finished
    # stage folder, there is no per-document pass and nothing is copied; the stage's kept documents are its
    # inputs' part files, listed by reference in its manifest (`"path"` entries), and its accounting is its
    # inputs' stats.json. Other inputs (raw files) go through the usual pass, which puts them in the schema.
    passthrough: bool = False
    # Optional, called in the tasks for every document the stage keeps or excludes, as its writers record it:
    # (config, document, kept, with_text, ledger) -> None. It tallies or samples into the task's ledger what the
    # stage's report needs (lmpipe.core.ledger); finalize finds the merged result in stats["tallies"] and
    # stats["samples"] (not written to stats.json), so no report reads the outputs back. with_text is False for
    # an excluded document when the run keeps no excluded text: then no text may be sampled either.
    account: Callable[[Any, Document, bool, bool, Ledger], None] | None = None


@dataclass(frozen=True)
class RunConfig:
    """How a stage runs, as opposed to what it does."""

    executor: Literal["local", "ray"] = "local"
    workers: int = 1  # tasks running at once; size it to the cores (each task is one process)
    tasks: int | None = None  # number of tasks (input files are split among them); None: see task_count()
    # None: one task per input file (no cap: a 512-core cluster can use 512 files at once). Set: files are grouped
    # into tasks of about this many bytes (but at least `workers` tasks), for inputs of many small files.
    bytes_per_task: int | None = None
    keep_excluded_text: bool = True  # write the text of excluded documents to DIR/excluded (off for huge runs)
    ray_mem_per_task_gb: float = 2.0  # memory Ray reserves for each task

    def __post_init__(self):
        # Checked here, not where they are used: `--tasks -2` once ran zero tasks and wrote a complete-looking
        # stats.json, `--workers -1` ran every task at once.
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"run.executor must be 'local' or 'ray', got {self.executor!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"run.workers must be a whole number >= 1, got {self.workers!r}")
        if self.tasks is not None and (
            isinstance(self.tasks, bool) or not isinstance(self.tasks, int) or self.tasks < 1
        ):
            raise ConfigError(
                f"run.tasks must be a whole number >= 1 (or unset: one per input file), got {self.tasks!r}"
            )
        if self.bytes_per_task is not None and self.bytes_per_task < 1:
            raise ConfigError(f"run.bytes_per_task must be >= 1 (or unset), got {self.bytes_per_task!r}")
        if not self.ray_mem_per_task_gb > 0:
            raise ConfigError(f"run.ray_mem_per_task_gb must be > 0, got {self.ray_mem_per_task_gb!r}")


@dataclass(frozen=True)
class InputSpec:
    """One input of a job: a file or folder, and what to record about its documents."""

    path: str
    source: str | None = None  # default: the record's own "source" field, else the file name
    lang: str | None = None  # set when a corpus is known to be one language and records don't say
    text_key: str = "text"
    id_key: str = "id"
    base_url: str | None = None  # for a `*.paths[.gz]` manifest: what its relative paths are joined to


@dataclass
class StageResult:
    stage: str
    output_dir: Path | str  # a local folder, or a URL for an object-storage output
    stats: dict
    skipped_run: bool = False  # True when the stage was already complete and did no work

    @property
    def kept(self) -> InputSpec:
        """This stage's kept documents as the next stage's input."""
        return InputSpec(path=str(self.output_dir))


def fingerprint(stage: Stage, cfg: Any, inputs: list[InputSpec], hashes: dict[str, dict]) -> str:
    # File names and content hashes, not absolute paths (a Ray job runs in a copy of the working dir, at another
    # path) and not sizes alone (an equal-length edit of an input once left 99 stale documents "complete").
    h = hashlib.sha256()
    h.update(json.dumps([stage.name, asdict(cfg), [asdict(i) | {"path": None} for i in inputs]], default=str).encode())
    for f, entry in hashes.items():
        h.update(f"{f.rsplit('/', 1)[-1]}\0{entry.get('xxh3') or entry['etag']}\0".encode())
    return h.hexdigest()[:16]


def check_output(path: str | Path) -> None:
    """Fail before anything is created: `s3://b/out` once became a local folder `s3:/b/out` and exited 0; a
    scheme we cannot write (`ftp://`, `hdfs://`) fails the same way."""
    try:
        storage.check_writable(path)
    except InputError as e:
        raise StageError(f"output {e}") from None


def resolve_input(spec: InputSpec) -> list[str]:
    """Files of one input. A stage output folder counts only when its manifest says it finished, and then exactly
    the part files the manifest lists; a `*.paths[.gz]` manifest (Common Crawl's form) lists files relative to
    `spec.base_url`; a URL is an object, a prefix or a glob in object storage."""
    if spec.path.endswith(storage.MANIFEST_SUFFIXES):
        files = storage.read_manifest_paths(spec.path, spec.base_url)
        bad = [f for f in files if file_format(f) is None]
        if bad:
            raise InputError(f"{spec.path} lists {len(bad)} unsupported file(s), e.g. {bad[0]}")
        if len(set(files)) != len(files):
            raise InputError(f"{spec.path} lists a file more than once")
        return files
    if storage.is_url(spec.path):
        parts = completed_parts(spec.path)  # a stage folder in object storage: its manifest's parts
        return parts if parts is not None else storage.list_remote(spec.path, file_format)
    return resolve_inputs([spec.path])  # a stage folder: its manifest's parts (listing.resolve_inputs)


def _step_slug(step: PipelineStep, index: int) -> str:
    slug = getattr(step, "slug", None) or type(step).__name__.lower()
    return f"{index:02d}-{slug}"


def input_sources(inputs: list[InputSpec], files_per_input: list[list[str]]) -> list[InputSource]:
    return [
        InputSource(tuple(files), RecordKeys(text=spec.text_key, id=spec.id_key), spec.source, spec.lang)
        for spec, files in zip(inputs, files_per_input)
    ]


def build_pipeline(
    stage_name: str,
    steps: list[PipelineStep],
    sources: list[InputSource],
    out: str | Path,
    run: RunConfig,
    account: Callable | None = None,
) -> list[PipelineStep]:
    """CorpusReader -> steps -> DocumentWriter, sharing one ledger (steps of ours see it as `step.ledger`); every
    filter gets its own ExcludedWriter; `account` (Stage.account bound to the config) is called by the writers."""
    ledger = Ledger()
    for i, step in enumerate(steps):
        if isinstance(step, (Transform, Filter)):
            step.ledger = ledger
        if isinstance(step, BaseFilter):
            step.exclusion_writer = ExcludedWriter(
                str(out), _step_slug(step, i), stage_name, ledger, keep_text=run.keep_excluded_text, account=account
            )
    reader = CorpusReader(sources, ledger, storage.join(out, "skipped"), label=stage_name)
    return [reader] + steps + [DocumentWriter(str(out), ledger, account=account)]


def run_stage(
    stage: Stage,
    cfg: Any,
    inputs: list[InputSpec],
    output_dir: str | Path,
    run: RunConfig = RunConfig(),
    overwrite: bool = False,
) -> StageResult:
    """Run one stage over `inputs` into `output_dir` (a local folder or an s3:// / gs:// URL); returns its stats
    (also written to DIR/stats.json)."""
    check_output(output_dir)
    folder = StageFolder.at(output_dir)
    if not folder.remote and folder.local.exists() and not folder.local.is_dir():
        raise StageError(f"output {folder.local} exists and is not a folder")
    # run.bytes_per_task also splits large Parquet files by row groups (lmpipe.core.slices)
    files_per_input = [slices.split_large_parquet(resolve_input(spec), run.bytes_per_task) for spec in inputs]
    all_files = [f for files in files_per_input for f in files]
    try:
        with FolderLock(folder.location):
            return _run_locked(stage, cfg, inputs, files_per_input, all_files, folder, run, overwrite)
    except LockedError as e:
        raise StageError(str(e)) from None


def _run_locked(
    stage: Stage,
    cfg: Any,
    inputs: list[InputSpec],
    files_per_input: list[list[str]],
    all_files: list[str],
    folder: StageFolder,
    run: RunConfig,
    overwrite: bool,
) -> StageResult:
    out = folder.location
    previous = read_manifest(out)
    hashes = file_hashes(all_files, (previous or {}).get("input_hashes", {}))
    fp = fingerprint(stage, cfg, inputs, hashes)
    marker = folder.path("_stage.json")
    done = _check_previous(stage, folder, previous, fp, overwrite)
    if done is not None:
        return done
    folder.local.mkdir(parents=True, exist_ok=True)
    record = {"stage": stage.name, "fingerprint": fp, "config": asdict(cfg), "inputs": all_files}
    record["input_hashes"] = hashes
    write_json_atomic(marker, record | {"complete": False})
    if folder.remote:
        write_json_atomic(folder.local / "_stage.json", record | {"complete": False})  # prepare reads it here

    started = time.time()
    if stage.passthrough and all(_is_stage_folder(spec.path) for spec in inputs):
        return _run_passthrough(stage, cfg, inputs, all_files, folder, record, marker, run, started)
    sources = input_sources(inputs, files_per_input)
    tasks = task_count(run, all_files)
    build = stage.build if stage.prepare is None else stage.prepare(cfg, sources, tasks, folder, run)
    account = None if stage.account is None else functools.partial(stage.account, cfg)
    pipeline = build_pipeline(stage.name, build(cfg), sources, out, run, account)
    executor = _make_executor(pipeline, tasks, folder.path("_logs"), run)
    logger.info(f"stage {stage.name}: {len(all_files)} file(s), {tasks} task(s), {run.workers} worker(s) -> {out}")
    try:
        executor.run()
    except WorkersDiedError as e:
        raise StageError(f"stage {stage.name}: {e}") from e
    incomplete = executor.get_incomplete_ranks()
    if incomplete:
        raise StageError(
            f"stage {stage.name}: tasks {incomplete[:10]} did not complete; see logs in {folder.path('_logs', 'logs')}"
        )
    ledgers = [folder.path("_ledger", f"{rank:05d}.json") for rank in range(tasks)]
    stats = {"stage": stage.name, "output_dir": out, "tasks": tasks, "files": len(all_files)}
    stats |= merge_ledgers(ledgers)
    if stage.finalize is not None:  # reads stats (the tasks' tallies and samples), never the parts: nothing fetched
        stats |= folder.as_location(stage.finalize(folder, cfg, stats, run) or {})
    stats.pop("tallies")
    stats.pop("samples")
    stats["wall_seconds"] = round(time.time() - started, 3)
    stats["config"] = asdict(cfg)
    has_excluded = bool(storage.glob(folder.path("excluded", "*.parquet")))
    return _commit(stage, folder, stats, record, marker, part_entries(out), has_excluded)


def _commit(
    stage: Stage, folder: StageFolder, stats: dict, record: dict, marker: str, parts: list[dict], has_excluded: bool
) -> StageResult:
    write_json_atomic(folder.local / "stats.json", stats)
    write_card(folder.local, stage.name, stats, has_excluded, parts)
    # uploads what the driver wrote (stats, card, report.md, shards/, tokenizer/); not the tasks' own files
    folder.publish(skip=("data", "excluded", "skipped", "_ledger", "_logs", "_dedup", "_pack", "_stage.json"))
    # The commit: only now may a later stage read this folder, and then only these part files.
    write_json_atomic(marker, record | {"complete": True, "parts": parts})
    stats = json.loads(storage.read_bytes(folder.path("stats.json")))  # what a later run reads (tuples: lists)
    if folder.remote:  # everything is in the bucket now: the mirror's copies of parts and intermediates go
        _clear_local(folder.local, tuple(p.name for p in folder.local.iterdir() if not p.name.endswith(".lock")))
    logger.info(
        f"stage {stage.name}: {stats['docs_in']:,} in, {stats['docs_out']:,} kept, "
        f"{stats['docs_excluded']:,} excluded, {sum(stats['skipped_input'].values()):,} input records skipped "
        f"in {stats['wall_seconds']:.1f}s"
    )
    return StageResult(stage.name, folder.local if not folder.remote else folder.location, stats)


def _is_stage_folder(path: str) -> bool:
    return bool((read_manifest(path) or {}).get("complete"))  # a file (or object) has no manifest: None


def _run_passthrough(
    stage: Stage,
    cfg: Any,
    inputs: list[InputSpec],
    parts: list[str],
    folder: StageFolder,
    record: dict,
    marker: str,
    run: RunConfig,
    started: float,
) -> StageResult:
    """A passthrough stage over finished stage folders: no tasks, no copy (see Stage.passthrough)."""
    stats = {"stage": stage.name, "output_dir": folder.location, "tasks": 0, "files": len(parts)}
    totals = dict.fromkeys(("docs_in", "bytes_in", "docs_out", "bytes_out"), 0)
    for spec in inputs:
        previous = json.loads(storage.read_bytes(storage.join(spec.path, "stats.json")))
        for key in ("docs_in", "bytes_in"):  # what this stage reads is what the input kept
            totals[key] += previous["docs_out" if key == "docs_in" else "bytes_out"]
    totals["docs_out"], totals["bytes_out"] = totals["docs_in"], totals["bytes_in"]
    stats |= totals | {"task_seconds": 0.0, "docs_excluded": 0, "bytes_excluded": 0, "excluded": {}}
    stats |= {"skipped_input": {}, "kept_by_reference": True}
    logger.info(f"stage {stage.name}: {len(parts)} part file(s) of its input, by reference (no copy)")
    if stage.finalize is not None:
        stats |= folder.as_location(stage.finalize(folder, cfg, stats, run) or {})
    stats["wall_seconds"] = round(time.time() - started, 3)
    stats["config"] = asdict(cfg)
    entries = [{"path": make_ref(folder.location, p), "size": storage.size(p)} for p in parts]
    return _commit(stage, folder, stats, record, marker, entries, has_excluded=False)


def _clear_local(local: Path, names: tuple[str, ...]) -> None:
    """Delete these files or folders of a local mirror (refreshed from the bucket, or no longer needed)."""
    for name in names:
        path = local / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def task_count(run: RunConfig, files: list[str]) -> int:
    """How many tasks a stage runs: run.tasks if set; else one per input entry (a file, or with bytes_per_task a
    slice of a large Parquet file), or entries grouped by run.bytes_per_task. Other large files (JSONL, WARC) are
    one task each."""
    if run.tasks:
        return run.tasks
    if run.bytes_per_task is None:
        return max(1, len(files))
    total = sum(storage.size(f) for f in {slices.file_of(e) for e in files})
    return max(1, min(len(files), max(run.workers, -(-total // run.bytes_per_task))))


def _check_previous(
    stage: Stage, folder: StageFolder, previous: dict | None, fp: str, overwrite: bool
) -> StageResult | None:
    """What an earlier run left in the folder: the finished result when it ran these inputs and config; otherwise
    nothing (an unfinished run of the same fingerprint resumes), or an error (another run's output)."""
    if previous is None:
        return None
    out = folder.location
    if previous.get("fingerprint") != fp:
        if not overwrite:
            raise StageError(
                f"{out} holds output of a different run of '{previous.get('stage')}' (other inputs or config); "
                "choose another output directory or pass --overwrite"
            )
        logger.warning(f"overwriting {out}: inputs or config changed")
        storage.remove_tree(out)
        if folder.remote:
            shutil.rmtree(folder.local, ignore_errors=True)
        return None
    stats_path = folder.path("stats.json")
    if previous.get("complete") and storage.exists(stats_path):
        logger.info(f"stage {stage.name}: already complete in {out}, nothing to do")
        stats = json.loads(storage.read_bytes(stats_path))
        return StageResult(stage.name, folder.local if not folder.remote else out, stats, skipped_run=True)
    return None


def _make_executor(pipeline: list[PipelineStep], tasks: int, logging_dir: str, run: RunConfig):
    if run.executor == "ray":
        from lmpipe.core.ray_executor import RayTaskExecutor  # why not datatrove's RayPipelineExecutor: see there

        return RayTaskExecutor(
            pipeline,
            tasks=tasks,
            workers=run.workers,
            logging_dir=logging_dir,
            mem_per_task_gb=run.ray_mem_per_task_gb,
        )
    from lmpipe.core.local_executor import LocalTaskExecutor  # why not datatrove's LocalPipelineExecutor: see there

    # workers=1 runs in this process (no pickling, fast start); more use a pool of task processes.
    return LocalTaskExecutor(pipeline, tasks=tasks, workers=run.workers, logging_dir=logging_dir)
