import os

import pytest

from benchmarks.trial_overhead import end_to_end_rate, last_write, overhead_ratio, round_order, round_ratios


def test_rounds_alternate_which_run_goes_first():
    assert [round_order(r) for r in range(3)] == [("bare", "trial"), ("trial", "bare"), ("bare", "trial")]


def test_end_to_end_rate_runs_from_command_start_to_last_epoch_written():
    assert end_to_end_rate(3000, started=100.0, last_epoch_written=130.0) == 100.0


def test_round_ratios_keep_the_order_rounds_ran_in():
    assert round_ratios([100.0, 100.0, 100.0], [99.0, 90.0, 95.0]) == pytest.approx([0.99, 0.90, 0.95])


def test_headline_is_the_ratio_of_the_medians():
    assert overhead_ratio([100.0, 200.0, 110.0], [90.0, 99.0, 300.0]) == pytest.approx(99.0 / 110.0)


def test_last_write_is_the_newest_file_of_the_checkpoint(tmp_path):
    (tmp_path / "sub").mkdir()
    for name, mtime in (("a", 10.0), ("sub/b", 30.0), ("c", 20.0)):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (mtime, mtime))
    assert last_write(tmp_path) == 30.0
