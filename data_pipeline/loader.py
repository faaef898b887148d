"""Batches from the memory-mapped cache as device tensors: one uint8 gather on the host, the rest on device.

Host work per batch is a single fancy-index gather of uint8 pixels (in a background thread, two batches
ahead); conversion to float, augmentation, resizing and normalization run on the model's device. On CUDA
the gathered batch is pinned and copied with non_blocking=True. On the CPU the background thread prepares
whole batches, augmentation included, so that it overlaps the model's step instead of following it.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator, Optional

import numpy as np
import torch

from data_pipeline.augment import augment_batch, resize_batch
from data_pipeline.cache import Split
from data_pipeline.config import AugmentConfig

__all__ = ["BatchLoader"]


class BatchLoader:
    """Iterates (x, y) device batches over a cache split, augmented (training) or not (evaluation)."""

    def __init__(self, split: Split, *, batch_size: int, device: str | torch.device, mean: tuple[float, ...],
                 std: tuple[float, ...], out_size: int, augment: AugmentConfig | None = None, seed: int = 0,
                 channels_last: bool = False, prefetch: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size is {batch_size}, but must be >= 1")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values with std > 0, got mean={mean}, std={std}")
        self.split, self.batch_size, self.out_size = split, batch_size, out_size
        self.device = torch.device(device)
        self.augment, self.seed, self.channels_last, self.prefetch = augment, seed, channels_last, prefetch
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1) * 255.0
        self._inv_std = 1.0 / (torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1) * 255.0)
        self._pin = self.device.type == "cuda"

    def num_batches(self, n: int) -> int:
        """Batches needed for n images (the last one may be short)."""
        return -(-n // self.batch_size)

    def iterate(self, indices: Optional[np.ndarray] = None, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x float32 (B,3,out,out) normalized, y int64 (B,)) on the device; augmented if configured."""
        order = np.arange(len(self.split)) if indices is None else np.asarray(indices, dtype=np.int64)
        generator = torch.Generator().manual_seed(_mix(self.seed, epoch))
        host = self._host_batches(order)
        if not self.prefetch:
            yield from (self._to_device(images, labels, generator) for images, labels in host)
        elif self.device.type == "cpu":  # the whole batch ahead: augmentation overlaps the model's step
            yield from _prefetched(self._to_device(images, labels, generator) for images, labels in host)
        else:  # the gather ahead; the device augments in the training thread's stream
            yield from (self._to_device(images, labels, generator) for images, labels in _prefetched(host))

    def _host_batches(self, order: np.ndarray) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            images = torch.from_numpy(np.take(self.split.images, idx, axis=0))
            labels = torch.from_numpy(np.asarray(self.split.labels[idx], dtype=np.int64))
            if self._pin:
                images, labels = images.pin_memory(), labels.pin_memory()
            yield images, labels

    def _to_device(self, images: torch.Tensor, labels: torch.Tensor,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = images.to(self.device, non_blocking=self._pin).permute(0, 3, 1, 2).float()
        y = labels.to(self.device, non_blocking=self._pin)
        if self.augment is not None:
            x = augment_batch(x.div_(255.0), self.augment, self.out_size, generator).mul_(255.0)
        else:
            x = resize_batch(x, self.out_size)
        x = (x - self._mean) * self._inv_std
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format), y


def _mix(seed: int, epoch: int) -> int:
    """One 63-bit generator seed per (seed, epoch) pair."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> np.uint64(1))


_DONE = object()


def _prefetched(batches: Iterator, depth: int = 2) -> Iterator:
    """Run `batches` up to `depth` steps ahead in a daemon thread, overlapping the gather with device work."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work():
        try:
            for item in batches:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_DONE)
        except BaseException as err:  # surfaced in the consumer, not lost in the thread
            q.put(err)

    thread = threading.Thread(target=work, daemon=True, name="batch-prefetch")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
