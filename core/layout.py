"""File names of an experiment folder, defined once: search writes them, results reads them.

    <storage>/<name>/
        sweep.yaml          the config exactly as it ran (search.config.load_config reads it)
        sweep.json          metric, mode, cache path, classes, resources, parameter paths, times
        optuna.journal      the Optuna study (optuna-dashboard opens it)
        trial_status.json   each trial's fate: completed | early_stopped | diverged | timed_out | failed
        epochs.jsonl        every epoch every trial reported, appended by the driver
        <trial folders>     Ray Tune's: params.json, result.json, progress.csv, checkpoint_*/, and
                            trial_config.yaml: the training config the trial ran, exactly (written by the driver)
            checkpoint_*/   checkpoint.pt and predictions.json: that epoch's per-image validation predictions
                            (columns index / true / pred / confidence; the report's gallery of confusions)
        report/             tables and report.html written at the end of the sweep
        results/            trials.parquet, epochs.parquet (results.collect), evaluation.json (deploy.evaluate),
                            calibration.json (deploy.export: the exported trial's temperature, ECE, reliability),
                            confirmed.{md,csv,tex}, confirmed_pairs.{md,csv,tex} (search.confirm)
        confirm/            the confirmation (search.confirm): an experiment folder of its own, one trial per
                            (top configuration, seed), plus confirm.json, the plan it runs
"""

from __future__ import annotations

from typing import Optional

SWEEP_CONFIG = "sweep.yaml"
SWEEP_INFO = "sweep.json"
STUDY_FILE = "optuna.journal"
STATUS_FILE = "trial_status.json"
EPOCHS_FILE = "epochs.jsonl"
REPORT_DIR = "report"
TRIAL_CONFIG = "trial_config.yaml"
RESULTS_DIR = "results"
EVALUATION_FILE = "evaluation.json"
CALIBRATION_FILE = "calibration.json"
PREDICTIONS_FILE = "predictions.json"
"""Per-image predictions, JSON columns: split, epoch, index (into the prepared cache's split), true, pred,
confidence (softmax probability of pred). In each checkpoint folder (validation) and, under `predictions`,
in each evaluation.json entry (test)."""
CONFIRM_DIR = "confirm"
CONFIRM_PLAN = "confirm.json"
CONFIRMED_TABLE = "confirmed"
CONFIRMED_PAIRS = "confirmed_pairs"


def folder_name_problem(name: object) -> Optional[str]:
    """Why `name` cannot be one folder inside its parent (an experiment's --name, sweep.json's name), or None.

    A name that is absolute, holds a separator, is `.` / `..`, or carries control characters would write
    outside the folder it is meant to live in, or make a path nobody can type.
    """
    if not isinstance(name, str) or not name.strip():
        return "must be a non-empty string"
    if name in (".", "..") or "/" in name or "\\" in name:
        return "must be a single folder name (no '/', '\\', '.' or '..'): it would write outside its folder"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "must not hold control characters"
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        return "must be at most 255 bytes long"
    return None
