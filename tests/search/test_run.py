"""The real command in a subprocess: a local Ray, real images, the smoke config at smoke size."""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from results.collect import collect
from results.tables import leaderboard, to_markdown
from search.searcher import open_study_storage
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.integration
optuna.logging.set_verbosity(optuna.logging.WARNING)


def trial_results(experiment: Path) -> dict[str, list[dict]]:
    """trial id -> its reported epochs in order, from the sweep's append-only epochs.jsonl."""
    out: dict[str, list[dict]] = {}
    for line in (experiment / "epochs.jsonl").read_text().splitlines():
        row = json.loads(line)
        out.setdefault(row["trial_id"], []).append(row)
    return out


def statuses(experiment: Path) -> dict[str, dict]:
    return json.loads((experiment / "trial_status.json").read_text())


@pytest.fixture(scope="module")
def sweep(smoke_sweep):
    """The suite's shared real sweep (tests/conftest.py): six trials, two at a time, three epochs at most."""
    return smoke_sweep


def test_sweep_ends_every_trial_and_prints_the_best(sweep):
    experiment, proc = sweep
    status = statuses(experiment)
    assert len(status) == 6
    assert all(s["status"] in ("completed", "early_stopped") for s in status.values()), status
    # the study's format, best five first; the suite's deploy tests evaluate this shared experiment afterwards,
    # which adds Test columns to a later leaderboard, so the sweep's printout is compared without them
    board = leaderboard(collect(str(experiment)), top=5)
    table = to_markdown(board.drop(columns=["Test Accuracy", "Test Macro-F1"], errors="ignore"))
    assert table.splitlines()[0].startswith("| ") and len(table.splitlines()) == 2 + 5
    assert f"best configurations by val_f1 (max):\n\n{table}\n" in proc.stdout, proc.stdout[-3000:]
    assert f"experiment: {experiment}" in proc.stdout
    assert (experiment / "sweep.yaml").is_file() and (experiment / "report" / "report.html").is_file()


def test_each_trial_folder_holds_the_config_it_ran_and_results_read_it(sweep, tmp_path):
    """What ran is written once, beside each trial; editing sweep.yaml afterwards changes no table."""
    import shutil

    import yaml

    from core.schema import from_mapping
    from model.config import RunConfig
    from results.collect import collect
    from search.config import load_config
    from search.space import trial_run_config

    experiment, _ = sweep
    cfg = load_config(str(experiment / "sweep.yaml"))
    folders = [d for d in experiment.iterdir() if (d / "params.json").is_file()]
    assert len(folders) == 6
    for folder in folders:
        ran = from_mapping(RunConfig, yaml.safe_load((folder / "trial_config.yaml").read_text()))
        assert ran == trial_run_config(cfg, json.loads((folder / "params.json").read_text()))

    copy = shutil.copytree(experiment, tmp_path / "edited")
    sweep_yaml = yaml.safe_load((copy / "sweep.yaml").read_text())
    sweep_yaml["model"]["backbone"], sweep_yaml["model"]["edgenet"]["mode"] = "resnet10t", "off"
    sweep_yaml["data"]["balance"]["strategy"] = "undersample"
    sweep_yaml["train"]["epochs"] = 50
    sweep_yaml["search"]["space"].pop("epochs")  # a replay would now plan 50 epochs for every trial
    (copy / "sweep.yaml").write_text(yaml.safe_dump(sweep_yaml))
    before, after = collect(str(experiment)).trials, collect(str(copy)).trials
    columns = [c for c in before if c.startswith(("cfg_", "param_"))] + ["epochs_planned", "status"]
    assert after[columns].equals(before[columns])
    assert (set(after["cfg_backbone"]), set(after["cfg_edgenet"]), set(after["cfg_balance"])) == \
        ({cfg.model.backbone}, {cfg.model.edgenet.mode}, {cfg.data.balance.strategy})
    assert list(after["epochs_planned"]) == list(after["param_epochs"]) and 50 not in set(after["epochs_planned"])


