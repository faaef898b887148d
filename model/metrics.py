"""Classification metrics from a confusion matrix, in torch (pure functions, tested against scikit-learn).

Macro averages weight every class equally, so a minority class that is never recognised pulls them
down even when accuracy looks fine. A class with no true and no predicted images scores 0 (as
scikit-learn's `zero_division=0`).
"""
from __future__ import annotations

from typing import Sequence

import torch


def confusion_matrix(targets: torch.Tensor, preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts; rows are true classes, columns predictions."""
    index = targets.to(torch.int64) * num_classes + preds.to(torch.int64)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp(min=1e-12), torch.zeros_like(num))


def per_class_scores(cm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-class precision, recall, f1 and support (vectors of length num_classes)."""
    cm = cm.to(torch.float64)
    tp = cm.diagonal()
    support, predicted = cm.sum(dim=1), cm.sum(dim=0)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def summary_metrics(cm: torch.Tensor) -> dict[str, float]:
    """acc, macro precision / recall / f1 and balanced accuracy (mean recall over classes present)."""
    scores = per_class_scores(cm)
    total = cm.sum()
    present = scores["support"] > 0
    balanced = scores["recall"][present].mean() if bool(present.any()) else torch.tensor(0.0)
    return {
        "acc": float(cm.diagonal().sum() / total) if total > 0 else 0.0,
        "precision": float(scores["precision"].mean()),
        "recall": float(scores["recall"].mean()),
        "f1": float(scores["f1"].mean()),
        "balanced_acc": float(balanced),
    }


def per_class_table(cm: torch.Tensor, classes: Sequence[str]) -> list[dict]:
    """One dict per class: class, precision, recall, f1, support."""
    scores = per_class_scores(cm)
    return [{"class": name, **{k: (int(v[i]) if k == "support" else float(v[i])) for k, v in scores.items()}}
            for i, name in enumerate(classes)]
