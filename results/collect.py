"""Collect an experiment directory into two tables: one row per trial, one row per trial and epoch.

Works from files alone (a finished, running or interrupted sweep; a local path or an s3:// URI), with no
Ray running. Inputs, as `search.run` writes them: sweep.json, sweep.yaml, trial_status.json, and one
Ray Tune folder per trial with params.json, result.json (JSON lines, one per epoch) and trial_config.yaml
(the training config the trial ran: what ran is read back, never re-derived from sweep.yaml).

    python -m results.collect experiments/exp_a            # writes experiments/exp_a/results/*.parquet
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Optional

import pandas as pd
import yaml

from core.cli import command
from core.layout import (
    CALIBRATION_FILE,
    EPOCHS_FILE,
    EVALUATION_FILE,
    RESULTS_DIR,
    STATUS_FILE,
    SWEEP_CONFIG,
    SWEEP_INFO,
    TRIAL_CONFIG,
    folder_name_problem,
)
from core.names import (
    COST_METRICS,
    DIVERGED,
    EARLY_STOPPED,
    EPOCH,
    EPOCH_METRICS,
    FAILED,
    LR,
    MODE_OF,
    RUNNING,
    STATUS,
    TIMED_OUT,
    final_status,
)
from core.storage import ExperimentError, Store, open_experiment
from core.uri import join

log = logging.getLogger(__name__)


STUDY_FIELDS: dict[str, str] = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "dropout": "model.dropout",
    "weight_decay": "train.weight_decay",
    "optimizer": "train.optimizer",
    "backbone": "model.backbone",
    "edgenet": "model.edgenet.mode",
    "balance": "data.balance.strategy",
}
"""Config fields every trial row carries as `cfg_<name>` (the study's six, plus what the comparison needs)."""

EXTRA_EPOCH_FIELDS = (*COST_METRICS, LR, "train_loss_running", "epoch_time_s", "images_per_s", "time_total_s",
                      "time_this_iter_s", "timestamp", "training_iteration", "checkpoint_dir_name")
TRIAL_ID_IN_DIRNAME = re.compile(r"_([0-9a-f]{5}_\d{5}|[0-9a-f]{8})_\d+_")
"""Ray's trial folder names: <trainable>_<trial id>_<index>_<params>_<date>; ids look like ab12c_00000 or 7eb3f7f3."""


@dataclass(frozen=True)
class Collected:
    """An experiment read from disk: its metadata and the trials / epochs tables."""

    name: str
    location: str
    meta: Mapping[str, Any]
    """sweep.json as written by the sweep."""
    trials: pd.DataFrame
    """One row per trial (see docs/results.md for the columns)."""
    epochs: pd.DataFrame
    """One row per trial and epoch: trial_id, epoch and every metric the trainer reported."""
    params: tuple[str, ...]
    """The searched parameter keys; their values are the `param_<key>` columns of `trials`."""
    evaluation: Optional[Mapping[str, Any]] = None
    """results/evaluation.json (test-set evaluation of the top trials), when it was run."""
    calibration: Optional[Mapping[str, Any]] = None
    """results/calibration.json (the last exported trial's temperature scaling, deploy.export), when it was run."""
    sweep: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """sweep.yaml as a plain mapping (the search space is under `search.space`)."""
    trial_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    """trial id -> the training config the trial ran (its trial_config.yaml, as a plain mapping)."""

    @property
    def metric(self) -> str:
        return self.meta.get("metric", "val_f1")

    @property
    def mode(self) -> str:
        return self.meta.get("mode") or MODE_OF.get(self.metric, "max")

    @property
    def finished(self) -> bool:
        return bool(self.meta.get("finished_at"))

    def trial_config(self, trial_id: str) -> Mapping[str, Any]:
        """The training config (data / model / train) trial `trial_id` ran, as written beside its results."""
        try:
            return self.trial_configs[str(trial_id)]
        except KeyError:
            raise ExperimentError(f"{self.location}: trial {trial_id} has no readable {TRIAL_CONFIG}; "
                                  "the config it ran is unknown") from None

    def best_trial(self) -> Optional[pd.Series]:
        """The trial row with the best value of the sweep metric at its best epoch (None without results)."""
        ranked = rank_trials(self.trials, self.metric, self.mode)
        return None if ranked.empty else ranked.iloc[0]


def collect(experiment: str) -> Collected:
    """Read an experiment directory (local path or URI) into a `Collected`; ExperimentError if it is not one."""
    store = open_experiment(experiment)
    meta = store.read_json(SWEEP_INFO, default={})
    if not isinstance(meta, dict):
        raise ExperimentError(f"{store.shown}/sweep.json: must hold a JSON object, not {type(meta).__name__}")
    sweep = _load_sweep_mapping(store)
    status_file = store.read_json(STATUS_FILE, default={}) or {}
    logged = _epoch_log(store)
    trial_rows, epoch_frames, configs = [], [], {}
    for dirname in _trial_dirs(store):
        config = _trial_config(store, dirname)
        epochs, row = _collect_trial(store, dirname, meta, config, status_file, logged)
        trial_rows.append(row)
        epoch_frames.append(epochs)
        if config is not None:
            configs[row["trial_id"]] = config
    trial_rows += _trials_without_folder(status_file, {r["trial_id"] for r in trial_rows}, meta)
    params = _param_keys(meta, trial_rows)
    trials = _finish_trials(pd.DataFrame(trial_rows), params, meta)
    epochs = pd.concat(epoch_frames, ignore_index=True) if epoch_frames else _empty_epochs()
    evaluation = store.read_json(RESULTS_DIR, EVALUATION_FILE, default=None)
    calibration = store.read_json(RESULTS_DIR, CALIBRATION_FILE, default=None)
    name = meta.get("name") or store.root.rstrip("/").rsplit("/", 1)[-1]
    problem = folder_name_problem(name)
    if problem:  # the report writes <out>/<name>/ and tables/leaderboard_<name>.*
        raise ExperimentError(f"{store.shown}/{SWEEP_INFO}: name is {name!r}, but {problem}")
    return Collected(name=name, location=store.uri, meta=meta, trials=trials, epochs=epochs,
                     params=params, evaluation=evaluation, calibration=calibration, sweep=sweep, trial_configs=configs)


def rank_trials(trials: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Trials with a value of `metric`, best first (by the value at each trial's best epoch)."""
    column = f"best_{metric}"
    if trials.empty or column not in trials:
        return trials.iloc[0:0]
    ranked = trials[trials[column].notna()]
    return ranked.sort_values([column, "trial_number"], ascending=[mode == "min", True], kind="stable")


def save_parquet(collected: Collected, out_dir: Optional[str] = None) -> tuple[str, str]:
    """Write trials.parquet and epochs.parquet (default: EXP/results/); returns their locations."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out_dir is None:
        store, parts = open_experiment(collected.location, require=None), (RESULTS_DIR,)
    else:
        if "://" not in out_dir:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        store, parts = open_experiment(out_dir, require=None), ()
    store.fs.create_dir(store.path(*parts), recursive=True)
    written = []
    for name, frame in (("trials.parquet", collected.trials), ("epochs.parquet", collected.epochs)):
        table = pa.Table.from_pandas(_parquet_safe(frame), preserve_index=False)
        pq.write_table(table, store.path(*parts, name), filesystem=store.fs)
        written.append(join(store.uri, *parts, name))
    return written[0], written[1]


# ---------------------------------------------------------------- one trial


def _collect_trial(store: Store, dirname: str, meta: Mapping[str, Any], config: Optional[Mapping],
                   status_file: Mapping[str, Any], logged: Mapping[str, dict]) -> tuple[pd.DataFrame, dict]:
    rows = _read_result_rows(store, dirname)
    trial_id = _trial_id(rows, dirname, status_file)
    rows = _merge_rows(rows, logged.get(trial_id, {}))
    entry = status_file.get(trial_id) or {}
    params = store.read_json(dirname, "params.json", default=None) or entry.get("params") or {}
    params = _searched_params(params, meta)
    epochs = _epochs_frame(rows, trial_id)
    planned = _planned_epochs(entry, rows, config)
    has_error = store.exists(dirname, "error.txt") or store.exists(dirname, "error.pkl")
    status = final_status(recorded=entry.get("status"), errored=has_error,
                          trainer_status=epochs.iloc[-1][STATUS] if len(epochs) else None,
                          epochs_run=int(epochs[EPOCH].max()) if len(epochs) else 0, epochs_planned=planned,
                          ended=bool(meta.get("finished_at")))
    metrics = _metrics(epochs, meta)
    row = {
        "trial_id": trial_id, "trial_dir": dirname, "status": status,
        "epochs_run": int(epochs[EPOCH].max()) if len(epochs) else 0, "epochs_planned": planned,
        "error": entry.get("error") or (_first_line(store, dirname, "error.txt") if has_error else None),
        **{f"param_{k}": v for k, v in params.items()},
        **_config_fields(config, params, meta),
        **_timing(epochs),
        **metrics,
        **_checkpoint(store, dirname, epochs, metrics["best_epoch"]),
    }
    return epochs, row


def _read_result_rows(store: Store, dirname: str) -> list[dict]:
    if not store.exists(dirname, "result.json"):
        return []
    rows = []
    for line in store.read_text(dirname, "result.json").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the last line of a running trial may be half written
            log.warning("%s/%s/result.json: skipping a line that is not JSON", store.shown, dirname)
    return rows


def _epoch_log(store: Store) -> dict[str, dict]:
    """trial id -> {training_iteration: row} from the sweep's append-only epochs.jsonl (last line wins).

    Ray rewrites a restored trial's result.json from its last synced copy, which can drop the epochs
    reported before a failure; the driver's log keeps them.
    """
    if not store.exists(EPOCHS_FILE):
        return {}
    out: dict[str, dict] = {}
    for line in store.read_text(EPOCHS_FILE).splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line being written while we read
            continue
        out.setdefault(str(row.get("trial_id")), {})[row.get("training_iteration")] = row
    return out


def _merge_rows(rows: list[dict], logged: Mapping[Any, dict]) -> list[dict]:
    """result.json rows and the driver's log, one row per training iteration, in order."""
    by_iteration = {row.get("training_iteration"): row for row in rows}
    by_iteration.update(logged)
    return [by_iteration[k] for k in sorted(by_iteration, key=lambda k: (k is None, k or 0))]


def _trial_id(rows: list[dict], dirname: str, status_file: Mapping[str, Any]) -> str:
    for row in rows:
        if row.get("trial_id"):
            return str(row["trial_id"])
    for trial_id, entry in status_file.items():
        if isinstance(entry, Mapping) and entry.get("dir") == dirname:
            return str(trial_id)
    match = TRIAL_ID_IN_DIRNAME.search(dirname)
    return match.group(1) if match else dirname


def _epochs_frame(rows: list[dict], trial_id: str) -> pd.DataFrame:
    """One row per epoch; a trial restored from a checkpoint repeats epochs, and the latest report wins."""
    records = []
    for row in rows:
        epoch = row.get(EPOCH, row.get("training_iteration"))
        if epoch is None:
            continue
        record = {"trial_id": trial_id, EPOCH: int(epoch), STATUS: row.get(STATUS),
                  "epochs_planned": row.get("epochs_planned")}
        record.update({name: _number(row.get(name)) for name in EPOCH_METRICS})
        record.update({name: row.get(name) for name in EXTRA_EPOCH_FIELDS})
        records.append(record)
    if not records:
        return _empty_epochs()
    frame = pd.DataFrame(records).drop_duplicates(subset=[EPOCH], keep="last")
    return frame.sort_values(EPOCH, kind="stable").reset_index(drop=True)


def _empty_epochs() -> pd.DataFrame:
    columns = ["trial_id", EPOCH, STATUS, "epochs_planned", *EPOCH_METRICS, *EXTRA_EPOCH_FIELDS]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _planned_epochs(entry: Mapping[str, Any], rows: list[dict], config: Optional[Mapping]) -> Optional[int]:
    """train.epochs of the config the trial ran; without its trial_config.yaml, what the driver or trainer said."""
    epochs = _lookup(config, "train.epochs") if config is not None else None
    if epochs:
        return int(epochs)
    if entry.get("epochs_planned"):
        return int(entry["epochs_planned"])
    for row in reversed(rows):
        if row.get("epochs_planned"):
            return int(row["epochs_planned"])
    return None


def _config_fields(config: Optional[Mapping], params: Mapping[str, Any], meta: Mapping[str, Any]) -> dict:
    """The study's hyperparameters as this trial ran them (its trial_config.yaml).

    A trial without one (it never started, or an experiment from before trial configs were written) shows
    only its searched values, placed by sweep.json's parameter paths.
    """
    paths = meta.get("param_paths") or {}
    by_path = {paths.get(k, k): v for k, v in params.items()}
    return {f"cfg_{name}": _lookup(config, dotted) if config is not None else by_path.get(dotted)
            for name, dotted in STUDY_FIELDS.items()}


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _timing(epochs: pd.DataFrame) -> dict:
    if epochs.empty:
        return {"wall_time_s": 0.0, "started_ts": math.nan, "ended_ts": math.nan}
    last = epochs.iloc[-1]
    total = _number(last.get("time_total_s"))
    first = epochs.iloc[0]
    start = _number(first.get("timestamp")) - (_number(first.get("time_this_iter_s")) or 0.0)
    if math.isnan(total):
        total = float(pd.to_numeric(epochs["epoch_time_s"], errors="coerce").sum())
    return {"wall_time_s": total, "started_ts": start, "ended_ts": _number(last.get("timestamp"))}


def _metrics(epochs: pd.DataFrame, meta: Mapping[str, Any]) -> dict:
    """final_<m> (last epoch) and best_<m> (at the epoch where the sweep metric was best) for every metric."""
    metric = meta.get("metric", "val_f1")
    mode = meta.get("mode") or MODE_OF.get(metric, "max")
    out: dict[str, Any] = {"best_epoch": None}
    valid = epochs[epochs[metric].notna()] if metric in epochs and len(epochs) else epochs.iloc[0:0]
    best = None
    if len(valid):
        best = valid.loc[valid[metric].idxmax() if mode == "max" else valid[metric].idxmin()]
        out["best_epoch"] = int(best[EPOCH])
    last = epochs.iloc[-1] if len(epochs) else None
    for name in EPOCH_METRICS:
        out[f"final_{name}"] = _number(last[name]) if last is not None else math.nan
        out[f"best_{name}"] = _number(best[name]) if best is not None else math.nan
    for name in COST_METRICS:  # measured once per trial (search.objectives), the same in every epoch
        out[name] = _number(last[name]) if last is not None and name in epochs else math.nan
    return out


def _checkpoint(store: Store, dirname: str, epochs: pd.DataFrame, best_epoch: Optional[int]) -> dict:
    """The checkpoint of the best epoch if Ray kept it, else the latest kept one."""
    kept = [d for d in store.subdirs(dirname) if d.startswith("checkpoint_")]
    best_name = None
    if best_epoch is not None:
        row = epochs[epochs[EPOCH] == best_epoch].iloc[0]
        best_name = row.get("checkpoint_dir_name")
    if best_name in kept:
        return {"checkpoint": f"{dirname}/{best_name}", "checkpoint_is_best": True}
    if kept:
        return {"checkpoint": f"{dirname}/{kept[-1]}", "checkpoint_is_best": False}
    return {"checkpoint": None, "checkpoint_is_best": False}


# ---------------------------------------------------------------- the experiment


def _load_sweep_mapping(store: Store) -> dict:
    """sweep.yaml as a plain mapping (the report shows its search space); {} when it is missing or unreadable."""
    if not store.exists(SWEEP_CONFIG):
        log.warning("%s: no sweep.yaml; the search space is not shown", store.shown)
        return {}
    return _read_yaml(store, SWEEP_CONFIG) or {}


def _trial_config(store: Store, dirname: str) -> Optional[dict]:
    """The trial's trial_config.yaml as a plain mapping; None when it has none (or it does not parse)."""
    if not store.exists(dirname, TRIAL_CONFIG):
        return None
    return _read_yaml(store, dirname, TRIAL_CONFIG)


def _read_yaml(store: Store, *parts: str) -> Optional[dict]:
    try:
        data = yaml.safe_load(store.read_text(*parts))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        log.warning("%s/%s: does not load (%s)", store.shown, "/".join(parts), str(err).splitlines()[0])
        return None
    if not isinstance(data, dict):
        log.warning("%s/%s: not a mapping", store.shown, "/".join(parts))
        return None
    return data


def _trial_dirs(store: Store) -> list[str]:
    """Ray Tune trial folders: those holding a result.json or a params.json."""
    return [d for d in store.subdirs()
            if d != RESULTS_DIR and (store.exists(d, "result.json") or store.exists(d, "params.json"))]


def _trials_without_folder(status_file: Mapping[str, Any], seen: set, meta: Mapping[str, Any]) -> list[dict]:
    """Trials the driver recorded that never wrote a folder (e.g. failed while starting)."""
    rows = []
    for trial_id, entry in status_file.items():
        if trial_id in seen or not isinstance(entry, Mapping):
            continue
        params = _searched_params(entry.get("params") or {}, meta)
        rows.append({
            "trial_id": trial_id, "trial_dir": None, "status": entry.get("status") or FAILED,
            "epochs_run": int(entry.get("epochs_run") or 0), "epochs_planned": entry.get("epochs_planned"),
            "error": entry.get("error"), **{f"param_{k}": v for k, v in params.items()},
            **_config_fields(None, params, meta), **_timing(_empty_epochs()),
            **_metrics(_empty_epochs(), meta), "checkpoint": None, "checkpoint_is_best": False,
        })
    return rows


def _searched_params(params: Mapping[str, Any], meta: Mapping[str, Any]) -> dict:
    """params.json may carry more than the search space; keep the searched keys when sweep.json names them."""
    paths = meta.get("param_paths")
    if not paths:
        return dict(params)
    return {k: v for k, v in params.items() if k in paths}


def _param_keys(meta: Mapping[str, Any], rows: list[dict]) -> tuple[str, ...]:
    keys = list(meta.get("param_paths") or {})
    for row in rows:
        keys += [c[len("param_"):] for c in row if c.startswith("param_") and c[len("param_"):] not in keys]
    return tuple(keys)


def _finish_trials(trials: pd.DataFrame, params: tuple[str, ...], meta: Mapping[str, Any]) -> pd.DataFrame:
    """Order by start, number the trials, and add the derived columns (status label, GPU-hours, wall clock)."""
    if trials.empty:
        return _empty_trials(params)
    for key in params:
        if f"param_{key}" not in trials:
            trials[f"param_{key}"] = None
    trials = trials.sort_values(["started_ts", "trial_id"], kind="stable", na_position="last").reset_index(drop=True)
    trials.insert(1, "trial_number", range(len(trials)))
    trials.insert(3, "status_label", [_status_label(r) for r in trials.itertuples()])
    gpu = float((meta.get("resources") or {}).get("gpu") or 0.0)
    cpu = float((meta.get("resources") or {}).get("cpu") or 0.0)
    trials["gpu_hours"] = gpu * trials["wall_time_s"].astype(float) / 3600.0
    trials["cpu_hours"] = cpu * trials["wall_time_s"].astype(float) / 3600.0
    origin = _experiment_start(meta, trials)
    trials["ended_after_s"] = trials["ended_ts"].astype(float) - origin
    for column in ("best_epoch", "epochs_planned", "epochs_run"):
        trials[column] = pd.array([None if not _present(v) else int(v) for v in trials[column]], dtype="Int64")
    return trials


def _empty_trials(params: tuple[str, ...]) -> pd.DataFrame:
    """No trial yet (a sweep that just started): every column, no rows."""
    columns = ["trial_id", "trial_number", "trial_dir", "status_label", "status", "epochs_run", "epochs_planned",
               "error", *(f"param_{k}" for k in params), *(f"cfg_{k}" for k in STUDY_FIELDS),
               "wall_time_s", "started_ts", "ended_ts", "best_epoch",
               *(f"{kind}_{m}" for m in EPOCH_METRICS for kind in ("final", "best")), *COST_METRICS,
               "checkpoint", "checkpoint_is_best", "gpu_hours", "cpu_hours", "ended_after_s"]
    numeric = {"trial_number", "epochs_run", "epochs_planned", "best_epoch", "wall_time_s", "started_ts",
               "ended_ts", "gpu_hours", "cpu_hours", "ended_after_s", *COST_METRICS}
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in numeric or c.startswith(("final_", "best_"))
                                      else "object") for c in columns})


