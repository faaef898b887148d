"""`search.run --warm-start EXPERIMENT`: seed a new sweep's Optuna study with an earlier sweep's finished trials.

Only COMPLETE and PRUNED trials whose parameters fit the new space are taken (the same names, values inside
the new bounds or choices, conditional parameters present exactly when their condition holds); pruned ones
keep their intermediate values, which is how TPE ranks them. The earlier experiment is never written: its
study journal is copied to a temporary folder and read there (Optuna's journal backend would leave a lock
file beside the one it opens).
"""
from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from core.layout import STUDY_FILE
from core.schema import ConfigError
from core.storage import ExperimentError, drop_local_copy, open_experiment
from core.uri import without_query
from search.config import ParamSpec
from search.space import conditions_hold, ordered_space

logger = logging.getLogger(__name__)

TAKEN_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
SOURCE_ATTR = "warm_start_from"
"""User attribute marking a seeded trial with the experiment it came from (a resumed sweep does not seed twice)."""


@dataclass(frozen=True)
class Selection:
    """The earlier trials that fit the new space, as trials of it, and why the others were skipped."""

    taken: tuple[FrozenTrial, ...] = ()
    skipped: Mapping[str, int] = field(default_factory=dict)
    """reason -> how many trials it skipped."""

    def summary(self, source: str) -> str:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]))
        return (f"warm start: took {len(self.taken)} trials from {without_query(source)}"
                + (f"; skipped {sum(self.skipped.values())} ({reasons})" if self.skipped else ""))


def distribution(spec: ParamSpec) -> BaseDistribution:
    """The Optuna distribution `search.space.suggest` samples for a parameter."""
    if spec.type == "categorical":
        return CategoricalDistribution(list(spec.choices))
    if spec.type == "int":
        return IntDistribution(int(spec.low), int(spec.high), log=spec.log, step=int(spec.step) if spec.step else 1)
    return FloatDistribution(spec.low, spec.high, log=spec.log, step=spec.step)


def value_fits(spec: ParamSpec, value: Any) -> bool:
    """True when `value` is one the new space can sample for this parameter."""
    if spec.type == "categorical":
        return value in spec.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if spec.type == "int" and not float(value).is_integer():
        return False
    return distribution(spec)._contains(float(value))


def skip_reason(params: Mapping[str, Any], space: Mapping[str, ParamSpec]) -> Optional[str]:
    """Why a trial with these parameters is not a trial of `space`; None when it is one."""
    expected: dict[str, ParamSpec] = {}
    for name, spec in ordered_space(space):
        if conditions_hold(spec, params):
            expected[name] = spec
    extra = sorted(set(params) - set(expected))
    if extra:
        return f"{extra[0]} not searched in the new space" if extra[0] not in space else \
            f"{extra[0]} present but its `when` condition does not hold"
    for name, spec in expected.items():
        if name not in params:
            return f"{name} missing"
        if not value_fits(spec, params[name]):
            return f"{name} outside the new space"
    return None


def select(trials: Sequence[FrozenTrial], space: Mapping[str, ParamSpec], source: str) -> Selection:
    """The earlier study's finished (COMPLETE, PRUNED) trials that fit `space`, re-made for the new study."""
    taken, skipped = [], Counter()
    for trial in trials:
        if trial.state not in TAKEN_STATES:
            skipped[f"{trial.state.name.lower()}"] += 1
            continue
        if trial.state == TrialState.COMPLETE and trial.value is None:
            skipped["complete without a value"] += 1
            continue
        reason = skip_reason(trial.params, space)
        if reason:
            skipped[reason] += 1
            continue
        taken.append(remake(trial, space, source))
    return Selection(taken=tuple(taken), skipped=dict(skipped))


def remake(trial: FrozenTrial, space: Mapping[str, ParamSpec], source: str) -> FrozenTrial:
    """The earlier trial as a trial of the new study (its distributions those of the new space)."""
    return optuna.trial.create_trial(
        state=trial.state,
        value=trial.value if trial.state == TrialState.COMPLETE else None,
        params=dict(trial.params),
        distributions={name: distribution(space[name]) for name in trial.params},
        intermediate_values=dict(trial.intermediate_values),
        user_attrs={**trial.user_attrs, SOURCE_ATTR: without_query(source), "warm_start_number": trial.number},
    )


def read_trials(location: str) -> list[FrozenTrial]:
    """The trials of an experiment's Optuna study, read from a temporary copy (the experiment is not touched)."""
    store = open_experiment(location, require=STUDY_FILE)
    try:
        path, temporary = store.local_copy(STUDY_FILE)
    except OSError as err:
        raise ExperimentError(f"{store.shown}: cannot read its {STUDY_FILE} ({err})") from None
    if not temporary:  # a local experiment: copy it too, so the journal backend's lock lands in the copy
        path, temporary = copy_to_temporary(path), True
    try:
        storage = JournalStorage(JournalFileBackend(str(path)))
        names = optuna.get_all_study_names(storage)
        if len(names) != 1:
            raise ExperimentError(f"{store.shown}/{STUDY_FILE}: holds {len(names)} studies, expected one")
        return optuna.load_study(study_name=names[0], storage=storage).get_trials(deepcopy=False)
    except (ValueError, KeyError, RuntimeError) as err:  # a journal Optuna cannot replay
        raise ExperimentError(f"{store.shown}/{STUDY_FILE}: not a readable Optuna study ({err})") from None
    finally:
        drop_local_copy(path, temporary)


def copy_to_temporary(path: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="warm-start-")) / Path(path).name
    shutil.copyfile(path, target)
    return target


def seed_study(study: optuna.Study, location: str, space: Mapping[str, ParamSpec]) -> Optional[Selection]:
    """Add the earlier experiment's fitting trials to `study`; None when a previous run already did."""
    if any(SOURCE_ATTR in t.user_attrs for t in study.get_trials(deepcopy=False)):
        logger.info("warm start: the study already holds the trials of %s (resumed sweep)", without_query(location))
        return None
    trials = read_trials(location)
    selection = select(trials, space, location)
    if trials and not selection.taken:
        raise ConfigError("--warm-start", without_query(location), "has no finished trial that fits the new "
                          f"search space ({', '.join(sorted(selection.skipped))}): warm-start from a sweep "
                          "over the same parameters")
    study.add_trials(selection.taken)
    logger.info("%s", selection.summary(location))
    return selection
