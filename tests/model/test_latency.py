"""Latency measurement: a bigger input costs more per image, the parameter count is exact."""
from __future__ import annotations

import torch
from torch import nn

from core.names import LATENCY_BATCH_MS, LATENCY_MS, PARAMS_M
from model.latency import measure_latency, parameter_count_m


class _Conv(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.head = nn.Linear(16, 4)
        self.data_config = {"input_size": (3, size, size)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=(2, 3)))


def test_measure_latency_reports_the_three_figures_and_leaves_eval_mode():
    model = _Conv(32).train()
    figures = measure_latency(model, "cpu", serving_batch=4, warmup=1, repeats=3)
    assert set(figures) == {LATENCY_MS, LATENCY_BATCH_MS, PARAMS_M}
    assert figures[LATENCY_MS] > 0 and figures[LATENCY_BATCH_MS] > 0
    assert figures[PARAMS_M] == (3 * 16 * 9 + 16 + 16 * 4 + 4) / 1e6
    assert not model.training


def test_larger_input_costs_more_per_image():
    torch.set_num_threads(1)
    small = measure_latency(_Conv(16), "cpu", serving_batch=8, warmup=1, repeats=5)
    large = measure_latency(_Conv(160), "cpu", serving_batch=8, warmup=1, repeats=5)
    assert large[LATENCY_BATCH_MS] > 5 * small[LATENCY_BATCH_MS]  # 100x the pixels


def test_parameter_count_includes_frozen_parameters():
    model = _Conv(8)
    model.conv.requires_grad_(False)
    assert parameter_count_m(model) * 1e6 == sum(p.numel() for p in model.parameters())
