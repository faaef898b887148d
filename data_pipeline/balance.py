"""Class balancing of the training split, as a small plan of indices or weights (never a copy of images).

A strategy maps the training labels to a `BalancePlan`; the plan draws each epoch's indices with its own
generator seeded by (seed, epoch), so every epoch is redrawn and any epoch can be reproduced alone.
Oversampled repeats are plain repeated indices: the loader augments every draw independently, so each
repeat is seen with a different crop, flip and colour.

Loss- and classifier-side strategies (logit adjustment, balanced softmax, cRT) draw every image once, like
`none`; their plan tells the trainer what to do (`logit_adjustment`, `tau`, `head_retrain_epochs`) and
carries the priors, so this package stays free of torch losses (they live in model/imbalance.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Optional

import numpy as np

from core.schema import ConfigError
from data_pipeline.config import BalanceConfig

__all__ = ["BalancePlan", "plan_balance", "resolve_target", "effective_number_weights", "class_priors", "STRATEGIES"]

LogitAdjustment = Literal["none", "loss", "posthoc"]


@dataclass(frozen=True)
class BalancePlan:
    """How one trial samples the training split: per-class epoch counts, or sample weights, or loss weights."""

    strategy: str
    class_weights: Optional[np.ndarray]
    """float32 per class for class_weighted_loss, else None."""
    labels: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    num_classes: int = 0
    per_class: Optional[np.ndarray] = None
    """Images of each class drawn per epoch (resampling strategies); None keeps every image once."""
    sample_weights: Optional[np.ndarray] = field(repr=False, default=None)
    """Per-image draw probability (weighted_sampler)."""
    seed: int = 0
    logit_adjustment: LogitAdjustment = "none"
    """loss: train on logits + tau * log(prior); posthoc: evaluate logits - tau * log(prior)."""
    tau: float = 0.0
    head_retrain_epochs: int = 0
    """cRT: the last this many epochs re-train only the head on `head_retrain_plan()`'s balanced draws."""

    @property
    def priors(self) -> np.ndarray:
        """The training split's class shares before balancing (see `class_priors`)."""
        return class_priors(self.labels, self.num_classes)

    def head_retrain_plan(self) -> BalancePlan:
        """The class-balanced sampler cRT re-trains the head on: every class drawn equally often."""
        return _weighted_sampler(self.labels, self.num_classes, None, self.seed)

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """Shuffled indices into the training split for `epoch`, redrawn per epoch, deterministic."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.labels)
        if self.sample_weights is not None:
            return rng.choice(n, size=n, replace=True, p=self.sample_weights)
        if self.per_class is None:
            return rng.permutation(n)
        parts = [_resample(np.flatnonzero(self.labels == c), int(k), rng) for c, k in enumerate(self.per_class)]
        return rng.permutation(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def counts_per_epoch(self) -> np.ndarray:
        """Expected number of images of each class in one epoch (float64)."""
        if self.per_class is not None:
            return self.per_class.astype(np.float64)
        weights = None if self.sample_weights is None else self.sample_weights * len(self.labels)
        return np.bincount(self.labels, weights=weights, minlength=self.num_classes).astype(np.float64)


def _resample(members: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k indices of one class: whole repeats of the class, then a random subset without replacement."""
    if k == 0 or len(members) == 0:
        return np.zeros(0, np.int64)
    repeats, rest = divmod(k, len(members))
    return np.concatenate([np.tile(members, repeats), rng.choice(members, size=rest, replace=False)])


def resolve_target(counts: np.ndarray, target: int | str) -> int:
    """The per-class count a strategy moves toward: a number, or median/mean/max/min of present classes."""
    if isinstance(target, int):
        return target
    present = counts[counts > 0]
    if len(present) == 0:
        return 0
    stats = {"median": np.median, "mean": np.mean, "max": np.max, "min": np.min}
    if target not in stats:
        raise ConfigError("balance.target", target, f"must be a number or one of {', '.join(stats)}")
    return int(round(float(stats[target](present))))


