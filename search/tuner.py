"""One factory builds the Tuner for a new sweep and for its resumption (Tuner.restore needs the same trainable).

Everything that talks to Ray Tune's scheduling API lives here: the trainable with its parameters and
resources, the searcher, the scheduler, failure and checkpoint policy, and the driver-side recorder of
each trial's fate (`trial_status.json`).
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from core import atomic, jsonl
from core.layout import EPOCHS_FILE, STATUS_FILE, STUDY_FILE
from core.names import FAILED, RUNNING, STATUS, TRIAL_STATUSES, VAL_ACC, VAL_F1, VAL_LOSS, final_status
from core.schema import ConfigError, to_mapping
from core.uri import without_query
from search.config import ExperimentConfig
from search.experiment import Experiment, guarded_write, write_trial_config
from search.replay import replay_trial
from search.searcher import FixedPoints, make_searcher
from search.space import trial_run_config
from search.tracking import SweepTracking
from search.trainable import train_trial

logger = logging.getLogger(__name__)


def make_scheduler(cfg: ExperimentConfig) -> TrialScheduler:
    """ASHA over epochs (`training_iteration`), max_t = the largest epoch count in the space; or FIFO."""
    sched = cfg.search.scheduler
    if sched.type == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", metric=cfg.search.metric, mode=cfg.search.metric_mode,
                         max_t=cfg.max_epochs, grace_period=sched.grace_period,
                         reduction_factor=sched.reduction_factor, brackets=1)


def make_trainable(cfg: ExperimentConfig, cache_path: str) -> Any:
    """The trainable with the sweep config and cache path bound, and the per-trial resources."""
    if cfg.replay.table:  # recorded curves, no training: search.replay
        bound = tune.with_parameters(replay_trial, experiment=to_mapping(cfg))
    else:
        bound = tune.with_parameters(train_trial, experiment=to_mapping(cfg), cache_path=cache_path)
    return tune.with_resources(bound, {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})


def build_tuner(cfg: ExperimentConfig, experiment: Experiment, *, cache_path: str, resume: bool = False,
                points: Optional[list[dict]] = None) -> tune.Tuner:
    """A Tuner for `cfg` stored in `experiment`; `resume` restores it from there.

    `points`: run exactly these trial parameters, once each, with no sampling and no Optuna study
    (search.confirm); a resumed Tuner brings its points back with its searcher's state.

    On a URI the filesystem is opened here and handed to Ray, so the URI's connection options and its
    10-attempt retry policy reach every trial with it (`PatientS3FileSystem` keeps both when pickled).
    """
    trainable = make_trainable(cfg, cache_path)
    filesystem, path = experiment.filesystem() if experiment.remote else (None, str(experiment.path))
    if resume:
        return tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                  storage_filesystem=filesystem)
    search = cfg.search
    stop = {"time_total_s": search.trial_timeout_s} if search.trial_timeout_s else None
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(cfg, experiment) if points is None else FixedPoints(points),
            scheduler=make_scheduler(cfg),
            num_samples=search.num_samples if points is None else len(points),
            max_concurrent_trials=search.max_concurrent,
            reuse_actors=reuse_actors(cfg),
        ),
        run_config=tune.RunConfig(
            name=experiment.name,
            storage_path=str(PurePosixPath(path).parent),
            storage_filesystem=filesystem,
            stop=stop,
            callbacks=[*make_callbacks(cfg, experiment), *trial_loggers()],
            failure_config=tune.FailureConfig(max_failures=search.max_failures),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute=search.metric,
                checkpoint_score_order=search.metric_mode),
            progress_reporter=make_reporter(cfg),
            verbose=1,
        ),
    )


def reuse_actors(cfg: ExperimentConfig) -> bool:
    """Whether a finished trial's Ray actor (its worker process, torch and timm imported) runs the next trial.

    A fresh actor costs each trial a new process and its imports: the 4-trial smoke sweep on 2 slots takes
    19.8 s with fresh actors and 14.7 s reused, about 2.5 s for each of the two trials that reused one. Not with a trial time limit: the watchdog stops a hung
    trial by reporting for it, its hung thread stays in the process, and Ray would hand that process to the
    next trial, whose reset then fails and aborts a trial that did nothing wrong. With search.trial_timeout_s
    set every trial gets a fresh process, and a hung one goes when Tune ends its actor. A trial that raised
    never hands its actor on (Tune ends it); a trial's memory is freed when it returns (train_trial).
    """
    return cfg.search.trial_timeout_s is None


def make_callbacks(cfg: ExperimentConfig, experiment: Experiment) -> list[tune.Callback]:
    """The driver's callbacks: the trial recorder first (the tracker reads the fates it records)."""
    recorder = SweepRecorder(cfg, experiment.name)
    callbacks: list[tune.Callback] = [recorder, StudyUploader(experiment)]
    if cfg.tracking.mlflow:
        sweep_params = {"metric": cfg.search.metric, "mode": cfg.search.metric_mode, "num_samples": cfg.search.num_samples,
                        "scheduler": cfg.search.scheduler.type, "sampler": cfg.search.sampler.type,
                        "backbone": cfg.model.backbone, "replay": bool(cfg.replay.table)}
        # The parent run is found again by where the experiment lives: the same on resume however it was named.
        location = without_query(experiment.location) if experiment.remote else str(experiment.path.resolve())
        tracking = SweepTracking(cfg.tracking.mlflow, experiment.name, location, sweep_params)
        callbacks.append(MlflowTracker(tracking, recorder))
    return callbacks


