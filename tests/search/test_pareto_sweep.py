"""A real sweep with a latency objective: a multi-objective study, a Pareto table and plot, export --pick."""
from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest
import yaml

from core.names import COMPLETED, LATENCY_BATCH_MS, LATENCY_MS, PARAMS_M
from results.collect import collect
from results.pareto import Objective, PickRule, pick_trial
from search.searcher import open_study_storage
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pareto_sweep(tmp_path_factory, clothing_root):
    """Two smoke trials at once, one epoch each (FIFO: both finish), searching input size and EdgeNet mode."""
    tmp = tmp_path_factory.mktemp("pareto")
    cfg = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    cfg["search"]["space"] = {"image_size": {"type": "categorical", "choices": [32, 64]},
                              "edgenet": {"type": "categorical", "choices": ["off", "residual"]},
                              "lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}}
    cfg["search"].update(objectives=["latency_ms", "params_m"], points_to_evaluate=[], num_samples=2,
                         scheduler={"type": "fifo"})
    cfg["train"]["epochs"] = 1
    cfg["train"]["warmup_epochs"] = 0
    path = tmp / "pareto.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_cli("-m", "search.run", "--space", str(path), "--smoke", "--data", str(clothing_root),
                   "--num-samples", "2", "--storage", str(tmp / "exp"), "--name", "pareto",
                   "--set", f"data.cache_dir={tmp / 'cache'}", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp / "exp" / "pareto", tmp


def test_trials_measure_latency_and_the_study_has_two_directions_per_cost(pareto_sweep):
    experiment, _ = pareto_sweep
    study = optuna.load_study(study_name="pareto", storage=open_study_storage(experiment))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 2 and all(t.values[1] > 0 and t.values[2] > 0 for t in done)
    trials = collect(str(experiment)).trials
    assert trials[LATENCY_MS].gt(0).all() and trials[LATENCY_BATCH_MS].gt(0).all()


def test_report_writes_the_pareto_table_and_plot(pareto_sweep):
    experiment, tmp = pareto_sweep
    out = tmp / "report"
    proc = run_cli("-m", "results.report", str(experiment), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "tables" / "pareto_pareto.csv")
    assert 1 <= len(table) <= 2 and table["Latency (ms, batch 1)"].gt(0).all()
    page = (out / "report.html").read_text()
    assert "Pareto-optimal trials" in page and "Pareto front: validation macro-F1 against latency" in page


def test_export_pick_fastest_within_exports_the_trial_the_rule_names(pareto_sweep):
    experiment, tmp = pareto_sweep
    trials = pd.read_parquet(tmp / "report" / "pareto" / "trials.parquet")
    finished = trials[(trials["status"] == COMPLETED) & trials["checkpoint"].notna()]
    expected = pick_trial(finished, PickRule("fastest-within", 0.01), Objective("best_val_f1", "max"))["trial_id"]
    out = tmp / "package"
    proc = run_cli("-m", "deploy.export", str(experiment), "--pick", "fastest-within 0.01", "--formats", "",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((out / "package.json").read_text())
    assert info["source"]["trial_id"] == expected
    assert trials[PARAMS_M].gt(0).all()
