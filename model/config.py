"""The `model` and `train` sections of the config tree."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Union

from core.schema import check, from_mapping, load_yaml, with_overrides
from data_pipeline.config import DataConfig

OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop"]
OPTIMIZERS: tuple[str, ...] = OptimizerName.__args__
EdgeNetMode = Literal["off", "replace", "residual"]

_SIZES = ("img_size", "patch_size", "embed_dim", "depth", "reg_tokens", "output_stride", "head_hidden_size")
_SIZE_LISTS = ("depths", "num_heads", "dims", "kernel_sizes", "window_size", "pretrained_window_sizes")
_RATES = ("mlp_ratio", "drop_rate", "pos_drop_rate", "patch_drop_rate", "proj_drop_rate", "attn_drop_rate",
          "drop_path_rate", "init_values", "ls_init_value", "head_init_scale", "norm_eps")
_SWITCHES = ("qkv_bias", "qk_norm", "class_token", "no_embed_class", "pre_norm", "fc_norm", "dynamic_img_size",
             "use_abs_pos_emb", "use_rel_pos_bias", "use_shared_rel_pos_bias", "use_fc_norm", "conv_mlp", "conv_bias",
             "use_grn", "head_norm_first", "swiglu_mlp", "scale_mlp", "strict_img_size", "always_partition")
GLOBAL_POOLS = ("", "avg", "max", "avgmax", "token", "map")
BACKBONE_KWARGS: dict[str, str] = {**dict.fromkeys(_SIZES, "an integer >= 1"),
                                   **dict.fromkeys(_SIZE_LISTS, "an integer >= 1 or a list of them"),
                                   **dict.fromkeys(_RATES, "a finite number"), **dict.fromkeys(_SWITCHES, "true or false"),
                                   "global_pool": f"one of {', '.join(map(repr, GLOBAL_POOLS))}"}
"""What `model.backbone_kwargs` may hold: the shape of an architecture, never a file, module or object.

timm.create_model also takes `checkpoint_path`, `pretrained_cfg(_overlay)`, `cache_dir`, `*_layer` and
`block_fn`, which name files to load or objects to build; a model package or sweep.yaml from someone else
must not reach them, so every key and value type is checked against this list (the project's own presets
and tests use a subset)."""


@dataclass(frozen=True)
class EdgeNetConfig:
    """The study's three-layer edge-enhancement stem in front of the backbone."""

    mode: EdgeNetMode = "off"
    """off | replace (the backbone sees the edge map) | residual (image + learned scale x edge map)."""
    widths: tuple[int, ...] = (16, 16)
    """Output channels of the first two conv layers; the third outputs the backbone's input channels."""
    init: Literal["random", "sobel"] = "sobel"
    """sobel: first-layer filters start as Sobel x / y and Laplacian kernels."""

    def __post_init__(self) -> None:
        check(len(self.widths) == 2, "widths", list(self.widths), "must list 2 widths (3 conv layers)")
        for i, w in enumerate(self.widths):
            check(w >= 1, f"widths[{i}]", w, "must be >= 1")


@dataclass(frozen=True)
class ModelConfig:
    """EdgeNet + timm backbone + dropout/linear head."""

    backbone: str = "deit"
    """A preset (beit, swinv2, swinv2_224, deit, convnext, efficientnet_lite0/1/2) or any timm model name."""
    pretrained: Union[bool, str] = False
    """true: from the hub; false: random init; or a path to a local .safetensors / .pth file."""
    image_size: Optional[int] = None
    """Model input side in pixels; None takes the backbone's own default."""
    backbone_kwargs: Mapping[str, Any] = field(default_factory=dict)
    """Extra timm.create_model arguments (e.g. embed_dim, depth to shrink a model for tests)."""
    dropout: float = 0.0
    """Dropout before the classification layer (the study's searched dropout)."""
    edgenet: EdgeNetConfig = field(default_factory=EdgeNetConfig)
    train_last_blocks: Union[int, Literal["all"]] = "all"
    """Fine-tuning policy: train the head, EdgeNet and the last N backbone blocks; freeze the rest."""
    layer_decay: Optional[float] = None
    """Layer-wise learning-rate decay factor in (0, 1]; None turns it off."""
    drop_path_rate: float = 0.0
    """Stochastic depth of the backbone's residual blocks (timm's drop_path_rate); 0 turns it off. A backbone
    without it refuses a rate above 0 with a config error."""

    def __post_init__(self) -> None:
        check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "must be in [0, 1)")
        check(bool(self.backbone.strip()), "backbone", self.backbone, "must name a preset or a timm model")
        if isinstance(self.train_last_blocks, int):
            check(self.train_last_blocks >= 0, "train_last_blocks", self.train_last_blocks, "must be >= 0 or 'all'")
        if self.image_size is not None:
            check(16 <= self.image_size <= 1024, "image_size", self.image_size, "must be in [16, 1024]")
        if self.layer_decay is not None:
            check(0.0 < self.layer_decay <= 1.0, "layer_decay", self.layer_decay, "must be in (0, 1]")
        check(0.0 <= self.drop_path_rate < 1.0, "drop_path_rate", self.drop_path_rate, "must be in [0, 1)")
        for key, value in self.backbone_kwargs.items():
            _check_backbone_kwarg(key, value)


