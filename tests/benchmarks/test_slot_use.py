import pytest

from benchmarks.slot_use import setup_seconds, slot_gaps, slot_use, training_seconds

EPOCHS = [  # two trials on 2 slots: trial a trains 2 epochs, b one; the first report carries the setup
    {"trial_id": "a", "iterations_since_restore": 1, "time_this_iter_s": 12.0, "epoch_time_s": 4.0},
    {"trial_id": "a", "iterations_since_restore": 2, "time_this_iter_s": 4.5, "epoch_time_s": 4.0},
    {"trial_id": "b", "iterations_since_restore": 1, "time_this_iter_s": 9.0, "epoch_time_s": 6.0},
]


def test_slot_use_counts_training_and_measuring_only_never_setup():
    assert training_seconds(EPOCHS) == 14.0
    assert slot_use(EPOCHS, slots=2, wall_s=20.0) == pytest.approx(14.0 / 40.0)


def test_setup_is_each_trials_time_before_its_first_epoch():
    assert setup_seconds(EPOCHS) == [8.0, 3.0]


def test_an_epoch_without_its_own_time_is_not_use():
    assert training_seconds([{"epoch_time_s": None}, {"epoch_time_s": 2.0}]) == 2.0


def test_a_slot_gap_is_from_the_freeing_trials_end_to_the_next_start():
    starts, ends = [0.0, 0.5, 10.0, 13.0], [9.0, 12.0, 20.0, 21.0]
    assert slot_gaps(starts, ends, slots=2) == [1.0, 1.0]
