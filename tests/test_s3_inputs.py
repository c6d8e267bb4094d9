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
from lmpipe.core.runner import InputSpec, RunConfig, StageError, run_stage
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


def _kept_s3(fs, prefix: str) -> list[tuple[str, str]]:
    import io
    import json

    manifest = json.loads(fs.cat_file(f"{prefix}/_stage.json"))
    rows = []
    for entry in manifest["parts"]:
        t = pq.read_table(io.BytesIO(fs.cat_file(f"{prefix}/{entry['name']}")), columns=["id", "text"])
        rows += zip(t["id"].to_pylist(), t["text"].to_pylist())
    return sorted(rows)


def test_stage_folders_in_the_bucket(s3, local_reference, tmp_path):
    """Output to s3://: the same documents and side files as on disk, committed by the manifest last; the next
    stage reads the folder by its URL; a re-run is a no-op; a changed config needs --overwrite."""
    from lmpipe.stages.filter.stage import FilterConfig

    fs = s3.fs()
    out = f"s3://{BUCKET}/runs/a/ingest"
    result = run_stage(INGEST, IngestConfig(), [InputSpec(f"s3://{BUCKET}/snapshot/")], out)
    assert result.output_dir == out and _kept_s3(fs, out[5:]) == local_reference
    names = {p.rsplit("/", 1)[-1] for p in fs.find(out[5:])}
    assert {"_stage.json", "stats.json", "README.md", "part-00000.parquet", "00000.json"} <= names
    assert not any(n.endswith(".tmp") for n in names)
    assert run_stage(INGEST, IngestConfig(), [InputSpec(f"s3://{BUCKET}/snapshot/")], out).skipped_run
    with pytest.raises(StageError, match="different run"):
        run_stage(INGEST, IngestConfig(max_text_bytes=1000), [InputSpec(f"s3://{BUCKET}/snapshot/")], out)

    filtered = run_stage(STAGES["filter"], FilterConfig(), [InputSpec(out)], f"s3://{BUCKET}/runs/a/filter")
    run_stage(INGEST, IngestConfig(), [InputSpec(str(REPO / "samples" / rel)) for rel in FILES], tmp_path / "li")
    local_filter = run_stage(STAGES["filter"], FilterConfig(), [InputSpec(str(tmp_path / "li"))], tmp_path / "lf")
    assert filtered.stats["docs_in"] == len(local_reference)
    assert _kept_s3(fs, f"{BUCKET}/runs/a/filter") == _kept(tmp_path / "lf")
    assert filtered.stats["excluded"] == local_filter.stats["excluded"]
    assert fs.isfile(f"{BUCKET}/runs/a/filter/report.md")  # written by the driver's finalize, then uploaded
    from lmpipe.core import storage

    # the driver's local mirror held the parts for the report; once committed, no copy stays behind
    assert not list(storage.scratch_dir(f"s3://{BUCKET}/runs/a/filter").rglob("*.parquet"))


def test_a_large_parquet_object_is_read_in_slices(s3, tmp_path):
    fs = s3.fs()
    table = pq.read_table(REPO / "samples/corpus/ko_nsmc_reviews.parquet")
    local = tmp_path / "reviews.parquet"
    pq.write_table(table, local, row_group_size=300)
    fs.put_file(str(local), f"{BUCKET}/big/reviews.parquet")
    run = RunConfig(workers=2, bytes_per_task=local.stat().st_size // 4)
    sliced = run_stage(INGEST, IngestConfig(), [InputSpec(f"s3://{BUCKET}/big/reviews.parquet")], tmp_path / "s", run)
    run_stage(INGEST, IngestConfig(), [InputSpec(str(local))], tmp_path / "w")
    assert sliced.stats["tasks"] >= 3 and _kept(tmp_path / "s") == _kept(tmp_path / "w")


def test_one_decont_index_cache_in_the_bucket(s3, tmp_path):
    """decont.cache_dir=s3://...: the first node builds the index and uploads it; the others load that one."""
    from lmpipe.stages.decont import index as decont_index
    from lmpipe.stages.decont.benchmarks import discover
    from lmpipe.stages.decont.stage import DecontConfig

    cfg = DecontConfig(benchmarks=str(REPO / "samples" / "benchmarks"), cache_dir=f"s3://{BUCKET}/cache/decont")
    specs = discover(cfg.benchmarks)
    built = decont_index.load_or_build(specs, cfg.params(), cfg.cache_dir)
    objects = s3.fs().glob(f"{BUCKET}/cache/decont/decont-*.idx")
    assert len(objects) == 1 and not any(p.endswith(".tmp") for p in s3.fs().find(f"{BUCKET}/cache"))
    calls = []
    real_build = decont_index.build_index
    decont_index.build_index = lambda *a, **k: calls.append(1) or real_build(*a, **k)
    try:
        loaded = decont_index.load_or_build(specs, cfg.params(), cfg.cache_dir)
    finally:
        decont_index.build_index = real_build
    assert not calls  # loaded from the bucket's copy, not built again
    assert len(loaded.keys) == len(built.keys) and (loaded.keys == built.keys).all()
