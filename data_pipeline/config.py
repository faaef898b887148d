"""The `data` section of the config tree: where images come from, how they are split, cached and balanced."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Union

from core.schema import check
from core.uri import check_no_credentials

BalanceStrategy = Literal["none", "oversample", "undersample", "hybrid", "weighted_sampler", "class_weighted_loss",
                          "logit_adjusted", "logit_adjusted_posthoc", "balanced_softmax", "crt"]


@dataclass(frozen=True)
class BalanceConfig:
    """Class balancing of the training split only, decided per trial (a searched dimension)."""

    strategy: BalanceStrategy = "none"
    """none | oversample | undersample | hybrid | weighted_sampler | class_weighted_loss (resampling and loss
    weights); logit_adjusted | logit_adjusted_posthoc | balanced_softmax | crt (loss- and classifier-side)."""
    target: Union[int, Literal["median", "mean", "max", "min"]] = "median"
    """Per-class count that resampling moves toward: a number, or a statistic of the class counts."""
    beta: float = 0.999
    """Effective-number beta for class_weighted_loss (Cui et al., 2019)."""
    tau: float = 1.0
    """Logit-adjustment strength for logit_adjusted and logit_adjusted_posthoc (Menon et al., 2021): logits are
    shifted by tau * log(prior), the priors being the training split's class shares before any balancing."""
    crt_epochs: int = 2
    """crt (Kang et al., 2020): the run's last crt_epochs epochs re-train only a re-initialised head on a
    class-balanced sampler, the rest frozen (at most epochs - 1 of them)."""

    def __post_init__(self) -> None:
        if isinstance(self.target, int):
            check(self.target > 0, "target", self.target, "must be > 0")
        check(0.0 <= self.beta < 1.0, "beta", self.beta, "must be in [0, 1)")
        check(0.0 <= self.tau <= 10.0, "tau", self.tau, "must be in [0, 10]")
        check(self.crt_epochs >= 1, "crt_epochs", self.crt_epochs, "must be >= 1")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation, applied to whole batches on the model's device."""

    scale_min: float = 0.6
    """Smallest area share kept by the random resized crop (1.0 turns cropping off)."""
    hflip: bool = True
    color_jitter: float = 0.2
    """Strength of brightness / contrast / saturation jitter (0 turns it off)."""
    trivial_augment: bool = False
    """TrivialAugment (Muller & Hutter, 2021) on the device: one random op of 13 per image at a random strength."""
    random_erasing: float = 0.0
    """Probability that an image gets one random rectangle (2-33% of its area) replaced by noise (0: off)."""

    def __post_init__(self) -> None:
        check(0.05 <= self.scale_min <= 1.0, "scale_min", self.scale_min, "must be in [0.05, 1]")
        check(0.0 <= self.color_jitter <= 1.0, "color_jitter", self.color_jitter, "must be in [0, 1]")
        check(0.0 <= self.random_erasing <= 1.0, "random_erasing", self.random_erasing, "must be in [0, 1]")


@dataclass(frozen=True)
class DataConfig:
    """Source, validation, split and cache of the images."""

    source: str = ""
    """Image root: ROOT/<class>/<img>, ROOT/{train,validation|val,test}/<class>/<img>, or the image folder of a manifest."""
    manifest: Optional[str] = None
    """CSV with one row per image (image column + label column); images are looked up under `source`."""
    image_col: str = "image"
    label_col: str = "label"
    min_count: int = 1
    """Classes with fewer images than this (before splitting) are dropped."""
    include: tuple[str, ...] = ()
    """Keep only these labels (empty: all)."""
    exclude: tuple[str, ...] = ()
    val_frac: float = 0.1
    test_frac: float = 0.1
    seed: int = 0
    """Seed of the stratified split (a pre-split tree keeps its own split)."""
    image_size: int = 128
    """Side of the square uint8 images stored in the cache (shorter side resized, then center-cropped)."""
    min_image_side: int = 32
    """Images whose shorter side is below this are excluded as too small."""
    max_image_pixels: int = 89_478_485
    """Images with more pixels (width x height) are excluded as decompression bombs (PIL's default limit)."""
    max_per_class: Optional[int] = None
    """Cap of images per class and split (quick runs and smoke tests); None keeps all."""
    train_fraction: float = 1.0
    """Share of each class's training images that trials train on (seeded by `seed`), unlike
    max_per_class keeping the classes' imbalance; validation and test stay whole. The cache holds them all."""
    cache_dir: str = ".cache/data"
    """Local path or pyarrow filesystem URI (s3://...) holding prepared caches, one folder per cache key."""
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        check(0.0 <= self.val_frac < 1.0, "val_frac", self.val_frac, "must be in [0, 1)")
        check(0.0 <= self.test_frac < 1.0, "test_frac", self.test_frac, "must be in [0, 1)")
        check(self.val_frac + self.test_frac < 1.0, "test_frac", self.test_frac,
              f"must leave data for training (val_frac + test_frac = {self.val_frac + self.test_frac} >= 1)")
        check(self.min_count >= 1, "min_count", self.min_count, "must be >= 1")
        check(16 <= self.image_size <= 1024, "image_size", self.image_size, "must be in [16, 1024]")
        check(self.min_image_side >= 1, "min_image_side", self.min_image_side, "must be >= 1")
        check(self.max_image_pixels >= 1, "max_image_pixels", self.max_image_pixels, "must be >= 1")
        check(0.0 < self.train_fraction <= 1.0, "train_fraction", self.train_fraction, "must be in (0, 1]")
        check_no_credentials("cache_dir", self.cache_dir)
        if self.max_per_class is not None:
            check(self.max_per_class >= 1, "max_per_class", self.max_per_class, "must be >= 1 or null")
