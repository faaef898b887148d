"""Data path benchmark: cache build rate, cached augmented epoch vs torchvision decode-every-epoch, data wait share.

Run: .venv/bin/python -m benchmarks.data_path [--data DIR] [--image-size 128] [--out-size 96]
Prints a markdown section (also returned by main()).
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from data_pipeline.cache import prepare_cache
from data_pipeline.config import AugmentConfig, DataConfig
from data_pipeline.loader import BatchLoader

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "clothing-small"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def cached_epoch_seconds(split, batch: int, out_size: int) -> float:
    """One augmented epoch from the memory-mapped cache (host gather + CPU-side augmentation)."""
    loader = BatchLoader(split, batch_size=batch, device="cpu", mean=MEAN, std=STD, out_size=out_size,
                         augment=AugmentConfig(), seed=0)
    start = time.perf_counter()
    for _ in loader.iterate(torch.randperm(len(split)).numpy(), epoch=0):
        pass
    return time.perf_counter() - start


def host_gather_epoch_seconds(split, batch: int) -> float:
    """The host's whole share of the cache path when augmentation runs on a GPU: one uint8 gather per batch."""
    import numpy as np

    order = np.random.default_rng(0).permutation(len(split))
    start = time.perf_counter()
    for a in range(0, len(order), batch):
        torch.from_numpy(np.take(split.images, order[a:a + batch], axis=0))
    return time.perf_counter() - start


def torchvision_epoch_seconds(root: Path, batch: int, out_size: int, workers: int = 2) -> float:
    """One epoch of ImageFolder + DataLoader that decodes every JPEG again, as the usual recipe does."""
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.RandomResizedCrop(out_size, scale=(0.6, 1.0)), transforms.RandomHorizontalFlip(),
                             transforms.ColorJitter(0.2, 0.2, 0.2), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(root), tf), batch_size=batch, shuffle=True,
                                         num_workers=workers, persistent_workers=False)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def train_step_seconds(batch: int, out_size: int, steps: int = 5) -> tuple[str, float]:
    """Mean forward+backward+step time of a small timm model on one batch."""
    import timm

    name = "test_vit"
    model = timm.create_model(name, pretrained=False, num_classes=10, img_size=out_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 3, out_size, out_size), torch.randint(0, 10, (batch,))
    for i in range(steps + 1):
        if i == 1:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return name, (time.perf_counter() - start) / steps


def run(data: Path, image_size: int, out_size: int, batch: int) -> str:
    """All measurements, as one markdown section."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = DataConfig(source=str(data), image_size=image_size, cache_dir=tmp)
        start = time.perf_counter()
        prepared = prepare_cache(cfg, progress=False)
        build_s = time.perf_counter() - start
        decoded = prepared.report["decoded"]
        start = time.perf_counter()
        prepare_cache(cfg, progress=False)
        hit_s = time.perf_counter() - start
        train = prepared.split("train")
        cached_s = cached_epoch_seconds(train, batch, out_size)
        gather_s = host_gather_epoch_seconds(train, batch)
        tv_s = torchvision_epoch_seconds(data / "train", batch, out_size)
        model, step_s = train_step_seconds(batch, out_size)
    batches = -(-len(train) // batch)
    load_cached, load_tv = cached_s / batches, tv_s / batches
    return "\n".join([
        "## Data path", "",
        f"Command: `.venv/bin/python -m benchmarks.data_path` ({time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}, no GPU).",
        f"Data: {data.name}, {decoded} images; cache at {image_size} px, model input {out_size} px, batch {batch}.", "",
        "| measurement | value |", "|---|---:|",
        f"| cache build (decode + resize + write, all cores) | {build_s:.1f} s, {decoded / build_s:.0f} img/s |",
        f"| cache hit (second prepare) | {hit_s:.2f} s |",
        f"| one augmented epoch from the cache ({len(train)} images) | {cached_s:.2f} s ({len(train) / cached_s:.0f} img/s) |",
        f"| one epoch, torchvision ImageFolder + DataLoader (2 workers, decode every epoch) | {tv_s:.2f} s ({len(train) / tv_s:.0f} img/s) |",
        f"| speed-up of the cache path, augmenting on the CPU | {tv_s / cached_s:.1f}x |",
        f"| host work of one cache epoch when augmenting on a GPU (uint8 gathers only) | {gather_s:.3f} s ({tv_s / gather_s:.0f}x less than torchvision) |",
        f"| {model} train step, batch {batch} at {out_size} px | {step_s * 1000:.0f} ms |",
        f"| data wait share per step, cache path: load / (load + step) | {load_cached / (load_cached + step_s):.0%} |",
        f"| data wait share per step, torchvision path | {load_tv / (load_tv + step_s):.0%} |",
        "", "On CPU the cache path's augmentation runs on the same two cores as training; on a GPU it runs on "
        "the device and the host does one uint8 gather per batch.", "",
        _verdict(tv_s / cached_s, load_cached / (load_cached + step_s)),
    ])


def _verdict(speedup: float, wait_share: float) -> str:
    """The targets (cache >= 5x faster, waiting <= 5% of step time), stated plainly."""
    met = speedup >= 5 and wait_share <= 0.05
    return (f"Targets (>= 5x, <= 5% waiting) on this CPU: **{'met' if met else 'missed'}** "
            f"({speedup:.1f}x, {wait_share:.0%}). "
            + ("" if met else "Profile: the cache path's time is the batch augmentation (affine_grid + grid_sample "
               "+ colour jitter in float32) on the two cores the model also uses; its host-only part, the uint8 "
               "gather a GPU run leaves on the CPU, is the line above.") + "\n")


def main(argv: Optional[Sequence[str]] = None) -> str:
    p = argparse.ArgumentParser(prog="python -m benchmarks.data_path", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="pre-split ImageFolder tree (clothing-small)")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--out-size", type=int, default=96)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    section = run(args.data, args.image_size, args.out_size, args.batch)
    print(section)
    return section


if __name__ == "__main__":
    main()
