"""Which files an input names: supported formats by suffix, and folders (or earlier stages' outputs) expanded."""

from __future__ import annotations

import os
from pathlib import Path

from lmpipe.core.records import InputError

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".ndjson.gz", ".ndjson.zst", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.zst")
WARC_SUFFIXES = (".warc", ".warc.gz")
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES + WARC_SUFFIXES


def file_format(path: str | os.PathLike) -> str | None:
    name = str(path).lower()
    for fmt, suffixes in (
        ("jsonl", JSONL_SUFFIXES),
        ("parquet", PARQUET_SUFFIXES),
        ("text", TEXT_SUFFIXES),
        ("warc", WARC_SUFFIXES),
    ):
        if name.endswith(suffixes):
            return fmt
    return None


def resolve_inputs(paths: list[str | os.PathLike]) -> list[str]:
    """Expand files and folders (recursively) into a sorted list of absolute supported files; fail on bad paths."""
    files: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"input path does not exist: {raw}")
        if path.is_file():
            if file_format(path) is None:
                raise InputError(f"unsupported input file {raw}: expected one of {', '.join(SUPPORTED_SUFFIXES)}")
            files.append(str(path.resolve()))
            continue
        if (path / "_stage.json").exists():
            # Output of an earlier stage: only its kept documents are input; excluded/ and _logs/ are not.
            found = sorted(str(p.resolve()) for p in path.glob("part-*.parquet"))
            if not found:
                raise InputError(f"{raw} is a stage output folder with no part-*.parquet (did that stage finish?)")
            files.extend(found)
            continue
        found = sorted(
            str(p.resolve())
            for p in path.rglob("*")
            if p.is_file() and file_format(p) is not None and not any(part.startswith(("_", ".")) for part in p.parts)
        )
        if not found:
            raise InputError(f"no supported input file ({', '.join(SUPPORTED_SUFFIXES)}) under {raw}")
        files.extend(found)
    # The same file named twice would be read twice: refuse instead of silently duplicating documents.
    dupes = sorted({f for f in files if files.count(f) > 1})
    if dupes:
        raise InputError(f"input file given more than once: {dupes[0]}")
    return files
