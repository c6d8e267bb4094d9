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
import hashlib
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


# --- outputs: stage folders, their side files and intermediates in object storage --------------------------------
#
# Object stores have no rename and no directory: a file is "atomic" when it is uploaded whole in one PUT (or one
# completed multipart upload), which readers then see entirely or not at all. So every writer here finishes a
# local file first and uploads it last; a stage folder is trusted only through its `_stage.json` manifest, which
# is written after everything else (lmpipe.core.completion).


def check_writable(path: str | os.PathLike) -> None:
    """Fail before anything is created when `path` names a scheme we cannot write (no local `s3:/b` folder)."""
    s = scheme(path)
    if s is not None and s != "file" and s not in READABLE_SCHEMES:
        raise InputError(
            f"{path}: {s}:// is not supported; outputs may be local paths or {', '.join(READABLE_SCHEMES)}://"
        )
    if is_url(path):
        fs, p = filesystem(str(path))  # the install hint when s3fs/gcsfs is missing
        try:
            fs.exists(p)  # credentials and endpoint checked now, before any stage work
        except Exception as e:  # noqa: BLE001 - botocore/aiohttp raise many kinds; all mean "cannot use it"
            raise InputError(
                f"{path}: cannot reach object storage ({type(e).__name__}: {e}); endpoint and credentials come "
                "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
            ) from None


def join(base: str | os.PathLike, *parts: str) -> str:
    if is_url(base):
        return "/".join([str(base).rstrip("/")] + [p.strip("/") for p in parts if p])
    return str(Path(base, *parts))


def _url(fs_path: str, like: str) -> str:
    return f"{scheme(like)}://{fs_path}"


def exists(path: str | os.PathLike) -> bool:
    if not is_url(path):
        return os.path.exists(path)
    fs, p = filesystem(str(path))
    return fs.exists(p)


def isfile(path: str | os.PathLike) -> bool:
    if not is_url(path):
        return os.path.isfile(path)
    fs, p = filesystem(str(path))
    return fs.isfile(p)


def size(path: str | os.PathLike) -> int:
    if not is_url(path):
        return os.path.getsize(path)
    fs, p = filesystem(str(path))
    return int(fs.info(p)["size"])


def read_bytes(path: str | os.PathLike, start: int | None = None, end: int | None = None) -> bytes:
    """The file's bytes, or those in [start, end) (one range request for a URL)."""
    if is_url(path):
        fs, p = filesystem(str(path))
        return fs.cat_file(p, start=start, end=end)
    if start is None and end is None:
        return Path(path).read_bytes()
    with open(path, "rb") as f:
        f.seek(start or 0)
        return f.read() if end is None else f.read(end - (start or 0))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Readers see the old content or the new, never a part: tmp + rename locally, one PUT in object storage."""
    if is_url(path):
        fs, p = filesystem(str(path))
        fs.pipe_file(p, data)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def temp_path_for(dest: str | os.PathLike) -> Path:
    """Where a writer builds `dest` before committing it: beside it locally (so the rename is atomic), in a local
    temporary folder for a URL. The pid is in the name: a killed task's orphan and its retry never share one."""
    name = str(dest).rsplit("/", 1)[-1]
    if is_url(dest):
        folder = Path(tempfile.gettempdir()) / "lmpipe-upload"
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(str(dest).encode()).hexdigest()[:12]
        return folder / f"{digest}-{name}.{os.getpid()}.tmp"
    return Path(dest).with_name(f"{name}.{os.getpid()}.tmp")


def commit_file(tmp: Path, dest: str | os.PathLike) -> None:
    """Publish a finished temporary file as `dest`: a rename locally, an upload (then the temp file goes) for a URL."""
    if is_url(dest):
        fs, p = filesystem(str(dest))
        try:
            fs.put_file(str(tmp), p)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, dest)


@contextlib.contextmanager
def writing(dest: str | os.PathLike) -> Iterator[Path]:
    """`with writing(dest) as tmp:` build the file at the local path `tmp`; when the block ends it becomes `dest`
    whole (commit_file), and when the block raises, nothing of it is left anywhere."""
    if not is_url(dest):
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    commit_file(tmp, dest)


