"""Shared fixtures. Tests use the bundled samples/ or data they generate, never ../shared."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# Every test session gets its own empty HOME, set here at import (before any test module imports lmpipe or ray, some
# of which read ~ at import) and so inherited by every subprocess a test starts (job_env copies os.environ). Nothing
# a test does lands in the real one: an embedded ray.init() writes ~/.ray/auth_token, jobs write ~/lmpipe-runs,
# caches go to ~/.cache. Removed at exit.
REAL_HOME = os.environ.get("HOME")
TEST_HOME = Path(tempfile.mkdtemp(prefix="lmpipe-test-home-"))
os.environ["HOME"] = str(TEST_HOME)
atexit.register(shutil.rmtree, TEST_HOME, ignore_errors=True)

# Workers spawned by the stage runner must find the package; it is installed editable, this is for plain checkouts.
os.environ.setdefault("PYTHONPATH", str(REPO))


def job_env(**extra: str) -> dict:
    """Environment for a job or `ray` subprocess: this venv's `python` and `ray` first on PATH, and no RAY_* from
    this process (an in-process ray.init() of another test leaves e.g. RAY_AUTH_MODE=token behind). HOME is the
    session's temporary one (TEST_HOME) unless given in extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def ingested_corpus(tmp_path_factory) -> Path:
    """samples/corpus through the ingest stage, once per session: the input of the decide-only re-run tests
    (filter and dedup signals), which only read it."""
    from lmpipe.catalog import STAGES
    from lmpipe.core.runner import InputSpec, run_stage
    from lmpipe.stages.ingest.stage import IngestConfig

    out = tmp_path_factory.mktemp("ingested") / "ingest"
    run_stage(STAGES["ingest"], IngestConfig(), [InputSpec(str(REPO / "samples" / "corpus"))], out)
    return out


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Refuse every connection and DNS lookup that would leave the machine; returns the list of attempts.

    Local IPC stays allowed: unix sockets (multiprocessing) and loopback (a local Ray)."""
    import socket

    attempts: list = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address, *args, **kwargs):
        if self.family == socket.AF_UNIX or str(address[0]) in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address, *args, **kwargs)
        attempts.append(address)
        raise OSError(f"network call attempted: {address}")

    def getaddrinfo(host, *args, **kwargs):
        if host in (None, "localhost", "127.0.0.1", "::1"):
            return real_getaddrinfo(host, *args, **kwargs)
        attempts.append(host)
        raise OSError(f"DNS lookup attempted: {host}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


# --- helpers for tests that start Ray clusters and kill their workers ---------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_node_ports() -> list[str]:
    """`ray start` options giving a node its own agent, metrics and runtime-env ports: Ray's defaults are fixed
    numbers, and a second node (or another cluster) whose agent fails to bind 52365 loses its raylet with it."""
    return [
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
    ]


def stop_group(proc: subprocess.Popen) -> None:
    """Stop one started cluster's processes only (its process group): other Ray instances may run on the machine."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def ray_task_pids(stage: str, task: str | None = None) -> list[int]:
    """Processes running a Ray task of `stage`: Ray titles a worker by its task's name, "ray::STAGE:RANK"
    (RayTaskExecutor names tasks stage:rank); with `task`, a barrier task of TaskRunner ("ray::FUNCTION")."""
    pids = []
    title = (f"ray::{stage}:" if task is None else f"ray::{task}").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title in cmd and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids
