"""The storage checks before a sweep starts: writable storage, and storage every node of a cluster reaches."""
import os

import pytest

from core.schema import ConfigError
from search.ray_session import check_storage_reaches_every_node
from search.run import check_writable


def test_one_node_or_shared_storage_may_be_a_local_path():
    check_storage_reaches_every_node("/data/exp", "/data/cache", shared=False, nodes=1)
    check_storage_reaches_every_node("/nfs/exp", "/nfs/cache", shared=True, nodes=4)
    check_storage_reaches_every_node("s3://b/exp", "s3://b/cache", shared=False, nodes=4)


@pytest.mark.parametrize(("storage", "cache", "field"), [("/data/exp", "s3://b/c", "storage.path"),
                                                         ("s3://b/exp", ".cache/data", "data.cache_dir")])
def test_a_multi_node_cluster_refuses_a_local_path(storage, cache, field):
    with pytest.raises(ConfigError, match=rf"^{field} is .* every node reaches .* the cluster has 3 nodes"):
        check_storage_reaches_every_node(storage, cache, shared=False, nodes=3)


def test_writable_storage_passes_and_leaves_no_probe(tmp_path):
    check_writable(str(tmp_path / "new" / "exp"))
    assert list((tmp_path / "new" / "exp").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_storage_is_one_line_naming_the_field(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match=r"^storage.path is .*, but is not writable \(Permission denied"):
            check_writable(str(tmp_path / "exp"))
    finally:
        tmp_path.chmod(0o700)
