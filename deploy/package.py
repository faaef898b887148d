"""A model package: one self-describing folder that `deploy.predict` (or any deployment) loads without the sweep.

    <package>/
        package.json          format, classes (output order), preprocessing, metrics, source, export checks,
                              calibration (temperature T fitted on validation; probabilities = softmax(logits / T))
        config.yaml           the RunConfig exactly as the model was trained (data / model / train)
        model.safetensors     the classifier's weights (float32 state dict)
        model.torchscript.pt  traced TorchScript module: normalized (B, 3, S, S) float32 -> (B, classes) logits
        model.onnx            the same graph for ONNX Runtime (input `input`, output `logits`, dynamic batch)

The two exported files are optional (written by `deploy.export`); the first three are enough to rebuild
the PyTorch model. Preprocessing of a new photo is the cache's (`data_pipeline.scan.decode_file`: EXIF
transpose, RGB, shorter side resized and centre-cropped to `image_size`) followed by the evaluation loader's
(`data_pipeline.loader.BatchLoader`: antialiased resize to `input_size`, then (x / 255 - mean) / std).
"""
from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from core import atomic
from core.errors import UserError
from core.schema import ConfigError, check, dump_yaml, from_mapping, load_yaml
from model.config import RunConfig

PACKAGE_FORMAT = 1
"""Bump when the folder layout or package.json's meaning changes."""
META_FILE = "package.json"
CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"
TORCHSCRIPT_FILE = "model.torchscript.pt"
ONNX_FILE = "model.onnx"
ONNX_INPUT, ONNX_OUTPUT = "input", "logits"
PACKAGE_FILES = (META_FILE, CONFIG_FILE, WEIGHTS_FILE, TORCHSCRIPT_FILE, ONNX_FILE)
"""Every file a package may hold: the only names `claim_folder` ever deletes."""
WRITER = "edgetune deploy.package"
"""package.json's `writer`: with the format and nothing but PACKAGE_FILES, what proves the project wrote a folder."""


class PackageError(UserError):
    """A model package is missing, incomplete or inconsistent; `str()` is one line naming the file."""


@dataclass(frozen=True)
class Preprocessing:
    """Everything needed to turn a photo file into the model's input tensor, exactly as in training."""

    image_size: int
    """Side of the square the photo is decoded into (the cache's data.image_size)."""
    input_size: int
    """Side of the model input (the evaluation loader resizes image_size -> input_size)."""
    mean: tuple[float, ...]
    std: tuple[float, ...]
    edgenet_mode: str
    """off | replace | residual: informational, the EdgeNet is part of the exported graph."""
    min_image_side: int = 1
    """Photos whose shorter side is below this were excluded from training; predict reports them as errors."""
    max_image_pixels: int = 89_478_485
    """Photos with more pixels are refused as decompression bombs."""

    def __post_init__(self) -> None:
        check(self.image_size >= 1, "image_size", self.image_size, "must be >= 1")
        check(self.input_size >= 1, "input_size", self.input_size, "must be >= 1")
        check(len(self.mean) == 3, "mean", list(self.mean), "must hold 3 values (R, G, B)")
        check(len(self.std) == 3 and min(self.std) > 0, "std", list(self.std), "must hold 3 values > 0")

    @classmethod
    def of(cls, cfg: RunConfig, data_config: Mapping[str, Any]) -> Preprocessing:
        """The preprocessing of a model built from `cfg` whose `data_config` is the classifier's."""
        return cls(image_size=cfg.data.image_size, input_size=int(data_config["input_size"][-1]),
                   mean=tuple(float(v) for v in data_config["mean"]),
                   std=tuple(float(v) for v in data_config["std"]), edgenet_mode=cfg.model.edgenet.mode,
                   min_image_side=cfg.data.min_image_side, max_image_pixels=cfg.data.max_image_pixels)


