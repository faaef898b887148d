"""Fixtures of the results tests: synthetic experiments (exact on-disk layout) and one real smoke sweep."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.results.synthetic import default_trials, write_experiment

ARTIFACTS = ROOT / "test-artifacts" / "results"


@pytest.fixture
def exp_a(tmp_path, clothing_root) -> Path:
    """Six trials, one of each status (completed, early-stopped, diverged, failed, never started), GPU 0.5."""
    return write_experiment(tmp_path / "storage", "exp_a", default_trials(), clothing_root=str(clothing_root))


@pytest.fixture
def exp_b(tmp_path, clothing_root) -> Path:
    """A second experiment: another backbone, EdgeNet residual, oversampling; three trials, GPU 0.25."""
    return write_experiment(tmp_path / "storage", "exp_b", default_trials()[:3], clothing_root=str(clothing_root),
                            backbone="resnet10t", edgenet="residual", balance="oversample", gpu=0.25)


@pytest.fixture(scope="session")
def real_experiment(smoke_sweep) -> Path:
    """The suite's shared real sweep (tests/conftest.py: search.run on the smoke config at smoke size)."""
    return smoke_sweep[0]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def copy_experiment(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
