"""benchmarks.real_pair: the replay benchmark's figures of one real pair, and its agreement with replay."""
from __future__ import annotations

import pytest

from benchmarks import real_pair


def rows(scores):
    return [{"trial_id": f"t{i // 2}", "val_f1": s, "epoch_time_s": 10.0} for i, s in enumerate(scores)]


def test_the_pair_uses_the_replay_definitions_and_says_whether_replay_agrees():
    epochs = {"random_fifo": rows([0.2, 0.5, 0.4, 0.6, 0.3, 0.55]),  # final best 0.6 after 4 epochs
              "tpe_asha": rows([0.3, 0.6, 0.1])}  # reaches 0.6 after 2
    replayed = {"mean": 2.5, "low": 2.0, "high": 3.1, "seeds": 30, "trials": 40}
    figures = real_pair.pair_figures(epochs, 0, replayed)
    assert figures["speedup_vs_random_fifo"] == pytest.approx(2.0)
    assert figures["final_best_f1"] == {"random_fifo": 0.6, "tpe_asha": 0.6}
    assert figures["ranking_agrees"] is True
    text = real_pair.section(figures, "python -m benchmarks.real_pair", 3, 600)
    assert "| tpe_asha | 3 | 2 (reached) | 2.00 | 0.600 |" in text and "**agrees**" in text
    slower = real_pair.pair_figures({**epochs, "tpe_asha": rows([0.1, 0.2, 0.3, 0.4, 0.5, 0.5])}, 0, replayed)
    assert slower["speedup_vs_random_fifo"] == pytest.approx(4 / 6, abs=1e-4)  # a miss is charged the whole budget
    assert slower["ranking_agrees"] is False
    assert "**disagrees**" in real_pair.section(slower, "c", 3, 600)
    assert "No replay figures" in real_pair.section(real_pair.pair_figures(epochs, 0, None), "c", 3, 600)


def test_both_sweeps_clear_the_known_good_points_and_share_the_seed():
    tpe, base = (real_pair.sweep_settings(m, 3, 20) for m in ("tpe_asha", "random_fifo"))
    assert tpe["search.points_to_evaluate"] == base["search.points_to_evaluate"] == "[]"
    assert tpe["search.sampler.type"] == "tpe" and base["search.scheduler.type"] == "fifo"
    assert tpe["train.seed"] == base["search.sampler.seed"] == 3 and tpe["search.num_samples"] == 20
