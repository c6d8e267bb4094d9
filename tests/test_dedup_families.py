"""Light-edit near-duplicates (issue 19): a few words replaced, cut to 90%, a site header and footer added.

Each copy must land in one cluster with its original (same LSH bucket in some band and signatures agreeing on at
least `threshold` of their slots, as the stage decides), with the default settings; a related-but-distinct
rewrite (a quarter of the sentences replaced, Jaccard 0.6-0.7) must not. The paragraphs are written here (no
real data is read); the last test runs the whole stage on them."""

from __future__ import annotations

import orjson
import pyarrow.parquet as pq
import pytest

from lmpipe.core.runner import InputSpec
from lmpipe.stages.dedup import evalset, minhash
from lmpipe.stages.dedup.config import DedupConfig
from lmpipe.stages.dedup.run import run_dedup

KO = (
    "서울시는 내년부터 시내버스 노선을 대폭 개편한다고 5일 밝혔다. 시는 출퇴근 시간대 혼잡이 심한 간선 노선 "
    "12개를 나누고, 신도시와 지하철역을 잇는 지선 노선 8개를 새로 만든다. 개편안은 지난해 교통카드 이용 기록 "
    "3억 건을 분석해 마련했으며, 승객이 많은 구간에는 배차 간격을 평균 4분으로 줄인다. 반면 이용객이 적은 "
    "심야 노선 일부는 통합된다. 시 관계자는 노선이 바뀌는 지역 주민을 대상으로 다음 달까지 설명회를 열고 "
    "의견을 받아 최종안을 확정하겠다고 말했다. 시민단체는 환승 거리가 늘어나는 노선이 있다며 보완을 요구했다. "
    "한편 시는 전기버스 비율을 현재 30퍼센트에서 2026년까지 절반 이상으로 높이고, 정류장 안내 화면도 모두 "
    "교체할 계획이다. 개편에 드는 예산은 약 450억 원으로, 국비와 시비를 절반씩 부담한다. 교통 전문가들은 "
    "노선 조정 뒤 최소 반년 동안 이용 현황을 점검해야 한다고 조언했다. 시는 개편 첫 달에 안내 요원 200명을 "
    "주요 정류장에 배치하고, 누리집과 모바일 앱에서 바뀐 노선을 미리 검색할 수 있도록 할 예정이다."
)
EN = (
    "The city council voted on Tuesday to expand the downtown bike lane network by roughly forty kilometres over "
    "the next three years, a plan that supporters say will make cycling safer for commuters and schoolchildren. "
    "The proposal, first introduced last spring, drew more than two thousand public comments, most of them in "
    "favour. Under the plan, protected lanes separated from traffic by concrete curbs will be built along the "
    "main avenues, while quieter residential streets will receive painted lanes and lower speed limits. Business "
    "owners on Market Street raised concerns about the loss of parking spaces, and the council agreed to study "
    "loading zones before construction begins. The project is expected to cost about sixty million dollars, "
    "with a third of the funding coming from a state transportation grant. Officials said the first segment, "
    "connecting the central station to the university campus, could open as early as next autumn. Cycling "
    "groups welcomed the decision but urged the city to publish a detailed timetable for every stage of the work."
)
OTHER = {  # sentences of other articles, for the related rewrite
    "ko": (
        "부산시는 해운대 일대에 해상 케이블카를 설치하는 방안을 검토하고 있다.",
        "기상청은 이번 주말 남부 지방에 최대 100밀리미터의 비가 내릴 것으로 내다봤다.",
        "정부는 올해 하반기 청년 일자리 예산을 1조 원 늘리기로 했다.",
        "경찰은 전세 사기 의심 사건 40여 건에 대해 수사를 시작했다고 밝혔다.",
    ),
    "en": (
        "Meanwhile, the regional airport reported its busiest summer on record, with passenger numbers up twelve percent.",
        "A separate measure to renovate the public library was postponed until the next budget cycle.",
        "Weather forecasters warned of heavy rain and possible flooding in coastal areas over the weekend.",
        "The school board also approved a new contract for bus drivers after months of negotiations.",
    ),
}
HEADER_FOOTER = {  # a site's navigation line or byline above, its copyright and sharing lines below
    "ko": (
        (
            "홈 > 뉴스 > 사회 > 교통 | 로그인 | 구독\n[세종=연합뉴스] 박지훈 기자 = ",
            "\n박지훈 기자 jhpark@yna.co.kr\n<저작권자(c) 연합뉴스, 무단 전재-재배포 금지> 제보는 카톡 okjebo",
        ),
        (
            "매일경제 > 사회 > 교통 | 입력 : 2024-05-06 09:12:33 | 수정 : 2024-05-06 10:40:02\n",
            "\n[ⓒ 매일경제 & mk.co.kr, 무단 전재 및 재배포 금지]\n이 기사를 추천합니다 | 많이 본 뉴스",
        ),
        (
            "우리동네 소식지 :: 생활 정보 | 카테고리: 교통, 버스, 시정 소식\n",
            "\n공감 0 | 댓글 3 | 이웃추가 | 이 블로그의 다른 글 보기\n태그: 서울버스, 노선개편, 교통정보",
        ),
        (
            "(서울=뉴스1) 이수진 기자 = ",
            "\n이수진 기자 (sjlee@news1.kr)\n▶ 네이버 메인에서 뉴스1 구독하기!\n▶ 뉴스1 바로가기 | 제보하기",
        ),
    ),
    "en": (
        (
            "Metro Daily News | Local | Published 9:14 AM EST, Tue May 7, 2024\n",
            "\nSign up for our morning newsletter. © 2024 Metro Daily News. All rights reserved.",
        ),
        (
            "By Sarah Okafor, Transportation Reporter | 4 min read\n",
            "\nContact the reporter at sokafor@citytimes.com. Follow her on X for transit updates.",
        ),
        (
            "HOME > NEWS > LOCAL > TRANSPORT | Subscribe | Sign in\n",
            "\nRelated: Council budget vote | Transit fares rise | Comments (14) | Report an error",
        ),
        (
            "Posted May 6, 2024 in City Hall, Cycling by the editors\n",
            "\nShare: Facebook | Reddit | Email | Print this article. Tags: bike lanes, city council",
        ),
    ),
}
REPLACEMENTS = {"ko": ("그러나", "올해", "주민들은", "특히"), "en": ("however", "residents", "yesterday", "nearly")}
VARIANTS = 4  # copies per family and language


