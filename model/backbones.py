"""timm backbones: a registry of the study's presets; any other timm model name passes straight through."""
from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import timm
from torch import nn

from data_pipeline.schema import ConfigError
from model.config import ModelConfig
from model.weights import loading_weights, pretrained_kwargs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackbonePreset:
    """A named timm model with the arguments that make it the study's variant."""

    timm_name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


PRESETS: dict[str, BackbonePreset] = {
    "beit": BackbonePreset("beit_base_patch16_224.in22k_ft_in22k_in1k", note="BEiT-B/16, the study's best"),
    "swinv2": BackbonePreset("swinv2_tiny_window8_256.ms_in1k", note="Swin V2-T, window 8 at 256 px"),
    # timm ships no window-7 Swin V2-T; the window-8 weights load into window 7 (its position bias is a
    # continuous MLP over relative coordinates), which makes 224 px windows divide every feature map.
    "swinv2_224": BackbonePreset("swinv2_tiny_window8_256.ms_in1k", {"img_size": 224, "window_size": 7},
                                 note="Swin V2-T, window 7 at 224 px"),
    "deit": BackbonePreset("deit_small_patch16_224.fb_in1k", note="DeiT-S/16"),
    "convnext": BackbonePreset("convnext_tiny.in12k_ft_in1k", note="ConvNeXt-T, the fourth backbone"),
}


def resolve_backbone(name: str) -> BackbonePreset:
    """The preset called `name`, or a plain preset for a timm model name; unknown names raise ConfigError."""
    if name in PRESETS:
        return PRESETS[name]
    if timm.is_model(name):
        return BackbonePreset(name)
    raise ConfigError("model.backbone", name, _unknown_rule(name))


def _unknown_rule(name: str) -> str:
    names = timm.list_models()
    stem = re.split(r"[._]", name)[0] or name
    close = timm.list_models(f"*{name}*")[:3] + difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += timm.list_models(f"*{stem}*")[:3]
    hint = f"; close timm names: {', '.join(list(dict.fromkeys(close))[:5])}" if close else ""
    return f"must be a preset ({', '.join(PRESETS)}) or a timm model name{hint}"


def create_backbone(cfg: ModelConfig) -> tuple[nn.Module, dict]:
    """Build the backbone (no classifier: num_classes=0) and its data config (input_size, mean, std)."""
    preset = resolve_backbone(cfg.backbone)
    kwargs = {**preset.kwargs, **dict(cfg.backbone_kwargs)}
    if cfg.image_size is not None:
        kwargs["img_size"] = cfg.image_size
    _check_swin_windows(preset.timm_name, kwargs)
    kwargs.update(pretrained_kwargs(cfg.pretrained))
    with loading_weights(cfg.pretrained if isinstance(cfg.pretrained, str) else None):
        model = _create(preset.timm_name, kwargs)
    return model, data_config(model, cfg.image_size or kwargs.get("img_size"))


def _create(timm_name: str, kwargs: dict) -> nn.Module:
    try:
        return timm.create_model(timm_name, num_classes=0, **kwargs)
    except TypeError as err:
        if "img_size" in kwargs and "img_size" in str(err):
            # convolutional networks take any input size and have no img_size argument
            size_free = {k: v for k, v in kwargs.items() if k != "img_size"}
            return timm.create_model(timm_name, num_classes=0, **size_free)
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
