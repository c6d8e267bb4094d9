"""`lmpipe config [STAGE]`, `jobs/full.py --dry-run / --print-config`, and the quiet console (issue 20 item 5)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lmpipe.catalog import STAGES
from lmpipe.core.config import from_dict, settings_yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLE = "samples/corpus/ko_kobill.jsonl.gz"


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "lmpipe", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=300
    )


def _job(root: Path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"PIPELINE_OUTPUT_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "jobs/full.py", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=300
    )


def _line(text: str, key: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(f"{key} = ")]
    assert len(lines) == 1, f"{key} not listed once in:\n{text[:2000]}"
    return lines[0]


def test_config_of_a_stage_lists_nested_settings_with_default_and_source_comment():
    out = _cli("config", "filter")
    assert out.returncode == 0, out.stderr
    line = _line(out.stdout, "en.gopher.min_words")
    assert line.split("#")[0].strip() == "en.gopher.min_words = 50" and "# non-symbol words" in line
    # a Korean override: its own default and its own comment; an inherited field keeps its base's comment
    assert "FW2-ko min_avg_word_length" in _line(out.stdout, "ko.gopher.min_mean_word_chars")
    assert "1.0" in _line(out.stdout, "ko.gopher.min_mean_word_chars")
    assert "lines starting with a bullet" in _line(out.stdout, "ko.gopher.max_bullet_line_ratio")
    # a comment written on the lines above a field (no trailing one) is used too
    assert "metadata of kept documents" in _line(out.stdout, "signals_in_kept")
    assert "Traceback" not in out.stderr


def test_config_without_a_stage_lists_the_job_config_and_the_stages():
    out = _cli("config")
    assert out.returncode == 0, out.stderr
    assert "tasks running at once" in _line(out.stdout, "run.workers")
    assert "2" in _line(out.stdout, "run.workers").split("#")[0]
    _line(out.stdout, "train.model")
    for name, stage in STAGES.items():
        assert f"  {name}" in out.stdout and stage.summary in out.stdout


def test_config_of_an_unknown_stage_is_an_error_line():
    out = _cli("config", "filtr")
    assert out.returncode == 2 and "error: unknown stage 'filtr'" in out.stderr


def test_run_help_points_to_config():
    out = _cli("run", "--help")
    assert out.returncode == 0 and "lmpipe config STAGE" in out.stdout


def test_config_yaml_round_trips_to_the_stage_default():
    out = _cli("config", "filter", "--format", "yaml")
    assert out.returncode == 0, out.stderr
    assert "min_words: 50  # non-symbol words" in out.stdout  # comments kept as YAML comments
    cfg_cls = STAGES["filter"].config_cls
    assert from_dict(cfg_cls, yaml.safe_load(out.stdout)) == cfg_cls()


@pytest.mark.parametrize("name", list(STAGES))
def test_every_stage_yaml_round_trips(name):
    cls = STAGES[name].config_cls
    assert from_dict(cls, yaml.safe_load(settings_yaml(cls)), where=name) == cls()


def test_job_config_yaml_loads_as_a_job_config(tmp_path):
    from lmpipe.cli import load_job_module

    out = _cli("config", "--format", "yaml")
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(out.stdout)
    data["inputs"] = [{"path": SAMPLE}]
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    job = load_job_module()
    cfg, stage_cfgs = job.load_job_config(str(path), [])
    assert cfg.run == job.JobConfig().run
    assert all(stage_cfgs[name] == stage.config_cls() for name, stage in STAGES.items())


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path):
    out = _job(tmp_path, "--dry-run", "--config", "jobs/configs/sample.yaml")
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / "runs" / "sample"
    for i, name in enumerate(STAGES, 1):
        assert f"{i}. {name}" in out.stdout and str(run_dir / name) in out.stdout
    assert out.stdout.count("[not run]") == len(STAGES)
    assert "inputs: 11 file(s)" in out.stdout  # resolved: samples/corpus and samples/warc
    assert "vocab_size: 4096" in out.stdout  # the resolved config, the job's override applied
    assert list(tmp_path.iterdir()) == []  # no output folder, no lock file
    assert "Started a local Ray" not in out.stderr


def test_dry_run_fails_at_a_missing_input(tmp_path):
    out = _job(tmp_path, "--dry-run", "--set", "inputs=[{path: nowhere/x.jsonl}]")
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "nowhere/x.jsonl" in out.stderr and "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_print_config_is_a_job_config_that_plans_the_same(tmp_path):
    out = _job(tmp_path, "--print-config")
    assert out.returncode == 0, out.stderr
    saved = tmp_path / "resolved.yaml"
    saved.write_text(out.stdout)
    assert yaml.safe_load(out.stdout)["stages"]["pack"]["seq_len"] == 512
    # pack's tokenizer stays unset: the job packs with the tokenizer it trains
    assert "tokenizer" not in yaml.safe_load(out.stdout)["stages"]["pack"]
    again = _job(tmp_path / "root", "--print-config", "--config", str(saved))
    assert again.returncode == 0 and again.stdout == out.stdout


def test_dry_run_sees_a_complete_stage(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text(yaml.safe_dump({"name": "t", "output_dir": "runs/t", "inputs": [{"path": SAMPLE}]}))
    ingest_dir = tmp_path / "root" / "runs" / "t" / "ingest"
    ran = _cli("run", "ingest", "--input", SAMPLE, "--output", str(ingest_dir))
    assert ran.returncode == 0, ran.stderr
    out = _job(tmp_path / "root", "--dry-run", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    ingest_line = next(line for line in out.stdout.splitlines() if "1. ingest" in line)
    filter_line = next(line for line in out.stdout.splitlines() if "2. filter" in line)
    assert "[complete]" in ingest_line and "[not run]" in filter_line
    assert "ingest's output, 1 file(s)" in filter_line
    assert not (tmp_path / "root" / "runs" / "t" / "filter").exists()


def test_console_is_quiet_by_default_and_verbose_on_request(tmp_path):
    quiet = _cli("run", "ingest", "--input", SAMPLE, "--output", str(tmp_path / "q"))
    assert quiet.returncode == 0, quiet.stderr
    assert "Stats:" not in quiet.stderr and "PIPELINE" not in quiet.stderr
    assert "stage ingest:" in quiet.stderr and "1/1 (100%)" in quiet.stderr  # our lines stay
    assert "Stats:" in (tmp_path / "q" / "_logs" / "logs" / "task_00000.log").read_text()  # the task log has it

    verbose = _cli("run", "ingest", "--input", SAMPLE, "--output", str(tmp_path / "v"), "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "Stats:" in verbose.stderr


def test_quiet_console_with_worker_processes(tmp_path):
    args = ["run", "ingest", "--input", SAMPLE, "samples/corpus/en_wikitext.jsonl.gz", "--workers", "2"]
    out = _cli(*args, "--output", str(tmp_path / "q"))
    assert out.returncode == 0, out.stderr
    assert "Stats:" not in out.stderr and "ingest: task" in out.stderr and "2/2 (100%)" in out.stderr
