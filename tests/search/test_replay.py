"""search.replay: nearest recorded configuration, exact replay without noise, determinism, noise magnitude (no Ray)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.names import COMPLETED, RUNNING, STATUS
from search.config import ParamSpec
from search.replay import epoch_metrics, nearest_trial, replay_curve, seed_spread
from tests.conftest import ROOT, run_cli

SPACE = {
    "lr": ParamSpec(type="float", low=1e-4, high=1e-2, log=True),
    "dropout": ParamSpec(type="float", low=0.0, high=0.5),
    "optimizer": ParamSpec(type="categorical", choices=("adam", "sgd")),
}
CONFIGS = {"a": (1e-4, 0.0, "adam"), "b": (1e-2, 0.5, "adam"), "c": (1e-3, 0.25, "sgd")}
EPOCHS, SEED_SD = 4, 0.02


def curve_table(repeats: int = 0, sd: float = SEED_SD) -> pd.DataFrame:
    """Three configs at seed 0 with distinct curves; `repeats` extra configs recorded at both seeds, noise `sd`."""
    rng = np.random.default_rng(7)
    rows = []

    def add(trial_id, seed, lr, dropout, optimizer, base, jitter):
        for epoch in range(1, EPOCHS + 1):
            f1 = base + 0.05 * epoch + jitter[epoch - 1]
            rows.append(dict(trial_id=trial_id, seed=seed, lr=lr, dropout=dropout, optimizer=optimizer, epoch=epoch,
                             val_f1=f1, val_acc=f1 + 0.1, val_loss=2.0 - f1, train_loss=1.5 - f1, epoch_time_s=10.0))

    for i, (name, (lr, dropout, optimizer)) in enumerate(CONFIGS.items()):
        add(name, 0, lr, dropout, optimizer, 0.1 * (i + 1), np.zeros(EPOCHS))
    for r in range(repeats):
        lr, dropout = float(10 ** rng.uniform(-4, -2)), float(rng.uniform(0, 0.5))
        add(f"r{r}", 0, lr, dropout, "adam", 0.3, rng.normal(0, sd, EPOCHS))
        add(f"s{r}", 1, lr, dropout, "adam", 0.3, rng.normal(0, sd, EPOCHS))
    return pd.DataFrame(rows)


def params_of(name: str) -> dict:
    lr, dropout, optimizer = CONFIGS[name]
    return {"lr": lr, "dropout": dropout, "optimizer": optimizer}


def test_nearest_uses_log_scale_and_categorical_mismatch():
    table = curve_table()
    # 1.2e-3 is far nearer to c's 1e-3 than to b's 1e-2 on a log scale (on a linear one it would be nearer a's 1e-4)
    assert nearest_trial(SPACE, table, {"lr": 1.2e-3, "dropout": 0.25, "optimizer": "sgd"}) == "c"
    # a categorical mismatch costs 1: c's sgd loses to a's adam although c is nearer in lr and dropout
    assert nearest_trial(SPACE, table, {"lr": 5e-4, "dropout": 0.2, "optimizer": "adam"}) == "a"
    assert nearest_trial(SPACE, table, {"lr": 9e-3, "dropout": 0.45, "optimizer": "adam"}) == "b"


def test_recorded_configuration_replays_exactly_its_curve_with_noise_off():
    table = curve_table(repeats=5)
    served = replay_curve(table, SPACE, params_of("b"), epochs=EPOCHS, seeds=(0, 0), noise=False)
    recorded = table[table.trial_id == "b"].sort_values("epoch")
    assert [row["epoch"] for row in served] == list(recorded.epoch)
    for metric in ("val_f1", "val_acc", "val_loss", "train_loss", "epoch_time_s"):
        assert [row[metric] for row in served] == pytest.approx(list(recorded[metric]), abs=0)
    assert {row["replayed_from"] for row in served} == {"b"}


def test_fewer_planned_epochs_serve_the_prefix_and_the_last_reports_completed():
    served = replay_curve(curve_table(), SPACE, params_of("a"), epochs=2, seeds=(0, 0), noise=False)
    assert [row["epoch"] for row in served] == [1, 2]
    assert epoch_metrics(served, 0, planned=2)[STATUS] == RUNNING
    last = epoch_metrics(served, 1, planned=2)
    assert last[STATUS] == COMPLETED and last["epochs_planned"] == 2


def test_replay_is_deterministic_per_seed_and_differs_between_seeds():
    table = curve_table(repeats=5)
    once = replay_curve(table, SPACE, params_of("c"), epochs=EPOCHS, seeds=(3, 0), noise=True)
    again = replay_curve(table, SPACE, params_of("c"), epochs=EPOCHS, seeds=(3, 0), noise=True)
    other = replay_curve(table, SPACE, params_of("c"), epochs=EPOCHS, seeds=(4, 0), noise=True)
    assert [r["val_f1"] for r in once] == [r["val_f1"] for r in again]
    assert [r["val_f1"] for r in once] != [r["val_f1"] for r in other]


def test_seed_spread_recovers_the_recorded_noise_and_replay_draws_it():
    table = curve_table(repeats=60, sd=SEED_SD)
    spread = seed_spread(table)
    assert spread["val_f1"] == pytest.approx(SEED_SD, rel=0.15)
    recorded = table[table.trial_id == "c"].sort_values("epoch").val_f1.to_numpy()
    deviations = np.concatenate([
        np.array([r["val_f1"] for r in replay_curve(table, SPACE, params_of("c"), epochs=EPOCHS, seeds=(s, 0),
                                                     noise=True)]) - recorded
        for s in range(200)])
    assert abs(deviations.mean()) < 3 * SEED_SD / math.sqrt(len(deviations))
    assert deviations.std() == pytest.approx(spread["val_f1"], rel=0.1)


def test_one_seed_only_means_no_noise():
    table = curve_table()
    assert set(seed_spread(table).values()) == {0.0}
    noisy = replay_curve(table, SPACE, params_of("a"), epochs=EPOCHS, seeds=(1, 0), noise=True)
    assert [r["val_f1"] for r in noisy] == list(table[table.trial_id == "a"].sort_values("epoch").val_f1)


def recorded_space_table(path, configs: int = 12, epochs: int = 4) -> None:
    """A small table over configs/bench/replay.yaml's space: F1 rises with lr, so ASHA has losers to stop."""
    from search.config import load_config

    space = load_config(str(ROOT / "configs" / "bench" / "replay.yaml")).search.space
    rng = np.random.default_rng(0)
    rows = []
    for i in range(configs):
        params = {name: (str(rng.choice(spec.choices)) if spec.type == "categorical" and isinstance(spec.choices[0], str)
                         else int(rng.choice(spec.choices)) if spec.type == "categorical"
                         else float(np.exp(rng.uniform(np.log(spec.low), np.log(spec.high)))) if spec.log
                         else float(rng.uniform(spec.low, spec.high))) for name, spec in space.items()}
        quality = (np.log10(params["lr"]) + 4) / 2  # 0 .. 1
        for epoch in range(1, epochs + 1):
            f1 = 0.1 + 0.6 * quality * epoch / epochs
            rows.append(dict(trial_id=f"t{i:02d}", seed=0, **params, epoch=epoch, val_f1=f1, val_acc=f1 + 0.05,
                             val_loss=2.5 - 2 * f1, train_loss=2.3 - 2 * f1, epoch_time_s=1.0))
    pd.DataFrame(rows).to_parquet(path, index=False)


