"""Class counts of the training split before and after the best trial's balancing, for the report.

Before: the cache's report.json (`splits.train`), else its manifest.json (`counts.train`), scaled to the
share trials trained on (`data.train_fraction`). After: the
expected images per class in one epoch under `data_pipeline.balance.plan_balance` with the best trial's
balance settings. Plans depend on the labels only through their counts, so labels are rebuilt from them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from core.schema import ConfigError, from_mapping
from core.storage import ExperimentError, open_experiment
from data_pipeline.balance import plan_balance
from data_pipeline.config import BalanceConfig, DataConfig
from data_pipeline.split import subset_size
from results.collect import Collected

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassCounts:
    classes: tuple[str, ...]
    before: tuple[int, ...]
    """Training images per class in the prepared split."""
    after: tuple[float, ...]
    """Expected training images per class in one epoch after balancing."""


def class_counts(c: Collected, strategy: Optional[str] = None) -> Optional[ClassCounts]:
    """Counts for the best trial's balance config (or `strategy`); None when the cache cannot be read."""
    train = _train_counts(str(c.meta.get("cache_path") or ""))
    if not train:
        return None
    classes = tuple(c.meta.get("classes") or train)
    cfg, seed, fraction = _balance_config(c, strategy)
    before = np.array([_kept(int(train.get(name, 0)), fraction) for name in classes], dtype=np.int64)
    labels = np.repeat(np.arange(len(classes)), before)
    try:
        after = plan_balance(labels, len(classes), cfg, seed).counts_per_epoch()
    except (ConfigError, ValueError) as err:
        log.warning("%s: balancing plan for the report failed: %s", c.location, err)
        return None
    return ClassCounts(classes, tuple(int(v) for v in before), tuple(float(v) for v in after))


def _train_counts(cache_path: str) -> Optional[Mapping[str, Any]]:
    if not cache_path:
        return None
    try:
        store = open_experiment(cache_path, require=None)
    except ExperimentError:
        log.warning("prepared cache %s not found; the class-count figure is left out", cache_path)
        return None
    for name, keys in (("report.json", ("splits", "train")), ("manifest.json", ("counts", "train"))):
        try:
            node: Any = store.read_json(name, default=None)
        except ExperimentError:
            continue
        for key in keys:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and node:
            return node
    return None


def _kept(n: int, fraction: float) -> int:
    return subset_size(n, fraction) if n and fraction < 1.0 else n


def _balance_config(c: Collected, strategy: Optional[str]) -> tuple[BalanceConfig, int, float]:
    """The best trial's data.balance, train.seed and data.train_fraction, from the config it ran."""
    best = c.best_trial()
    base, seed, fraction = BalanceConfig(), 0, 1.0
    tree = c.trial_configs.get(str(best["trial_id"])) if best is not None else None
    if tree is not None:
        try:
            data = from_mapping(DataConfig, tree.get("data") or {}, source=f"trial {best['trial_id']}", prefix="data")
        except ConfigError as err:
            log.warning("%s: the best trial's data config does not load (%s); balancing shown as none", c.location, err)
        else:
            base, fraction = data.balance, data.train_fraction
            seed = int((tree.get("train") or {}).get("seed", 0))
    if strategy and strategy != base.strategy:
        base = BalanceConfig(strategy=strategy, target=base.target, beta=base.beta)
    return base, seed, fraction
