"""MinHash signatures equal datasketch's; LSH parameters are datasketch's; components match union-find."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash, MinHashLSH

from lmpipe.stages.dedup import minhash, phases
from lmpipe.stages.dedup.shuffle import SLOTS, read_range, slot_range, write_sorted

KO = "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다."
EN = "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do."


@pytest.mark.parametrize("kind", ["char", "word", "morpheme"])
def test_signatures_equal_datasketch(kind):
    texts = [KO, EN, KO + "\n" + EN * 40, "짧다", "!!!"]
    ours = minhash.signatures([minhash.shingle_hashes(t, kind, 5) for t in texts], num_perm=128, seed=1)
    for text, sig in zip(texts, ours):
        reference = MinHash(num_perm=128, seed=1, hashfunc=minhash.shingle_hash32, scheme="affine32")
        reference.update_batch(minhash.shingles(text, kind, 5))
        assert np.array_equal(reference.hashvalues, sig)
    assert (ours[-1] == minhash.EMPTY).all()  # punctuation only: no shingle, empty signature


@pytest.mark.parametrize("num_perm, seed", [(384, 1), (128, 1), (256, 42), (7, 0)])
def test_permutations_are_datasketchs_draws(num_perm, seed):
    a, b = minhash.permutations(num_perm, seed)
    ref_a, ref_b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    assert a.dtype == b.dtype == np.uint32
    assert np.array_equal(a, ref_a) and np.array_equal(b, ref_b)


def test_signature_workers_do_not_import_datasketch():
    # datasketch imports scipy (0.65-2.3 s per process): the pipeline's tasks compute without it
    code = (
        "import sys; from lmpipe.stages.dedup import minhash, phases; "
        "minhash.signatures([minhash.shingle_hashes('대한민국 헌법 제1조', 'char', 5)], 384, 1); "
        "print('datasketch' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_korean_shingles_are_syllables_not_jamo_and_ignore_spacing():
    assert minhash.shingles("대한 민국", "char", 2) == [
        (ord("대"), ord("한")),
        (ord("한"), ord("민")),
        (ord("민"), ord("국")),
    ]
    assert set(minhash.shingles("대한민국은 민주공화국", "char", 5)) == set(
        minhash.shingles("대한민국은민주 공화국", "char", 5)
    )
    assert minhash.exact_jaccard(KO, KO.replace(" ", ""), "char", 5) == 1.0
    assert minhash.exact_jaccard(KO, KO.replace(" ", ""), "word", 3) < 0.2  # word shingles break on spacing


def test_lsh_params_and_band_keys():
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert minhash.lsh_params(0.8, 128) == (lsh.b, lsh.r) == (9, 13)
    sigs = minhash.signatures([minhash.shingle_hashes(t, "char", 5) for t in (KO, KO, EN)], 128, 1)
    k1, k2 = minhash.band_keys(sigs, 9, 13)
    assert (k1[0] == k1[1]).all() and (k2[0] == k2[1]).all() and not (k1[0] == k1[2]).any()
    same_rows = np.tile(sigs[:1, :13], (1, 9))  # identical values in every band still give distinct band keys
    assert len(set(minhash.band_keys(same_rows, 9, 13)[0][0].tolist())) == 9


def test_exact_hash_normalization():
    assert minhash.exact_hash(KO) == minhash.exact_hash("  " + KO.replace(" ", "\n ") + "\n")
    assert minhash.exact_hash(EN) == minhash.exact_hash(EN.upper())
    assert minhash.exact_hash(KO) != minhash.exact_hash(KO[:-1])


def _union_find_labels(edges: list[tuple[int, int]]) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


@pytest.mark.parametrize("partitions", [1, 7])
def test_distributed_components_match_union_find(tmp_path, partitions):
    rng = random.Random(partitions)
    nodes = [(t << 32) | i for t in range(4) for i in range(300)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(500)]
    chain = nodes[:40]  # a long path: the worst case for label propagation
    edges += list(zip(chain, chain[1:]))
    edges = [(a, b) for a, b in edges if a != b]
    u = np.array([a for a, _ in edges], dtype=np.int64)
    v = np.array([b for _, b in edges], dtype=np.int64)
    files = []
    for p in range(3):  # edges arrive from several bucket tasks, unsorted and duplicated
        f = tmp_path / "s0" / f"{p}.parquet"
        write_sorted(f, phases._edges_table(u[p::3], v[p::3]))
        files.append(str(f))
    step, unchanged = 0, 0
    while unchanged < 2:
        step += 1
        out = [str(tmp_path / f"s{step}" / f"{p}.parquet") for p in range(partitions)]
        results = [phases.star_task(p, partitions, files, out[p], step % 2 == 1) for p in range(partitions)]
        unchanged = unchanged + 1 if sum(r["changed"] for r in results) == 0 else 0
        files = out
    assert step < 30
    for p in range(partitions):
        phases.labels_task(p, partitions, files, str(tmp_path / "labels" / f"{p}.parquet"))
    table = read_range(sorted((tmp_path / "labels").glob("*.parquet")), 0, 1 << 20)
    ours = dict(zip(table["node"].to_pylist(), table["label"].to_pylist()))
    assert ours == _union_find_labels(edges)


def test_slot_ranges_cover_all_slots_once():
    for partitions in (1, 3, 64, SLOTS):
        ranges = [slot_range(p, partitions) for p in range(partitions)]
        assert ranges[0][0] == 0 and ranges[-1][1] == SLOTS
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


def test_read_range_skips_missing_files(tmp_path):
    f = tmp_path / "a.parquet"
    write_sorted(f, pa.table({"part": np.array([5, 1, 3], dtype=np.int32), "x": [1, 2, 3]}))
    table = read_range([f, tmp_path / "missing.parquet"], 2, 6)
    assert sorted(table["x"].to_pylist()) == [1, 3]
    assert read_range([Path(tmp_path / "missing.parquet")], 0, 1) is None


def test_clustering_bench_phase2_at_scale_is_exact(tmp_path):
    """benches/dedup_clustering.py's synthetic phase-1 files (web-like cluster sizes and one hot boilerplate
    cluster) through phase 2 with 1 and 2 workers: same decisions, no two true clusters merged."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    cmd = [
        sys.executable,
        str(repo / "benches" / "dedup_clustering.py"),
        "--docs",
        "30000",
        "--tasks",
        "3",
        "--partitions",
        "5",
        "--workers",
        "1,2",
        "--work",
        str(tmp_path / "work"),
        "--out",
        str(tmp_path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    runs = json.loads((tmp_path / "dedup_clustering.json").read_text())["runs"]
    assert [r["workers"] for r in runs] == [1, 2]
    for r in runs:
        assert r["merged_true_clusters"] == 0
        assert r["split_true_clusters"] <= 0.01 * r["true_clusters"]
        assert r["kept"] == r["clusters"]
    keys = ("decisions", "clusters", "edges", "component_steps")
    assert {k: runs[0][k] for k in keys} == {k: runs[1][k] for k in keys}
