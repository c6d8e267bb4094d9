"""The whole job on a 2-node Ray cluster whose nodes share nothing but an S3 bucket.

A real S3 server (SeaweedFS on loopback), a real Ray cluster of two nodes started with `ray start` (a head and a
worker node, one CPU each, each with its own TMPDIR: where lmpipe stages uploads and mirrors, and Ray's workers
keep their temporary files), inputs and `output_dir` in the bucket. One Ray worker is killed with SIGKILL in the
middle of the filter stage. The kept documents and the packed tokens must equal those of a local-disk run of the
same inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from conftest import free_port, job_env, ray_node_ports, ray_task_pids, stop_group

from lmpipe.core.completion import completed_parts
from lmpipe.testing.s3server import SeaweedS3

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BUCKET = "lmpipe-multinode"


def _config(path: Path, inputs: list[str], output_dir: str, executor: str) -> str:
    cfg = yaml.safe_load((REPO / "jobs/configs/sample.yaml").read_text())
    cfg["inputs"] = [{"path": p} for p in inputs]
    cfg["output_dir"] = output_dir
    cfg["run"]["executor"] = executor
    # a path every node has, as the code itself (the nodes do not run in the checkout)
    cfg["stages"]["decont"]["benchmarks"] = str(REPO / "samples" / "benchmarks")
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _kept_local(folder: Path) -> list[tuple[str, str]]:
    rows = []
    for f in completed_parts(folder):  # the manifest's parts (tokenizer, pack: their input's, by reference)
        t = pq.read_table(f, columns=["id", "text"])
        rows += zip(t["id"].to_pylist(), t["text"].to_pylist())
    return sorted(rows)


def _kept_s3(fs, prefix: str) -> list[tuple[str, str]]:
    rows = []
    manifest = json.loads(fs.cat_file(f"{prefix}/_stage.json"))
    assert manifest["complete"]
    for entry in manifest["parts"]:
        key = posixpath.normpath(f"{prefix}/{entry['path']}") if "path" in entry else f"{prefix}/{entry['name']}"
        t = pq.read_table(io.BytesIO(fs.cat_file(key)), columns=["id", "text"])
        rows += zip(t["id"].to_pylist(), t["text"].to_pylist())
    return sorted(rows)


def _shards_local(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.bin"))}


def _shards_s3(fs, prefix: str) -> dict[str, str]:
    return {
        p.rsplit("/", 1)[-1]: hashlib.sha256(fs.cat_file(p)).hexdigest() for p in sorted(fs.glob(f"{prefix}/*.bin"))
    }


def _ray_node(args: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    # two nodes on one host: each its own agent, metrics and runtime-env ports
    return subprocess.Popen(
        [BIN / "ray", "start", "--block", "--num-cpus=1", *ray_node_ports(), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_nodes(address: str, env: dict, n: int, procs: list[subprocess.Popen], timeout: float = 180) -> None:
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a ray node exited: {p.stdout.read()[-3000:]}")
        probe = subprocess.run(
            [BIN / "ray", "list", "nodes", "--address", address, "--format", "json", "--filter", "state=ALIVE"],
            env=env,
            capture_output=True,
            text=True,
        )
        last = probe.stdout + probe.stderr
        if probe.returncode == 0:
            try:
                if len(json.loads(probe.stdout)) >= n:
                    return
            except json.JSONDecodeError:
                pass
        time.sleep(2)
    raise TimeoutError(f"the cluster did not reach {n} nodes: {last[-2000:]}")


def test_whole_job_on_two_nodes_sharing_only_a_bucket(tmp_path):
    samples = REPO / "samples"
    # the reference: the same inputs, local disk, local processes
    local_cfg = _config(
        tmp_path / "local.yaml", [str(samples / "corpus"), str(samples / "warc")], str(tmp_path / "local"), "local"
    )
    ref = subprocess.run(
        [sys.executable, "jobs/full.py", "--config", local_cfg],
        cwd=REPO,
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ref.returncode == 0, ref.stderr[-3000:]

    with SeaweedS3(tmp_path / "seaweed") as s3:
        fs = s3.fs()
        fs.mkdir(BUCKET)
        for folder in ("corpus", "warc"):
            for f in sorted((samples / folder).iterdir()):
                if f.is_file() and not f.name.endswith(".md"):
                    fs.put_file(str(f), f"{BUCKET}/crawl/{folder}/{f.name}")
        s3_cfg = _config(
            tmp_path / "s3.yaml",
            [f"s3://{BUCKET}/crawl/corpus", f"s3://{BUCKET}/crawl/warc"],
            f"s3://{BUCKET}/runs/sample",
            "ray",
        )
        tmp = {name: tmp_path / name for name in ("head-tmp", "worker-tmp", "driver-tmp")}
        for d in tmp.values():
            d.mkdir()
        base = job_env(HOME=str(tmp_path / "home"), RAY_USAGE_STATS_ENABLED="0") | s3.env
        gcs_port, dash_port = free_port(), free_port()
        ray_tmp = tempfile.mkdtemp(prefix="lmp-ray-", dir="/tmp")  # short: Ray's socket paths max 107 bytes
        address = f"127.0.0.1:{gcs_port}"
        head = _ray_node(
            ["--head", f"--port={gcs_port}", "--node-ip-address=127.0.0.1", "--include-dashboard=true",
             "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}", f"--temp-dir={ray_tmp}"],
            base | {"TMPDIR": str(tmp["head-tmp"])},
            tmp_path,
        )  # fmt: skip
        nodes = [head]
        try:
            time.sleep(3)
            worker = _ray_node(
                [f"--address={address}", "--node-ip-address=127.0.0.1"],
                base | {"TMPDIR": str(tmp["worker-tmp"])},
                tmp_path,
            )
            nodes.append(worker)
            _wait_for_nodes(address, base, 2, nodes)

            killed: list[int] = []
            job = subprocess.Popen(
                [sys.executable, "jobs/full.py", "--config", s3_cfg],
                cwd=REPO,
                env=base | {"RAY_ADDRESS": address, "TMPDIR": str(tmp["driver-tmp"])},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

            def kill_workers():
                """-9 to a worker of the filter stage's pass, then to one of a dedup phase's tasks (its files in
                the bucket): Ray retries each elsewhere."""
                deadline = time.time() + 500
                for find, delay in (
                    (lambda: ray_task_pids("filter"), 0.3),
                    (lambda: ray_task_pids("dedup", task="signature_task"), 0),
                ):
                    done = len(killed) + 1
                    while len(killed) < done and time.time() < deadline and job.poll() is None:
                        pids = find()
                        if pids:
                            time.sleep(delay)  # into its documents
                            try:
                                os.kill(pids[0], signal.SIGKILL)
                                killed.append(pids[0])
                            except ProcessLookupError:
                                continue
                        time.sleep(0.02)

            killer = threading.Thread(target=kill_workers, daemon=True)
            killer.start()
            stdout, stderr = job.communicate(timeout=600)
            killer.join(timeout=5)
            assert job.returncode == 0, stderr[-4000:]
            assert len(killed) == 2, f"killed {killed}: no Ray worker seen running the filter / a dedup phase"
            # tasks ran on both nodes: the per-document passes and the barrier phases' tasks (dedup's signatures
            # and clustering, pack's tokenizing, shuffle and shard writing), whose work files live in the bucket
            tasks = subprocess.run(
                [BIN / "ray", "list", "tasks", "--address", address, "--format", "json", "--limit", "10000",
                 "--detail"],
                env=base, capture_output=True, text=True,
            )  # fmt: skip
            assert tasks.returncode == 0, tasks.stderr[-2000:]
            families = {
                "filter": lambda n: n.startswith("filter:"),
                "dedup phases": lambda n: n in ("signature_task", "bucket_task", "verify_task", "star_task",
                                                "labels_task", "attach_task", "choose_task"),
                "pack": lambda n: n in ("tokenize_part", "scatter_part", "shuffle_bucket", "write_shard_task"),
            }  # fmt: skip
            for family, member in families.items():
                used = {t.get("node_id") for t in json.loads(tasks.stdout) if member(t.get("name") or "")}
                assert len(used - {None, ""}) == 2, (family, used)
        finally:
            for proc in reversed(nodes):
                stop_group(proc)
            shutil.rmtree(ray_tmp, ignore_errors=True)

        assert f"outputs: s3://{BUCKET}/runs/sample" in stdout
        # nothing was written to a local folder named after the URL, and the worker node staged its own uploads
        assert not (REPO / "s3:").exists() and not (tmp_path / "s3:").exists()
        assert (tmp["worker-tmp"] / "lmpipe-upload").is_dir()

        for stage in ("ingest", "filter", "quality", "dedup", "decont", "pii", "tokenizer", "pack"):
            assert _kept_s3(fs, f"{BUCKET}/runs/sample/{stage}") == _kept_local(tmp_path / "local" / stage), stage
        assert _shards_s3(fs, f"{BUCKET}/runs/sample/pack/shards") == _shards_local(
            tmp_path / "local" / "pack" / "shards"
        )
        stats = json.loads(fs.cat_file(f"{BUCKET}/runs/sample/filter/stats.json"))
        assert stats["docs_in"] == stats["docs_out"] + stats["docs_excluded"]
        assert fs.isfile(f"{BUCKET}/runs/sample/report.md") and fs.isfile(
            f"{BUCKET}/runs/sample/tokenizer/tokenizer/tokenizer.json"
        )
