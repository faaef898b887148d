"""A sweep stored on S3 (a real S3-compatible server on 127.0.0.1): written there, read back by results,
riding out a restart of the store, and resumed after SIGKILL from what S3 holds alone."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from core.layout import EPOCHS_FILE, REPORT_DIR, STATUS_FILE, STUDY_FILE, SWEEP_CONFIG, SWEEP_INFO
from core.storage import drop_local_copy, open_experiment
from core.uri import join
from data_pipeline.cache import MIRROR_ENV
from results.collect import collect
from search.experiment import Experiment
from search.searcher import ORPHANED, open_study_storage
from tests.conftest import ROOT, run_cli
from tests.s3 import wait_for

pytestmark = pytest.mark.integration

OUTAGE_S = 8
"""How long the store is down mid-sweep (well within the ~70 s the S3 retry policy rides out)."""


def test_sweep_on_s3_rides_out_a_store_restart_and_resumes_from_s3_alone(s3_server, clothing_root, tmp_path):
    s3 = s3_server
    s3.bucket("sweeps"), s3.bucket("caches")
    storage, name = s3.uri("sweeps/edgetune"), "s3run"
    remote = "sweeps/edgetune/s3run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), **s3.env, MIRROR_ENV: str(tmp_path / "mirror")}
    cmd = [sys.executable, "-m", "search.run", "--space", "configs/smoke.yaml", "--smoke", "--data", str(clothing_root),
           "--num-samples", "3", "--max-epochs", "3", "--storage", storage, "--name", name, "--no-report",
           "--set", "search.scheduler.type=fifo", "--set", f"data.cache_dir={s3.uri('caches/clothing')}"]
    stale = Experiment(join(storage, name)).path  # an earlier sweep's local copy, its store since emptied
    shutil.rmtree(stale, ignore_errors=True)
    stale.mkdir(parents=True)
    old = optuna.create_study(study_name=name, storage=open_study_storage(stale))
    old.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    log = tmp_path / "first-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: s3.trials_with_checkpoints(remote) or proc.poll() is not None, 300, "a first checkpoint on S3")
        assert proc.poll() is None, log.read_text()[-3000:]
        s3.stop()
        time.sleep(OUTAGE_S)
        s3.start()
        wait_for(lambda: len(s3.trials_with_checkpoints(remote)) >= 3 or proc.poll() is not None, 300,
                 "the third trial's checkpoint after the store came back")
        assert proc.poll() is None, "the sweep ended during the outage:\n" + log.read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, mid-sweep
        proc.wait()
    assert {SWEEP_CONFIG, SWEEP_INFO, STUDY_FILE} <= set(s3.files(remote)), s3.files(remote)

    shutil.rmtree(Experiment(join(storage, name)).path, ignore_errors=True)  # resume from what S3 holds alone
    resumed = run_cli("-m", "search.run", "--resume", "--storage", storage, "--name", name,
                      env={**s3.env, MIRROR_ENV: str(tmp_path / "mirror")}, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    store = open_experiment(join(storage, name))
    status = store.read_json(STATUS_FILE)
    assert len(status) == 3 and all(s["status"] == "completed" for s in status.values()), status
    collected = collect(join(storage, name))
    assert len(collected.trials) == 3 and collected.trials["checkpoint"].notna().all()
    assert all(store.exists(d, "trial_config.yaml") for d in collected.trials["trial_dir"])  # uploaded by Tune
    assert collected.trials["cfg_backbone"].notna().all() and set(collected.trial_configs) == set(status)
    planned = dict(zip(collected.trials["trial_id"], collected.trials["epochs_planned"]))
    reported: dict[str, list[int]] = {}  # every epoch the driver received, in both runs
    for line in store.read_text(EPOCHS_FILE).splitlines():
        row = json.loads(line)
        reported.setdefault(row["trial_id"], []).append(row["epoch"])
    assert reported.keys() == planned.keys()
    for trial_id, epochs in reported.items():  # none lost; SIGKILL can cost the one epoch a running trial reported
        assert sorted(set(epochs)) == list(range(1, planned[trial_id] + 1)), f"trial {trial_id} lost epochs"
        assert len(epochs) - len(set(epochs)) <= 1, f"trial {trial_id} trained {epochs}"  # after Ray's last snapshot
        rows = collected.epochs[collected.epochs.trial_id == trial_id]
        assert list(rows["epoch"]) == list(range(1, planned[trial_id] + 1)), rows  # results: one row per epoch
    assert store.exists(EPOCHS_FILE) and store.exists(REPORT_DIR, "report.html")
    # The searcher's state after the kill: one Optuna trial per Ray trial, each told its end once.
    journal, temporary = store.local_copy(STUDY_FILE)
    try:
        study = optuna.load_study(study_name=name, storage=open_study_storage(journal.parent))
        trials = study.get_trials(deepcopy=False)
    finally:
        drop_local_copy(journal, temporary)
    seen = [(t.number, t.state.name, t.user_attrs.get("ray_trial_id"), t.value) for t in trials]
    last = {row["trial_id"]: row["val_f1"] for row in map(json.loads, store.read_text(EPOCHS_FILE).splitlines())}
    # The planted stale trial is not there; a trial asked between Tune's last snapshot and the kill is FAIL.
    ran = [t for t in trials if t.user_attrs.get("status") != ORPHANED]
    assert [t.state for t in ran] == [TrialState.COMPLETE] * 3, seen
    assert all(t.state == TrialState.FAIL for t in trials if t not in ran), seen
    told = {t.user_attrs.get("ray_trial_id"): t.value for t in ran}
    assert told == pytest.approx(last), (seen, last)  # each trial's value is its last report
    assert "report:" in resumed.stdout and "s3://sweeps/edgetune/s3run/report/" in resumed.stdout
