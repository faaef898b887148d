"""Every bad config a user can write: `search.run` exits 2 with one line naming file, field, value and rule.

The command's own `main` is called in-process (fast), with `start_ray` and `prepare_cache` replaced by
tripwires: a config error must be found before any data is prepared and before Ray starts.
tests/search/test_run.py::test_bad_config_fails_before_ray_with_one_line runs the same path in a subprocess.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import search.ray_session
import search.run
from tests.conftest import ROOT

DEMO = (ROOT / "configs" / "smoke.yaml").read_text()
SOURCE_LINE = "source: ../shared/datasets/clothing-small"


def _edit(old: str, new: str):
    def apply(text: str) -> str:
        assert old in text, f"the smoke config no longer contains {old!r}"
        return text.replace(old, new, 1)
    return apply


def _append(block: str):
    return lambda text: text + block


# (case id, edit of configs/smoke.yaml, text the one error line must contain)
CASES = [
    ("unknown-section", _append("serach: {}\n"), "serach is not a known field (did you mean 'search'?)"),
    ("unknown-key-data", _edit("image_size: 64\n  max_per_class", "image_sise: 64\n  max_per_class"),
     "data.image_sise is not a known field (did you mean 'image_size'?)"),
    ("unknown-key-nested", _edit("mode: residual", "mdoe: residual"),
     "model.edgenet.mdoe is not a known field (did you mean 'mode'?)"),
    ("unknown-key-train", _edit("warmup_epochs: 1", "warmup_epoch: 1"),
     "train.warmup_epoch is not a known field (did you mean 'warmup_epochs'?)"),
    ("unknown-key-search", _edit("num_samples: 12", "num_sample: 12"),
     "search.num_sample is not a known field (did you mean 'num_samples'?)"),
    ("unknown-key-param-spec", _edit("high: 1.0e-2, log: true}", "high: 1.0e-2, logg: true}"),
     "search.space.lr.logg is not a known field (did you mean 'log'?)"),
    ("unknown-key-resources", _edit("  gpu: 0\n", "  gpus: 0\n"),
     "resources.gpus is not a known field (did you mean 'gpu'?)"),
    ("unknown-key-storage", _edit("  path: experiments", "  pth: experiments"),
     "storage.pth is not a known field (did you mean 'path'?)"),
    ("unknown-searched-param", _edit("dropout: {type: float", "dropuot: {type: float"),
     "search.space.dropuot is not a searchable field: use one of"),
    ("wrong-type-int", _edit("num_samples: 12", "num_samples: many"),
     "search.num_samples is 'many', but must be an integer"),
    ("wrong-type-float", _edit("  cpu: 1\n", "  cpu: one\n"), "resources.cpu is 'one', but must be a number"),
    ("wrong-type-mapping", _edit("  sampler: {type: tpe, seed: 0}", "  sampler: tpe"),
     "search.sampler is 'tpe', but must be a mapping of keys to values"),
    ("empty-space", lambda t: t.replace(t[t.index("  space:"):t.index("  points_to_evaluate")], "  space: {}\n")
     .replace(t[t.index("  points_to_evaluate"):t.index("  sampler")], ""),
     "search.space is {}, but must define at least one searched parameter"),
    ("low-above-high", _edit("epochs: {type: int, low: 2, high: 8}", "epochs: {type: int, low: 8, high: 2}"),
     "search.space.epochs.low is 8, but must be < high (2)"),
    ("log-bound-zero", _edit("lr: {type: float, low: 1.0e-4", "lr: {type: float, low: 0.0"),
     "search.space.lr.low is 0.0, but must be > 0 for a log scale"),
    ("log-bound-negative", _edit("weight_decay: {type: float, low: 1.0e-5", "weight_decay: {type: float, low: -1.0"),
     "search.space.weight_decay.low is -1.0, but must be > 0 for a log scale"),
    ("unknown-backbone", _edit("backbone: test_vit", "backbone: test_vitt"),
     "model.backbone is 'test_vitt', but must be a preset (beit,"),
    ("unknown-optimizer-searched", _edit("choices: [adam, adamw, sgd, rmsprop]", "choices: [adam, lion]"),
     "search.space.optimizer is 'lion', but is not valid for train.optimizer"),
    ("unknown-optimizer-fixed", _edit("  warmup_epochs: 1", "  warmup_epochs: 1\n  optimizer: lion"),
     "train.optimizer is 'lion', but must be one of"),
    ("unknown-balancing", _edit("strategy: hybrid", "strategy: smote"),
     "data.balance.strategy is 'smote', but must be one of 'none', 'oversample'"),
    ("unknown-scheduler", _edit("scheduler: {type: asha", "scheduler: {type: hyperband"),
     "search.scheduler.type is 'hyperband', but must be one of 'asha', 'fifo'"),
    ("unknown-sampler", _edit("sampler: {type: tpe", "sampler: {type: grid"),
     "search.sampler.type is 'grid', but must be one of 'tpe', 'random'"),
    ("grace-above-max-epochs", _edit("grace_period: 1", "grace_period: 12"),
     "search.scheduler.grace_period is 12, but must be <= the largest epoch count (8)"),
    ("gpu-fraction-not-dividing-1", _edit("  gpu: 0\n", "  gpu: 0.3\n"),
     "resources.gpu is 0.3, but must divide 1 (0.5, 0.25, 0.125, ...)"),
    ("gpu-negative", _edit("  gpu: 0\n", "  gpu: -1\n"), "resources.gpu is -1.0, but must be >= 0"),
    ("batch-size-zero-fixed", _edit("  warmup_epochs: 1", "  warmup_epochs: 1\n  batch_size: 0"),
     "train.batch_size is 0, but must be >= 1"),
    ("batch-size-zero-searched", _edit("choices: [32, 64, 128]", "choices: [0, 32]"),
     "search.space.batch_size is 0, but is not valid for train.batch_size: must be >= 1"),
    ("metric-not-reported", _edit("metric: val_f1", "metric: val_auc"),
     "search.metric is 'val_auc', but must be a metric the trainer reports: train_loss"),
    ("point-outside-space", _edit("{epochs: 6, batch_size: 32,", "{epochs: 6, batchsize: 32,"),
     "search.points_to_evaluate[0].batchsize is 32, but must be a key of search.space"),
    ("condition-on-unsearched", _edit("when: {optimizer: [sgd, rmsprop]}", "when: {optimiser: [sgd, rmsprop]}"),
     "search.space.optimiser is named in a `when` condition but is not searched"),
    ("data-path-missing", _edit(SOURCE_LINE, "source: /nonexistent/photos"),
     "data.source is '/nonexistent/photos', but must be an existing directory of images"),
    ("data-path-is-a-file", _edit(SOURCE_LINE, f"source: {ROOT / 'configs' / 'smoke.yaml'}"),
     "but must be an existing directory of images"),
    ("yaml-syntax-error", _edit("  num_samples: 12", "  num_samples: [12"), "YAML error at line"),
    ("not-a-mapping", lambda t: "- data\n- search\n", "the config is 'list', but must be a mapping of sections"),
    ("python-tag-refused", _append("extra: !!python/object/apply:os.system ['touch /tmp/edgetune-pwned']\n"),
     "YAML error"),
]


@pytest.fixture
def tripwires(monkeypatch):
    """Fail the test if the command gets as far as preparing data or starting Ray."""
    def ray_started(*args, **kwargs):
        raise AssertionError("Ray was started for a bad config")

    def data_prepared(*args, **kwargs):
        raise AssertionError("data was prepared for a bad config")

    monkeypatch.setattr(search.ray_session, "start_ray", ray_started)
    monkeypatch.setattr(search.run, "prepare_cache", data_prepared)


def _run_main(capsys, *argv: str) -> tuple[int, list[str]]:
    code = search.run.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("case_id, edit, message", CASES, ids=[c[0] for c in CASES])
def test_bad_config_exits_2_with_one_line_before_any_work(case_id, edit, message, tmp_path, capsys, tripwires,
                                                          clothing_root):
    path = tmp_path / "sweep.yaml"
    path.write_text(edit(DEMO.replace(SOURCE_LINE, f"source: {clothing_root}")) if "data-path" not in case_id
                    else edit(DEMO))
    code, lines = _run_main(capsys, "--space", str(path))
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert message in lines[0], lines[0]
    assert not Path("/tmp/edgetune-pwned").exists()


def test_missing_config_file(tmp_path, capsys, tripwires):
    code, lines = _run_main(capsys, "--space", str(tmp_path / "nope.yaml"))
    assert code == 2 and lines == [f"error: {tmp_path / 'nope.yaml'}: cannot be read: No such file or directory"]


def test_typo_in_a_set_override(tmp_path, capsys, tripwires):
    code, lines = _run_main(capsys, "--space", "configs/smoke.yaml", "--set", "train.lrr=0.1")
    assert code == 2 and len(lines) == 1
    assert "train.lrr is not a field of the config" in lines[0], lines[0]


def test_yaml_error_names_the_line(tmp_path, capsys, tripwires):
    path = tmp_path / "sweep.yaml"
    lines_of_demo = DEMO.splitlines()
    bad = next(i for i, line in enumerate(lines_of_demo) if "num_samples: 12" in line)
    lines_of_demo[bad] = lines_of_demo[bad].replace("12", "[12")
    path.write_text("\n".join(lines_of_demo) + "\n")
    code, lines = _run_main(capsys, "--space", str(path))
    assert code == 2 and len(lines) == 1
    assert "YAML error at line" in lines[0]
    line_no = int(lines[0].split("YAML error at line ")[1].split(",")[0])
    assert abs(line_no - (bad + 1)) <= 1, (line_no, bad + 1)  # PyYAML points at or just after the bad line


def test_typo_in_a_key_says_the_right_name(tmp_path, capsys, tripwires):
    """Likely mistake 1 of 3: a misspelled key names the field it probably meant."""
    path = tmp_path / "sweep.yaml"
    path.write_text(DEMO.replace("backbone: test_vit", "backbon: test_vit"))
    code, lines = _run_main(capsys, "--space", str(path))
    assert code == 2 and "did you mean 'backbone'?" in lines[0]


def test_wrong_data_path_says_how_to_fix(tmp_path, capsys, tripwires):
    """Likely mistake 2 of 3: the message says where to set the path. (3 of 3, a GPU fraction on a CPU-only
    machine, is tests/search/test_run.py::test_gpu_fraction_on_a_cpu_only_machine_says_how_to_fix_it.)"""
    code, lines = _run_main(capsys, "--space", "configs/smoke.yaml", "--data", str(tmp_path / "photos"))
    assert code == 2 and len(lines) == 1
    assert "--data" in lines[0] and "data.source" in lines[0], lines[0]
