"""`search.run --warm-start` refusals through the CLI (the seeding itself, on a real replayed sweep: test_replay.py)."""
import hashlib

import pandas as pd
import pytest
import yaml

from core.names import EPOCH_METRICS
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.integration

SPACE = {"lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True},
         "optimizer": {"type": "categorical", "choices": ["adamw", "sgd"]}}


def curve_table(path):
    """Six recorded configurations, three epochs each: the better the lr is centred, the better the curve."""
    rows = []
    for i, (lr, opt) in enumerate([(1e-4, "adamw"), (3e-4, "sgd"), (1e-3, "adamw"), (3e-3, "sgd"),
                                   (1e-2, "adamw"), (1e-3, "sgd")]):
        quality = 1.0 - abs(i - 2) / 5
        for epoch in (1, 2, 3):
            score = quality * epoch / 3
            rows.append({"trial_id": f"t{i}", "seed": 0, "lr": lr, "optimizer": opt, "epoch": epoch,
                         "epoch_time_s": 1.0, **{m: (1 - score if m.endswith("loss") else score)
                                                 for m in EPOCH_METRICS}})
    pd.DataFrame(rows).to_parquet(path)


def sweep_config(tmp_path, space):
    cfg = yaml.safe_load((ROOT / "configs" / "bench" / "replay.yaml").read_text())
    cfg["search"].update(num_samples=2, max_concurrent=2, space=space)
    cfg["train"]["epochs"] = 3
    cfg["replay"] = {"table": str(tmp_path / "curves.parquet"), "time_scale": 0.0, "noise": False}
    path = tmp_path / f"sweep-{len(list(tmp_path.glob('sweep-*')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_missing_earlier_experiment_is_one_line_and_exit_2(tmp_path):
    curve_table(tmp_path / "curves.parquet")
    proc = run_cli("-m", "search.run", "--space", str(sweep_config(tmp_path, SPACE)), "--storage",
                   str(tmp_path / "exp"), "--warm-start", str(tmp_path / "nowhere"), timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in proc.stderr
    assert "experiment directory not found" in proc.stderr
