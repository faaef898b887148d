import pytest
import timm
import torch
from safetensors.torch import save_file

from model.classifier import build_model
from model.config import ModelConfig
from model.weights import WeightsError
from tests.model.helpers import SHRUNK, SIZE


def _source_model():
    torch.manual_seed(1)
    # a "pretrained" model with its own 1000-way classifier, as hub weights have
    return timm.create_model("deit_small_patch16_224", num_classes=1000, img_size=SIZE, **SHRUNK["deit"])


def _cfg(path):
    return ModelConfig(backbone="deit", image_size=SIZE, backbone_kwargs=SHRUNK["deit"], pretrained=str(path))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_file_loads_and_drops_the_old_classifier(tmp_path, suffix):
    source = _source_model()
    path = tmp_path / f"weights{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    model = build_model(_cfg(path), num_classes=4)
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[name]), name
    assert model.head.out_features == 4


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(WeightsError) as err:
        build_model(_cfg(tmp_path / "nope.safetensors"), 4)
    assert "\n" not in str(err.value) and "nope.safetensors" in str(err.value) and "not an existing file" in str(err.value)


def test_wrong_suffix_is_one_line(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("hello")
    with pytest.raises(WeightsError, match="must end in one of"):
        build_model(_cfg(path), 4)


def test_shape_mismatch_is_one_line(tmp_path):
    other = timm.create_model("deit_small_patch16_224", num_classes=0, img_size=SIZE, embed_dim=48, depth=2, num_heads=2)
    path = tmp_path / "wide.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, path)
    with pytest.raises(WeightsError) as err:
        build_model(_cfg(path), 4)
    assert "\n" not in str(err.value) and "wide.safetensors" in str(err.value) and "could not be loaded" in str(err.value)


def test_other_architecture_is_one_line(tmp_path):
    other = timm.create_model("resnet10t", num_classes=0)
    path = tmp_path / "resnet.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(WeightsError) as err:
        build_model(_cfg(path), 4)
    assert "\n" not in str(err.value) and "resnet.pth" in str(err.value)


def test_corrupt_file_is_one_line(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError) as err:
        build_model(_cfg(path), 4)
    assert "\n" not in str(err.value) and "broken.safetensors" in str(err.value)
