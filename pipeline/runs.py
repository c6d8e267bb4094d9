"""Helpers for whole runs: where outputs go, which code ran, and the run report."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

from pipeline.ray_cluster import in_ray_job_copy
from pipeline.stage import StageResult

OUTPUT_ROOT_ENV = "PIPELINE_OUTPUT_ROOT"
RAY_JOB_FALLBACK_ROOT = Path.home() / "lmpipe-runs"


def resolve_output_dir(path: str) -> Path:
    """Absolute output folder for a configured path.

    Relative paths resolve against $PIPELINE_OUTPUT_ROOT when set. Otherwise against the current folder, except
    inside `ray job submit --working-dir`: there the current folder is Ray's temporary copy, deleted with the
    session, so outputs go to ~/lmpipe-runs instead (set PIPELINE_OUTPUT_ROOT to shared storage on a cluster).
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = os.environ.get(OUTPUT_ROOT_ENV)
    if root:
        return (Path(root).expanduser() / p).resolve()
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


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


def write_run_report(run_dir: Path, job_name: str, results: list[StageResult], config: dict) -> Path:
    """report.md: the per-stage funnel, removal and skip reasons, timings, config and code version."""
    lines = [
        f"# Run report: {job_name}",
        "",
        f"- finished: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- code version: {code_version()}",
        f"- output folder: {run_dir}",
        "",
        "## Funnel",
        "",
        "| stage | docs in | kept | excluded | input records skipped | MB in | MB kept | tasks | wall s | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        s = r.stats
        skipped = sum(s.get("skipped_input", {}).values())
        note = "already complete: not re-run" if r.skipped_run else ""
        lines.append(
            f"| {r.stage} | {s['docs_in']:,} | {s['docs_out']:,} | {s['docs_excluded']:,} | {skipped:,} | "
            f"{_mb(s['bytes_in'])} | {_mb(s['bytes_out'])} | {s['tasks']} | {s['wall_seconds']:.1f} | {note} |"
        )
    for r in results:
        s = r.stats
        if not s["excluded"] and not s["skipped_input"]:
            continue
        lines += ["", f"## {r.stage}: removals and skips", "", "| kind | reason | docs | MB |", "|---|---|---:|---:|"]
        for reason, v in s["excluded"].items():
            lines.append(f"| excluded | `{reason}` | {v['docs']:,} | {_mb(v['bytes'])} |")
        for reason, n in s["skipped_input"].items():
            lines.append(f"| input skipped | `{reason}` | {n:,} | |")
        lines.append("")
        lines.append(f"Excluded documents are in `{r.output_dir / 'excluded'}`, skipped records in "
                     f"`{r.output_dir / 'skipped'}`.")
    lines += ["", "## Config", "", "```json", json.dumps(config, indent=2, ensure_ascii=False, default=str), "```", ""]
    path = run_dir / "report.md"
    tmp = path.with_name("report.md.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    return path
