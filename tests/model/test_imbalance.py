import numpy as np
import torch
import torch.nn.functional as F

from data_pipeline.balance import plan_balance
from data_pipeline.config import BalanceConfig
from model.imbalance import adjusted_cross_entropy, evaluation_offset, logit_offset, training_offset

LABELS = np.array([0] * 6 + [1] * 3 + [2])
PRIORS = torch.tensor([0.6, 0.3, 0.1])


def test_logit_adjusted_loss_shifts_logits_by_tau_log_prior():
    plan = plan_balance(LABELS, 3, BalanceConfig("logit_adjusted", tau=1.5), seed=0)
    offset = training_offset(plan)
    assert torch.allclose(offset, 1.5 * PRIORS.log(), atol=1e-6) and evaluation_offset(plan) is None
    logits, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 2, 1])
    assert torch.allclose(adjusted_cross_entropy(logits, y, offset), F.cross_entropy(logits + 1.5 * PRIORS.log(), y))


def test_posthoc_adjustment_subtracts_tau_log_prior_at_evaluation_only():
    plan = plan_balance(LABELS, 3, BalanceConfig("logit_adjusted_posthoc", tau=1.0), seed=0)
    assert training_offset(plan) is None
    assert torch.allclose(evaluation_offset(plan), -PRIORS.log(), atol=1e-6)
    logits = torch.zeros(1, 3)  # a tie: post-hoc adjustment hands it to the rarest class
    assert int((logits + evaluation_offset(plan)).argmax()) == 2


def test_balanced_softmax_is_cross_entropy_on_prior_shifted_logits():
    plan = plan_balance(LABELS, 3, BalanceConfig("balanced_softmax", tau=3.0), seed=0)  # tau plays no part
    logits, y = torch.randn(6, 3), torch.tensor([0, 0, 1, 2, 2, 1])
    expected = -(logits + PRIORS.log()).log_softmax(dim=1).gather(1, y[:, None]).mean()
    assert torch.allclose(adjusted_cross_entropy(logits, y, training_offset(plan)), expected, atol=1e-6)


def test_priors_come_from_the_labels_before_balancing():
    assert torch.allclose(logit_offset(np.array([0.5, 0.5]), 2.0), torch.full((2,), 2 * np.log(0.5)))
    plan = plan_balance(LABELS, 4, BalanceConfig("logit_adjusted"), seed=0)  # class 3 has no image: counts as 1
    assert np.allclose(plan.priors, np.array([6, 3, 1, 1]) / 11) and bool(torch.isfinite(training_offset(plan)).all())
