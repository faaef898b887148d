"""Shrunk presets: every study backbone, small enough to build and step on CPU in a second."""
from __future__ import annotations

SHRUNK: dict[str, dict] = {
    "beit": dict(embed_dim=32, depth=2, num_heads=2),
    "deit": dict(embed_dim=32, depth=2, num_heads=2),
    "swinv2": dict(embed_dim=16, depths=(1, 1, 2, 1), num_heads=(1, 1, 1, 1), window_size=2),
    "swinv2_224": dict(embed_dim=16, depths=(1, 1, 2, 1), num_heads=(1, 1, 1, 1), window_size=2),
    "convnext": dict(depths=(1, 1, 2, 1), dims=(8, 16, 32, 64)),
    "test_vit": {},
    # EfficientNet-Lite has no width argument to shrink; at 64 px even Lite2 steps in a fraction of a second
    "efficientnet_lite0": {},
    "efficientnet_lite1": {},
    "efficientnet_lite2": {},
}
SIZE = 64
