"""A quiet console: our per-stage lines, warnings and errors; datatrove's per-task chatter only in the task logs.

datatrove sets up logging per task (`datatrove.utils.logging.add_task_logger`, called by
`PipelineExecutor._run_for_rank`): it removes every loguru handler, then adds one for stderr (INFO) and one for the
task's log file (`<logging_dir>/logs/task_NNNNN.log`, DEBUG); after the task `close_task_logger` puts back a plain
stderr handler (`setup_default_logger`). Each task thus prints its pipeline and a stats block of dozens of lines to
the console: hundreds of lines per stage on the samples.

The least invasive change: the same two functions, whose stderr handler has a filter that drops records of
`datatrove.*` modules below WARNING. The task log files are untouched (they keep everything), and datatrove's
warnings and errors still reach the console. The functions are replaced on datatrove's modules in each process that
runs tasks: the driver (`setup_console`, called by the CLI and the job) and the workers (the executors call
`install_task_console` before a task, with the driver's choice carried on the executor). `--verbose`
(LMPIPE_VERBOSE=1) keeps datatrove's own functions.
"""

from __future__ import annotations

import os
import sys

import datatrove.executor.base as dt_executor
import datatrove.utils.logging as dt_logging
from loguru import logger

VERBOSE_ENV = "LMPIPE_VERBOSE"
QUIET_BELOW = 30  # loguru's WARNING
# Warnings datatrove gives for every step of every stage, which say nothing about the run: BaseFilter.__init__ on
# filters that take batches through our own base class (lmpipe.core.steps), not through a filter_batch override.
NOISE = ("does not implement a custom filter_batch method",)
TASK_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss.SSS} | <level>{level: <8}</level> | {name}:{function}:{line} - <level>{message}</level>"
)

_ORIGINAL = {"add_task_logger": dt_logging.add_task_logger, "setup_default_logger": dt_logging.setup_default_logger}


def is_quiet() -> bool:
    """The console's mode in this process: quiet unless LMPIPE_VERBOSE says otherwise (set by `--verbose`)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("1", "true", "yes", "on")


def console_filter(record) -> bool:
    """Keep a record on the console unless it is datatrove's and below WARNING, or one of its known-harmless
    warnings (NOISE)."""
    name = record["name"] or ""
    if not (name == "datatrove" or name.startswith("datatrove.")):
        return True
    return record["level"].no >= QUIET_BELOW and not any(text in record["message"] for text in NOISE)


def _quiet_default_logger() -> None:
    logger.remove()
    logger.add(sys.stderr, colorize=dt_logging.DATATROVE_COLORIZE_LOGS, filter=console_filter)


def _quiet_task_logger(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    """datatrove 0.10's add_task_logger, with `console_filter` on the stderr handler."""
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    fmt = (f"[NODE {node_rank}] " if node_rank != -1 else "") + TASK_FORMAT
    logger.add(
        sys.stderr,
        colorize=dt_logging.DATATROVE_COLORIZE_LOGS,
        level="INFO" if local_rank == 0 else "ERROR",
        format=fmt,
        filter=console_filter,
    )
    logger.add(logfile, colorize=dt_logging.DATATROVE_COLORIZE_LOG_FILES, level="DEBUG", format=fmt)
    logger.patch(lambda r: r.update(name=dt_logging.__name__)).info(f"Launching pipeline for {rank=}")
    return logfile


def install_task_console(quiet: bool) -> None:
    """Make datatrove's task logging in this process quiet (or its own again); idempotent."""
    add = _quiet_task_logger if quiet else _ORIGINAL["add_task_logger"]
    default = _quiet_default_logger if quiet else _ORIGINAL["setup_default_logger"]
    dt_logging.add_task_logger = add
    dt_executor.add_task_logger = add  # `from datatrove.utils.logging import add_task_logger` there
    dt_logging.setup_default_logger = default  # what close_task_logger calls after each task


def setup_console(verbose: bool = False) -> None:
    """For an entry point (CLI, job), once at start: the console handler, and the mode for every task it runs
    (worker processes inherit LMPIPE_VERBOSE; executors also carry it to Ray workers)."""
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    install_task_console(quiet=not verbose)
    dt_logging.setup_default_logger()
