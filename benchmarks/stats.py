"""The search-efficiency statistics, pure functions over numbers (no Ray): anytime curves, epochs to a
target, and 95% intervals by bootstrap over seeds (paired where two methods share a seed)."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 10_000


def anytime(scores: Sequence[float]) -> np.ndarray:
    """Best score so far after each epoch spent; `scores` are one sweep's epoch results in the order received."""
    values = np.asarray(scores, dtype=float)
    return np.maximum.accumulate(np.where(np.isfinite(values), values, -np.inf)) if len(values) else values


def best_at(curve: np.ndarray, epochs: int) -> float:
    """The best so far once `epochs` epochs were spent (the sweep's final best past its end; -inf before any)."""
    if epochs < 1 or len(curve) == 0:
        return -math.inf
    return float(curve[min(epochs, len(curve)) - 1])


def epochs_to_reach(curve: np.ndarray, target: float) -> Optional[int]:
    """Epochs spent until the best so far first reaches `target`; None when it never does."""
    hits = np.flatnonzero(curve >= target)
    return int(hits[0]) + 1 if len(hits) else None


def mean_interval(values: Sequence[float], *, seed: int = 0, level: float = LEVEL) -> tuple[float, float, float]:
    """The mean and its percentile-bootstrap interval over seeds: (mean, low, high)."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), (RESAMPLES, len(data)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(data.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def ratio_interval(numerator: Sequence[float], denominator: Sequence[float], *, seed: int = 0,
                   level: float = LEVEL) -> tuple[float, float, float]:
    """mean(numerator) / mean(denominator) with a paired bootstrap interval (seed i of both resampled together)."""
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(a), (RESAMPLES, len(a)))
    ratios = a[picks].mean(axis=1) / b[picks].mean(axis=1)
    tail = (1 - level) / 2
    return float(a.mean() / b.mean()), float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail))
