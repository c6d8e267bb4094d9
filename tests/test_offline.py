"""The whole job, every stage in this process, with every socket that would leave the machine refused.

Models, dictionaries, block lists and benchmark files are all local: presidio's spaCy model, tldextract's suffix
list, fastText's lid.176 and datatrove's word lists would each wait on the network if anything reached for them.
"""

import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_full_job_makes_no_network_call(tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(REPO)
    spec = importlib.util.spec_from_file_location("full_job", REPO / "jobs" / "full.py")
    full = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "full_job", full)  # dataclasses look their module up there
    spec.loader.exec_module(full)
    inputs = "[{path: samples/corpus/ko_kobill.jsonl.gz}, {path: samples/corpus/en_wikitext.jsonl.gz}, {path: samples/warc}]"
    rc = full.main([
        "--set", f"output_dir={tmp_path}", "--set", f"inputs={inputs}", "--set", "run.executor=local",
        "--set", "run.workers=1", "--set", "stages.tokenizer.vocab_size=1000",
        # the job's closing training run, forced onto the CPU: the shards it just packed must train
        "--set", "train.device=cpu", "--set", "train.max_steps=2", "--set", "train.batch_size=2",
    ])  # fmt: skip
    assert rc == 0
    assert no_network == []
    pack = json.loads((tmp_path / "pack" / "stats.json").read_text())
    assert pack["docs_out"] > 0 and pack["pack"]["splits"]["train"]["tokens"] > 0
    steps = [json.loads(line) for line in (tmp_path / "train" / "log.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "loss" in s][-1] == 2
