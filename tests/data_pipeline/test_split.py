"""Stratified split: sizes, determinism, and the small-class policy."""
from __future__ import annotations

import numpy as np
import pytest

from core.schema import ConfigError
from data_pipeline.config import DataConfig
from data_pipeline.split import min_images_to_stratify, split_sizes, stratified_split, stratified_subset


def test_sizes_round_fractions_and_keep_one_per_split():
    assert split_sizes(100, 0.1, 0.2) == (70, 10, 20)
    assert split_sizes(3, 0.1, 0.1) == (1, 1, 1)
    assert split_sizes(5, 0.0, 0.1) == (4, 0, 1)
    assert min_images_to_stratify(0.1, 0.0) == 2
    with pytest.raises(ValueError, match="cannot be split"):
        split_sizes(2, 0.1, 0.1)


def test_stratified_split_is_deterministic_and_stratified():
    labels = np.repeat(np.arange(4), [50, 20, 10, 3])
    codes = stratified_split(labels, 0.2, 0.1, seed=7)
    assert np.array_equal(codes, stratified_split(labels, 0.2, 0.1, seed=7))
    assert not np.array_equal(codes, stratified_split(labels, 0.2, 0.1, seed=8))
    for c, n in enumerate([50, 20, 10, 3]):
        got = np.bincount(codes[labels == c], minlength=3)
        assert tuple(got) == split_sizes(n, 0.2, 0.1)


def test_stratified_subset_keeps_the_imbalance_and_every_class():
    labels = np.repeat(np.arange(3), [795, 112, 4])
    picked = stratified_subset(labels, 0.1, seed=0)
    assert np.bincount(labels[picked]).tolist() == [80, 11, 1]  # 7:1 stays 7:1; a tiny class keeps one image
    assert np.array_equal(picked, np.unique(picked))
    assert np.array_equal(picked, stratified_subset(labels, 0.1, seed=0))
    assert not np.array_equal(picked, stratified_subset(labels, 0.1, seed=1))
    assert len(stratified_subset(labels, 1.0, seed=0)) == len(labels)


def test_train_fraction_must_be_a_share():
    with pytest.raises(ConfigError, match="train_fraction"):
        DataConfig(train_fraction=0.0)
    with pytest.raises(ConfigError, match="train_fraction"):
        DataConfig(train_fraction=1.5)
