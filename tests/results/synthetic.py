"""A stored experiment written file by file in the exact layout `search.run` leaves behind.

Real files, as Ray Tune 2.60 and the trainer write them (params.json, result.json lines, checkpoint
folders, error.txt), sweep.json / sweep.yaml / trial_status.json / trial_config.yaml (written with the
sweep's own functions) from the driver, and an Optuna journal
made with Optuna itself (ASHA-stopped trials PRUNED with their intermediate values). Unit tests of the
table math run on it in milliseconds; the real sweep is the integration test.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import optuna
import yaml

from core.names import (
    EPOCH,
    LR,
    STATUS,
    TRAIN_ACC,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_BALANCED_ACC,
    VAL_F1,
    VAL_LOSS,
    VAL_PRECISION,
    VAL_RECALL,
)
from core.schema import from_mapping
from search.config import ExperimentConfig
from search.experiment import write_trial_config
from search.space import trial_run_config

T0 = 1_780_000_000.0  # a fixed clock, so times and GPU-hours are exact
CLASSES = ["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt"]
PARAM_PATHS = {"epochs": "train.epochs", "lr": "train.lr", "optimizer": "train.optimizer", "dropout": "model.dropout"}


@dataclass
class FakeTrial:
    """One trial: its sampled parameters, its per-epoch validation F1 and how it ended."""

    params: dict
    f1: list[float]
    ending: str = "completed"
    """completed | early_stopped | diverged | failed | running | never_started."""
    start_s: float = 0.0
    epoch_s: float = 60.0
    kept_checkpoints: Optional[list[int]] = None
    """Indexes of checkpoint_00000N folders Ray kept (default: all)."""
    extra: dict = field(default_factory=dict)


def default_trials() -> list[FakeTrial]:
    """Six trials covering every status: the best (index 2) peaks before its last epoch."""
    p = lambda e, lr, opt, d: {"epochs": e, "lr": lr, "optimizer": opt, "dropout": d}  # noqa: E731
    return [
        FakeTrial(p(4, 1e-3, "adam", 0.1), [0.30, 0.42, 0.50, 0.55], start_s=0),
        FakeTrial(p(4, 1e-2, "sgd", 0.3), [0.20], "early_stopped", start_s=5, kept_checkpoints=[0]),
        FakeTrial(p(3, 3e-4, "adam", 0.05), [0.40, 0.61, 0.58], start_s=250, kept_checkpoints=[1, 2]),
        FakeTrial(p(4, 5e-2, "sgd", 0.2), [0.10, math.nan], "diverged", start_s=70),
        FakeTrial(p(2, 1e-4, "adam", 0.0), [0.25], "failed", start_s=200),
        FakeTrial(p(2, 2e-3, "sgd", 0.1), [], "never_started", start_s=300),
    ]


def sweep_yaml(clothing_root: str, backbone: str = "test_vit", edgenet: str = "off", balance: str = "none",
               gpu: float = 0.5, balance_target: int | str = "median", train_fraction: float = 1.0) -> dict:
    return {
        "data": {"source": clothing_root, "image_size": 64, "max_per_class": 24, "train_fraction": train_fraction,
                 "balance": {"strategy": balance, "target": balance_target}},
        "model": {"backbone": backbone, "pretrained": False, "image_size": 64, "edgenet": {"mode": edgenet}},
        "train": {"epochs": 4, "batch_size": 16, "weight_decay": 0.01, "device": "cpu"},
        "search": {
            "metric": VAL_F1, "num_samples": 6, "max_concurrent": 2,
            "space": {
                "epochs": {"type": "int", "low": 1, "high": 4},
                "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            },
        },
        "resources": {"cpu": 1, "gpu": gpu},
    }


def write_experiment(storage: Path, name: str, trials: list[FakeTrial], *, clothing_root: str,
                     finished: bool = True, status_file: bool = True, cache_path: str = "",
                     trial_prefix: str = "ab12c", **sweep_kwargs: Any) -> Path:
    """Write an experiment directory and return its path."""
    exp = storage / name
    exp.mkdir(parents=True)
    cfg = sweep_yaml(clothing_root, **sweep_kwargs)
    (exp / "sweep.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (exp / "sweep.json").write_text(json.dumps(_sweep_json(name, cfg, finished, cache_path)))
    sweep = from_mapping(ExperimentConfig, cfg, source="synthetic sweep.yaml")
    statuses = {}
    for index, trial in enumerate(trials):
        trial_id = f"{trial_prefix}_{index:05d}"
        if trial.ending != "never_started":
            folder = _write_trial_dir(exp, trial_id, index, trial)
            write_trial_config(folder, trial_run_config(sweep, trial.params))  # as the sweep's driver does
        statuses[trial_id] = _status_entry(trial)
    if status_file:
        (exp / "trial_status.json").write_text(json.dumps(statuses, indent=1))
    _write_journal(exp, name, trials)
    (exp / "experiment_state-2026-05-28_10-00-00.json").write_text("{}")  # Ray's own files sit beside trials
    return exp


def _sweep_json(name: str, cfg: dict, finished: bool, cache_path: str) -> dict:
    return {
        "name": name, "metric": VAL_F1, "mode": "max", "max_epochs": 4, "cache_path": cache_path,
        "classes": CLASSES, "resources": {"cpu": 1, "gpu": cfg["resources"]["gpu"]}, "param_paths": PARAM_PATHS,
        "started_at": "2026-05-28T20:26:40+00:00",  # == T0
        "finished_at": "2026-05-28T21:00:00+00:00" if finished else None,
        "scheduler": "asha", "sampler": "tpe",
    }


def _status_entry(trial: FakeTrial) -> dict:
    status = {"never_started": "failed", "running": "running"}.get(trial.ending, trial.ending)
    error = "RuntimeError: boom" if trial.ending in ("failed", "never_started") else None
    return {"status": status, "epochs_run": len(trial.f1), "epochs_planned": trial.params["epochs"],
            "error": error, "params": trial.params}


def metric_rows(trial: FakeTrial, trial_id: str) -> list[dict]:
    """The result.json rows the trainer + Ray would report for this trial."""
    rows, planned = [], trial.params["epochs"]
    for i, f1 in enumerate(trial.f1):
        epoch = i + 1
        last = epoch == len(trial.f1)
        status = "running"
        if last and trial.ending == "completed":
            status = "completed"
        if last and trial.ending == "diverged":
            status = "diverged"
        bad = math.isnan(f1)
        rows.append({
            EPOCH: epoch, LR: trial.params["lr"], STATUS: status, "epochs_planned": planned,
            TRAIN_LOSS: math.nan if bad else 2.0 - f1, TRAIN_ACC: math.nan if bad else f1 + 0.05,
            VAL_LOSS: math.nan if bad else 2.1 - f1, VAL_ACC: math.nan if bad else f1 + 0.1,
            VAL_PRECISION: math.nan if bad else f1 + 0.02, VAL_RECALL: math.nan if bad else f1 - 0.02,
            VAL_F1: f1, VAL_BALANCED_ACC: math.nan if bad else f1 - 0.01,
            "train_loss_running": 2.2 - f1 if not bad else math.nan, "epoch_time_s": trial.epoch_s,
            "images_per_s": 100.0,
            "training_iteration": epoch, "trial_id": trial_id, "time_this_iter_s": trial.epoch_s,
            "time_total_s": trial.epoch_s * epoch, "timestamp": int(T0 + trial.start_s + trial.epoch_s * epoch),
            "checkpoint_dir_name": f"checkpoint_{i:06d}", "done": False, "date": "2026-05-28_10-00-00",
            "hostname": "node", "node_ip": "127.0.0.1", "pid": 1234, "iterations_since_restore": epoch,
            "config": trial.params,
        })
    return rows


def _write_trial_dir(exp: Path, trial_id: str, index: int, trial: FakeTrial) -> Path:
    tag = ",".join(f"{k}={v}" for k, v in trial.params.items())
    folder = exp / f"train_trial_{trial_id}_{index}_{tag}_2026-05-28_10-00-0{index}"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps(trial.params))
    rows = metric_rows(trial, trial_id)
    # Ray writes NaN as the bare token NaN, which Python's json reads back.
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "progress.csv").write_text("epoch,val_f1\n" + "".join(f"{r[EPOCH]},{r[VAL_F1]}\n" for r in rows))
    kept = trial.kept_checkpoints if trial.kept_checkpoints is not None else range(len(rows))
    for i in kept:
        (folder / f"checkpoint_{i:06d}").mkdir()
        (folder / f"checkpoint_{i:06d}" / "checkpoint.pt").write_bytes(b"not a real checkpoint")
    if trial.ending == "failed":
        (folder / "error.txt").write_text("Traceback (most recent call last):\n  ...\nRuntimeError: boom\n")
    return folder


def _write_journal(exp: Path, name: str, trials: list[FakeTrial]) -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(exp / "optuna.journal")))
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    dists = {"epochs": IntDistribution(1, 4), "lr": FloatDistribution(1e-4, 1e-1, log=True),
             "optimizer": CategoricalDistribution(["adam", "sgd"]), "dropout": FloatDistribution(0.0, 0.5)}
    for trial in trials:
        values = {i + 1: v for i, v in enumerate(trial.f1) if not math.isnan(v)}
        if trial.ending == "completed":
            state, value = TrialState.COMPLETE, trial.f1[-1]
        elif trial.ending in ("early_stopped", "diverged"):
            state, value = TrialState.PRUNED, None
        else:
            state, value = TrialState.FAIL, None
        study.add_trial(create_trial(params=trial.params, distributions=dists, value=value,
                                     intermediate_values=values, state=state))


def write_evaluation(exp: Path, trial_id: str = "ab12c_00002") -> dict:
    """A results/evaluation.json as `deploy.evaluate` writes it (numbers made up, shapes real)."""
    k = len(CLASSES)
    confusion = [[(5 if i == j else (1 if j == (i + 1) % k else 0)) for j in range(k)] for i in range(k)]
    per_class = [{"class": c, "precision": 5 / 6, "recall": 5 / 6, "f1": 5 / 6, "support": 6} for c in CLASSES]
    evaluation = {"split": "test", "metric": VAL_F1, "mode": "max", "classes": CLASSES, "trials": [{
        "trial_id": trial_id, "checkpoint": "x/checkpoint_000001", "checkpoint_is_best": True, "epoch": 2,
        "params": {}, "metrics": {"acc": 5 / 6, "loss": 0.9, "precision": 5 / 6, "recall": 5 / 6, "f1": 5 / 6,
                                  "balanced_acc": 5 / 6},
        "per_class": per_class, "confusion": confusion, "classes": CLASSES}]}
    (exp / "results").mkdir(exist_ok=True)
    (exp / "results" / "evaluation.json").write_text(json.dumps(evaluation))
    return evaluation


def write_calibration(exp: Path, trial_id: str = "ab12c_00002") -> dict:
    """A results/calibration.json as `deploy.export` writes it: a real fit on made-up overconfident logits."""
    import numpy as np

    from deploy.calibration import calibrate, softmax

    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, size=(300, len(CLASSES)))
    labels = np.array([rng.choice(len(CLASSES), p=p) for p in softmax(logits, 2.0)])
    record = {"trial_id": trial_id, "exported_at": "2026-01-01T00:00:00+00:00", **calibrate(logits, labels)}
    (exp / "results").mkdir(exist_ok=True)
    (exp / "results" / "calibration.json").write_text(json.dumps(record))
    return record


CONFUSIONS = {(0, 1): 5, (2, 3): 3, (4, 5): 2}
"""(true, predicted) class -> how many images `write_predictions` gets wrong that way, in each split."""


def predictions_record(split: str, labels: list[int], epoch: int) -> dict:
    """Per-image predictions as the trainer stores them: right, except CONFUSIONS; confidence falls with position."""
    pred, left = list(labels), dict(CONFUSIONS)
    for i, true in enumerate(labels):
        wrong_as = next((q for (t, q), n in left.items() if t == true and n > 0), None)
        if wrong_as is not None:
            pred[i] = wrong_as
            left[(true, wrong_as)] -= 1
    confidence = [round(0.95 - 0.002 * i, 4) for i in range(len(labels))]
    return {"split": split, "epoch": epoch, "index": list(range(len(labels))), "true": list(labels),
            "pred": pred, "confidence": confidence}


def write_predictions(exp: Path, data: Any, trial_id: str = "ab12c_00002") -> dict:
    """The best trial's validation predictions beside its chosen checkpoint (as the trainer writes them), and its
    test predictions in results/evaluation.json (as deploy.evaluate adds them). Returns {split: record}."""
    from results.collect import collect

    best = collect(str(exp)).best_trial()
    assert best["trial_id"] == trial_id, best["trial_id"]
    records = {s: predictions_record(s, data.split(s).labels.tolist(), 2) for s in ("validation", "test")}
    (exp / best["checkpoint"] / "predictions.json").write_text(json.dumps(records["validation"]))
    path = exp / "results" / "evaluation.json"
    evaluation = json.loads(path.read_text())
    next(e for e in evaluation["trials"] if e["trial_id"] == trial_id)["predictions"] = records["test"]
    path.write_text(json.dumps(evaluation))
    return records
