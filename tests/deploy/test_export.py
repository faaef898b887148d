"""deploy.export on a real smoke sweep: package the best trial, then use it from fresh processes.

Accuracy is compared within one image, not exactly: deploy.predict runs in another process, in other batch
sizes (64 against the evaluator's 2 x batch_size) and, for ONNX, with other kernels; logits then differ in
the last float bits (~1e-6), and the smoke model is barely trained, so its top logits often sit that close
and an argmax can flip. That the preprocessing itself is exact is tested in tests/deploy/test_predict.py
(probabilities equal to the model's on the cached images).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.schema import from_mapping, load_yaml
from data_pipeline.cache import open_cache
from deploy.export import TOLERANCE, choose_trial
from model.config import RunConfig
from results.collect import collect
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def exported(real_experiment, tmp_path_factory):
    """The smoke sweep evaluated on test (deploy.evaluate) and its best trial exported with both formats."""
    proc = run_cli("-m", "deploy.evaluate", str(real_experiment), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path_factory.mktemp("export") / "package"
    proc = run_cli("-m", "deploy.export", str(real_experiment), "--out", str(out), timeout=600)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return real_experiment, out, proc


def _test_images(experiment: Path) -> tuple[list[str], list[str]]:
    """The prepared test split as source files, with their true class names."""
    meta = json.loads((experiment / "sweep.json").read_text())
    data = open_cache(meta["cache_path"])
    source = Path(load_yaml(experiment / "sweep.yaml")["data"]["source"])
    split = data.split("test")
    return [str(source / p) for p in split.paths], [data.classes[i] for i in split.labels]


def test_package_contents(exported):
    experiment, out, proc = exported
    meta = json.loads((out / "package.json").read_text())
    c = collect(str(experiment))
    best = choose_trial(c)
    assert meta["source"]["trial_id"] == best["trial_id"] and meta["source"]["retrained"] is False
    assert meta["classes"] == json.loads((experiment / "sweep.json").read_text())["classes"]
    config = from_mapping(RunConfig, load_yaml(out / "config.yaml"))
    ran = from_mapping(RunConfig, load_yaml(experiment / best["trial_dir"] / "trial_config.yaml"))
    assert config == ran  # exactly as the trial ran, as its sweep wrote it down
    assert meta["preprocessing"]["image_size"] == config.data.image_size
    assert meta["preprocessing"]["edgenet_mode"] == config.model.edgenet.mode
    stored = json.loads((experiment / "results" / "evaluation.json").read_text())["trials"][0]
    assert stored["trial_id"] == best["trial_id"]
    assert meta["metrics"]["test"]["acc"] == pytest.approx(stored["metrics"]["acc"])
    if best["checkpoint_is_best"]:  # re-measured on the packaged weights: the sweep's figure at that epoch
        assert meta["metrics"]["validation"]["f1"] == pytest.approx(best[f"best_{c.metric}"])
    for name in ("torchscript", "onnx"):
        check = meta["exports"][name]
        assert (out / check["file"]).is_file() and check["ok"] and check["max_abs_diff"] < TOLERANCE
        assert f"{name}: max |logit diff|" in proc.stdout
    assert "calibration: temperature" in proc.stdout
    assert {p.name for p in out.iterdir()} == {"package.json", "config.yaml", "model.safetensors",
                                               "model.torchscript.pt", "model.onnx"}


def test_package_is_calibrated_on_validation(exported):
    """Temperature scaling fitted at export lowers the expected calibration error on the validation split."""
    experiment, out, _ = exported
    cal = json.loads((out / "package.json").read_text())["calibration"]
    data = open_cache(json.loads((experiment / "sweep.json").read_text())["cache_path"])
    assert cal["images"] == len(data.split("validation")) and cal["temperature"] > 0
    assert cal["nll_after"] <= cal["nll_before"]
    assert cal["ece_after"] < cal["ece_before"], cal
    for key in ("reliability_before", "reliability_after"):
        assert len(cal[key]) == cal["bins"] == 15 and sum(b["count"] for b in cal[key]) == cal["images"]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_predict_reproduces_stored_test_accuracy(exported, backend, tmp_path):
    experiment, out, _ = exported
    paths, truth = _test_images(experiment)
    result = tmp_path / "pred.json"
    proc = run_cli("-m", "deploy.predict", "--model", str(out), *paths, "--backend", backend, "--format", "json",
                   "--top-k", "1", "--out", str(result), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(result.read_text())
    assert [r["path"] for r in rows] == paths and not any(r["error"] for r in rows)
    correct = sum(r["predictions"][0]["label"] == t for r, t in zip(rows, truth))
    stored = json.loads((experiment / "results" / "evaluation.json").read_text())["trials"][0]["metrics"]["acc"]
    assert abs(correct - round(stored * len(paths))) <= 1, (correct, stored, len(paths))


FRESH_CHECK = """
import json, sys, torch, numpy as np, onnxruntime as ort
from data_pipeline.cache import open_cache
from data_pipeline.loader import BatchLoader
from deploy.package import load_package
pkg = load_package(sys.argv[1]); p = pkg.preprocessing
split = open_cache(sys.argv[2]).split("test")
x, _ = next(BatchLoader(split, batch_size=len(split), device="cpu", mean=p.mean, std=p.std, out_size=p.input_size).iterate())
with torch.no_grad():
    ref = pkg.build_model()(x)
    ts = pkg.load_torchscript()(x)
