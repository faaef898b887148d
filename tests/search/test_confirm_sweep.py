"""search.confirm on a real local Ray: a replayed sweep, its top 2 configurations re-run with 3 seeds through the
real CLI, the confirmation SIGKILLed mid-way and continued, the confirmed table checked against the runs' files."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.layout import CONFIRM_DIR, CONFIRM_PLAN, EPOCHS_FILE, STATUS_FILE, STUDY_FILE, SWEEP_INFO
from tests.conftest import ROOT, run_cli
from tests.search.test_replay import recorded_space_table

pytestmark = pytest.mark.integration

SEED_SD = 0.03
SWEEP_FILES = (SWEEP_INFO, STATUS_FILE, STUDY_FILE, EPOCHS_FILE, "sweep.yaml")


def two_seed_table(path: Path) -> None:
    """recorded_space_table's curves at seed 0, and each again at seed 1 with noise: replay then has seed noise."""
    recorded_space_table(path)
    first = pd.read_parquet(path)
    rng = np.random.default_rng(1)
    second = first.assign(seed=1, trial_id=first.trial_id + "b")
    for metric in ("val_f1", "val_acc"):
        second[metric] = second[metric] + rng.normal(0, SEED_SD, len(second))
    pd.concat([first, second], ignore_index=True).to_parquet(path, index=False)


def digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in SWEEP_FILES
            if (folder / name).exists()}


def restorable_and_running(confirm: Path) -> bool:
    """Ray's experiment state is in storage (so Tune can restore it) and a confirmation run has checkpointed."""
    return any(confirm.glob("experiment_state-*.json")) and any(confirm.glob("*/checkpoint_*"))


def test_confirm_reruns_the_top_configurations_resumes_after_a_kill_and_ranks_by_the_mean(tmp_path):
    table = tmp_path / "curves.parquet"
    two_seed_table(table)
    sweep = run_cli("-m", "search.run", "--space", "configs/bench/replay.yaml", "--storage", str(tmp_path / "exp"),
                    "--name", "sweep", "--num-samples", "6", "--max-concurrent", "3", "--no-report",
                    "--set", f"replay.table={table}", "--set", "replay.time_scale=1.0", "--set", "train.epochs=4",
                    timeout=300)
    assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:]
    exp = tmp_path / "exp" / "sweep"
    before = digest(exp)

    args = [sys.executable, "-m", "search.confirm", str(exp), "--top-k", "2", "--seeds", "3"]
    log = tmp_path / "first-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 240
        while not restorable_and_running(exp / CONFIRM_DIR) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the confirmation ended before it could be interrupted:\n" + log.read_text()[-3000:]
        assert restorable_and_running(exp / CONFIRM_DIR), log.read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, mid-confirmation
        proc.wait()
    assert not json.loads((exp / CONFIRM_DIR / SWEEP_INFO).read_text())["finished_at"]
    plan = json.loads((exp / CONFIRM_DIR / CONFIRM_PLAN).read_text())

    again = run_cli("-m", "search.confirm", str(exp), timeout=300)  # no flags: the stored plan goes on
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "(resumed)" in again.stderr
    assert "Within Noise Of" in again.stdout and (exp / "results" / "confirmed.md").is_file()
    assert digest(exp) == before, "the confirmation changed the sweep's own files"

    from results.collect import collect, rank_trials
    from results.confirm import config_key, difference_interval, load_confirmation

    swept = collect(str(exp))
    top = rank_trials(swept.trials, swept.metric, swept.mode)
    assert [c["trial_id"] for c in plan["configs"]] == list(top["trial_id"][:2])  # no two top trials are one config
    assert plan["seeds"] == [1, 2, 3] and len(plan["points"]) == 6

    runs = collect(str(exp / CONFIRM_DIR))
    assert len(runs.trials) == 6 and set(runs.trials["status"]) == {"completed"}, runs.trials[["trial_id", "status"]]
    assert runs.meta["scheduler"] == "fifo" and not (exp / CONFIRM_DIR / STUDY_FILE).exists()
    by_config: dict[str, list[tuple[int, float]]] = {}
    for row in runs.trials.itertuples():
        config = runs.trial_configs[row.trial_id]
        by_config.setdefault(config_key(config), []).append((config["train"]["seed"], row.best_val_f1))
    expected = {}
    for entry in plan["configs"]:
        seeds_values = sorted(by_config[config_key(swept.trial_config(entry["trial_id"]))])
        assert [s for s, _ in seeds_values] == [1, 2, 3]  # each configuration once per fresh seed
        expected[entry["trial_id"]] = [v for _, v in seeds_values]
    assert len({tuple(v) for v in expected.values()}) == 2 and all(len(set(v)) == 3 for v in expected.values())

    confirmation = load_confirmation(swept)
    shown = confirmation.table
    assert list(shown["Seeds"]) == [3, 3]
    means = {t: float(np.mean(v)) for t, v in expected.items()}
    assert list(shown["Trial"]) == sorted(means, key=means.get, reverse=True)  # ranked by the mean, not the sweep
    for _, row in shown.iterrows():
        values = expected[row["Trial"]]
        assert row["Validation Macro-F1 Mean"] == pytest.approx(np.mean(values))
        assert row["Validation Macro-F1 SD"] == pytest.approx(np.std(values, ddof=1))
    first, second = (expected[t] for t in shown["Trial"])
    _, low, high = difference_interval(first, second)
    tied = low <= 0 <= high
    assert list(shown["Within Noise Of"]) == (["2", "1"] if tied else ["-", "-"])
    assert confirmation.pairs["Within Noise"].tolist() == ["yes" if tied else "no"]

    html = (exp / "report" / "report.html").read_text()
    assert "Confirmed winners" in html and shown["Trial"].iloc[0] in html
