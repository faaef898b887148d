"""The scale benchmark's study: written in the sweep's journal format, shaped like an ASHA sweep (no Ray)."""
import random

import optuna
from optuna.trial import TrialState

from benchmarks.scale import CONFIG, RUNGS, UnsyncedJournal, fill
from search.config import load_config
from search.searcher import StudyFile
from search.space import define_by_run


def test_the_filled_study_reads_back_through_the_sweeps_own_journal_as_asha_shaped_trials(tmp_path):
    (tmp_path / "exp").mkdir()
    storage = optuna.storages.JournalStorage(UnsyncedJournal(str(tmp_path / "exp" / "optuna.journal")))
    study = optuna.create_study(study_name="exp", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    space = load_config(CONFIG).search.space
    fill(study, define_by_run(space), 0, 60, random.Random(0))
    trials = optuna.load_study(study_name="exp", storage=optuna.storages.JournalStorage(
        StudyFile(str(tmp_path / "exp")))).get_trials(deepcopy=False)
    assert len(trials) == 60 and all(set(t.params) == set(space) for t in trials)
    last_epochs = {max(t.intermediate_values) for t in trials}
    assert last_epochs == set(RUNGS)
    for t in trials:
        complete = max(t.intermediate_values) == RUNGS[-1]
        assert t.state == (TrialState.COMPLETE if complete else TrialState.PRUNED), t.number
