"""The search-efficiency figures from replayed sweeps' epoch logs (pure; the sweeps themselves are benchmarks)."""
import json
import xml.etree.ElementTree as ET

import pytest

from benchmarks import search_efficiency as se


def sweep(scores, trials_of=None, seconds=3600.0):
    """One sweep's epochs in the order received; trial ids from `trials_of` (default: one trial per 2 epochs)."""
    ids = trials_of or [f"t{i // 2}" for i in range(len(scores))]
    return {"epochs": [{"trial_id": t, "epoch": 1, "val_f1": v, "epoch_time_s": seconds} for t, v in zip(ids, scores)]}


def test_epochs_to_the_baselines_best_are_paired_by_seed_and_a_miss_costs_the_whole_baseline_budget():
    sweeps = {
        "random_fifo": {0: sweep([0.1, 0.2, 0.5, 0.4]), 1: sweep([0.3, 0.3, 0.3, 0.6])},
        "tpe_asha": {0: sweep([0.5]), 1: sweep([0.2, 0.4])},  # seed 1 never reaches 0.6
    }
    costs = se.paired_costs(sweeps, "tpe_asha", [0, 1])
    assert costs["base_epochs"] == [3, 4] and costs["epochs"] == [1, 4] and costs["reached"] == [True, False]
    assert costs["hours"] == [1.0, 4.0]  # the miss is charged the baseline's four recorded hours


def test_identical_seeds_give_the_speedup_as_a_point_and_best_at_budget_fractions():
    base = sweep([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    fast = sweep([0.5, 0.8])
    sweeps = {"random_fifo": {s: base for s in range(3)}, "tpe_asha": {s: fast for s in range(3)}}
    figures = se.method_figures(sweeps, "tpe_asha", [0, 1, 2])
    assert figures["speedup_vs_random_fifo"] == {"mean": 4.0, "low": 4.0, "high": 4.0}
    assert figures["best_f1_at_25pct"]["mean"] == 0.8  # 2 of 8 epochs: everything it spent
    assert se.method_figures(sweeps, "random_fifo", [0, 1, 2])["best_f1_at_50pct"]["mean"] == 0.4


def test_pruned_versus_complete_is_the_ratio_of_default_over_ours():
    base = sweep([0.2, 0.4, 0.6, 0.8])
    sweeps = {"random_fifo": {0: base, 1: base}, "tpe_asha": {0: sweep([0.8]), 1: sweep([0.8])},
              "tpe_asha_complete": {0: sweep([0.1, 0.8]), 1: sweep([0.1, 0.8])}}
    figures = se.pruned_versus_complete(sweeps, [0, 1])
    assert figures["epochs_ratio_complete_over_pruned"]["mean"] == 2.0
    assert figures["final_best_f1_difference_pruned_minus_complete"]["mean"] == 0.0


def test_warm_start_counts_the_trials_that_had_reported_when_the_target_was_reached():
    base = sweep([0.2, 0.9])
    sweeps = {"random_fifo": {0: base},
              "tpe_asha_cold": {0: sweep([0.1, 0.2, 0.3, 0.95], trials_of=["a", "b", "c", "d"])},
              "tpe_asha_warm": {0: sweep([0.1, 0.95], trials_of=["a", "a"])}}
    figures = se.warm_start_figures(sweeps, [0])
    assert figures["cold"]["trials_to_target"]["mean"] == 4 and figures["warm"]["trials_to_target"]["mean"] == 1
    assert figures["trials_ratio_cold_over_warm"]["mean"] == 4.0


@pytest.fixture
def all_methods():
    base = {s: sweep([0.1 * (i + 1) for i in range(8)]) for s in range(4)}
    sweeps = {m: {s: sweep([0.8, 0.7]) for s in range(4)} for m in se.METHODS}
    sweeps["random_fifo"] = base
    sweeps.update({"tpe_asha_cold": sweeps["tpe_asha"], "tpe_asha_warm": sweeps["tpe_asha"]})
    return sweeps


def test_the_section_states_the_target_met_only_when_3x_and_the_interval_excludes_1(all_methods):
    figures = se.collect_figures(all_methods, range(4), range(2), "8 configurations, 0 with two seeds", 4)
    assert figures["speedup_vs_random_fifo"]["mean"] == 8.0
    assert "**met**" in se.section(figures, "cmd", 60)
    figures["methods"]["tpe_asha"]["speedup_vs_random_fifo"] = {"mean": 3.5, "low": 0.9, "high": 6.0}
    assert "**missed**" in se.section(figures, "cmd", 60)


def test_the_anytime_plot_is_an_svg_with_a_mean_line_and_a_band_per_method(all_methods):
    svg = ET.fromstring(se.anytime_svg(all_methods, budget=8))
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f"{ns}polyline")) == len(svg.findall(f"{ns}polygon")) == len(se.METHODS)


def test_a_second_run_goes_on_from_the_sweeps_recorded_with_the_same_budget(tmp_path):
    rows = [{"method": "tpe_asha", "seed": 0, "trials": 40, "epochs": [1]},
            {"method": "tpe_asha", "seed": 0, "trials": 40, "epochs": [2]},  # run twice: the last one counts
            {"method": "random_fifo", "seed": 1, "trials": 10, "epochs": [3]}]  # another budget: not these sweeps
    (tmp_path / "job0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"method": "tpe_f')
    (tmp_path / "job1.jsonl").write_text(json.dumps({"method": "tpe_fifo", "seed": 1, "trials": 40, "epochs": []}))
    assert [(r["method"], r["seed"]) for r in se.finished_rows(tmp_path, 40)] == [
        ("tpe_asha", 0), ("tpe_asha", 0), ("tpe_fifo", 1)]  # the torn last line of an interrupted run is skipped
    sweeps = se.load(tmp_path, 40)
    assert sweeps["tpe_asha"][0]["epochs"] == [2] and set(sweeps) == {"tpe_asha", "tpe_fifo"}