def test_every_trial_reports_once_per_epoch_with_the_studys_metrics(sweep):
    experiment, _ = sweep
    for trial_id, rows in trial_results(experiment).items():
        assert [r["training_iteration"] for r in rows] == list(range(1, len(rows) + 1)), trial_id
        assert [r["epoch"] for r in rows] == [r["training_iteration"] for r in rows]
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_f1", "val_precision",
                    "val_recall", "val_balanced_acc"):
            assert key in rows[-1]


def test_two_free_slots_run_two_trials_at_once(sweep):
    """Model-based searchers can starve slots (design brief, trap 3): the trials' intervals must overlap."""
    experiment, _ = sweep
    spans = sorted((rows[0]["timestamp"] - rows[0]["time_this_iter_s"], rows[-1]["timestamp"])
                   for rows in trial_results(experiment).values())
    overlapping = sum(1 for (s1, e1), (s2, _) in zip(spans, spans[1:]) if s2 < e1)
    assert overlapping >= 1, spans


def test_asha_stops_trials_and_optuna_holds_them_as_pruned(sweep):
    experiment, _ = sweep
    status = statuses(experiment)
    stopped = {tid for tid, s in status.items() if s["status"] == "early_stopped"}
    assert stopped, status
    for tid in stopped:
        assert status[tid]["epochs_run"] < status[tid]["epochs_planned"]
    study = optuna.load_study(study_name="smoke", storage=open_study_storage(experiment))
    by_ray_id = {t.user_attrs["ray_trial_id"]: t for t in study.trials}
    assert {tid for tid, t in by_ray_id.items() if t.state == TrialState.PRUNED} == stopped
    for tid in stopped:
        assert len(by_ray_id[tid].intermediate_values) == status[tid]["epochs_run"]


def test_known_good_point_ran_first(sweep):
    experiment, _ = sweep
    study = optuna.load_study(study_name="smoke", storage=open_study_storage(experiment))
    first = min(study.trials, key=lambda t: t.number)
    assert first.params["lr"] == 0.001 and first.params["optimizer"] == "adam"


@pytest.mark.parametrize("edit, field", [
    (("batch_size: {type: categorical", "batch_sise: {type: categorical"), "search.space.batch_sise"),
    (("lr: {type: float, low: 1.0e-4", "lr: {type: float, low: 0.5"), "search.space.lr.low"),
    (("optimizer: {type: categorical, choices: [adam,", "optimizer: {type: categorical, choices: [lion,"), "search.space.optimizer"),
    (("source: ../shared/datasets/clothing-small", "source: /nonexistent/photos"), "data.source"),
    (("  path: experiments", "  path: s3://bucket/sweeps?endpoint_override=127.0.0.1:9&scheme=http"), "storage.path"),
])
def test_bad_config_fails_before_ray_with_one_line(tmp_path, edit, field):
    text = (ROOT / "configs" / "smoke.yaml").read_text()
    assert edit[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(*edit))
    proc = run_cli("-m", "search.run", "--space", str(path), timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert "ray" not in proc.stdout.lower()


def test_help_lists_every_flag():
    proc = run_cli("-m", "search.run", "--help", timeout=60)
    assert proc.returncode == 0
    for flag in ("--space", "--data", "--storage", "--name", "--num-samples", "--max-concurrent",
                 "--max-epochs", "--address", "--resume", "--smoke", "--warm-start"):
        assert flag in proc.stdout


def test_gpu_fraction_on_a_cpu_only_machine_says_how_to_fix_it(clothing_root, session_tmp):
    proc = run_cli("-m", "search.run", "--space", "configs/smoke.yaml", "--smoke", "--data", str(clothing_root),
                   "--set", "resources.gpu=0.5", "--set", f"data.cache_dir={session_tmp / 'cache'}",
                   "--storage", str(session_tmp / "exp"), timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "resources.gpu is 0.5" in last and "set resources.gpu: 0" in last, last
    assert "this machine has (0)" in last and "started a local Ray" not in proc.stderr, proc.stderr[-2000:]
