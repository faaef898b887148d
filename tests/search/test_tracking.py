"""search.tracking: the mapping to MLflow (pure), the runs in a real local store (sqlite), and a real replayed sweep."""
from __future__ import annotations

import logging
import math
import time

import pytest

from core.names import COMPLETED, DIVERGED, EARLY_STOPPED, FAILED, TIMED_OUT
from core.schema import ConfigError
from search.config import TrackingConfig
from search.tracking import (
    PARENT_TAG,
    STATUS_TAG,
    TRIAL_ID_TAG,
    SweepTracking,
    epoch_metrics,
    param_values,
    run_status,
    sweep_id,
)
from tests.conftest import ROOT, run_cli

mlflow = pytest.importorskip("mlflow", reason="pip install 'edgetune[tracking]' (mlflow-skinny, in the test extra)")


def test_epoch_metrics_take_the_trainers_finite_numbers_at_its_epoch():
    step, values = epoch_metrics({"epoch": 3, "training_iteration": 5, "val_f1": 0.5, "val_loss": math.inf,
                                  "lr": 1e-3, "status": "running", "timestamp": 17, "done": False, "latency_ms": 2})
    assert step == 3 and values == {"val_f1": 0.5, "lr": 1e-3, "latency_ms": 2.0}
    assert epoch_metrics({"training_iteration": 2, "val_acc": 1})[0] == 2
    assert epoch_metrics({"val_acc": 0.1})[0] is None


def test_params_are_strings_and_statuses_map_to_mlflows():
    assert param_values({"lr": 1e-3, "optimizer": "adam", "aug": {"scale_min": 0.5}}) == {
        "lr": "0.001", "optimizer": "adam", "aug.scale_min": "0.5"}
    assert {f: run_status(f) for f in (COMPLETED, EARLY_STOPPED, DIVERGED, TIMED_OUT, FAILED, None)} == {
        COMPLETED: "FINISHED", EARLY_STOPPED: "FINISHED", DIVERGED: "FINISHED", TIMED_OUT: "KILLED",
        FAILED: "FAILED", None: "FINISHED"}
    assert sweep_id("/a/exp") == sweep_id("/a/exp") != sweep_id("/a/exp2")


@pytest.mark.parametrize("uri, rule", [
    ("experiments/mlflow.db", "must be an MLflow tracking URI"),
    ("ftp://host/x", "must be an MLflow tracking URI"),
    ("http://user:secret@host:5000", "carries credentials"),
])
def test_tracking_uri_is_checked_in_one_line(uri, rule):
    with pytest.raises(ConfigError, match=rule):
        TrackingConfig(mlflow=uri)
    assert TrackingConfig(mlflow="sqlite:///x/mlflow.db").mlflow and not TrackingConfig().mlflow


def _runs(uri: str, name: str):
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    return client, client.search_runs([experiment.experiment_id])


