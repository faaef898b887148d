"""Nothing a file says can run code, and a cache that changed on disk is rebuilt, not trusted."""
from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from data_pipeline.cache import open_cache, prepare_cache, verify_cache
from data_pipeline.config import DataConfig
from model import checkpoint as ckpt
from model.classifier import build_model
from model.config import ModelConfig
from model.weights import WeightsError
from tests.data_pipeline.conftest import write_good


class _Payload:
    """Unpickling this touches `marker`: the stand-in for arbitrary code in a downloaded file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _write(path: Path, obj, how: str) -> None:
    if how == "torch.save":
        torch.save(obj, path)
    else:  # a bare pickle, as an old or hand-made .pth can be
        with path.open("wb") as f:
            pickle.dump(obj, f)


def _payload_is_live(path: Path, marker: Path, how: str) -> None:
    """The file really runs code when loaded without weights_only, so a refusal below means something."""
    if how == "torch.save":
        torch.load(path, weights_only=False)
    else:
        with path.open("rb") as f:
            pickle.load(f)
    assert marker.exists()
    marker.unlink()


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_checkpoint_with_code_is_refused(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / ckpt.CHECKPOINT_FILE
    _write(path, {"model": {}, "epoch": 1, "evil": _Payload(marker)}, how)
    _payload_is_live(path, marker, how)
    with pytest.raises(pickle.UnpicklingError):  # the type torch's weights_only loader raises, whatever its text
        ckpt.load(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
def test_weights_file_with_code_is_refused(tmp_path, how):
    """The project's path for a local .pth (timm.create_model with pretrained_cfg_overlay=dict(file=...)) refuses
    a pickled callable: timm >= 1.0.26 loads it with weights_only=True."""
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pth"
    _write(path, {"head.weight": torch.zeros(2, 2), "evil": _Payload(marker)}, how)
    _payload_is_live(path, marker, how)
    cfg = ModelConfig(backbone="test_vit", image_size=32, pretrained=str(path))
    with pytest.raises(WeightsError, match="could not be loaded") as err:
        build_model(cfg, num_classes=3)
    assert "weights.pth" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


@pytest.fixture
def source(tmp_path) -> Path:
    root = tmp_path / "src"
    write_good(root / "p", 5, seed=5)
    write_good(root / "q", 5, seed=6)
    return root


def _cfg(source: Path, tmp_path: Path) -> DataConfig:
    return DataConfig(source=str(source), image_size=32, min_image_side=16, val_frac=0.2, test_frac=0.2,
                      cache_dir=str(tmp_path / "cache"))


def test_tampered_cache_is_rebuilt_not_trusted(source, tmp_path, caplog):
    built = prepare_cache(_cfg(source, tmp_path), progress=False)
    assert verify_cache(built) == ""
    original = np.array(built.split("train").images)
    arrow = Path(built.path) / "train.arrow"
    raw = bytearray(arrow.read_bytes())
    raw[-200] ^= 0xFF  # one flipped byte, the size unchanged
    arrow.write_bytes(bytes(raw))
    assert "train.arrow has changed" in verify_cache(open_cache(built.path))

    with caplog.at_level(logging.WARNING, logger="data_pipeline.cache"):
        again = prepare_cache(_cfg(source, tmp_path), progress=False)
    assert not again.hit and again.key == built.key
    assert "does not match its manifest" in caplog.text and "rebuilding" in caplog.text
    assert verify_cache(again) == "" and np.array_equal(again.split("train").images, original)
    assert prepare_cache(_cfg(source, tmp_path), progress=False).hit  # the rebuilt cache is trusted again


def test_cache_without_recorded_hashes_is_rebuilt(source, tmp_path):
    built = prepare_cache(_cfg(source, tmp_path), progress=False)
    manifest_file = Path(built.path) / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    del manifest["digests"]  # as written before hashes were recorded
    manifest_file.write_text(json.dumps(manifest))
    assert verify_cache(open_cache(built.path)) == "the manifest records no file hashes"
    again = prepare_cache(_cfg(source, tmp_path), progress=False)
    assert not again.hit and verify_cache(again) == ""


def test_cache_with_a_missing_split_file_is_rebuilt(source, tmp_path):
    built = prepare_cache(_cfg(source, tmp_path), progress=False)
    (Path(built.path) / "test.arrow").unlink()
    again = prepare_cache(_cfg(source, tmp_path), progress=False)
    assert not again.hit and len(again.split("test")) == sum(built.report["splits"]["test"].values())
    assert verify_cache(again) == ""


@pytest.mark.parametrize(("key", "value"), [
    ("checkpoint_path", "{weights}"),
    ("pretrained_cfg_overlay", {"file": "{weights}"}),
    ("pretrained_cfg", {"file": "{weights}"}),
    ("cache_dir", "{weights}"),
    ("act_layer", "os.system"),
    ("embed_layer", "torch.nn.Identity"),
    ("embed_dim", "{weights}"),
])
def test_a_model_package_cannot_name_a_file_or_object_for_timm(tmp_path, key, value):
    """A package's config.yaml (and any sweep.yaml: the same loader) reaching timm.create_model(**backbone_kwargs)."""
    from core.schema import dump_yaml, to_mapping
    from deploy.package import PackageError, load_package, write_meta
    from model.config import RunConfig

    marker, weights = tmp_path / "ran", tmp_path / "evil.pth"
    _write(weights, {"x": _Payload(marker)}, "pickle.dump")
    tree = to_mapping(RunConfig(model=ModelConfig(backbone="test_vit")))
    tree["model"]["backbone_kwargs"] = {key: json.loads(json.dumps(value).replace("{weights}", str(weights)))}
    package = tmp_path / "package"
    package.mkdir()
    dump_yaml(tree, package / "config.yaml")
    write_meta(package, {"format": 1, "classes": ["a", "b"], "preprocessing": {
        "image_size": 32, "input_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "edgenet_mode": "off"}})
    with pytest.raises(PackageError, match=rf"model\.backbone_kwargs\.{key} is .*, but "):
        load_package(package).build_model()
    assert not marker.exists()


def test_the_projects_own_backbone_kwargs_are_allowed():
    from tests.model.helpers import SHRUNK

    for kwargs in SHRUNK.values():
        ModelConfig(backbone_kwargs=kwargs)
    ModelConfig(backbone_kwargs={"img_size": 224, "window_size": 7, "drop_path_rate": 0.1, "global_pool": "avg"})
