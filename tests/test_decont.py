"""Benchmark decontamination: loaders, index, full scan, stage (drop and cut), report; Korean and English."""

import json
import random
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from lmpipe.core.readers import RecordKeys, Skip, iter_file
from lmpipe.core.runner import InputSpec, run_stage
from lmpipe.stages.decont import normalize as norm
from lmpipe.stages.decont.benchmarks import BenchmarkError, discover, load_examples
from lmpipe.stages.decont.index import IndexParams, build_index, load_index, load_or_build
from lmpipe.stages.decont.scan import Scanner
from lmpipe.stages.decont.stage import (
    CUT_CHARS,
    DECONT_BENCHMARK_OVERLAP,
    DECONT_STAGE,
    HIT_BENCHMARK,
    HIT_EXAMPLE,
    DecontConfig,
    DecontCut,
    DecontFilter,
)

BENCH = Path(__file__).resolve().parent.parent / "samples" / "benchmarks"


@pytest.fixture(scope="module")
def specs():
    return discover(BENCH)


@pytest.fixture(scope="module")
def examples(specs):
    return [e for s in specs for e in load_examples(s)]


@pytest.fixture(scope="module")
def index(specs):
    return build_index(specs, IndexParams())


@pytest.fixture(scope="module")
def corpus():
    docs = []
    for f in sorted(Path("samples/corpus").iterdir()):
        if f.suffix != ".py":
            docs += [d for d in iter_file(str(f), RecordKeys()) if not isinstance(d, Skip)]
    return docs


# --- loaders ------------------------------------------------------------------------------------------------
def test_every_bundled_format_loads(examples):
    names = {e.benchmark for e in examples}
    assert names == {
        "mmlu",
        "arc_challenge",
        "arc_easy",
        "hellaswag",
        "gsm8k",
        "humaneval",
        "truthfulqa",
        "mt_bench",
        "kobest",
        "klue",
    }
    by_id = {e.id: e for e in examples}
    arc = by_id["arc_challenge_test/Mercury_7175875"]
    assert arc.fields[0].startswith("An astronomer observes") and "Planetary days will become shorter." in arc.fields
    copa = by_id["COPA_test/1"]
    assert copa.fields == (
        "새로 산 바지의 허리가 컸다.",
        "바지의 밑단을 잘랐다.",
        "벨트를 바지에 끼워 사이즈를 조절했다.",
    )
    ner = next(e for e in examples if e.id.startswith("klue-ner-v1/"))
    assert "<" not in ner.text and ":OG>" not in ner.text  # entity tags stripped
    wic = next(e for e in examples if e.id.startswith("WiC_test/"))
    assert "[" not in wic.text


def test_manifest_generic_format(tmp_path):
    (tmp_path / "qa.jsonl").write_text(
        json.dumps(
            {"qid": "q1", "q": {"stem": "세종대왕은 어떤 문자를 만들었는가?"}, "opts": ["한글", "한자"]},
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "manifest.yaml").write_text(
        "benchmarks:\n  - {name: myqa, path: qa.jsonl, format: jsonl, id_field: qid, fields: [q.stem, opts]}\n"
    )
    [spec] = discover(tmp_path)
    [ex] = list(load_examples(spec))
    assert (ex.benchmark, ex.id, ex.fields) == (
        "myqa",
        "qa/q1",
        ("세종대왕은 어떤 문자를 만들었는가?", "한글", "한자"),
    )
    (tmp_path / "manifest.yaml").write_text("benchmarks:\n  - {name: x, path: qa.jsonl, format: nope}\n")
    with pytest.raises(BenchmarkError, match="unknown format 'nope'"):
        list(load_examples(discover(tmp_path)[0]))


# --- planted contamination ----------------------------------------------------------------------------------
def _variants(passage: str, rng: random.Random) -> list[str]:
    """The same passage as it may appear on the web: case, punctuation, whitespace and Unicode-form changes."""
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in passage)
    spaced = "".join(c + ("\n" if rng.random() < 0.05 else "  " if c == " " else "") for c in passage)
    return [
        passage.upper(),
        passage.replace(" ", ", ").replace(".", "!?"),
        spaced,
        fullwidth,
        unicodedata.normalize("NFD", passage),
        "**" + passage.swapcase() + "**",
    ]