def trial_loggers() -> list[tune.Callback]:
    """Ray's CSV and JSON trial loggers (results.collect reads result.json), without its TensorBoard one.

    Tune adds a TBXLoggerCallback unless told not to, and tensorboardX imports torch: 5.5 s of the driver's
    start-up on these cores, in a process that never needs torch. `tensorboard --logdir` users: the CSV and
    JSON logs hold every metric.
    """
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ.setdefault(NO_AUTO_LOGGERS, "1")
    return [CSVLoggerCallback(), JsonLoggerCallback()]


NO_AUTO_LOGGERS = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"


def make_reporter(cfg: ExperimentConfig) -> tune.CLIReporter:
    """One compact table, best trials first: the searched parameters and the metrics that matter.

    Needs Ray's classic output (RAY_AIR_NEW_OUTPUT=0, set by search.run): the newer engine prints a
    config box and a result box for every trial, which floods a 64-trial sweep.
    """
    metrics = {"epoch": "epoch", VAL_ACC: "val acc", VAL_F1: "val F1", VAL_LOSS: "val loss", STATUS: "status"}
    # Conditional parameters (momentum only for sgd) are left out: the reporter fails on trials without them.
    always_sampled = [name for name, spec in cfg.search.space.items() if not spec.when]
    return tune.CLIReporter(parameter_columns=always_sampled, metric_columns=metrics,
                            sort_by_metric=True, metric=cfg.search.metric, mode=cfg.search.metric_mode,
                            max_progress_rows=20, max_error_rows=5, max_report_frequency=30)


