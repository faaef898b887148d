"""Stratified, seeded train / validation / test split.

Policy for small classes: a class needs one image per non-empty split (3 when both fractions are > 0).
A class with fewer images is dropped before splitting and reported in report.json's `dropped_classes`
(with a warning in the log) rather than leaving one of its splits silently empty. Every other class gets
at least one image in each split whose fraction is > 0; otherwise sizes are the rounded fractions.
"""
from __future__ import annotations

import math

import numpy as np

SPLIT_CODES: dict[str, int] = {"train": 0, "validation": 1, "test": 2}


def min_images_to_stratify(val_frac: float, test_frac: float) -> int:
    """Fewest images a class needs so that every split with a fraction > 0 gets one."""
    return 1 + int(val_frac > 0) + int(test_frac > 0)


def split_sizes(n: int, val_frac: float, test_frac: float) -> tuple[int, int, int]:
    """(train, validation, test) sizes of a class of n images; n must be >= min_images_to_stratify."""
    if n < min_images_to_stratify(val_frac, test_frac):
        raise ValueError(f"a class of {n} images cannot be split with val_frac={val_frac}, test_frac={test_frac}")
    n_val = max(1, math.floor(n * val_frac + 0.5)) if val_frac > 0 else 0
    n_test = max(1, math.floor(n * test_frac + 0.5)) if test_frac > 0 else 0
    while n - n_val - n_test < 1:  # rounding up both can eat the training share of a tiny class
        if n_val >= n_test and n_val > 1:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def stratified_split(labels: np.ndarray, val_frac: float, test_frac: float, seed: int) -> np.ndarray:
    """Split code (0 train, 1 validation, 2 test) per item, stratified by label; deterministic in seed.

    Each class is shuffled by its own generator seeded with (seed, label), so adding a class does not
    reshuffle the others. Every class must hold at least `min_images_to_stratify` items.
    """
    labels = np.asarray(labels)
    codes = np.zeros(len(labels), dtype=np.int8)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_train, n_val, _ = split_sizes(len(members), val_frac, test_frac)
        order = np.random.default_rng([seed, int(label)]).permutation(members)
        codes[order[n_train:n_train + n_val]] = 1
        codes[order[n_train + n_val:]] = 2
    return codes


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded `fraction` of each class (at least one image each): the imbalance is kept."""
    labels = np.asarray(labels)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = subset_size(len(members), fraction)
        picked.append(np.random.default_rng([seed, int(label)]).choice(members, n, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def subset_size(n: int, fraction: float) -> int:
    """Images `stratified_subset` keeps of a class of n."""
    return max(1, round(n * fraction))
