"""The Optuna study stored with an experiment (optuna.journal): loading it and hyperparameter importance."""
from __future__ import annotations

import logging
import warnings
from typing import Any, Optional

from core.layout import STUDY_FILE
from core.storage import ExperimentError, drop_local_copy, open_experiment
from results.collect import Collected

log = logging.getLogger(__name__)


def load_study(collected: Collected) -> Optional[Any]:
    """The experiment's optuna.Study (read from a local copy when the experiment is remote), or None."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    store = open_experiment(collected.location)
    if not store.exists(STUDY_FILE):
        return None
    path, temporary = store.local_copy(STUDY_FILE)
    try:
        try:
            storage = JournalStorage(JournalFileBackend(str(path)))
        except (ValueError, KeyError, TypeError) as err:  # json.JSONDecodeError is a ValueError
            raise ExperimentError(f"{store.shown}/{STUDY_FILE}: the Optuna study cannot be read ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0][:200] if str(err) else 'broken journal'}): restore it "
                                  "from a copy, or move it away to report without the study") from None
        names = optuna.get_all_study_names(storage)
        name = collected.name if collected.name in names else (names[0] if len(names) == 1 else None)
        if name is None:
            log.warning("%s: no study named %r in %s (found %s)", store.shown, collected.name, STUDY_FILE, names)
            return None
        study = optuna.load_study(study_name=name, storage=storage)
        study.trials  # noqa: B018 -- read everything now: the temporary copy is removed below
        return _Snapshot(study)
    finally:
        drop_local_copy(path, temporary)


class _Snapshot:
    """A study's trials and directions, held in memory (the journal file may be a removed temporary copy).

    A sweep with `search.objectives` has a multi-objective study: the sweep's metric is its first objective.
    """

    def __init__(self, study: Any):
        import optuna

        self.study_name = study.study_name
        self.directions = study.directions
        self.trials = study.get_trials(deepcopy=True)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line per report
        try:
            memory = optuna.create_study(directions=study.directions, study_name=study.study_name)
        finally:
            optuna.logging.set_verbosity(verbosity)
        memory.add_trials(self.trials)
        self.study = memory


def param_importances(collected: Collected) -> tuple[dict[str, float], Optional[str]]:
    """Hyperparameter importance (Optuna's default evaluator, PED-ANOVA in Optuna 5) over COMPLETE trials.

    Returns (importances, None), or ({}, reason) when the study is missing or has too few finished trials.
    """
    import optuna

    snapshot = load_study(collected)
    if snapshot is None:
        return {}, f"no Optuna study ({STUDY_FILE}) in the experiment"
    complete = [t for t in snapshot.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}, f"needs at least 2 completed trials in the Optuna study, found {len(complete)}"
    try:
        with warnings.catch_warnings(record=True) as caught:  # few trials per value: a log line, not a warning
            warnings.simplefilter("always")
            metric = (lambda t: t.values[0]) if len(snapshot.directions) > 1 else None  # the sweep's metric
            importances = dict(optuna.importance.get_param_importances(snapshot.study, target=metric))
    except (RuntimeError, ValueError) as err:  # e.g. every completed trial sampled the same values
        return {}, f"Optuna could not compute importances: {err}"
    for warning in caught:
        log.info("%s: hyperparameter importance: %s", collected.name, warning.message)
    return importances, None
