"""`python -m cluster.local`: a real head and two workers on 127.0.0.1, token auth on, torn down cleanly."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from cluster.local import (
    CLUSTER_ID_ENV,
    MARKER_FILE,
    ClusterError,
    LocalClusterSpec,
    claim_temp_dir,
    cluster_processes,
    down,
    head_command,
    worker_command,
    worker_mirror,
    write_state,
)
from core import folders
from core.layout import EPOCHS_FILE, STATUS_FILE
from core.storage import open_experiment
from core.uri import join
from data_pipeline.cache import MIRROR_ENV
from results.collect import collect
from tests.conftest import ROOT, run_cli
from tests.s3 import wait_for

# Away from Ray's defaults (6379, 8265, 10001) and from `cluster.local`'s own (6380, 8266, 20001).
PORT, DASHBOARD_PORT, CLIENT_PORT, METRICS_PORT = 6397, 8297, 20097, 8298
AUTH = {"RAY_AUTH_MODE": "token"}
SPEC = LocalClusterSpec(port=PORT, dashboard_port=DASHBOARD_PORT, client_port=CLIENT_PORT, metrics_port=METRICS_PORT,
                        temp_dir=f"/tmp/ray_et_test_{PORT}")


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


def _sleeper(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *args],
                            env={**os.environ, **(env or {})})


def _state(folder: Path, cluster_id: str, processes: list) -> dict:
    """A state file as `up` writes it (the fields `down` reads)."""
    return {"temp_dir": str(folder), "port": PORT, "cluster_id": cluster_id, "processes": processes}


def test_down_leaves_alone_what_it_did_not_start_or_create(tmp_path):
    """A process that names the temp dir and the GCS port, recorded under a pid whose start time differs (a reused
    pid), and a folder without the marker: `down` touches none of them."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("someone else's")
    bystander = _sleeper(f"--temp-dir={folder}", f"--address=127.0.0.1:{PORT}", f"--session-dir={folder}/session")
    try:
        started = psutil.Process(bystander.pid).create_time()
        recorded = [{"pid": bystander.pid, "name": "raylet", "create_time": started - 100}]
        write_state(tmp_path / "state.json", _state(folder, "c0ffee", recorded))
        down(tmp_path / "state.json", grace_s=1)
        assert bystander.poll() is None, "down killed a process it did not start"
        assert (folder / "notes.txt").read_text() == "someone else's"
    finally:
        bystander.kill()
        bystander.wait()


def test_down_stops_what_it_started_and_deletes_the_folder_it_created(tmp_path):
    folder = tmp_path / "ray"
    claim_temp_dir(str(folder), "c0ffee")
    (folder / "session_x").mkdir()
    ours = _sleeper(env={CLUSTER_ID_ENV: "c0ffee"})  # as a raylet started by `up` carries the id
    recorded = _sleeper()  # recorded at `up` with its true start time
    try:
        wait_for(lambda: cluster_processes("c0ffee"), 30, "the process carrying the cluster id")
        procs = [{"pid": recorded.pid, "name": "gcs_server", "create_time": psutil.Process(recorded.pid).create_time()}]
        write_state(tmp_path / "state.json", _state(folder, "c0ffee", procs))
        assert down(tmp_path / "state.json", grace_s=1) == 2
        assert ours.wait(timeout=10) is not None and recorded.wait(timeout=10) is not None
        assert not folder.exists() and not (tmp_path / "state.json").exists()
    finally:
        for proc in (ours, recorded):
            proc.kill()
            proc.wait()


def test_folder_marked_by_another_cluster_is_not_deleted(tmp_path):
    folder = tmp_path / "ray"
    claim_temp_dir(str(folder), "another")
    write_state(tmp_path / "state.json", _state(folder, "c0ffee", []))
    down(tmp_path / "state.json", grace_s=1)
    assert (folder / MARKER_FILE).read_text() == "another"


def test_up_refuses_a_temp_dir_it_did_not_create(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "thesis.tex").write_text("x")
    with socket.socket() as busy:  # should `up` get past the folder, it stops at the port, before Ray starts
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_cli("-m", "cluster.local", "--state", str(tmp_path / "s.json"), "up", "--port",
                       str(busy.getsockname()[1]), "--temp-dir", str(folder))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"--temp-dir {folder} already exists and was not created by cluster.local" in proc.stderr, proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]


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
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "ray").exists()


