"""`python -m search.study`: a grid of short sweeps on one Ray, finished cells skipped, one comparison table."""
from __future__ import annotations

import csv

import pytest

from search.study import Study, baseline_cell, best_of_sweep, cell_name, comparison, run_study
from tests.conftest import ROOT, run_cli

TINY = """
base: {base}
grid:
  model.edgenet.mode: ["off", residual]
seeds: [0]
storage: {storage}
set:
  data.max_per_class: 8
  data.cache_dir: {cache}
  search.num_samples: 1
  search.max_concurrent: 1
  search.space.epochs.choices: [1]
  search.points_to_evaluate: []
"""


def write_study(tmp_path, cache, **changes) -> str:
    text = TINY.format(base=ROOT / "configs" / "study" / "base.yaml", storage=tmp_path / "study", cache=cache)
    for old, new in changes.items():
        text = text.replace(old, new)
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return str(path)


def test_the_shipped_study_has_the_issues_grid():
    study = Study.load(str(ROOT / "configs" / "study" / "study.yaml"))
    assert len(study.cells()) == 18 and study.seeds == (0, 1, 2)
    assert study.cells()[0] == {"model.edgenet.mode": "off", "data.balance.strategy": "none", "model.backbone": "test_vit"}
    assert cell_name(study.cells()[-1], 2) == "edge_residual-bal_class_weighted_loss-test_convnext-s2"
    assert len(study.configs([0])) == 18  # every cell's config validates
    gpu = Study.load(str(ROOT / "configs" / "study" / "gpu.yaml"))  # the one docs/STUDY.md names for GPUs
    assert len(gpu.configs([0])) == 12 and gpu.storage.startswith("s3://")


def test_each_cell_is_compared_with_the_baseline_not_itself(tmp_path):
    one_key = Study.load(write_study(tmp_path, tmp_path / "cache"))
    assert baseline_cell(one_key, {"model.edgenet.mode": "residual"}) == {"model.edgenet.mode": "off"}
    shipped = Study.load(str(ROOT / "configs" / "study" / "study.yaml"))  # the last key (backbone) compares apart
    cell = {"model.edgenet.mode": "residual", "data.balance.strategy": "hybrid", "model.backbone": "test_convnext"}
    assert baseline_cell(shipped, cell) == {**cell, "model.edgenet.mode": "off", "data.balance.strategy": "none"}


@pytest.mark.parametrize("old, new, words", [
    ("seeds: [0]", "seeds: zero", "seeds is 'zero'"),
    ("grid:", "gird:", "gird is not a study key"),
    ('["off", residual]', '["off", sideways]', "model.edgenet.mode"),
])
def test_bad_study_file_is_one_line_exit_2(tmp_path, session_tmp, old, new, words):
    proc = run_cli("-m", "search.study", write_study(tmp_path, session_tmp / "cache", **{old: new}), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr


@pytest.mark.integration
def test_study_runs_every_cell_then_skips_finished_ones(tmp_path, session_tmp, capsys):
    path = write_study(tmp_path, session_tmp / "cache")
    first = run_cli("-m", "search.study", path, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "study" / "summary" / "study.csv").open()))
    assert [r["model.edgenet.mode"] for r in rows] == ["off", "residual"]
    off, residual = (float(r["best_val_f1"]) for r in rows)
    assert 0.0 <= off <= 1.0 and 0.0 <= residual <= 1.0 and off + residual > 0, rows  # one epoch learns something
    lines = {line.split("|")[1].strip(): line for line in
             (tmp_path / "study" / "summary" / "study.md").read_text().splitlines() if line.startswith("| ")}
    assert "vs baseline" in lines["model.edgenet.mode"]
    assert "+0.000" in lines["off"] and f"{residual - off:+.3f}" in lines["residual"], lines  # residual vs off
    assert (tmp_path / "study" / "summary" / "report" / "report.html").is_file()
    again = run_study(Study.load(path), seeds=[0])  # no Ray needed: every cell is finished
    assert capsys.readouterr().out.count("finished before, skipped") == 2 and len(again) == 2


def test_the_shipped_imbalance_study_compares_every_balancing_family():
    study = Study.load(str(ROOT / "configs" / "study" / "imbalance.yaml"))
    strategies = study.grid["data.balance.strategy"]
    assert strategies[0] == "none"
    assert {"logit_adjusted", "logit_adjusted_posthoc", "balanced_softmax", "crt"} <= set(strategies)
    configs = study.configs([0])  # every cell's config validates
    assert len(configs) == 14 and all(cfg.run_config.data.balance.crt_epochs == 1 for _, _, cfg in configs)


def test_the_shipped_pretrained_study_compares_edgenet_and_balancing_against_off_and_none():
    study = Study.load(str(ROOT / "configs" / "study" / "pretrained.yaml"))
    configs = study.configs([0])  # every cell's config validates
    assert len(configs) == 12 and all(cfg.run_config.model.pretrained is True for _, _, cfg in configs)
    cell = {"model.edgenet.mode": "residual", "data.balance.strategy": "logit_adjusted",
            "model.backbone": "efficientnet_lite0"}
    assert baseline_cell(study, cell) == {**cell, "model.edgenet.mode": "off", "data.balance.strategy": "none"}


def test_a_sweeps_accuracy_is_its_best_f1_trials_not_the_highest():
    import pandas as pd

    trials = pd.DataFrame({"best_val_f1": [0.04, 0.30, 0.25], "best_val_acc": [0.24, 0.18, 0.20]})
    assert best_of_sweep(trials) == {"best_val_f1": 0.30, "best_val_acc": 0.18}


def test_each_difference_is_paired_by_seed_with_its_spread_beside_it(tmp_path):
    import pandas as pd

    study = Study.load(write_study(tmp_path, tmp_path / "cache"))  # grid: model.edgenet.mode off / residual
    frame = pd.DataFrame({"model.edgenet.mode": ["off", "off", "residual", "residual"], "seed": [0, 1, 1, 0],
                          "best_val_f1": [0.50, 0.60, 0.64, 0.52], "best_val_acc": [0.8, 0.9, 0.91, 0.81],
                          "epochs": [2, 2, 2, 2]})
    off, residual = comparison(study, frame)
    assert off["vs baseline"] == "+0.000 ± 0.000" and off["best val macro-F1"] == "0.550 ± 0.071"
    # per seed: 0.52 - 0.50 and 0.64 - 0.60, so +0.030 ± 0.014 (unpaired, the spread would be 0.08)
    assert residual["vs baseline"] == "+0.030 ± 0.014" and residual["seeds"] == 2
    one_seed = comparison(study, frame[frame["seed"] == 0])
    assert one_seed[1]["vs baseline"] == "+0.020"  # one seed: no spread to show
