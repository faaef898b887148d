"""Storage locations: joins keep a URI's connection options, and S3 gets a patient retry policy."""
from __future__ import annotations

import pickle

import pyarrow.fs as pafs
import pytest

from core.uri import S3_ATTEMPTS, is_uri, join, open_location, without_query
from search.experiment import MIRROR_ROOT, Experiment

MINIO = "s3://sweeps/edgetune?endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1"


def test_join_puts_parts_before_the_query():
    assert join(MINIO, "beit", "report") == \
        "s3://sweeps/edgetune/beit/report?endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1"
    assert join("s3://bucket/", "x") == "s3://bucket/x"
    assert join("/data/experiments/", "beit") == "/data/experiments/beit"


def test_without_query_is_for_messages():
    assert without_query(MINIO) == "s3://sweeps/edgetune"
    assert without_query("/data/x") == "/data/x" and not is_uri("/data/x") and is_uri(MINIO)


def test_s3_location_keeps_its_options_and_retries(s3_server):
    filesystem, path = open_location(join(s3_server.uri("sweeps"), "a"))
    assert isinstance(filesystem, pafs.S3FileSystem) and path == "sweeps/a"
    s3_server.bucket("sweeps")
    with filesystem.open_output_stream("sweeps/a/probe") as out:  # reaches the server named in the query
        out.write(b"ok")
    assert s3_server.read_text("sweeps/a/probe") == "ok"
    assert S3_ATTEMPTS >= 5


def test_s3_filesystem_keeps_its_retry_policy_when_pickled_to_a_worker():
    filesystem, _ = open_location("s3://sweeps/a?endpoint_override=127.0.0.1:9&scheme=http&region=us-east-1", attempts=3)
    copy = pickle.loads(pickle.dumps(filesystem))  # what Ray does to hand `storage_filesystem` to a trial
    assert isinstance(copy, pafs.S3FileSystem) and copy.attempts == 3
    assert copy.options["endpoint_override"] == "127.0.0.1:9" and copy.options["scheme"] == "http"


def test_local_location_is_the_local_filesystem(tmp_path):
    filesystem, path = open_location(str(tmp_path))
    assert isinstance(filesystem, pafs.LocalFileSystem) and path == str(tmp_path)


def test_experiment_on_s3_mirrors_its_driver_files_locally():
    experiment = Experiment.create(MINIO, "beit-1")
    assert experiment.remote and experiment.name == "beit-1"
    assert experiment.path == MIRROR_ROOT / "s3" / "sweeps" / "edgetune" / "beit-1"
    assert without_query(experiment.location) == "s3://sweeps/edgetune/beit-1"
    local = Experiment.create("experiments", "beit-1")
    assert not local.remote and local.path.is_absolute() and local.path.name == "beit-1"


def test_cache_messages_name_a_uri_without_its_connection_options(s3_server):
    from data_pipeline.cache import open_cache
    from data_pipeline.sources import DataError

    s3_server.bucket("caches")
    with pytest.raises(DataError) as err:
        open_cache(s3_server.uri("caches/not-a-cache"))
    assert "s3://caches/not-a-cache is not a prepared cache" in str(err.value)
    assert "endpoint_override" not in str(err.value)
