"""Training augmentation of whole batches on the model's device, with per-sample random parameters.

One `grid_sample` does the random resized crop, the horizontal flip and the resize to the model's input
size at once; colour jitter is a few element-wise tensor ops. Both are written for the CPU as much as for
a GPU: the crop has no rotation or shear, so its sampling grid is built from two separable lines rather than
`affine_grid`'s batched matrix product (10x cheaper on the CPU), and the gray image is a weighted channel
sum rather than a 1x1 convolution (20x cheaper on the CPU). The random parameters come from a CPU
generator (a handful of numbers per image), so results are the same on any device for a given seed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from data_pipeline.config import AugmentConfig

__all__ = ["augment_batch", "resize_batch", "crop_params", "crop_grid"]

ASPECT_RANGE = (3 / 4, 4 / 3)


def crop_params(batch: int, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """(B, 2, 3) affine matrices in normalized coordinates: crop area share, aspect, offset and flip."""
    area = torch.empty(batch).uniform_(cfg.scale_min, 1.0, generator=generator)
    log_r = torch.empty(batch).uniform_(math.log(ASPECT_RANGE[0]), math.log(ASPECT_RANGE[1]), generator=generator)
    aspect = torch.exp(log_r) if cfg.scale_min < 1.0 else torch.ones(batch)  # scale_min 1: no crop at all
    w = torch.sqrt(area * aspect).clamp(max=1.0)
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    tx = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - w)
    ty = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - h)
    flip = torch.rand(batch, generator=generator) < 0.5 if cfg.hflip else torch.zeros(batch, dtype=torch.bool)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = torch.where(flip, -w, w)
    theta[:, 0, 2] = tx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = ty
    return theta


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, out_size: int, generator: torch.Generator) -> torch.Tensor:
    """Random resized crop + flip + colour jitter of a float (B, 3, H, W) batch in [0, 1]; returns out_size."""
    theta = crop_params(x.shape[0], cfg, generator).to(device=x.device, dtype=x.dtype)
    x = F.grid_sample(x, crop_grid(theta, out_size), mode="bilinear", padding_mode="reflection", align_corners=False)
    if cfg.color_jitter > 0:
        x = _color_jitter(x, cfg.color_jitter, generator)
    return x


def crop_grid(theta: torch.Tensor, out_size: int) -> torch.Tensor:
    """`F.affine_grid(theta, (B, C, out, out), align_corners=False)` for the scale + offset matrices of `crop_params`."""
    lin = (torch.arange(out_size, device=theta.device, dtype=theta.dtype) * 2 + 1) / out_size - 1  # pixel centres
    gx = theta[:, 0, 0, None] * lin + theta[:, 0, 2, None]  # (B, W)
    gy = theta[:, 1, 1, None] * lin + theta[:, 1, 2, None]  # (B, H)
    return torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)


def _color_jitter(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Brightness b, then contrast c, then saturation s, fused into one pass: A*x + B*gray(x) + k.

    Gray is linear and its weights sum to 1, so the three steps compose exactly to
    A = b*c*s, B = b*c*(1-s), k = b*(1-c)*mean(gray(x)); this keeps the CPU path cheap.
    """
    b, c, s = torch.empty(3, x.shape[0]).uniform_(1 - strength, 1 + strength, generator=generator)
    b, c, s = (t.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1) for t in (b, c, s))
    gray = _gray(x)
    offset = b * (1 - c) * gray.mean(dim=(2, 3), keepdim=True)
    return (x * (b * c * s)).add_(gray * (b * c * (1 - s)) + offset).clamp_(0.0, 1.0)


def _gray(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def resize_batch(x: torch.Tensor, out_size: int) -> torch.Tensor:
    """Plain (evaluation) resize of a square batch to out_size: antialiased bilinear, identity if equal."""
    if x.shape[-1] == out_size and x.shape[-2] == out_size:
        return x
    return F.interpolate(x, size=(out_size, out_size), mode="bilinear", align_corners=False, antialias=True)
