"""Near-duplicate evaluation sets built from real documents, with known truth (tests and benches/dedup.py).

From each chosen original we derive copies that a pretraining set should hold once: whitespace/case variants
(exact after normalization), small word edits, added boilerplate, truncation, reordered paragraphs. Other
originals are wrapped in one shared page template ("same template, different content"): those must all survive.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

EDITS = ("exact", "edit", "boilerplate", "truncate", "reorder")

BOILERPLATE = {
    "ko": "ⓒ 연합뉴스, 무단 전재 및 재배포 금지. 기사제보 및 보도자료 제공은 이메일로 보내주세요.",
    "en": "Share this article on Facebook and Twitter. Copyright 2024, all rights reserved. Subscribe for more.",
}
TEMPLATE = {
    "ko": (
        "홈 > 뉴스 > 전체기사 | 로그인 | 회원가입 | 구독신청 | 고객센터\n"
        "많이 본 뉴스 | 오늘의 주요 기사 | 포토 | 영상 | 오피니언 | 지역 소식 | 스포츠 | 연예\n{content}\n"
        "이 기사를 공유합니다. 댓글을 남겨주세요. 개인정보처리방침 | 청소년보호정책 | 이용약관 | 제휴문의\n"
    ),
    "en": (
        "Home > News > All stories | Sign in | Register | Subscribe | Help center\n"
        "Most read | Top stories today | Photos | Video | Opinion | Local | Sports | Entertainment\n{content}\n"
        "Share this story. Leave a comment. Privacy policy | Terms of use | Contact us | Advertise with us\n"
    ),
}


@dataclass(frozen=True)
class EvalDoc:
    id: str
    text: str
    lang: str
    group: str | None  # originals and their copies share a group; unique documents have none
    kind: str  # "original", "unique", "template" or the edit that made a copy


def make_copy(text: str, edit: str, lang: str, rng: random.Random) -> str:
    if edit == "exact":  # equal after normalize_exact: case and whitespace only
        return "  " + text.replace(" ", "  ", 3).upper() + "\n"
    if edit == "edit":  # change about 3% of the words
        words = text.split(" ")
        for _ in range(max(1, len(words) // 33)):
            i = rng.randrange(len(words))
            op = rng.random()
            if op < 0.4:
                words[i] = words[rng.randrange(len(words))]
            elif op < 0.7 and len(words) > 2:
                del words[i]
            else:
                words.insert(i, words[rng.randrange(len(words))])
        return " ".join(words)
    if edit == "boilerplate":
        return f"{text}\n{BOILERPLATE[lang]}"
    if edit == "truncate":  # the last 7% missing, cut at a space
        cut = text.rfind(" ", 0, int(len(text) * 0.93))
        return text[: cut if cut > 0 else int(len(text) * 0.93)]
    if edit == "reorder":
        parts = [p for p in text.split("\n") if p.strip()]
        if len(parts) < 2:
            sentences = text.split(". ")
            rng.shuffle(sentences)
            return ". ".join(sentences)
        rng.shuffle(parts)
        return "\n".join(parts)
    raise ValueError(f"unknown edit {edit!r}")


def build(
    originals: list[tuple[str, str, str]], copy_fraction: float = 0.5, template_fraction: float = 0.2, seed: int = 0
) -> list[EvalDoc]:
    """`originals`: (id, text, lang). A `copy_fraction` of them get one copy per edit in EDITS (a random subset
    of 1-3 edits for half of them), a `template_fraction` are wrapped in the shared template, the rest stay
    unique. Document order is shuffled so copies and originals land in different files and tasks."""
    rng = random.Random(seed)
    docs: list[EvalDoc] = []
    for doc_id, text, lang in originals:
        roll = rng.random()
        if roll < copy_fraction:
            docs.append(EvalDoc(doc_id, text, lang, doc_id, "original"))
            edits = EDITS if rng.random() < 0.5 else rng.sample(EDITS, rng.randint(1, 3))
            for edit in edits:
                docs.append(EvalDoc(f"{doc_id}#{edit}", make_copy(text, edit, lang, rng), lang, doc_id, edit))
        elif roll < copy_fraction + template_fraction:
            docs.append(EvalDoc(doc_id, TEMPLATE[lang].format(content=text), lang, None, "template"))
        else:
            docs.append(EvalDoc(doc_id, text, lang, None, "unique"))
    rng.shuffle(docs)
    return docs


def score(docs: list[EvalDoc], kept_ids: set[str]) -> dict:
    """Copies removed: of each group's documents beyond the one it should keep, the fraction removed.
    Uniques kept: of documents without a true duplicate, the fraction kept. Groups wiped out count as errors."""
    groups: dict[str, list[EvalDoc]] = {}
    for d in docs:
        if d.group is not None:
            groups.setdefault(d.group, []).append(d)
    extra = sum(len(g) - 1 for g in groups.values())
    removed_extra = sum(min(len(g) - 1, sum(d.id not in kept_ids for d in g)) for g in groups.values())
    wiped = sum(all(d.id not in kept_ids for d in g) for g in groups.values())
    uniques = [d for d in docs if d.group is None]
    by_edit = {}
    for edit in EDITS:
        copies = [d for d in docs if d.kind == edit]
        # a copy "removed" when it or its original is gone (the keep rule may prefer the copy)
        removed = [d for d in copies if d.id not in kept_ids or d.group not in kept_ids]
        by_edit[edit] = round(len(removed) / len(copies), 4) if copies else None
    return {
        "copies": extra,
        "copies_removed": round(removed_extra / extra, 4) if extra else None,
        "groups_wiped_out": wiped,
        "uniques": len(uniques),
        "uniques_kept": round(sum(d.id in kept_ids for d in uniques) / len(uniques), 4) if uniques else None,
        "templates_kept": _fraction([d for d in uniques if d.kind == "template"], kept_ids),
        "by_edit": by_edit,
    }


def _fraction(docs: list[EvalDoc], kept_ids: set[str]) -> float | None:
    return round(sum(d.id in kept_ids for d in docs) / len(docs), 4) if docs else None


def related_pairs(
    originals: list[tuple[str, str, str]], lo: float, hi: float, seed: int = 0, kind: str = "char", n: int = 4
) -> list[tuple[EvalDoc, EvalDoc, float]]:
    """Pairs of related documents below a near-duplicate threshold: both must survive a dedup at that threshold.

    From an original, a second version with a fraction of its sentences replaced by sentences of another
    original of the same language (a rewritten or updated article); the fraction is searched until the exact
    shingle Jaccard of the pair falls in [lo, hi]. Returns (original, related, Jaccard) for those that do."""
    from lmpipe.stages.dedup.minhash import exact_jaccard  # numpy, regex: only the builder needs them

    rng = random.Random(seed)
    split = re.compile(r"(?<=[.!?다])\s+")
    by_lang: dict[str, list[list[str]]] = {}
    docs = [(i, [s for s in split.split(t) if s.strip()], lang) for i, t, lang in originals]
    for _, sentences, lang in docs:
        by_lang.setdefault(lang, []).append(sentences)
    out = []
    for doc_id, sentences, lang in docs:
        if len(sentences) < 8:
            continue
        text = " ".join(sentences)
        donors = [s for d in by_lang[lang] if d is not sentences for s in d]
        for fraction in (0.08, 0.1, 0.12, 0.15, 0.18, 0.22, 0.26, 0.3):
            changed = list(sentences)
            for i in rng.sample(range(len(changed)), max(1, round(len(changed) * fraction))):
                changed[i] = rng.choice(donors)
            other = " ".join(changed)
            j = exact_jaccard(text, other, kind, n)
            if lo <= j <= hi:
                out.append(
                    (
                        EvalDoc(f"{doc_id}@a", text, lang, None, "related"),
                        EvalDoc(f"{doc_id}@b", other, lang, None, "related"),
                        j,
                    )
                )
                break
            if j < lo:
                break
    return out


# --- light-edit families (issue 19) ---------------------------------------------------------------------------------
# Copies that a near-duplicate rule at 0.8 must catch: 2-5% of the words replaced (by words of other documents of
# the same language) or deleted, the text cut to about 90%, or a site's header and footer put around it. Only
# copies whose exact char-5 Jaccard with their original is >= FAMILY_MIN_JACCARD count (the truth is the Jaccard
# itself, not the edit that made it).

FAMILIES = ("replace", "delete", "cut90", "header_footer")
FAMILY_MIN_JACCARD = 0.8

SITE_FRAMES = {
    "ko": (
        ("[서울=뉴시스] 김민수 기자 = ", "\n저작권자 © 뉴시스통신사 무단전재-재배포 금지\n김민수 기자 kms@newsis.com"),
        ("한국일보 | 사회 | 입력 2024.03.05 14:22 | 수정 2024.03.05 15:01\n", "\nⓒ 한국일보 / 댓글 12 | 공유하기"),
        ("동네소식 블로그 :: 오늘의 이야기\n", "\n이 글이 도움이 되셨다면 공감 버튼을 눌러주세요. 구독 | 이웃추가"),
    ),
    "en": (
        ("By Jane Miller, Staff Writer | Updated March 5, 2024\n", "\nReporting by Jane Miller; editing by Tom Lee."),
        ("The Daily Ledger > World > ", "\nRead more: Top stories | Newsletter sign-up | © 2024 The Daily Ledger"),
        ("Posted on 2024-03-05 by admin in General\n", "\nLike this post? Share it: Facebook | Twitter | Email"),
    ),
}


def make_family_copy(text: str, family: str, lang: str, rng: random.Random, donors: list[str]) -> str:
    """One light-edit copy of `text`; `donors` are words of other documents of the same language."""
    words = text.split(" ")
    if family in ("replace", "delete"):
        k = max(1, round(len(words) * rng.uniform(0.02, 0.05)))
        for i in sorted(rng.sample(range(len(words)), min(k, len(words) - 1)), reverse=True):
            if family == "replace":
                words[i] = rng.choice(donors)
            else:
                del words[i]
        return " ".join(words)
    if family == "cut90":  # the first 88-92% kept, cut at a space
        at = int(len(text) * rng.uniform(0.88, 0.92))
        cut = text.rfind(" ", 0, at)
        return text[: cut if cut > 0 else at]
    if family == "header_footer":
        header, footer = rng.choice(SITE_FRAMES[lang])
        return f"{header}{text}{footer}"
    raise ValueError(f"unknown family {family!r}")


def build_families(
    originals: list[tuple[str, str, str]], copy_fraction: float = 0.5, seed: int = 0, min_jaccard=FAMILY_MIN_JACCARD
) -> list[EvalDoc]:
    """Originals, their light-edit copies (one per family, kept only at exact char-5 Jaccard >= `min_jaccard`)
    and unique documents (the other originals). Kinds are "original", "unique" or the family; shuffled."""
    from lmpipe.stages.dedup.minhash import exact_jaccard

    rng = random.Random(seed)
    vocab: dict[str, list[str]] = {}
    for _, text, lang in originals:
        vocab.setdefault(lang, []).extend(w for w in text.split() if len(w) > 1)
    docs: list[EvalDoc] = []
    for doc_id, text, lang in originals:
        if rng.random() >= copy_fraction:
            docs.append(EvalDoc(doc_id, text, lang, None, "unique"))
            continue
        docs.append(EvalDoc(doc_id, text, lang, doc_id, "original"))
        for family in FAMILIES:
            copy = make_family_copy(text, family, lang, rng, vocab[lang])
            if exact_jaccard(text, copy, "char", 5) >= min_jaccard:
                docs.append(EvalDoc(f"{doc_id}#{family}", copy, lang, doc_id, family))
    rng.shuffle(docs)
    return docs


def recall_by_kind(docs: list[EvalDoc], clusters: dict[str, str], kinds=FAMILIES) -> dict:
    """Per kind of copy, the fraction found: in the same duplicate cluster as its original (`clusters`: document
    id -> cluster, from the stage's decisions). Stricter than `score`'s by_edit, which also counts a copy whose
    original was removed as the duplicate of another copy."""
    out = {}
    for kind in kinds:
        copies = [d for d in docs if d.kind == kind]
        found = [d for d in copies if d.id in clusters and clusters[d.id] == clusters.get(d.group)]
        out[kind] = round(len(found) / len(copies), 4) if copies else None
    return out
