import pytest
import torch
import torch.nn.functional as F

from model.config import TrainConfig
from model.mixing import cutmix, mix_batch, mixing_enabled, mixup


def _batch():
    return torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 1])


def test_mixing_is_off_by_default():
    assert not mixing_enabled(TrainConfig())
    assert mixing_enabled(TrainConfig(mixup_alpha=0.2)) and not mixing_enabled(TrainConfig(mixup_alpha=0.2, mix_prob=0))


def test_mixup_mixes_images_and_targets_with_one_lambda():
    x, y = _batch()
    mixed, target = mix_batch(x, y, 3, TrainConfig(mixup_alpha=0.4), torch.Generator().manual_seed(0))
    lam = float(target[0, 0])  # image 0 (class 0) is paired with image 3 (class 1)
    assert 0 < lam < 1 and float(target[0, 1]) == pytest.approx(1 - lam)
    assert torch.allclose(mixed, mixup(x, lam), atol=1e-6)
    assert torch.allclose(target.sum(dim=1), torch.ones(4))
    assert torch.allclose(target, lam * F.one_hot(y, 3) + (1 - lam) * F.one_hot(y.flip(0), 3))


def test_cutmix_targets_follow_the_pasted_area():
    x, _ = _batch()
    out, kept = cutmix(x, 0.75, torch.Generator().manual_seed(1))
    from_partner = (out != x).any(dim=1)[0].float().mean()  # image 0's pixels now taken from image 3
    assert 0 < kept < 1 and float(from_partner) == pytest.approx(1 - kept, abs=1e-6)


def test_no_mixing_on_skipped_batches_gives_one_hot_targets():
    x, y = _batch()
    mixed, target = mix_batch(x, y, 3, TrainConfig(mixup_alpha=0.4, mix_prob=0.0), torch.Generator())
    assert torch.equal(mixed, x) and torch.equal(target, F.one_hot(y, 3).float())


def test_label_smoothing_applies_to_mixed_targets():
    logits, target = torch.randn(4, 3), torch.tensor([[0.7, 0.3, 0.0]] * 4)
    smoothed = target * 0.9 + 0.1 / 3
    expected = -(smoothed * logits.log_softmax(dim=1)).sum(dim=1).mean()
    assert torch.allclose(F.cross_entropy(logits, target, label_smoothing=0.1), expected, atol=1e-6)
