import csv
import json

import pytest
import torch

from core.schema import load_yaml
from model.config import load_run_config
from tests.conftest import ROOT, run_cli

CONFIG = ROOT / "configs" / "train_tiny.yaml"


def test_help():
    proc = run_cli("-m", "model.train", "--help")
    assert proc.returncode == 0 and "--config" in proc.stdout and "--set" in proc.stdout


def test_shipped_config_loads():
    cfg = load_run_config(str(CONFIG))
    assert cfg.model.backbone and cfg.data.source.endswith("clothing-small")


def test_bad_override_exits_2_with_one_line(tmp_path):
    proc = run_cli("-m", "model.train", "--config", str(CONFIG), "--set", "train.lr=-1", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "train.lr" in proc.stderr


def test_missing_data_exits_2(tmp_path):
    proc = run_cli("-m", "model.train", "--config", str(CONFIG), "--data", str(tmp_path / "nowhere"),
                   "--out", str(tmp_path / "out"), "--set", f"data.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.strip()


@pytest.mark.integration
def test_trains_well_above_chance(clothing_root, session_tmp, tmp_path):
    out = tmp_path / "run"
    proc = run_cli("-m", "model.train", "--config", str(CONFIG), "--data", str(clothing_root), "--out", str(out),
                   "--threads", "2", "--set", f"data.cache_dir={session_tmp / 'train_cache'}", "--set", "train.epochs=4",
                   "--test")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert rows[-1]["status"] == "completed"
    best = max(float(r["val_balanced_acc"]) for r in rows)  # t-shirts alone are 24% of val_acc's photos
    assert best >= 0.22, f"best balanced accuracy {best} (any constant prediction: 0.1)"
    assert (out / "checkpoint.pt").is_file()
    assert load_yaml(out / "config.yaml")["data"]["source"] == str(clothing_root)
    final = json.loads((out / "final.json").read_text())
    assert len(final["per_class"]) == 10 and "test" in final
    assert len(proc.stdout.strip().splitlines()) >= len(rows)


RECIPE_ON = ["train.ema_decay=0.99", "train.mixup_alpha=0.2", "train.cutmix_alpha=1.0", "train.label_smoothing=0.1",
             "train.accumulate_steps=2", "train.tta=flip", "model.drop_path_rate=0.1", "data.augment.trivial_augment=true",
             "data.augment.random_erasing=0.25", "data.balance.strategy=crt", "data.balance.crt_epochs=1"]


@pytest.mark.integration
def test_the_whole_recipe_runs_from_the_command_line(clothing_root, session_tmp, tmp_path):
    """The recipe's options and cRT on at once, on a tiny model and 8 photos a class: the CLI accepts them
    all, trains both phases and writes the averaged weights into the checkpoint."""
    import torch

    out = tmp_path / "run"
    sets = [f"data.cache_dir={session_tmp / 'recipe_cache'}", "data.max_per_class=8", "data.image_size=32",
            "model.backbone=test_vit", "model.image_size=32", "train.epochs=2", "train.batch_size=16", *RECIPE_ON]
    proc = run_cli("-m", "model.train", "--config", str(CONFIG), "--data", str(clothing_root), "--out", str(out),
                   "--threads", "1", *[arg for s in sets for arg in ("--set", s)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["status"] for r in rows] == ["running", "completed"]
    assert load_yaml(out / "config.yaml")["data"]["balance"]["strategy"] == "crt"
    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["ema"] is not None and state["optimizer_steps"] > 0


def test_model_package_never_imports_ray_or_optuna():
    code = ("import sys, model.train, model.trainer, model.classifier, model.optim, model.metrics; "
            "bad = [m for m in ('ray', 'optuna') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = run_cli("-c", code)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "gpu"])
def test_a_device_this_machine_lacks_exits_2_with_one_line(tmp_path, device):
    proc = run_cli("-m", "model.train", "--config", str(CONFIG), "--device", device, "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and f"error: device is '{device}', but " in proc.stderr
