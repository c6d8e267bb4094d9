"""`lmpipe export`: the pack stage's shards converted for other trainers (llm.c, Megatron-LM, datatrove/nanotron).

    python -m lmpipe export --format {llmc,megatron,datatrove} --input PACK_DIR --output DIR [--split train val]

Every export keeps the split's token order and its document boundaries (EOS tokens for llm.c, the index files for
Megatron and datatrove), and writes DIR/export.json (format, source, tokenizer, per split: documents, tokens,
files). The layouts and their sources: docs/FORMATS.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from lmpipe.core.ledger import write_json_atomic
from lmpipe.export.datatrove_tokens import export_datatrove
from lmpipe.export.llmc import export_llmc
from lmpipe.export.megatron import export_megatron
from lmpipe.export.source import ExportError, load_split
from lmpipe.trainer.shards import SPLITS, read_manifest, shards_dir

FORMATS = ("llmc", "megatron", "datatrove")

__all__ = ["FORMATS", "ExportError", "export"]


def export(fmt: str, pack_dir: str | os.PathLike, output: str | os.PathLike, splits=SPLITS) -> dict:
    """Convert `pack_dir` (the pack stage's output folder or its shards/) into `output`; returns export.json."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    folder = shards_dir(pack_dir)
    out = Path(output)
    if out.resolve() == folder.resolve():
        raise ExportError(f"{out}: export into the shards folder itself")
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder) or {}
    report = {}
    for name in splits:
        split = load_split(folder, name)
        if split is None:
            report[name] = {"documents": 0, "tokens": 0, "files": []}
            continue
        if fmt == "llmc":
            files = export_llmc(split, out)
        elif fmt == "megatron":
            files = export_megatron(split, out)
        else:
            files = export_datatrove(split, out, manifest.get("tokenizer") or "lmpipe")
        report[name] = {"documents": split.num_documents, "tokens": split.num_tokens, **files}
    result = {
        "format": fmt,
        "source": str(folder.resolve()),
        "tokenizer": manifest.get("tokenizer"),
        "tokenizer_sha256": manifest.get("tokenizer_sha256"),
        "vocab_size": manifest.get("vocab_size"),
        "eos_id": manifest.get("eos_id"),
        "splits": report,
    }
    write_json_atomic(out / "export.json", result)
    return result
