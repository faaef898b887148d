"""The Ray Tune trainable: a thin adapter from a trial's parameters to `model.trainer.Trainer`.

It reads the prepared cache by path (never image arrays through the trial config), restores from the
trial's checkpoint when Tune restarts or resumes it, reports once per epoch with a checkpoint, runs on
the GPU Ray assigned with CUDA memory capped to the trial's fraction, and keeps stdout quiet.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Mapping

from ray import tune

from data_pipeline.schema import from_mapping
from search.config import ExperimentConfig
from search.space import trial_run_config

FAIL_ONCE_ENV = "EDGETUNE_FAIL_ONCE_AT_EPOCH"
"""Test hook: a trial raises once after this epoch (a marker file in the trial dir makes it once)."""


def train_trial(params: dict, *, experiment: Mapping[str, Any], cache_path: str) -> None:
    """Run one trial. `experiment` is the sweep config as a plain mapping, `cache_path` the prepared data."""
    import torch

    from data_pipeline.cache import open_cache
    from model.trainer import Trainer

    cfg = from_mapping(ExperimentConfig, experiment, source="sweep config")
    torch.set_num_threads(max(1, int(cfg.resources.cpu)))
    gpu = cfg.resources.gpu
    trainer = Trainer(
        trial_run_config(cfg, params),
        open_cache(cache_path),
        device="cpu" if gpu == 0 else None,
        memory_fraction=gpu if 0 < gpu < 1 else None,
    )
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            trainer.load_checkpoint(directory)

    def report(metrics: dict) -> None:
        with tempfile.TemporaryDirectory() as directory:
            trainer.save_checkpoint(directory)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        _maybe_fail_for_test(metrics)

    trainer.fit(on_epoch=report)


def _maybe_fail_for_test(metrics: dict) -> None:
    at = os.environ.get(FAIL_ONCE_ENV)
    if not at or metrics.get("epoch") != int(at):
        return
    marker = os.path.join(tune.get_context().get_trial_dir(), ".failed_once")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError(f"injected failure after epoch {at} ({FAIL_ONCE_ENV})")
