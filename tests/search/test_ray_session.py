"""search.ray_session: the storage checks before a sweep starts, and the local Ray a sweep starts refuses every
request that lacks its token."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from core.schema import ConfigError
from search.ray_session import check_storage_reaches_every_node
from search.run import check_writable
from tests.conftest import run_cli

# Starts the sweep's own local Ray through `start_ray`, then asks its dashboard as a stranger would.
PROBE = textwrap.dedent("""
    import json, os, urllib.error, urllib.request
    import psutil, ray
    from search.ray_session import start_ray

    start_ray()
    url = "http://" + ray._private.worker.get_dashboard_url()
    port = int(url.rsplit(":", 1)[1])
    token = open(os.path.expanduser("~/.ray/auth_token")).read().strip()

    def status(path, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers), timeout=20) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    paths = ["/api/jobs/", "/api/cluster_status", "/nodes?view=summary"]
    seen = {p: {"none": status(p), "wrong": status(p, "0" * 32), "right": status(p, token)} for p in paths}
    listening = sorted({c.laddr.ip for c in psutil.net_connections(kind="tcp")
                        if c.status == psutil.CONN_LISTEN and c.laddr.port == port})
    print(json.dumps({"seen": seen, "listening": listening, "env": os.environ.get("RAY_AUTH_MODE")}))
    ray.shutdown()
""")


@pytest.mark.integration
def test_local_ray_refuses_unauthenticated_dashboard_and_job_requests(tmp_path):
    """Even with RAY_AUTH_MODE=disabled in the environment: token auth is turned on, not left to Ray's default,
    and the token file Ray writes (world-readable) is made private."""
    proc = run_cli("-c", PROBE, env={"RAY_AUTH_MODE": "disabled", "HOME": str(tmp_path)}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    for path, codes in found["seen"].items():
        assert codes == {"none": 401, "wrong": 403, "right": 200}, (path, codes)
    assert found["listening"] == ["127.0.0.1"], found["listening"]
    assert found["env"] == "token"
    assert "RAY_AUTH_MODE=disabled ignored" in proc.stderr
    token = tmp_path / ".ray" / "auth_token"
    assert token.stat().st_size > 0 and token.stat().st_mode & 0o077 == 0, oct(token.stat().st_mode)


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


def test_ray_failing_to_start_is_one_line(tmp_path):
    """A local Ray that cannot start (its temp folder is a file) is one line and exit 2, not Ray's traceback
    (in a subprocess: the suite's own Ray may be running in this one)."""
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    code = "import sys; from core.cli import command; from search.ray_session import start_ray; " \
           "sys.exit(command(lambda argv: start_ray())())"
    env = {**os.environ, "RAY_TMPDIR": str(not_a_folder / "ray"), "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: could not start a local Ray (NotADirectoryError: ")
    assert "Traceback" not in proc.stderr
