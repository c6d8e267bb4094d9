import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "lmpipe", *args], cwd=cwd, capture_output=True, text=True)


def test_help_lists_every_stage_with_a_line():
    from lmpipe.catalog import STAGES

    out = _cli("--help")
    assert out.returncode == 0
    for name, stage in STAGES.items():
        assert f"{name}" in out.stdout and stage.summary in out.stdout


def test_unknown_stage_and_key_fail_at_start_with_the_valid_ones(tmp_path):
    out = _cli("run", "ingestt", "--input", "samples/corpus", "--output", str(tmp_path / "o"))
    assert out.returncode == 2 and "unknown stage 'ingestt'" in out.stderr and "ingest" in out.stderr
    out = _cli("run", "ingest", "--input", "samples/corpus", "--output", str(tmp_path / "o"), "--set", "max_bytes=1")
    assert out.returncode == 2 and "unknown config key(s) max_bytes" in out.stderr and "max_text_bytes" in out.stderr
    out = _cli("run", "ingest", "--input", "nowhere/x.jsonl", "--output", str(tmp_path / "o"))
    assert out.returncode == 2 and "input path does not exist: nowhere/x.jsonl" in out.stderr


def test_run_one_stage_locally(tmp_path):
    out = _cli(
        "run",
        "ingest",
        "--input",
        "samples/corpus/ko_kobill.jsonl.gz",
        "samples/corpus/en_wikitext.jsonl.gz",
        "--output",
        str(tmp_path / "ingest"),
        "--workers",
        "2",
        "--set",
        "ingest.min_text_chars=2000",
    )
    assert out.returncode == 0, out.stderr
    stats = json.loads((tmp_path / "ingest" / "stats.json").read_text())
    assert stats["docs_in"] == 30 and stats["tasks"] == 2
    assert stats["docs_out"] + stats["excluded"]["ingest.text_too_short"]["docs"] == 30
