"""Hostile inputs cost bounded time and memory and end in a clear error (issue 16 item 13).

YAML built to expand and non-finite numbers are tested with the config mechanism (tests/core/test_schema.py).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from core.layout import folder_name_problem
from core.schema import ConfigError
from core.storage import ExperimentError
from data_pipeline.scan import DecodeParams, decode_file
from data_pipeline.sources import BOMB, walk_files
from tests.conftest import run_cli
from tests.data_pipeline.conftest import write_good

ESCAPING_NAMES = ["..", ".", "../outside", "a/b", "/tmp/abs", "a\\b", "", "tab\there", "x" * 256]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_a_name_that_would_write_outside_its_folder_is_refused(tmp_path, name):
    from search.experiment import Experiment

    assert folder_name_problem(name)
    with pytest.raises(ConfigError, match=r"^storage\.name \(--name\) is .*, but must"):
        Experiment.create(str(tmp_path / "storage"), name)
    assert not (tmp_path / "outside").exists()


def test_plain_names_pass():
    for name in ("demo-20260101-101010", "exp a", "café", "x" * 255):
        assert folder_name_problem(name) is None, name


def test_search_run_refuses_an_escaping_name_before_any_work(tmp_path, clothing_root):
    proc = run_cli("-m", "search.run", "--space", "configs/smoke.yaml", "--data", str(clothing_root),
                   "--storage", str(tmp_path / "storage"), "--name", "../escaped", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: storage.name (--name) is '../escaped', but must be")
    assert "Traceback" not in proc.stderr and not (tmp_path / "escaped").exists()


def test_sweep_json_name_that_escapes_the_report_folder_is_refused(tmp_path, clothing_root):
    from results.report import write_report
    from tests.results.synthetic import default_trials, write_experiment

    exp = write_experiment(tmp_path / "storage", "exp", default_trials()[:2], clothing_root=str(clothing_root))
    meta = json.loads((exp / "sweep.json").read_text())
    (exp / "sweep.json").write_text(json.dumps({**meta, "name": "../../escaped"}))
    with pytest.raises(ExperimentError, match=r"sweep\.json: name is '\.\./\.\./escaped', but must be a single folder"):
        write_report([str(exp)], str(tmp_path / "out" / "report"))
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.rglob("*.parquet"))


def test_image_tree_with_link_loops_and_links_out_is_listed_in_bounded_time(tmp_path, caplog):
    root, outside = tmp_path / "tree", tmp_path / "outside"
    write_good(root / "shirt", 1, seed=1)
    write_good(outside, 1, seed=2)
    (root / "shirt" / "loop").symlink_to(root)            # a folder inside itself
    (root / "self").symlink_to(root / "self")              # a link to itself
    (root / "out_dir").symlink_to(outside)                 # a folder outside the tree
    (root / "shirt" / "out.png").symlink_to(outside / "img00.png")
    (root / "shirt" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (root / "shirt" / "inner.png").symlink_to(root / "shirt" / "img00.png")  # within the tree: kept
    start = time.perf_counter()
    files = walk_files(root)
    assert time.perf_counter() - start < 5
    assert [f.rel for f in files] == ["shirt/img00.png", "shirt/inner.png"]
    assert "links out of the image tree" in caplog.text and "dangling or looping" in caplog.text


def test_oversized_file_is_refused_unread(tmp_path):
    params = DecodeParams(image_size=32, min_side=1, max_pixels=1000)
    path = tmp_path / "huge.jpg"
    with path.open("wb") as f:
        f.truncate(params.max_bytes + 1)  # sparse: costs no disk, and would cost memory if read whole
    start = time.perf_counter()
    decoded = decode_file(str(path), params)
    assert decoded.reason == BOMB and "not read" in decoded.detail and decoded.pixels is None
    assert time.perf_counter() - start < 1 and os.path.getsize(path) == params.max_bytes + 1
