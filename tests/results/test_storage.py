"""An experiment on S3-compatible storage (a local moto server) is collected like a local one."""
from __future__ import annotations

import socket

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from core.storage import Store
from core.uri import open_location, without_query
from results.collect import collect, save_parquet
from results.study import param_importances


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_experiment(exp_a, monkeypatch):
    """exp_a uploaded to s3://sweeps/exp_a on a moto server bound to 127.0.0.1; yields its URI."""
    moto_server = pytest.importorskip("moto.server", reason="pip install 'moto[server]' (the test extra)")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    try:
        s3 = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                               access_key="test", secret_key="test", allow_bucket_creation=True)
        s3.create_dir("sweeps")
        pafs.copy_files(str(exp_a), "sweeps/exp_a", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=s3)
        yield f"s3://sweeps/exp_a?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    finally:
        server.stop()


def test_collect_from_s3_matches_local(s3_experiment, exp_a):
    remote, local = collect(s3_experiment), collect(str(exp_a))
    assert remote.name == "exp_a"
    columns = ["trial_id", "status", "best_epoch", "best_val_f1", "gpu_hours", "checkpoint", "cfg_batch_size"]
    assert remote.trials[columns].equals(local.trials[columns])
    assert len(remote.epochs) == len(local.epochs)
    assert param_importances(remote)[0] == pytest.approx(param_importances(local)[0])  # journal read from a copy
    trials_uri, _ = save_parquet(remote)
    s3, root = pafs.FileSystem.from_uri(s3_experiment)
    assert s3.get_file_info(f"{root}/results/trials.parquet").size > 0
    assert without_query(trials_uri) == "s3://sweeps/exp_a/results/trials.parquet"
    filesystem, path = open_location(trials_uri)  # the returned URI reopens
    assert pq.read_table(path, filesystem=filesystem).num_rows == len(remote.trials)


def test_local_copy_of_a_remote_folder(exp_a, tmp_path):
    store = Store(fs=pafs.SubTreeFileSystem(str(exp_a.parent), pafs.LocalFileSystem()), root="exp_a",
                            uri="sub://exp_a")
    trial = next(d for d in store.subdirs() if d.startswith("train_trial_ab12c_00000"))
    path, temporary = store.local_copy(trial, "checkpoint_000001")
    assert temporary and (path / "checkpoint.pt").read_bytes() == b"not a real checkpoint"
