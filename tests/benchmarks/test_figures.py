import json

import numpy as np

from benchmarks.figures import read_figures, write_figures


def test_each_benchmark_replaces_its_own_key_and_keeps_the_others(tmp_path):
    path = tmp_path / "benchmarks.json"
    write_figures("slot_use", {"slot_use": 0.5}, command="python -m benchmarks.slot_use", path=path)
    write_figures("scale", {"rows": np.int64(3), "curve": np.array([1.0, 2.0])}, command="x", path=path)
    write_figures("slot_use", {"slot_use": 0.9}, command="python -m benchmarks.slot_use", path=path)
    figures = read_figures(path)
    assert figures["slot_use"]["slot_use"] == 0.9
    assert figures["scale"]["rows"] == 3 and figures["scale"]["curve"] == [1.0, 2.0]
    assert figures["slot_use"]["command"] == "python -m benchmarks.slot_use" and figures["slot_use"]["date"]
    assert json.loads(path.read_text()) == figures


def test_no_figures_yet_is_empty(tmp_path):
    assert read_figures(tmp_path / "absent.json") == {}
