"""Reading documents from corpus files: JSONL (plain, .gz, .zst), Parquet and plain text.

Bad input never stops a run where going on is safe: a broken JSON line, a line that is not UTF-8, a record without
text, a truncated or a corrupt compressed file (whose checksum fails: none of its records is kept) is logged
with its file and line, written to `DIR/skipped/`, and counted in stats.json.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import time
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import zstandard
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from loguru import logger

from lmpipe.core import schema, slices, storage
from lmpipe.core.ledger import Ledger
from lmpipe.core.listing import (  # noqa: F401  (re-exported)
    SUPPORTED_SUFFIXES,
    file_format,
    resolve_inputs,
)
from lmpipe.core.progress import Progress
from lmpipe.core.records import (  # noqa: F401  (re-exported: readers is where callers look)
    SKIP_BAD_ENCODING,
    SKIP_BAD_JSON,
    SKIP_CORRUPT_FILE,
    SKIP_NO_TEXT,
    SKIP_NOT_AN_OBJECT,
    SKIP_TRUNCATED_FILE,
    SKIP_UNREADABLE_FILE,
    SKIP_WARC_CORRUPT_RECORD,
    SKIP_WARC_EMPTY_PAYLOAD,
    SKIP_WARC_HTTP_STATUS,
    SKIP_WARC_NOT_HTML,
    SKIP_WARC_PAYLOAD_TOO_LARGE,
    SKIP_WARC_UNDECODABLE,
    InputError,
    Skip,
)
from lmpipe.core.warc import iter_warc_file


def open_binary(path: str) -> io.BufferedIOBase:
    """Open a possibly compressed file as a stream of bytes (iterating it gives lines ending in b"\\n")."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst"):
        return io.BufferedReader(
            zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True)  # noqa: SIM115
        )
    return open(path, "rb")  # noqa: SIM115 (the caller closes it)


