"""The one rule that decides how a trial ended, as a table: the sweep's recorder and the tables both use it."""
import pytest

from core.names import (
    COMPLETED,
    DIVERGED,
    EARLY_STOPPED,
    FAILED,
    FINAL_STATUSES,
    RUNNING,
    TIMED_OUT,
    TRIAL_STATUSES,
    final_status,
)

CASES = [
    # (what is known, status)
    (dict(recorded=DIVERGED, trainer_status=COMPLETED), DIVERGED),               # the driver's final word wins
    (dict(recorded=RUNNING, trainer_status=COMPLETED, epochs_run=3), COMPLETED),  # "running" is not a final word
    (dict(errored=True, trainer_status=RUNNING, epochs_run=2), FAILED),
    (dict(trainer_status=COMPLETED, epochs_run=4, epochs_planned=4), COMPLETED),
    (dict(trainer_status=DIVERGED, epochs_run=1, epochs_planned=4), DIVERGED),
    (dict(trainer_status=RUNNING, epochs_run=2, epochs_planned=6), EARLY_STOPPED),  # ASHA stopped it
    (dict(trainer_status=RUNNING, epochs_run=2, epochs_planned=6, ended=False), RUNNING),
    (dict(trainer_status=RUNNING, epochs_run=6, epochs_planned=6), COMPLETED),     # last report lost, all epochs ran
    (dict(trainer_status=RUNNING, epochs_run=2, time_total_s=30.0, timeout_s=30.0), TIMED_OUT),
    (dict(trainer_status=RUNNING, epochs_run=2, time_total_s=29.0, timeout_s=30.0), EARLY_STOPPED),
    (dict(trainer_status=TIMED_OUT, epochs_run=1), TIMED_OUT),      # the watchdog's report (files alone)
    # the watchdog's report is a second iteration of a 2-epoch trial that hung after epoch 1: not completed
    (dict(trainer_status=TIMED_OUT, epochs_run=2, epochs_planned=2, time_total_s=31.0, timeout_s=30.0), TIMED_OUT),
    (dict(trainer_status=COMPLETED, epochs_run=2, epochs_planned=2, time_total_s=31.0, timeout_s=30.0), COMPLETED),
    (dict(epochs_run=0), FAILED),                                   # ended without a single epoch
    (dict(epochs_run=0, ended=False), RUNNING),                     # not started yet
]


@pytest.mark.parametrize(("known", "expected"), CASES)
def test_final_status(known, expected):
    assert final_status(**known) == expected


def test_every_status_is_named_once():
    assert set(TRIAL_STATUSES) == FINAL_STATUSES | {RUNNING} and len(set(TRIAL_STATUSES)) == len(TRIAL_STATUSES)