@dataclass(frozen=True)
class ModelPackage:
    """A loaded package: the config as trained, the classes, the preprocessing and package.json."""

    path: Path
    config: RunConfig
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    meta: Mapping[str, Any] = field(repr=False)

    @property
    def temperature(self) -> float:
        """The calibration temperature fitted at export (probabilities are softmax(logits / T)); 1 when none."""
        cal = self.meta.get("calibration") or {}
        t = float(cal.get("temperature", 1.0))
        if not t > 0:
            raise PackageError(f"{self.path / META_FILE}: calibration.temperature is {t}, but must be > 0")
        return t

    def file(self, name: str) -> Path:
        """Path of one file of the package; PackageError when it is missing."""
        path = self.path / name
        if not path.is_file():
            raise PackageError(f"{path}: missing from the model package (re-export it with python -m deploy.export)")
        return path

    def build_model(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The PyTorch classifier with the package's weights, in eval mode on `device`."""
        from safetensors.torch import load_model

        from model.classifier import build_model

        model = build_model(_without_pretrained(self.config).model, len(self.classes))
        try:
            load_model(model, str(self.file(WEIGHTS_FILE)), strict=True)
        except (RuntimeError, OSError) as err:
            raise PackageError(f"{self.path / WEIGHTS_FILE}: weights do not fit the config: "
                               f"{str(err).splitlines()[0]}") from None
        return model.to(device).eval()

    def load_torchscript(self, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
        """The exported TorchScript module on `device`."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks TorchScript deprecated; it still loads
            return torch.jit.load(str(self.file(TORCHSCRIPT_FILE)), map_location=device).eval()


def write_package(out: str | os.PathLike, model: torch.nn.Module, cfg: RunConfig, classes: tuple[str, ...] | list[str],
                  meta: Optional[Mapping[str, Any]] = None) -> Path:
    """Write weights, config.yaml and package.json (with `meta` merged in) into `out`; returns the folder."""
    from safetensors.torch import save_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_config = getattr(model, "data_config", None)
    if data_config is None:
        raise ValueError("the model has no data_config (input_size, mean, std); build it with model.classifier.build_model")
    if getattr(model, "num_classes", len(classes)) != len(classes):
        raise ValueError(f"the model has {model.num_classes} outputs but {len(classes)} classes were given")
    save_model(_cpu_copy(model), str(out / WEIGHTS_FILE))
    _readable(out / WEIGHTS_FILE)
    dump_yaml(cfg, out / CONFIG_FILE)
    info = {"format": PACKAGE_FORMAT, "writer": WRITER, "classes": list(classes),
            "preprocessing": dataclasses.asdict(Preprocessing.of(cfg, data_config)), **dict(meta or {})}
    write_meta(out, info)
    return out


def write_meta(out: str | os.PathLike, info: Mapping[str, Any]) -> None:
    """(Re)write package.json atomically."""
    atomic.write_json(Path(out) / META_FILE, info, indent=1)


def claim_folder(out: str | os.PathLike) -> Path:
    """The folder to write a package into: new, empty, or a package this code wrote, whose files are removed.

    Anything else is refused with a PackageError and left as it was: a folder is cleared only when its
    package.json says this writer and format and it holds nothing but package files (a Node.js project's
    package.json, a symlink or a stray file keeps it). Only those files are deleted, never the folder.
    """
    path = Path(out)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise PackageError(f"{out}: exists and is not a folder; choose another --out")
    if not path.is_dir():
        path.mkdir(parents=True)
        return path
    entries = list(path.iterdir())
    strangers = sorted(e.name for e in entries if e.name not in PACKAGE_FILES or e.is_symlink() or not e.is_file())
    if entries and (strangers or not _written_here(path / META_FILE)):
        what = f"holds {', '.join(strangers[:3])}" if strangers else f"has a {META_FILE} this code did not write"
        raise PackageError(f"{out}: folder is not empty and {what}; export only replaces a package it wrote: "
                           "choose another --out or empty it")
    for entry in entries:
        entry.unlink()
    return path


def _written_here(meta_file: Path) -> bool:
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("writer") == WRITER and meta.get("format") == PACKAGE_FORMAT


def load_package(path: str | os.PathLike) -> ModelPackage:
    """Read a package folder (not the weights: see `ModelPackage.build_model`); PackageError if it is not one."""
    root = Path(path)
    meta_file = root / META_FILE
    if not meta_file.is_file():
        raise PackageError(f"{root}: not a model package (no {META_FILE}); create one with python -m deploy.export")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PackageError(f"{meta_file}: not valid JSON ({err})") from None
    if meta.get("format") != PACKAGE_FORMAT:
        raise PackageError(f"{meta_file}: format is {meta.get('format')!r}, this code reads {PACKAGE_FORMAT}")
    try:
        config = from_mapping(RunConfig, load_yaml(root / CONFIG_FILE), source=str(root / CONFIG_FILE))
        preprocessing = from_mapping(Preprocessing, meta.get("preprocessing"), source=str(meta_file),
                                     prefix="preprocessing")
    except ConfigError as err:
        raise PackageError(str(err)) from None
    classes = tuple(meta.get("classes") or ())
    if not classes:
        raise PackageError(f"{meta_file}: classes is empty")
    return ModelPackage(root, config, classes, preprocessing, meta)


def _without_pretrained(cfg: RunConfig) -> RunConfig:
    """The weights come from the package: never download from the hub or read the original weights file."""
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=False))


def _readable(path: Path) -> None:
    """safetensors writes owner-only files; a package is meant to be shared, so honour the umask instead."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _cpu_copy(model: torch.nn.Module) -> torch.nn.Module:
    """safetensors wants contiguous CPU tensors; channels_last or CUDA models are copied, not moved."""
    params = next(model.parameters(), None)
    if params is None or (params.device.type == "cpu" and all(p.is_contiguous() for p in model.parameters())):
        return model
    import copy

    return copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format)
