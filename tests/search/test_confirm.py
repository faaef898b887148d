"""search.confirm without Ray: the plan (top-k, fresh seeds, exact re-runs), reading a confirmation back, and
bad input as one line with exit code 2. The real confirmation on Ray is tests/search/test_confirm_sweep.py."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core.layout import CONFIRM_DIR, CONFIRM_PLAN, TRIAL_CONFIG
from core.schema import ConfigError
from results.collect import collect
from results.confirm import load_confirmation
from search.config import load_config
from search.confirm import main, plan_confirmation
from search.experiment import write_trial_config
from search.space import trial_run_config
from tests.results.synthetic import (
    FakeTrial,
    _sweep_json,
    _write_trial_dir,
    default_trials,
    sweep_yaml,
    write_experiment,
)


@pytest.fixture
def sweep(tmp_path, clothing_root) -> Path:
    """The synthetic sweep: by best val F1, trial 2 (0.61), trial 0 (0.55), then failed / stopped / diverged ones."""
    return write_experiment(tmp_path / "storage", "sweep", default_trials(), clothing_root=str(clothing_root))


def test_plan_takes_the_top_k_with_fresh_seeds_seed_major(sweep):
    cfg = load_config(str(sweep / "sweep.yaml"))
    plan = plan_confirmation(collect(str(sweep)), cfg, top_k=2, n_seeds=3)
    assert [(c["rank"], c["trial_id"], c["value"]) for c in plan["configs"]] == [
        (1, "ab12c_00002", 0.61), (2, "ab12c_00000", 0.55)]
    assert plan["seeds"] == [1, 2, 3]  # the sweep ran train.seed 0: its draw is not one of them
    first, second = (default_trials()[i].params for i in (2, 0))
    assert plan["points"] == [{**first, "train.seed": 1}, {**second, "train.seed": 1}, {**first, "train.seed": 2},
                              {**second, "train.seed": 2}, {**first, "train.seed": 3}, {**second, "train.seed": 3}]


def test_plan_confirms_a_configuration_sampled_twice_once(tmp_path, clothing_root):
    twice = [FakeTrial(default_trials()[2].params, [0.5, 0.6]), FakeTrial(default_trials()[2].params, [0.5, 0.58]),
             FakeTrial(default_trials()[0].params, [0.4, 0.5])]
    exp = write_experiment(tmp_path / "storage", "twice", twice, clothing_root=str(clothing_root))
    plan = plan_confirmation(collect(str(exp)), load_config(str(exp / "sweep.yaml")), top_k=2, n_seeds=2)
    assert [c["trial_id"] for c in plan["configs"]] == ["ab12c_00000", "ab12c_00002"]
    assert [c["rank"] for c in plan["configs"]] == [1, 3]


def test_plan_refuses_a_trial_its_parameters_no_longer_reproduce(sweep):
    config_file = next(sweep.glob("train_trial_ab12c_00002_*")) / TRIAL_CONFIG
    ran = yaml.safe_load(config_file.read_text())
    ran["train"]["weight_decay"] = 0.5  # what the trial ran is not what its parameters give today
    config_file.write_text(yaml.safe_dump(ran))
    with pytest.raises(ConfigError, match=r"ab12c_00002.*train\.weight_decay = 0\.5"):
        plan_confirmation(collect(str(sweep)), load_config(str(sweep / "sweep.yaml")), top_k=2, n_seeds=2)


def curve(epochs: int, best: float) -> list[float]:
    """A run that completes its planned epochs and ends at its best value."""
    return [best - 0.1] * (epochs - 1) + [best]


def write_confirmation(sweep: Path, plan: dict, values: dict[str, list[float]], extra: list[FakeTrial] = ()) -> Path:
    """EXP/confirm/ as a finished confirmation leaves it: one run per point with the given best values."""
    confirm = sweep / CONFIRM_DIR
    confirm.mkdir()
    (confirm / CONFIRM_PLAN).write_text(json.dumps(plan))
    (confirm / "sweep.json").write_text(json.dumps(_sweep_json(CONFIRM_DIR, sweep_yaml(""), True, "")))
    cfg = load_config(str(sweep / "sweep.yaml"))
    served = {trial_id: iter(v) for trial_id, v in values.items()}
    runs = []
    for point in plan["points"]:
        owner = next(c["trial_id"] for c in plan["configs"]
                     if c["params"] == {k: v for k, v in point.items() if k != "train.seed"})
        runs.append(FakeTrial(point, curve(point["epochs"], next(served[owner]))))
    statuses = {}
    for index, trial in enumerate([*runs, *extra]):
        trial_id = f"cf000_{index:05d}"
        folder = _write_trial_dir(confirm, trial_id, index, trial)
        write_trial_config(folder, trial_run_config(cfg, trial.params))
        statuses[trial_id] = {"status": trial.ending, "params": trial.params}
    (confirm / "trial_status.json").write_text(json.dumps(statuses))
    return confirm


def test_a_confirmation_is_read_back_by_the_configuration_each_run_trained(sweep):
    cfg = load_config(str(sweep / "sweep.yaml"))
    plan = plan_confirmation(collect(str(sweep)), cfg, top_k=2, n_seeds=3)
    stranger = FakeTrial({"epochs": 2, "lr": 0.05, "optimizer": "sgd", "dropout": 0.0, "train.seed": 1}, [0.1, 0.99])
    failed = FakeTrial({**plan["points"][0]}, [0.2, 0.98], "failed")
    write_confirmation(sweep, plan, {"ab12c_00002": [0.50, 0.52, 0.54], "ab12c_00000": [0.56, 0.60, 0.58]},
                       extra=[stranger, failed])
    confirmation = load_confirmation(collect(str(sweep)))
    table = confirmation.table
    assert list(table["Trial"]) == ["ab12c_00000", "ab12c_00002"]  # the sweep's runner-up confirms higher
    assert list(table["Sweep Rank"]) == [2, 1] and list(table["Seeds"]) == [3, 3]  # stranger and failed: not counted
    assert table["Validation Macro-F1 Mean"].tolist() == pytest.approx([0.58, 0.52])
    assert table["Sweep Validation Macro-F1"].tolist() == pytest.approx([0.55, 0.61])
    assert list(table["Optimizer"]) == ["adam", "adam"] and list(table["Within Noise Of"]) == ["-", "-"]
    assert "top 2 configurations re-run with 3 fresh seeds" in confirmation.caption


def test_a_finished_confirmation_is_tabulated_again_and_other_flags_are_refused(sweep, capsys):
    cfg = load_config(str(sweep / "sweep.yaml"))
    plan = plan_confirmation(collect(str(sweep)), cfg, top_k=1, n_seeds=2)
    write_confirmation(sweep, plan, {"ab12c_00002": [0.60, 0.62]})
    assert main([str(sweep), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | ab12c_00002 | 1 |" in out and "Welch" in out
    assert (sweep / "results" / "confirmed.md").is_file() and (sweep / "results" / "confirmed_pairs.csv").is_file()
    assert main([str(sweep), "--top-k", "3"]) == 2
    assert "--top-k is 3, but must match the confirmation already in" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--top-k", "0"], "--top-k is 0, but must be >= 1"),
    (["--seeds", "1"], "--seeds is 1, but must be >= 2"),
])
def test_bad_counts_are_one_line(sweep, capsys, args, message):
    assert main([str(sweep), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_no_such_experiment_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "experiment directory not found" in err and len(err.strip().splitlines()) == 1


def test_an_unfinished_sweep_without_a_finished_trial_is_one_line(tmp_path, clothing_root, capsys):
    running = [FakeTrial(default_trials()[0].params, [0.3], "running")]
    exp = write_experiment(tmp_path / "storage", "early", running, clothing_root=str(clothing_root), finished=False)
    assert main([str(exp)]) == 2
    err = capsys.readouterr().err
    assert "has no finished trial with a value of val_f1" in err and "search.run --resume" in err
    assert len(err.strip().splitlines()) == 1 and not (exp / CONFIRM_DIR).exists()


def test_help_names_the_flags():
    with pytest.raises(SystemExit) as ended:
        main(["--help"])
    assert ended.value.code == 0


def test_fixed_points_are_handed_out_once_each_in_order_and_a_restored_searcher_goes_on(tmp_path):
    from ray.tune.search import Searcher

    from search.searcher import FixedPoints

    points = [{"lr": 0.1, "train.seed": 1}, {"lr": 0.2, "train.seed": 1}, {"lr": 0.1, "train.seed": 2}]
    searcher = FixedPoints(points)
    assert searcher.suggest("t1") == points[0]
    searcher.save(str(tmp_path / "state.json"))  # what Tune keeps with the experiment
    restored = FixedPoints([])
    restored.restore(str(tmp_path / "state.json"))
    assert [restored.suggest(f"t{i}") for i in (2, 3, 4)] == [points[1], points[2], Searcher.FINISHED]