def test_runs_in_a_real_store_are_found_again_on_resume(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = SweepTracking(uri, "exp", "/storage/exp", {"metric": "val_f1"})
    first.start()
    first.trial_started("t1", {"lr": 0.01})
    for epoch in (1, 2):
        first.trial_result("t1", {"lr": 0.01}, {"epoch": epoch, "val_f1": 0.1 * epoch})
    # the driver is killed here; a resumed sweep is a new driver with the same experiment location
    second = SweepTracking(uri, "exp", "/storage/exp", {"metric": "val_f1"})
    second.start()
    assert second.parent_id == first.parent_id
    second.trial_started("t1", {"lr": 0.01})
    second.trial_started("t2", {"lr": 0.1})
    second.trial_result("t1", {"lr": 0.01}, {"epoch": 3, "val_f1": 0.3})
    second.trial_ended("t1", {"lr": 0.01}, COMPLETED)
    second.trial_ended("t2", {"lr": 0.1}, FAILED)
    second.sweep_ended()

    client, runs = _runs(uri, "exp")
    assert len(runs) == 3 and not first.disabled and not second.disabled
    parent = next(r for r in runs if r.info.run_id == first.parent_id)
    assert parent.info.status == "FINISHED" and parent.data.params == {"metric": "val_f1"}
    trials = {r.data.tags[TRIAL_ID_TAG]: r for r in runs if TRIAL_ID_TAG in r.data.tags}
    assert {t.data.tags[PARENT_TAG] for t in trials.values()} == {parent.info.run_id}
    assert trials["t1"].data.params == {"lr": "0.01"} and trials["t1"].data.tags[STATUS_TAG] == COMPLETED
    assert (trials["t1"].info.status, trials["t2"].info.status) == ("FINISHED", "FAILED")
    history = client.get_metric_history(trials["t1"].info.run_id, "val_f1")
    assert [(m.step, round(m.value, 6)) for m in history] == [(1, 0.1), (2, 0.2), (3, 0.3)]


def test_an_unreachable_server_warns_once_and_never_raises(caplog, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracking = SweepTracking("http://127.0.0.1:9", "exp", "/storage/exp", {})
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="search.tracking"):
        tracking.start()
        tracking.trial_started("t1", {"lr": 0.01})
        tracking.trial_result("t1", {}, {"epoch": 1, "val_f1": 0.1})
        tracking.trial_ended("t1", {}, COMPLETED)
        tracking.sweep_ended()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "the sweep goes on without tracking" in warnings[0], warnings
    assert tracking.disabled and time.monotonic() - start < 30


@pytest.mark.integration
def test_a_replayed_sweep_is_a_parent_run_with_one_nested_run_per_trial(tmp_path):
    """The real CLI, a real local Ray and a real sqlite tracking store, read back with MlflowClient."""
    import json

    from tests.search.test_replay import recorded_space_table

    table = tmp_path / "curves.parquet"
    recorded_space_table(table)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_cli("-m", "search.run", "--space", str(ROOT / "configs" / "bench" / "replay.yaml"),
                   "--storage", str(tmp_path / "exp"), "--name", "tracked", "--num-samples", "3",
                   "--max-concurrent", "2", "--no-report", "--set", f"replay.table={table}",
                   "--set", "replay.time_scale=0.05", "--set", "train.epochs=3", "--set", f"tracking.mlflow={uri}",
                   timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "import torch" not in proc.stderr and "MLflow tracking" not in proc.stderr + proc.stdout

    client, runs = _runs(uri, "tracked")
    status = json.loads((tmp_path / "exp" / "tracked" / "trial_status.json").read_text())
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.params["metric"] == "val_f1" and parents[0].data.params["replay"] == "True"
    trials = {r.data.tags[TRIAL_ID_TAG]: r for r in runs if PARENT_TAG in r.data.tags}
    assert set(trials) == set(status) and len(trials) == 3
    for trial_id, run in trials.items():
        assert run.data.tags[PARENT_TAG] == parents[0].info.run_id
        assert run.data.tags[STATUS_TAG] == status[trial_id]["status"]
        assert run.info.status == "FINISHED"
        assert set(run.data.params) == set(status[trial_id]["params"])
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_f1")]
        assert steps == list(range(1, status[trial_id]["epochs_run"] + 1)), (trial_id, steps)

    # --resume (a relative --storage this time): Tune restores the pickled tracker, which finds the same parent
    resumed = run_cli("-m", "search.run", "--resume", "--storage", "exp", "--name", "tracked", "--no-report",
                      timeout=300, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    _, again = _runs(uri, "tracked")
    assert sorted(r.info.run_id for r in again) == sorted(r.info.run_id for r in runs)
    assert {r.info.status for r in again} == {"FINISHED"}
    parent_again = next(r for r in again if r.info.run_id == parents[0].info.run_id)
    assert parent_again.info.end_time > parents[0].info.end_time  # the resumed driver tracked: it ended the parent again
