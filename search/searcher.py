"""Optuna TPE (or random) behind Ray Tune, telling Optuna the truth about trials ASHA stopped early.

Ray's OptunaSearch reports a trial that ASHA stopped at a low rung to Optuna as COMPLETE with its
low-rung value (it marks PRUNED only when the metric is missing), so TPE learns from truncated runs as if
they were final. `PruneAwareOptunaSearch` tells Optuna such trials were PRUNED; their per-epoch values are
already in the study as intermediate values, which is how TPE ranks pruned trials.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Optional

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import LOCK_FILE_SUFFIX
from optuna.trial import TrialState
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from core.layout import STUDY_FILE
from core.names import COMPLETED, STATUS
from search.config import ExperimentConfig, SamplerConfig
from search.experiment import Experiment, guarded_write, write_failures
from search.space import define_by_run

logger = logging.getLogger(__name__)


ORPHANED = "orphaned"
"""The `status` user attribute of a study trial asked by a killed driver and never run (marked FAIL)."""


class PruneAwareOptunaSearch(OptunaSearch):
    """OptunaSearch that reports scheduler-stopped and diverged trials as PRUNED, not COMPLETE."""

    def __init__(self, *args: Any, prune_stopped: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._prune_stopped = prune_stopped
        self._last_step: dict[str, int] = {}

    @guarded_write("the Optuna study (optuna.journal)", on_failure=Searcher.FINISHED)
    def suggest(self, trial_id: str) -> Optional[dict]:
        if write_failures():  # the disk is full: no new trial, the running ones end, search.run says why
            return Searcher.FINISHED
        return super().suggest(trial_id)

    @guarded_write("the Optuna study (optuna.journal)")
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not self._known(trial_id, result) or self._study_has_finished(trial_id):
            return
        super().on_trial_result(trial_id, result)
        self._last_step[trial_id] = result.get(TRAINING_ITERATION)

    @guarded_write("the Optuna study (optuna.journal)")
    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        if not self._known(trial_id, result):
            return
        ot_trial = self._ot_trials[trial_id]
        if trial_id in self._completed_trials:
            return super().on_trial_complete(trial_id, result, error)
        if self._study_has_finished(trial_id):
            self._completed_trials.add(trial_id)
            return
        status = (result or {}).get(STATUS)
        ot_trial.set_user_attr("ray_trial_id", trial_id)
        ot_trial.set_user_attr("status", "failed" if error else (status or "unknown"))
        if error or not self._prune_stopped or status == COMPLETED:
            return super().on_trial_complete(trial_id, result, error)
        # Stopped by the scheduler (status still "running") or diverged: not a final score. Tune hands the
        # result that made the scheduler stop the trial only to on_trial_complete, so report it here.
        step = result.get(TRAINING_ITERATION)
        value = None if isinstance(self.metric, list) else result.get(self.metric)  # multi-objective: no reports
        if step is not None and value is not None and step != self._last_step.get(trial_id):
            ot_trial.report(value, step)
        self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self._fail_orphans()

    @guarded_write("the Optuna study (optuna.journal)")
    def _fail_orphans(self) -> None:
        """Fail the study's RUNNING trials that no Ray trial owns: asked after Tune's last snapshot, then killed.

        A resumed sweep asks again for the trial it lost, so an orphan would stay RUNNING for ever (and, with
        the constant liar, count as a running trial for every later suggestion).
        """
        owned = {trial.number for trial in self._ot_trials.values()}
        for trial in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.number not in owned:
                optuna.trial.Trial(self._ot_study, trial._trial_id).set_user_attr("status", ORPHANED)
                self._ot_study.tell(trial.number, state=TrialState.FAIL)
                logger.info("optuna: trial %d was asked before the sweep was killed and never ran: marked FAIL",
                            trial.number)

    def _known(self, trial_id: str, result: Optional[dict]) -> bool:
        """Whether the searcher holds an Optuna trial for this Ray trial, adopting it first if it can.

        Tune's trial list and the searcher's state are saved apart (on S3 they upload as separate files), so a
        driver killed between the two resumes trials the restored searcher never asked for: their own Optuna
        trials are the orphans restore() failed. Such a trial is recorded as a new Optuna trial holding the
        parameters it runs (from its result's config), so what it reports still reaches the study.
        """
        if trial_id in self._ot_trials:
            return True
        params = {key.removeprefix("config/"): value for key, value in (result or {}).items()
                  if key.startswith("config/")}
        if not params:
            logger.warning("optuna: Ray trial %s is unknown to the restored searcher and reported no config: "
                           "its results are left out of the study", trial_id)
            return False
        self._ot_study.enqueue_trial(params)
        if callable(self._space):  # the project's define-by-run space: its suggestions take the enqueued values
            ot_trial = self._ot_study.ask()
            self._suggest_from_define_by_run_func(self._space, ot_trial)
        else:
            ot_trial = self._ot_study.ask(fixed_distributions=self._space)
        self._ot_trials[trial_id] = ot_trial
        logger.info("optuna: Ray trial %s resumed without a searcher record: recorded as trial %d", trial_id,
                    ot_trial.number)
        return True

    def _study_has_finished(self, trial_id: str) -> bool:
        """True when the stored study already holds this trial's end.

        The study file is written as trials end, the searcher's pickled state only at Tune's experiment
        snapshots: a sweep killed between the two resumes with trials the study has already closed.
        """
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None:
            return False
        stored = self._ot_study.get_trials(deepcopy=False)
        return any(t.number == ot_trial.number and t.state.is_finished() for t in stored)


def make_sampler(cfg: SamplerConfig, concurrency: int) -> optuna.samplers.BaseSampler:
    """TPE with at least `concurrency` random start-up trials (fewer makes it random search in disguise)."""
    if cfg.type == "random":
        return optuna.samplers.RandomSampler(seed=cfg.seed)
    startup = max(cfg.n_startup_trials or 10, concurrency)
    # constant_liar: trials still running count as bad guesses, so parallel suggestions spread out;
    # group: conditional parameters (momentum only for sgd) are modelled with the trials that have them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return WindowedTPESampler(seed=cfg.seed, n_startup_trials=startup, multivariate=cfg.multivariate,
                                  group=cfg.multivariate, constant_liar=True, history=cfg.history)


class WindowedTPESampler(optuna.samplers.TPESampler):
    """TPE that models the `history` most recent finished trials (and all running ones), or all when None.

    A TPE suggestion builds Parzen estimators over every trial it sees, so it grows linearly with the study;
    the window bounds it. Start-up is still counted over the whole study.
    """

    def __init__(self, *args: Any, history: Optional[int] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._history = history

    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict:
        # the grouped search space is also rebuilt from every trial on each suggestion
        return super().infer_relative_search_space(self._window(study), trial)

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: dict) -> dict:
        return super().sample_relative(self._window(study), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return super().sample_independent(self._window(study), trial, param_name, param_distribution)

    def _window(self, study: optuna.Study) -> optuna.Study:
        return study if self._history is None else StudyWindow(study, self._history)


class StudyWindow:
    """A read view of `study` whose trial lists keep the `history` most recent finished trials and every other."""

    def __init__(self, study: optuna.Study, history: int):
        self._study = study
        self._history = history

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, *args: Any, **kwargs: Any) -> list:
        kept, finished = [], 0
        for trial in reversed(self._study._get_trials(*args, **kwargs)):  # storages list trials by number
            if trial.state.is_finished():
                if finished == self._history:
                    continue
                finished += 1
            kept.append(trial)
        return kept[::-1]


def open_study_storage(experiment_dir: str | Path) -> JournalStorage:
    """The Optuna study file of an experiment (readable by optuna-dashboard)."""
    return JournalStorage(JournalFileBackend(str(Path(experiment_dir) / STUDY_FILE)))


def repair_journal(path: Path) -> None:
    """Repair what a killed driver can leave in its study journal, before the next driver opens it.

    A lock no process holds any more (Optuna would wait out its grace period on every resume), and a last
    line without its newline (a write cut short: the next append would glue onto it and the study could
    no longer be read). Only the sweep's one driver writes the journal, so a lock found at open is stale.
    """
    lock = Path(f"{path}{LOCK_FILE_SUFFIX}")
    if lock.is_symlink() or lock.exists():
        lock.unlink()
        logger.warning("warning: %s: removed a stale lock left by a killed driver", path)
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)
    logger.warning("warning: %s: dropped a torn last line left by a killed driver", path)


class StudyFile(JournalFileBackend):
    """The study journal of the experiment at `location`, pickled by that location, not by its file path.

    Ray pickles the searcher (and with it this backend) into the experiment. For a sweep stored at a URI
    the journal lives in the driver's local mirror, whose path depends on the machine and user: unpickled
    by a resumed driver, the backend opens that driver's own mirror copy.
    """

    def __init__(self, location: str):
        self._location = location
        folder = Experiment(location).path
        folder.mkdir(parents=True, exist_ok=True)
        repair_journal(folder / STUDY_FILE)
        super().__init__(str(folder / STUDY_FILE))

    def __reduce__(self) -> tuple:
        return StudyFile, (self._location,)


def make_searcher(cfg: ExperimentConfig, experiment: Experiment) -> PruneAwareOptunaSearch:
    """The searcher of a sweep, its Optuna study stored with the experiment."""
    points = [dict(point) for point in cfg.search.points_to_evaluate]
    objectives = cfg.search.objective_modes  # one objective: Ray's single-metric path (intermediate values)
    return PruneAwareOptunaSearch(
        space=define_by_run(cfg.search.space),
        metric=list(objectives) if len(objectives) > 1 else cfg.search.metric,
        mode=list(objectives.values()) if len(objectives) > 1 else cfg.search.metric_mode,
        points_to_evaluate=points or None,
        sampler=make_sampler(cfg.search.sampler, cfg.search.max_concurrent),
        study_name=experiment.name,
        storage=JournalStorage(StudyFile(experiment.location)),
        prune_stopped=cfg.search.sampler.prune_stopped,
    )


def seed_from(cfg: ExperimentConfig, experiment: Experiment, location: str) -> None:
    """Seed the sweep's study (created here, loaded again by the searcher) with `location`'s fitting trials."""
    from search.warm_start import seed_study

    study = optuna.create_study(study_name=experiment.name, storage=JournalStorage(StudyFile(experiment.location)),
                                direction="maximize" if cfg.search.metric_mode == "max" else "minimize",
                                load_if_exists=True)
    seed_study(study, location, cfg.search.space)


class FixedPoints(Searcher):
    """Suggests the given configurations, in order, once each, then FINISHED: no sampling (search.confirm).

    Its state (the points and how many were handed out) is saved with the experiment, so a resumed
    confirmation goes on from the next point instead of handing the first ones out again.
    """

    def __init__(self, points: list[dict], metric: Optional[str] = None, mode: Optional[str] = None):
        super().__init__(metric=metric, mode=mode)
        self._points = [dict(p) for p in points]
        self._next = 0

    def suggest(self, trial_id: str) -> Optional[dict]:
        if self._next >= len(self._points):
            return Searcher.FINISHED
        self._next += 1
        return dict(self._points[self._next - 1])

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        """Nothing to learn: the points are fixed."""

    def get_state(self) -> dict:
        return {"points": self._points, "next": self._next}

    def set_state(self, state: dict) -> None:
        self._points, self._next = list(state["points"]), int(state["next"])

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(json.loads(Path(checkpoint_path).read_text()))
