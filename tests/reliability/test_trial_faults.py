"""Faults inside one trial, without Ray: out of memory, divergence, and the time-limit watchdog's report."""
from __future__ import annotations

import math
import threading
import time

import pytest
import torch

from core.names import EPOCH_METRICS, STATUS, TIMED_OUT
from model.config import EdgeNetConfig, ModelConfig, RunConfig, TrainConfig
from model.trainer import Trainer, TrainerOutOfMemory
from search import faults
from search.trainable import timed_out_metrics


def _cfg(**train) -> RunConfig:
    model = ModelConfig(backbone="test_vit", image_size=32, edgenet=EdgeNetConfig(mode="residual"))
    train = {"epochs": 2, "batch_size": 48, "train_eval_max": 32, "device": "cpu", **train}
    return RunConfig(model=model, train=TrainConfig(**train))


def test_out_of_memory_names_batch_size_and_model(small_cache):
    trainer = Trainer(_cfg(), small_cache)
    faults.arm(trainer, batch_size=48, faults=faults.parse("oom:batch_size=48"))  # what the trainable does
    with pytest.raises(TrainerOutOfMemory) as err:
        trainer.fit()
    text = str(err.value)
    assert "batch_size=48" in text and "model test_vit" in text and "lower train.batch_size" in text, text
    assert "Tried to allocate 2.00 GiB" in text and faults.ENV in text and "\n" not in text
    assert isinstance(err.value.__cause__, torch.OutOfMemoryError)
    assert trainer.epoch == 0 and trainer.history == []


def test_out_of_memory_while_measuring_is_caught_too(small_cache, monkeypatch):
    trainer = Trainer(_cfg(), small_cache)

    def measure(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(trainer, "_measure", measure)
    with pytest.raises(TrainerOutOfMemory, match="evaluation batches 96"):
        trainer.fit()


def test_timed_out_report_keeps_the_last_epoch_or_the_worst_values():
    last = {**{k: 0.5 for k in EPOCH_METRICS}, "epoch": 3, STATUS: "running"}
    report = timed_out_metrics([{**last, "epoch": 2}, last])
    assert report[STATUS] == TIMED_OUT and report["epoch"] == 3
    assert all(report[k] == 0.5 for k in EPOCH_METRICS)
    empty = timed_out_metrics([])
    assert empty["epoch"] == 0 and empty["val_loss"] == math.inf and empty["val_f1"] == 0.0


def test_watchdog_reports_once_past_the_limit_and_never_after_training_ends(monkeypatch):
    import search.trainable as trainable

    reported = []
    monkeypatch.setattr(trainable.tune, "report", lambda metrics, **kw: reported.append(metrics))
    lock, done = threading.Lock(), threading.Event()
    trainable.start_watchdog(0.2, lambda: {STATUS: TIMED_OUT}, lock, done).join(5)
    assert reported == [{STATUS: TIMED_OUT}]

    done.set()
    trainable.start_watchdog(0.2, lambda: {STATUS: TIMED_OUT}, lock, done).join(5)
    assert reported == [{STATUS: TIMED_OUT}]  # training had ended: no report

    reported.clear()
    done.clear()
    with lock:  # an epoch's report is under way: the watchdog waits for it
        thread = trainable.start_watchdog(0.05, lambda: {STATUS: TIMED_OUT}, lock, done)
        time.sleep(0.3)
        assert reported == []
    thread.join(5)
    assert reported == [{STATUS: TIMED_OUT}]


def test_watchdog_fires_even_when_the_hang_is_inside_an_epochs_report():
    """A checkpoint upload to a stuck mount hangs inside the epoch's report, which holds the reporting lock
    forever: after its grace period the watchdog reports without the lock, so the trial still ends at its limit."""
    import search.trainable as trainable

    reported = []
    lock, done = threading.Lock(), threading.Event()
    lock.acquire()  # the stuck report: never released
    started = time.monotonic()
    thread = trainable.start_watchdog(0.1, lambda: {STATUS: TIMED_OUT}, lock, done, report=reported.append,
                                      grace_s=0.3)
    thread.join(10)
    assert reported == [{STATUS: TIMED_OUT}] and not thread.is_alive()
    assert 0.4 <= time.monotonic() - started < 10


def test_a_fractional_gpu_caps_cuda_memory_on_the_trials_device(monkeypatch):
    """The cap call itself, on a CPU machine made to show two GPUs (not run on a real GPU here): the trial's
    fraction, on the device it was given; nothing for a whole GPU."""
    import torch

    from model.trainer import Trainer
    from search.trainable import memory_fraction

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda f, d=None: calls.append((f, d)))
    assert [memory_fraction(g) for g in (0.25, 0.5, 1.0, 0.0)] == [0.25, 0.5, None, None]
    trainer = Trainer.__new__(Trainer)
    trainer.device = torch.device("cuda:1")
    trainer._setup_cuda(memory_fraction(0.25))
    trainer._setup_cuda(memory_fraction(1.0))
    assert calls == [(0.25, torch.device("cuda:1"))]
