"""pyproject.toml admits no version where a protection the docs promise does not hold, and the installed one keeps it.

Each promise is tested on the installed library by what it does (a pickled callable refused, N pending
trials for N slots, a stale journal lock released), not by the text of one version's message; the
`.pth` case is `tests/reliability/test_security.py::test_weights_file_with_code_is_refused`.
"""
from __future__ import annotations

import importlib.metadata
import os
import threading
import time

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import ROOT

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

# name: (the lowest admitted version, the highest version that lacks the protection, why)
FLOORS = {
    "torch": ("2.10", "2.9.1", "torch.load(weights_only=True) can be bypassed up to 2.5.1 (CVE-2025-32434) "
                               "and up to 2.9.1 (CVE-2026-24747)"),
    "torchvision": ("0.25", "0.24.1", "the torchvision of torch 2.10"),
    "timm": ("1.0.26", "1.0.25", "older timm loads a local .pth with weights_only=False"),
    "ray": ("2.60", "2.59.0", "custom searchers honour max_concurrent_trials from 2.60.0 (ray#63770); token "
                              "authentication exists from 2.52"),
    "optuna": ("4.3", "4.2.1", "a journal lock left by a killed process is released after a grace period "
                               "from 4.3.0 (optuna#5971)"),
}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {req.name: req for req in map(Requirement, project["dependencies"])}


@pytest.mark.parametrize("name", list(FLOORS))
def test_floor_admits_no_version_without_the_protection(name):
    floor, unsafe, why = FLOORS[name]
    spec = _requirements()[name].specifier
    assert not spec.contains(unsafe, prereleases=True), f"{name} {spec} admits {unsafe}: {why}"
    assert spec.contains(floor), f"{name} {spec} refuses {floor}, the floor where {why}"


@pytest.mark.parametrize("name", list(FLOORS))
def test_installed_version_is_one_the_floors_admit(name):
    installed = Version(importlib.metadata.version(name)).base_version  # 2.14.1+cu130 -> 2.14.1
    assert _requirements()[name].specifier.contains(installed), (name, installed)


def test_custom_searcher_gets_as_many_pending_trials_as_slots():
    """Ray before #63770 let a model-based searcher (ours: OptunaSearch) have one pending trial whatever
    max_concurrent_trials said, so N free slots ran one trial at a time."""
    optuna = pytest.importorskip("optuna")
    from ray.tune.execution.tune_controller import _get_max_pending_trials
    from ray.tune.search import ConcurrencyLimiter, SearchGenerator
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(metric="val_f1", mode="max", sampler=optuna.samplers.RandomSampler(seed=0))
    assert _get_max_pending_trials(SearchGenerator(ConcurrencyLimiter(searcher, max_concurrent=4))) == 4


def test_stale_journal_lock_is_released(tmp_path):
    """A lock left by a driver killed while writing the study does not block the next write forever."""
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    journal = str(tmp_path / "optuna.journal")
    os.symlink(journal, journal + ".lock")  # what a process killed inside acquire()/release() leaves
    backend = JournalFileBackend(journal, lock_obj=JournalFileSymlinkLock(journal, grace_period=3))
    done = threading.Event()
    worker = threading.Thread(target=lambda: (backend.append_logs([{"op_code": 0}]), done.set()), daemon=True)
    started = time.monotonic()
    worker.start()
    assert done.wait(timeout=30), "the stale lock was never released"
    assert 2.5 < time.monotonic() - started < 30 and list(backend.read_logs(0)) == [{"op_code": 0}]
