"""`python -m cluster.local`: a real head and two workers on 127.0.0.1, token auth on, torn down cleanly."""
from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import pytest

from cluster.local import LocalClusterSpec, ClusterError, _belongs, cluster_processes, head_command, worker_command
from tests.conftest import run_cli

# Away from Ray's defaults (6379, 8265, 10001) and from `cluster.local`'s own (6380, 8266, 20001).
PORT, DASHBOARD_PORT, CLIENT_PORT = 6397, 8297, 20097
AUTH = {"RAY_AUTH_MODE": "token"}


def test_help_names_every_verb():
    proc = run_cli("-m", "cluster.local", "--help")
    assert proc.returncode == 0
    assert all(verb in proc.stdout for verb in ("up", "down", "status"))
    up_help = run_cli("-m", "cluster.local", "up", "--help").stdout
    assert all(flag in up_help for flag in ("--workers", "--cpus-per-worker", "--port", "--dashboard-port"))


def test_head_has_no_cpus_and_a_private_dashboard():
    cmd = head_command(LocalClusterSpec())
    assert "--num-cpus=0" in cmd and "--dashboard-host=127.0.0.1" in cmd and "--head" in cmd
    worker = worker_command(LocalClusterSpec(cpus_per_worker=3))
    assert "--address=127.0.0.1:6380" in worker and "--num-cpus=3" in worker


@pytest.mark.parametrize("kwargs, words", [
    ({"workers": 0}, "--workers is 0"),
    ({"cpus_per_worker": 0}, "--cpus-per-worker is 0"),
    ({"port": 80}, "--port is 80"),
    ({"port": 8266}, "ports must differ"),
])
def test_bad_spec_is_one_line(kwargs, words):
    with pytest.raises(ClusterError, match=words):
        LocalClusterSpec(**kwargs)


def test_only_this_clusters_processes_are_matched():
    root = "/tmp/ray_edgetune_6380"
    assert _belongs(["raylet", f"--session_dir={root}/session_x"], root, 6380)
    assert _belongs(["python", "-m", "ray.util.client.server", "--address=192.0.2.2:6380"], root, 6380)
    assert not _belongs(["raylet", "--session_dir=/tmp/ray/session_x", "--gcs-address=10.0.0.1:6379"], root, 6380)
    assert not _belongs(["python", "--address=10.0.0.1:16380"], root, 6380)


