"""The step contract (lmpipe/core/steps.py): setup(rank) once per task before its first document, then score and
decide; the stages' heavy state (fastText, URL lists, the decont index, presidio) loads in setup."""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document

from lmpipe.core.runner import InputSpec, RunConfig, Stage, run_stage
from lmpipe.core.steps import Filter

REPO = Path(__file__).resolve().parent.parent
EVENTS: list[tuple[str, int]] = []


class Recorder(Filter):
    name = "recorder"
    slug = "recorder"

    def setup(self, rank: int) -> None:
        EVENTS.append(("setup", rank))
        self.rank = rank

    def filter(self, doc: Document) -> bool:
        EVENTS.append(("doc", self.rank))
        return True


def test_setup_runs_once_per_task_before_its_documents(tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        pass

    stage = Stage("recorder", "records the calls", Cfg, lambda cfg: [Recorder()])
    inputs = [InputSpec(str(REPO / "samples/corpus" / n)) for n in ("ko_kobill.jsonl.gz", "en_wikitext.jsonl.gz")]
    EVENTS.clear()
    run_stage(stage, Cfg(), inputs, tmp_path / "out", RunConfig(workers=1))  # in this process: EVENTS sees all
    setups = [rank for what, rank in EVENTS if what == "setup"]
    assert sorted(setups) == [0, 1]
    for rank in (0, 1):
        mine = [what for what, r in EVENTS if r == rank]
        # two single-file inputs, two tasks: each task reads one of them (files are dealt over all inputs)
        assert mine[0] == "setup" and mine.count("setup") == 1 and mine.count("doc") > 0


def test_heavy_state_loads_in_setup_and_what_few_documents_need_stays_lazy():
    from lmpipe.stages.filter.url import UrlConfig, UrlFilter
    from lmpipe.stages.quality.stage import QualityClassifierFilter, QualityConfig

    quality = QualityClassifierFilter(QualityConfig())
    assert quality.scorer._model is None  # nothing heavy at build time: steps are pickled to the workers
    quality.setup(0)
    assert quality.scorer._model is not None  # every document is scored
    url = UrlFilter(UrlConfig())
    url.setup(0)
    assert not url._loaded  # only documents with a URL need the block lists
    assert url.filter(Document(text="x", id="a", metadata={})) is True and not url._loaded
