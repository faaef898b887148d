"""Fine-tuning policy: which backbone blocks train, and layer-wise learning-rate decay.

A backbone is seen as ordered layer groups of parameter names: [stem, block 1, ..., block L, tail],
where the tail holds the final norms. Blocks come from a per-family rule (the first that applies);
timm's `group_matcher` is the generic fallback.
"""
from __future__ import annotations

import logging
import re
from typing import Callable, Optional, Union

from timm.models import group_parameters
from torch import nn

log = logging.getLogger(__name__)

BlockRule = Callable[[nn.Module], Optional[list[list[str]]]]
"""Returns the backbone's blocks (each a list of parameter names, input to output), or None if it does not apply."""


def _prefixed(prefix: str, module: nn.Module) -> list[str]:
    return [f"{prefix}.{name}" for name, _ in module.named_parameters()]


def _vit_blocks(backbone: nn.Module) -> Optional[list[list[str]]]:
    blocks = getattr(backbone, "blocks", None)
    if not isinstance(blocks, nn.Sequential | nn.ModuleList):
        return None
    return [_prefixed(f"blocks.{i}", b) for i, b in enumerate(blocks)]


def _staged_blocks(attr: str) -> BlockRule:
    """Swin `layers` / ConvNeXt `stages`, flattened; a stage's downsample joins its first block."""

    def rule(backbone: nn.Module) -> Optional[list[list[str]]]:
        stages = getattr(backbone, attr, None)
        if not isinstance(stages, nn.Sequential | nn.ModuleList) or not all(hasattr(s, "blocks") for s in stages):
            return None
        out: list[list[str]] = []
        for i, stage in enumerate(stages):
            entry = [f"{attr}.{i}.{n}" for n, _ in stage.named_parameters() if not n.startswith("blocks.")]
            for j, block in enumerate(stage.blocks):
                out.append(entry + _prefixed(f"{attr}.{i}.blocks.{j}", block))
                entry = []
        return out

    return rule


def _matcher_blocks(backbone: nn.Module) -> Optional[list[list[str]]]:
    """Fallback: timm's fine-grained group_matcher; its first group is the stem, the final norm is the tail."""
    if not hasattr(backbone, "group_matcher"):
        return None
    matcher = backbone.group_matcher(coarse=False)
    groups = list(group_parameters(backbone, matcher).values())[1:]
    tail = _matcher_tail(backbone, matcher)
    blocks = [names for names in ([n for n in g if n not in tail] for g in groups) if names]
    return blocks or None


def _matcher_tail(backbone: nn.Module, matcher) -> set[str]:
    """Names timm groups after every block: specs with the (99999,) suffix (final norms)."""
    if not isinstance(matcher, dict):
        return set()
    specs = [spec for value in matcher.values() if isinstance(value, (list, tuple)) for spec in value]
    last = [re.compile(regex) for regex, suffix in specs if suffix == (99999,)]
    return {n for n, _ in backbone.named_parameters() if any(r.match(n) for r in last)}


FAMILY_RULES: dict[str, BlockRule] = {
    "vit": _vit_blocks,  # ViT, DeiT, BEiT
    "swin": _staged_blocks("layers"),
    "convnext": _staged_blocks("stages"),
    "group_matcher": _matcher_blocks,
}


def layer_groups(backbone: nn.Module) -> list[list[str]]:
    """[stem, block 1..L, tail]: the parameter names of each, in forward order."""
    for family, rule in FAMILY_RULES.items():
        blocks = rule(backbone)
        if blocks:
            log.debug("backbone %s: %d blocks by rule %s", type(backbone).__name__, len(blocks), family)
            return _with_stem_and_tail(backbone, blocks)
    raise ValueError(f"no block rule applies to {type(backbone).__name__} (rules: {', '.join(FAMILY_RULES)}); "
                     "use train_last_blocks: all and no layer_decay, or add a rule to model.finetune.FAMILY_RULES")


def _with_stem_and_tail(backbone: nn.Module, blocks: list[list[str]]) -> list[list[str]]:
    """Parameters outside the blocks are stem if registered before the first block, tail otherwise."""
    in_blocks = {n for block in blocks for n in block}
    names = [n for n, _ in backbone.named_parameters()]
    first = min(names.index(n) for n in in_blocks)
    stem = [n for i, n in enumerate(names) if n not in in_blocks and i < first]
    tail = [n for i, n in enumerate(names) if n not in in_blocks and i > first]
    return [stem, *blocks, tail]


def apply_freezing(model: nn.Module, train_last_blocks: Union[int, str]) -> None:
    """Freeze the backbone except its last N blocks and tail; head and EdgeNet always train."""
    for p in model.parameters():
        p.requires_grad_(True)
    if train_last_blocks == "all":
        return
    groups = layer_groups(model.backbone)
    n_blocks = len(groups) - 2
    trained = set(groups[-1]) if train_last_blocks > 0 else set()
    for block in groups[1:-1][max(0, n_blocks - train_last_blocks):] if train_last_blocks else []:
        trained.update(block)
    for name, p in model.backbone.named_parameters():
        p.requires_grad_(name in trained)


def layer_scales(model: nn.Module, layer_decay: Optional[float]) -> dict[str, float]:
    """lr scale per model parameter name: decay ** (distance from the top); head and EdgeNet get 1."""
    scales = {name: 1.0 for name, _ in model.named_parameters()}
    if layer_decay is None or layer_decay == 1.0:
        return scales
    groups = layer_groups(model.backbone)
    top = len(groups)  # the head sits one above the tail
    for depth, names in enumerate(groups):
        for name in names:
            scales[f"backbone.{name}"] = layer_decay ** (top - depth)
    return scales


def param_groups(model: nn.Module, weight_decay: float, layer_decay: Optional[float] = None) -> list[dict]:
    """Optimizer param groups of trainable parameters, keyed by (lr scale, decayed or not).

    Each group has an `lr_scale` that the trainer's scheduler multiplies into its learning rate. Biases,
    norms and 1-d tokens get no weight decay (the usual recipe for transformers and convnets alike).
    """
    scales = layer_scales(model, layer_decay)
    groups: dict[tuple[float, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decayed = p.ndim > 1 and not name.endswith(("pos_embed", "cls_token", "rel_pos_bias"))
        key = (scales[name], decayed)
        group = groups.setdefault(key, {"params": [], "names": [], "lr_scale": key[0],
                                        "weight_decay": weight_decay if decayed else 0.0})
        group["params"].append(p)
        group["names"].append(name)
    return sorted(groups.values(), key=lambda g: (g["lr_scale"], g["weight_decay"]))
