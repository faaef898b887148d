"""results.confirm: the Welch noise rule, the confirmed ranking and its tables (no Ray)."""
from __future__ import annotations

import math

import pytest

from results.confirm import Candidate, confirmed_table, difference_interval, t_quantile, within_noise


def candidate(trial_id: str, sweep_rank: int, values, sweep_value: float = 0.9) -> Candidate:
    return Candidate(trial_id=trial_id, sweep_rank=sweep_rank, sweep_value=sweep_value, values=tuple(values),
                     fields={"Learning Rate": 1e-3})


@pytest.mark.parametrize("df", [1, 2, 3, 4, 4.6, 7.3, 11, 17.5, 33, 90, 500])
def test_t_quantile_matches_students_t(df):
    stats = pytest.importorskip("scipy.stats")
    assert t_quantile(df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-6)


def test_t_quantile_refuses_less_than_one_degree_of_freedom():
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.5)


@pytest.mark.parametrize(("a", "b"), [([0.61, 0.64, 0.60], [0.55, 0.57, 0.52]),
                                      ([0.61, 0.64, 0.60, 0.66], [0.58, 0.70, 0.52]),
                                      ([0.50, 0.51], [0.40, 0.49, 0.45, 0.47, 0.46])])
def test_difference_interval_is_welchs(a, b):
    stats = pytest.importorskip("scipy.stats")
    diff, low, high = difference_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(sum(a) / len(a) - sum(b) / len(b))
    assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-6)


def test_within_noise_separates_clear_gaps_from_overlaps_and_says_when_it_cannot_tell():
    assert within_noise([0.80, 0.81, 0.79], [0.60, 0.61, 0.59]) is False   # 0.2 apart, sd 0.01
    assert within_noise([0.62, 0.58, 0.66], [0.60, 0.55, 0.63]) is True    # 0.027 apart, sd ~0.04
    assert within_noise([0.7], [0.6, 0.61]) is None                        # one seed: no spread to judge by
    assert within_noise([0.5, 0.5], [0.5, 0.5]) is True                    # no spread, an exact tie
    assert within_noise([0.5, 0.5], [0.4, 0.4]) is False                   # no spread, any gap is real


def test_confirmed_table_ranks_by_the_mean_and_marks_ties():
    table, pairs = confirmed_table([
        candidate("a", 1, [0.60, 0.62, 0.58], sweep_value=0.70),   # the sweep's winner was a lucky draw
        candidate("b", 2, [0.66, 0.64, 0.68]),
        candidate("c", 3, [0.40, 0.41, 0.39]),
    ], "val_f1", "max")
    assert list(table["Trial"]) == ["b", "a", "c"] and list(table["Sweep Rank"]) == [2, 1, 3]
    assert table.index.name == "Rank" and list(table.index) == [1, 2, 3]
    assert table["Validation Macro-F1 Mean"].tolist() == pytest.approx([0.66, 0.60, 0.40])
    assert table["Validation Macro-F1 SD"].tolist() == pytest.approx([0.02, 0.02, 0.01])
    assert table["Sweep Validation Macro-F1"].tolist() == pytest.approx([0.9, 0.70, 0.9])
    # b - a = 0.06 with sd 0.02 each: interval 0.06 +- 2.78 x 0.0163 = [0.015, 0.105], not a tie; c is far below
    assert list(table["Within Noise Of"]) == ["-", "-", "-"]
    assert list(pairs["Pair"]) == ["1 vs 2", "1 vs 3", "2 vs 3"] and set(pairs["Within Noise"]) == {"no"}
    assert pairs["Difference"].tolist() == pytest.approx([0.06, 0.26, 0.20])

    close, pairs = confirmed_table([candidate("a", 1, [0.60, 0.66, 0.58]), candidate("b", 2, [0.62, 0.64, 0.61])],
                                   "val_f1", "max")
    assert list(close["Trial"]) == ["b", "a"] and list(close["Within Noise Of"]) == ["2", "1"]
    assert pairs["Within Noise"].tolist() == ["yes"]


def test_confirmed_table_for_a_loss_ranks_smallest_first_and_puts_configurations_without_runs_last():
    table, pairs = confirmed_table([candidate("none", 1, []), candidate("one", 2, [0.5]),
                                    candidate("low", 3, [0.30, 0.32]), candidate("high", 4, [0.90, 0.92])],
                                   "val_loss", "min")
    assert list(table["Trial"]) == ["low", "one", "high", "none"]
    assert list(table["Seeds"]) == [2, 1, 2, 0]
    assert math.isnan(table["Validation Loss SD"].iloc[1]) and math.isnan(table["Validation Loss Mean"].iloc[3])
    assert list(table["Within Noise Of"]) == ["?", "?", "?", "?"]  # one seed and none compare with nothing
    assert pairs.set_index("Trials").loc["low vs high", "Within Noise"] == "no"
    assert pairs.set_index("Trials").loc["low vs one", "Within Noise"] == "unknown"