def _check_backbone_kwarg(key: str, value: Any) -> None:
    field_path = f"backbone_kwargs.{key}"
    kind = BACKBONE_KWARGS.get(key)
    check(kind is not None, field_path, value, "is not an architecture argument this project passes to timm "
          f"(files, modules and layer objects are refused); allowed: {', '.join(sorted(BACKBONE_KWARGS))}")
    check(_fits(key, value), field_path, value, f"must be {kind}")


def _fits(key: str, value: Any) -> bool:
    def size(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if key in _SIZES:
        return size(value)
    if key in _SIZE_LISTS:
        return size(value) or (isinstance(value, (list, tuple)) and 0 < len(value) <= 64 and all(map(size, value)))
    if key in _RATES:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if key in _SWITCHES:
        return isinstance(value, bool)
    return value in GLOBAL_POOLS


@dataclass(frozen=True)
class TrainConfig:
    """The epoch loop: the study's six hyperparameters and the rest of the recipe."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    optimizer: OptimizerName = "adamw"
    momentum: float = 0.9
    """Momentum for sgd and rmsprop."""
    nesterov: bool = False
    schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate schedule over the run's own `epochs` (cosine decays to 1% of lr)."""
    warmup_epochs: float = 1.0
    grad_clip: Optional[float] = 1.0
    """Max global gradient norm; None turns clipping off."""
    label_smoothing: float = 0.0
    """Kept under mixup / cutmix: the mixed targets are smoothed the same way."""
    accumulate_steps: int = 1
    """Gradient accumulation: one optimizer step per this many batches, with the gradient of their union."""
    ema_decay: Optional[float] = None
    """Exponential moving average of the weights (timm ModelEmaV3, warm-up on): validation, test and the
    checkpoint's `ema` use the averaged model; None turns it off, 0.999 suits a few thousand steps."""
    mixup_alpha: float = 0.0
    """Beta(alpha, alpha) mixup of image pairs and their targets (0 turns it off)."""
    cutmix_alpha: float = 0.0
    """Beta(alpha, alpha) cutmix (a box pasted from the paired image; targets by area); with mixup, each batch
    takes one of the two at even odds."""
    mix_prob: float = 1.0
    """Share of batches that mixup / cutmix is applied to."""
    tta: Literal["none", "flip"] = "none"
    """Test-time augmentation at evaluation: flip averages the logits of each image and its mirror image."""
    seed: int = 0
    device: str = "auto"
    """auto (cuda when available), cpu, cuda or cuda:N."""
    channels_last: bool = True
    """Train and evaluate in channels-last memory format, on CPU and CUDA (Lite0 on a 2-core CPU: 1.5x faster)."""
    amp: bool = True
    """Mixed precision on CUDA (bf16 where supported, else fp16); ignored on CPU."""
    train_eval_max: Optional[int] = 2000
    """Train metrics are measured like validation (eval mode, no augmentation) on at most this many training images."""

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", self.epochs, "must be >= 1")
        check(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        check(self.lr > 0 and math.isfinite(self.lr), "lr", self.lr, "must be a finite number > 0")
        check(self.weight_decay >= 0, "weight_decay", self.weight_decay, "must be >= 0")
        check(0.0 <= self.momentum < 1.0, "momentum", self.momentum, "must be in [0, 1)")
        check(self.warmup_epochs >= 0, "warmup_epochs", self.warmup_epochs, "must be >= 0")
        if self.grad_clip is not None:
            check(self.grad_clip > 0, "grad_clip", self.grad_clip, "must be > 0 or null")
        check(0.0 <= self.label_smoothing < 1.0, "label_smoothing", self.label_smoothing, "must be in [0, 1)")
        check(self.accumulate_steps >= 1, "accumulate_steps", self.accumulate_steps, "must be >= 1")
        if self.ema_decay is not None:
            check(0.0 < self.ema_decay < 1.0, "ema_decay", self.ema_decay, "must be in (0, 1) or null")
        check(self.mixup_alpha >= 0, "mixup_alpha", self.mixup_alpha, "must be >= 0")
        check(self.cutmix_alpha >= 0, "cutmix_alpha", self.cutmix_alpha, "must be >= 0")
        check(0.0 <= self.mix_prob <= 1.0, "mix_prob", self.mix_prob, "must be in [0, 1]")
        if self.train_eval_max is not None:
            check(self.train_eval_max >= 1, "train_eval_max", self.train_eval_max, "must be >= 1 or null")


@dataclass(frozen=True)
class RunConfig:
    """What one training run needs: the data, model and train sections of any config file."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SWEEP_ONLY_SECTIONS = ("search", "resources", "storage")


def load_run_config(path: str, overrides: Optional[Mapping[str, Any]] = None) -> RunConfig:
    """Read the data / model / train sections of a config file (sweep sections are ignored here)."""
    raw = {k: v for k, v in load_yaml(path).items() if k not in SWEEP_ONLY_SECTIONS}
    tree = from_mapping(RunConfig, raw, source=str(path))
    return with_overrides(tree, overrides, source=str(path)) if overrides else tree
