"""python -m data_pipeline.prepare as a user runs it."""
from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.data_pipeline.conftest import write_good


def test_help():
    out = run_cli("-m", "data_pipeline.prepare", "--help")
    assert out.returncode == 0 and "--image-size" in out.stdout and "--manifest" in out.stdout


def test_real_run_prints_table_and_writes_report(messy_tree, tmp_path):
    out = run_cli("-m", "data_pipeline.prepare", str(messy_tree), "--out", str(tmp_path / "c"), "--image-size",
                  "32", "--min-image-side", "16", "--val-frac", "0.2", "--test-frac", "0.2", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "train@hybrid" in out.stdout and "excluded:" in out.stdout and "truncated 1" in out.stdout
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert report["classes"] == ["a", "b"] and set(report["splits"]) == {"train", "validation", "test"}
    assert {"path", "reason"} <= set(report["excluded"][0])


def test_user_errors_exit_2_with_one_line(tmp_path):
    out = run_cli("-m", "data_pipeline.prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "c"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "missing" in out.stderr
    write_good(tmp_path / "src" / "a", 3, seed=1)
    out = run_cli("-m", "data_pipeline.prepare", str(tmp_path / "src"), "--out", str(tmp_path / "c"),
                  "--image-size", "4")
    assert out.returncode == 2 and "image_size" in out.stderr and "Traceback" not in out.stderr
