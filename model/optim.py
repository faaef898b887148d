"""Optimizers (a registry) and the per-step learning-rate schedule that applies layer-wise lr scales."""
from __future__ import annotations

import math
from typing import Callable

import torch

from core.schema import ConfigError
from model.config import TrainConfig

OptimizerFactory = Callable[[list[dict], TrainConfig], torch.optim.Optimizer]


def _adam(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=cfg.lr)


def _adamw(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _sgd(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


def _rmsprop(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum)


OPTIMIZER_FACTORIES: dict[str, OptimizerFactory] = {"adam": _adam, "adamw": _adamw, "sgd": _sgd, "rmsprop": _rmsprop}
"""Weight decay comes from each param group (none on biases and norms); Adam's is L2, AdamW's decoupled."""


def build_optimizer(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by `cfg.optimizer` over `groups` (from model.finetune.param_groups)."""
    if cfg.optimizer not in OPTIMIZER_FACTORIES:
        raise ConfigError("train.optimizer", cfg.optimizer, f"must be one of {', '.join(OPTIMIZER_FACTORIES)}")
    if not groups:
        raise ValueError("no trainable parameters: check model.train_last_blocks")
    for group in groups:
        group["lr"] = cfg.lr * group.get("lr_scale", 1.0)
    return OPTIMIZER_FACTORIES[cfg.optimizer](groups, cfg)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str, floor: float = 0.01) -> float:
    """Multiplier of the base lr at `step`: linear warm-up, then cosine down to `floor` (or constant)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule over the run's own `epochs`; each group keeps its lr_scale (set in its base lr)."""
    total = cfg.epochs * steps_per_epoch
    warmup = min(total, round(cfg.warmup_epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, cfg.schedule))