# ---------------------------------------------------------------- the real cluster

PROBE = textwrap.dedent("""
    import json, os, ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    ray.init(log_to_driver=False)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    workers = [n["NodeID"] for n in nodes if n["Resources"].get("CPU", 0) > 0]

    @ray.remote(num_cpus=1)
    def where():
        return ray.get_runtime_context().get_node_id(), os.environ.get("EDGETUNE_LOCAL_CLUSTER_ID")

    ran = ray.get([where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(w, soft=False)).remote()
                   for w in workers])
    print(json.dumps({"alive": len(nodes), "cpu": ray.cluster_resources().get("CPU", 0),
                      "head_cpu": [n["Resources"].get("CPU", 0) for n in nodes if n["NodeID"] not in workers],
                      "workers": workers, "ran_on": [r[0] for r in ran], "ids": [r[1] for r in ran]}))
""")


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory, s3_server):
    """`cluster.local up --workers 2` on test ports; `down` at the end whatever happens.

    The nodes get the S3 test credentials in their environment, as cloud nodes get an instance profile.
    """
    tmp = tmp_path_factory.mktemp("cluster")
    state = tmp / "state.json"
    base = ("-m", "cluster.local", "--state", str(state))
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_TOKEN"}  # the token comes from its file
    up = run_cli(*base, "up", "--workers", "2", "--port", str(PORT), "--dashboard-port", str(DASHBOARD_PORT),
                 "--client-port", str(CLIENT_PORT), "--metrics-port", str(METRICS_PORT),
                 "--temp-dir", f"/tmp/ray_et_test_{PORT}", env={**env, **s3_server.env}, timeout=180)
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        yield {"state": state, "base": base, "stdout": up.stdout, "address": f"127.0.0.1:{PORT}", "tmp": tmp,
               "id": json.loads(state.read_text())["cluster_id"]}
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
    assert info["token_path"] == str(folders.token_path()), info  # the fixture keeps $RAY_AUTH_TOKEN out: a file is used
    assert Path(info["token_path"]).stat().st_mode & 0o077 == 0


