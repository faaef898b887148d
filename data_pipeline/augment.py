"""Training augmentation of whole batches on the model's device, with per-sample random parameters.

One `grid_sample` does the random resized crop, the horizontal flip and the resize to the model's input
size at once; colour jitter is a few element-wise tensor ops. Both are written for the CPU as much as for
a GPU: the crop has no rotation or shear, so its sampling grid is built from two separable lines rather than
`affine_grid`'s batched matrix product (10x cheaper on the CPU), and the gray image is a weighted channel
sum rather than a 1x1 convolution (20x cheaper on the CPU). The random parameters come from a CPU
generator (a handful of numbers per image), so results are the same on any device for a given seed.

The stronger recipe adds TrivialAugment (one op per image, at a uniformly drawn strength; each op runs once
on the images that drew it) and random erasing (boxes as masks built from two comparisons per axis).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from data_pipeline.config import AugmentConfig

__all__ = ["augment_batch", "resize_batch", "crop_params", "crop_grid", "trivial_augment", "random_erasing",
           "TRIVIAL_OPS"]

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
    if cfg.trivial_augment:
        x = trivial_augment(x, generator)
    if cfg.random_erasing > 0:
        x = random_erasing(x, cfg.random_erasing, generator)
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


# ---- TrivialAugment ---------------------------------------------------------------------------------
# Each op maps (n, 3, H, W) images in [0, 1] and signed strengths s in [-1, 1] (n,) to images in [0, 1].
# Ranges follow TrivialAugment's standard (not "wide") space; histogram equalization is left out.

def _per_image(s: torch.Tensor) -> torch.Tensor:
    return s.view(-1, 1, 1, 1)


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: degenerate + factor * (x - degenerate), clamped; factor 1 is the identity."""
    return (degenerate + _per_image(factor) * (x - degenerate)).clamp_(0.0, 1.0)


def _brightness(x, s):
    return _blend(torch.zeros_like(x), x, 1 + 0.9 * s)


def _contrast(x, s):
    return _blend(_gray(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), x, 1 + 0.9 * s)


def _color(x, s):
    return _blend(_gray(x).expand_as(x), x, 1 + 0.9 * s)


def _sharpness(x, s):
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=x.device, dtype=x.dtype) / 13
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(3, 1, 3, 3), groups=3)
    return _blend(blurred, x, 1 + 0.9 * s)


def _posterize(x, s):
    step = torch.pow(2.0, torch.round(s.abs() * 4)).to(x.dtype)  # keep 8 down to 4 bits
    step = _per_image(step)
    return torch.floor(x * 255 / step) * step / 255


def _solarize(x, s):
    threshold = _per_image(1 - s.abs())
    return torch.where(x >= threshold, 1 - x, x)


def _autocontrast(x, s):
    low, high = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
    span = high - low
    return torch.where(span > 0, (x - low) / span.clamp(min=1e-6), x)


def _affine(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
            tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    theta = torch.stack([torch.stack([a, b, tx], dim=1), torch.stack([c, d, ty], dim=1)], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _rotate(x, s):
    angle = s * math.radians(30)
    cos, sin = torch.cos(angle), torch.sin(angle)
    return _affine(x, cos, -sin, sin, cos, torch.zeros_like(s), torch.zeros_like(s))


def _shear(axis: int):
    def op(x, s):
        one, zero, k = torch.ones_like(s), torch.zeros_like(s), 0.3 * s
        return _affine(x, one, k if axis == 0 else zero, k if axis == 1 else zero, one, zero, zero)
    return op


def _translate(axis: int):
    def op(x, s):
        one, zero, t = torch.ones_like(s), torch.zeros_like(s), 2 * 0.3 * s  # up to 30% of the side
        return _affine(x, one, zero, zero, one, t if axis == 0 else zero, t if axis == 1 else zero)
    return op


TRIVIAL_OPS = {
    "identity": lambda x, s: x, "brightness": _brightness, "contrast": _contrast, "color": _color,
    "sharpness": _sharpness, "posterize": _posterize, "solarize": _solarize, "autocontrast": _autocontrast,
    "rotate": _rotate, "shear_x": _shear(0), "shear_y": _shear(1), "translate_x": _translate(0),
    "translate_y": _translate(1),
}
"""TrivialAugment's ops by name, each `op(images, signed_strength)`."""


def trivial_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One uniformly chosen op of TRIVIAL_OPS per image, at a uniform random strength and sign."""
    n = x.shape[0]
    op = torch.randint(0, len(TRIVIAL_OPS), (n,), generator=generator)
    signed = torch.rand(n, generator=generator) * torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    out = x.clone()
    for k, fn in enumerate(TRIVIAL_OPS.values()):
        chosen = torch.nonzero(op == k).flatten()
        if k and len(chosen):  # identity (k = 0) keeps its images as they are
            idx = chosen.to(x.device)
            out[idx] = fn(x[idx], signed[chosen].to(device=x.device, dtype=x.dtype))
    return out


def random_erasing(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """With probability p per image, one box of 2-33% of the area (aspect 0.3-3.3) replaced by uniform noise."""
    n, _, height, width = x.shape
    erase = torch.rand(n, generator=generator) < p
    area = torch.empty(n).uniform_(0.02, 1 / 3, generator=generator)
    aspect = torch.exp(torch.empty(n).uniform_(math.log(0.3), math.log(1 / 0.3), generator=generator))
    h, w = torch.sqrt(area * aspect).clamp(max=1.0), torch.sqrt(area / aspect).clamp(max=1.0)
    top, left = torch.rand(n, generator=generator) * (1 - h), torch.rand(n, generator=generator) * (1 - w)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    chosen = torch.nonzero(erase).flatten()
    if not len(chosen):
        return x
    rows, cols = _inside(height, top[chosen], h[chosen], x), _inside(width, left[chosen], w[chosen], x)
    mask = rows[:, None, :, None] & cols[:, None, None, :]
    idx = chosen.to(x.device)  # noise only for the erased images: drawing it is most of the cost
    noise = torch.rand((len(idx), *x.shape[1:]), generator=torch.Generator(device=x.device).manual_seed(seed),
                       device=x.device, dtype=x.dtype)
    out = x.clone()
    out[idx] = torch.where(mask, noise, x[idx])
    return out


def _inside(size: int, start: torch.Tensor, length: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(n, size) bool: whether each pixel centre along one axis lies in [start, start + length)."""
    centres = (torch.arange(size, device=like.device, dtype=torch.float32) + 0.5) / size
    start, end = start.to(like.device)[:, None], (start + length).to(like.device)[:, None]
    return (centres >= start) & (centres < end)
