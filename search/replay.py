"""The replay trainable: a trial is served the recorded learning curve of its nearest recorded configuration.

The table (docs/data/curves.parquet, written by `benchmarks.record`) holds one row per (trial_id, seed,
epoch) of real training, with the searched parameters as columns. A replayed trial runs through the same
`search.run` path as a real one (searcher, scheduler, PRUNED reporting, recorder, results) but trains
nothing: it sleeps `time_scale` x the recorded epoch time, so the asynchronous order of results resembles a
real sweep, and reports the recorded metrics plus seed noise.

Approximations, said once here:
- nearest neighbour in the normalised space (log scale for log parameters, [0, 1] for linear ones, 0/1 for a
  categorical mismatch): a trial between recorded points gets the curve of one of them, so the replayed
  landscape is piecewise constant;
- a trial that plans fewer epochs than the table holds is served the prefix of a curve recorded with the
  longer schedule: its learning rate had not yet decayed there, so short trials look a little worse than
  they would have trained;
- seed noise is Gaussian per epoch and metric, with the spread measured between seed 0 and seed 1 of the
  repeated configurations (sd of the difference / sqrt 2), drawn deterministically per (parameters, seeds).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from core.names import COMPLETED, EPOCH, EPOCH_METRICS, RUNNING, STATUS
from core.schema import check

logger = logging.getLogger(__name__)

EPOCH_TIME = "epoch_time_s"
KEY_COLUMNS = ("trial_id", "seed", EPOCH)
CHECKPOINT_FILE = "replay.json"


@dataclass(frozen=True)
class ReplayConfig:
    """Replay recorded learning curves instead of training (benchmarks; no torch, no data preparation)."""

    table: str = ""
    """A Parquet learning-curve table (docs/data/curves.parquet); empty trains for real."""
    time_scale: float = 0.01
    """Fraction of each recorded epoch's wall time a replayed epoch sleeps (0: as fast as Ray reports)."""
    noise: bool = True
    """Add seed noise drawn from the spread between the table's two seeds."""

    def __post_init__(self) -> None:
        check(self.time_scale >= 0, "time_scale", self.time_scale, "must be >= 0")


@functools.lru_cache(maxsize=4)
def load_table(path: str) -> pd.DataFrame:
    """The learning-curve table, read once per process."""
    return pd.read_parquet(path)


def param_columns(table: pd.DataFrame) -> list[str]:
    """The searched parameters of the table: every column that is neither a key nor a metric."""
    metrics = set(EPOCH_METRICS) | {EPOCH_TIME}
    return [c for c in table.columns if c not in KEY_COLUMNS and c not in metrics]


def metric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in EPOCH_METRICS if c in table.columns]


def normalised(space: Mapping[str, Any], name: str, value: Any) -> float:
    """A numeric parameter on [0, 1] of its range (log scale for a log parameter)."""
    spec = space[name]
    low, high, x = float(spec.low), float(spec.high), float(value)
    if spec.log:
        low, high, x = math.log(low), math.log(high), math.log(max(x, 1e-300))
    return (x - low) / (high - low)