def open_text(path: str) -> io.TextIOBase:
    """Open a possibly compressed file as UTF-8 text; undecodable bytes are replaced, never fatal."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="replace", newline="")


_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_VERIFY_CHUNK = 1 << 20


def _verify_zstd(f) -> None:
    """Decompress every frame to its end (zstd checks a frame's content checksum, when it has one, at its end)."""
    dctx = zstandard.ZstdDecompressor()
    frame = None
    pending = b""
    while True:
        chunk = pending or f.read(_VERIFY_CHUNK // 16)  # 64 KiB in: bounded output even at a high ratio
        pending = b""
        if not chunk:
            break
        if frame is None:
            frame = dctx.decompressobj()
        frame.decompress(chunk)  # the output is only checked, not kept
        if frame.eof:
            pending, frame = frame.unused_data, None
    if frame is not None:  # the stream reader returns a cut frame's prefix without complaint: say so here
        raise EOFError("zstd frame ended before its end mark (file cut short)")


def verify_compressed(path: str) -> tuple[str, str] | None:
    """Check a .gz / .zst file's integrity end to end before any of its records is used.

    Returns None for a sound file (and for an uncompressed one: there is no checksum to check), else (reason,
    detail) with reason SKIP_UNREADABLE_FILE (not this compression at all), SKIP_TRUNCATED_FILE (the data ends
    before the integrity check) or SKIP_CORRUPT_FILE (the check fails).

    Why a pre-pass: gzip's CRC-32 and zstd's content checksum sit at the end of a member/frame, so a flipped bit
    is found only after every record before it has been decoded (altered) and passed on: of 30 seeded single-bit
    flips of samples/corpus/ko_kobill.jsonl.gz the reader used to keep altered documents in 16 and let a
    zlib.error escape (failing the stage) in 3. Decompressing once to the end and
    discarding the output streams in constant memory (buffering the records instead would hold a multi-GB file
    in memory). Cost, timeit on samples/corpus/en_gutenberg.jsonl.gz (214 kB): the pre-pass takes 2.4 ms; reading
    the file's documents went from 6.3 ms to 7.4 ms (+18%; reading lines as bytes won back part of it), a small
    share of any stage, whose filters cost far more per document than decompression.
    """
    with open(path, "rb") as f:
        magic = f.read(4)
        f.seek(0)
        try:
            if path.endswith(".gz"):
                if not magic.startswith(_GZIP_MAGIC):
                    return SKIP_UNREADABLE_FILE, f"not a gzip file (starts with {magic!r})"
                with gzip.GzipFile(fileobj=f) as gz:
                    while gz.read(_VERIFY_CHUNK):
                        pass
            elif path.endswith(".zst"):
                if magic != _ZSTD_MAGIC:
                    return SKIP_UNREADABLE_FILE, f"not a zstd file (starts with {magic!r})"
                _verify_zstd(f)
        except EOFError as e:
            return SKIP_TRUNCATED_FILE, f"{type(e).__name__}: {e}"
        except (gzip.BadGzipFile, zlib.error, zstandard.ZstdError) as e:
            return SKIP_CORRUPT_FILE, f"integrity check failed, no record of the file is kept: {type(e).__name__}: {e}"
    return None


@dataclass(frozen=True)
class RecordKeys:
    """Field names of a foreign corpus; everything else in a record is kept as metadata."""

    text: str = "text"
    id: str = "id"


def clean_text(text: str) -> str:
    """Make text storable: NFC (NFD Hangul jamo would defeat every Korean rule) and no lone surrogates."""
    text = unicodedata.normalize("NFC", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def record_to_document(record: dict, keys: RecordKeys, file: str, row: int, source: str) -> Document | Skip:
    text = record.get(keys.text)
    if not isinstance(text, str) or not text.strip():
        what = "missing" if text is None else ("empty" if isinstance(text, str) else type(text).__name__)
        return Skip(file, row, SKIP_NO_TEXT, f"field '{keys.text}' is {what}")
    raw_id = record.get(keys.id)
    metadata = {k: v for k, v in record.items() if k not in (keys.text, keys.id) and v is not None}
    metadata.setdefault(schema.SOURCE, source)
    metadata[schema.INPUT_FILE] = os.path.basename(file)
    metadata[schema.INPUT_ROW] = row
    # Ids are prefixed by source so two corpora that both number from 0 cannot collide.
    doc_id = f"{metadata[schema.SOURCE]}/{raw_id if raw_id is not None else f'{Path(file).name}:{row}'}"
    return Document(text=clean_text(text), id=doc_id, metadata=metadata)


def _bad_line(path: str, row: int, line: bytes, error: orjson.JSONDecodeError) -> Skip:
    """Why orjson refused a line: invalid UTF-8 (orjson decodes strictly) or broken JSON."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as e:
        return Skip(path, row, SKIP_BAD_ENCODING, f"invalid UTF-8 at byte {e.start}: {line[e.start : e.start + 4]!r}")
    return Skip(path, row, SKIP_BAD_JSON, str(error))


def iter_jsonl(path: str, keys: RecordKeys, source: str) -> Iterator[Document | Skip]:
    """Records of a JSONL file. Lines are read as bytes and parsed by orjson, which rejects invalid UTF-8: a line
    with undecodable bytes is a SKIP_BAD_ENCODING (never text with U+FFFD in it), the lines around it are kept.

    Compressed files are verified first (`verify_compressed`). The rule: a file whose integrity check fails
    yields no document, only one SKIP_CORRUPT_FILE, since any decoded byte before the check may be altered. A
    file that merely ends early (download or copy cut short: the data stops before its checksum) keeps the
    complete lines before the cut and counts one SKIP_TRUNCATED_FILE: a cut deflate/zstd stream decodes to an
    exact prefix of the original. (Of 1,100 random single-bit flips of two sample .jsonl.gz files none looked
    truncated: a flip is a data error or a CRC mismatch.)
    """
    problem = None
    if path.endswith((".gz", ".zst")):
        try:
            problem = verify_compressed(path)
        except OSError as e:
            yield Skip(path, None, SKIP_UNREADABLE_FILE, f"{type(e).__name__}: {e}")
            return
        if problem is not None and problem[0] != SKIP_TRUNCATED_FILE:
            yield Skip(path, None, *problem)
            return
    truncated = problem is not None
    row = -1
    try:
        with open_binary(path) as f:
            for row, line in enumerate(f):
                if row == 0 and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8) :]  # orjson refuses a BOM: it would cost the first record
                if truncated and not line.endswith(b"\n"):
                    break  # the cut-off end of a truncated file, not a record
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    yield _bad_line(path, row, line, e)
                    continue
                if not isinstance(record, dict):
                    yield Skip(path, row, SKIP_NOT_AN_OBJECT, f"got {type(record).__name__}")
                    continue
                yield record_to_document(record, keys, path, row, source)
    except EOFError as e:  # cut short (gzip says so here; zstd only in verify_compressed): complete lines stay
        yield Skip(path, row + 1 if row >= 0 else None, SKIP_TRUNCATED_FILE, f"{type(e).__name__}: {e}")
        return
    except (gzip.BadGzipFile, zlib.error, zstandard.ZstdError) as e:  # the file changed after it was verified
        yield Skip(path, row + 1 if row >= 0 else None, SKIP_CORRUPT_FILE, f"{type(e).__name__}: {e}")
        return
    except OSError as e:
        reason = SKIP_UNREADABLE_FILE if row < 0 else SKIP_TRUNCATED_FILE
        yield Skip(path, row + 1 if row >= 0 else None, reason, f"{type(e).__name__}: {e}")
        return
    if truncated:
        yield Skip(path, row + 1 if row >= 0 else None, *problem)


def iter_parquet(
    path: str, keys: RecordKeys, source: str, groups: range | None = None, shown: str | None = None
) -> Iterator[Document | Skip]:
    """Rows of a Parquet file, or of the row groups `groups` of it (a slice, lmpipe.core.slices: rows numbered
    from the file's start, skips named `shown`, the slice's entry)."""
    row = 0
    shown = shown or path
    try:
        parquet = slices.open_parquet(path)
        ours = schema.is_document_table(parquet.schema_arrow)
        if groups is not None:
            row = slices.first_row(parquet, groups)
        batches = parquet.iter_batches(batch_size=1024, row_groups=None if groups is None else list(groups))
        for batch in batches:
            for record in batch.to_pylist():
                if ours:
                    doc = schema.row_to_document(record)
                    yield doc if doc.text.strip() else Skip(shown, row, SKIP_NO_TEXT, "empty text")
                else:
                    item = record_to_document(record, keys, path, row, source)
                    if isinstance(item, Skip):
                        item.file = shown
                    yield item
                row += 1
    except (OSError, pa.ArrowException) as e:  # damaged or not Parquet at all
        reason = SKIP_UNREADABLE_FILE if row == 0 else SKIP_TRUNCATED_FILE
        yield Skip(shown, row, reason, f"{type(e).__name__}: {e}")


def iter_text(path: str, keys: RecordKeys, source: str) -> Iterator[Document | Skip]:
    """A plain text file is one document."""
    try:
        with open_text(path) as f:
            text = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError, OSError) as e:  # read whole: CRC checked
        yield Skip(path, None, SKIP_UNREADABLE_FILE, f"{type(e).__name__}: {e}")
        return
    name = Path(path).name
    yield record_to_document({keys.text: text, keys.id: name}, keys, path, 0, source)


def iter_warc(path: str, keys: RecordKeys, source: str) -> Iterator[Document | Skip]:
    """One document per HTML response record, its text the decoded HTML (see `lmpipe.core.warc`)."""
    yield from iter_warc_file(path, source)


_ITERATORS = {"jsonl": iter_jsonl, "parquet": iter_parquet, "text": iter_text, "warc": iter_warc}


def iter_file(path: str, keys: RecordKeys, source: str | None = None) -> Iterator[Document | Skip]:
    file, groups = slices.parse(path)
    if groups is not None:  # a slice of a large Parquet file: read in place (a URL by range requests)
        yield from iter_parquet(file, keys, source or default_source(file), groups, shown=path)
        return
    fmt = file_format(path)
    if fmt is None:
        raise InputError(f"unsupported input file {path}")
    if storage.is_url(path):
        # Read from a local copy with the same name (storage.local_copy); skips name the URL, not the copy.
        with storage.local_copy(path) as local:
            for item in iter_file(local, keys, source):
                if isinstance(item, Skip):
                    item.file = path
                yield item
        return
    if not os.access(path, os.R_OK):
        yield Skip(path, None, SKIP_UNREADABLE_FILE, "permission denied or missing")
        return
    yield from _ITERATORS[fmt](path, keys, source or default_source(path))


def default_source(path: str) -> str:
    name = Path(path).name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class InputSource:
    """Files of one input and what to record about their documents."""

    files: tuple[str, ...]
    keys: RecordKeys = RecordKeys()
    source: str | None = None  # default: the record's own "source" field, else the file name
    lang: str | None = None  # set when a corpus is known to be one language and records don't say


def task_files(inputs: list[InputSource], rank: int, world_size: int) -> Iterator[tuple[InputSource, str]]:
    """(input, file) of task `rank`: all inputs' files in order, dealt round-robin over the tasks as one list.
    Not each input's files[rank::world_size]: that gave task 0 every input of a single file, and left tasks empty
    (a job over `samples/corpus` and `samples/warc` ran 3 of its 11 tasks on nothing)."""
    i = 0
    for inp in inputs:
        for path in inp.files:
            if i % world_size == rank:
                yield inp, path
            i += 1


class CorpusReader(PipelineStep):
    """First step of a stage: reads this task's share of the inputs' files (task_files) and counts it."""

    name = "corpus reader"
    type = "📖 - READER"

    def __init__(self, inputs: list[InputSource], ledger: Ledger, skipped_dir: str, label: str = "read"):
        super().__init__()
        self.inputs = inputs
        self.ledger = ledger
        self.skipped_dir = skipped_dir
        self.label = label

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        self.ledger.reset()
        self.ledger.started = time.monotonic()
        skips = _SkipLog(storage.join(self.skipped_dir, f"{rank:05d}.jsonl"))
        with skips, Progress(f"{self.label} task {rank}") as progress:
            for inp, path in task_files(self.inputs, rank, world_size):
                self.ledger.files.append(path)
                docs_before = self.ledger.docs_in
                for item in iter_file(path, inp.keys, inp.source):
                    if isinstance(item, Skip):
                        self.ledger.skipped_input[item.reason] += 1
                        skips.write(item)
                        continue
                    if inp.lang and schema.LANG not in item.metadata:
                        item.metadata[schema.LANG] = inp.lang
                    nbytes = schema.text_bytes(item)
                    self.ledger.docs_in += 1
                    self.ledger.bytes_in += nbytes
                    progress.update(nbytes)
                    yield item
                # counted per file, not per document (see lmpipe.core.steps)
                self.stat_update("documents", value=self.ledger.docs_in - docs_before, unit="file")


class _SkipLog:
    """DIR/skipped/<task>.jsonl: where and why each skipped record was skipped (no text content is copied)."""

    def __init__(self, path: str):
        self.path = path
        self.tmp = storage.temp_path_for(path)
        self.file = None
        self.count = 0

    def __enter__(self):
        return self

    def write(self, skip: Skip) -> None:
        where = f"{skip.file}:{skip.row + 1}" if skip.row is not None else skip.file
        # Log the first few loudly, then quietly: a corrupt 10 GB file must not flood the console.
        if self.count < 20:
            logger.warning(f"skipped input record at {where}: {skip.reason} ({skip.detail})")
        elif self.count == 20:
            logger.warning(f"more skipped input records; all are listed in {self.path}")
        self.count += 1
        if self.file is None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.tmp, "wb")  # noqa: SIM115 (closed in __exit__)
        record = {"file": skip.file, "line": None if skip.row is None else skip.row + 1}
        record.update(reason=skip.reason, detail=skip.detail[:500])
        self.file.write(orjson.dumps(record) + b"\n")

    def __exit__(self, exc_type, *_):
        if self.file is not None:
            self.file.close()
            if exc_type is None:
                storage.commit_file(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)
        elif exc_type is None:
            storage.remove(self.path)  # a re-run that now skips nothing must not keep an old list
