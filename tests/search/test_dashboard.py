"""The `optuna-dashboard` command a finished sweep prints works: it serves the sweep's own study on loopback."""
from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest

from search.searcher import open_study_storage

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, deadline_s: float = 60) -> dict:
    """GET `url` as JSON, retrying while the server starts."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def printed_dashboard_command(stdout: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith("optuna study: "))
    return shlex.split(line.removeprefix("optuna study: "))


def test_the_printed_dashboard_command_serves_the_sweeps_study(smoke_sweep):
    experiment, proc = smoke_sweep
    command = printed_dashboard_command(proc.stdout)
    assert command[0] == "optuna-dashboard" and Path(command[1]) == experiment / "optuna.journal"
    executable = Path(sys.executable).with_name("optuna-dashboard")  # installed by make install, beside python
    port = free_port()
    server = subprocess.Popen([str(executable), *command[1:], "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["smoke"]
        served = get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}")["trials"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    study = optuna.load_study(study_name="smoke", storage=open_study_storage(experiment))
    assert [(t["number"], t["state"].upper()) for t in served] == [(t.number, t.state.name) for t in study.trials]
    assert "PRUNED" in {t["state"].upper() for t in served}  # ASHA's stops reach the dashboard as Optuna holds them
