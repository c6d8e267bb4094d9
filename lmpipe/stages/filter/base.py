"""Shared shape of the rule filters: score a document into metadata signals, then decide against the config."""

from __future__ import annotations

from abc import abstractmethod

from datatrove.data import Document

from lmpipe.core.signals import BASIS, SignalCache, basis_prefix, encoded_basis, settings_key
from lmpipe.core.steps import Filter
from lmpipe.stages.filter.analysis import TextView, view
from lmpipe.stages.filter.config import LanguageRules


class RuleFilter(Filter):
    """Writes `<prefix>.<signal>` into the metadata of every document it sees, kept or not, then decides.

    Signals are rounded to 4 decimals before deciding, so the stored signals are exactly what decided and a
    re-decision from them (signals.SignalCache, `filter.signals_from`) equals a full re-run."""

    prefix: str = ""

    def __init__(self, en: LanguageRules, ko: LanguageRules, signals: SignalCache | None = None):
        super().__init__()
        self.rules = {"en": en, "ko": ko}
        self.signals = signals
        # what scoring depends on besides the text: the filter and its language's non-threshold settings
        self.keys = {lang: basis_prefix(f"{type(self).__name__}:{settings_key(r)}") for lang, r in self.rules.items()}

    def setup(self, rank: int) -> None:
        if self.signals is not None:
            self.signals.load(rank)  # the earlier run's signals of this task's documents

    @abstractmethod
    def score(self, v: TextView, rules: LanguageRules) -> dict[str, float]: ...

    @abstractmethod
    def decide(self, s: dict[str, float], rules: LanguageRules) -> str | None:
        """The drop reason for signals `s`, or None to keep."""

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        v = view(doc)
        rules = self.rules[v.lang]
        b = encoded_basis(self.keys[v.lang], v.utf8)
        signals = self.signals.signals(doc.id, self.prefix, b) if self.signals is not None else None
        if signals is None:
            signals = {k: round(x, 4) if isinstance(x, float) else x for k, x in self.score(v, rules).items()}
        for key, value in signals.items():
            doc.metadata[f"{self.prefix}.{key}"] = value
        doc.metadata[f"{self.prefix}.{BASIS}"] = b
        reason = self.decide(signals, rules)
        return True if reason is None else (False, reason)


def above(value: float, limit: float | None) -> bool:
    return limit is not None and value > limit


def below(value: float, limit: float | None) -> bool:
    return limit is not None and value < limit