class SweepRecorder(tune.Callback):
    """Records each trial's fate as trials start, report and end (driver side): in `trial_status.json`,
    and as Ray metrics for the dashboard's Metrics view and Prometheus:

        ray_edgetune_trials{experiment, status}   trials per status (running, completed, early_stopped, ...)
        ray_edgetune_best_metric{experiment, metric}   the best value of the sweep's metric so far

    Ray knows a trial TERMINATED; only the trainer's last `status` and the planned epochs tell
    whether it completed, was stopped early by the scheduler, diverged or timed out.
    """

    def __init__(self, cfg: ExperimentConfig, name: str):
        self._cfg = cfg
        self._name = name
        self._path: Optional[Path] = None
        self._trials: dict[str, dict] = {}
        self._best: Optional[float] = None
        self._gauges: Optional[tuple] = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_gauges": None}  # Ray pickles callbacks with the Tuner; metrics stay in this process

    def __setstate__(self, state: dict) -> None:
        # A sweep started by an older version pickled fewer fields; resuming it must not fail on them.
        self.__dict__.update({"_name": "", "_best": None, "_gauges": None, **state})

    def setup(self, **info: Any) -> None:
        self._path = None  # resolved from the first trial: the experiment folder on this driver
        from ray.util.metrics import Gauge

        self._gauges = (Gauge("edgetune_trials", "Trials of the sweep per status", ("experiment", "status")),
                        Gauge("edgetune_best_metric", "Best value of the sweep's metric so far", ("experiment", "metric")))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._locate(trial)
        params = dict(trial.config)
        entry = self._trials.setdefault(trial.trial_id, {"epochs_run": 0, "error": None})
        entry.update(status=RUNNING, params=params, epochs_planned=self._record_config(trial, params),
                     dir=Path(trial.local_path).name)
        self._save()

    def _record_config(self, trial: Any, params: dict) -> Optional[int]:
        """Write the trial's trial_config.yaml; its planned epochs. A callback that raises would end the sweep."""
        try:
            run = trial_run_config(self._cfg, params)  # what the trainable trains: the same function and inputs
            write_trial_config(Path(trial.local_path), run)
        except (ConfigError, OSError) as err:
            logger.warning("trial %s: its config was not recorded (%s)", trial.trial_id, err)
            return None
        return run.train.epochs

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._append_epoch(trial, result)
        entry = self._trials.setdefault(trial.trial_id, {"error": None, "params": dict(trial.config)})
        entry.update(epochs_run=int(result.get("training_iteration", 0)), trainer_status=result.get(STATUS),
                     time_total_s=float(result.get("time_total_s", 0.0)))
        self._track_best(result)
        self._save()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self._trials.setdefault(trial.trial_id, {"error": None, "params": dict(trial.config)})
        entry["status"] = self._final_status(entry)
        self._save()

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self._trials.setdefault(trial.trial_id, {"error": None, "params": dict(trial.config)})
        entry.update(retries=entry.get("retries", 0) + 1, retried_after=_first_error_line(trial))
        self._save()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        entry = self._trials.setdefault(trial.trial_id, {"params": dict(trial.config)})
        entry.update(status=FAILED, error=_first_error_line(trial))
        self._save()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._save()

    def status_of(self, trial_id: str) -> Optional[str]:
        """The fate recorded for a trial (completed, early_stopped, ..., running), None if unknown."""
        return self._trials.get(trial_id, {}).get("status")

    def _final_status(self, entry: dict) -> str:
        return final_status(trainer_status=entry.get("trainer_status"), epochs_run=entry.get("epochs_run", 0),
                            epochs_planned=entry.get("epochs_planned"), time_total_s=entry.get("time_total_s", 0.0),
                            timeout_s=self._cfg.search.trial_timeout_s)

    @guarded_write("the sweep's staging folder")
    def _locate(self, trial: Any) -> None:
        """Write into the driver's staging folder, which Tune uploads to the experiment's storage.

        A resumed sweep starts from a fresh staging folder that Tune fills only with .json/.pkl files:
        bring the epoch log back from storage too, so both files keep what the first run recorded.
        """
        if self._path is not None or not trial.local_experiment_path:
            return
        staging = Path(trial.local_experiment_path)
        self._path = staging / STATUS_FILE
        if not (staging / EPOCHS_FILE).exists():
            _download(trial.storage.storage_filesystem, f"{trial.remote_experiment_path}/{EPOCHS_FILE}",
                      staging / EPOCHS_FILE)
        self._trials = {**_read_status(self._path), **self._trials}
        for row in jsonl.repair(staging / EPOCHS_FILE):  # the best so far includes the first run's epochs
            self._track_best(row)

    def _track_best(self, result: dict) -> None:
        value = result.get(self._cfg.search.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            better = max if self._cfg.search.metric_mode == "max" else min
            self._best = value if self._best is None else better(self._best, value)

    @guarded_write("the epoch log (epochs.jsonl)")
    def _append_epoch(self, trial: Any, result: dict) -> None:
        """One line per reported epoch in `epochs.jsonl`, append-only: Ray rewrites a restored trial's
        result.json from its last synced copy and can drop the epochs before a failure."""
        self._locate(trial)
        if self._path is None:
            return
        row = {k: v for k, v in result.items() if k != "config" and isinstance(v, (int, float, str, bool, type(None)))}
        with (self._path.parent / EPOCHS_FILE).open("a") as f:
            f.write(json.dumps({"trial_id": trial.trial_id, **row}, default=str) + "\n")

    @guarded_write("the trial status (trial_status.json)")
    def _save(self) -> None:
        self._export_metrics()
        if self._path is None:
            return
        atomic.write_json(self._path, self._trials, indent=1, sort_keys=True, default=str)

    def _export_metrics(self) -> None:
        if self._gauges is None:
            return
        trials, best = self._gauges
        name = self._name
        counts = Counter(entry.get("status", RUNNING) for entry in self._trials.values())
        for status in TRIAL_STATUSES:
            trials.set(counts[status], tags={"experiment": name, "status": status})
        if self._best is not None:
            best.set(self._best, tags={"experiment": name, "metric": self._cfg.search.metric})


class MlflowTracker(tune.Callback):
    """Feeds the sweep's MLflow runs (search.tracking) from the driver; trials never import MLflow."""

    def __init__(self, tracking: SweepTracking, recorder: SweepRecorder):
        self._tracking, self._recorder = tracking, recorder

    def setup(self, **info: Any) -> None:
        self._tracking.start()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._tracking.trial_started(trial.trial_id, dict(trial.config), Path(trial.local_path).name)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._tracking.trial_result(trial.trial_id, dict(trial.config), result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._tracking.trial_ended(trial.trial_id, dict(trial.config), self._recorder.status_of(trial.trial_id))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._tracking.trial_ended(trial.trial_id, dict(trial.config), FAILED)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._tracking.sweep_ended()


class StudyUploader(tune.Callback):
    """Sends the Optuna study to an experiment stored at a URI whenever it changes (trials start and end).

    Ray uploads its own state; the study is the driver's file. A sweep killed between two uploads loses
    at most the intermediate values of running trials, which re-report them when they resume.
    """

    def __init__(self, experiment: Experiment):
        self._experiment = experiment

    def _upload(self) -> None:
        if self._experiment.remote:
            self._experiment.try_upload(STUDY_FILE)  # the store away for now: the next upload carries everything

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._upload()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._upload()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._upload()


def _read_status(path: Path) -> dict:
    """The trial statuses recorded so far; a torn or foreign file is set aside (the trials report again)."""
    if not path.exists():
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError:
        recorded = None
    if isinstance(recorded, dict) and all(isinstance(v, dict) for v in recorded.values()):
        return recorded
    aside = path.with_name(path.name + ".broken")
    os.replace(path, aside)
    logger.warning("warning: %s is not a status file (torn by a kill?): set aside as %s, statuses are recorded "
                   "again as the trials report", path, aside.name)
    return {}


def _download(filesystem: Any, remote: str, local: Path) -> None:
    """Copy one file from the experiment's storage (local or s3://) if it is there."""
    import pyarrow.fs

    try:
        pyarrow.fs.copy_files(remote, str(local), source_filesystem=filesystem)
    except FileNotFoundError:
        pass


def _first_error_line(trial: Any) -> str:
    try:
        text = Path(trial.error_file).read_text(errors="replace") if trial.error_file else ""
    except OSError:
        return "trial failed (error file unreadable)"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "trial failed"
