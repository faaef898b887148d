"""The search space as data: sampling order, conditional parameters, and back to a trial's config."""
import optuna
import pytest

from core.schema import ConfigError
from search.config import ParamSpec, load_config
from search.space import define_by_run, ordered_space, trial_run_config

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample(space, n=40, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    fn = define_by_run(space)
    out = []
    for _ in range(n):
        trial = study.ask()
        fn(trial)
        out.append(trial.params)
        study.tell(trial, 0.0)
    return out


def test_conditional_parameter_only_when_its_condition_holds():
    cfg = load_config("configs/smoke.yaml")
    for params in sample(cfg.search.space):
        assert ("momentum" in params) == (params["optimizer"] in ("sgd", "rmsprop")), params
        assert 2 <= params["epochs"] <= 8 and isinstance(params["epochs"], int)
        assert 1e-4 <= params["lr"] <= 1e-2


def test_conditions_come_after_what_they_name():
    space = {"momentum": ParamSpec("float", 0.1, 0.9, when={"optimizer": ("sgd",)}),
             "optimizer": ParamSpec("categorical", choices=("sgd", "adam"))}
    assert [name for name, _ in ordered_space(space)] == ["optimizer", "momentum"]


def test_cyclic_conditions_are_refused():
    space = {"a": ParamSpec("categorical", choices=(1,), when={"b": (1,)}),
             "b": ParamSpec("categorical", choices=(1,), when={"a": (1,)})}
    with pytest.raises(ConfigError, match="cycle"):
        ordered_space(space)


def test_trial_config_takes_the_sampled_values():
    cfg = load_config("configs/smoke.yaml")
    run = trial_run_config(cfg, {"lr": 0.003, "optimizer": "sgd", "momentum": 0.85, "dropout": 0.2, "epochs": 4})
    assert (run.train.lr, run.train.optimizer, run.train.momentum, run.model.dropout) == (0.003, "sgd", 0.85, 0.2)
    assert run.data == cfg.data and run.train.epochs == 4
    assert trial_run_config(cfg, {"lr": 0.1}).train.epochs == cfg.train.epochs
