"""deploy.package + deploy.predict on real clothing images: a package written from a freshly built classifier.

The package here is not trained (the sweep-to-package path is tested in tests/results/test_export.py);
what matters is that a photo file goes through exactly the preprocessing the training cache and loader
applied, so predict's probabilities equal the model's on the cached test images.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import torch

from data_pipeline.config import DataConfig
from data_pipeline.loader import BatchLoader
from deploy.package import PackageError, load_package, write_package
from deploy.predict import classify, format_rows, main
from model.classifier import build_model
from model.config import EdgeNetConfig, ModelConfig, RunConfig
from tests.conftest import run_cli

TEMPERATURE = 2.5
"""The package's calibration temperature: predict must divide the logits by it."""


@pytest.fixture(scope="module")
def package(small_cache, clothing_root, tmp_path_factory):
    """An untrained test_vit + residual EdgeNet packaged with small_cache's config and classes."""
    cfg = RunConfig(data=DataConfig(source=str(clothing_root), image_size=small_cache.image_size, max_per_class=24),
                    model=ModelConfig(backbone="test_vit", image_size=64, edgenet=EdgeNetConfig(mode="residual")))
    torch.manual_seed(0)
    model = build_model(cfg.model, len(small_cache.classes)).eval()
    with torch.no_grad():
        model.edgenet.scale.fill_(0.5)  # exercise the EdgeNet branch (it starts at 0)
    out = write_package(tmp_path_factory.mktemp("pkg") / "package", model, cfg, small_cache.classes, {"note": "test", "calibration": {"temperature": TEMPERATURE}})
    return out, model


def test_package_round_trip(package, small_cache):
    path, model = package
    pkg = load_package(path)
    assert pkg.classes == small_cache.classes
    assert pkg.preprocessing.image_size == small_cache.image_size and pkg.preprocessing.edgenet_mode == "residual"
    assert pkg.meta["note"] == "test"
    rebuilt = pkg.build_model()
    for name, tensor in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], tensor), name


def test_predict_reproduces_model_on_cached_test_images(package, small_cache, clothing_root):
    """Decoding the JPEGs anew gives the cache's pixels, so probabilities match the (calibrated) model on the cache."""
    path, model = package
    split = small_cache.split("test")
    dc = model.data_config
    x, _ = next(BatchLoader(split, batch_size=len(split), device="cpu", mean=dc["mean"], std=dc["std"],
                            out_size=dc["input_size"][-1]).iterate())
    with torch.no_grad():
        expected = torch.softmax(model(x) / TEMPERATURE, dim=1)
    rows = classify(str(path), [str(clothing_root / p) for p in split.paths], top_k=len(small_cache.classes),
                    batch_size=37)
    assert [r.path for r in rows] == [str(clothing_root / p) for p in split.paths] and not any(r.error for r in rows)
    got = torch.tensor([[dict(zip(r.labels, r.probs))[c] for c in small_cache.classes] for r in rows])
    assert (got - expected).abs().max().item() < 1e-5
    assert all(list(r.probs) == sorted(r.probs, reverse=True) for r in rows)


def test_cli_folder_with_broken_file(package, clothing_root, tmp_path):
    """A broken file, an empty one and a non-image are error rows; every good image still gets its row."""
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    good = sorted((clothing_root / "test" / "hat").glob("*.jpg"))[:3]
    for i, src in enumerate(good):
        shutil.copy(src, (folder / "nested" if i else folder) / src.name)
    (folder / "broken.jpg").write_bytes(good[0].read_bytes()[:200])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image, not listed")
    proc = run_cli("-m", "deploy.predict", "--model", str(package[0]), str(folder), str(tmp_path / "missing.jpg"),
                   "--top-k", "2", "--batch-size", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 6  # 3 good + broken + empty + missing; notes.txt is not an image
    errors = {Path(r["path"]).name: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"broken.jpg", "empty.png", "missing.jpg"}, errors
    assert errors["missing.jpg"].startswith("missing") and "empty" in errors["empty.png"]
    for r in rows:
        if not r["error"]:
            assert r["label_1"] in load_package(package[0]).classes and 0 < float(r["prob_1"]) <= 1
            assert float(r["prob_1"]) >= float(r["prob_2"])
    assert "predict" in proc.stderr  # the progress bar and the summary go to stderr


def test_json_format_and_top_k_clamped(package, clothing_root, tmp_path):
    image = next((clothing_root / "test" / "shoes").glob("*.jpg"))
    out = tmp_path / "out.json"
    assert main(["--model", str(package[0]), str(image), "--format", "json", "--top-k", "50", "--out", str(out),
                 "--no-progress"]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 1 and rows[0]["error"] is None and len(rows[0]["predictions"]) == 10
    assert abs(sum(p["prob"] for p in rows[0]["predictions"]) - 1.0) < 1e-5


def test_user_errors_exit_2(package, tmp_path, capsys):
    assert main(["--model", str(tmp_path), "x.jpg"]) == 2
    assert "not a model package" in capsys.readouterr().err
    assert main(["--model", str(package[0]), str(tmp_path), "--no-progress"]) == 2  # an empty folder
    assert "no images found" in capsys.readouterr().err
    assert main(["--model", str(package[0]), "x.jpg", "--top-k", "0"]) == 2
    with pytest.raises(PackageError, match="model.onnx"):
        load_package(package[0]).file("model.onnx")


def test_csv_pads_short_rows():
    from deploy.predict import Prediction

    text = format_rows([Prediction("a.jpg", ("hat",), (0.9,)), Prediction("b.jpg", error="not an image: x")], "csv", 2)
    assert text.splitlines() == ["path,error,label_1,prob_1,label_2,prob_2", "a.jpg,,hat,0.900000,,",
                                 "b.jpg,not an image: x,,,,"]


def test_help():
    proc = run_cli("-m", "deploy.predict", "--help")
    assert proc.returncode == 0 and "--backend" in proc.stdout and "--top-k" in proc.stdout
