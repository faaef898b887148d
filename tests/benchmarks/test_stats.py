"""benchmarks.stats: anytime curve, epochs to a target, bootstrap intervals (no Ray)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.stats import anytime, best_at, epochs_to_reach, mean_interval, ratio_interval


def test_anytime_is_the_running_best_and_skips_non_finite_scores():
    assert list(anytime([0.2, 0.1, float("nan"), 0.5, 0.4])) == [0.2, 0.2, 0.2, 0.5, 0.5]
    assert len(anytime([])) == 0


def test_best_at_and_epochs_to_reach():
    curve = anytime([0.2, 0.1, 0.5, 0.4])
    assert best_at(curve, 2) == 0.2 and best_at(curve, 3) == 0.5 and best_at(curve, 99) == 0.5
    assert best_at(curve, 0) == -math.inf
    assert epochs_to_reach(curve, 0.5) == 3 and epochs_to_reach(curve, 0.2) == 1
    assert epochs_to_reach(curve, 0.51) is None


def test_mean_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(200):
        mean, low, high = mean_interval(rng.normal(1.0, 0.5, 30), seed=trial)
        assert low <= mean <= high
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_ratio_interval_is_paired_and_excludes_one_only_for_a_real_difference():
    rng = np.random.default_rng(2)
    base = rng.uniform(50, 150, 30)  # per-seed difficulty, shared by both methods
    ratio, low, high = ratio_interval(3 * base * rng.uniform(0.9, 1.1, 30), base)
    assert ratio == pytest.approx(3, rel=0.05) and 1 < low < ratio < high
    same, low, high = ratio_interval(base * rng.uniform(0.9, 1.1, 30), base)
    assert low < 1 < high
    with pytest.raises(ValueError):
        ratio_interval([1, 2], [1])
