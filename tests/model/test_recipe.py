import pytest
import torch
from torch import nn

from model.recipe import accumulation_share, build_ema, retrain_head_only, steps_per_epoch, tta_logits


def test_ema_update_is_the_decayed_average_of_the_weights():
    model = nn.Linear(3, 2)
    ema = build_ema(model, decay=0.9)
    before = ema.module.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    step = 50  # far past warm-up: the configured decay applies
    decay = ema.get_decay(step)
    assert decay == pytest.approx(0.9)
    ema.update(model, step=step)
    assert torch.allclose(ema.module.weight, decay * before + (1 - decay) * model.weight, atol=1e-6)
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_ema_warm_up_follows_the_model_over_the_first_steps():
    ema = build_ema(nn.Linear(3, 2), decay=0.999)
    assert ema.get_decay(1) == 0.0 and ema.get_decay(10) < 0.9 < ema.get_decay(1000) <= 0.999


class _Asymmetric(nn.Module):
    """Logits that see the image's left half only, so flipping it changes them."""

    def forward(self, x):
        return x[..., : x.shape[-1] // 2].mean(dim=(2, 3))


def test_flip_tta_averages_the_logits_of_each_image_and_its_mirror():
    model, x = _Asymmetric(), torch.randn(4, 3, 8, 8)
    plain, flipped = model(x), model(x.flip(-1))
    assert not torch.allclose(plain, flipped)
    assert torch.equal(tta_logits(model, x, "none"), plain)
    assert torch.allclose(tta_logits(model, x, "flip"), (plain + flipped) / 2)


@pytest.mark.parametrize("n, batch_size, steps", [(10, 2, 2), (11, 2, 2), (7, 3, 4), (5, 5, 1)])
def test_accumulation_shares_sum_to_one_per_step(n, batch_size, steps):
    shares = [accumulation_share(b, n, batch_size, steps) for b in range(-(-n // batch_size))]
    assert sum(last for _, last in shares) == steps_per_epoch(n, batch_size, steps)
    total = 0.0
    for share, last in shares:
        total += share
        if last:
            assert total == pytest.approx(1.0)
            total = 0.0


def test_accumulated_gradient_equals_one_bigger_batch():
    torch.manual_seed(0)
    model, x, y = nn.Linear(5, 3), torch.randn(7, 5), torch.randint(0, 3, (7,))
    nn.functional.cross_entropy(model(x), y).backward()
    whole = model.weight.grad.clone()
    model.zero_grad()
    for b, start in enumerate(range(0, 7, 3)):  # batches of 3, 3, 1 in one step
        share, _ = accumulation_share(b, 7, 3, 3)
        (nn.functional.cross_entropy(model(x[start:start + 3]), y[start:start + 3]) * share).backward()
    assert torch.allclose(model.weight.grad, whole, atol=1e-6)


def test_retrain_head_only_freezes_everything_but_a_fresh_head():
    model = nn.Sequential()
    model.add_module("backbone", nn.Linear(4, 4))
    model.add_module("head", nn.Linear(4, 2))
    old_head = model.head.weight.detach().clone()
    params = retrain_head_only(model)
    assert {id(p) for p in params} == {id(p) for p in model.head.parameters()}
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    assert not torch.equal(model.head.weight, old_head)
