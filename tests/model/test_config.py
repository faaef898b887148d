"""The recipe's and the balancing strategies' config fields: neutral defaults, searchable paths, one-line errors."""
import pytest

from core.schema import ConfigError, with_overrides
from model.config import RunConfig

SEARCHED = {  # dotted paths as a search space's keys name them, with values a trial could sample
    "train.ema_decay": 0.999, "train.mixup_alpha": 0.2, "train.cutmix_alpha": 1.0, "train.mix_prob": 0.5,
    "train.accumulate_steps": 4, "train.tta": "flip", "model.drop_path_rate": 0.1,
    "data.augment.trivial_augment": True, "data.augment.random_erasing": 0.25,
    "data.balance.strategy": "logit_adjusted", "data.balance.tau": 1.5, "data.balance.crt_epochs": 3,
}


def test_defaults_leave_the_recipe_off():
    cfg = RunConfig()
    t = cfg.train
    assert (t.ema_decay, t.mixup_alpha, t.cutmix_alpha, t.accumulate_steps, t.tta) == (None, 0.0, 0.0, 1, "none")
    assert cfg.model.drop_path_rate == 0.0
    assert not cfg.data.augment.trivial_augment and cfg.data.augment.random_erasing == 0.0
    assert cfg.data.balance.strategy == "none"


def test_every_new_field_takes_a_sampled_value_by_its_dotted_path():
    cfg = with_overrides(RunConfig(), SEARCHED, source="trial parameters")
    for dotted, value in SEARCHED.items():
        node = cfg
        for part in dotted.split("."):
            node = getattr(node, part)
        assert node == value, dotted


@pytest.mark.parametrize("dotted, value, words", [
    ("train.ema_decay", 1.0, "train.ema_decay is 1.0, but must be in (0, 1) or null"),
    ("train.accumulate_steps", 0, "train.accumulate_steps is 0, but must be >= 1"),
    ("train.mixup_alpha", -0.1, "train.mixup_alpha"),
    ("train.mix_prob", 1.5, "train.mix_prob"),
    ("train.tta", "five_crop", "train.tta"),
    ("model.drop_path_rate", 1.0, "model.drop_path_rate"),
    ("data.augment.random_erasing", 2, "data.augment.random_erasing"),
    ("data.balance.tau", -1.0, "data.balance.tau"),
    ("data.balance.crt_epochs", 0, "data.balance.crt_epochs"),
    ("data.balance.strategy", "smote", "data.balance.strategy"),
])
def test_impossible_values_are_one_line_naming_the_field(dotted, value, words):
    with pytest.raises(ConfigError) as err:
        with_overrides(RunConfig(), {dotted: value}, source="trial parameters")
    assert words in str(err.value) and "\n" not in str(err.value)
