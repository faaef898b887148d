"""The Ray Tune trainable: a thin adapter from a trial's parameters to `model.trainer.Trainer`.

It reads the prepared cache by path (never image arrays through the trial config), restores from the
trial's checkpoint when Tune restarts or resumes it, reports once per epoch with a checkpoint, runs on
the GPU Ray assigned with CUDA memory capped to the trial's fraction, and keeps stdout quiet.
"""
from __future__ import annotations

import gc
import logging
import math
import tempfile
import threading
from typing import Any, Callable, Mapping, Optional

import ray
from ray import tune

from core.names import EPOCH, EPOCH_METRICS, STATUS, TIMED_OUT
from core.schema import from_mapping
from search import faults
from search.config import ExperimentConfig
from search.space import trial_run_config

logger = logging.getLogger(__name__)

NODE_ID = "node_id"
"""Reported with every epoch: the Ray node that trained it (which node a slow or retried trial ran on)."""


def train_trial(params: dict, *, experiment: Mapping[str, Any], cache_path: str) -> None:
    """Run one trial. `experiment` is the sweep config as a plain mapping, `cache_path` the prepared data."""
    try:
        _run_trial(params, experiment, cache_path)
    finally:  # the trial's frame is gone: its model and batches can be freed before the actor runs another trial
        release_memory()


def _run_trial(params: dict, experiment: Mapping[str, Any], cache_path: str) -> None:
    import torch

    from data_pipeline.cache import open_cache
    from model.trainer import Trainer

    cfg = from_mapping(ExperimentConfig, experiment, source="sweep config")
    reporting = threading.Lock()  # the watchdog never reports while an epoch's report is under way
    history: list[list[dict]] = [[]]  # the trainer's history once it exists (a restore replaces the list)
    finished = threading.Event()
    if cfg.search.trial_timeout_s:
        start_watchdog(cfg.search.trial_timeout_s, lambda: timed_out_metrics(history[0]), reporting, finished)
    torch.set_num_threads(max(1, int(cfg.resources.cpu)))
    gpu = cfg.resources.gpu
    run = trial_run_config(cfg, params)
    trainer = Trainer(
        run,
        open_cache(cache_path),
        device="cpu" if gpu == 0 else None,
        memory_fraction=memory_fraction(gpu),
    )
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            trainer.load_checkpoint(directory)
    history[0] = trainer.history
    faults.arm(trainer, run.train.batch_size)  # tests only: nothing unless EDGETUNE_FAULTS is set

    node_id = ray.get_runtime_context().get_node_id()
    costs = measure_costs(trainer) if cfg.search.objectives else {}

    def report(metrics: dict) -> None:
        with reporting, tempfile.TemporaryDirectory() as directory:
            trainer.save_checkpoint(directory)
            tune.report({**metrics, **costs, NODE_ID: node_id}, checkpoint=tune.Checkpoint.from_directory(directory))
        faults.after_report(metrics, run.train.batch_size, tune.get_context().get_trial_dir())

    try:
        trainer.fit(on_epoch=report)
    finally:
        finished.set()


def release_memory() -> None:
    """What a trial held, given back before its actor runs the next trial (search.tuner.reuse_actors)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure_costs(trainer: Any) -> dict[str, float]:
    """Latency and size of the network the trial ships, measured once before training on the trial's device.

    They depend on the architecture (backbone, EdgeNet mode, input size), not on the weights, so every epoch
    reports the same figures and a trial ASHA stops early still has them.
    """
    from model.latency import measure_latency

    return measure_latency(trainer.deployable_model(), trainer.device)


def memory_fraction(gpu: float) -> Optional[float]:
    """The share of its GPU's memory a trial may take: its fractional `resources.gpu` (Ray's fractions are
    logical only, so the trainer caps CUDA memory to it); None for a whole GPU or the CPU."""
    return gpu if 0 < gpu < 1 else None


REPORT_GRACE_S = 30.0
"""How long the watchdog waits for an epoch's report under way to finish before it reports anyway."""


def start_watchdog(limit_s: float, metrics: Callable[[], dict], reporting: threading.Lock,
                   finished: threading.Event, report: Optional[Callable[[dict], Any]] = None,
                   grace_s: float = REPORT_GRACE_S) -> threading.Thread:
    """After `limit_s`, report `metrics()` (status timed_out) from a side thread, even if training hangs.

    Tune's stop rule {"time_total_s": limit} only fires on a report, so a trial that hangs without
    reporting would hold its slot forever. This report carries time_total_s >= limit, the rule fires,
    and Tune stops the trial and ends its actor (the hung daemon thread goes with it). A hang can be inside
    an epoch's own report (a checkpoint upload to a stuck mount), which holds `reporting`: the watchdog
    waits `grace_s` for it, then reports without it, so a hang anywhere ends the trial at its limit.
    `report` is `tune.report` unless given.
    """
    def watch() -> None:
        if finished.wait(limit_s):
            return
        held = reporting.acquire(timeout=grace_s)
        try:
            values = metrics()
            stuck = "" if held else f" (its report of an epoch has been stuck for {grace_s:g}s)"
            logger.warning("trial passed its time limit of %gs (search.trial_timeout_s)%s: stopping it", limit_s, stuck)
            (report or tune.report)(values)  # tune.report unless a test hands its own
        finally:
            if held:
                reporting.release()

    thread = threading.Thread(target=watch, name="trial-timeout-watchdog", daemon=True)
    thread.start()
    return thread


def timed_out_metrics(history: list[dict]) -> dict:
    """The last epoch's figures with status timed_out; before any epoch, the worst values."""
    last: Optional[dict] = history[-1] if history else None
    if last is not None:
        values = {k: last[k] for k in EPOCH_METRICS}
    else:
        values = {k: (math.inf if k.endswith("loss") else 0.0) for k in EPOCH_METRICS}
    return {**values, EPOCH: last[EPOCH] if last else 0, STATUS: TIMED_OUT}