onnx = ort.InferenceSession(str(pkg.file("model.onnx")), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
print(json.dumps({"images": len(split), "torchscript": float((ts - ref).abs().max()),
                  "onnx": float(np.abs(onnx - ref.numpy()).max())}))
"""


def test_exports_match_pytorch_in_fresh_process(exported):
    """Every test image, one batch, in a process that knows nothing but the package and the cache."""
    experiment, out, _ = exported
    cache = json.loads((experiment / "sweep.json").read_text())["cache_path"]
    proc = run_cli("-c", FRESH_CHECK, str(out), cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    diffs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert diffs["images"] > 0 and diffs["torchscript"] < TOLERANCE and diffs["onnx"] < TOLERANCE, diffs


def test_retrain_on_train_plus_validation(exported, tmp_path):
    experiment, _, _ = exported
    out = tmp_path / "retrained"
    proc = run_cli("-m", "deploy.export", str(experiment), "--retrain", "--formats", "torchscript",
                   "--out", str(out), "--device", "cpu")
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    meta = json.loads((out / "package.json").read_text())
    c = collect(str(experiment))
    best = choose_trial(c)
    data = open_cache(c.meta["cache_path"])
    src = meta["source"]
    assert src["retrained"] is True and src["retrain_epochs"] == int(best["best_epoch"])
    assert src["retrain_images"] == len(data.split("train")) + len(data.split("validation"))
    assert from_mapping(RunConfig, load_yaml(out / "config.yaml")).train.epochs == int(best["best_epoch"])
    assert meta["metrics"]["test_images"] == len(data.split("test")) and 0 <= meta["metrics"]["test"]["acc"] <= 1
    assert meta["exports"]["torchscript"]["ok"] and "onnx" not in meta["exports"]
    assert "retrained on train+validation" in proc.stdout


def test_user_errors_exit_2(exported, tmp_path):
    experiment, out, _ = exported
    proc = run_cli("-m", "deploy.export", str(experiment), "--trial", "nosuchtrial", "--out", str(tmp_path / "p"))
    assert proc.returncode == 2 and "--trial 'nosuchtrial' matches 0 trials" in proc.stderr
    assert "Traceback" not in proc.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    proc = run_cli("-m", "deploy.export", str(experiment), "--out", str(tmp_path / "busy"))
    assert proc.returncode == 2 and "not empty" in proc.stderr and (tmp_path / "busy" / "keep.txt").exists()


def test_help():
    proc = run_cli("-m", "deploy.export", "--help")
    assert proc.returncode == 0 and "--retrain" in proc.stdout and "--trial" in proc.stdout


@pytest.mark.parametrize(("alias", "flag"), [("results.export", "--retrain"), ("results.evaluate", "--top-k"),
                                             ("model.predict", "--backend")])
def test_commands_from_before_the_move_still_work(alias, flag):
    proc = run_cli("-m", alias, "--help")
    assert proc.returncode == 0 and flag in proc.stdout, proc.stderr[-2000:]
