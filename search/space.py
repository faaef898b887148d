"""The search space as data: YAML `search.space` -> an Optuna define-by-run function, and back to a config.

Pure functions, no Ray: a trial's parameters are search-space keys (`lr`, `optimizer`, `train.warmup_epochs`);
`trial_run_config` turns them into the typed config one training run uses.
"""
from __future__ import annotations

from typing import Any, Mapping

from core.schema import ConfigError, with_overrides
from model.config import RunConfig
from search.config import ExperimentConfig, ParamSpec, resolve_param

OPTUNA_CHOICE_TYPES = (type(None), bool, int, float, str)


def ordered_space(space: Mapping[str, ParamSpec]) -> list[tuple[str, ParamSpec]]:
    """Parameters in an order where each comes after those its `when` condition names."""
    ordered: list[tuple[str, ParamSpec]] = []
    placed: set[str] = set()
    pending = dict(space)
    while pending:
        ready = [name for name, spec in pending.items() if set(spec.when) <= placed]
        if not ready:
            raise ConfigError("search.space", sorted(pending), "has `when` conditions that form a cycle")
        for name in ready:
            ordered.append((name, pending.pop(name)))
            placed.add(name)
    return ordered


def conditions_hold(spec: ParamSpec, taken: Mapping[str, Any]) -> bool:
    """True when every parameter named in `spec.when` was sampled with one of the listed values."""
    return all(name in taken and taken[name] in allowed for name, allowed in spec.when.items())


def suggest(trial: Any, name: str, spec: ParamSpec) -> Any:
    """Sample one parameter on an Optuna trial (or Ray's wrapper of one)."""
    if spec.type == "categorical":
        return trial.suggest_categorical(name, list(spec.choices))
    if spec.type == "int":
        step = int(spec.step) if spec.step else 1
        return trial.suggest_int(name, int(spec.low), int(spec.high), step=step, log=spec.log)
    return trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)


class DefineByRun:
    """An Optuna define-by-run function sampling the space, conditional parameters only when they apply.

    A class, not a closure: Ray Tune pickles the searcher (and so this) into the experiment to resume it.
    """

    def __init__(self, space: Mapping[str, ParamSpec]):
        for name, spec in space.items():
            for choice in spec.choices:
                if not isinstance(choice, OPTUNA_CHOICE_TYPES):
                    raise ConfigError(f"search.space.{name}.choices", choice,
                                      "must hold only numbers, strings, booleans or null")
        self.ordered = ordered_space(space)

    def __call__(self, trial: Any) -> None:
        taken: dict[str, Any] = {}
        for name, spec in self.ordered:
            if conditions_hold(spec, taken):
                taken[name] = suggest(trial, name, spec)


define_by_run = DefineByRun


def trial_run_config(cfg: ExperimentConfig, params: Mapping[str, Any]) -> RunConfig:
    """The training config of one trial: the sweep's fixed values with the trial's sampled ones."""
    overrides = {resolve_param(name): value for name, value in params.items()}
    return with_overrides(cfg.run_config, overrides, source="trial parameters")
