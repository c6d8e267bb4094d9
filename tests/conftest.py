"""Shared fixtures. Tests use the bundled samples/ or data they generate, never ../shared."""

from __future__ import annotations

import atexit
import os
import shutil
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
