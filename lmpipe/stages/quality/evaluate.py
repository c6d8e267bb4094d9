"""Held-out evaluation of a quality model and its model card (Markdown + PNG curves)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve by the rank statistic (Mann-Whitney U, ties counted half); None with one class."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def at_threshold(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict:
    kept = scores >= threshold
    tp = int((kept & positive).sum())
    fp = int((kept & ~positive).sum())
    fn = int((~kept & positive).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {
        "threshold": threshold,
        "keep_rate": float(kept.mean()) if len(kept) else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_positive_rate": fp / int((~positive).sum()) if (~positive).any() else None,
    }


def evaluate(scores: list[float], positive: list[bool], langs: list[str], threshold: float = 0.5) -> dict:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    result = {
        "n": len(s),
        "positives": int(y.sum()),
        "roc_auc": roc_auc(s, y),
        **at_threshold(s, y, threshold),
        "thresholds": [at_threshold(s, y, t) for t in THRESHOLDS],
        "per_language": {},
    }
    for lang, _ in sorted(Counter(langs).items()):
        mask = np.asarray([x == lang for x in langs])
        result["per_language"][lang] = {
            "n": int(mask.sum()),
            "positives": int(y[mask].sum()),
            "roc_auc": roc_auc(s[mask], y[mask]),
            **at_threshold(s[mask], y[mask], threshold),
        }
    return result


def plot_curves(scores: list[float], positive: list[bool], path: Path) -> None:
    """ROC curve and precision against keep rate (what a threshold buys), one PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers and CI
    import matplotlib.pyplot as plt

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    grid = np.unique(np.concatenate([[-0.01, 1.01], s]))[::-1]
    rows = [at_threshold(s, y, t) for t in grid]
    tpr = [r["recall"] or 0.0 for r in rows]
    fpr = [r["false_positive_rate"] or 0.0 for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax1.plot(fpr, tpr, lw=2)
    ax1.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC (AUC {roc_auc(s, y):.3f})")
    keep = [r["keep_rate"] for r in rows if r["precision"] is not None]
    prec = [r["precision"] for r in rows if r["precision"] is not None]
    ax2.plot(keep, prec, lw=2)
    ax2.set(xlabel="keep rate (fraction of held-out documents kept)", ylabel="precision", title="threshold trade-off")
    ax2.set_ylim(0, 1.02)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def model_card(header: dict, metrics: dict, report: dict, curve_file: str) -> str:
    """The Markdown card: what the model was trained on, how, and how well it does on held-out data."""
    cfg = header["train_config"]
    lines = [
        f"# Quality classifier `{header['model_file']}`",
        "",
        f"fastText supervised classifier; `quality_score` = P(`__label__{header['positive_label']}`). "
        f"sha256 `{header['sha256'][:16]}...`, trained {header['trained_at']} in {header['train_seconds']:.1f} s.",
        "",
        "## Training data",
        "",
        f"Recipe: **{report['recipe']}**. {header.get('description') or ''}".rstrip(),
        "",
        "| set | " + " | ".join(sorted(report["final"])) + " |",
        "|---|" + "---|" * len(report["final"]),
        "| examples after dedup and balance | "
        + " | ".join(str(report["final"][k]) for k in sorted(report["final"]))
        + " |",
        "",
        f"Read: {dict(report['read'])}; skipped input records: {dict(report['skipped_input']) or 'none'}; "
        f"exact duplicates removed: {dict(report['duplicates_removed']) or 'none'}; removed to balance "
        f"classes per language: {dict(report['balanced_away']) or 'none'}.",
    ]
    if report.get("joined"):
        lines += ["", f"URL join of the crawl with the reference URLs: {dict(report['joined'])}."]
    lines += ["", "Examples by class and source (final set):", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(report["sources"].items())]
    lines += [
        "",
        "## Hyper-parameters",
        "",
        ", ".join(f"`{k}={v}`" for k, v in cfg.items())
        + f"; held-out fraction {header['holdout_fraction']}; training loss per epoch "
        + ", ".join(f"{x:.3f}" for x in header["train_losses"]),
        "",
        "## Held-out evaluation",
        "",
        f"{metrics['n']} held-out examples ({metrics['positives']} positive), never seen in training. At threshold "
        f"{metrics['threshold']}: precision {_f(metrics['precision'])}, recall {_f(metrics['recall'])}, "
        f"F1 {_f(metrics['f1'])}, ROC-AUC {_f(metrics['roc_auc'])}.",
        "",
        "| language | n | positives | precision | recall | F1 | ROC-AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang, m in metrics["per_language"].items():
        lines.append(
            f"| {lang} | {m['n']} | {m['positives']} | {_f(m['precision'])} | {_f(m['recall'])} | {_f(m['f1'])} | "
            f"{_f(m['roc_auc'])} |"
        )
    lines += [
        "",
        "Threshold table (keep rate = fraction of held-out examples with score >= threshold):",
        "",
        "| threshold | keep rate | precision | recall | F1 |",
        "|---|---|---|---|---|",
    ]
    for row in metrics["thresholds"]:
        lines.append(
            f"| {row['threshold']:.1f} | {row['keep_rate']:.3f} | {_f(row['precision'])} | {_f(row['recall'])} | "
            f"{_f(row['f1'])} |"
        )
    lines += ["", f"![ROC and precision against keep rate]({curve_file})", ""]
    if header.get("limitations"):
        lines += ["## Limitations", "", header["limitations"], ""]
    return "\n".join(lines)
