"""The driver's recorder without a cluster: trial fates, trial configs, and the merge a resumed sweep needs."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow.fs as pafs
import pytest
import yaml
from ray.tune.search import Searcher

from core.schema import from_mapping
from model.config import RunConfig
from search.config import load_config
from search.experiment import Experiment, clear_write_failures, write_failures
from search.searcher import make_searcher
from search.space import trial_run_config
from search.tuner import SweepRecorder, reuse_actors, trial_loggers
from tests.conftest import ROOT, fill

PARAMS = {"epochs": 3, "batch_size": 32, "lr": 0.001, "dropout": 0.1, "weight_decay": 0.01, "optimizer": "adam"}


@pytest.fixture
def cfg():
    return load_config(str(ROOT / "configs" / "demo.yaml"))


def fake_trial(staging: Path, remote: Path, trial_id: str, params: dict = PARAMS):
    """What the recorder reads of a Tune trial: ids, config, the driver's staging folders, the storage."""
    local = staging / f"train_trial_{trial_id}"
    return SimpleNamespace(trial_id=trial_id, config=params, local_path=str(local), local_experiment_path=str(staging),
                           remote_experiment_path=str(remote), error_file=None,
                           storage=SimpleNamespace(storage_filesystem=pafs.LocalFileSystem()))


def epoch(n: int, f1: float, status: str = "running") -> dict:
    return {"training_iteration": n, "epoch": n, "val_f1": f1, "status": status, "time_total_s": 10.0 * n}


