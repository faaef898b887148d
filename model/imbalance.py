"""The loss-side balancing strategies of a `BalancePlan`, as torch: logit adjustment and balanced softmax.

Menon et al. (2021): with class priors pi, the logit-adjusted loss is cross-entropy on f(x) + tau * log(pi)
(the network's own logits then rank classes as if they were balanced); post-hoc adjustment trains plainly and
predicts with f(x) - tau * log(pi). Balanced softmax (Ren et al., 2020) is the loss with tau = 1.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from data_pipeline.balance import BalancePlan

__all__ = ["logit_offset", "training_offset", "evaluation_offset", "adjusted_cross_entropy"]


def logit_offset(priors: np.ndarray, tau: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """tau * log(priors) as a float32 (C,) tensor."""
    return tau * torch.log(torch.as_tensor(priors, dtype=torch.float32, device=device))


def training_offset(plan: BalancePlan, device: torch.device | str = "cpu") -> Optional[torch.Tensor]:
    """What the plan adds to the logits inside the training loss, or None."""
    return logit_offset(plan.priors, plan.tau, device) if plan.logit_adjustment == "loss" else None


def evaluation_offset(plan: BalancePlan, device: torch.device | str = "cpu") -> Optional[torch.Tensor]:
    """What the plan adds to the logits at evaluation (post-hoc: minus tau * log prior), or None."""
    return -logit_offset(plan.priors, plan.tau, device) if plan.logit_adjustment == "posthoc" else None


def adjusted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, offset: Optional[torch.Tensor] = None,
                           weight: Optional[torch.Tensor] = None, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy on logits + offset; `target` is class indices or class probabilities (mixup)."""
    if offset is not None:
        logits = logits + offset
    return F.cross_entropy(logits, target, weight=weight, label_smoothing=label_smoothing)
