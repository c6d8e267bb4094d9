"""Which files an input names: supported formats by suffix, and folders (or earlier stages' outputs) expanded."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from lmpipe.core.completion import completed_parts
from lmpipe.core.records import InputError

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".ndjson.gz", ".ndjson.zst", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.zst")
WARC_SUFFIXES = (".warc", ".warc.gz")
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES + WARC_SUFFIXES
_FORMATS = (("jsonl", JSONL_SUFFIXES), ("parquet", PARQUET_SUFFIXES), ("text", TEXT_SUFFIXES), ("warc", WARC_SUFFIXES))


def file_format(path: str | os.PathLike) -> str | None:
    """The format a file name stands for ("jsonl", "parquet", "text", "warc"), by suffix; None if unsupported."""
    name = os.fspath(path).lower()
    for fmt, suffixes in _FORMATS:
        if name.endswith(suffixes):
            return fmt
    return None


def _skipped(name: str) -> bool:
    """Hidden entries (.git, .cache) and side folders/files (_logs, _tmp, _SUCCESS) under an input are not input."""
    return name.startswith(("_", "."))


def _supported_files_under(root: str) -> list[str]:
    """Absolute paths of the supported files below the (already resolved) folder root, sorted.

    Only the names BELOW root decide what is skipped: root itself may well sit under ~/.cache or /data/_raw. Skipped
    folders are not walked at all, and symlinked folders are not followed (as Path.rglob); a symlinked file is
    listed as its target, so that the same file reached twice is caught as a duplicate."""
    found: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:  # an unreadable folder would silently drop its documents
            raise InputError(f"cannot list input folder {folder}: {e}") from e
        for entry in entries:
            if _skipped(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif file_format(entry.name) is not None and entry.is_file():
                found.append(os.path.realpath(entry.path) if entry.is_symlink() else entry.path)
    found.sort()
    return found


def resolve_inputs(paths: list[str | os.PathLike]) -> list[str]:
    """Expand files and folders (recursively) into a sorted list of absolute supported files; fail on bad paths."""
    files: list[str] = []
    real_folders: dict[str, str] = {}  # a list of 100,000 files shares a few hundred folders: resolve each once
    for raw in paths:
        name = os.path.expanduser(os.fspath(raw))
        try:
            st = os.lstat(name)
            is_link = stat.S_ISLNK(st.st_mode)
            if is_link:
                st = os.stat(name)
        except (FileNotFoundError, NotADirectoryError):
            raise InputError(f"input path does not exist: {raw}") from None
        if stat.S_ISREG(st.st_mode):
            if file_format(name) is None:
                raise InputError(f"unsupported input file {raw}: expected one of {', '.join(SUPPORTED_SUFFIXES)}")
            if is_link:
                files.append(os.path.realpath(name))
            else:  # not a link itself: its real path is its folder's real path and its name
                folder, base = os.path.split(name)
                if folder not in real_folders:
                    real_folders[folder] = os.path.realpath(folder or ".")
                files.append(os.path.join(real_folders[folder], base))
            continue
        path = Path(name)
        parts = completed_parts(path)  # None: no stage output; raises for an unfinished or changed one
        if parts is not None:
            # Output of an earlier stage: only its kept documents are input, as its manifest lists them.
            if not parts:
                raise InputError(f"{raw} is a finished stage output with no kept documents")
            files.extend(parts)
            continue
        found = _supported_files_under(str(path.resolve()))
        if not found:
            raise InputError(f"no supported input file ({', '.join(SUPPORTED_SUFFIXES)}) under {raw}")
        files.extend(found)
    # The same file named twice would be read twice: refuse instead of silently duplicating documents.
    seen: set[str] = set()
    dupes: set[str] = set()
    for f in files:
        if f in seen:
            dupes.add(f)
        seen.add(f)
    if dupes:
        more = f" (and {len(dupes) - 1} more)" if len(dupes) > 1 else ""
        raise InputError(f"input file given more than once: {min(dupes)}{more}")
    return files
