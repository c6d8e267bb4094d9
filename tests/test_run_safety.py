"""The stage runner refuses to be silently wrong: unfinished inputs, bad run settings, stale output, two runs in
one folder, object-store URLs it cannot write (each case once reproduced against the runner)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmpipe.catalog import STAGES
from lmpipe.core.config import ConfigError, from_dict
from lmpipe.core.readers import InputError
from lmpipe.core.runner import InputSpec, RunConfig, StageError, run_stage
from lmpipe.stages.ingest.stage import IngestConfig

REPO = Path(__file__).resolve().parent.parent
INGEST = STAGES["ingest"]

# A slow pass-through stage in its own process, so that a test can find it mid-run and kill it.
SLOW_RUN = """
import sys
from lmpipe.core.runner import InputSpec, RunConfig, run_stage
from lmpipe.testing import SLOW_STAGE, SlowConfig
inputs = [InputSpec(path=p) for p in sys.argv[2:]]
run_stage(SLOW_STAGE, SlowConfig(seconds_per_doc=0.2), inputs, sys.argv[1], RunConfig(workers=1))
"""


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lmpipe", *args], cwd=REPO, capture_output=True, text=True)


def _start_slow(out: Path, *inputs: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(out), *map(str, inputs)], cwd=REPO)
    deadline = time.time() + 60
    while not (out / "_stage.json").exists():  # it has taken the lock and started
        assert proc.poll() is None and time.time() < deadline, "the slow run did not start"
        time.sleep(0.05)
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _kept_ids(folder: Path) -> list[str]:
    return sorted(
        i for f in folder.glob("data/part-*.parquet") for i in pq.read_table(f, columns=["id"])["id"].to_pylist()
    )


def test_an_interrupted_stage_is_never_read_as_input(samples, tmp_path):
    # dedup on an interrupted filter folder once read 223 of 1,950 documents and exited 0
    src = samples / "corpus" / "ko_kobill.jsonl.gz"
    proc = _start_slow(tmp_path / "slow", src)
    time.sleep(1.0)
    _kill(proc)
    with pytest.raises(InputError, match="unfinished run of stage 'slow'"):
        run_stage(INGEST, IngestConfig(), [InputSpec(str(tmp_path / "slow"))], tmp_path / "next")
    assert not (tmp_path / "next").exists()


def test_a_finished_stage_is_read_by_its_manifest(samples, tmp_path):
    src = [InputSpec(str(samples / "corpus" / "ko_kobill.jsonl.gz"))]
    first = run_stage(INGEST, IngestConfig(), src, tmp_path / "a")
    manifest = json.loads((tmp_path / "a" / "_stage.json").read_text())
    assert manifest["complete"] and [p["name"] for p in manifest["parts"]] == ["data/part-00000.parquet"]
    second = run_stage(INGEST, IngestConfig(), [first.kept], tmp_path / "b")
    assert _kept_ids(tmp_path / "b") == _kept_ids(tmp_path / "a") and second.stats["docs_in"] == 10
    # a part file changed after the stage finished: refused, not silently read
    part = tmp_path / "a" / "data" / "part-00000.parquet"
    part.write_bytes(part.read_bytes()[:-100])
    with pytest.raises(InputError, match="missing or changed"):
        run_stage(INGEST, IngestConfig(), [first.kept], tmp_path / "c")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tasks", "-2"], "run.tasks must be a whole number >= 1"),
        (["--workers", "0"], "run.workers must be a whole number >= 1"),
        (["--workers", "-1"], "run.workers must be a whole number >= 1"),
        (["--set", "max_text_bytes=-1"], "ingest.max_text_bytes must be >= 0"),
    ],
)
def test_bad_run_settings_fail_at_start(tmp_path, args, message):
    out = _cli("run", "ingest", "--input", "samples/corpus/ko_kobill.jsonl.gz", "--output", str(tmp_path / "o"), *args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: ") and message in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "o").exists()


def test_negative_limits_are_config_errors():
    with pytest.raises(ConfigError, match="max_text_bytes must be >= 0"):
        from_dict(IngestConfig, {"max_text_bytes": -1}, "ingest")
    assert from_dict(IngestConfig, {"max_text_bytes": None}).max_text_bytes is None  # null disables the limit
    with pytest.raises(ConfigError):
        RunConfig(workers=0)


def test_an_equal_size_edit_of_an_input_is_not_taken_as_done(samples, tmp_path):
    # ingest once did nothing after an equal-length redaction and kept 99 of 246 out-of-date documents
    src = tmp_path / "in" / "news.jsonl"
    src.parent.mkdir()
    lines = (samples / "corpus" / "en_news_parallel.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[:30]
    src.write_text("".join(lines), encoding="utf-8")
    run_stage(INGEST, IngestConfig(), [InputSpec(str(src))], tmp_path / "out")
    assert " the " in lines[3]
    lines[3] = lines[3].replace(" the ", " XXX ", 1)  # an equal-length redaction inside one document's text
    text = "".join(lines)
    assert len(text.encode()) == src.stat().st_size
    src.write_text(text, encoding="utf-8")
    with pytest.raises(StageError, match="different run"):
        run_stage(INGEST, IngestConfig(), [InputSpec(str(src))], tmp_path / "out")
    rerun = run_stage(INGEST, IngestConfig(), [InputSpec(str(src))], tmp_path / "out", overwrite=True)
    texts = [t for f in (tmp_path / "out").glob("data/part-*.parquet") for t in pq.read_table(f)["text"].to_pylist()]
    assert not rerun.skipped_run and any(" XXX " in t for t in texts)


def test_unchanged_inputs_copied_elsewhere_are_still_complete(samples, tmp_path):
    # a Ray job runs in a copy of the working dir: new paths and mtimes, same bytes, same fingerprint
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "copy" / "a.jsonl.gz"
    b.parent.mkdir()
    a.write_bytes((samples / "corpus" / "ko_kobill.jsonl.gz").read_bytes())
    run_stage(INGEST, IngestConfig(), [InputSpec(str(a))], tmp_path / "out")
    b.write_bytes(a.read_bytes())
    assert run_stage(INGEST, IngestConfig(), [InputSpec(str(b))], tmp_path / "out").skipped_run


def test_one_run_per_output_folder_and_a_dead_run_holds_no_lock(samples, tmp_path):
    src = samples / "corpus" / "ko_kobill.jsonl.gz"
    proc = _start_slow(tmp_path / "out", src)
    try:
        with pytest.raises(StageError, match="another run .* is writing into"):
            run_stage(INGEST, IngestConfig(), [InputSpec(str(src))], tmp_path / "out", overwrite=True)
    finally:
        _kill(proc)
    # the kernel released the dead run's lock: the next run (here replacing its output) proceeds
    result = run_stage(INGEST, IngestConfig(), [InputSpec(str(src))], tmp_path / "out", overwrite=True)
    assert result.stats["docs_out"] == 10


def test_unusable_output_urls_fail_at_start_and_create_nothing(tmp_path):
    # `s3://b/out` once became a local folder `s3:/b/out` and exited 0. Now: a scheme we cannot write fails at
    # once; an object store that cannot be reached (here: a closed port) fails at start, before any stage work.
    src = str(REPO / "samples/corpus/ko_kobill.jsonl.gz")
    env = os.environ | {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    env |= {"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    cmd = [sys.executable, "-m", "lmpipe", "run", "ingest", "--input", src, "--output"]
    out = subprocess.run([*cmd, "s3://bucket/out"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "cannot reach object storage" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    out = subprocess.run([*cmd, "hdfs://nn/out"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "hdfs:// is not supported" in out.stderr
    assert list(tmp_path.iterdir()) == []  # no local folder named s3:/bucket/out or hdfs:/nn/out
    out = _cli("run", "ingest", "--input", "ftp://host/in", "--output", str(tmp_path / "o"))
    assert out.returncode == 2 and "ftp:// is not supported" in out.stderr and not (tmp_path / "o").exists()


JOB = [sys.executable, "jobs/full.py", "--config", "jobs/configs/sample.yaml"]


def _job(tmp_path: Path, *args: str, config: str | None = None) -> subprocess.CompletedProcess:
    from conftest import job_env

    cmd = JOB if config is None else [sys.executable, "jobs/full.py", "--config", config]
    env = job_env(PIPELINE_OUTPUT_ROOT=str(tmp_path / "root"))
    return subprocess.run([*cmd, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_a_typo_in_the_last_stage_fails_before_the_first_stage_runs(tmp_path):
    # `stages.pack.seq_lenn` once failed only after seven stages had run
    out = _job(tmp_path, "--set", "stages.pack.seq_lenn=512")
    assert out.returncode == 2 and "unknown config key(s) seq_lenn in stages.pack" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "root" / "runs").exists()


def test_output_dir_cannot_escape_the_output_root(tmp_path):
    out = _job(tmp_path, "--set", "output_dir=../../escaped")
    assert out.returncode == 2 and "leaves $PIPELINE_OUTPUT_ROOT" in out.stderr
    assert not (tmp_path / "escaped").exists() and "Traceback" not in out.stderr


def test_broken_yaml_is_an_error_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninputs: [ {path: samples/corpus\n")
    out = _job(tmp_path, config=str(bad))
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "is not valid YAML" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_output_that_is_a_file_or_unwritable_is_an_error_line(tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    out = _cli("run", "ingest", "--input", "samples/corpus/ko_kobill.jsonl.gz", "--output", str(target))
    assert out.returncode == 2 and "exists and is not a folder" in out.stderr and "Traceback" not in out.stderr
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permission bits: make the path unusable another way
            locked.chmod(0o700)
            (locked / "x").write_text("")
            target_dir = locked / "x" / "out"  # a folder below a file: ENOTDIR
        else:
            target_dir = locked / "out"
        out = _cli("run", "ingest", "--input", "samples/corpus/ko_kobill.jsonl.gz", "--output", str(target_dir))
        assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("error: ")
        assert "Traceback" not in out.stderr
    finally:
        locked.chmod(0o700)


def test_sigterm_is_an_error_line_and_stops_the_workers(samples, tmp_path):
    src = samples / "corpus"
    cmd = [sys.executable, "-m", "lmpipe", "run", "ingest", "--input", str(src), str(samples / "warc"),
           "--output", str(tmp_path / "o"), "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "o" / "_logs").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    from test_local_workers import _alive, _children

    workers: list[int] = []
    while not workers and time.time() < deadline and proc.poll() is None:
        workers = _children(proc.pid)  # the pool's processes, once spawned
        time.sleep(0.05)
    time.sleep(0.5)  # into their tasks
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert workers and not any(_alive(w) for w in workers)
    assert proc.returncode == 130 and "error: interrupted" in err and "Traceback" not in err


def test_task_count_has_no_cap_and_follows_bytes_per_task(tmp_path):
    from lmpipe.core.runner import task_count

    files = []
    for i in range(100):
        f = tmp_path / f"f{i:03d}.jsonl"
        f.write_bytes(b"x" * 1000)
        files.append(str(f))
    assert task_count(RunConfig(), files) == 100  # one per file: once capped at 64
    assert task_count(RunConfig(tasks=7), files) == 7
    assert task_count(RunConfig(bytes_per_task=10_000), files) == 10  # 100 kB in 10 kB tasks
    assert task_count(RunConfig(bytes_per_task=10**9, workers=4), files) == 4  # never fewer tasks than workers
    with pytest.raises(ConfigError, match="bytes_per_task"):
        RunConfig(bytes_per_task=0)
