"""Inference cost of a classifier: ms per image at batch 1 and at a serving batch, and its parameter count.

Measured the way a shop would serve it: eval mode, no gradients, on the trial's own device, after warm-up
passes, on inputs of the model's own size (`data_config["input_size"]`), timing the median of repeats so
one scheduling hiccup on a shared machine does not set the figure.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from core.names import LATENCY_BATCH_MS, LATENCY_MS, PARAMS_M, SERVING_BATCH


def parameter_count_m(model: nn.Module) -> float:
    """All parameters, trainable or frozen, in millions."""
    return sum(p.numel() for p in model.parameters()) / 1e6


@torch.no_grad()
def ms_per_image(model: nn.Module, input_size: tuple[int, int, int], batch: int, device: torch.device,
                 *, warmup: int = 3, repeats: int = 5) -> float:
    """Median wall-clock ms per image of `model` on `batch` random inputs of `input_size` (C, H, W)."""
    x = torch.randn(batch, *input_size, device=device)
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        model(x)
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / batch


def measure_latency(model: nn.Module, device: torch.device | str, *, serving_batch: int = SERVING_BATCH,
                    warmup: int = 3, repeats: int = 5) -> dict[str, float]:
    """latency_ms (batch 1), latency_batch_ms (per image at `serving_batch`) and params_m of `model`.

    The model is put in eval mode and left there; `model.data_config["input_size"]` gives the input.
    """
    device = torch.device(device)
    model = model.eval()
    input_size = tuple(model.data_config["input_size"])
    return {
        LATENCY_MS: ms_per_image(model, input_size, 1, device, warmup=warmup, repeats=repeats),
        LATENCY_BATCH_MS: ms_per_image(model, input_size, serving_batch, device, warmup=warmup, repeats=repeats),
        PARAMS_M: parameter_count_m(model),
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
