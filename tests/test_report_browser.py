"""The run report opened in a real browser (headless Chromium from Debian's `chromium` package).

Marked `browser`: `make test-browser` runs it; CI installs chromium and runs it after `make test`.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> str:
    path = shutil.which("chromium")
    assert path, "headless Chromium is needed: apt-get install chromium"
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A run report from a real job on two small sample corpora (every stage runs; local executor for speed)."""
    root = tmp_path_factory.mktemp("run")
    inputs = "[{path: samples/corpus/ko_kobill.jsonl.gz}, {path: samples/corpus/en_wikitext.jsonl.gz}]"
    out = subprocess.run(
        [sys.executable, "jobs/full.py", "--config", "jobs/configs/sample.yaml", "--set", f"output_dir={root}",
         "--set", f"inputs={inputs}", "--set", "run.executor=local", "--set", "stages.tokenizer.vocab_size=1000"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return root / "report.html"


@pytest.mark.browser
def test_report_renders_tables_and_figures_in_chromium(report, tmp_path):
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for title in ("Warnings", "Funnel", "Bytes and tokens funnel", "Kept per language", "Kept per source",
                  "Final mix", "Removal and skip reasons", "Tokenizer compression", "Versions", "Config (resolved)",
                  "Histogram of document length", "Histogram of quality_score"):  # fmt: skip
        assert f"<h2>{title}" in html, title
    assert html.index("<h2>Warnings") < html.index("<h2>Funnel")
    assert html.count("<img") >= 5 and "data:image/png;base64," in html  # 3 charts + 2 histograms at least
    assert '<a href="filter/report.md">' in html  # examples per removal reason: the stage's own report
    assert "<td>ingest</td><td>30</td>" in html  # 10 bills + 20 WikiText articles read by the first stage

    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,2400", report.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]
    # The embedded charts were decoded and drawn: a good share of the page is coloured, not white text on white.
    coloured = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.25
    assert coloured.mean() > 0.02, f"only {coloured.mean():.3%} of the page is coloured: figures not rendered?"
    shutil.copy(shot, report.with_name("report-screenshot.png"))
