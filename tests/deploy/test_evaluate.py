"""deploy.evaluate: the stored test evaluation equals the trainer's own evaluation of the same checkpoint."""
from __future__ import annotations

import json

import pytest

from deploy.evaluate import evaluate_experiment
from deploy.trial import trial_run_config
from results.collect import collect
from results.tables import leaderboard
from tests.conftest import run_cli
from tests.results.synthetic import FakeTrial, write_experiment

PARAMS = {"epochs": 1, "lr": 1e-3, "optimizer": "adam", "dropout": 0.1}


@pytest.fixture
def trained_experiment(tmp_path, clothing_root, small_cache):
    """An experiment whose best trial's checkpoint is a real one: trained by the Trainer for one epoch."""
    from model.trainer import Trainer

    trials = [FakeTrial(PARAMS, [0.3], kept_checkpoints=[0]),
              FakeTrial(PARAMS | {"lr": 1e-2}, [0.1], kept_checkpoints=[])]
    exp = write_experiment(tmp_path, "exp_eval", trials, clothing_root=str(clothing_root),
                           cache_path=small_cache.path, gpu=0.0)
    c = collect(str(exp))
    best = c.best_trial()
    config = trial_run_config(c, best)
    trainer = Trainer(config, small_cache, device="cpu")
    trainer.fit()
    trainer.save_checkpoint(str(exp / best["checkpoint"]))
    return exp, exp / best["checkpoint"], config


def test_evaluation_matches_trainer(trained_experiment, small_cache):
    from model.trainer import Trainer

    exp, checkpoint, run_cfg = trained_experiment
    done = run_cli("-m", "deploy.evaluate", str(exp), "--top-k", "2", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    evaluation = json.loads((exp / "results" / "evaluation.json").read_text())
    assert [e["trial_id"] for e in evaluation["trials"]] == ["ab12c_00000"]  # the other kept no checkpoint
    entry = evaluation["trials"][0]

    trainer = Trainer(run_cfg, small_cache, device="cpu")
    trainer.load_checkpoint(str(checkpoint))
    expected = trainer.evaluate("test")
    for key in ("acc", "loss", "precision", "recall", "f1", "balanced_acc"):
        assert entry["metrics"][key] == pytest.approx(expected[key], abs=1e-6), key
    assert entry["confusion"] == expected["confusion"]
    assert sum(map(sum, entry["confusion"])) == len(small_cache.split("test"))
    assert [r["class"] for r in entry["per_class"]] == list(small_cache.classes)
    assert entry["epoch"] == 1 and entry["checkpoint_is_best"]
    predictions = entry["predictions"]  # per test image, for the report's gallery: they add up to the matrix
    assert predictions["split"] == "test" and predictions["true"] == small_cache.split("test").labels.tolist()
    pairs = [[0] * len(small_cache.classes) for _ in small_cache.classes]
    for t, p in zip(predictions["true"], predictions["pred"]):
        pairs[t][p] += 1
    assert pairs == expected["confusion"]
    assert "test accuracy" in done.stdout

    table = leaderboard(collect(str(exp)))
    assert table["Test Accuracy"].iloc[0] == pytest.approx(expected["acc"])
    assert table["Test Macro-F1"].iloc[0] == pytest.approx(expected["f1"])


def test_cli_help_and_user_errors(tmp_path, exp_a):
    assert "--top-k" in run_cli("-m", "deploy.evaluate", "--help").stdout
    missing = run_cli("-m", "deploy.evaluate", str(tmp_path / "missing"))
    assert missing.returncode == 2 and "experiment directory not found" in missing.stderr
    # exp_a's checkpoints are placeholder bytes and its sweep.json has no cache path
    bad = run_cli("-m", "deploy.evaluate", str(exp_a))
    assert bad.returncode == 2 and "cache_path is empty" in bad.stderr and "Traceback" not in bad.stderr
    zero = run_cli("-m", "deploy.evaluate", str(exp_a), "--top-k", "0")
    assert zero.returncode == 2 and "--top-k" in zero.stderr


@pytest.mark.integration
def test_real_sweep_tables_report_and_evaluation(real_experiment, tmp_path, artifacts):
    """The lead's real smoke sweep: collected, evaluated, reported, and rendered offline in Chromium."""
    from results.report import write_report
    from tests.results.browser import open_report
    from tests.results.test_report import THUMBS_JS

    c = collect(str(real_experiment))
    assert len(c.trials) >= 1 and len(c.epochs) >= 1
    for trial_id, epochs in c.epochs.groupby("trial_id"):
        trial = c.trials.set_index("trial_id").loc[trial_id]
        assert trial["epochs_run"] == epochs["epoch"].max()
        best = epochs.loc[epochs[c.metric].idxmax() if c.mode == "max" else epochs[c.metric].idxmin()]
        assert trial[f"best_{c.metric}"] == pytest.approx(best[c.metric])
    assert set(c.trials["status"]) <= {"completed", "early_stopped", "diverged", "timed_out", "failed"}
    assert c.trials["checkpoint"].notna().any()

    evaluation = evaluate_experiment(str(real_experiment), top_k=1, device="cpu")
    best = collect(str(real_experiment)).best_trial()
    assert [e["trial_id"] for e in evaluation["trials"]] == [best["trial_id"]]
    table = leaderboard(collect(str(real_experiment)))
    assert table["Trial"].iloc[0] == best["trial_id"]
    assert table["Test Accuracy"].iloc[0] == pytest.approx(evaluation["trials"][0]["metrics"]["acc"])

    path = write_report([str(real_experiment)], str(tmp_path / "report"))
    page = open_report(path, artifacts / "report_real_sweep.png", probe=THUMBS_JS)
    assert not page.console_errors and not page.blocked_requests
    assert all(p["traces"] >= 1 and p["drawn"] >= 1 for p in page.plots), page.plots
    # The photo pages from what the sweep itself left: the trainer's validation predictions beside the best
    # checkpoint and deploy.evaluate's test predictions feed the gallery; every embedded photo decodes offline.
    data, gallery = page.probe["data"], page.probe["gallery"]
    assert data["pages"] == 1 and data["count"] > 0 and data["loaded"] == data["count"], data
    assert gallery["pages"] == 1 and gallery["tables"] == 2, gallery  # validation and test
    assert 0 < gallery["count"] == gallery["loaded"] and gallery["srcs"] == ["data:image/jpeg"], gallery