def copy_file(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Copy one file between any two locations (server-side within one bucket), `dest` appearing whole."""
    if is_url(src) and is_url(dest) and scheme(src) == scheme(dest):
        fs, p = filesystem(str(src))
        fs.copy(p, filesystem(str(dest))[1])  # one server-side copy: the object appears complete
        return
    with writing(dest) as tmp, open_read(src) as f, open(tmp, "wb") as out:
        shutil.copyfileobj(f, out, COPY_CHUNK)


def with_suffix(path: str | os.PathLike, suffix: str) -> str:
    """`path` with its last suffix replaced, as Path.with_suffix does, for URLs too (Path would turn `s3://` into
    `s3:/`)."""
    path = str(path)
    head, _, name = path.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{head}/{stem}{suffix}" if head else stem + suffix


def existing(paths: list[str]) -> list[str]:
    """The paths of `paths` that exist, in order; for URLs one listing per folder instead of a request per file."""
    local = [p for p in paths if not is_url(p)]
    found = {p for p in local if os.path.exists(p)}
    folders = {str(p).rsplit("/", 1)[0] for p in paths if is_url(p)}
    for folder in folders:
        fs, fp = filesystem(folder)
        try:
            found |= {_url(m, folder) for m in fs.ls(fp, detail=False)}
        except FileNotFoundError:
            continue
    return [p for p in paths if p in found]


def parquet_dataset(files: list[str]):
    """A pyarrow dataset over Parquet files that are all local or all URLs (through the fsspec filesystem:
    filters on row-group statistics then fetch only the footers and the row groups they keep)."""
    import pyarrow.dataset as ds

    if files and is_url(files[0]):
        fs, _ = filesystem(files[0])
        return ds.dataset([fs._strip_protocol(f) for f in files], format="parquet", filesystem=fs)
    return ds.dataset([str(f) for f in files], format="parquet")


def remove(path: str | os.PathLike) -> None:
    """Delete a file if it exists."""
    if is_url(path):
        fs, p = filesystem(str(path))
        if fs.exists(p):
            fs.rm_file(p)
    else:
        Path(path).unlink(missing_ok=True)


def remove_tree(path: str | os.PathLike) -> None:
    if is_url(path):
        fs, p = filesystem(str(path))
        if fs.exists(p):
            fs.rm(p, recursive=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def glob(pattern: str) -> list[str]:
    """Sorted matches of a glob, as URLs for a URL pattern."""
    if not is_url(pattern):
        import glob as _glob

        return sorted(_glob.glob(pattern))
    fs, p = filesystem(pattern)
    return sorted(_url(m, pattern) for m in fs.glob(p))


def open_read(path: str | os.PathLike):
    """A binary file object for reading (the caller closes it); seekable for object storage too (pyarrow needs it)."""
    if not is_url(path):
        return open(path, "rb")  # noqa: SIM115
    fs, p = filesystem(str(path))
    return fs.open(p, "rb")


def scratch_dir(url: str) -> Path:
    """A node-local folder that mirrors the output `url` for driver-side work (reports, barrier phases): the same
    folder for the same URL on the same machine, so an interrupted run on this machine resumes from it."""
    digest = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]
    folder = Path(os.environ.get("LMPIPE_SCRATCH") or Path(tempfile.gettempdir()) / "lmpipe-scratch") / digest
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def download_tree(url: str, local: Path) -> list[Path]:
    """Copy every object below `url` into `local` (same relative paths), skipping files already there with the
    same size; returns the local files."""
    fs, p = filesystem(url)
    p = p.rstrip("/")
    found = []
    for obj, info in sorted(fs.find(p, detail=True).items()):
        rel = obj[len(p) :].lstrip("/")
        dest = local / rel
        if not (dest.is_file() and dest.stat().st_size == int(info.get("size") or 0)):
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
            fs.get_file(obj, str(tmp))
            os.replace(tmp, dest)
        found.append(dest)
    return found


def upload_tree(local: Path, url: str, skip: tuple[str, ...] = ()) -> int:
    """Upload every file below `local` to the same relative path below `url`, but those under a `skip` top
    folder and temporary files; returns the number of files uploaded."""
    fs, p = filesystem(url)
    n = 0
    for f in sorted(local.rglob("*")):
        rel = f.relative_to(local).as_posix()
        if not f.is_file() or rel.split("/", 1)[0] in skip or ".tmp" in f.name or f.name.endswith(".lock"):
            continue
        fs.put_file(str(f), f"{p.rstrip('/')}/{rel}")
        n += 1
    return n


def local_file(path: str) -> str:
    """A local path for a small file that may be a URL (a tokenizer.json): downloaded once per content (ETag)."""
    if not is_url(path):
        return path
    ident = identity(path)
    digest = hashlib.sha256(f"{path}\0{ident['etag']}\0{ident['size']}".encode()).hexdigest()[:16]
    dest = Path(tempfile.gettempdir()) / "lmpipe-files" / digest / path.rsplit("/", 1)[-1]
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(read_bytes(path))
        os.replace(tmp, dest)
    return str(dest)
