"""Faults during a real sweep (`python -m search.run` in a subprocess, local Ray, real images).

One sweep carries four trials, each a known point run in order, two at a time:
    normal    batch 32, lr 1e-3          -> completed
    diverged  batch 32, lr 1e6, sgd      -> NaN/inf loss: diverged, the sweep goes on
    oom       batch 128                  -> torch.OutOfMemoryError injected (EDGETUNE_FAULTS oom:batch_size=128):
                                            retried once, then failed with a message naming batch size and model
    hang      batch 64                   -> blocks in its first step (EDGETUNE_FAULTS hang:batch_size=64): only the
                                            watchdog reports, at the time limit; stopped, marked timed_out
A second run, whose every trial raises once after its first epoch (EDGETUNE_FAULTS fail_once:epoch=1) and is
retried, is interrupted with SIGINT (Ctrl-C) and resumed; a third points storage at a read-only disk.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from results.collect import collect
from search import faults
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.integration

TIMEOUT_S = 12
POINTS = [
    {"epochs": 2, "batch_size": 32, "lr": 0.001, "dropout": 0.0, "weight_decay": 0.01, "optimizer": "adam"},
    {"epochs": 2, "batch_size": 32, "lr": 1.0e6, "dropout": 0.0, "weight_decay": 0.0001, "optimizer": "sgd",
     "momentum": 0.9},
    {"epochs": 2, "batch_size": 128, "lr": 0.001, "dropout": 0.0, "weight_decay": 0.01, "optimizer": "adam"},
    {"epochs": 2, "batch_size": 64, "lr": 0.001, "dropout": 0.0, "weight_decay": 0.01, "optimizer": "adam"},
]


def _sweep_args(storage: Path, name: str, clothing_root: Path, cache: Path, *extra: str) -> list[str]:
    return ["-m", "search.run", "--space", "configs/smoke.yaml", "--smoke", "--data", str(clothing_root),
            "--storage", str(storage), "--name", name, "--no-report", "--set", f"data.cache_dir={cache}", *extra]


def _statuses(experiment: Path) -> dict:
    try:
        return json.loads((experiment / "trial_status.json").read_text())
    except (OSError, ValueError):
        return {}


def _epochs(experiment: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for line in (experiment / "epochs.jsonl").read_text().splitlines():
        row = json.loads(line)
        out.setdefault(row["trial_id"], []).append(row)
    return out


@pytest.fixture(scope="module")
def faulty_sweep(session_tmp, clothing_root):
    storage = session_tmp / "reliability"
    args = _sweep_args(storage, "faults", clothing_root, session_tmp / "cache",
                       "--num-samples", "4", "--max-epochs", "2",
                       "--set", "search.space.lr.high=1.0e+6", "--set", "search.scheduler.type=fifo",
                       "--set", f"search.trial_timeout_s={TIMEOUT_S}", "--set", "search.max_failures=1",
                       "--set", "train.grad_clip=null", "--set", "train.warmup_epochs=0",
                       "--set", f"search.points_to_evaluate={json.dumps(POINTS)}")
    proc = run_cli(*args, env={faults.ENV: "oom:batch_size=128;hang:batch_size=64"})
    experiment = storage / "faults"
    by_batch_lr = {(s["params"]["batch_size"], s["params"]["lr"]): s for s in _statuses(experiment).values()}
    return proc, experiment, by_batch_lr


def test_sweep_survives_every_trial_fault(faulty_sweep):
    proc, experiment, trials = faulty_sweep
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert len(trials) == 4, trials
    assert "Traceback" not in proc.stdout


def test_nan_loss_is_diverged_and_the_others_go_on(faulty_sweep):
    _, experiment, trials = faulty_sweep
    assert trials[(32, 0.001)]["status"] == "completed", trials[(32, 0.001)]
    assert trials[(32, 1.0e6)]["status"] == "diverged", trials[(32, 1.0e6)]


def test_out_of_memory_fails_the_trial_with_batch_size_and_model(faulty_sweep):
    _, _, trials = faulty_sweep
    oom = trials[(128, 0.001)]
    assert oom["status"] == "failed", oom
    assert "TrainerOutOfMemory" in oom["error"] and "batch_size=128" in oom["error"], oom["error"]
    assert "model test_vit" in oom["error"], oom["error"]


def test_a_hanging_trial_is_stopped_at_its_time_limit(faulty_sweep):
    _, experiment, trials = faulty_sweep
    hang = trials[(64, 0.001)]
    assert hang["status"] == "timed_out", hang
    assert hang["time_total_s"] >= TIMEOUT_S
    rows = _epochs(experiment)
    (hang_id,) = [tid for tid, s in _statuses(experiment).items() if s["params"]["batch_size"] == 64]
    # It hangs in its first step, before any report: the one report it ever makes is the watchdog's.
    assert [(r["status"], r["epoch"]) for r in rows[hang_id]] == [("timed_out", 0)], rows[hang_id]


@pytest.fixture(scope="module")
def interrupted_sweep(session_tmp, clothing_root):
    """A sweep stopped with Ctrl-C once a trial has completed, then resumed; what each step left.
    Every trial raises once after epoch 1 and is retried from its checkpoint."""
    storage, name = session_tmp / "reliability", "interrupted"
    experiment = storage / name
    args = _sweep_args(storage, name, clothing_root, session_tmp / "cache", "--num-samples", "3",
                       "--max-epochs", "2", "--set", "search.scheduler.type=fifo")
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), faults.ENV: "fail_once:epoch=1"})
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not any(s["status"] == "completed" for s in _statuses(experiment).values()):
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground process group
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    status = _statuses(experiment)
    before = {tid: rows for tid, rows in _epochs(experiment).items() if status.get(tid, {}).get("status") == "completed"}
    resumed = run_cli("-m", "search.run", "--resume", "--storage", str(storage), "--name", name, "--no-report")
    return experiment, out, {tid: status[tid] for tid in before}, before, resumed


def test_ctrl_c_leaves_a_resumable_experiment(interrupted_sweep):
    experiment, out, _, before, resumed = interrupted_sweep
    assert before, out[-3000:]
    assert "KeyboardInterrupt" not in out, out[-3000:]  # the only tracebacks are Ray's logs of the injected failures
    assert out.count("Traceback") <= out.count("injected failure after epoch 1"), out[-3000:]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    status = _statuses(experiment)
    assert len(status) == 3 and all(s["status"] == "completed" for s in status.values()), status
    epochs = collect(str(experiment)).epochs  # what reports read: Ray's result.json merged with epochs.jsonl
    for tid in status:  # (Ray rewrites a restored trial's result.json from its last synced copy: it can lack
        assert sorted(epochs.loc[epochs.trial_id == tid, "epoch"]) == [1, 2], tid  # epoch 1 after Ctrl-C)
    for tid in before:  # finished before Ctrl-C: not run again
        assert len(_epochs(experiment).get(tid, [])) == 2, f"{tid} reported again after the resume"


def test_a_trial_that_raises_is_retried_from_its_checkpoint(interrupted_sweep):
    _, out, finished, before, _ = interrupted_sweep
    assert finished, out[-3000:]
    for tid, entry in finished.items():  # trials that completed before Ctrl-C, as trial_status.json said then
        assert entry.get("retries") == 1 and "injected failure after epoch 1" in entry["retried_after"], entry
        assert [r["epoch"] for r in before[tid]] == [1, 2], tid  # epoch 1 was not trained again


def test_resume_keeps_the_epochs_of_trials_finished_before_ctrl_c(interrupted_sweep):
    experiment, _, _, before, _ = interrupted_sweep
    after = _epochs(experiment)
    for tid, rows in before.items():
        assert [r["epoch"] for r in after.get(tid, [])] == [r["epoch"] for r in rows], tid


def _read_only_dir(tmp_path: Path) -> Path:
    """A read-only folder: a read-only tmpfs for root (who ignores permissions), else mode 0555."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs as root here: {done.stderr.decode().strip()}")
    else:
        path.chmod(0o555)
    return path


def test_read_only_storage_is_one_clear_error(tmp_path, session_tmp, clothing_root):
    storage = _read_only_dir(tmp_path)
    try:
        proc = run_cli(*_sweep_args(storage / "exp", "ro", clothing_root, session_tmp / "cache"), timeout=300)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(storage)], check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and "storage.path" in last, proc.stderr[-3000:]


def test_full_storage_is_one_clear_error_before_ray(tmp_path, session_tmp, clothing_root):
    """A storage disk with no space left (a 64 KiB tmpfs, filled) is refused before Ray or any trial starts."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    full = tmp_path / "full"
    full.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        with pytest.raises(OSError):
            with (full / "filler").open("wb") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
        proc = run_cli(*_sweep_args(full / "exp", "full", clothing_root, session_tmp / "cache"), timeout=300)
    finally:
        subprocess.run(["umount", str(full)], check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "storage.path" in lines[0] and "No space left on device" in lines[0], lines[0]
    assert "ray" not in proc.stdout.lower()
