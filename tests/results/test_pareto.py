"""Pareto front and pick rules: pure logic on small hand-made trial tables, no Ray, no torch."""
from __future__ import annotations

import pandas as pd
import pytest

from core.names import LATENCY_MS, PARAMS_M
from results.pareto import (
    Objective,
    PickError,
    PickRule,
    dominates,
    pareto_front,
    parse_pick,
    pick_trial,
)

F1 = Objective("best_val_f1", "max")
FAST = Objective(LATENCY_MS, "min")


def _trials() -> pd.DataFrame:
    return pd.DataFrame({
        "trial_id": ["a", "b", "c", "d", "e", "f"],
        "trial_number": [1, 2, 3, 4, 5, 6],
        "best_val_f1": [0.850, 0.845, 0.800, 0.840, 0.700, None],
        LATENCY_MS: [9.0, 4.0, 3.0, 5.0, 3.5, 1.0],
        PARAMS_M: [5.0, 4.0, 3.4, 3.0, 3.4, 1.0],
    })


def test_dominates_needs_one_strict_improvement():
    modes = ["max", "min"]
    assert dominates([0.9, 3.0], [0.8, 4.0], modes)
    assert dominates([0.9, 4.0], [0.8, 4.0], modes)
    assert not dominates([0.8, 4.0], [0.8, 4.0], modes)  # equal is not dominance
    assert not dominates([0.9, 5.0], [0.8, 4.0], modes)  # a trade-off


def test_front_keeps_the_trade_offs_and_drops_dominated_and_unscored():
    front = pareto_front(_trials(), [F1, FAST])
    # d (0.840, 5 ms) is dominated by b (0.845, 4 ms); e (0.700, 3.5 ms) by c; f has no F1
    assert list(front["trial_id"]) == ["a", "b", "c"]


def test_front_on_three_objectives_keeps_the_smallest_model():
    front = pareto_front(_trials(), [F1, FAST, Objective(PARAMS_M, "min")])
    assert set(front["trial_id"]) == {"a", "b", "c", "d"}


def test_front_without_the_speed_column_is_empty():
    assert pareto_front(_trials().drop(columns=[LATENCY_MS]), [F1, FAST]).empty


@pytest.mark.parametrize("text, rule", [
    ("best", PickRule("best")),
    ("fastest-within 0.01", PickRule("fastest-within", 0.01)),
    ("fastest-within=0.01", PickRule("fastest-within", 0.01)),
    ("smallest-within 0", PickRule("smallest-within", 0.0)),
])
def test_parse_pick(text, rule):
    assert parse_pick(text) == rule


@pytest.mark.parametrize("text, says", [
    ("quickest 0.01", "must be one of"),
    ("fastest-within", "needs one tolerance"),
    ("fastest-within point", "is not a number"),
    ("fastest-within -0.1", ">= 0"),
    ("best 0.1", "takes no tolerance"),
])
def test_parse_pick_refuses_in_one_line(text, says):
    with pytest.raises(PickError, match=says) as err:
        parse_pick(text)
    assert "\n" not in str(err.value) and repr(text) in str(err.value)


def test_fastest_within_one_point_of_the_best():
    assert pick_trial(_trials(), parse_pick("fastest-within 0.01"), F1)["trial_id"] == "b"
    assert pick_trial(_trials(), parse_pick("fastest-within 0.06"), F1)["trial_id"] == "c"
    assert pick_trial(_trials(), parse_pick("fastest-within 0"), F1)["trial_id"] == "a"
    assert pick_trial(_trials(), parse_pick("smallest-within 0.011"), F1)["trial_id"] == "d"
    assert pick_trial(_trials(), parse_pick("best"), F1)["trial_id"] == "a"


def test_fastest_within_breaks_latency_ties_by_the_metric():
    trials = _trials().assign(**{LATENCY_MS: 4.0})
    assert pick_trial(trials, parse_pick("fastest-within 0.01"), F1)["trial_id"] == "a"


def test_pick_refuses_when_nothing_measured_speed():
    with pytest.raises(PickError, match="no trial measured latency_ms"):
        pick_trial(_trials().drop(columns=[LATENCY_MS]), parse_pick("fastest-within 0.01"), F1)
    with pytest.raises(PickError, match="no trial has a value of best_val_f1"):
        pick_trial(_trials().assign(best_val_f1=None), parse_pick("best"), F1)
