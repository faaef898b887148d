"""One trial of an experiment, ready to ship: the config it ran, its prepared data, its checkpoint in a model.

`deploy.evaluate` and `deploy.export` both start here, so a trial's model is rebuilt one way: the
training config from the trial's own trial_config.yaml, the weights from the checkpoint the tables chose
(its best epoch when Ray kept it, else the latest kept one).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from core.layout import TRIAL_CONFIG
from core.names import EPOCH
from core.schema import from_mapping
from core.storage import ExperimentError, drop_local_copy, open_experiment
from data_pipeline.cache import PreparedData, open_cache
from model.config import RunConfig
from results.collect import Collected


def trial_run_config(c: Collected, row: pd.Series) -> RunConfig:
    """The training config the trial ran, typed (read from its trial_config.yaml)."""
    where = f"{c.location}/{row.get('trial_dir')}/{TRIAL_CONFIG}"
    return from_mapping(RunConfig, c.trial_config(str(row["trial_id"])), source=where)


def open_trial_data(c: Collected) -> PreparedData:
    """The experiment's prepared cache (sweep.json's cache_path), checked to hold the sweep's classes."""
    cache_path = c.meta.get("cache_path")
    if not cache_path:
        raise ExperimentError(f"{c.location}/sweep.json: cache_path is empty; cannot find the prepared data")
    data = open_cache(str(cache_path))
    classes = c.meta.get("classes")
    if classes and list(classes) != list(data.classes):
        raise ExperimentError(f"{cache_path}: classes {list(data.classes)} differ from the sweep's {list(classes)}")
    return data


def load_trial(c: Collected, row: pd.Series, data: PreparedData, device: Optional[str] = None) -> Any:
    """A `model.trainer.Trainer` with the trial's config and its kept checkpoint loaded (model, epoch, history)."""
    from model.trainer import Trainer

    trainer = Trainer(trial_run_config(c, row), data, device=device)
    store = open_experiment(c.location)
    local, temporary = store.local_copy(*str(row["checkpoint"]).split("/"))
    try:
        trainer.load_checkpoint(str(local))
    except (OSError, KeyError, RuntimeError, ValueError) as err:  # torch.load / state_dict errors, class mismatch
        raise ExperimentError(f"{c.location}/{row['checkpoint']}: cannot load the checkpoint: "
                              f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    finally:
        drop_local_copy(local, temporary)
    return trainer


SUMMARY_KEYS = ("acc", "loss", "precision", "recall", "f1", "balanced_acc")
"""The headline figures of an evaluation, as `Trainer.evaluate` names them."""


def summary(raw: Mapping[str, Any]) -> dict[str, float]:
    """The headline figures of `Trainer.evaluate`'s result, as floats (per-class tables left out)."""
    return {k: float(raw[k]) for k in SUMMARY_KEYS if isinstance(raw.get(k), (int, float))}


def trial_params(c: Collected, row: pd.Series) -> dict:
    """The trial's sampled parameters (missing conditional ones left out), as plain Python values."""
    return {k: _plain(row[f"param_{k}"]) for k in c.params if present(row.get(f"param_{k}"))}


def checkpoint_epoch(c: Collected, row: pd.Series) -> Optional[int]:
    """The epoch the trial's chosen checkpoint was saved at (its best epoch when the epochs do not say)."""
    name = str(row["checkpoint"]).rsplit("/", 1)[-1]
    if "checkpoint_dir_name" in c.epochs:
        e = c.epochs[(c.epochs["trial_id"] == row["trial_id"]) & (c.epochs["checkpoint_dir_name"] == name)]
        if len(e):
            return int(e[EPOCH].iloc[-1])
    best = row.get("best_epoch")
    return int(best) if present(best) else None


def present(value: Any) -> bool:
    """Not None, NaN or pandas' NA."""
    return value is not None and value is not pd.NA and not (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, for JSON."""
    return value.item() if isinstance(value, np.generic) else value