def _passages(examples, rng):
    """A passage per example of 50+ normalized characters: a slice of its text with 50 to 120 of them."""
    out = []
    for e in examples:
        text = e.text
        n = len(norm.normalize(text))
        if n < 60:
            continue
        start = rng.randrange(0, max(len(text) // 3, 1))
        end = start + 1
        while end < len(text) and len(norm.normalize(text[start:end])) < 50 + rng.randrange(0, 40):
            end += 1
        if len(norm.normalize(text[start:end])) >= 50:
            out.append((e, text[start:end]))
    return out


def test_every_planted_passage_is_caught(index, examples, corpus):
    rng = random.Random(3)
    hosts = [d.text for d in corpus if len(d.text) > 400]
    planted = []
    for e, passage in _passages(examples, rng):
        for v in _variants(passage, rng):
            host = rng.choice(hosts)[:3000]
            cut = rng.randrange(len(host))
            planted.append((e, host[:cut] + " " + v + " " + host[cut:]))
    assert len(planted) > 500 and {e.benchmark for e, _ in planted} >= {"mmlu", "gsm8k", "kobest", "klue"}
    hits = Scanner(index).scan([t for _, t in planted])
    missed = [i for i in range(len(planted)) if i not in hits]
    assert not missed, [planted[i][1][:200] for i in missed[:3]]


def test_clean_corpus_keeps_999_per_mille(index, corpus):
    hits = Scanner(index).scan([d.text for d in corpus])
    assert len(corpus) > 3000
    assert len(hits) <= len(corpus) * 0.001, [corpus[i].text[:200] for i in hits]


def test_exact_50_window_at_any_offset_for_every_probe_stride(specs):
    text = "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning"
    normalized = norm.normalize(text)
    for stride in (1, 3, 8, 17):
        scanner = Scanner(build_index(specs, IndexParams(probe_stride=stride)))
        for offset in range(0, len(normalized) - 50 + 1, 3):
            for pad in range(0, 20, 7):
                doc = "가" * pad + "  " + normalized[offset : offset + 50].upper() + " 끝."
                assert 0 in scanner.scan([doc]), (stride, offset, pad)
        assert not Scanner(build_index(specs, IndexParams(probe_stride=stride))).scan([normalized[:49]])


def test_windows_do_not_straddle_documents(index):
    text = norm.normalize("Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning")
    docs = ["intro " + text[:30], text[30:60] + " outro", "unrelated text " * 10]
    assert Scanner(index).scan(docs) == {}


def _mixed_batch(examples, corpus) -> list[str]:
    """Real documents with planted passages (some decomposed to NFD: the exact path), empty ones between."""
    rng = random.Random(9)
    texts = [d.text for d in corpus[:300]]
    for k, (_, passage) in enumerate(_passages(examples, rng)[:40]):
        texts.insert(rng.randrange(len(texts)), unicodedata.normalize("NFD", passage) if k % 4 == 0 else passage)
    texts[5:5] = ["", "", unicodedata.normalize("NFD", "수정된 안내문입니다. " * 20)]
    return texts + [""]


def test_batched_scan_equals_one_document_at_a_time(index, examples, corpus):
    texts = _mixed_batch(examples, corpus)
    sc = Scanner(index)
    alone = {i: h for i, t in enumerate(texts) for h in [sc.scan([t]).get(0)] if h}
    batched = sc.scan(texts)
    assert len(alone) >= 40 and batched.keys() == alone.keys()
    for i, h in alone.items():
        # the same (window start, example) pairs; their order follows the probe grid, which batching shifts
        assert sorted(zip(batched[i].positions, batched[i].examples)) == sorted(zip(h.positions, h.examples))


@pytest.mark.parametrize("batch_chars", [1, 700, 1 << 18])
def test_filter_batches_by_characters_and_counts_every_document(tmp_path, index, examples, corpus, batch_chars):
    texts = _mixed_batch(examples, corpus)
    hit = set(Scanner(index).scan(texts))
    f = DecontFilter(DecontConfig(benchmarks=str(BENCH), cache_dir=str(tmp_path), batch_chars=batch_chars))
    docs = [Document(t, f"d{i}") for i, t in enumerate(texts)]
    kept = [d.id for d in f.run(iter(docs))]
    assert kept == [f"d{i}" for i in range(len(texts)) if i not in hit]
    assert f.stats["total"].total == len(texts) and f.stats["dropped"].total == len(hit)
    assert f.stats["forwarded"].total == len(kept)
    assert f.stats[f"dropped_{DECONT_BENCHMARK_OVERLAP}"].total == len(hit)


def test_short_example_rule(index, examples):
    short = [e for e in examples if 25 <= len(norm.normalize(e.text)) < 50]
    tiny = [e for e in examples if len(norm.normalize(e.text)) < 25]
    assert short and tiny
    assert sum(c.too_short for c in index.counts.values()) == len(tiny)
    assert sum(c.indexed_whole for c in index.counts.values()) == len(short)
    sc = Scanner(index)
    whole = ["후기: " + e.text + " 감사합니다" for e in short]
    assert set(sc.scan(whole)) == set(range(len(short)))
    partial = [norm.normalize(e.text)[1:] for e in short]  # one character short of the whole example
    assert not sc.scan(partial)


def test_sampling_misses_what_the_full_scan_finds(specs, examples, corpus):
    index = build_index(specs, IndexParams())
    rng = random.Random(5)
    host = next(d.text for d in corpus if len(d.text) > 20000)
    docs = []
    for _, passage in _passages(examples, rng)[:60]:
        cut = rng.randrange(len(host) - 10000)
        docs.append(host[cut : cut + 5000] + passage + host[cut + 5000 : cut + 10000])
    full = Scanner(index).scan(docs)
    sampled = Scanner(index, sample_windows=10).scan(docs, [f"d{i}" for i in range(len(docs))])
    assert len(full) == len(docs)
    assert len(sampled) < len(docs) // 2


def test_word_mode(specs):
    index = build_index(specs, IndexParams(unit="words", window=13, min_short_units=8, probe_stride=4))
    sc = Scanner(index)
    q = "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins"
    assert 0 in sc.scan(["Yesterday: " + q.upper()])
    assert not sc.scan(["Janet’s ducks lay 16 eggs per day, and that is all."])


# --- the stage ----------------------------------------------------------------------------------------------
def test_filter_drops_with_reason_and_records_example(tmp_path):
    f = DecontFilter(DecontConfig(benchmarks=str(BENCH), cache_dir=str(tmp_path)))
    leak = Document(
        "Quiz!\n" + "새로 산 바지의 허리가 컸다. 바지의 밑단을 잘랐다. 벨트를 바지에 끼워 사이즈를 조절했다.", "d1"
    )
    clean = Document("바지를 새로 샀는데 허리가 커서 벨트를 했다. 밑단도 줄였다. " * 3, "d2")
    assert f.filter_batch([leak, clean]) == [(False, DECONT_BENCHMARK_OVERLAP), True]
    assert leak.metadata[HIT_BENCHMARK] == "kobest" and leak.metadata[HIT_EXAMPLE] == "COPA_test/1"


def test_cut_mode_removes_span_keeps_document(tmp_path, examples):
    cfg = DecontConfig(benchmarks=str(BENCH), cache_dir=str(tmp_path), action="cut", cut_margin_chars=5)
    gsm = next(e for e in examples if e.benchmark == "gsm8k").fields[0]
    before, after = "Intro paragraph about cooking." * 5, "Closing paragraph on farming." * 5
    doc = Document(before + "\n\n" + gsm.upper() + "\n\n" + after, "d")
    [out] = list(DecontCut(cfg).run(iter([doc])))
    assert out.metadata[HIT_BENCHMARK] == "gsm8k" and out.metadata[CUT_CHARS] >= len(gsm)
    assert "JANET" not in out.text and out.text.startswith("Intro") and out.text.endswith("farming.")


def test_index_cache_is_written_atomically_and_reused(specs, tmp_path):
    params = IndexParams()
    a = load_or_build(specs, params, tmp_path)
    [path] = list(tmp_path.glob("decont-*.idx"))
    b, table = load_index(path)
    assert (b.keys == a.keys).all() and b.examples == a.examples and table is not None
    assert not list(tmp_path.glob("*.tmp*"))
    path.write_bytes(b"NOTANIDX" + path.read_bytes()[8:])
    with pytest.raises(ValueError, match="not a decont index"):
        load_index(path)


def test_stage_end_to_end_with_report(tmp_path, examples, corpus):
    inp = tmp_path / "in.jsonl"
    mmlu = next(e for e in examples if e.benchmark == "mmlu" and len(norm.normalize(e.text)) > 60)
    klue = next(e for e in examples if e.benchmark == "klue" and len(norm.normalize(e.text)) > 60)
    rows = [{"id": f"c{i}", "text": d.text} for i, d in enumerate(corpus[:200])]
    rows += [
        {"id": "leak-en", "text": "Study notes. " + mmlu.text.upper()},
        {"id": "leak-ko", "text": "메모: " + klue.text},
    ]
    inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    cfg = DecontConfig(benchmarks=str(BENCH), cache_dir=str(tmp_path / "cache"))
    run_stage(DECONT_STAGE, cfg, [InputSpec(path=str(inp))], out)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["docs_in"] == len(rows) and stats["docs_out"] == len(rows) - 2
    assert (
        stats["decont"]["benchmarks"]["mmlu"]["docs_hit"] == 1
        and stats["decont"]["benchmarks"]["klue"]["docs_hit"] == 1
    )
    excluded = pq.read_table(next((out / "excluded").glob("*.parquet"))).to_pylist()
    assert {r["id"] for r in excluded} == {"in/leak-en", "in/leak-ko"}
    report = (out / "report.md").read_text()
    assert "| mmlu |" in report and "leak-ko" in report and mmlu.id in report
