"""Tables: the best row is the best trial, GPU-hours and savings add up, the formats render."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from core.names import TRAIN_ACC, VAL_ACC, VAL_F1, VAL_LOSS
from results.collect import collect
from results.tables import comparison, cost, leaderboard, to_latex, to_markdown, write_table


def _best_from_files(exp) -> tuple[str, dict]:
    """(trial_id, row of its best epoch) straight from the result.json files."""
    best = None
    for path in exp.glob("*/result.json"):
        for row in map(json.loads, path.read_text().splitlines()):
            if row[VAL_F1] == row[VAL_F1] and (best is None or row[VAL_F1] > best[VAL_F1]):
                best = row
    return best["trial_id"], best


def test_leaderboard_best_row_is_best_trial(exp_a):
    table = leaderboard(collect(str(exp_a)), top=3)
    trial_id, row = _best_from_files(exp_a)
    first = table.iloc[0]
    assert first["Trial"] == trial_id
    assert first["Validation Macro-F1"] == pytest.approx(row[VAL_F1])
    assert first["Validation Accuracy"] == pytest.approx(row[VAL_ACC])
    assert first["Validation Loss"] == pytest.approx(row[VAL_LOSS])
    assert first["Train Accuracy"] == pytest.approx(row[TRAIN_ACC])
    assert first["Best Epoch"] == row["epoch"]
    assert (first["Epochs"], first["Batch Size"], first["Optimizer"]) == (3, 16, "adam")
    assert list(table.index) == [1, 2, 3]
    assert table["Validation Macro-F1"].is_monotonic_decreasing
    assert list(table.columns[2:13]) == ["Epochs", "Best Epoch", "Batch Size", "Learning Rate", "Dropout Rate",
                                         "Weight Decay", "Optimizer", "Train Accuracy", "Train Loss",
                                         "Validation Accuracy", "Validation Loss"]
    assert "Test Accuracy" not in table


def test_leaderboard_shows_test_figures_when_evaluated(exp_a):
    (exp_a / "results").mkdir()
    (exp_a / "results" / "evaluation.json").write_text(json.dumps(
        {"split": "test", "trials": [{"trial_id": "ab12c_00002", "metrics": {"acc": 0.5, "f1": 0.4}}]}))
    table = leaderboard(collect(str(exp_a)), top=2)
    assert table["Test Accuracy"].tolist()[0] == 0.5 and table["Test Macro-F1"].tolist()[0] == 0.4
    assert pd.isna(table["Test Accuracy"].tolist()[1])


def test_comparison_of_two_experiments(exp_a, exp_b):
    a, b = collect(str(exp_a)), collect(str(exp_b))
    table = comparison([a, b]).set_index("Experiment")
    assert table.loc["exp_b", ["Backbone", "EdgeNet", "Balancing"]].tolist() == ["resnet10t", "residual", "oversample"]
    assert table.loc["exp_a", "Best Validation Macro-F1"] == pytest.approx(_best_from_files(exp_a)[1][VAL_F1])
    assert table.loc["exp_a", "Trials"] == 6 and table.loc["exp_b", "Trials"] == 3
    assert table.loc["exp_a", "Early Stopped"] == 1
    wall = {exp: sum(json.loads(p.read_text().splitlines()[-1])["time_total_s"] for p in exp.glob("*/result.json"))
            for exp in (exp_a, exp_b)}
    assert table.loc["exp_a", "GPU-hours"] == pytest.approx(0.5 * wall[exp_a] / 3600)
    assert table.loc["exp_b", "GPU-hours"] == pytest.approx(0.25 * wall[exp_b] / 3600)


def test_cost_adds_up(exp_a):
    c = collect(str(exp_a))
    row = cost([c]).iloc[0]
    # completed 4/4 and 3/3, early-stopped 1 of 4: trained 8 of 11
    assert (row["Epochs Trained"], row["Epochs Without Early Stopping"], row["Epochs Saved"]) == (8, 11, 3)
    assert row["Share Saved"] == pytest.approx(3 / 11)
    assert (row["Trials Counted"], row["Trials Excluded"], row["Early Stopped"]) == (3, 3, 1)
    # each epoch costs 60 s at 0.5 GPU: 8 epochs trained, 11 without early stopping
    assert row["GPU-hours"] == pytest.approx(8 * 60 * 0.5 / 3600)
    assert row["GPU-hours Without Early Stopping"] == pytest.approx(11 * 60 * 0.5 / 3600)


def test_renderings(exp_a, tmp_path):
    table = leaderboard(collect(str(exp_a)), top=2)
    md = to_markdown(table)
    assert md.splitlines()[0].startswith("| Rank | Trial | Status | Epochs |")
    assert "| 66.00% | 1.39 | 71.00% | 1.49 | 0.610 |" in md
    assert "| Adam |" in md
    tex = to_latex(table)
    assert "\\toprule" in tex and "71.00\\%" in tex and "ab12c\\_00002" in tex
    paths = write_table(table, tmp_path, "leaderboard")
    assert [p.suffix for p in paths] == [".md", ".csv", ".tex"]
    back = pd.read_csv(paths[1])
    assert back["Validation Accuracy"].iloc[0] == pytest.approx(0.71)


def test_empty_experiment_gives_empty_tables(tmp_path, clothing_root):
    from tests.results.synthetic import write_experiment
    c = collect(str(write_experiment(tmp_path, "empty", [], clothing_root=str(clothing_root), finished=False)))
    assert leaderboard(c).empty and len(c.trials) == 0
    assert cost([c]).iloc[0]["Epochs Trained"] == 0
    assert comparison([c]).iloc[0]["Trials"] == 0
    assert "| Rank |" in to_markdown(leaderboard(c))
