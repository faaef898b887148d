"""The stronger batch augmentation: TrivialAugment's ops and random erasing."""
from __future__ import annotations

import pytest
import torch

from data_pipeline.augment import TRIVIAL_OPS, augment_batch, random_erasing, trivial_augment
from data_pipeline.config import AugmentConfig

NEUTRAL_AT_ZERO = ["identity", "brightness", "contrast", "color", "sharpness", "rotate", "shear_x", "shear_y",
                   "translate_x", "translate_y"]


def _images(n=6, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", NEUTRAL_AT_ZERO)
def test_ops_at_zero_strength_leave_images_unchanged(name):
    x = _images()
    assert torch.allclose(TRIVIAL_OPS[name](x, torch.zeros(len(x))), x, atol=1e-5)


@pytest.mark.parametrize("name", list(TRIVIAL_OPS)[1:])
def test_ops_at_full_strength_change_images_and_stay_in_range(name):
    x = _images()
    out = TRIVIAL_OPS[name](x, torch.ones(len(x)))
    assert out.shape == x.shape and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert not torch.allclose(out, x, atol=1e-3)


def test_solarize_inverts_pixels_above_the_threshold():
    x = torch.tensor([0.2, 0.6, 0.9]).view(1, 3, 1, 1)
    out = TRIVIAL_OPS["solarize"](x, torch.tensor([0.5]))  # threshold 0.5
    assert torch.allclose(out.flatten(), torch.tensor([0.2, 0.4, 0.1]))


def test_trivial_augment_applies_one_op_per_image_reproducibly():
    x = _images(n=64)
    a = trivial_augment(x, torch.Generator().manual_seed(3))
    b = trivial_augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    changed = (a - x).abs().flatten(1).amax(dim=1) > 1e-4
    assert 0 < int(changed.sum()) < 64  # identity and zero-strength draws keep some images as they were


def test_random_erasing_replaces_one_box_of_2_to_33_percent():
    x = torch.zeros(32, 3, 20, 20)
    out = random_erasing(x, 1.0, torch.Generator().manual_seed(0))
    share = (out != 0).any(dim=1).flatten(1).float().mean(dim=1)
    assert float(share.min()) > 0.0 and float(share.max()) <= 0.34
    assert torch.equal(random_erasing(x, 0.0, torch.Generator()), x)


def test_the_stronger_recipe_is_off_by_default_and_on_when_asked():
    x, cfg = _images(), AugmentConfig(scale_min=1.0, hflip=False, color_jitter=0.0)
    assert torch.allclose(augment_batch(x, cfg, 16, torch.Generator().manual_seed(0)), x, atol=1e-5)
    strong = AugmentConfig(scale_min=1.0, hflip=False, color_jitter=0.0, trivial_augment=True, random_erasing=1.0)
    assert not torch.allclose(augment_batch(x, strong, 16, torch.Generator().manual_seed(0)), x, atol=1e-3)
