"""Shared fixtures: the real clothing dataset, a small prepared cache of it, and one local Ray per session."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLOTHING = Path(os.environ.get("CLOTHING_SMALL", ROOT.parent / "shared" / "datasets" / "clothing-small"))

INTEGRATION_FIXTURES = frozenset({"smoke_sweep", "real_experiment", "ray_session", "s3_server"})
"""Fixtures that start Ray, a subprocess sweep or a server: a test using one is `integration` without saying so."""

_NOT_PROVEN: list[str] = []
"""Tests that docs/RELIABILITY.md cites and that skipped or xfailed in this session."""


def pytest_collection_modifyitems(items) -> None:
    """`make test-fast` (`-m "not integration"`) must not reach a sweep through a shared fixture."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_runtest_logreport(report) -> None:
    if report.skipped or hasattr(report, "wasxfail"):
        _NOT_PROVEN.append(f"{report.nodeid} ({'xfail' if hasattr(report, 'wasxfail') else 'skipped'}: "
                           f"{_skip_reason(report)})")


def pytest_sessionfinish(session, exitstatus) -> None:
    """A cited test that skips or xfails proves nothing: named at the end, and under CI ($CI set) the session fails
    (tests/reliability/test_matrix). Elsewhere it is a warning: some rows need root or tmpfs mounts to be proven."""
    from tests.reliability.matrix import cited_tests

    cited = cited_tests()
    bad = sorted({n for n in _NOT_PROVEN if (n.split("::", 1)[0], n.split("::")[-1].split("[")[0].split(" ")[0]) in cited})
    if bad:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "docs/RELIABILITY.md cites tests that did not run to a pass", red=True)
            for line in bad:
                reporter.write_line(line)
        if os.environ.get("CI"):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(getattr(report, "wasxfail", "") or longrepr)


@pytest.fixture(scope="session")
def clothing_root() -> Path:
    """The real clothing-small dataset (10 classes, pre-split), read in place."""
    if not (CLOTHING / "train").is_dir():
        pytest.fail(f"clothing-small not found at {CLOTHING}; set CLOTHING_SMALL=/path/to/clothing-small")
    return CLOTHING


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def small_cache(clothing_root, session_tmp):
    """clothing-small prepared once per session at 64 px, at most 24 images per class and split."""
    from data_pipeline.cache import prepare_cache
    from data_pipeline.config import DataConfig

    cfg = DataConfig(source=str(clothing_root), image_size=64, max_per_class=24,
                     cache_dir=str(session_tmp / "cache"))
    return prepare_cache(cfg, progress=False)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole suite (2 CPUs), shut down at the end."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def smoke_sweep(session_tmp, clothing_root):
    """One real sweep shared by the suite: `search.run` on the smoke config at smoke size in a subprocess,
    six trials two at a time, three epochs at most, ending with its tables and report.

    Returns (experiment folder, CompletedProcess).
    """
    storage = session_tmp / "exp"
    proc = run_cli("-m", "search.run", "--space", "configs/smoke.yaml", "--smoke", "--data", str(clothing_root),
                   "--num-samples", "6", "--max-epochs", "3", "--storage", str(storage),
                   "--name", "smoke", "--set", f"data.cache_dir={session_tmp / 'cache'}", timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "smoke", proc


def run_cli(*args: str, timeout: float = 600, env: dict | None = None, cwd: Path | None = None):
    """Run `python -m ...` in a subprocess, as a user would; returns the CompletedProcess."""
    import subprocess

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=cwd or ROOT)


@pytest.fixture(scope="session")
def s3_server():
    """One moto S3 server for the suite, on 127.0.0.1, with test credentials in the environment."""
    pytest.importorskip("moto.server", reason="pip install 'moto[server]' (the test extra)")
    from tests.s3 import S3Server, set_credentials

    before = set_credentials()
    server = S3Server()
    yield server
    server.stop()
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def tiny_disk(tmp_path):
    """A 192 KiB tmpfs: a disk that fills up (mounting needs root; skipped elsewhere, and says so)."""
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    if os.geteuid() != 0 or os.system(f"mount -t tmpfs -o size=192k tmpfs {mount} 2>/dev/null") != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    os.system(f"umount {mount}")


def fill(disk: Path) -> None:
    """Write a filler file until `disk` has no space left."""
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