@pytest.mark.integration
def test_three_nodes_two_cpus_and_a_task_on_each_worker(local_cluster):
    """Tasks run on both workers, and their worker processes carry the cluster id (so `down` finds them)."""
    assert f'os.environ.get("{CLUSTER_ID_ENV}")' in PROBE
    proc = run_cli("-c", PROBE, env={**AUTH, "RAY_ADDRESS": local_cluster["address"]}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["alive"] == 3 and seen["cpu"] == 2 and seen["head_cpu"] == [0], seen
    assert len(seen["workers"]) == 2 and seen["ran_on"] == seen["workers"], seen
    assert seen["ids"] == [local_cluster["id"]] * 2, "a worker process lacks the id `down` finds it by"


def test_local_storage_on_a_multi_node_cluster_is_refused(local_cluster, tmp_path, clothing_root):
    """Ray no longer syncs results to the head: a local path must be declared shared or refused (trap 8)."""
    proc = run_cli("-m", "search.run", "--space", "configs/smoke.yaml", "--smoke", "--data", str(clothing_root),
                   "--address", local_cluster["address"], "--storage", str(tmp_path / "exp"), "--no-report",
                   "--set", f"data.cache_dir={tmp_path / 'cache'}",
                   env={**AUTH, "RAY_ADDRESS": local_cluster["address"]}, timeout=400)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "storage.path" in last and "3 nodes" in last and "storage.shared: true" in last, last


@pytest.mark.integration
def test_dashboard_refuses_requests_without_the_token_and_listens_on_loopback_only(local_cluster):
    jobs = f"http://127.0.0.1:{DASHBOARD_PORT}/api/jobs/"  # the job API: arbitrary code for whoever reaches it
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(jobs, timeout=10)
    assert refused.value.code in (401, 403), refused.value
    token = folders.token_path().read_text().strip()
    with urllib.request.urlopen(urllib.request.Request(jobs, headers={"Authorization": f"Bearer {token}"}),
                                timeout=10) as ok:
        assert ok.status == 200
    listening = [c.laddr.ip for c in psutil.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == DASHBOARD_PORT]
    assert listening and set(listening) == {"127.0.0.1"}, listening


@pytest.mark.integration
def test_sweep_on_s3_survives_a_killed_worker_node(local_cluster, clothing_root, s3_server, tmp_path):
    """Trials on both workers, the data cache from S3 once per node, one worker's raylet SIGKILLed
    mid-sweep: every trial still finishes, the interrupted ones from their checkpoints; meanwhile the
    sweep's progress shows on the head's metrics endpoint."""
    s3 = s3_server
    s3.bucket("cluster")
    storage, name, remote = s3.uri("cluster/sweeps"), "nodes", "cluster/sweeps/nodes"
    cmd = [sys.executable, "-m", "search.run", "--space", "configs/smoke.yaml", "--data", str(clothing_root),
           "--address", local_cluster["address"], "--num-samples", "3", "--max-concurrent", "2", "--max-epochs", "4",
           "--storage", storage, "--name", name, "--no-report", "--set", "search.scheduler.type=fifo",
           "--set", "data.max_per_class=20", "--set", f"data.cache_dir={s3.uri('cluster/cache')}"]
    log = tmp_path / "sweep.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), **AUTH, **s3.env})
    try:
        wait_for(lambda: len(s3.trials_with_checkpoints(remote)) >= 2 or proc.poll() is not None, 300,
                 "a checkpoint from a trial on each worker")
        assert proc.poll() is None, log.read_text()[-3000:]
        victim = worker_raylet(local_cluster["id"], index=1)
        victim.send_signal(signal.SIGKILL)
        progress: dict[str, float] = {}
        wait_for(lambda: progress.update(sweep_metrics(name)) or progress.get("completed", 0) >= 1
                 or proc.poll() is not None, 300, "ray_edgetune_trials on the metrics endpoint")
        assert progress.get("completed", 0) >= 1, f"no progress metrics while the sweep ran: {progress}"
        assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "attached to the Ray cluster" in log.read_text()
    store = open_experiment(join(storage, name))
    status = store.read_json(STATUS_FILE)
    assert len(status) == 3 and all(s["status"] == "completed" for s in status.values()), status
    rows = [json.loads(line) for line in store.read_text(EPOCHS_FILE).splitlines()]
    assert len({r["node_id"] for r in rows}) == 2, "trials ran on one node only"
    restored = [r for r in rows if r["iterations_since_restore"] < r["training_iteration"]]
    assert restored, "no trial continued from a checkpoint after its node was killed"
    collected = collect(join(storage, name))
    planned = dict(zip(collected.trials["trial_id"], collected.trials["epochs_planned"]))
    for trial_id, epochs in collected.epochs.groupby("trial_id"):
        assert sorted(epochs["epoch"]) == list(range(1, planned[trial_id] + 1)), f"trial {trial_id} lost or repeated epochs"
    runs = len({(r["trial_id"], r["pid"]) for r in rows})  # a retried trial runs in a new process
    for index in (1, 2):  # each worker fetched the cache from S3 once, however many trials it ran
        mirror = Path(worker_mirror(SPEC, index))
        assert len(list(mirror.glob("*/manifest.json"))) == 1 and not list(mirror.glob(".tmp-*")), list(mirror.iterdir())
    assert runs > 2, f"{runs} trial runs on 2 nodes cannot show the cache is fetched once per node"


def worker_raylet(cluster_id: str, index: int):
    """The raylet process of worker `index` (found by the cache mirror `cluster.local` gave it)."""
    mirror = worker_mirror(SPEC, index)
    for proc in cluster_processes(cluster_id):
        try:
            if proc.name() == "raylet" and proc.environ().get(MIRROR_ENV) == mirror:
                return proc
        except psutil.Error:
            continue
    raise AssertionError(f"no raylet with {MIRROR_ENV}={mirror}")


def sweep_metrics(experiment: str) -> dict[str, float]:
    """ray_edgetune_trials{experiment=...} per status, from the head's Prometheus endpoint ({} if unreachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        if line.startswith("ray_edgetune_trials{") and f'experiment="{experiment}"' in line:
            status = line.split('status="')[1].split('"')[0]
            found[status] = float(line.rsplit(" ", 1)[1])
    return found


@pytest.mark.integration
def test_down_leaves_no_raylet(local_cluster):
    down = run_cli(*local_cluster["base"], "down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert not cluster_processes(local_cluster["id"])
    assert not local_cluster["state"].exists() and not Path(f"/tmp/ray_et_test_{PORT}").exists()

