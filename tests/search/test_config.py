"""The one config loader: every shipped config validates, every bad value is one line naming file and field."""
from pathlib import Path

import pytest

from core.schema import ConfigError, dump_yaml, to_mapping
from search.config import load_config
from tests.conftest import ROOT, run_cli

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
SWEEP_CONFIGS = [p for p in CONFIGS if p.stem in {"beit", "swinv2", "deit", "convnext", "demo", "smoke"}]

BASE = """
data: {source: /tmp}
model: {backbone: test_vit}
search:
  space:
    epochs: {type: int, low: 2, high: 6}
    lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    optimizer: {type: categorical, choices: [adam, sgd]}
    momentum: {type: float, low: 0.8, high: 0.99, when: {optimizer: [sgd]}}
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_study_configs_are_all_shipped():
    assert {p.stem for p in SWEEP_CONFIGS} == {"beit", "swinv2", "deit", "convnext", "demo", "smoke"}


@pytest.mark.parametrize("path", SWEEP_CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_loads_and_round_trips(path, tmp_path):
    cfg = load_config(str(path))
    out = tmp_path / "as_run.yaml"
    dump_yaml(cfg, out)
    assert load_config(str(out)) == cfg


@pytest.mark.parametrize("name", ["beit", "swinv2", "deit", "convnext"])
def test_gpu_configs_contain_the_studys_table(name):
    """The study's four hand-tuned rows lie inside the space and run first."""
    cfg = load_config(f"configs/{name}.yaml")
    space = cfg.search.space
    for point in cfg.search.points_to_evaluate:
        assert space["epochs"].low <= point["epochs"] <= space["epochs"].high
        assert point["batch_size"] in space["batch_size"].choices
        assert space["lr"].low <= point["lr"] <= space["lr"].high
        assert space["dropout"].low <= point["dropout"] <= space["dropout"].high
        assert space["weight_decay"].low <= point["weight_decay"] <= space["weight_decay"].high
        assert point["optimizer"] in space["optimizer"].choices
    assert len(cfg.search.points_to_evaluate) == 4


@pytest.mark.parametrize("edit, message", [
    (("epochs: {", "epohcs: {"), "search.space.epohcs is not a searchable field"),
    (("low: 1.0e-4", "low: 0.0"), "search.space.lr.low is 0.0, but must be > 0 for a log scale"),
    (("low: 2, high: 6", "low: 6, high: 2"), "search.space.epochs.low is 6, but must be < high (2)"),
    (("choices: [adam, sgd]", "choices: [adam, lion]"), "search.space.optimizer is 'lion', but is not valid for train.optimizer"),
    (("backbone: test_vit", "backbon: test_vit"), "model.backbon is not a known field (did you mean 'backbone'?)"),
    (("data: {source: /tmp}", "data: {source: /tmp, val_frac: abc}"), "data.val_frac is 'abc', but must be a number"),
    (("search:", "resources: {gpu: 0.3}\nsearch:"), "resources.gpu is 0.3, but must divide 1"),
    (("search:", "train: {batch_size: 0}\nsearch:"), "train.batch_size is 0, but must be >= 1"),
    (("search:", "search:\n  metric: accuracy"), "search.metric is 'accuracy', but must be a metric the trainer reports"),
    (("search:", "search:\n  scheduler: {type: hyperband}"), "search.scheduler.type is 'hyperband', but must be one of 'asha', 'fifo'"),
    (("search:", "search:\n  scheduler: {grace_period: 9}"), "search.scheduler.grace_period is 9, but must be <= the largest epoch count (6)"),
    (("search:", "search:\n  objectives: [speed]"), "search.objectives is 'speed', but must be a cost the trial measures: latency_ms"),
    (("search:", "search:\n  objectives: [params_m, params_m]"), "search.objectives is ['params_m', 'params_m'], but must not repeat"),
    (("search:", "search:\n  sampler: {type: grid}"), "search.sampler.type is 'grid', but must be one of 'tpe', 'random'"),
    (("when: {optimizer: [sgd]}", "when: {optimiser: [sgd]}"), "search.space.optimiser is named in a `when` condition but is not searched"),
])
def test_bad_values_give_one_line_naming_file_and_field(tmp_path, edit, message):
    path = write(tmp_path, BASE.replace(*edit))
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}: "), text
    assert message in text, text
    assert "\n" not in text


@pytest.mark.parametrize("text, message", [
    ("search: {space: {}}", "search.space is {}, but must define at least one searched parameter"),
    ("- a\n- b\n", "the config is 'list', but must be a mapping of sections"),
    ("search:\n  space: [\n", "YAML error at line"),
    ("search: !!python/object:os.system {}\n", "YAML error"),
])
def test_unusable_files(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(str(write(tmp_path, text)))
    assert message in str(err.value)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(str(tmp_path / "nope.yaml"))
    assert "nope.yaml: cannot be read" in str(err.value)


def test_overrides_are_validated_like_the_file(tmp_path):
    path = write(tmp_path, BASE)
    assert load_config(str(path), {"train.lr": 0.5}).train.lr == 0.5
    with pytest.raises(ConfigError, match="train.lr is -1.0, but must be a finite number > 0"):
        load_config(str(path), {"train.lr": -1.0})
    with pytest.raises(ConfigError, match="train.lrr is not a field of the config"):
        load_config(str(path), {"train.lrr": 0.1})


def test_max_epochs_is_the_largest_epoch_count(tmp_path):
    cfg = load_config(str(write(tmp_path, BASE)))
    assert cfg.max_epochs == 6
    assert to_mapping(cfg)["search"]["space"]["momentum"]["when"] == {"optimizer": ["sgd"]}


def test_unknown_backbone_names_the_presets_and_close_timm_names(tmp_path):
    path = write(tmp_path, BASE.replace("backbone: test_vit", "backbone: deit_smal_patch16_224"))
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert "model.backbone is 'deit_smal_patch16_224', but must be a preset (beit," in str(err.value)
    assert "deit_small_patch16_224" in str(err.value)


def test_checking_backbones_does_not_import_timm_once_its_names_are_cached(tmp_path):
    """timm takes seconds to import; a sweep config's typo should not wait for it (model.presets)."""
    code = ("import sys; from search.config import load_config; load_config(sys.argv[1]); "
            "print('timm' in sys.modules, 'torch' in sys.modules)")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    config = str(ROOT / "configs" / "smoke.yaml")
    first, second = (run_cli("-c", code, config, env=env) for _ in range(2))
    assert first.returncode == 0 and first.stdout.split() == ["True", "True"], first.stderr[-2000:]
    assert second.returncode == 0 and second.stdout.split() == ["False", "False"], second.stderr[-2000:]


def test_the_demo_sweeps_a_hub_free_pretrained_backbone_whose_first_point_is_its_train_section():
    """`make demo` must run where no model hub is reachable, and `model.train` on the same file trains the
    sweep's first (hand-measured) point, so the two commands show the same recipe."""
    from model.presets import resolve_backbone
    from search.space import trial_run_config

    cfg = load_config(str(ROOT / "configs" / "demo.yaml"))
    assert cfg.model.pretrained is True and resolve_backbone(cfg.model.backbone).weights_wheel
    assert cfg.model.edgenet.mode == "residual" and cfg.search.scheduler.type == "asha"
    assert trial_run_config(cfg, dict(cfg.search.points_to_evaluate[0])) == cfg.run_config