def replace_words(text: str, lang: str, variant: int, fraction: float = 0.03) -> str:
    """About 3% of the words replaced, at positions that differ by variant."""
    words = text.split(" ")
    step = round(1 / fraction)
    for n, i in enumerate(range(3 + 7 * variant, len(words), step)):
        words[i] = REPLACEMENTS[lang][(n + variant) % 4]
    return " ".join(words)


def cut(text: str, lang: str, variant: int) -> str:
    """The first 88-91% kept, cut at a space."""
    return text[: text.rfind(" ", 0, int(len(text) * (0.88 + 0.01 * variant)))]


def frame(text: str, lang: str, variant: int) -> str:
    header, footer = HEADER_FOOTER[lang][variant]
    return f"{header}{text}{footer}"


def related(text: str, lang: str) -> str:
    """Every fifth (Korean) or fourth (English) sentence replaced by a sentence of another article: a rewrite."""
    sentences = text.split(". ")
    for n, i in enumerate(range(1, len(sentences), 5 if lang == "ko" else 4)):
        sentences[i] = OTHER[lang][n % len(OTHER[lang])].rstrip(".")
    return ". ".join(sentences)


def same_cluster(a: str, b: str, cfg: DedupConfig) -> bool:
    """The stage's rule for one pair: a shared band key, then signature agreement >= threshold."""
    bands, rows = (
        (cfg.bands, cfg.rows) if cfg.bands is not None else minhash.lsh_params(cfg.threshold, cfg.num_perm, cfg.verify)
    )
    hashes = [minhash.shingle_hashes(t, cfg.shingle, cfg.shingle_size) for t in (a, b)]
    sigs = minhash.signatures(hashes, cfg.num_perm, cfg.seed)
    k1, k2 = minhash.band_keys(sigs, bands, rows)
    shared = bool(((k1[0] == k1[1]) & (k2[0] == k2[1])).any())
    return shared and (not cfg.verify or minhash.estimated_jaccard(sigs[0], sigs[1]) >= cfg.threshold)


