"""search.run's command line before any work: what it refuses, and what it must not silently ignore (no Ray)."""
from __future__ import annotations

import pytest

from core.schema import ConfigError
from core.uri import without_query
from data_pipeline.cache import prepare_cache
from data_pipeline.config import DataConfig
from search.config import load_config
from search.experiment import Experiment
from search.run import check_validation_split, load_sweep_config, parse_args
from tests.conftest import ROOT
from tests.data_pipeline.conftest import write_good

DEMO = str(ROOT / "configs" / "demo.yaml")


def sweep_args(clothing_root, storage, *extra: str):
    return parse_args(["--space", DEMO, "--data", str(clothing_root), "--storage", str(storage), *extra])


def test_max_epochs_zero_is_refused_not_ignored(clothing_root, tmp_path):
    with pytest.raises(ConfigError, match=r"--max-epochs is 0, but must be >= 1"):
        load_sweep_config(sweep_args(clothing_root, tmp_path, "--max-epochs", "0"))


@pytest.mark.parametrize("flags", [["--set", "train.lr=0.1"], ["--max-epochs", "2"], ["--num-samples", "9"],
                                   ["--smoke"], ["--data", "/elsewhere"]])
def test_resume_refuses_flags_that_would_change_the_config(tmp_path, flags):
    args = parse_args(["--resume", "--storage", str(tmp_path), "--name", "exp", *flags])
    with pytest.raises(ConfigError, match=rf"--resume cannot be combined with {flags[0]}: a resumed sweep runs"):
        load_sweep_config(args)


def test_a_second_sweep_with_the_same_name_is_refused(clothing_root, tmp_path):
    cfg, experiment = load_sweep_config(sweep_args(clothing_root, tmp_path, "--name", "exp"))
    experiment.path.mkdir(parents=True)
    (experiment.path / "sweep.yaml").write_text("{}")  # the first sweep's files
    with pytest.raises(ConfigError, match=r"--name is 'exp', but is an experiment that already exists in .*: pass "
                                          r"--resume to continue it, or choose another --name"):
        load_sweep_config(sweep_args(clothing_root, tmp_path, "--name", "exp"))


SECRET_URIS = ["s3://AKIAEXAMPLE:wJalrSECRET@bucket/sweeps",
               "s3://bucket/sweeps?endpoint_override=127.0.0.1:9000&access_key=AKIAEXAMPLE&secret_key=wJalrSECRET"]


@pytest.mark.parametrize("uri", SECRET_URIS)
def test_credentials_in_a_storage_uri_are_refused_without_showing_them(uri):
    for field, overrides in (("storage.path", {"storage.path": uri}), ("data.cache_dir", {"data.cache_dir": uri})):
        with pytest.raises(ConfigError) as err:
            load_config(DEMO, overrides)
        assert f"{field} is 's3://bucket/sweeps', but carries credentials" in str(err.value)
        assert "wJalr" not in str(err.value) and "AKIAEXAMPLE" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        Experiment.create(uri, "exp")  # --resume --storage URI
    assert "wJalr" not in str(err.value)


def test_messages_and_mirror_folders_never_show_credentials():
    assert without_query(SECRET_URIS[0] + "/exp") == "s3://bucket/sweeps/exp"
    assert "wJalr" not in str(Experiment(SECRET_URIS[0] + "/exp").path)


def test_an_empty_validation_split_is_refused_naming_the_fix(tmp_path):
    for split in ("train", "test"):  # a pre-split tree without val/
        for label in ("a", "b"):
            write_good(tmp_path / "src" / split / label, 3, seed=hash((split, label)) % 1000)
    data = prepare_cache(DataConfig(source=str(tmp_path / "src"), cache_dir=str(tmp_path / "cache"), image_size=32),
                         progress=False, workers=1)
    with pytest.raises(ConfigError, match=r"has no validation images .* add a val/ folder to the tree, or set "
                                          r"data.val_frac"):
        check_validation_split(data, str(tmp_path / "src"))
