"""Warm start: which earlier trials fit a new space (pure, no Ray), and reading a study without writing it."""
import hashlib

import optuna
import pytest
from optuna.trial import TrialState

from core.layout import STUDY_FILE, SWEEP_INFO
from core.storage import ExperimentError
from search.config import ParamSpec
from search.searcher import open_study_storage
from search.warm_start import SOURCE_ATTR, distribution, read_trials, seed_study, select, skip_reason

SPACE = {
    "lr": ParamSpec(type="float", low=1e-4, high=1e-2, log=True),
    "batch_size": ParamSpec(type="categorical", choices=(32, 64)),
    "optimizer": ParamSpec(type="categorical", choices=("adamw", "sgd")),
    "momentum": ParamSpec(type="float", low=0.5, high=0.99, when={"optimizer": ("sgd",)}),
}


def test_a_trial_of_the_space_fits():
    assert skip_reason({"lr": 1e-3, "batch_size": 32, "optimizer": "adamw"}, SPACE) is None
    assert skip_reason({"lr": 1e-3, "batch_size": 64, "optimizer": "sgd", "momentum": 0.9}, SPACE) is None


@pytest.mark.parametrize(("params", "reason"), [
    ({"lr": 0.5, "batch_size": 32, "optimizer": "adamw"}, "lr outside the new space"),
    ({"lr": 1e-3, "batch_size": 128, "optimizer": "adamw"}, "batch_size outside the new space"),
    ({"lr": 1e-3, "batch_size": 32}, "optimizer missing"),
    ({"lr": 1e-3, "batch_size": 32, "optimizer": "sgd"}, "momentum missing"),
    ({"lr": 1e-3, "batch_size": 32, "optimizer": "adamw", "momentum": 0.9},
     "momentum present but its `when` condition does not hold"),
    ({"lr": 1e-3, "batch_size": 32, "optimizer": "adamw", "dropout": 0.1}, "dropout not searched in the new space"),
    ({"lr": "fast", "batch_size": 32, "optimizer": "adamw"}, "lr outside the new space"),
])
def test_a_trial_outside_the_space_is_skipped_with_its_reason(params, reason):
    assert skip_reason(params, SPACE) == reason


def test_int_steps_are_honoured():
    space = {"epochs": ParamSpec(type="int", low=2, high=10, step=2)}
    assert skip_reason({"epochs": 4}, space) is None
    assert skip_reason({"epochs": 5}, space) == "epochs outside the new space"
    assert skip_reason({"epochs": 4.5}, space) == "epochs outside the new space"


def finished(state, params, value=None, steps=()):
    return optuna.trial.create_trial(state=state, value=value, params=params,
                                     distributions={k: distribution(SPACE[k]) for k in params},
                                     intermediate_values=dict(steps))


def test_select_takes_complete_and_pruned_and_counts_the_rest():
    good = {"lr": 1e-3, "batch_size": 32, "optimizer": "adamw"}
    trials = [finished(TrialState.COMPLETE, good, value=0.8, steps=[(1, 0.5), (2, 0.8)]),
              finished(TrialState.PRUNED, good, steps=[(1, 0.2)]),
              finished(TrialState.FAIL, good),
              finished(TrialState.COMPLETE, {**good, "batch_size": 64, "lr": 5e-3}, value=0.7)]
    trials.append(finished(TrialState.COMPLETE, good, value=0.1))
    narrow = {**SPACE, "lr": ParamSpec(type="float", low=1e-4, high=2e-3, log=True)}
    selection = select(trials, narrow, "/old/exp")
    assert [t.state for t in selection.taken] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert selection.taken[0].value == 0.8 and selection.taken[0].intermediate_values == {1: 0.5, 2: 0.8}
    assert selection.taken[1].value is None and selection.taken[1].intermediate_values == {1: 0.2}
    assert selection.taken[0].user_attrs[SOURCE_ATTR] == "/old/exp"
    assert selection.skipped == {"fail": 1, "lr outside the new space": 1}
    assert selection.summary("/old/exp") == ("warm start: took 3 trials from /old/exp; skipped 2 "
                                             "(1 fail, 1 lr outside the new space)")


def write_experiment(folder, trials):
    folder.mkdir()
    (folder / SWEEP_INFO).write_text("{}")
    study = optuna.create_study(study_name="old", storage=open_study_storage(folder), direction="maximize")
    study.add_trials(trials)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_seeding_reads_the_earlier_study_without_writing_it_and_only_once(tmp_path):
    good = {"lr": 1e-3, "batch_size": 32, "optimizer": "adamw"}
    write_experiment(tmp_path / "old", [finished(TrialState.COMPLETE, good, value=0.8),
                                        finished(TrialState.PRUNED, good, steps=[(1, 0.3)])])
    before = digest(tmp_path / "old")
    study = optuna.create_study(study_name="new", direction="maximize")
    assert len(seed_study(study, str(tmp_path / "old"), SPACE).taken) == 2
    assert seed_study(study, str(tmp_path / "old"), SPACE) is None  # a resumed sweep: not added twice
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert digest(tmp_path / "old") == before
    assert study.best_value == 0.8


def test_an_incompatible_space_and_a_missing_experiment_are_user_errors(tmp_path):
    write_experiment(tmp_path / "old", [finished(TrialState.COMPLETE, {"lr": 1e-3, "batch_size": 32,
                                                                       "optimizer": "adamw"}, value=0.8)])
    other = {"dropout": ParamSpec(type="float", low=0.0, high=0.5)}
    with pytest.raises(Exception, match="has no finished trial that fits the new search space"):
        seed_study(optuna.create_study(), str(tmp_path / "old"), other)
    with pytest.raises(ExperimentError, match="experiment directory not found"):
        read_trials(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExperimentError, match=f"no {STUDY_FILE}"):
        read_trials(str(tmp_path / "empty"))