TEXTS = {"ko": KO, "en": EN}
FAMILIES = {"replace3": replace_words, "cut90": cut, "header_footer": frame}


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_light_edit_copies_are_one_cluster_with_their_original(family, lang):
    text = TEXTS[lang]
    missed = []
    for variant in range(VARIANTS):
        copy = FAMILIES[family](text, lang, variant)
        assert copy != text
        j = minhash.exact_jaccard(text, copy, "char", 5)
        assert j >= 0.8, f"{family}/{lang}/{variant}: exact char-5 Jaccard {j:.3f} is not a near-duplicate"
        if not same_cluster(text, copy, DedupConfig()):
            missed.append((variant, round(j, 3)))
    assert not missed, f"{family}/{lang}: copies (variant, char-5 Jaccard) not found: {missed}"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_related_rewrite_is_not_merged(lang):
    text = TEXTS[lang]
    other = related(text, lang)
    cfg = DedupConfig()
    j = minhash.exact_jaccard(text, other, cfg.shingle, cfg.shingle_size)
    assert 0.6 <= j <= 0.7, j
    assert not same_cluster(text, other, cfg)


def test_stage_keeps_one_of_each_family_and_both_related(tmp_path):
    records = []
    for lang, text in TEXTS.items():
        records.append({"id": f"{lang}-original", "text": text, "lang": lang})
        for f, make in FAMILIES.items():
            records += [{"id": f"{lang}-{f}{v}", "text": make(text, lang, v), "lang": lang} for v in range(VARIANTS)]
        records.append({"id": f"{lang}-related", "text": related(text, lang), "lang": lang})
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "part0.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    run_dedup(DedupConfig(), [InputSpec(path=str(inputs))], tmp_path / "out")
    kept = {
        r["id"].split("/", 1)[1]
        for f in (tmp_path / "out").glob("data/part-*.parquet")
        for r in pq.read_table(f).to_pylist()
    }
    for lang in TEXTS:
        copies = {f"{lang}-original"} | {f"{lang}-{f}{v}" for f in FAMILIES for v in range(VARIANTS)}
        assert len(kept & copies) == 1, (lang, sorted(kept & copies))
        assert f"{lang}-related" in kept


def test_banding_is_tuned_for_recall_when_candidates_are_verified():
    assert minhash.lsh_params(0.8, 128) == (9, 13)  # balanced (datasketch), used without verification
    assert minhash.candidate_probability(0.8, 9, 13) < 0.41  # ... finds 40% of the pairs at 0.8
    bands, rows = minhash.lsh_params(0.8, 384, verified=True)
    assert (bands, rows) == (48, 8) and minhash.candidate_probability(0.8, bands, rows) >= 0.999
    assert minhash.candidate_probability(0.8, 384 // (rows + 1), rows + 1) < 0.999  # the most rows that reach it
    cfg = DedupConfig()
    assert cfg.verify and minhash.lsh_params(cfg.threshold, cfg.num_perm, cfg.verify) == (48, 8)


def test_family_eval_set_keeps_copies_at_jaccard_0_8_and_scores_by_cluster():
    originals = [("ko/1", KO, "ko"), ("en/1", EN, "en"), ("ko/2", related(KO, "ko"), "ko")]
    docs = evalset.build_families(originals, copy_fraction=1.0, seed=1)
    copies = [d for d in docs if d.kind in evalset.FAMILIES]
    assert {d.kind for d in copies} <= set(evalset.FAMILIES) and len(copies) >= 8
    text = {d.id: d.text for d in docs}
    assert all(minhash.exact_jaccard(text[d.group], d.text, "char", 5) >= 0.8 for d in copies)
    clusters = {d.id: d.group for d in docs if d.group == "ko/1"}  # only ko/1's copies found
    recall = evalset.recall_by_kind(docs, clusters)
    assert all(0 < r < 1 for r in recall.values() if r is not None)