def test_a_trial_start_writes_the_config_it_runs_and_its_end_is_decided_by_the_rule(cfg, tmp_path):
    recorder = SweepRecorder(cfg, "demo")
    trial = fake_trial(tmp_path / "staging", tmp_path / "store", "t1")
    recorder.on_trial_start(0, [], trial)
    written = yaml.safe_load((Path(trial.local_path) / "trial_config.yaml").read_text())
    assert from_mapping(RunConfig, written) == trial_run_config(cfg, PARAMS)
    for n in (1, 2):
        recorder.on_trial_result(0, [], trial, epoch(n, 0.1 * n))
    recorder.on_trial_complete(0, [], trial)
    status = json.loads((tmp_path / "staging" / "trial_status.json").read_text())["t1"]
    assert (status["status"], status["epochs_run"], status["epochs_planned"]) == ("early_stopped", 2, 3)
    lines = (tmp_path / "staging" / "epochs.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_a_resumed_driver_keeps_what_the_first_run_recorded(cfg, tmp_path):
    """A resumed sweep starts from an empty staging folder: the epoch log comes back from storage, the
    first run's fates are kept, and the best value so far counts the first run's epochs."""
    staging, store = tmp_path / "staging", tmp_path / "store"
    staging.mkdir()
    store.mkdir()
    first = {"t1": {"status": "completed", "epochs_run": 3, "epochs_planned": 3, "params": PARAMS, "error": None}}
    (staging / "trial_status.json").write_text(json.dumps(first))  # Tune brings back its .json files
    (store / "epochs.jsonl").write_text("".join(json.dumps({"trial_id": "t1", **epoch(n, f1)}) + "\n"
                                                for n, f1 in ((1, 0.2), (2, 0.9), (3, 0.5))))
    recorder = SweepRecorder(cfg, "demo")
    trial = fake_trial(staging, store, "t2", {**PARAMS, "epochs": 2})
    recorder.on_trial_start(0, [], trial)
    recorder.on_trial_result(0, [], trial, epoch(1, 0.4))
    status = json.loads((staging / "trial_status.json").read_text())
    assert status["t1"] == first["t1"] and status["t2"]["status"] == "running"
    assert [json.loads(line)["trial_id"] for line in (staging / "epochs.jsonl").read_text().splitlines()] == \
        ["t1", "t1", "t1", "t2"]
    assert recorder._best == 0.9  # the first run's best epoch, not the resumed run's


def test_an_older_pickled_recorder_resumes(cfg):
    recorder = SweepRecorder.__new__(SweepRecorder)
    recorder.__setstate__({"_cfg": cfg, "_path": None, "_trials": {}})  # fields of a sweep from an older version
    assert recorder._name == "" and recorder._best is None and recorder._gauges is None


def test_resume_repairs_a_torn_epoch_log_and_sets_aside_a_torn_status_file(cfg, tmp_path):
    """A kill mid-write leaves a last line without its newline: the next append must not glue onto it."""
    staging, store = tmp_path / "staging", tmp_path / "store"
    staging.mkdir()
    store.mkdir()
    (staging / "trial_status.json").write_text('{"t1": {"status": "comp')
    good = json.dumps({"trial_id": "t1", **epoch(1, 0.7)})
    (store / "epochs.jsonl").write_text(good + "\n" + '{"trial_id": "t1", "epo')
    recorder = SweepRecorder(cfg, "demo")
    trial = fake_trial(staging, store, "t2")
    recorder.on_trial_start(0, [], trial)
    recorder.on_trial_result(0, [], trial, epoch(1, 0.4))
    rows = [json.loads(line) for line in (staging / "epochs.jsonl").read_text().splitlines()]
    assert [(r["trial_id"], r["val_f1"]) for r in rows] == [("t1", 0.7), ("t2", 0.4)]
    assert list(json.loads((staging / "trial_status.json").read_text())) == ["t2"]
    assert (staging / "trial_status.json.broken").read_text() == '{"t1": {"status": "comp'
    assert recorder._best == 0.7


@pytest.fixture
def no_write_failures():
    clear_write_failures()
    yield
    clear_write_failures()


def test_a_full_disk_in_a_callback_is_recorded_not_raised(cfg, tiny_disk, no_write_failures):
    """An OSError in a driver callback would end tuner.fit() for the whole sweep with a traceback."""
    staging = tiny_disk / "staging"
    recorder = SweepRecorder(cfg, "demo")
    trial = fake_trial(staging, tiny_disk / "store", "t1")
    recorder.on_trial_start(0, [], trial)
    before = (staging / "trial_status.json").read_text()
    fill(tiny_disk)
    recorder.on_trial_result(0, [], trial, epoch(1, 0.4))  # raised OSError (ENOSPC) before
    recorder.on_trial_complete(0, [], trial)
    assert write_failures() == ("the epoch log (epochs.jsonl): No space left on device",
                                "the trial status (trial_status.json): No space left on device")
    assert (staging / "trial_status.json").read_text() == before  # what was written stays whole
    assert [p.name for p in staging.iterdir() if p.name.endswith(".tmp")] == []
    searcher = make_searcher(cfg, Experiment(str(tiny_disk.parent / "exp")))
    assert searcher.suggest("t2") == Searcher.FINISHED  # no new trial on a full disk; search.run says why


def test_the_mlflow_tracker_follows_the_recorders_fates_across_a_pickled_resume(cfg, tmp_path):
    """make_callbacks: no tracker unless tracking.mlflow is set; with it, the tracker tags the fate the recorder
    decided (early_stopped here), and after the Tuner's pickle round trip (a resume) both still share it."""
    import pickle

    mlflow = pytest.importorskip("mlflow", reason="pip install 'edgetune[tracking]'")
    from search.tracking import STATUS_TAG
    from search.tuner import MlflowTracker, make_callbacks

    experiment = Experiment.create(str(tmp_path / "store"), "demo")
    assert not any(isinstance(c, MlflowTracker) for c in make_callbacks(cfg, experiment))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracked = load_config(str(ROOT / "configs" / "demo.yaml"), {"tracking.mlflow": uri})
    callbacks = pickle.loads(pickle.dumps(make_callbacks(tracked, experiment)))
    recorder, tracker = callbacks[0], callbacks[-1]
    assert isinstance(tracker, MlflowTracker) and tracker._recorder is recorder
    tracker.setup()
    trial = fake_trial(tmp_path / "staging", tmp_path / "store", "t1")
    for callback in (recorder, tracker):
        callback.on_trial_start(0, [], trial)
    for n in (1, 2):
        for callback in (recorder, tracker):
            callback.on_trial_result(0, [], trial, epoch(n, 0.1 * n))
    for callback in (recorder, tracker):
        callback.on_trial_complete(0, [], trial)
    tracker.on_experiment_end([])
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    trial_run = next(r for r in runs if r.info.run_name == "t1")
    assert trial_run.data.tags[STATUS_TAG] == "early_stopped" and trial_run.info.status == "FINISHED"
    assert trial_run.data.params["lr"] == "0.001" and trial_run.data.metrics["val_f1"] == pytest.approx(0.2)


def test_the_sweep_logs_csv_and_json_for_results_but_not_tensorboard_which_imports_torch():
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback
    from ray.tune.utils.callback import _create_default_callbacks

    callbacks = _create_default_callbacks(trial_loggers())  # what Tuner.fit does with the run config's list
    kinds = {type(c) for c in callbacks}
    assert {CSVLoggerCallback, JsonLoggerCallback} <= kinds and TBXLoggerCallback not in kinds


def test_trials_reuse_their_actors_unless_a_time_limit_may_leave_a_hung_thread_behind(cfg):
    assert cfg.search.trial_timeout_s is None and reuse_actors(cfg)
    limited = load_config(str(ROOT / "configs" / "demo.yaml"), {"search.trial_timeout_s": 60})
    assert not reuse_actors(limited)
