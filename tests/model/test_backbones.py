import pytest
import torch

from core.schema import ConfigError
from model.backbones import create_backbone
from model.classifier import build_model
from model.config import EdgeNetConfig, ModelConfig
from model.presets import PRESETS, is_timm_model, resolve_backbone, timm_model_names
from tests.model.helpers import SHRUNK, SIZE


def test_every_preset_has_a_shrunk_test_config():
    assert set(PRESETS) <= set(SHRUNK)


@pytest.mark.parametrize("mode", ["off", "replace", "residual"])
@pytest.mark.parametrize("name", sorted(SHRUNK))
def test_preset_forward_backward(name, mode):
    cfg = ModelConfig(backbone=name, image_size=SIZE, backbone_kwargs=SHRUNK[name], dropout=0.1,
                      edgenet=EdgeNetConfig(mode=mode))
    model = build_model(cfg, num_classes=7)
    assert model.data_config["input_size"] == (3, SIZE, SIZE)
    logits = model(torch.randn(2, 3, SIZE, SIZE))
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert model.head.weight.grad is not None
    trainable = [name for name, p in model.backbone.named_parameters() if p.requires_grad]
    assert trainable, "train_last_blocks defaults to 'all': every backbone parameter trains"
    no_grad = [name for name, p in model.backbone.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, no_grad  # every preset's trainable parameters are reached by the loss, blocks or not
    if mode != "off":
        assert model.edgenet.first_conv.weight.grad is not None


def test_presets_resolve_to_real_timm_names():
    import timm

    for name, preset in PRESETS.items():
        assert timm.is_model(preset.timm_name), name
    assert resolve_backbone("beit").timm_name == "beit_base_patch16_224.in22k_ft_in22k_in1k"


def test_mean_std_come_from_the_model():
    _, beit = create_backbone(ModelConfig(backbone="beit", image_size=SIZE, backbone_kwargs=SHRUNK["beit"]))
    assert beit["mean"] == (0.5, 0.5, 0.5) and beit["std"] == (0.5, 0.5, 0.5)
    _, deit = create_backbone(ModelConfig(backbone="deit", backbone_kwargs=SHRUNK["deit"]))
    assert deit["input_size"] == (3, 224, 224) and deit["mean"][0] == pytest.approx(0.485)


def test_convnets_take_any_size():
    model = build_model(ModelConfig(backbone="convnext", image_size=72, backbone_kwargs=SHRUNK["convnext"]), 3)
    assert model(torch.randn(1, 3, 72, 72)).shape == (1, 3)


def test_unknown_backbone_lists_presets_and_close_timm_names():
    with pytest.raises(ConfigError) as err:
        resolve_backbone("deit_smal_patch16_224")
    message = str(err.value)
    assert "\n" not in message and "model.backbone" in message
    assert "beit, swinv2, swinv2_224, deit, convnext" in message
    assert "deit_small_patch16_224" in message


def test_timm_names_are_cached_per_version_and_agree_with_timm(tmp_path, monkeypatch):
    import timm

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    timm_model_names.cache_clear()
    try:
        assert timm_model_names() == tuple(timm.list_models())
        for name in ("resnet50", "vit_base_patch16_224.augreg_in21k", "deit_smal_patch16_224", "resnet50x"):
            assert is_timm_model(name) == timm.is_model(name), name
            assert (name.split(".", 1)[0] in timm_model_names()) == timm.is_model(name), name  # the cached path
        (cached,) = (tmp_path / "edgetune").glob(f"timm-{timm.__version__}-models.txt")
        cached.write_text("test_vit\nresnet50")  # the next process reads the file, not timm
        timm_model_names.cache_clear()
        assert timm_model_names() == ("test_vit", "resnet50")
    finally:
        timm_model_names.cache_clear()


def test_swin_windows_must_divide_feature_maps():
    kwargs = {**SHRUNK["swinv2"], "window_size": 8}
    with pytest.raises(ConfigError, match="window_size 7"):
        create_backbone(ModelConfig(backbone="swinv2", image_size=224, backbone_kwargs=kwargs))
    with pytest.raises(ConfigError, match="divide every feature map"):
        create_backbone(ModelConfig(backbone="swinv2", image_size=80, backbone_kwargs=SHRUNK["swinv2"]))


def test_bad_backbone_kwargs_are_a_config_error():
    with pytest.raises(ConfigError, match="backbone_kwargs"):
        create_backbone(ModelConfig(backbone="test_vit", backbone_kwargs={"no_such_arg": 1}))


def test_real_swin_presets_pass_the_window_check():
    from model.backbones import _check_swin_windows

    for name, size in (("swinv2", 256), ("swinv2_224", 224)):
        preset = PRESETS[name]
        _check_swin_windows(preset.timm_name, {**preset.kwargs, "img_size": size})
    with pytest.raises(ConfigError):
        _check_swin_windows(PRESETS["swinv2"].timm_name, {"img_size": 224})


def test_drop_path_rate_reaches_the_backbone_blocks():
    backbone, _ = create_backbone(ModelConfig(backbone="test_vit", image_size=32, drop_path_rate=0.2))
    rates = [m.drop_prob for m in backbone.modules() if type(m).__name__ == "DropPath"]
    assert rates and max(rates) == pytest.approx(0.2)
    plain, _ = create_backbone(ModelConfig(backbone="test_vit", image_size=32))
    assert not [m for m in plain.modules() if type(m).__name__ == "DropPath"]


def test_drop_path_on_a_backbone_without_it_is_a_config_error():
    with pytest.raises(ConfigError, match="model.drop_path_rate.*vgg11 has no drop path"):
        create_backbone(ModelConfig(backbone="vgg11", drop_path_rate=0.1))
