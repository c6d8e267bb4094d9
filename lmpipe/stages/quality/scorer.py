"""Scoring documents with a trained quality model: P(positive class) in [0, 1]."""

from __future__ import annotations

from pathlib import Path

from lmpipe.stages.quality.fasttext_model import read_sidecar
from lmpipe.stages.quality.text import fasttext_line

ASSETS = Path(__file__).resolve().parent / "assets"
SHIPPED_MODEL = ASSETS / "model.bin"  # trained by `python -m lmpipe.stages.quality shipped` (see assets/MODEL_CARD.md)


class QualityScorer:
    """A fastText model and its model.json; the model is loaded on first use (once per worker process)."""

    def __init__(self, model_path: str | Path | None = None):
        self.model_path = Path(model_path) if model_path else SHIPPED_MODEL
        self._model = None
        self._label = ""
        self._max_chars: int | None = None

    def load(self) -> None:
        """Load the model (once; a no-op when loaded)."""
        if self._model is not None:
            return
        header = read_sidecar(self.model_path)
        try:
            import fasttext  # from fasttext-predict: C++ predict, works with numpy 2 (see fasttext_model.py)
        except ImportError as e:
            raise ImportError("scoring needs fastText's predictor: pip install fasttext-predict==0.9.2.4") from e
        self._label = "__label__" + header["positive_label"]
        self._max_chars = header["text"]["max_chars"]
        self._model = fasttext.load_model(str(self.model_path))

    @property
    def header(self) -> dict:
        return read_sidecar(self.model_path, check_hash=False)

    def score_line(self, line: str) -> float:
        """Score an already prepared line (text.fasttext_line)."""
        if self._model is None:
            self.load()
        try:
            labels, probs = self._model.predict(line, k=-1)
        except UnicodeEncodeError:  # a lone surrogate: score what can be encoded
            labels, probs = self._model.predict(line.encode("utf-8", "replace").decode("utf-8"), k=-1)
        for label, prob in zip(labels, probs):
            if label == self._label:
                # fastText reports exp(log(p + 1e-5)): clip back into [0, 1]
                return min(max(float(prob) - 1e-5, 0.0), 1.0)
        return 0.0

    def score(self, text: str) -> float:
        if self._model is None:
            self.load()
        return self.score_line(fasttext_line(text, self._max_chars))