def _status_label(row: Any) -> str:
    """completed | early-stopped at epoch E | diverged at epoch E | timed out at epoch E | failed (at epoch E) | running (epoch E of N)."""
    epochs = int(row.epochs_run or 0)
    if row.status == TIMED_OUT:
        return f"timed out at epoch {epochs}"
    if row.status == EARLY_STOPPED:
        return f"early-stopped at epoch {epochs}"
    if row.status == DIVERGED:
        return f"diverged at epoch {epochs}"
    if row.status == FAILED:
        return f"failed at epoch {epochs}" if epochs else "failed"
    if row.status == RUNNING:
        planned = f" of {int(row.epochs_planned)}" if _present(row.epochs_planned) else ""
        return f"running (epoch {epochs}{planned})"
    return str(row.status)


def _experiment_start(meta: Mapping[str, Any], trials: pd.DataFrame) -> float:
    started = meta.get("started_at")
    if started:
        try:
            return datetime.fromisoformat(str(started).replace("Z", "+00:00")).timestamp()
        except ValueError:
            log.warning("sweep.json started_at %r is not an ISO time; using the first trial's start", started)
    first = pd.to_numeric(trials["started_ts"], errors="coerce").min()
    return float(first) if pd.notna(first) else 0.0


# ---------------------------------------------------------------- helpers


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _first_line(store: Store, *parts: str) -> Optional[str]:
    try:
        lines = [ln for ln in store.read_text(*parts).splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError):
        return None
    return lines[-1][:300] if lines else None  # a traceback's last line says what went wrong


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing types (a categorical parameter of numbers and strings) are stored as text."""
    out = frame.copy()
    for column in out.columns[out.dtypes == object]:
        kinds = {type(v) for v in out[column] if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if len(kinds) > 1:
            out[column] = out[column].map(lambda v: None if v is None else str(v))
    return out


@command
def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m results.collect",
        description="Collect an experiment directory (local path or s3:// URI) into trials.parquet and "
                    "epochs.parquet; works on finished, running and interrupted sweeps, without Ray.")
    parser.add_argument("experiment", help="experiment directory: <storage path>/<experiment name>")
    parser.add_argument("--out", default=None, help="output folder (default: EXPERIMENT/results)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    collected = collect(args.experiment)
    paths = save_parquet(collected, args.out)
    counts = collected.trials["status"].value_counts().to_dict() if len(collected.trials) else {}
    log.info("%d trials (%s), %d epoch rows -> %s", len(collected.trials),
             ", ".join(f"{n} {s}" for s, n in counts.items()) or "none", len(collected.epochs), ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
