"""Balance plans: epoch counts per strategy, determinism, effective-number weights."""
from __future__ import annotations

import numpy as np
import pytest

from core.schema import ConfigError
from data_pipeline.balance import STRATEGIES, effective_number_weights, plan_balance
from data_pipeline.config import BalanceConfig, BalanceStrategy

LABELS = np.repeat(np.arange(4), [40, 10, 4, 0 + 6])  # counts 40, 10, 4, 6 -> median 8


def _epoch_counts(plan, epoch=0):
    return np.bincount(LABELS[plan.epoch_indices(epoch)], minlength=4)


@pytest.mark.parametrize("strategy, expected", [
    ("none", [40, 10, 4, 6]),
    ("class_weighted_loss", [40, 10, 4, 6]),
    ("oversample", [40, 10, 8, 8]),
    ("undersample", [8, 8, 4, 6]),
    ("hybrid", [8, 8, 8, 8]),
    ("logit_adjusted", [40, 10, 4, 6]),
    ("logit_adjusted_posthoc", [40, 10, 4, 6]),
    ("balanced_softmax", [40, 10, 4, 6]),
    ("crt", [40, 10, 4, 6]),
])
def test_epoch_counts_per_strategy(strategy, expected):
    plan = plan_balance(LABELS, 4, BalanceConfig(strategy, "median"), seed=0)
    assert _epoch_counts(plan).tolist() == expected
    assert plan.counts_per_epoch().tolist() == expected


def test_oversample_repeats_every_original_before_drawing_extra():
    plan = plan_balance(LABELS, 4, BalanceConfig("oversample", "max"), seed=0)
    idx = plan.epoch_indices(0)
    rare = idx[LABELS[idx] == 2]
    assert len(rare) == 40 and np.all(np.bincount(rare)[np.unique(rare)] == 10)


def test_weighted_sampler_expects_equal_classes():
    plan = plan_balance(LABELS, 4, BalanceConfig("weighted_sampler"), seed=0)
    assert np.allclose(plan.counts_per_epoch(), 15.0)
    draws = np.stack([_epoch_counts(plan, e) for e in range(50)]).mean(0)
    assert np.all(np.abs(draws - 15) < 3)


def test_plans_are_deterministic_and_redrawn_per_epoch():
    cfg = BalanceConfig("hybrid", 8)
    a, b = plan_balance(LABELS, 4, cfg, seed=3), plan_balance(LABELS, 4, cfg, seed=3)
    assert np.array_equal(a.epoch_indices(2), b.epoch_indices(2))
    assert not np.array_equal(a.epoch_indices(0), a.epoch_indices(1))
    assert not np.array_equal(a.epoch_indices(0), plan_balance(LABELS, 4, cfg, seed=4).epoch_indices(0))


def test_effective_number_weights_follow_cui_et_al():
    counts, beta = np.array([40, 10, 4, 6, 0]), 0.99
    raw = (1 - beta) / (1 - beta ** counts[:4])
    expected = raw / raw.sum() * 4
    got = effective_number_weights(counts, beta)
    assert got.dtype == np.float32 and np.allclose(got[:4], expected, rtol=1e-6) and got[4] == 0
    plan = plan_balance(LABELS, 4, BalanceConfig("class_weighted_loss", beta=beta), seed=0)
    assert np.allclose(plan.class_weights, effective_number_weights(np.array([40, 10, 4, 6]), beta))
    assert np.allclose(effective_number_weights(np.array([5, 50]), 0.0), 1.0)


def test_unknown_strategy_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        plan_balance(LABELS, 4, BalanceConfig("smote"), seed=0)
    assert all(name in str(err.value) for name in STRATEGIES)


@pytest.mark.parametrize("strategy, adjustment, tau, head_epochs", [
    ("none", "none", 0.0, 0),
    ("logit_adjusted", "loss", 1.5, 0),
    ("logit_adjusted_posthoc", "posthoc", 1.5, 0),
    ("balanced_softmax", "loss", 1.0, 0),  # balanced softmax is the logit-adjusted loss at tau 1
    ("crt", "none", 0.0, 3),
])
def test_loss_side_plans_tell_the_trainer_what_to_do(strategy, adjustment, tau, head_epochs):
    plan = plan_balance(LABELS, 4, BalanceConfig(strategy, tau=1.5, crt_epochs=3), seed=0)
    assert (plan.logit_adjustment, plan.tau, plan.head_retrain_epochs) == (adjustment, tau, head_epochs)
    assert np.allclose(plan.priors, np.array([40, 10, 4, 6]) / 60)


def test_crt_head_retraining_draws_classes_equally():
    plan = plan_balance(LABELS, 4, BalanceConfig("crt"), seed=0).head_retrain_plan()
    assert np.allclose(plan.counts_per_epoch(), 15.0) and plan.labels is not None


def test_the_config_names_exactly_the_registered_strategies():
    assert set(BalanceStrategy.__args__) == set(STRATEGIES)