@pytest.fixture(scope="module")
def replayed_sweep(tmp_path_factory):
    """One real replayed sweep (9 trials, ASHA) through `python -m search.run`, shared by the tests below."""
    root = tmp_path_factory.mktemp("replay")
    table = root / "curves.parquet"
    recorded_space_table(table)
    proc = run_cli("-m", "search.run", "--space", "configs/bench/replay.yaml", "--storage", str(root / "exp"),
                   "--name", "replay", "--num-samples", "9", "--max-concurrent", "3", "--no-report",
                   "--set", f"replay.table={table}", "--set", "replay.time_scale=0.2", "--set", "train.epochs=4",
                   timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root, proc


@pytest.mark.integration
def test_replayed_sweep_runs_through_search_run_and_optuna_holds_stopped_trials_as_pruned(replayed_sweep):
    import json

    import optuna
    from optuna.trial import TrialState

    from results.collect import collect
    from search.searcher import open_study_storage

    root, proc = replayed_sweep
    assert "import torch" not in proc.stderr
    experiment = root / "exp" / "replay"
    status = json.loads((experiment / "trial_status.json").read_text())
    stopped = {tid for tid, s in status.items() if s["status"] == "early_stopped"}
    assert stopped and any(s["status"] == "completed" for s in status.values()), status
    study = optuna.load_study(study_name="replay", storage=open_study_storage(experiment))
    by_ray_id = {t.user_attrs["ray_trial_id"]: t for t in study.trials}
    assert {tid for tid, t in by_ray_id.items() if t.state == TrialState.PRUNED} == stopped
    collected = collect(str(experiment))  # the results tables read a replayed sweep like a trained one
    assert len(collected.trials) == 9 and set(collected.epochs["trial_id"]) == set(status)


@pytest.mark.integration
def test_warm_start_seeds_the_new_study_and_leaves_the_earlier_experiment_untouched(replayed_sweep):
    """`--warm-start` the replayed sweep into a narrower space (no sgd): the fitting finished trials seed it."""
    import hashlib

    import optuna
    import yaml

    from search.searcher import open_study_storage
    from search.warm_start import SOURCE_ATTR

    def digest(folder):
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    root, _ = replayed_sweep
    earlier = root / "exp" / "replay"
    before = digest(earlier)
    cfg = yaml.safe_load((ROOT / "configs" / "bench" / "replay.yaml").read_text())
    cfg["search"]["space"]["optimizer"] = {"type": "categorical", "choices": ["adam", "adamw"]}
    cfg["search"].update(num_samples=2, max_concurrent=2)
    cfg["train"]["epochs"] = 4
    cfg["replay"] = {"table": str(root / "curves.parquet"), "time_scale": 0.0, "noise": False}
    space = root / "narrower.yaml"
    space.write_text(yaml.safe_dump(cfg))
    second = run_cli("-m", "search.run", "--space", str(space), "--storage", str(root / "exp"), "--name", "second",
                     "--no-report", "--warm-start", str(earlier), timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    old = optuna.load_study(study_name="replay", storage=open_study_storage(earlier)).trials
    fitting = [t for t in old if t.params.get("optimizer") != "sgd" and t.state.is_finished()]
    assert 0 < len(fitting) < len(old), "the table's sweep should hold trials on both sides of the narrower space"
    line = next(ln for ln in (second.stdout + second.stderr).splitlines() if ln.startswith("warm start:"))
    assert line.startswith(f"warm start: took {len(fitting)} trials from {earlier}")
    assert "optimizer outside the new space" in line
    new = optuna.load_study(study_name="second", storage=open_study_storage(root / "exp" / "second")).trials
    assert sum(SOURCE_ATTR in t.user_attrs for t in new) == len(fitting)
    assert len(new) == len(fitting) + 2
    assert digest(earlier) == before


def test_a_missing_table_is_refused_in_one_line_before_ray(tmp_path):
    from core.schema import ConfigError
    from search.run import load_sweep_config, parse_args

    args = parse_args(["--space", str(ROOT / "configs" / "bench" / "replay.yaml"), "--storage", str(tmp_path),
                       "--set", f"replay.table={tmp_path / 'absent.parquet'}"])
    with pytest.raises(ConfigError, match=r"replay\.table.*absent\.parquet.*benchmarks\.record"):
        load_sweep_config(args)
