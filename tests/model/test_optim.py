import dataclasses

import pytest
import torch

from core.schema import ConfigError
from model.classifier import build_model
from model.config import OPTIMIZERS, ModelConfig, TrainConfig
from model.finetune import param_groups
from model.optim import OPTIMIZER_FACTORIES, build_optimizer, build_scheduler, lr_factor
from tests.model.helpers import SHRUNK


def _model():
    torch.manual_seed(0)
    return build_model(ModelConfig(backbone="deit", image_size=32, backbone_kwargs=SHRUNK["deit"]), 3)


def test_registry_covers_the_config_literal():
    assert set(OPTIMIZER_FACTORIES) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("nesterov", [False, True])
def test_every_optimizer_steps(name, nesterov):
    model = _model()
    cfg = TrainConfig(optimizer=name, lr=1e-2, nesterov=nesterov)
    opt = build_optimizer(param_groups(model, cfg.weight_decay), cfg)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 3, 32, 32)).logsumexp(1).mean().backward()
    opt.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"] is nesterov


def test_unknown_optimizer_lists_names():
    cfg = dataclasses.replace(TrainConfig(), optimizer="lion")
    with pytest.raises(ConfigError, match="adam, adamw, sgd, rmsprop"):
        build_optimizer(param_groups(_model(), 0.0), cfg)


def test_no_weight_decay_on_biases_and_norms():
    groups = param_groups(_model(), 0.05)
    for g in groups:
        for name, p in zip(g["names"], g["params"]):
            assert (g["weight_decay"] == 0.0) == (p.ndim <= 1 or name.endswith(("pos_embed", "cls_token")))


def test_warmup_then_cosine_to_one_percent():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(100, 100, 10, "cosine") == pytest.approx(0.01)
    assert lr_factor(55, 100, 10, "constant") == 1.0
    values = [lr_factor(s, 100, 10, "cosine") for s in range(10, 101)]
    assert values == sorted(values, reverse=True)


def test_scheduler_applies_layer_scales():
    model = build_model(ModelConfig(backbone="deit", image_size=32, backbone_kwargs=SHRUNK["deit"],
                                    layer_decay=0.5), 3)
    cfg = TrainConfig(lr=0.1, epochs=2, warmup_epochs=0, schedule="constant")
    opt = build_optimizer(param_groups(model, 0.0, layer_decay=0.5), cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=5)
    opt.step()
    sched.step()
    lrs = {g["lr_scale"]: g["lr"] for g in opt.param_groups}
    assert lrs[1.0] == pytest.approx(0.1)
    assert min(lrs) == pytest.approx(0.5 ** 4)  # deit depth 2: stem, 2 blocks, tail, head -> stem is 4 below
    assert lrs[min(lrs)] == pytest.approx(0.1 * 0.5 ** 4)
