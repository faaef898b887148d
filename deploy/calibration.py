"""Temperature scaling (Guo et al., 2017): one scalar T fitted on validation logits so softmax(z / T) is calibrated.

Pure numpy, so the fit and the calibration error are tested on synthetic logits without a model. NLL of
softmax(z * b) is convex in b = 1 / T, so a bracketing grid followed by a golden-section search on b finds the
minimum; the argmax, and with it accuracy, never changes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

ECE_BINS = 15
"""Equal-width confidence bins of the expected calibration error and the reliability diagram."""
T_RANGE = (0.05, 20.0)
"""Temperatures searched; a fit at either end says the logits carry almost no (or no) information."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under softmax(logits / temperature)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 60) -> float:
    """The temperature minimising the validation NLL, within T_RANGE."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("fit_temperature needs at least one labelled example")

    def loss(b: float) -> float:  # b = 1 / T, in which the NLL is convex
        return nll(logits, labels, 1.0 / b)

    grid = np.geomspace(1.0 / T_RANGE[1], 1.0 / T_RANGE[0], 41)
    i = int(np.argmin([loss(b) for b in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(steps):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if loss(a) < loss(b):
            hi = b
        else:
            lo = a
    return float(1.0 / ((lo + hi) / 2.0))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """Per confidence bin (lo, hi]: how many predictions fall in it, their mean confidence and their accuracy."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    which = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        rows.append({"lo": b / bins, "hi": (b + 1) / bins, "count": n,
                     "confidence": float(conf[inside].mean()) if n else None,
                     "accuracy": float(correct[inside].mean()) if n else None})
    return rows


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: sum over bins of (share of predictions in the bin) x |accuracy - mean confidence|."""
    rows = reliability(probs, labels, bins)
    total = sum(r["count"] for r in rows)
    if total == 0:
        raise ValueError("expected_calibration_error needs at least one prediction")
    return float(sum(r["count"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"]))


def calibrate(logits: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, Any]:
    """Fit T on (logits, labels) and describe the fit: package.json's `calibration` section."""
    t = fit_temperature(logits, labels)
    before, after = softmax(logits), softmax(logits, t)
    return {"method": "temperature scaling", "temperature": t, "fitted_on": "validation", "images": int(len(labels)),
            "bins": bins, "nll_before": nll(logits, labels), "nll_after": nll(logits, labels, t),
            "ece_before": expected_calibration_error(before, labels, bins),
            "ece_after": expected_calibration_error(after, labels, bins),
            "reliability_before": reliability(before, labels, bins),
            "reliability_after": reliability(after, labels, bins)}
