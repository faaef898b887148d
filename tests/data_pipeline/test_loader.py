"""BatchLoader over the real (small) clothing cache: shapes, normalization, determinism, eval = plain resize."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from data_pipeline.config import AugmentConfig
from data_pipeline.loader import BatchLoader

ZERO, ONE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def _loader(split, **kw):
    base = dict(batch_size=16, device="cpu", mean=ZERO, std=ONE, out_size=48)
    return BatchLoader(split, **{**base, **kw})


def test_shapes_dtypes_and_batch_count(small_cache):
    train = small_cache.split("train")
    loader = _loader(train, augment=AugmentConfig(), channels_last=True)
    batches = list(loader.iterate())
    assert len(batches) == loader.num_batches(len(train)) == -(-len(train) // 16)
    x, y = batches[0]
    assert x.shape == (16, 3, 48, 48) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.from_numpy(train.labels.copy()))
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_eval_mode_equals_plain_resize_and_normalization(small_cache):
    val = small_cache.split("validation")
    idx = np.array([5, 0, 3])
    x, y = next(_loader(val).iterate(idx))
    ref = torch.from_numpy(val.images[idx].copy()).permute(0, 3, 1, 2).float() / 255
    ref = F.interpolate(ref, size=(48, 48), mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(x, ref, atol=1e-5) and y.tolist() == val.labels[idx].tolist()
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    xn, _ = next(_loader(val, mean=mean, std=std).iterate(idx))
    expected = (ref - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(xn, expected, atol=1e-4)
    full, _ = next(_loader(val, out_size=small_cache.image_size).iterate(idx))
    assert torch.allclose(full * 255, torch.from_numpy(val.images[idx].copy()).permute(0, 3, 1, 2).float(), atol=1e-3)


def test_augmentation_is_seeded_per_epoch(small_cache):
    train = small_cache.split("train")
    idx = np.arange(32)
    first = [x for x, _ in _loader(train, augment=AugmentConfig(), seed=1).iterate(idx, epoch=0)]
    again = [x for x, _ in _loader(train, augment=AugmentConfig(), seed=1, prefetch=False).iterate(idx, epoch=0)]
    other = [x for x, _ in _loader(train, augment=AugmentConfig(), seed=1).iterate(idx, epoch=1)]
    plain = [x for x, _ in _loader(train).iterate(idx)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0]) and not torch.allclose(first[0], plain[0])


def test_no_crop_no_jitter_flip_only_mirrors(small_cache):
    train = small_cache.split("train")
    idx = np.arange(16)
    cfg = AugmentConfig(scale_min=1.0, hflip=True, color_jitter=0.0)
    size = small_cache.image_size
    aug, _ = next(_loader(train, augment=cfg, out_size=size).iterate(idx))
    plain, _ = next(_loader(train, out_size=size).iterate(idx))
    flipped = 0
    for a, p in zip(aug, plain):
        same = torch.allclose(a, p, atol=1e-4)
        assert same or torch.allclose(a, p.flip(-1), atol=1e-4)
        flipped += not same
    assert 0 < flipped < 16


def test_fused_color_jitter_equals_the_three_steps():
    from data_pipeline.augment import _color_jitter

    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    b, c, s = torch.empty(3, 4).uniform_(0.8, 1.2, generator=torch.Generator().manual_seed(1)).view(3, 4, 1, 1, 1)
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    y = x * b
    m = (y * w).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    y = (y - m) * c + m
    g = (y * w).sum(1, keepdim=True)
    expected = ((y - g) * s + g).clamp(0, 1)
    assert torch.allclose(_color_jitter(x, 0.2, torch.Generator().manual_seed(1)), expected, atol=1e-5)


def test_separable_crop_grid_equals_affine_grid():
    from data_pipeline.augment import crop_grid, crop_params

    theta = crop_params(8, AugmentConfig(scale_min=0.3), torch.Generator().manual_seed(3))
    expected = F.affine_grid(theta, [8, 3, 40, 40], align_corners=False)
    assert torch.allclose(crop_grid(theta, 40), expected, atol=1e-6)
