"""Benchmark test sets from local files, each in its original format, and a manifest to add more without code.

An example is the text a model sees or must produce for one benchmark item, as a tuple of fields (question,
choices, answer, passage as applicable); the index concatenates them in order, so a window may span question
and choices the way a formatted copy on the web would.

Manifest (YAML; paths relative to the manifest):

    benchmarks:
      - {name: mmlu, path: mmlu_test.jsonl.gz, format: mmlu}          # a built-in format (FORMATS)
      - name: my_qa                                                     # a generic one: jsonl, json, csv, tsv
        path: my_qa.jsonl
        format: jsonl
        id_field: qid                                                   # default: row number
        fields: [question.stem, choices, answer]                        # dotted paths; lists are flattened

`benchmarks=DIR` without a manifest.yaml in DIR finds the files of DEFAULT_LAYOUT (the layout of the shared
benchmark folder) and fails if it finds none.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml


class BenchmarkError(ValueError):
    pass


@dataclass(frozen=True)
class Example:
    benchmark: str
    id: str
    fields: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.fields)


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    path: Path
    format: str
    id_field: str | None = None
    fields: tuple[str, ...] = ()


def _open(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _jsonl(path: Path) -> Iterator[dict]:
    with _open(path) as f:
        for row, line in enumerate(f):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise BenchmarkError(f"{path}:{row + 1}: not JSON ({e})") from e


def _json(path: Path):
    with _open(path) as f:
        return json.load(f)


def _tsv(path: Path) -> Iterator[dict]:
    with _open(path) as f:
        yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)


def _strs(*values) -> tuple[str, ...]:
    """Flatten strings and lists of strings; drop empty ones (an empty passage is no text)."""
    out: list[str] = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_strs(*v))
        elif v is not None and str(v).strip():
            out.append(str(v))
    return tuple(out)


# --- one loader per original format: path -> (id, fields) ----------------------------------------------------
Loader = Callable[[Path], Iterator[tuple[str, tuple[str, ...]]]]


def load_mmlu(path: Path):
    for i, r in enumerate(_jsonl(path)):
        yield r.get("id", str(i)), _strs(r["question"], r["choices"])


def load_arc(path: Path):
    for r in _jsonl(path):
        q = r["question"]
        yield r["id"], _strs(q["stem"], [c["text"] for c in q["choices"]])


def load_hellaswag(path: Path):
    for i, r in enumerate(_jsonl(path)):
        yield str(r.get("id", i)), _strs(r["ctx"], r["endings"])


def load_gsm8k(path: Path):
    for i, r in enumerate(_jsonl(path)):
        yield str(i), _strs(r["question"], r["answer"])


def load_humaneval(path: Path):
    for r in _jsonl(path):
        yield r["task_id"], _strs(r["prompt"], r["canonical_solution"])


def load_truthfulqa(path: Path):
    with _open(path) as f:
        for i, r in enumerate(csv.DictReader(f)):
            answers = [a.strip() for key in ("Correct Answers", "Incorrect Answers") for a in r[key].split(";")]
            yield str(i), _strs(r["Question"], r["Best Answer"], answers)


def load_mt_bench(path: Path):
    for r in _jsonl(path):
        yield str(r["question_id"]), _strs(r["turns"])


def load_kmmlu(path: Path):
    for i, r in enumerate(_json(path)):
        yield str(i), _strs(r["question"], [r[k] for k in "ABCD"])


def load_click(path: Path):
    for r in _jsonl(path):
        yield r["id"], _strs(r.get("paragraph"), r["question"], r["choices"])


def load_csatqa(path: Path):
    for r in _jsonl(path):
        yield r["id"], _strs(r["instruction"])


def load_korquad(path: Path):
    """SQuAD v1.1 JSON: one example per question (context, question, answers); contexts repeat across them."""
    for article in _json(path)["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                yield qa["id"], _strs(para["context"], qa["question"], [a["text"] for a in qa["answers"]])


_KOBEST_COLUMNS = {  # task (file name prefix) -> text columns, in the order a prompt shows them
    "BoolQ": ("Text", "Question"),
    "COPA": ("sentence", "1", "2"),
    "HellaSwag": ("context", "choice1", "choice2", "choice3", "choice4"),
    "SentiNeg": ("Text",),
    "WiC": ("SENTENCE1", "SENTENCE2"),
}


def load_kobest(path: Path):
    task = path.name.split("_")[0]
    if task not in _KOBEST_COLUMNS:
        raise BenchmarkError(f"{path}: unknown KoBEST task {task!r}; known: {', '.join(_KOBEST_COLUMNS)}")
    for i, r in enumerate(_tsv(path)):
        # WiC marks the target word with [brackets]; the sentence on the web has none.
        yield r.get("ID", str(i)), _strs([r[c].replace("[", "").replace("]", "") for c in _KOBEST_COLUMNS[task]])


def load_klue_json(path: Path):
    """KLUE NLI (premise, hypothesis) and STS (sentence1, sentence2) dev JSON."""
    for r in _json(path):
        yield r["guid"], _strs(r.get("premise"), r.get("hypothesis"), r.get("sentence1"), r.get("sentence2"))


_NER_TAG = re.compile(r"<([^<>]+?):[A-Z]{2}>")


def load_klue_conll(path: Path):
    """KLUE DP/NER CoNLL-like TSV: the sentence is on the "## <id>\\t<sentence>" header line."""
    with _open(path) as f:
        for line in f:
            if line.startswith("## klue-") and "\t" in line:
                guid, sentence = line[3:].rstrip("\n").split("\t", 1)
                yield guid, _strs(_NER_TAG.sub(r"\1", sentence))


FORMATS: dict[str, Loader] = {
    "mmlu": load_mmlu,
    "arc": load_arc,
    "hellaswag": load_hellaswag,
    "gsm8k": load_gsm8k,
    "humaneval": load_humaneval,
    "truthfulqa": load_truthfulqa,
    "mt_bench": load_mt_bench,
    "kmmlu": load_kmmlu,
    "click": load_click,
    "csatqa": load_csatqa,
    "korquad": load_korquad,
    "kobest": load_kobest,
    "klue_json": load_klue_json,
    "klue_conll": load_klue_conll,
}
GENERIC_FORMATS = ("jsonl", "json", "csv", "tsv")

# file-name pattern (glob, relative to the folder) -> (benchmark name, format); names may use {stem}
DEFAULT_LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("mmlu_test.jsonl*", "mmlu", "mmlu"),
    ("arc_challenge_test.jsonl*", "arc_challenge", "arc"),
    ("arc_easy_test.jsonl*", "arc_easy", "arc"),
    ("hellaswag_val.jsonl*", "hellaswag", "hellaswag"),
    ("gsm8k_test.jsonl*", "gsm8k", "gsm8k"),
    ("HumanEval.jsonl*", "humaneval", "humaneval"),
    ("TruthfulQA.csv*", "truthfulqa", "truthfulqa"),
    ("mt_bench_question.jsonl*", "mt_bench", "mt_bench"),
    ("kmmlu*.json*", "kmmlu", "kmmlu"),
    ("click.jsonl*", "click", "click"),
    ("csatqa.jsonl*", "csatqa", "csatqa"),
    ("KorQuAD_v1.0_dev.json*", "korquad", "korquad"),
    ("kobest/*.tsv*", "kobest", "kobest"),
    ("klue/klue-*-v1.1_dev.json*", "klue", "klue_json"),
    ("klue/klue-*-v1.1_dev.tsv*", "klue", "klue_conll"),
)


def _get(record: dict, dotted: str):
    value = record
    for part in dotted.split("."):
        if isinstance(value, list):
            value = [v.get(part) if isinstance(v, dict) else None for v in value]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _load_generic(spec: BenchmarkSpec):
    if not spec.fields:
        raise BenchmarkError(f"benchmark {spec.name}: format {spec.format} needs `fields`")
    if spec.format == "jsonl":
        rows = _jsonl(spec.path)
    elif spec.format == "json":
        rows = _json(spec.path)
        if not isinstance(rows, list):
            raise BenchmarkError(f"{spec.path}: format json expects a top-level array")
    else:
        f = _open(spec.path)
        rows = csv.DictReader(f, delimiter="\t" if spec.format == "tsv" else ",")
    for i, r in enumerate(rows):
        missing = [k for k in spec.fields if _get(r, k) is None]
        if len(missing) == len(spec.fields):
            raise BenchmarkError(f"{spec.path}: record {i} has none of the fields {list(spec.fields)}")
        rid = str(_get(r, spec.id_field)) if spec.id_field else str(i)
        yield rid, _strs(*[_get(r, k) for k in spec.fields])


def load_examples(spec: BenchmarkSpec) -> Iterator[Example]:
    if spec.format in FORMATS:
        rows = FORMATS[spec.format](spec.path)
    elif spec.format in GENERIC_FORMATS:
        rows = _load_generic(spec)
    else:
        raise BenchmarkError(
            f"benchmark {spec.name}: unknown format {spec.format!r}; valid: {', '.join([*FORMATS, *GENERIC_FORMATS])}"
        )
    # Files of one benchmark (KoBEST tasks, KLUE tasks) share the name: the file stem keeps their ids apart.
    prefix = spec.path.name.split(".")[0]
    for rid, fields in rows:
        yield Example(spec.name, f"{prefix}/{rid}", fields)


def read_manifest(path: Path) -> list[BenchmarkSpec]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise BenchmarkError(f"{path}: expected a mapping with a non-empty list `benchmarks:`")
    specs = []
    valid = {"name", "path", "format", "id_field", "fields"}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not {"name", "path", "format"} <= set(e):
            raise BenchmarkError(f"{path}: benchmarks[{i}] needs name, path and format")
        if set(e) - valid:
            unknown = sorted(set(e) - valid)
            raise BenchmarkError(f"{path}: benchmarks[{i}]: unknown keys {unknown}; valid: {sorted(valid)}")
        p = (path.parent / e["path"]).resolve()
        matches = sorted(p.parent.glob(p.name)) if any(c in p.name for c in "*?[") else [p]
        for m in matches:
            if not m.is_file():
                raise BenchmarkError(f"{path}: benchmarks[{i}]: file not found: {m}")
            specs.append(BenchmarkSpec(e["name"], m, e["format"], e.get("id_field"), tuple(e.get("fields") or ())))
        if not matches:
            raise BenchmarkError(f"{path}: benchmarks[{i}]: no file matches {e['path']}")
    return specs


def discover(path: str | Path) -> list[BenchmarkSpec]:
    """Benchmark files of a manifest (a .yaml file, or DIR/manifest.yaml) or of a folder in DEFAULT_LAYOUT."""
    path = Path(path)
    if path.is_file():
        return read_manifest(path)
    if not path.is_dir():
        raise BenchmarkError(f"benchmarks: no such file or folder: {path}")
    if (path / "manifest.yaml").is_file():
        return read_manifest(path / "manifest.yaml")
    specs = [
        BenchmarkSpec(name, f, fmt)
        for pattern, name, fmt in DEFAULT_LAYOUT
        for f in sorted(path.glob(pattern))
        if f.is_file()
    ]
    if not specs:
        raise BenchmarkError(f"{path}: no manifest.yaml and no known benchmark file (see DEFAULT_LAYOUT)")
    return specs


def content_hash(specs: list[BenchmarkSpec]) -> str:
    """Hash of the benchmark files' bytes and how they are read: the key of the index cache."""
    h = hashlib.sha256()
    for s in specs:
        h.update(f"{s.name}\0{s.format}\0{s.id_field}\0{s.fields}\0{s.path.name}\0".encode())
        h.update(hashlib.sha256(s.path.read_bytes()).digest())
    return h.hexdigest()[:20]
