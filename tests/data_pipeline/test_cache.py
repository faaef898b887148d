"""prepare_cache / open_cache on generated trees with bad files, and on the real clothing-small."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_pipeline import cache as cache_mod
from data_pipeline.cache import DataError, open_cache, prepare_cache
from data_pipeline.config import DataConfig
from tests.data_pipeline.conftest import BOMB_LIMIT, noise_image, write_good

README_COUNTS = {  # clothing-small/README.md
    "dress": (241, 32, 15), "hat": (123, 14, 12), "longsleeve": (455, 49, 72), "outwear": (184, 24, 38),
    "pants": (468, 49, 42), "shirt": (290, 29, 26), "shoes": (198, 26, 73), "shorts": (202, 25, 30),
    "skirt": (112, 12, 12), "t-shirt": (795, 81, 52),
}


def _cfg(source, tmp_path, **kw) -> DataConfig:
    base = dict(source=str(source), image_size=32, min_image_side=16, max_image_pixels=BOMB_LIMIT,
                val_frac=0.2, test_frac=0.2, cache_dir=str(tmp_path / "cache"))
    return DataConfig(**{**base, **kw})


def _reasons(report) -> dict[str, str]:
    return {e["path"]: e["reason"] for e in report["excluded"]}


@pytest.fixture(scope="module")
def clothing32(clothing_root, tmp_path_factory):
    cfg = DataConfig(source=str(clothing_root), image_size=32, cache_dir=str(tmp_path_factory.mktemp("c32")))
    return cfg, prepare_cache(cfg, progress=False)


def test_clothing_small_counts_match_readme(clothing32):
    _, data = clothing32
    assert data.classes == tuple(sorted(README_COUNTS)) and not data.hit
    for split, column in (("train", 0), ("validation", 1), ("test", 2)):
        s = data.split(split)
        expected = [README_COUNTS[c][column] for c in data.classes]
        assert s.class_counts(len(data.classes)).tolist() == expected
        assert s.images.shape == (len(s), 32, 32, 3) and s.images.dtype == np.uint8
        assert not s.images.flags.writeable and s.labels.dtype == np.int64
    assert data.report["excluded"] == [] and len(data.split("train")) == 3068


def test_second_prepare_is_a_hit_with_same_content(clothing32):
    cfg, first = clothing32
    again = prepare_cache(cfg, progress=False)
    assert again.hit and again.key == first.key and again.path == first.path
    assert np.array_equal(again.split("test").images, first.split("test").images)
    last = json.loads((Path(cfg.cache_dir) / "report.json").read_text())
    assert last["key"] == first.key


def test_messy_tree_excludes_each_bad_file_with_its_reason(messy_tree, tmp_path):
    data = prepare_cache(_cfg(messy_tree, tmp_path), progress=False)
    reasons = _reasons(data.report)
    assert reasons["a/zero.jpg"] == "not an image" and reasons["a/text.jpg"] == "not an image"
    assert reasons["a/truncated.jpg"] == "truncated"
    assert reasons["a/bomb.png"] == "decompression bomb" and reasons["a/tiny.png"] == "too small"
    assert reasons["b/copy_of_a0.png"] == "leakage"
    assert "duplicate" in {reasons.get("b/img00.png"), reasons.get("b/copy_of_b0.png")}
    assert data.classes == ("a", "b")  # c has one image: dropped, reported, not an empty split
    assert data.report["dropped_classes"][0]["class"] == "c"
    kept = [p for s in ("train", "validation", "test") for p in data.split(s).paths]
    for name in ("alpha.png", "cmyk.jpg", "gray16.png", "gray.png", "palette.png", "caf\\xe9.png"):
        assert f"a/{name}" in kept, name
    assert len(kept) == 6 + 6 + 6  # a: 6 good + 6 converted; b: 6 distinct images
    assert all(len(data.split(s)) > 0 for s in ("train", "validation", "test"))
    json.dumps(data.report)  # the report (with the non-UTF-8 name) is valid JSON


def test_presplit_tree_keeps_its_split_and_drops_leaked_test_copy(tmp_path):
    root = tmp_path / "pre"
    for split, n in (("train", 5), ("val", 2), ("test", 2)):
        for cls in ("x", "y"):
            write_good(root / split / cls, n, seed=hash((split, cls)) % 1000)
    leaked = write_good(root / "train" / "x", 1, seed=999)[0]
    (root / "test" / "x" / "leak.png").write_bytes(leaked.read_bytes())
    data = prepare_cache(_cfg(root, tmp_path, max_image_pixels=10**8), progress=False)
    assert data.report["splits"]["validation"] == {"x": 2, "y": 2}
    assert data.report["splits"]["test"] == {"x": 2, "y": 2}
    assert _reasons(data.report) == {"test/x/leak.png": "leakage"}


def test_manifest_source_like_fashion_product_images(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(1, 13):
        noise_image(100 + i).save(images / f"{i}.jpg")
    (images / "13.jpg").write_bytes((images / "1.jpg").read_bytes())  # same image under another label
    noise_image(200).save(images / "orphan.jpg")
    rows = ["id,articleType"] + [f"{i},{'Tshirts' if i <= 6 else 'Watches'}" for i in range(1, 13)]
    rows += ["13,Belts", "404,Tshirts", "7.jpg,Watches"]
    manifest = tmp_path / "styles.csv"
    manifest.write_text("\n".join(rows) + "\n")
    cfg = _cfg(images, tmp_path, manifest=str(manifest), image_col="id", label_col="articleType",
               max_image_pixels=10**8)
    data = prepare_cache(cfg, progress=False)
    reasons = _reasons(data.report)
    assert reasons["404"] == "missing" and reasons["orphan.jpg"] == "no label" and reasons["1.jpg"] == "leakage"
    # order is (split, class, path): Belts' copy comes first, then Belts is too small to split
    assert data.classes == ("Tshirts", "Watches") and data.report["dropped_classes"][0]["class"] == "Belts"
    assert sum(len(data.split(s)) for s in ("train", "validation", "test")) == 11


def test_label_filters(messy_tree, tmp_path):
    only_b = prepare_cache(_cfg(messy_tree, tmp_path, include=("b",)), progress=False)
    assert only_b.classes == ("b",)
    no_b = prepare_cache(_cfg(messy_tree, tmp_path, exclude=("b",), min_count=7), progress=False)
    assert no_b.classes == ("a",)
    with pytest.raises(DataError, match="nope"):
        prepare_cache(_cfg(messy_tree, tmp_path, include=("nope",)), progress=False)
    with pytest.raises(DataError, match="no class has usable images"):
        prepare_cache(_cfg(messy_tree, tmp_path, min_count=100), progress=False)


def test_key_changes_with_parameters_and_files(tmp_path):
    root = tmp_path / "src"
    write_good(root / "p", 4, seed=5)
    write_good(root / "q", 4, seed=6)
    base = prepare_cache(_cfg(root, tmp_path), progress=False)
    assert prepare_cache(_cfg(root, tmp_path, image_size=24), progress=False).key != base.key
    assert prepare_cache(_cfg(root, tmp_path, seed=1), progress=False).key != base.key
    noise_image(77).save(root / "p" / "img00.png")
    changed = prepare_cache(_cfg(root, tmp_path), progress=False)
    assert changed.key != base.key and not changed.hit


def test_killed_build_leaves_no_complete_cache(tmp_path, monkeypatch):
    root = tmp_path / "src"
    write_good(root / "p", 4, seed=5)
    write_good(root / "q", 4, seed=6)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod, "_write_split", boom)
    with pytest.raises(KeyboardInterrupt):
        prepare_cache(_cfg(root, tmp_path), progress=False)
    monkeypatch.undo()
    assert not list((tmp_path / "cache").glob("*/manifest.json"))
    assert not prepare_cache(_cfg(root, tmp_path), progress=False).hit


def test_file_uri_cache_uploads_then_mirrors(tmp_path, monkeypatch):
    root = tmp_path / "src"
    write_good(root / "p", 4, seed=5)
    write_good(root / "q", 4, seed=6)
    monkeypatch.setenv(cache_mod.MIRROR_ENV, str(tmp_path / "mirror1"))
    uri = f"file://{tmp_path / 'remote'}"
    built = prepare_cache(_cfg(root, tmp_path, cache_dir=uri), progress=False)
    assert built.path == f"{uri}/{built.key}" and (tmp_path / "remote" / built.key / "manifest.json").is_file()
    assert (tmp_path / "remote" / "report.json").is_file()
    monkeypatch.setenv(cache_mod.MIRROR_ENV, str(tmp_path / "mirror2"))  # another node: empty mirror
    opened = open_cache(built.path)
    assert Path(opened.local_dir) == tmp_path / "mirror2" / built.key
    assert np.array_equal(opened.split("train").images, built.split("train").images)
    assert prepare_cache(_cfg(root, tmp_path, cache_dir=uri), progress=False).hit


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        prepare_cache(DataConfig(source=str(tmp_path / "nope"), cache_dir=str(tmp_path)), progress=False)
    with pytest.raises(DataError, match="not a prepared cache"):
        open_cache(str(tmp_path))
    (tmp_path / "imgs").mkdir()
    (tmp_path / "m.csv").write_text("file,cls\n")
    with pytest.raises(DataError, match="no column 'image'"):
        prepare_cache(DataConfig(source=str(tmp_path / "imgs"), manifest=str(tmp_path / "m.csv"),
                                 cache_dir=str(tmp_path)), progress=False)


def test_data_pipeline_never_imports_ray_or_optuna():
    import subprocess
    import sys

    code = ("import sys, data_pipeline.cache, data_pipeline.loader, data_pipeline.balance, data_pipeline.prepare;"
            "print([m for m in sys.modules if m.split('.')[0] in ('ray', 'optuna')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], env={**os.environ})
    assert out.stdout.strip() == "[]", out.stderr


def test_full_cache_disk_is_one_line_and_leaves_no_staging_files(tmp_path, tiny_disk):
    """Decoding into a sparse memory map on a disk that fills up killed the process with SIGBUS; the
    staging file is allocated up front, so a full disk is one line (exit 2) and the build folder goes."""
    for label in ("a", "b"):
        write_good(tmp_path / "src" / label, 12, seed=ord(label))
    proc = subprocess.run([sys.executable, "-m", "data_pipeline.prepare", str(tmp_path / "src"), "--out",
                           str(tiny_disk), "--image-size", "96", "--workers", "1", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])  # -7 was SIGBUS
    assert proc.stderr.strip().splitlines()[-1].startswith("error: data.cache_dir ")
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in tiny_disk.iterdir() if p.name.startswith(".tmp-")] == []
