"""Inputs straight from object storage, against a real S3 server (SeaweedFS on loopback, lmpipe.testing.s3server):
a prefix, a glob and a Common Crawl-style paths manifest read the same documents as the local files."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmpipe.catalog import STAGES
from lmpipe.core.readers import InputError
from lmpipe.core.runner import InputSpec, StageError, run_stage
from lmpipe.stages.ingest.stage import IngestConfig
from lmpipe.testing.s3server import SeaweedS3

REPO = Path(__file__).resolve().parent.parent
INGEST = STAGES["ingest"]
BUCKET = "lmpipe-crawl"
FILES = ["warc/dolma-sample-0000.warc.gz", "warc/warcio-example.warc.gz", "corpus/ko_kobill.jsonl.gz",
         "corpus/ko_nsmc_reviews.parquet", "corpus/ko_news_parallel.jsonl.zst"]  # fmt: skip


@pytest.fixture(scope="module")
def s3(tmp_path_factory, samples_dir=REPO / "samples"):
    with SeaweedS3(tmp_path_factory.mktemp("seaweed")) as server:
        saved = {k: os.environ.get(k) for k in server.env}
        os.environ.update(server.env)  # s3fs and boto3 read endpoint and keys from the standard environment
        fs = server.fs()
        fs.mkdir(BUCKET)
        for rel in FILES:
            fs.put_file(str(samples_dir / rel), f"{BUCKET}/snapshot/{rel}")
        fs.pipe(f"{BUCKET}/snapshot/warc/_tmp/ignored.warc.gz", (samples_dir / FILES[0]).read_bytes())
        yield server
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _kept(folder: Path) -> list[tuple[str, str]]:
    rows = []
    for f in sorted(folder.glob("data/part-*.parquet")):
        t = pq.read_table(f, columns=["id", "text"])
        rows += zip(t["id"].to_pylist(), t["text"].to_pylist())
    return sorted(rows)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "ingest"
    run_stage(INGEST, IngestConfig(), [InputSpec(str(REPO / "samples" / rel)) for rel in FILES], out)
    return _kept(out)


def test_a_prefix_reads_the_same_documents_as_the_local_files(s3, local_reference, tmp_path):
    result = run_stage(INGEST, IngestConfig(), [InputSpec(f"s3://{BUCKET}/snapshot/")], tmp_path / "ingest")
    assert result.stats["files"] == len(FILES)  # the `_tmp/` object below the prefix is not input
    assert _kept(tmp_path / "ingest") == local_reference and len(local_reference) > 100


def test_a_glob_and_a_paths_manifest(s3, local_reference, tmp_path):
    glob = run_stage(INGEST, IngestConfig(), [InputSpec(f"s3://{BUCKET}/snapshot/warc/*.warc.gz")], tmp_path / "g")
    assert glob.stats["files"] == 2
    # Common Crawl's warc.paths.gz: one path per line, relative to a base URL given in the config
    manifest = tmp_path / "warc.paths.gz"
    manifest.write_bytes(gzip.compress("".join(f"snapshot/{rel}\n" for rel in FILES).encode()))
    spec = InputSpec(str(manifest), base_url=f"s3://{BUCKET}/")
    run_stage(INGEST, IngestConfig(), [spec], tmp_path / "m")
    assert _kept(tmp_path / "m") == local_reference
    # the manifest itself may live in the bucket, its base URL then defaulting to its own folder
    s3.fs().pipe(f"{BUCKET}/snapshot/warc.paths", "".join(f"{rel}\n" for rel in FILES).encode())
    run_stage(INGEST, IngestConfig(), [InputSpec(f"s3://{BUCKET}/snapshot/warc.paths")], tmp_path / "m2")
    assert _kept(tmp_path / "m2") == local_reference


def test_a_rewritten_object_is_not_taken_as_done(s3, tmp_path):
    fs = s3.fs()
    key = f"{BUCKET}/edit/news.jsonl"
    lines = (REPO / "samples/corpus/en_news_parallel.jsonl").read_text(encoding="utf-8").splitlines(True)[:20]
    fs.pipe(key, "".join(lines).encode())
    spec = [InputSpec(f"s3://{key}")]
    run_stage(INGEST, IngestConfig(), spec, tmp_path / "out")
    assert run_stage(INGEST, IngestConfig(), spec, tmp_path / "out").skipped_run
    fs.pipe(key, "".join(lines).replace(" the ", " XXX ", 1).encode())  # same size, new content: new ETag
    with pytest.raises(StageError, match="different run"):
        run_stage(INGEST, IngestConfig(), spec, tmp_path / "out")


def test_missing_objects_and_bad_manifests_fail_clearly(s3, tmp_path):
    with pytest.raises(InputError, match="no supported input file under"):
        run_stage(INGEST, IngestConfig(), [InputSpec(f"s3://{BUCKET}/nothing-here/")], tmp_path / "a")
    bad = tmp_path / "bad.paths"
    bad.write_text("snapshot/warc/readme.html\n")
    with pytest.raises(InputError, match="unsupported file"):
        run_stage(INGEST, IngestConfig(), [InputSpec(str(bad), base_url=f"s3://{BUCKET}/")], tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_cli_reads_a_bucket(s3, local_reference, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lmpipe", "run", "ingest", "--input", f"s3://{BUCKET}/snapshot/", "--output",
         str(tmp_path / "ingest")], cwd=REPO, capture_output=True, text=True, env=os.environ | s3.env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert _kept(tmp_path / "ingest") == local_reference
