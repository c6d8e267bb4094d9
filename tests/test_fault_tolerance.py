"""A Ray worker killed (SIGKILL) in the middle of a stage: the stage still finishes, nothing lost or duplicated."""

import os
import signal
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import ray_task_pids

from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.testing import SLOW_STAGE as SLOW
from lmpipe.testing import SlowConfig as _SlowConfig


def _kept(folder: Path) -> list[dict]:
    return sorted(
        (r for f in sorted(folder.glob("data/part-*.parquet")) for r in pq.read_table(f).to_pylist()),
        key=lambda r: r["id"],
    )


@pytest.fixture
def local_ray():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_killed_ray_worker_is_retried_without_loss_or_duplicates(samples, tmp_path, local_ray):
    corpus = samples / "corpus"
    inputs = [InputSpec(path=str(corpus / n)) for n in ("ko_kobill.jsonl.gz", "en_cc_documents.jsonl.gz")]
    # 40 documents over 2 tasks at 0.1 s each: a few seconds per task, time enough to kill one midway.
    cfg = _SlowConfig(seconds_per_doc=0.1)
    run = RunConfig(executor="ray", workers=2)
    result: dict = {}

    def target():
        try:
            result["r"] = run_stage(SLOW, cfg, inputs, tmp_path / "killed", run)
        except BaseException as e:  # surfaced by the assertion below
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)  # a hung stage must fail the test, not hang pytest
    thread.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and thread.is_alive():
        pids = ray_task_pids("slow")
        if pids:
            time.sleep(1.0)  # let it get into its documents
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.1)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the stage did not finish after its worker was killed"
    assert killed is not None, "no Ray worker was seen running the stage"
    assert "error" not in result, repr(result.get("error"))
    stats = result["r"].stats
    assert stats["docs_in"] == 40 == stats["docs_out"]

    clean = run_stage(SLOW, _SlowConfig(), inputs, tmp_path / "clean", RunConfig(workers=1))
    kept = _kept(tmp_path / "killed")
    assert len({r["id"] for r in kept}) == len(kept) == 40
    assert kept == _kept(tmp_path / "clean") and clean.stats["docs_out"] == 40
    assert not list((tmp_path / "killed").glob("**/*.tmp"))
