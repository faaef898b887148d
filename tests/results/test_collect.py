"""collect(): the trials and epochs tables against the trials' own result.json rows."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from core.names import COMPLETED, DIVERGED, EARLY_STOPPED, EPOCH, FAILED, RUNNING, VAL_ACC, VAL_F1, VAL_LOSS
from core.storage import ExperimentError
from results.collect import collect, save_parquet
from tests.conftest import run_cli
from tests.results.synthetic import T0, default_trials, write_experiment


def _result_rows(exp) -> dict[str, list[dict]]:
    rows = {}
    for path in exp.glob("*/result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        rows[lines[0]["trial_id"]] = lines
    return rows


def test_one_row_per_trial_with_status_and_labels(exp_a):
    c = collect(str(exp_a))
    by_id = c.trials.set_index("trial_id")
    assert len(c.trials) == 6
    assert by_id["status"].to_dict() == {
        "ab12c_00000": COMPLETED, "ab12c_00001": EARLY_STOPPED, "ab12c_00002": COMPLETED,
        "ab12c_00003": DIVERGED, "ab12c_00004": FAILED, "ab12c_00005": FAILED}
    assert by_id.loc["ab12c_00001", "status_label"] == "early-stopped at epoch 1"
    assert by_id.loc["ab12c_00003", "status_label"] == "diverged at epoch 2"
    assert by_id.loc["ab12c_00004", "error"] == "RuntimeError: boom"
    assert by_id.loc["ab12c_00005", "epochs_run"] == 0 and pd.isna(by_id.loc["ab12c_00005", "trial_dir"])
    assert list(c.trials["trial_number"]) == list(range(6))
    assert c.trials["started_ts"].dropna().is_monotonic_increasing


def test_metrics_match_result_json(exp_a):
    c = collect(str(exp_a))
    rows = _result_rows(exp_a)
    assert len(c.epochs) == sum(len(r) for r in rows.values())
    for trial_id, lines in rows.items():
        trial = c.trials.set_index("trial_id").loc[trial_id]
        f1 = [r[VAL_F1] for r in lines]
        best_i = max((i for i, v in enumerate(f1) if not math.isnan(v)), key=lambda i: f1[i])
        assert trial["best_epoch"] == lines[best_i][EPOCH]
        assert trial[f"best_{VAL_ACC}"] == pytest.approx(lines[best_i][VAL_ACC])
        assert trial[f"best_{VAL_LOSS}"] == pytest.approx(lines[best_i][VAL_LOSS])
        assert trial["epochs_run"] == len(lines)
        assert trial["wall_time_s"] == pytest.approx(lines[-1]["time_total_s"])
        assert trial["gpu_hours"] == pytest.approx(0.5 * lines[-1]["time_total_s"] / 3600)
        epochs = c.epochs[c.epochs["trial_id"] == trial_id]
        assert list(epochs[EPOCH]) == [r[EPOCH] for r in lines]


def test_hyperparameters_searched_and_fixed(exp_a):
    trial = collect(str(exp_a)).trials.set_index("trial_id").loc["ab12c_00002"]
    assert (trial["param_lr"], trial["param_optimizer"], trial["param_epochs"]) == (3e-4, "adam", 3)
    assert (trial["cfg_lr"], trial["cfg_batch_size"], trial["cfg_weight_decay"]) == (3e-4, 16, 0.01)
    assert (trial["cfg_backbone"], trial["cfg_edgenet"], trial["cfg_balance"]) == ("test_vit", "off", "none")


def test_tables_show_the_config_each_trial_ran_not_todays_sweep_yaml(exp_a):
    import yaml

    cfg = yaml.safe_load((exp_a / "sweep.yaml").read_text())
    cfg["train"]["weight_decay"], cfg["model"]["backbone"] = 0.5, "resnet10t"
    (exp_a / "sweep.yaml").write_text(yaml.safe_dump(cfg))
    trial = collect(str(exp_a)).trials.set_index("trial_id").loc["ab12c_00002"]
    assert (trial["cfg_weight_decay"], trial["cfg_backbone"], trial["epochs_planned"]) == (0.01, "test_vit", 3)


def test_a_trial_without_its_config_shows_only_its_searched_values(exp_a):
    folder = next(d for d in exp_a.iterdir() if "ab12c_00002" in d.name)
    (folder / "trial_config.yaml").unlink()
    c = collect(str(exp_a))
    trial = c.trials.set_index("trial_id").loc["ab12c_00002"]
    assert (trial["cfg_lr"], trial["cfg_epochs"]) == (3e-4, 3) and pd.isna(trial["cfg_weight_decay"])
    assert "ab12c_00002" not in c.trial_configs and "ab12c_00000" in c.trial_configs


def test_best_checkpoint_or_latest_kept(tmp_path, clothing_root):
    trials = default_trials()
    trials[2].kept_checkpoints = [0, 2]  # the best epoch (2) is checkpoint_000001: deleted
    exp = write_experiment(tmp_path, "exp", trials, clothing_root=str(clothing_root))
    by_id = collect(str(exp)).trials.set_index("trial_id")
    assert by_id.loc["ab12c_00002", "checkpoint"].endswith("/checkpoint_000002")
    assert not by_id.loc["ab12c_00002", "checkpoint_is_best"]
    assert by_id.loc["ab12c_00000", "checkpoint"].endswith("/checkpoint_000003")
    assert by_id.loc["ab12c_00000", "checkpoint_is_best"]


def test_interrupted_sweep_without_status_file(tmp_path, clothing_root):
    exp = write_experiment(tmp_path, "exp", default_trials(), clothing_root=str(clothing_root),
                           finished=False, status_file=False)
    c = collect(str(exp))
    status = c.trials.set_index("trial_id")["status"].to_dict()
    assert status == {"ab12c_00000": COMPLETED, "ab12c_00001": RUNNING, "ab12c_00002": COMPLETED,
                      "ab12c_00003": DIVERGED, "ab12c_00004": FAILED}
    assert c.trials.set_index("trial_id").loc["ab12c_00001", "status_label"] == "running (epoch 1 of 4)"


def test_finished_sweep_without_status_file_marks_early_stops(tmp_path, clothing_root):
    exp = write_experiment(tmp_path, "exp", default_trials(), clothing_root=str(clothing_root), status_file=False)
    assert collect(str(exp)).trials.set_index("trial_id").loc["ab12c_00001", "status"] == EARLY_STOPPED


def test_running_trial_with_half_written_line(tmp_path, clothing_root):
    exp = write_experiment(tmp_path, "exp", default_trials()[:1], clothing_root=str(clothing_root),
                           finished=False, status_file=False)
    result = next(exp.glob("*/result.json"))
    result.write_text(result.read_text() + '{"epoch": 5, "val_')
    assert len(collect(str(exp)).epochs) == 4


def test_restored_trial_keeps_the_latest_report_of_an_epoch(tmp_path, clothing_root):
    exp = write_experiment(tmp_path, "exp", default_trials()[:1], clothing_root=str(clothing_root))
    result = next(exp.glob("*/result.json"))
    lines = result.read_text().splitlines()
    replay = json.loads(lines[1]) | {VAL_F1: 0.99}
    result.write_text("\n".join(lines[:2] + [json.dumps(replay)] + lines[2:]) + "\n")
    c = collect(str(exp))
    assert len(c.epochs) == 4
    assert c.epochs.set_index(EPOCH).loc[2, VAL_F1] == 0.99


def test_uri_and_parquet_round_trip(exp_a, tmp_path):
    c = collect(f"file://{exp_a}")
    assert len(c.trials) == 6
    trials_path, epochs_path = save_parquet(c)
    assert (exp_a / "results" / "trials.parquet").is_file()
    back = pd.read_parquet(exp_a / "results" / "trials.parquet")
    assert list(back["trial_id"]) == list(c.trials["trial_id"])
    assert back["best_val_f1"].tolist() == pytest.approx(c.trials["best_val_f1"].tolist(), nan_ok=True)
    assert len(pd.read_parquet(exp_a / "results" / "epochs.parquet")) == len(c.epochs)


def test_missing_or_invalid_experiment(tmp_path):
    with pytest.raises(ExperimentError, match="experiment directory not found"):
        collect(str(tmp_path / "nope"))
    with pytest.raises(ExperimentError, match="no sweep.json"):
        collect(str(tmp_path))
    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(ExperimentError, match="sweep.json: not valid JSON"):
        collect(str(tmp_path))


def test_cli_help_run_and_errors(exp_a, tmp_path):
    assert "trials.parquet" in run_cli("-m", "results.collect", "--help").stdout
    done = run_cli("-m", "results.collect", str(exp_a), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / "out" / "trials.parquet")) == 6
    bad = run_cli("-m", "results.collect", str(tmp_path / "missing"))
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "experiment directory not found" in bad.stderr


def test_clock_is_the_sweep_start(exp_a):
    c = collect(str(exp_a))
    first = c.trials.set_index("trial_id").loc["ab12c_00000"]
    assert first["ended_after_s"] == pytest.approx(first["ended_ts"] - T0)
