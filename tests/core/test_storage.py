"""One storage location type: the same reads, writes, listings and local copies on a local path and a remote one."""
import json

import pyarrow.fs as pafs
import pytest

from core.storage import ExperimentError, Store, drop_local_copy, open_experiment


@pytest.fixture(params=["local", "remote"])
def store(request, tmp_path):
    """The same folder as a local store, and behind a non-local filesystem (copies go through a temp dir)."""
    (tmp_path / "exp" / "t1").mkdir(parents=True)
    (tmp_path / "exp" / "sweep.json").write_text(json.dumps({"name": "exp"}))
    if request.param == "local":
        return Store(pafs.LocalFileSystem(), str(tmp_path / "exp"), str(tmp_path / "exp"))
    return Store(pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem()), "exp", "mem://exp?key=secret")


def test_read_write_list(store):
    store.write_text("a: 1\n", "t1", "trial_config.yaml")
    assert store.read_text("t1", "trial_config.yaml") == "a: 1\n" and store.exists("t1", "trial_config.yaml")
    assert store.read_json("sweep.json") == {"name": "exp"} and store.read_json("nope.json", default=7) == 7
    assert store.subdirs() == ["t1"] and store.is_dir("t1") and not store.is_dir("sweep.json")


def test_a_broken_json_file_is_one_user_error_without_the_uri_query(store):
    store.write_text("{oops", "bad.json")
    with pytest.raises(ExperimentError, match="bad.json: not valid JSON") as err:
        store.read_json("bad.json")
    assert "secret" not in str(err.value)


def test_local_copy_of_a_file_and_a_folder(store):
    store.write_text("x", "t1", "f.txt")
    for parts in (("sweep.json",), ("t1",)):
        path, temporary = store.local_copy(*parts)
        assert path.exists() and temporary == (store.uri.startswith("mem://"))
        drop_local_copy(path, temporary)
        assert path.exists() != temporary  # a temporary copy is gone, the store's own file is not


def test_open_experiment_requires_an_experiment(tmp_path):
    with pytest.raises(ExperimentError, match="experiment directory not found"):
        open_experiment(str(tmp_path / "missing"))
    with pytest.raises(ExperimentError, match="no sweep.json"):
        open_experiment(str(tmp_path))
    assert open_experiment(str(tmp_path), require=None).root == str(tmp_path)
