"""Build a training set, train, evaluate on held-out data, and write model.bin + model.json + MODEL_CARD.md +
curves.png into one folder (the folder is the model: the quality stage takes its model.bin)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from loguru import logger
from tqdm import tqdm

from lmpipe.core.config import ConfigError, from_dict, parse_overrides
from lmpipe.stages.quality import dataset
from lmpipe.stages.quality.dataset import BuildReport, Example
from lmpipe.stages.quality.evaluate import evaluate, model_card, plot_curves
from lmpipe.stages.quality.fasttext_model import LABEL_PREFIX, TrainConfig, save_bin, train, write_sidecar
from lmpipe.stages.quality.scorer import QualityScorer
from lmpipe.stages.quality.text import fasttext_line


@dataclass(frozen=True)
class BuildConfig:
    """How the training set is made from the inputs."""

    positive_label: str = "hq"  # quality_score is the probability of this class
    negative_label: str = "cc"
    holdout_fraction: float = 0.2  # share of each (language, class) group kept for evaluation
    max_class_ratio: float = 1.0  # per language, larger class : smaller class after balancing
    chunk_chars: int | None = None  # split long documents into pieces of about this size (more, shorter examples)
    negatives_per_positive: float = 1.0  # cited recipe: random crawl pages drawn per cited page
    max_negatives: int | None = 1_000_000  # cited recipe: reservoir size for the random crawl sample
    seed: int = 1


def configs_from_overrides(overrides: list[str]) -> tuple[TrainConfig, BuildConfig]:
    """The training and training-set configs from `--set train.KEY=V build.KEY=V` overrides."""
    data = parse_overrides(overrides)
    unknown = set(data) - {"train", "build"}
    if unknown:
        raise ConfigError(f"--set keys start with train. or build., got {sorted(unknown)}")
    return from_dict(TrainConfig, data.get("train", {}), "train"), from_dict(
        BuildConfig, data.get("build", {}), "build"
    )


def run_training(
    examples: list[Example], report: BuildReport, out_dir: str | Path, cfg: TrainConfig, build: BuildConfig,
    description: str = "", limitations: str = "",
) -> dict:  # fmt: skip
    """Dedup, balance, split, train, evaluate, write the model folder; returns the held-out metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples = dataset.balance(dataset.dedup(examples, report), report, build.seed, build.max_class_ratio)
    train_set, test_set = dataset.split(examples, build.holdout_fraction, build.seed)
    if not test_set or len({e.positive for e in train_set}) < 2:
        raise ValueError(f"too little data to train and evaluate: {len(train_set)} train, {len(test_set)} held out")
    logger.info(f"training on {len(train_set):,} examples, evaluating on {len(test_set):,}")
    lines = [fasttext_line(e.text, cfg.max_chars) for e in tqdm(train_set, desc="prepare", mininterval=5)]
    labels = [LABEL_PREFIX + (build.positive_label if e.positive else build.negative_label) for e in train_set]
    started = time.time()
    model = train(lines, labels, cfg)
    train_seconds = time.time() - started
    model_path = out / "model.bin"
    save_bin(model, model_path)
    extra = {
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "train_seconds": train_seconds,
        "train_losses": model.losses,
        "holdout_fraction": build.holdout_fraction,
        "build_config": asdict(build),
        "description": description,
        "limitations": limitations,
    }
    write_sidecar(model_path, build.positive_label, cfg, extra)
    # Evaluate with the production scorer (C++ fastText), not the numpy twin: the card reports what runs.
    scorer = QualityScorer(model_path)
    scores = [scorer.score(e.text) for e in tqdm(test_set, desc="evaluate", mininterval=5)]
    metrics = evaluate(scores, [e.positive for e in test_set], [e.lang for e in test_set])
    plot_curves(scores, [e.positive for e in test_set], out / "curves.png")
    header_data = scorer.header
    report_data = {f: (dict(v) if isinstance(v, dict) else v) for f, v in vars(report).items()}
    card = model_card(header_data, metrics, report_data, "curves.png")
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    (out / "metrics.json").write_bytes(
        orjson.dumps({"held_out": metrics, "build": report_data}, option=orjson.OPT_INDENT_2)
    )
    logger.info(
        f"model in {out}: held-out precision {metrics['precision']}, recall {metrics['recall']}, "
        f"ROC-AUC {metrics['roc_auc']}"
    )
    return metrics
