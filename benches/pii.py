"""PII scrubbing, side by side in one run: presidio's default analyzer, datatrove's PIIFormatter, ours.

Speed: single process (one core) over real web text extracted from the shared HTML pages (Korean blogs, portals,
news; English pages of trafilatura's benchmark) plus Common Crawl documents. Accuracy: per type and per look-alike
family on tests/data/pii/labelled.jsonl (planted, ours), tests/data/pii/real_en.jsonl (presidio-research synth +
NeMo Curator lines) and, for Korean false positives, the kr-MATAGI de-identification sentences (no license:
read from the shared directory, never bundled).

    .venv/bin/python benches/pii.py [--shared ../shared/data] [--repeat 3] [--presidio-mb 1.0]

Prints markdown tables (counts only: no found value is ever printed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from lmpipe.stages.pii.evaluate import score  # noqa: E402

DATA = ROOT / "tests" / "data" / "pii"


# --- the three finders: text -> [(start, end)] -------------------------------------------------------------


def ours():
    from lmpipe.stages.pii.scrubber import PiiScrubber

    scrubber = PiiScrubber()
    return lambda text: [(f.start, f.end) for f in scrubber.find(text)]


def presidio_default(korean: bool = False):
    """AnalyzerEngine with its own predefined recognizers for en and ko, regex only (its spaCy model can't download).

    Each text is analysed as 'en' and as 'ko' and the spans are united: presidio's best recall, at twice the time
    of one language. Its Korean recognizers (RRN, FRN, passport, driver's licence, BRN) ship disabled in its
    default_recognizers.yaml; `korean=True` adds them.
    """
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    # Its EmailRecognizer calls tldextract.extract, which fetches the suffix list over the network: offline copy.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    email_recognizer.tldextract.extract = offline
    languages = ["en", "ko"]
    nlp = NoOpNlpEngine(models=[{"lang_code": lang, "model_name": "none"} for lang in languages])
    registry = RecognizerRegistry(supported_languages=languages)
    registry.load_predefined_recognizers(languages=languages, nlp_engine=nlp)
    if korean:
        from presidio_analyzer.predefined_recognizers.country_specific import korea

        for cls in (korea.KrRrnRecognizer, korea.KrFrnRecognizer, korea.KrPassportRecognizer,
                    korea.KrDriverLicenseRecognizer, korea.KrBrnRecognizer):  # fmt: skip
            registry.add_recognizer(cls(supported_language="ko"))
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=languages)

    def find(text: str):
        spans = []
        for lang in languages:
            spans += [(r.start, r.end) for r in engine.analyze(text=text, language=lang)]
        return spans

    find.engine = engine
    return find


def datatrove_formatter():
    from datatrove.pipeline.formatters import PIIFormatter

    formatter = PIIFormatter()

    def find(text: str):
        spans = []
        for replacer in (formatter.emails_replacer, formatter.ip_replacer):
            for m in replacer.regex.finditer(text):
                if replacer.validator is None or replacer.validator(m.group(0)):
                    spans.append(m.span())
        return spans

    find.format = formatter.format
    return find


# --- data ----------------------------------------------------------------------------------------------------


def web_texts(shared: Path) -> tuple[list[str], list[str]]:
    """(Korean, English) page texts: all text of each page (menus, footers: where contact details live)."""
    from resiliparse.extract.html2text import extract_plain_text

    out: dict[str, list[str]] = {"ko": [], "en": []}
    for name, lang in (("korean_pages.jsonl.gz", "ko"), ("trafilatura_eval_en.jsonl.gz", "en")):
        for line in gzip.open(shared / "web/html" / name, "rt", encoding="utf-8"):
            html = json.loads(line).get("html")
            if html:
                text = extract_plain_text(html, main_content=False)
                if text.strip():
                    out[lang].append(text)
    for name in ("dolma_cc_documents_sample.jsonl.gz", "dolma_ccnet_en_head_sample.jsonl.gz"):
        out["en"] += [json.loads(line)["text"] for line in gzip.open(shared / "en" / name, "rt", encoding="utf-8")]
    return out["ko"], out["en"]


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def kr_ner_sentences(shared: Path) -> list[str]:
    """Sentences (line 2 of each block) of the kr-MATAGI de-identification set: Wikipedia-style Korean text."""
    out = []
    text = gzip.open(shared / "pii/ko_deidentification_ner_original_merge.txt.gz", "rt", encoding="utf-8").read()
    for block in text.split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) >= 2 and "\t" not in lines[1]:
            out.append(lines[1])
    return out


def kr_email_sentences(shared: Path) -> list[dict]:
    """Sentences with e-mail addresses (kr-MATAGI specific/email): each '@' token with a dotted domain is PII."""
    text = gzip.open(
        shared / "pii/ko_deidentification_ner_specific_email_url_bizno_zip.txt.gz", "rt", encoding="utf-8"
    ).read()
    section = text.split("##### ")[1]  # data/specific/merge_email.txt
    records = []
    for i, line in enumerate(section.split("\n")):
        spans = [m.span() for m in re.finditer(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+", line)]
        if spans:
            pii = [{"start": s, "end": e, "entity": "EMAIL_ADDRESS"} for s, e in spans]
            records.append({"id": f"kr-email/{i}", "text": line, "pii": pii, "lookalikes": []})
    return records


def families(shared: Path, ko: list[str], en: list[str]) -> list[dict]:
    """tests/data/pii/make_families.py's records (built from the shared data, never bundled) + web page pieces."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_families", DATA / "make_families.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(shared, (ko, en))


# --- runs ----------------------------------------------------------------------------------------------------


def throughput(fn, texts: list[str], repeat: int) -> tuple[float, float, float]:
    """Best of `repeat` passes: (MB per CPU second, MB per wall second, CPU seconds); MB = UTF-8 bytes / 1e6.

    The machine is shared: CPU seconds of this process are the per-core figure, wall time is shown beside it.
    """
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        for t in texts:
            fn(t)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return mb / best_cpu, mb / best_wall, best_cpu


def subset(texts: list[str], mb: float) -> list[str]:
    out, size = [], 0
    for t in texts:  # Korean and English interleaved so the subset mixes both
        out.append(t)
        size += len(t.encode("utf-8"))
        if size >= mb * 1e6:
            break
    return out


def _fmt(pair) -> str:
    return f"{pair[0]}/{pair[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT / "../shared/data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--presidio-mb", type=float, default=1.0, help="MB of web text for presidio's default")
    args = parser.parse_args()

    finders = {
        "presidio default": presidio_default(),
        "presidio default + KR": presidio_default(korean=True),
        "datatrove PIIFormatter": datatrove_formatter(),
        "ours": ours(),
    }
    ko, en = web_texts(args.shared)
    texts = ko + en
    interleaved = [t for pair in zip(ko, en) for t in pair]  # presidio's subset: Korean and English alike
    mb = {lang: sum(len(t.encode("utf-8")) for t in ts) / 1e6 for lang, ts in (("ko", ko), ("en", en))}
    print(f"web text: {len(ko)} Korean documents ({mb['ko']:.2f} MB), {len(en)} English ({mb['en']:.2f} MB)\n")

    print("| finder | text | MB/s per core (CPU time) | MB/s (wall) | CPU seconds | findings |")
    print("|---|---|---:|---:|---:|---:|")
    for name, find in finders.items():
        slow = name.startswith("presidio")
        sample = subset(interleaved, args.presidio_mb) if slow else texts
        mb = sum(len(t.encode("utf-8")) for t in sample) / 1e6
        rate, wall, secs = throughput(find, sample, 1 if slow else args.repeat)
        n = sum(len(find(t)) for t in sample)
        print(f"| {name} | {mb:.2f} MB | {rate:.2f} | {wall:.2f} | {secs:.2f} | {n} |")
        if name == "datatrove PIIFormatter":
            rate, wall, secs = throughput(find.format, sample, args.repeat)
            print(f"| {name} (.format, as shipped) | {mb:.2f} MB | {rate:.2f} | {wall:.2f} | {secs:.2f} | |")
    from lmpipe.stages.pii.scrubber import candidate_windows

    window_chars = sum(e - s for t in texts for ws in candidate_windows(t).values() for s, e in ws)
    print(f"\nours: presidio analysed {window_chars / sum(len(t) for t in texts):.1%} of the characters (windows)\n")

    sets = {
        "planted ko+en (labelled.jsonl)": load_jsonl(DATA / "labelled.jsonl"),
        "presidio synth + NeMo (real_en.jsonl)": load_jsonl(DATA / "real_en.jsonl"),
        "kr-MATAGI e-mail sentences": kr_email_sentences(args.shared),
        # issue 19: look-alikes where they occur in real text, identifiers written into real news sentences
        "real-text families (make_families.py)": families(args.shared, ko, en),
    }
    for set_name, records in sets.items():
        key = "format" if set_name.startswith("real-text families") else "entity"  # per family, not per type
        results = {name: score(find, records, key=key) for name, find in finders.items()}
        print(f"\n### {set_name}: {len(records)} records\n")
        names = list(finders)
        print("| type / family | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for kind in ("pii", "lookalikes"):
            keys = sorted(results["ours"][kind])
            for key in keys:
                cells = [_fmt(results[n][kind][key]) for n in names]
                print(f"| {'kept: ' if kind == 'lookalikes' else ''}{key} | " + " | ".join(cells) + " |")
        print("| **recall** | " + " | ".join(f"{results[n]['recall']:.3f}" for n in names) + " |")
        if results["ours"]["kept"] is not None:
            print("| **look-alikes kept** | " + " | ".join(f"{results[n]['kept']:.3f}" for n in names) + " |")

    sentences = kr_ner_sentences(args.shared)
    print(f"\n### kr-MATAGI sentences (Korean Wikipedia-style; a few hold real contact details): {len(sentences)}\n")
    print("| finder | sentences with a finding | findings |")
    print("|---|---:|---:|")
    for name, find in finders.items():
        counts = [len(find(s)) for s in sentences]
        print(f"| {name} | {sum(1 for c in counts if c)} | {sum(counts)} |")


if __name__ == "__main__":
    main()
