"""The whole job killed with SIGKILL midway (driver and its embedded Ray) and run again: its outputs are
byte-identical to those of an uninterrupted run, which also used a different number of workers."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import job_env

REPO = Path(__file__).resolve().parent.parent
CMD = [sys.executable, "jobs/full.py", "--config", "jobs/configs/sample.yaml"]


def _digests(run_dir: Path) -> dict[str, str]:
    """Every data file a run leaves (kept, excluded, skipped, shards, tokenizer), by relative path."""
    out = {}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if not path.is_file() or any(p.startswith("_") for p in rel.parts):
            continue  # _logs, _ledger, _stage.json, intermediate folders: bookkeeping with times and pids
        if rel.name in ("stats.json", "report.md", "report.html") or rel.name.endswith((".log", ".tmp")):
            continue  # wall times
        if rel.name in ("pack.json", "training_config.json", "data_manifest.json"):
            continue  # run manifests: absolute paths of this run's folders and training times
        out[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_killed_job_resumes_to_byte_identical_outputs(tmp_path):
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    run_dir = killed_root / "runs" / "sample"
    job = subprocess.Popen(
        CMD, cwd=REPO, env=job_env(PIPELINE_OUTPUT_ROOT=str(killed_root)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    # Kill once the job is inside its second stage: some of its tasks done, others not.
    deadline = time.time() + 300
    while time.time() < deadline and job.poll() is None:
        done = list((run_dir / "filter" / "_logs" / "completions").glob("*"))
        if done:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the job finished before it could be killed"
    _kill_group(job)
    assert not (run_dir / "report.md").exists()

    resumed = subprocess.run(
        CMD, cwd=REPO, env=job_env(PIPELINE_OUTPUT_ROOT=str(killed_root)), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "stage ingest: already complete" in resumed.stderr

    clean = subprocess.run(
        CMD + ["--set", "run.workers=1"],
        cwd=REPO,
        env=job_env(PIPELINE_OUTPUT_ROOT=str(clean_root)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    a, b = _digests(run_dir), _digests(clean_root / "runs" / "sample")
    assert len(a) > 40 and a.keys() == b.keys(), (sorted(set(a) - set(b)), sorted(set(b) - set(a)))
    assert [k for k in a if a[k] != b[k]] == []
