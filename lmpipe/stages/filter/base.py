"""Shared shape of the rule filters: score a document into metadata signals, then decide against the config."""

from __future__ import annotations

from abc import abstractmethod

from datatrove.data import Document

from lmpipe.core.steps import Filter
from lmpipe.stages.filter.analysis import TextView, view
from lmpipe.stages.filter.config import LanguageRules


class RuleFilter(Filter):
    """Writes `<prefix>.<signal>` into the metadata of every document it sees, kept or not, then decides."""

    prefix: str = ""

    def __init__(self, en: LanguageRules, ko: LanguageRules):
        super().__init__()
        self.rules = {"en": en, "ko": ko}

    @abstractmethod
    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]: ...

    @abstractmethod
    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        """The drop reason for signals `s`, or None to keep."""

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        v = view(doc)
        rules = self.rules[v.lang]
        signals = self.score(v, rules)
        for key, value in signals.items():
            doc.metadata[f"{self.prefix}.{key}"] = round(value, 4) if isinstance(value, float) else value
        reason = self.decide(signals, rules)
        return True if reason is None else (False, reason)


def above(value: float, limit: float | None) -> bool:
    return limit is not None and value > limit


def below(value: float, limit: float | None) -> bool:
    return limit is not None and value < limit
