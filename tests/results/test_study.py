"""results.study: the experiment's Optuna study, and a journal that cannot be read (no Ray)."""
from __future__ import annotations

import pytest

from core.storage import ExperimentError
from results.collect import collect
from results.study import load_study


def test_a_corrupt_study_journal_is_one_line(exp_a):
    journal = exp_a / "optuna.journal"
    journal.write_bytes(b'{"op_code": 0, "worker_id": "x", "study_name": "a"}\n{"op_code": 4, garbage}\n'
                        b'{"op_code": 0, "worker_id": "x", "study_name": "b"}\n')
    with pytest.raises(ExperimentError, match=r"optuna.journal: the Optuna study cannot be read \(.*\): restore it"):
        load_study(collect(str(exp_a)))
