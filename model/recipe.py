"""The pieces of the training recipe the epoch loop calls: weight averaging, test-time flips, gradient
accumulation's arithmetic, and cRT's head-only re-training. Each is small and tested on its own."""
from __future__ import annotations

from typing import Literal

import torch
from timm.utils import ModelEmaV3
from torch import nn

__all__ = ["build_ema", "tta_logits", "accumulation_share", "steps_per_epoch", "retrain_head_only"]


def build_ema(model: nn.Module, decay: float) -> ModelEmaV3:
    """An averaged copy of `model`; update with `ema.update(model, step=n)` after the n-th optimizer step.

    Warm-up is on (decay = min(decay, 1 - (1 + n) ** -2/3)), so the average follows the model over the first
    steps of a short run instead of staying near its initial weights.
    """
    ema = ModelEmaV3(model, decay=decay, use_warmup=True)
    ema.requires_grad_(False)
    return ema


def tta_logits(model: nn.Module, x: torch.Tensor, tta: Literal["none", "flip"] = "none") -> torch.Tensor:
    """The model's float logits of a batch; with flip, the mean of the image's and its mirror image's logits."""
    logits = model(x).float()
    if tta == "flip":
        logits = (logits + model(x.flip(-1)).float()) / 2
    return logits


def accumulation_share(batch: int, num_images: int, batch_size: int, steps: int) -> tuple[float, bool]:
    """(weight of batch number `batch` in its optimizer step, whether it is the step's last batch).

    An epoch of `num_images` is cut into batches of `batch_size` and every `steps` batches make one step
    (the last step may be shorter). Weighting each batch's mean loss by its share of the step's images makes
    the accumulated gradient that of the step's images as one batch.
    """
    first = batch - batch % steps
    start, end = first * batch_size, min(num_images, (first + steps) * batch_size)
    size = min(batch_size, num_images - batch * batch_size)
    last = batch == first + steps - 1 or (batch + 1) * batch_size >= num_images
    return size / (end - start), last


def steps_per_epoch(num_images: int, batch_size: int, steps: int) -> int:
    """Optimizer steps in an epoch of `num_images` (at least 1)."""
    batches = -(-num_images // batch_size)
    return max(1, -(-batches // steps))


def retrain_head_only(model: nn.Module) -> list[nn.Parameter]:
    """cRT: freeze everything but `model.head`, re-initialise the head, and return its parameters."""
    model.requires_grad_(False)
    model.head.reset_parameters()
    model.head.requires_grad_(True)
    return list(model.head.parameters())
