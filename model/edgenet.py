"""EdgeNet: the study's three-layer edge-enhancement stem placed in front of the backbone.

The study cites EDGE-Net (Akbari & Baniasadi, 2023), a ~500k-parameter edge detector, but the block it
describes and evaluates is three convolutional layers; that small stem is what is built here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import EdgeNetConfig

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_SOBEL_Y = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))
_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
EDGE_KERNELS: tuple[tuple[tuple[float, ...], ...], ...] = (_SOBEL_X, _SOBEL_Y, _LAPLACIAN)
"""The first-layer filters of a `sobel` init, in output-channel order."""


class EdgeNet(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> conv3x3, then joined with the image.

    `replace`: the backbone sees the edge map. `residual`: it sees image + scale * edge map, with the
    learned scale starting at 0 so a pretrained backbone sees its usual input at step 0.
    The output has the backbone's input channels and is resized to its input size when they differ.
    """

    def __init__(self, cfg: EdgeNetConfig, out_channels: int = 3, out_size: int | None = None,
                 in_channels: int = 3):
        super().__init__()
        if cfg.mode == "off":
            raise ValueError("EdgeNet built with mode 'off'; build no EdgeNet instead")
        w1, w2 = cfg.widths
        self.mode = cfg.mode
        self.out_size = out_size
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, w1, 3, padding=1, bias=False), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w2, 3, padding=1, bias=False), nn.BatchNorm2d(w2), nn.ReLU(inplace=True),
            nn.Conv2d(w2, out_channels, 3, padding=1),
        )
        if cfg.mode == "residual":
            if out_channels != in_channels:
                raise ValueError(f"residual EdgeNet needs in_channels == out_channels, got {in_channels} != {out_channels}")
            self.scale = nn.Parameter(torch.zeros(1))
        if cfg.init == "sobel":
            init_sobel(self.layers[0])

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.layers[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        edges = self.layers(x)
        out = edges if self.mode == "replace" else x + self.scale * edges
        if self.out_size is not None and out.shape[-2:] != (self.out_size, self.out_size):
            out = F.interpolate(out, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False)
        return out


@torch.no_grad()
def init_sobel(conv: nn.Conv2d) -> None:
    """Set the first filters of `conv` to Sobel x / y and Laplacian on the gray (channel-mean) image.

    Filters beyond the three edge kernels keep their random init.
    """
    for i, kernel in enumerate(EDGE_KERNELS[: conv.out_channels]):
        k = torch.tensor(kernel, dtype=conv.weight.dtype)
        conv.weight[i] = (k / conv.in_channels).expand(conv.in_channels, 3, 3)
