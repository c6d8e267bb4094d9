"""Object storage for inputs: `s3://` (and `gs://`) URLs through fsspec, the way datatrove's DataFolder reads them.

Endpoint and credentials come from the standard environment, as boto3 and s3fs read it (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, `~/.aws/config`); nothing is configured here.

An input may be a single object, a prefix ("folder"), a glob (`s3://b/crawl/*/warc/*.warc.gz`), or a paths
manifest in Common Crawl's form (`warc.paths.gz`: one relative path per line) joined to a base URL.

Each remote file is copied to a local temporary file while its task reads it, then deleted: every reader then
sees a seekable local file (Parquet needs random access, the gzip integrity check reads a file twice), and one
task holds one file on local disk at a time. Stage outputs still go to a local or shared path (see runner).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lmpipe.core.records import InputError

URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# scheme -> the package that implements it in fsspec, for the install hint
READABLE_SCHEMES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}
MANIFEST_SUFFIXES = (".paths", ".paths.gz")
COPY_CHUNK = 8 << 20


def scheme(path: str | os.PathLike) -> str | None:
    m = URL_SCHEME.match(str(path))
    return m.group(1).lower() if m else None


def is_url(path: str | os.PathLike) -> bool:
    s = scheme(path)
    return s is not None and s != "file"


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for a URL; a clear error for schemes we do not read."""
    s = scheme(url)
    if s not in READABLE_SCHEMES:
        raise InputError(
            f"{url}: {s}:// is not supported; inputs may be local paths or {', '.join(READABLE_SCHEMES)}://"
        )
    try:
        import fsspec.core

        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as e:
        package = READABLE_SCHEMES[s]
        raise InputError(f"{url}: reading {s}:// needs {package}: pip install 'lmpipe[s3]' (or {package})") from e
    # fsspec caches listings per filesystem instance: objects written since by anyone else would stay unseen.
    fs.invalidate_cache()
    return fs, path


def _join(base: str, rel: str) -> str:
    return rel if is_url(rel) else base.rstrip("/") + "/" + rel.lstrip("/")


def read_manifest_paths(manifest: str, base_url: str | None) -> list[str]:
    """The URLs a Common Crawl-style paths manifest lists: each line joined to `base_url` (default: the folder
    the manifest is in)."""
    if is_url(manifest):
        fs, p = filesystem(manifest)
        raw = fs.cat_file(p)
    else:
        raw = Path(manifest).read_bytes()
    if manifest.endswith(".gz"):
        raw = gzip.decompress(raw)
    base = base_url or manifest.rsplit("/", 1)[0]
    lines = [line.strip() for line in raw.decode("utf-8").splitlines()]
    paths = [_join(base, line) for line in lines if line and not line.startswith("#")]
    if not paths:
        raise InputError(f"{manifest}: the paths manifest lists no file")
    return paths


def list_remote(url: str, supported) -> list[str]:
    """Supported files under a URL: the object itself, everything below a prefix, or a glob's matches; as URLs,
    sorted. Hidden and `_`-prefixed path parts below the given prefix are skipped, as for local folders."""
    fs, path = filesystem(url)
    protocol = scheme(url)
    if any(ch in path for ch in "*?["):
        found = fs.glob(path)
        base = path.split("*")[0].rsplit("/", 1)[0]
    elif fs.isfile(path):
        found, base = [path], path.rsplit("/", 1)[0]
    else:
        found, base = fs.find(path), path.rstrip("/")
    files = []
    for p in found:
        below = p[len(base) :].strip("/").split("/") if p.startswith(base) else [p.rsplit("/", 1)[-1]]
        if supported(p) and not any(part.startswith(("_", ".")) for part in below):
            files.append(f"{protocol}://{p}")
    if not files:
        raise InputError(f"no supported input file under {url}")
    return sorted(files)


def identity(url: str) -> dict:
    """What the fingerprint records for a remote file: size and ETag (the content's MD5 for single-part uploads,
    a new value whenever the object is rewritten), without downloading it."""
    fs, path = filesystem(url)
    info = fs.info(path)
    etag = str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("LastModified") or "")
    return {"size": int(info.get("size") or 0), "etag": etag.strip('"')}


@contextlib.contextmanager
def local_copy(url: str) -> Iterator[str]:
    """A local temporary copy of a remote file with the same file name (so ids and sources derived from the
    name are those of the URL), deleted afterwards."""
    fs, path = filesystem(url)
    folder = tempfile.mkdtemp(prefix="lmpipe-in-")
    local = os.path.join(folder, path.rsplit("/", 1)[-1])
    try:
        with fs.open(path, "rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, COPY_CHUNK)
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)
