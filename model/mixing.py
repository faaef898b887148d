"""Mixup and cutmix of a device batch with its mirror-ordered partner (image i with image B-1-i), as timm does.

Targets come back as class probabilities; label smoothing is applied afterwards by the loss, the same way as
for unmixed batches. Random numbers come from a CPU generator, so a seed gives the same mixes on any device.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from model.config import TrainConfig

__all__ = ["mixing_enabled", "mix_batch", "mixup", "cutmix"]


def mixing_enabled(cfg: TrainConfig) -> bool:
    """Whether the training recipe mixes batches at all."""
    return cfg.mix_prob > 0 and (cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0)


def mix_batch(x: torch.Tensor, y: torch.Tensor, num_classes: int, cfg: TrainConfig,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, class-probability targets): mixup or cutmix with probability `mix_prob`, else one-hot targets."""
    target = F.one_hot(y, num_classes).to(torch.float32)
    if float(torch.rand((), generator=generator)) >= cfg.mix_prob or x.shape[0] < 2:
        return x, target
    use_cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha == 0 or float(torch.rand((), generator=generator)) < 0.5)
    alpha = cfg.cutmix_alpha if use_cutmix else cfg.mixup_alpha
    lam = float(np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator))).beta(alpha, alpha))
    x, lam = cutmix(x, lam, generator) if use_cutmix else (mixup(x, lam), lam)
    return x, lam * target + (1 - lam) * target.flip(0)


def mixup(x: torch.Tensor, lam: float) -> torch.Tensor:
    """lam * x + (1 - lam) * partner."""
    return x * lam + x.flip(0) * (1 - lam)


def cutmix(x: torch.Tensor, lam: float, generator: torch.Generator) -> tuple[torch.Tensor, float]:
    """Paste one box of area share about 1 - lam from each partner; returns the images and the kept share."""
    height, width = x.shape[-2:]
    cut = math.sqrt(1 - lam)
    h, w = int(height * cut), int(width * cut)
    cy, cx = (int(torch.randint(0, n, (1,), generator=generator)) for n in (height, width))
    top, bottom = max(cy - h // 2, 0), min(cy + h // 2, height)
    left, right = max(cx - w // 2, 0), min(cx + w // 2, width)
    out = x.clone()
    out[..., top:bottom, left:right] = x.flip(0)[..., top:bottom, left:right]
    return out, 1 - (bottom - top) * (right - left) / (height * width)
