"""Optional MLflow tracking of a sweep (`tracking: {mlflow: URI}`), written from the driver only.

The sweep is one parent run; each trial a nested run with its sampled parameters, one metric point per
epoch (step = epoch) and, when it ends, its final status (tag `edgetune.status`: completed, early_stopped,
diverged, timed_out, failed) and the MLflow run status that stands for it. Trials need no MLflow: the
driver's Tune callback (search/tuner.py, `MlflowTracker`) feeds `SweepTracking` what the trials report.

Runs are found again by tags, never created twice: the parent by the experiment's location
(`edgetune.sweep_id`, a digest of it), each trial by `edgetune.trial_id` under that parent. A resumed
sweep (a new driver) therefore continues the same runs. Tracking is a side channel: a store that cannot be
reached, or that fails mid-sweep, is reported once as a warning and the sweep goes on untracked.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from typing import Any, Callable, Mapping, Optional

from core.names import (
    COMPLETED,
    COST_METRICS,
    DIVERGED,
    EARLY_STOPPED,
    EPOCH,
    EPOCH_METRICS,
    FAILED,
    LR,
    TIMED_OUT,
)
from core.schema import ConfigError

log = logging.getLogger(__name__)

SWEEP_ID_TAG = "edgetune.sweep_id"
LOCATION_TAG = "edgetune.experiment"
TRIAL_ID_TAG = "edgetune.trial_id"
STATUS_TAG = "edgetune.status"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests a run under the run it names
EXTRA_EPOCH_METRICS = (LR, "epoch_time_s", "images_per_s", *COST_METRICS)
"""Logged per epoch beside EPOCH_METRICS when a trial reports them (cost metrics: multi-objective sweeps)."""

RUN_STATUS_OF = {COMPLETED: "FINISHED", EARLY_STOPPED: "FINISHED", DIVERGED: "FINISHED", TIMED_OUT: "KILLED",
                 FAILED: "FAILED"}
"""The MLflow run status of each trial fate (a diverged trial ran to its end: its status tag says how)."""

HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
"""An unreachable tracking server costs the driver seconds, not MLflow's default minutes of retries
(set only where the environment does not already choose)."""


def require_mlflow(uri: str) -> None:
    """Refuse `tracking.mlflow` before Ray starts when MLflow is not installed."""
    if not uri:
        return
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ConfigError("tracking.mlflow", uri, "needs MLflow, which is not installed: pip install "
                          "'edgetune[tracking]' (mlflow-skinny), or leave tracking.mlflow empty") from None


def sweep_id(location: str) -> str:
    """The tag value that finds a sweep's parent run again: a digest of the experiment's location."""
    return hashlib.sha256(location.encode("utf-8")).hexdigest()[:16]


def param_values(params: Mapping[str, Any]) -> dict[str, str]:
    """A trial's sampled parameters as MLflow params (strings; nested mappings flattened with dots)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in param_values(value).items()})
        else:
            flat[str(key)] = str(value)
    return flat


def epoch_metrics(result: Mapping[str, Any]) -> tuple[Optional[int], dict[str, float]]:
    """(step, metrics) of one reported epoch: the trainer's epoch and its finite numeric metrics."""
    step = result.get(EPOCH, result.get("training_iteration"))
    values = {k: float(result[k]) for k in (*EPOCH_METRICS, *EXTRA_EPOCH_METRICS)
              if isinstance(result.get(k), (int, float)) and not isinstance(result.get(k), bool)
              and math.isfinite(result[k])}
    return (int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else None), values


def run_status(fate: Optional[str]) -> str:
    """The MLflow run status of a trial's final status (unknown fates: FINISHED, the status tag says more)."""
    return RUN_STATUS_OF.get(fate or "", "FINISHED")


