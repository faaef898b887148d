"""The study's classifier: optional EdgeNet -> timm backbone (no classifier) -> dropout -> linear head."""
from __future__ import annotations

import logging
from typing import Optional

import torch
from torch import nn

from model.backbones import create_backbone
from model.config import ModelConfig
from model.edgenet import EdgeNet
from model.finetune import apply_freezing

log = logging.getLogger(__name__)


class EdgeNetClassifier(nn.Module):
    """EdgeNet (or nothing) + backbone + dropout + one linear layer with one output per class.

    `data_config` = dict(input_size=(3, S, S), mean=(...), std=(...)) tells the loader what to feed.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, data_config: dict,
                 edgenet: Optional[EdgeNet] = None, dropout: float = 0.0):
        super().__init__()
        self.edgenet = edgenet
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(backbone.num_features, num_classes)
        self.data_config = dict(data_config)
        self.num_classes = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features of a normalized image batch."""
        if self.edgenet is not None:
            x = self.edgenet(x)
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.forward_features(x)))


def build_model(cfg: ModelConfig, num_classes: int) -> EdgeNetClassifier:
    """Build the classifier for `num_classes` classes with the fine-tuning policy of `cfg` applied."""
    if num_classes < 1:
        raise ValueError(f"num_classes is {num_classes}, but must be >= 1")
    backbone, data_config = create_backbone(cfg)
    channels, size, _ = data_config["input_size"]
    edgenet = None if cfg.edgenet.mode == "off" else EdgeNet(cfg.edgenet, out_channels=channels, out_size=size)
    model = EdgeNetClassifier(backbone, num_classes, data_config, edgenet=edgenet, dropout=cfg.dropout)
    apply_freezing(model, cfg.train_last_blocks)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("built %s (edgenet %s): %d of %d parameters trainable", cfg.backbone, cfg.edgenet.mode, trainable, total)
    return model