def distances(space: Mapping[str, Any], configs: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    """Euclidean distance of `params` to each row of `configs` in the normalised space.

    A parameter the trial did not sample (a conditional one) or the table lacks counts as no difference.
    """
    total = np.zeros(len(configs))
    for name, spec in space.items():
        if name not in configs.columns or name not in params:
            continue
        column = configs[name]
        if spec.type == "categorical":
            total += (column.astype(str).to_numpy() != str(params[name])).astype(float)
        else:
            recorded = np.array([normalised(space, name, v) for v in column])
            total += (recorded - normalised(space, name, params[name])) ** 2
    return np.sqrt(total)


def nearest_trial(space: Mapping[str, Any], table: pd.DataFrame, params: Mapping[str, Any]) -> str:
    """The trial_id of the seed-0 recorded configuration nearest to `params` (ties: the first recorded)."""
    first = table[table["seed"] == table["seed"].min()]
    configs = first.drop_duplicates("trial_id").reset_index(drop=True)
    return str(configs["trial_id"].iloc[int(np.argmin(distances(space, configs, params)))])


def seed_spread(table: pd.DataFrame) -> dict[str, float]:
    """Per metric, the sd of one run's seed noise: sd(seed 0 - seed 1) / sqrt(2) over repeated configs' epochs.

    Seeds are paired by equal parameter values and epoch (the repeats are a second sweep, with new trial ids).
    No repeated configuration: zero spread (noise off), with a warning.
    """
    params, metrics = param_columns(table), metric_columns(table)
    seeds = sorted(table["seed"].unique())
    if len(seeds) < 2:
        logger.warning("replay: the table has one seed only, so seed noise is off")
        return {m: 0.0 for m in metrics}
    keys = [*params, EPOCH]
    paired = table[table.seed == seeds[0]].merge(table[table.seed == seeds[1]], on=keys, suffixes=("_a", "_b"))
    if len(paired) < 2:
        logger.warning("replay: no configuration was recorded with two seeds, so seed noise is off")
        return {m: 0.0 for m in metrics}
    return {m: float(np.std(paired[f"{m}_a"] - paired[f"{m}_b"], ddof=1) / math.sqrt(2)) for m in metrics}


def noise_seed(params: Mapping[str, Any], *seeds: int) -> int:
    """A seed fixed by the trial's parameters and the sweep's seeds (stable across processes, unlike hash())."""
    text = json.dumps({"params": {k: params[k] for k in sorted(params)}, "seeds": list(seeds)}, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def replay_curve(table: pd.DataFrame, space: Mapping[str, Any], params: Mapping[str, Any], *, epochs: int,
                 seeds: tuple[int, ...], noise: bool) -> list[dict]:
    """The epochs a trial is served: its nearest configuration's seed-0 curve, cut to `epochs`, plus noise."""
    trial_id = nearest_trial(space, table, params)
    rows = table[(table.trial_id == trial_id)].sort_values(EPOCH)
    rows = rows[rows.seed == rows.seed.min()].head(epochs)
    metrics = metric_columns(table)
    spread = seed_spread(table) if noise else {m: 0.0 for m in metrics}
    rng = np.random.default_rng(noise_seed(params, *seeds))
    served = []
    for _, row in rows.iterrows():
        values = {m: float(row[m]) + (float(rng.normal(0.0, spread[m])) if spread[m] > 0 else 0.0) for m in metrics}
        served.append({**{m: _clip(m, v) for m, v in values.items()}, EPOCH: int(row[EPOCH]),
                       EPOCH_TIME: float(row[EPOCH_TIME]), "replayed_from": trial_id})
    return served


def _clip(metric: str, value: float) -> float:
    """Noise keeps a score a score: losses >= 0, accuracies and F1 in [0, 1]."""
    return max(0.0, value) if metric.endswith("loss") else min(1.0, max(0.0, value))


def epoch_metrics(curve: list[dict], index: int, planned: int) -> dict:
    """What the replayed epoch `index` reports: the real trainable's names (epoch, status, epochs_planned, ...)."""
    served = len(curve)
    status = COMPLETED if index + 1 >= served else RUNNING
    return {**curve[index], STATUS: status, "epochs_planned": min(planned, served)}


def replay_trial(params: dict, *, experiment: Mapping[str, Any]) -> None:
    """The Ray Tune trainable of a replayed trial; resumes from its checkpoint (the next epoch to serve)."""
    from ray import tune

    from core.schema import from_mapping
    from search.config import ExperimentConfig
    from search.space import trial_run_config

    cfg = from_mapping(ExperimentConfig, experiment, source="sweep config")
    run = trial_run_config(cfg, params)
    curve = replay_curve(load_table(cfg.replay.table), cfg.search.space, params, epochs=run.train.epochs,
                         seeds=(cfg.search.sampler.seed, run.train.seed), noise=cfg.replay.noise)
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            start = json.loads((Path(directory) / CHECKPOINT_FILE).read_text())["next_epoch"]
    for index in range(start, len(curve)):
        time.sleep(cfg.replay.time_scale * curve[index][EPOCH_TIME])
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / CHECKPOINT_FILE).write_text(json.dumps({"next_epoch": index + 1}))
            tune.report(epoch_metrics(curve, index, run.train.epochs),
                        checkpoint=tune.Checkpoint.from_directory(directory))


def replaying(cfg: Any) -> Optional[str]:
    """The table a sweep replays, or None when it trains for real."""
    return cfg.replay.table or None