class SweepTracking:
    """A sweep's runs in one MLflow store: the parent, one nested run per trial, found by tag on resume.

    Every call is guarded: the first failure logs one warning and turns tracking off for this driver.
    """

    def __init__(self, uri: str, experiment_name: str, location: str, sweep_params: Mapping[str, Any]):
        self.uri, self.experiment_name, self.location = uri, experiment_name, location
        self.sweep_params = dict(sweep_params)
        self.client: Any = None
        self.experiment_id: Optional[str] = None
        self.parent_id: Optional[str] = None
        self.trial_runs: dict[str, str] = {}
        self.logged_step: dict[str, int] = {}
        """trial id -> the last epoch logged: a restored trial re-reports epochs, logged once each."""
        self.disabled = False

    def __getstate__(self) -> dict:
        # Pickled with the Tuner: the client is this process's, and a resumed sweep tries the store again.
        return {**self.__dict__, "client": None, "disabled": False}

    def _guarded(self, what: str, call: Callable[[], Any]) -> Any:
        if self.disabled:
            return None
        try:
            return call()
        except Exception as err:  # any failure of the side channel (network, store, MLflow) must not end the sweep
            self.disabled = True
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            log.warning("warning: MLflow tracking at %s failed while %s (%s); the sweep goes on without tracking",
                        self.uri, what, first)
            return None

    def start(self) -> None:
        """Connect, and find or create the experiment and the sweep's parent run."""
        self._guarded("starting the sweep's run", self._start)

    def _start(self) -> None:
        from mlflow import MlflowClient

        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        if self.client is None:
            self.client = MlflowClient(tracking_uri=self.uri)
        existing = self.client.get_experiment_by_name(self.experiment_name)
        self.experiment_id = existing.experiment_id if existing else self.client.create_experiment(self.experiment_name)
        found = self._find_run(f"tags.`{SWEEP_ID_TAG}` = '{sweep_id(self.location)}'")
        if found is not None:
            self.parent_id = found
            self.client.update_run(found, status="RUNNING")
            return
        run = self.client.create_run(self.experiment_id, run_name=self.experiment_name,
                                     tags={SWEEP_ID_TAG: sweep_id(self.location), LOCATION_TAG: self.location})
        self.parent_id = run.info.run_id
        self._log_params(self.parent_id, param_values(self.sweep_params))

    def _find_run(self, filter_string: str) -> Optional[str]:
        runs = self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=1)
        return runs[0].info.run_id if runs else None

    def _log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        if params:
            self.client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])

    def trial_started(self, trial_id: str, params: Mapping[str, Any], trial_dir: str = "") -> None:
        """The trial's nested run (created once, with its parameters); RUNNING again when a trial restarts."""
        self._guarded(f"starting trial {trial_id}'s run", lambda: self._trial_run(trial_id, params, trial_dir))

    def _trial_run(self, trial_id: str, params: Mapping[str, Any], trial_dir: str = "") -> str:
        if self.parent_id is None:
            raise RuntimeError("the sweep's parent run was not created")
        run_id = self.trial_runs.get(trial_id) or self._find_run(
            f"tags.`{TRIAL_ID_TAG}` = '{trial_id}' and tags.`{PARENT_TAG}` = '{self.parent_id}'")
        if run_id is None:
            tags = {TRIAL_ID_TAG: trial_id, PARENT_TAG: self.parent_id, **({"edgetune.trial_dir": trial_dir}
                                                                           if trial_dir else {})}
            run_id = self.client.create_run(self.experiment_id, run_name=trial_id, tags=tags).info.run_id
            self._log_params(run_id, param_values(params))
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.trial_runs[trial_id] = run_id
        return run_id

    def trial_result(self, trial_id: str, params: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """One epoch's metrics at step = epoch (an epoch re-reported after a restore is logged once)."""
        step, values = epoch_metrics(result)
        if step is None or not values or step <= self.logged_step.get(trial_id, 0):
            return

        def log_epoch() -> None:
            from mlflow.entities import Metric

            run_id = self.trial_runs.get(trial_id) or self._trial_run(trial_id, params)
            stamp = int(time.time() * 1000)
            self.client.log_batch(run_id, metrics=[Metric(k, v, stamp, step) for k, v in values.items()])
            self.logged_step[trial_id] = step

        self._guarded(f"logging trial {trial_id}'s epoch {step}", log_epoch)

    def trial_ended(self, trial_id: str, params: Mapping[str, Any], fate: Optional[str]) -> None:
        """Tag the trial's final status and end its run with the matching MLflow status."""
        def end() -> None:
            run_id = self.trial_runs.get(trial_id) or self._trial_run(trial_id, params)
            self.client.set_tag(run_id, STATUS_TAG, fate or "unknown")
            self.client.set_terminated(run_id, status=run_status(fate))

        self._guarded(f"ending trial {trial_id}'s run", end)

    def sweep_ended(self) -> None:
        """End the parent run (an interrupted sweep leaves it RUNNING; its resumption ends it)."""
        if self.parent_id is not None:
            self._guarded("ending the sweep's run", lambda: self.client.set_terminated(self.parent_id))