def effective_number_weights(counts: np.ndarray, beta: float) -> np.ndarray:
    """Cui et al. 2019: w_c = (1 - beta) / (1 - beta^n_c), scaled to sum to the number of present classes."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    raw = np.zeros_like(counts)
    raw[present] = (1.0 - beta) / (1.0 - np.power(beta, counts[present])) if beta > 0 else 1.0
    total = raw.sum()
    return (raw * present.sum() / total if total > 0 else raw).astype(np.float32)


def class_priors(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """float64 class shares of `labels`; a class with no image counts as one, so log(prior) stays finite."""
    counts = np.maximum(np.bincount(labels, minlength=num_classes), 1).astype(np.float64)
    return counts / counts.sum()


Strategy = Callable[[np.ndarray, int, BalanceConfig, int], BalancePlan]


def _none(labels, num_classes, cfg, seed):
    return BalancePlan("none", None, labels, num_classes, seed=seed)


def _per_class(name: str, rule: Callable[[np.ndarray, int], np.ndarray]) -> Strategy:
    def build(labels, num_classes, cfg, seed):
        counts = np.bincount(labels, minlength=num_classes)
        target = resolve_target(counts, cfg.target)
        per_class = np.where(counts > 0, rule(counts, target), 0).astype(np.int64)
        return BalancePlan(name, None, labels, num_classes, per_class, seed=seed)
    return build


def _weighted_sampler(labels, num_classes, cfg, seed):
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = 1.0 / counts[labels]
    weights = weights / weights.sum() if len(labels) else weights
    return BalancePlan("weighted_sampler", None, labels, num_classes, sample_weights=weights, seed=seed)


def _class_weighted_loss(labels, num_classes, cfg, seed):
    counts = np.bincount(labels, minlength=num_classes)
    weights = effective_number_weights(counts, cfg.beta)
    return BalancePlan("class_weighted_loss", weights, labels, num_classes, seed=seed)


def _logit_adjusted(name: str, adjustment: LogitAdjustment, fixed_tau: Optional[float] = None) -> Strategy:
    def build(labels, num_classes, cfg, seed):
        tau = cfg.tau if fixed_tau is None else fixed_tau
        return BalancePlan(name, None, labels, num_classes, seed=seed, logit_adjustment=adjustment, tau=tau)
    return build


def _crt(labels, num_classes, cfg, seed):
    return BalancePlan("crt", None, labels, num_classes, seed=seed, head_retrain_epochs=cfg.crt_epochs)


STRATEGIES: dict[str, Strategy] = {
    "none": _none,
    "oversample": _per_class("oversample", lambda c, t: np.maximum(c, t)),
    "undersample": _per_class("undersample", lambda c, t: np.minimum(c, t)),
    "hybrid": _per_class("hybrid", lambda c, t: np.full_like(c, t)),
    "weighted_sampler": _weighted_sampler,
    "class_weighted_loss": _class_weighted_loss,
    "logit_adjusted": _logit_adjusted("logit_adjusted", "loss"),
    "logit_adjusted_posthoc": _logit_adjusted("logit_adjusted_posthoc", "posthoc"),
    "balanced_softmax": _logit_adjusted("balanced_softmax", "loss", fixed_tau=1.0),  # Ren et al., 2020
    "crt": _crt,
}
"""Registry of balancing strategies by name."""


def plan_balance(labels: np.ndarray, num_classes: int, cfg: BalanceConfig, seed: int) -> BalancePlan:
    """The balance plan of a training split's labels under `cfg.strategy` (see STRATEGIES)."""
    if cfg.strategy not in STRATEGIES:
        raise ConfigError("balance.strategy", cfg.strategy, f"must be one of {', '.join(STRATEGIES)}")
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return STRATEGIES[cfg.strategy](labels, num_classes, cfg, seed)
