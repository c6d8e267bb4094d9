"""Helpers for whole runs: where outputs go and which code ran (the report is lmpipe.report)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from lmpipe.core import storage
from lmpipe.core.config import ConfigError
from lmpipe.core.ray_cluster import in_ray_job_copy
from lmpipe.core.records import InputError

OUTPUT_ROOT_ENV = "PIPELINE_OUTPUT_ROOT"
RAY_JOB_FALLBACK_ROOT = Path.home() / "lmpipe-runs"


def resolve_output_dir(path: str) -> Path | str:
    """Absolute output folder for a configured path; an object-storage URL (s3://, gs://) as it is.

    Relative paths resolve against $PIPELINE_OUTPUT_ROOT when set. Otherwise against the current folder, except
    inside `ray job submit --working-dir`: there the current folder is Ray's temporary copy, deleted with the
    session, so outputs go to ~/lmpipe-runs instead (set PIPELINE_OUTPUT_ROOT to shared storage on a cluster).
    """
    if storage.is_url(path):
        try:
            storage.check_writable(path)
        except InputError as e:
            raise ConfigError(f"output_dir {e}") from None
        return str(path).rstrip("/")
    if storage.scheme(path) == "file":
        path = str(path)[len("file://") :]
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = os.environ.get(OUTPUT_ROOT_ENV)
    if root:
        base = Path(root).expanduser().resolve()
        resolved = (base / p).resolve()
        if resolved != base and base not in resolved.parents:  # `output_dir: ../..` must not escape the root
            raise ConfigError(f"output_dir {path!r} leaves ${OUTPUT_ROOT_ENV} ({base}); give a path inside it")
        return resolved
    if in_ray_job_copy():
        return (RAY_JOB_FALLBACK_ROOT / p.name).resolve()
    return p.resolve()


def code_version() -> str:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        if out.returncode == 0:
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown (no git checkout: a Ray working-dir copy or an installed package)"


def interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler's stop, `kill`) is handled like Ctrl-C: the entry point prints an `error:` line and
    the local task pool is stopped, instead of Python dying mid-write without a word."""

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)
