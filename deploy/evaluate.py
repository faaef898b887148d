"""Evaluate the top-K trials of an experiment on the test split, once, after the search.

    python -m deploy.evaluate experiments/exp_a --top-k 3

For each trial it loads the checkpoint of the best epoch (by the sweep metric) if Ray kept it, else the
latest kept one, rebuilds the trial's training config, and stores accuracy, macro precision / recall /
F1, balanced accuracy, loss, a per-class table, the confusion matrix and each test image's prediction
(`predictions`: index, true, pred, confidence) in EXP/results/evaluation.json, where the tables and the
report (its gallery of the most confused pairs) pick them up.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from datetime import datetime, timezone
from typing import Any, Optional

import pandas as pd

from core.cli import command
from core.layout import EVALUATION_FILE, RESULTS_DIR
from core.schema import ConfigError
from core.storage import ExperimentError, open_experiment
from deploy.trial import checkpoint_epoch, load_trial, open_trial_data, summary, trial_params
from results.collect import Collected, collect, rank_trials

log = logging.getLogger(__name__)

SPLIT = "test"


def evaluate_experiment(experiment: str, top_k: int = 1, device: Optional[str] = None) -> dict:
    """Evaluate the top_k trials (that kept a checkpoint) on the test split; writes and returns evaluation.json."""
    c = collect(experiment)
    chosen = _chosen_trials(c, top_k)
    data = open_trial_data(c)
    entries = [evaluate_trial(c, row, data, device) for _, row in chosen.iterrows()]
    evaluation = {"split": SPLIT, "metric": c.metric, "mode": c.mode, "classes": list(data.classes),
                  "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "trials": entries}
    store = open_experiment(c.location)
    store.write_text(json.dumps(evaluation, indent=1), RESULTS_DIR, EVALUATION_FILE)
    return evaluation


def _chosen_trials(c: Collected, top_k: int) -> pd.DataFrame:
    ranked = rank_trials(c.trials, c.metric, c.mode)
    with_checkpoint = ranked[ranked["checkpoint"].notna()]
    if with_checkpoint.empty:
        raise ExperimentError(f"{c.location}: no trial has a metric and a kept checkpoint to evaluate "
                              f"({len(c.trials)} trials, {len(ranked)} with a value of {c.metric})")
    skipped = ranked.head(top_k)["trial_id"].loc[lambda s: ~s.isin(with_checkpoint["trial_id"])]
    for trial_id in skipped:
        log.warning("trial %s has no kept checkpoint; taking the next one", trial_id)
    return with_checkpoint.head(top_k)


def evaluate_trial(c: Collected, row: pd.Series, data: Any, device: Optional[str] = None) -> dict:
    """Load one trial's checkpoint and evaluate it on the test split."""
    raw = load_trial(c, row, data, device).evaluate(SPLIT, predictions=True)
    log.info("trial %s (%s): test %s", row["trial_id"], row["checkpoint"],
             ", ".join(f"{k} {v:.4f}" for k, v in summary(raw).items()))
    return {
        "trial_id": row["trial_id"], "checkpoint": row["checkpoint"],
        "checkpoint_is_best": bool(row["checkpoint_is_best"]), "epoch": checkpoint_epoch(c, row),
        "params": trial_params(c, row), "metrics": summary(raw), "per_class": list(raw.get("per_class") or []),
        "confusion": [list(map(int, r)) for r in (raw.get("confusion") or [])], "classes": list(data.classes),
        "predictions": raw["predictions"],  # per test image (core.layout.PREDICTIONS_FILE): the report's gallery
    }


@command
def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.evaluate",
        description="Evaluate the best checkpoints of the top-K trials on the test split; stores "
                    "EXPERIMENT/results/evaluation.json for the tables and the report.")
    parser.add_argument("experiment", help="experiment directory (<storage>/<name>, local path or s3:// URI)")
    parser.add_argument("--top-k", type=int, default=1, help="how many of the best trials to evaluate (default 1)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the trials' train.device)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.top_k < 1:
        raise ConfigError("--top-k", args.top_k, "must be >= 1")
    evaluation = evaluate_experiment(args.experiment, args.top_k, args.device)
    for entry in evaluation["trials"]:
        metrics = entry["metrics"]
        print(f"{entry['trial_id']}: test accuracy {metrics.get('acc', math.nan):.4f}, "
              f"macro-F1 {metrics.get('f1', math.nan):.4f} (epoch {entry['epoch']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