def test_cli_errors_are_one_line_exit_2(tmp_path):
    state = str(tmp_path / "state.json")
    down = run_cli("-m", "cluster.local", "--state", state, "down")
    assert down.returncode == 2 and down.stderr.strip().count("\n") == 0 and "no local cluster" in down.stderr
    bad = run_cli("-m", "cluster.local", "--state", state, "up", "--workers", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--workers is 0" in bad.stderr


def test_up_refuses_a_busy_port_before_starting_anything(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli("-m", "cluster.local", "--state", str(tmp_path / "s.json"), "up", "--port", str(port),
                       "--temp-dir", str(tmp_path / "ray"))
    assert proc.returncode == 2 and f"port {port}" in proc.stderr, proc.stderr
    assert not (tmp_path / "s.json").exists() and not cluster_processes(str(tmp_path / "ray"), port)


# ---------------------------------------------------------------- the real cluster

PROBE = textwrap.dedent("""
    import json, ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    ray.init(log_to_driver=False)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    workers = [n["NodeID"] for n in nodes if n["Resources"].get("CPU", 0) > 0]

    @ray.remote(num_cpus=1)
    def where():
        return ray.get_runtime_context().get_node_id()

    ran_on = ray.get([where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(w, soft=False)).remote()
                      for w in workers])
    print(json.dumps({"alive": len(nodes), "cpu": ray.cluster_resources().get("CPU", 0),
                      "head_cpu": [n["Resources"].get("CPU", 0) for n in nodes if n["NodeID"] not in workers],
                      "workers": workers, "ran_on": ran_on}))
""")


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    """`cluster.local up --workers 2` on test ports; `down` at the end whatever happens."""
    tmp = tmp_path_factory.mktemp("cluster")
    state = tmp / "state.json"
    base = ("-m", "cluster.local", "--state", str(state))
    up = run_cli(*base, "up", "--workers", "2", "--port", str(PORT), "--dashboard-port", str(DASHBOARD_PORT),
                 "--client-port", str(CLIENT_PORT), "--temp-dir", f"/tmp/ray_et_test_{PORT}", timeout=180)
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        yield {"state": state, "base": base, "stdout": up.stdout, "address": f"127.0.0.1:{PORT}", "tmp": tmp}
    finally:
        if state.exists():
            run_cli(*base, "down", timeout=120)



@pytest.mark.integration
def test_up_prints_how_to_attach_and_where_the_dashboard_is(local_cluster):
    out = local_cluster["stdout"]
    assert f"RAY_ADDRESS=127.0.0.1:{PORT}" in out and f"--address 127.0.0.1:{PORT}" in out
    assert f"http://127.0.0.1:{DASHBOARD_PORT}" in out and "RAY_AUTH_MODE=token" in out
    status = run_cli(*local_cluster["base"], "status")
    info = json.loads(status.stdout)
    assert status.returncode == 0 and info["up"] and info["alive_raylets"] == 3


@pytest.mark.integration
def test_token_file_is_private(local_cluster):
    info = json.loads(run_cli(*local_cluster["base"], "status").stdout)
    if info["token_path"]:
        assert Path(info["token_path"]).stat().st_mode & 0o077 == 0


@pytest.mark.integration
def test_three_nodes_two_cpus_and_a_task_on_each_worker(local_cluster):
    proc = run_cli("-c", PROBE, env={**AUTH, "RAY_ADDRESS": local_cluster["address"]}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["alive"] == 3 and seen["cpu"] == 2 and seen["head_cpu"] == [0], seen
    assert len(seen["workers"]) == 2 and seen["ran_on"] == seen["workers"], seen


def test_local_storage_on_a_multi_node_cluster_is_refused(local_cluster, tmp_path, clothing_root):
    """Ray no longer syncs results to the head: a local path must be declared shared or refused (trap 8)."""
    proc = run_cli("-m", "search.run", "--space", "configs/demo.yaml", "--smoke", "--data", str(clothing_root),
                   "--address", local_cluster["address"], "--storage", str(tmp_path / "exp"), "--no-report",
                   "--set", f"data.cache_dir={tmp_path / 'cache'}",
                   env={**AUTH, "RAY_ADDRESS": local_cluster["address"]}, timeout=400)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "storage.path" in last and "3 nodes" in last and "storage.shared: true" in last, last


@pytest.mark.integration
def test_smoke_sweep_runs_on_the_cluster(local_cluster, clothing_root):
    tmp = local_cluster["tmp"]
    proc = run_cli("-m", "search.run", "--space", "configs/demo.yaml", "--smoke", "--data", str(clothing_root),
                   "--address", local_cluster["address"], "--storage", str(tmp / "exp"), "--name", "x",
                   "--no-report", "--set", f"data.cache_dir={tmp / 'cache'}", "--set", "storage.shared=true",
                   env={**AUTH, "RAY_ADDRESS": local_cluster["address"]}, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"attached to the Ray cluster at {local_cluster['address']}" in proc.stdout + proc.stderr
    status = json.loads((tmp / "exp" / "x" / "trial_status.json").read_text())
    assert len(status) == 2, status
    assert all(s["status"] in ("completed", "early_stopped") for s in status.values()), status


@pytest.mark.integration
def test_down_leaves_no_raylet(local_cluster):
    down = run_cli(*local_cluster["base"], "down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert not cluster_processes(f"/tmp/ray_et_test_{PORT}", PORT)
    assert not local_cluster["state"].exists() and not Path(f"/tmp/ray_et_test_{PORT}").exists()

