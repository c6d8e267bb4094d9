"""Local task processes (run.executor=local, workers > 1): a worker killed with SIGKILL (what the OOM killer does)
is a retried task, never a hang; a killed driver leaves no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.testing import SLOW_STAGE, SlowConfig

REPO = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    """Pool workers of `pid`: its child processes started by multiprocessing's spawn."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"multiprocessing" in cmd and b"spawn_main" in cmd:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_killed_local_worker_is_retried_without_loss_or_duplicates(samples, tmp_path):
    corpus = samples / "corpus"
    inputs = [InputSpec(path=str(corpus / n)) for n in ("ko_kobill.jsonl.gz", "en_cc_documents.jsonl.gz")]
    result: dict = {}

    def target():
        try:
            run = RunConfig(executor="local", workers=2)
            result["r"] = run_stage(SLOW_STAGE, SlowConfig(seconds_per_doc=0.1), inputs, tmp_path / "out", run)
        except BaseException as e:  # surfaced by the assertions below
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)  # a hung stage must fail the test, not hang pytest
    thread.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and thread.is_alive():
        workers = _children(os.getpid())
        if len(workers) == 2 and (tmp_path / "out" / "_logs" / "logs").exists():
            time.sleep(1.0)  # both tasks are into their documents
            os.kill(workers[0], signal.SIGKILL)
            killed = workers[0]
        time.sleep(0.1)
    thread.join(timeout=180)
    assert not thread.is_alive(), "the stage hung after its worker was killed"
    assert killed is not None, "no pool worker was seen"
    assert "error" not in result, repr(result.get("error"))
    assert result["r"].stats["docs_in"] == 40 == result["r"].stats["docs_out"]
    ids = [i for f in (tmp_path / "out").glob("data/part-*.parquet") for i in pq.read_table(f)["id"].to_pylist()]
    assert len(ids) == len(set(ids)) == 40


DRIVER = """
import sys
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.testing import SLOW_STAGE, SlowConfig
run_stage(SLOW_STAGE, SlowConfig(seconds_per_doc=0.5), [InputSpec(p) for p in sys.argv[2:]], sys.argv[1],
          RunConfig(executor="local", workers=2))
"""


def test_a_killed_driver_leaves_no_worker_running(samples, tmp_path):
    corpus = samples / "corpus"
    files = [str(corpus / n) for n in ("ko_kobill.jsonl.gz", "en_cc_documents.jsonl.gz")]
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "out"), *files], cwd=REPO)
    deadline = time.time() + 90
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        assert driver.poll() is None, "the driver ended before its workers started"
        workers = _children(driver.pid)
        time.sleep(0.1)
    assert len(workers) == 2
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "pool workers outlived their driver"
