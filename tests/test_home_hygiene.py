"""Nothing the tests or an embedded Ray do is left in $HOME (a ~/.ray/auth_token there breaks `ray job submit`)."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REAL_HOME, REPO, TEST_HOME, job_env

from lmpipe.core import ray_cluster

EMBEDDED = """
import os, ray
from lmpipe.core.ray_cluster import connect_or_start
print(connect_or_start(1))
assert ray.get(ray.remote(lambda: os.environ.get("RAY_AUTH_MODE")).remote()) == "token"
ray.shutdown()
"""


def test_session_home_is_temporary_and_inherited():
    assert Path.home() == TEST_HOME != Path(REAL_HOME or "/nonexistent")
    assert TEST_HOME.is_relative_to(tempfile.gettempdir())
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['HOME'])"], capture_output=True, text=True
    )
    assert out.stdout.strip() == str(TEST_HOME)
    assert job_env()["HOME"] == str(TEST_HOME)


def test_embedded_ray_leaves_no_auth_token_in_home(tmp_path):
    """connect_or_start in a fresh process (no RAY_* set, as `make run`): token auth on, but no ~/.ray/auth_token."""
    home = tmp_path / "home"
    home.mkdir()
    env = job_env(HOME=str(home), RAY_USAGE_STATS_ENABLED="0")
    run = subprocess.run(
        [sys.executable, "-c", EMBEDDED], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "embedded local Ray" in run.stdout
    assert not (home / ".ray" / "auth_token").exists()
    assert "saved to" not in run.stderr  # Ray logs "Generated new authentication token and saved to ..."


def test_user_auth_settings_are_left_alone(monkeypatch):
    for name in ray_cluster.RAY_AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert ray_cluster.use_private_auth_token() is False
    assert os.environ["RAY_AUTH_MODE"] == "disabled" and "RAY_AUTH_TOKEN" not in os.environ
