"""What makes a stage folder trustworthy: content fingerprints of its inputs, a completion manifest, and a lock.

- `_stage.json` is written when a run starts (`"complete": false`) and rewritten when every task finished and the
  accounting held (`"complete": true`, with the list of part files and their sizes). Only a complete folder is
  ever read as the next stage's input, and then exactly the part files its manifest lists.
- Input files are fingerprinted by content (xxh3-128 of the bytes), so an edit that keeps a file's size is seen;
  hashes are cached by (size, mtime_ns) in `_stage.json`, so a re-run does not read unchanged inputs again.
- One run per output folder: an exclusive `flock` on a file beside the folder, which the kernel releases when
  the process dies (kill -9 included), so a dead run never holds it. Beside, not inside: `--overwrite`
  deletes the folder, and a lock on a deleted file would let a second run take a new one.
"""

from __future__ import annotations

import fcntl
import json
import os
import posixpath
from pathlib import Path

import xxhash

from lmpipe.core import slices, storage
from lmpipe.core.records import InputError

MANIFEST = "_stage.json"
HASH_CHUNK = 8 << 20


class LockedError(RuntimeError):
    """Another live run writes into the same output folder."""


def content_hash(path: str) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_hashes(files: list[str], cache: dict[str, dict]) -> dict[str, dict]:
    """{path: {size, mtime_ns, xxh3}} for `files`, reusing `cache` entries whose size and mtime still match."""
    out = {}
    for entry in files:
        f = slices.file_of(entry)  # a slice of a Parquet file: the file's hash (computed once, below)
        if entry != f:
            out[entry] = out.get(f) or file_hashes([f], cache)[f]
            continue
        if storage.is_url(f):
            out[f] = storage.identity(f)  # size + ETag: hashing would download the whole crawl at every start
            continue
        st = os.stat(f)
        old = cache.get(f)
        if old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns:
            out[f] = old
        else:
            out[f] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "xxh3": content_hash(f)}
    return out


def read_manifest(folder: str | Path) -> dict | None:
    path = storage.join(folder, MANIFEST)
    try:
        raw = storage.read_bytes(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # `folder` is a file: no stage folder
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is damaged ({e}); re-run the stage that wrote {folder}") from e


def completed_parts(folder: str | Path) -> list[str] | None:
    """Part files of a finished stage folder, as its manifest lists them; None when `folder` is no stage output.
    Local folders give absolute paths, object storage URLs.

    Raises InputError for a stage folder that is not complete, or whose part files differ from its manifest."""
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    name = manifest.get("stage", "?")
    if not manifest.get("complete"):
        raise InputError(
            f"{folder} holds an unfinished run of stage '{name}' (interrupted or still running): "
            "re-run that stage to completion before using its output"
        )
    entries = manifest.get("parts", [])
    if any("path" in e for e in entries):  # a passthrough stage: its input's parts, by reference
        parts = []
        for entry in entries:
            p = resolve_ref(folder, entry["path"])
            if not storage.isfile(p) or storage.size(p) != entry["size"]:
                raise InputError(f"{p} (kept by '{name}' in {folder}) is missing or changed; re-run that stage")
            parts.append(p)
        return parts
    if storage.is_url(folder):
        # one listing, not a HEAD request per part
        sizes = _remote_sizes(folder)
        parts = []
        for entry in entries:
            if sizes.get(entry["name"].rsplit("/", 1)[-1]) != entry["size"]:
                raise InputError(
                    f"{storage.join(folder, entry['name'])} is missing or changed since stage '{name}' finished; "
                    "re-run that stage"
                )
            parts.append(storage.join(folder, entry["name"]))
        return parts
    parts = []
    for entry in entries:
        p = Path(folder) / entry["name"]
        if not p.is_file() or p.stat().st_size != entry["size"]:
            raise InputError(f"{p} is missing or changed since stage '{name}' finished; re-run that stage")
        parts.append(str(p.resolve()))
    return parts


def make_ref(folder: str | Path, path: str) -> str:
    """`path` relative to `folder` (`../pii/data/part-00000.parquet`): a run folder moved or copied as a whole,
    or a bucket prefix copied elsewhere, keeps its references right."""
    if storage.is_url(folder):
        return posixpath.relpath(path.split("://", 1)[1], str(folder).split("://", 1)[1])
    return os.path.relpath(path, folder)


def resolve_ref(folder: str | Path, ref: str) -> str:
    if storage.is_url(folder):
        scheme, base = str(folder).split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(base, ref))}"
    return str((Path(folder) / ref).resolve())


def _remote_sizes(folder: str) -> dict[str, int]:
    """{file name: size} of a stage folder's data/ in object storage: one listing, not a HEAD request per part."""
    fs, root = storage.filesystem(storage.join(folder, "data"))
    found = fs.find(root, detail=True) if fs.exists(root) else {}
    return {p.rsplit("/", 1)[-1]: int(i.get("size") or 0) for p, i in found.items()}


def part_entries(folder: str | Path) -> list[dict]:
    if storage.is_url(folder):
        names = sorted(_remote_sizes(str(folder)).items())
        return [
            {"name": f"data/{n}", "size": sz} for n, sz in names if n.startswith("part-") and n.endswith(".parquet")
        ]
    folder = Path(folder)
    return [{"name": f"data/{p.name}", "size": p.stat().st_size} for p in sorted(folder.glob("data/part-*.parquet"))]


class FolderLock:
    """Exclusive lock for one output folder, held for the life of a run (released by the kernel on death).

    Object storage has no lock: for a URL the lock file is in this machine's scratch folder, so it keeps two runs
    on one machine apart, not two drivers on two machines (run one driver per output prefix)."""

    def __init__(self, folder: str | Path):
        self.shown = str(folder)
        if storage.is_url(folder):
            folder = storage.scratch_dir(str(folder)) / "output"
        folder = Path(folder)
        self.path = folder.parent / f".{folder.name}.lock"
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip()
            os.close(self.fd)
            self.fd = None
            raise LockedError(
                f"another run (pid {holder or '?'}) is writing into {self.shown}; "
                "wait for it or choose another output folder"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def __exit__(self, *_) -> None:
        if self.fd is not None:
            # Kept (unlinking a lock file races with a run that just opened it), emptied (no stale pid in it).
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
