"""End-to-end: jobs/full.py on the samples, with an embedded Ray and submitted to a real local Ray cluster."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port, job_env, ray_node_ports, stop_group

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


STAGES = ["ingest", "filter", "quality", "dedup", "decont", "pii", "tokenizer", "pack"]


def _check_outputs(run_dir: Path) -> None:
    """Every stage ran, accounted for every document, and handed on exactly what it kept; report and shards exist."""
    previous = None
    for stage in STAGES:
        stats = json.loads((run_dir / stage / "stats.json").read_text())
        assert stats["docs_in"] == stats["docs_out"] + stats["docs_excluded"], stage
        if previous is not None:
            assert stats["docs_in"] == previous["docs_out"], stage
        previous = stats
    ingest = json.loads((run_dir / "ingest" / "stats.json").read_text())
    assert ingest["docs_in"] == 3302  # 3,263 corpus documents + 39 HTML pages from the sample WARCs
    assert previous["docs_out"] > 100
    assert list((run_dir / "pack" / "shards").glob("*"))
    report = (run_dir / "report.md").read_text()
    assert "| ingest | 3,302 |" in report and "## Tokenizer compression" in report
    assert (run_dir / "report.html").stat().st_size > 20_000  # figures are embedded


def test_full_job_with_embedded_ray_twice(tmp_path):
    """What `make run` does; the second run finds everything done and does no work."""
    cmd = [sys.executable, "jobs/full.py", "--config", "jobs/configs/sample.yaml"]
    env = job_env(PIPELINE_OUTPUT_ROOT=str(tmp_path))
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    run_dir = tmp_path / "runs" / "sample"
    assert f"run report: {run_dir / 'report.md'}" in first.stdout
    _check_outputs(run_dir)
    parts = {p: p.stat().st_mtime_ns for p in run_dir.glob("*/data/part-*.parquet")}
    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already complete" in second.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.glob("*/data/part-*.parquet")} == parts


def _wait_for_dashboard(address: str, env: dict, head: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray head exited: {head.stdout.read()[-3000:]}")
        probe = subprocess.run([BIN / "ray", "job", "list", "--address", address], env=env, capture_output=True)
        if probe.returncode == 0:
            return
        time.sleep(2)
    raise TimeoutError("Ray dashboard did not come up")


def test_ray_job_submit_on_a_local_cluster(tmp_path):
    """The README's cluster commands, verbatim but for free ports: `ray start --head`, then `ray job submit`."""
    gcs_port, dash_port = free_port(), free_port()
    # HOME is the test's: outputs of a job run in Ray's working-dir copy go to ~/lmpipe-runs (lmpipe.core.runs).
    env = job_env(HOME=str(tmp_path), RAY_USAGE_STATS_ENABLED="0")
    head = subprocess.Popen(
        [
            BIN / "ray",
            "start",
            "--head",
            "--block",
            f"--port={gcs_port}",
            "--num-cpus=2",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash_port}",
            *ray_node_ports(),  # not Ray's fixed defaults: another Ray on the machine must not take this one down
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    address = f"http://127.0.0.1:{dash_port}"
    try:
        _wait_for_dashboard(address, env, head)
        cmd = [BIN / "ray", "job", "submit", "--address", address, "--working-dir", ".", "--",
               "python", "jobs/full.py", "--config", "jobs/configs/sample.yaml"]  # fmt: skip
        # The dashboard answers before the node's job agent has registered (seen under load): Ray then refuses
        # with "No available agent to submit job, please try again later", which is what we do, for a minute.
        for _ in range(20):
            submit = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=420)
            log = submit.stdout + submit.stderr
            if submit.returncode == 0 or "No available agent" not in log:
                break
            time.sleep(3)
        assert submit.returncode == 0 and "succeeded" in log, log[-4000:]
        run_dir = tmp_path / "lmpipe-runs" / "sample"
        assert f"outputs: {run_dir}" in log  # the job says where its outputs went
        _check_outputs(run_dir)
    finally:
        stop_group(head)


@pytest.mark.parametrize("bad", ["stages: {ingest: {max_text_byte: 1}}", "stages: {tokenize: {}}", "inputs: []"])
def test_job_config_errors_fail_at_start(tmp_path, bad):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(bad + "\n")
    out = subprocess.run(
        [sys.executable, "jobs/full.py", "--config", str(cfg), "--set", f"output_dir={tmp_path / 'o'}"],
        cwd=REPO,
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "error:" in out.stderr
    assert not (tmp_path / "o" / "ingest").exists()
