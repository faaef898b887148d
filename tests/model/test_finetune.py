import pytest

from model.classifier import build_model
from model.config import EdgeNetConfig, ModelConfig
from model.finetune import layer_groups, layer_scales
from tests.model.helpers import SHRUNK, SIZE


def _build(name, last, edgenet="replace", **extra):
    cfg = ModelConfig(backbone=name, image_size=SIZE, backbone_kwargs=SHRUNK[name], train_last_blocks=last,
                      edgenet=EdgeNetConfig(mode=edgenet), **extra)
    return build_model(cfg, 5)


def _trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_vit_last_block_and_final_norm_train():
    model = _build("deit", 1)
    expected = {n for n, _ in model.named_parameters()
                if n.startswith(("head.", "edgenet.", "backbone.blocks.1.", "backbone.norm."))}
    assert _trainable(model) == expected


def test_zero_blocks_trains_only_head_and_edgenet():
    model = _build("beit", 0)
    assert _trainable(model) == {n for n, _ in model.named_parameters() if n.startswith(("head.", "edgenet."))}


def test_all_trains_everything():
    model = _build("convnext", "all")
    assert _trainable(model) == {n for n, _ in model.named_parameters()}


@pytest.mark.parametrize("name, blocks", [("swinv2", 5), ("convnext", 5), ("deit", 2), ("test_vit", 6)])
def test_blocks_are_flattened_per_family(name, blocks):
    groups = layer_groups(_build(name, "all").backbone)
    assert len(groups) - 2 == blocks
    assert groups[0] and groups[-1]  # a stem and a tail (final norm)


def test_swin_last_two_blocks_are_the_last_stage_and_the_one_before():
    model = _build("swinv2", 2, edgenet="off")
    trained = {n for n in _trainable(model) if n.startswith("backbone.layers")}
    assert {n.split(".")[2] for n in trained} == {"2", "3"}
    assert any(n.startswith("backbone.layers.3.downsample") for n in trained)
    assert not any(n.startswith("backbone.layers.2.downsample") for n in trained)  # belongs to block 2.0


def test_group_matcher_fallback_for_other_timm_models():
    model = build_model(ModelConfig(backbone="resnet10t", image_size=SIZE, train_last_blocks=1), 5)
    trained = {n for n in _trainable(model) if n.startswith("backbone.")}
    assert trained and all(n.startswith("backbone.layer4.") for n in trained)


def test_layer_decay_scales_shrink_toward_the_input():
    model = _build("deit", "all", layer_decay=0.5)
    scales = layer_scales(model, 0.5)
    assert scales["head.weight"] == 1.0 and scales["edgenet.layers.0.weight"] == 1.0
    assert scales["backbone.norm.weight"] == 0.5
    assert scales["backbone.blocks.1.attn.qkv.weight"] == 0.25
    assert scales["backbone.blocks.0.attn.qkv.weight"] == 0.125
    assert scales["backbone.patch_embed.proj.weight"] == 0.0625
