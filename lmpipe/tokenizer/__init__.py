"""Korean+English tokenizer (issue 9): MeCab pre-tokenization, BPE training, the one loader, compression reports.

- `mecab`: morphemes of Korean text (shared with filters and dedup)
- `pretok`: byte-level splitting plus MeCab cuts inside Korean words (never changes the text)
- `train`: `python -m lmpipe.tokenizer train`, streaming a language-balanced sample into HF tokenizers' BpeTrainer
- `load`: `load_tokenizer()`, the one loader, and loaders of reference tokenizers
- `report`: `python -m lmpipe.tokenizer report`, tokens per word / bytes and characters per token, table and chart
- `stage`: training as a pipeline stage (`tokenizer` in lmpipe/catalog.py)
"""
