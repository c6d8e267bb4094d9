"""ML quality classifier (LLaMA's "cited by Wikipedia" fastText model): reference URLs and their join with a
crawl (`urls`), training sets (`dataset`), training in fastText's format (`fasttext_model`, `train`), held-out
evaluation and model card (`evaluate`), and the `quality` stage (`stage`). CLI: `python -m lmpipe.stages.quality`."""
