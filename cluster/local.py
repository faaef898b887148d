"""`python -m cluster.local up|down|status`: a real multi-node Ray cluster on this machine, for tests and demos.

One head (`--num-cpus=0`, so every trial runs on a worker) and N workers, each its own raylet with its own
CPUs, all on 127.0.0.1, with Ray's token authentication on and the dashboard bound to 127.0.0.1. Each
worker keeps its own copy of a remote data cache (EDGETUNE_CACHE_MIRROR under the cluster's temp dir), as
separate machines would: a sweep whose cache is at an s3:// URI downloads it once per node.

`down` stops only processes this cluster started, never `ray stop` (that kills every Ray process on the
machine, including other people's): those recorded at `up` (pid and start time, so a reused pid is not
taken for ours), those carrying this cluster's random id in their environment (every process `ray start`
and its nodes start inherits it), and their children. It deletes the temp dir only if `up` created it
(the marker file in it holds the same id); a folder that existed before is refused at `up`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from core import atomic, folders
from core.cli import command
from core.errors import UserError
from core.folders import CACHE_MIRROR_ENV as MIRROR_ENV

logger = logging.getLogger("cluster.local")

HOST = "127.0.0.1"
DEFAULT_STATE = folders.cluster_state()
START_TIMEOUT_S = 120
AUTH_ENV = {"RAY_AUTH_MODE": "token"}
CLUSTER_ID_ENV = "EDGETUNE_LOCAL_CLUSTER_ID"
MARKER_FILE = ".edgetune-local-cluster"


class ClusterError(UserError):
    """A user-facing problem with the local cluster (one line, exit code 2)."""


@dataclasses.dataclass(frozen=True)
class LocalClusterSpec:
    """What `up` starts."""

    workers: int = 2
    """Worker nodes (each a separate raylet)."""
    cpus_per_worker: int = 1
    """Logical CPUs each worker advertises; the head advertises none."""
    port: int = 6380
    """GCS port of the head (6380, not Ray's default 6379, so a default local Ray is left alone)."""
    dashboard_port: int = 8266
    """Dashboard port, bound to 127.0.0.1 only."""
    client_port: int = 20001
    """Ray Client server port of the head: not the default 10001, and outside the worker ports 10002-19999."""
    metrics_port: int = 8267
    """The head's Prometheus metrics endpoint (http://127.0.0.1:PORT/metrics): sweep progress appears there."""
    temp_dir: str = ""
    """Ray's temp/session root for this cluster; default /tmp/ray_edgetune_<port> (short: socket paths)."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ClusterError(f"--workers is {self.workers}, but must be >= 1")
        if self.cpus_per_worker < 1:
            raise ClusterError(f"--cpus-per-worker is {self.cpus_per_worker}, but must be >= 1")
        ports = {"--port": self.port, "--dashboard-port": self.dashboard_port, "--client-port": self.client_port,
                 "--metrics-port": self.metrics_port}
        for flag, value in ports.items():
            if not 1024 <= value <= 65535:
                raise ClusterError(f"{flag} is {value}, but must be in 1024..65535")
        if len(set(ports.values())) != len(ports):
            raise ClusterError(f"ports must differ, got {ports}")

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def root(self) -> str:
        return self.temp_dir or f"/tmp/ray_edgetune_{self.port}"


# ---------------------------------------------------------------- commands


def ray_executable() -> str:
    """The `ray` CLI of this Python environment (not whatever is first on PATH)."""
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        raise ClusterError("the `ray` command was not found beside this Python or on PATH; pip install 'ray[default]'")
    return found


def head_command(spec: LocalClusterSpec) -> list[str]:
    """`ray start` for the head: no CPUs (trials go to workers), dashboard on 127.0.0.1 only."""
    return [ray_executable(), "start", "--head", "--num-cpus=0", f"--port={spec.port}",
            f"--node-ip-address={HOST}", f"--dashboard-host={HOST}", f"--dashboard-port={spec.dashboard_port}",
            f"--ray-client-server-port={spec.client_port}", f"--metrics-export-port={spec.metrics_port}",
            f"--temp-dir={spec.root}", "--disable-usage-stats"]


def worker_command(spec: LocalClusterSpec) -> list[str]:
    """`ray start` for one worker; agent ports auto-assigned since several raylets share this host."""
    return [ray_executable(), "start", f"--address={spec.address}", f"--node-ip-address={HOST}",
            f"--num-cpus={spec.cpus_per_worker}", "--dashboard-agent-listen-port=0", "--metrics-export-port=0",
            "--disable-usage-stats"]


def ray_env(**extra: str) -> dict[str, str]:
    """The environment every node (and every client) needs: token authentication on."""
    return {**os.environ, **AUTH_ENV, **extra}


def worker_mirror(spec: LocalClusterSpec, index: int) -> str:
    """Worker `index`'s own folder for remote data caches (its "local disk")."""
    return f"{spec.root}/node-{index}/cache-mirror"


def ensure_token() -> Optional[Path]:
    """Make sure an auth token exists and only its owner can read it; None when $RAY_AUTH_TOKEN carries it."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None
    path = folders.token_path()
    if not path.exists():
        run_ray([ray_executable(), "get-auth-token", "--generate"], what="generating the auth token")
    if folders.make_token_private() is None:
        raise ClusterError(f"no auth token at {path} after `ray get-auth-token --generate`")
    return path


def run_ray(cmd: list[str], what: str, **env: str) -> None:
    """Run one `ray` command; a failure becomes one line with Ray's last words."""
    done = subprocess.run(cmd, env=ray_env(**env), capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines
        raise ClusterError(f"{what} failed (exit {done.returncode}): {errors[-1] if errors else 'no output'}")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((HOST, port)) == 0


# ---------------------------------------------------------------- processes


def _psutil():
    import psutil
    import ray  # noqa: F401  (Ray vendors psutil and puts it on sys.path)

    return psutil


def cluster_processes(cluster_id: str) -> list:
    """Processes carrying this cluster's id in their environment, and all their descendants.

    Only `up` sets the id, a random one per cluster, so a process that merely names the cluster's temp dir
    or port in its arguments is never taken for one of ours. Other users' processes cannot be read: skipped.
    """
    psutil = _psutil()
    found: dict[int, Any] = {}
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(CLUSTER_ID_ENV) == cluster_id:
                found[proc.pid] = proc
                found.update({child.pid: child for child in proc.children(recursive=True)})
        except psutil.Error:
            continue
    return list(found.values())


def describe(procs: Iterable) -> list[dict[str, Any]]:
    out = []
    for proc in procs:
        try:
            out.append({"pid": proc.pid, "name": proc.name(), "create_time": proc.create_time()})
        except Exception:  # gone meanwhile
            continue
    return sorted(out, key=lambda p: p["pid"])


def recorded_processes(state: dict[str, Any]) -> list:
    """The processes recorded at `up` that are still the same processes (a reused pid is not ours)."""
    psutil = _psutil()
    alive = []
    for rec in state.get("processes", []):
        try:
            proc = psutil.Process(rec["pid"])
            if abs(proc.create_time() - rec["create_time"]) < 1e-3:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive


def terminate(procs: list, grace_s: float) -> int:
    """Stop processes as `ray stop` orders it (raylets, then the rest, then the GCS); returns how many.

    Each group gets SIGTERM, up to `grace_s` seconds, then SIGKILL.
    """
    rank = {"raylet": 0, "gcs_server": 2}
    for group in (0, 1, 2):
        _stop_group([p for p in procs if rank.get(_name(p), 1) == group], grace_s)
    return len(procs)


def _stop_group(procs: list, grace_s: float) -> None:
    psutil = _psutil()
    for proc in procs:
        _signal(proc, signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    if alive:
        logger.info("%d processes outlived SIGTERM by %g s, killing them: %s", len(alive), grace_s,
                    sorted({_name(p) for p in alive}))
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)


def _name(proc) -> str:
    try:
        return proc.name()
    except Exception:
        return ""


def _signal(proc, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except Exception:  # already gone
        pass


# ---------------------------------------------------------------- the temp dir


def check_temp_dir_is_free(root: str) -> None:
    """`up` only uses a temp dir that it creates, or one a previous `up` created (its marker is there)."""
    folder = Path(root)
    if folder.exists() and not (folder / MARKER_FILE).is_file():
        raise ClusterError(f"--temp-dir {root} already exists and was not created by cluster.local (no "
                           f"{MARKER_FILE} in it); `down` deletes the temp dir, so name a folder that does not exist")


def claim_temp_dir(root: str, cluster_id: str) -> None:
    """Create the temp dir (if needed) and mark it as this cluster's: only a marked folder is ever deleted."""
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER_FILE).write_text(cluster_id)


def remove_temp_dir(root: str, cluster_id: str) -> bool:
    """Delete the temp dir if its marker says this cluster created it; returns whether it was deleted."""
    marker = Path(root) / MARKER_FILE
    try:
        ours = marker.read_text().strip() == cluster_id
    except OSError:
        ours = False
    if not ours:
        logger.warning("left %s in place: its %s does not name this cluster, so `up` did not create it",
                       root, MARKER_FILE)
        return False
    shutil.rmtree(root, ignore_errors=True)
    return True


# ---------------------------------------------------------------- state


def read_state(path: Path) -> Optional[dict[str, Any]]:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ClusterError(f"{path}: unreadable cluster state ({err}); delete it if no local cluster is running") from None


def write_state(path: Path, state: dict[str, Any]) -> None:
    atomic.write_json(path, state, indent=2)


# ---------------------------------------------------------------- verbs


def up(spec: LocalClusterSpec, state_path: Path = DEFAULT_STATE) -> dict[str, Any]:
    """Start the head and `spec.workers` workers; returns (and records) the cluster's state."""
    previous = read_state(state_path)
    if previous and recorded_processes(previous):
        raise ClusterError(f"a local cluster is already up at {previous['address']} ({state_path}); "
                           "run `python -m cluster.local down` first")
    root = str(Path(spec.root).expanduser().absolute())
    check_temp_dir_is_free(root)
    for port in (spec.port, spec.dashboard_port, spec.client_port, spec.metrics_port):
        if port_in_use(port):
            raise ClusterError(f"port {port} on {HOST} is already in use; choose another with --port, --dashboard-port, --client-port or --metrics-port")
    spec = dataclasses.replace(spec, temp_dir=root)
    token = ensure_token()
    cluster_id = secrets.token_hex(16)
    claim_temp_dir(root, cluster_id)
    started = time.monotonic()
    try:
        run_ray(head_command(spec), what=f"starting the head at {spec.address}", **{CLUSTER_ID_ENV: cluster_id})
        for i in range(spec.workers):
            run_ray(worker_command(spec), what=f"starting worker {i + 1}/{spec.workers}",
                    **{MIRROR_ENV: worker_mirror(spec, i + 1), CLUSTER_ID_ENV: cluster_id})
    except (ClusterError, subprocess.TimeoutExpired) as err:
        terminate(cluster_processes(cluster_id), grace_s=5)
        remove_temp_dir(root, cluster_id)
        raise err if isinstance(err, ClusterError) else ClusterError(f"`ray start` timed out after {err.timeout}s") from None
    state = {**dataclasses.asdict(spec), "cluster_id": cluster_id, "address": spec.address,
             "dashboard_url": f"http://{HOST}:{spec.dashboard_port}",
             "metrics_url": f"http://{HOST}:{spec.metrics_port}/metrics", "token_path": str(token) if token else None,
             "started_at": time.time(), "up_seconds": round(time.monotonic() - started, 1),
             "processes": describe(cluster_processes(cluster_id))}
    write_state(state_path, state)
    return state


def down(state_path: Path = DEFAULT_STATE, grace_s: float = 10, keep_logs: bool = False) -> int:
    """Stop this cluster's processes (and only them), wait for them, forget the state; returns how many."""
    state = read_state(state_path)
    if state is None:
        raise ClusterError(f"no local cluster recorded at {state_path}; nothing to stop")
    cluster_id = state.get("cluster_id")
    if not cluster_id:
        raise ClusterError(f"{state_path} records no cluster_id (written by an older cluster.local): stop that "
                           "cluster's processes by hand, then delete the file")
    stopped = terminate(owned_processes(state), grace_s)
    left = owned_processes(state)
    if left:
        raise ClusterError(f"{len(left)} processes of the cluster survived SIGKILL: {describe(left)}")
    state_path.unlink(missing_ok=True)
    if not keep_logs:
        remove_temp_dir(state["temp_dir"], cluster_id)
    return stopped


def owned_processes(state: dict[str, Any]) -> list:
    """Every live process this cluster started: recorded at `up`, or carrying its id, and their children."""
    procs = {p.pid: p for p in recorded_processes(state)}
    if state.get("cluster_id"):
        procs.update({p.pid: p for p in cluster_processes(state["cluster_id"])})
    for proc in list(procs.values()):  # children started after `up` (trial workers, agents)
        try:
            procs.update({c.pid: c for c in proc.children(recursive=True)})
        except Exception:
            continue
    return list(procs.values())


def status(state_path: Path = DEFAULT_STATE) -> dict[str, Any]:
    """The recorded state plus which of its processes are alive now."""
    state = read_state(state_path)
    if state is None:
        raise ClusterError(f"no local cluster recorded at {state_path}; start one with `python -m cluster.local up`")
    alive = describe(owned_processes(state))
    raylets = sum(p["name"] == "raylet" for p in alive)
    return {**state, "alive_processes": len(alive), "alive_raylets": raylets, "up": raylets > 0}


def attach_instructions(state: dict[str, Any]) -> str:
    """How to use the cluster: the lines `up` prints."""
    addr = state["address"]
    token = state.get("token_path") or "$RAY_AUTH_TOKEN"
    return "\n".join([
        f"Ray cluster up at {addr}: 1 head (0 CPU) + {state['workers']} workers x {state['cpus_per_worker']} CPU "
        f"({state['up_seconds']} s)",
        f"dashboard: {state['dashboard_url']}  (127.0.0.1 only; token: `RAY_AUTH_MODE=token ray get-auth-token`)",
        f"metrics: {state['metrics_url']}  (Prometheus; sweep progress as ray_edgetune_trials, ray_edgetune_best_metric)",
        f"auth token: {token} (chmod 600; every client needs RAY_AUTH_MODE=token and this token)",
        "attach:",
        f"  RAY_AUTH_MODE=token RAY_ADDRESS={addr} python -m search.run --space configs/demo.yaml "
        f"--address {addr} --set storage.shared=true   (all nodes share this machine's disk)",
        f"  RAY_AUTH_MODE=token ray status --address {addr}",
        "stop: python -m cluster.local down",
    ])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cluster.local", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Example: python -m cluster.local up --workers 2 && python -m cluster.local down")
    p.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"cluster state file (default {DEFAULT_STATE})")
    verbs = p.add_subparsers(dest="verb", required=True)
    start = verbs.add_parser("up", help="start a head and N workers on 127.0.0.1")
    defaults = LocalClusterSpec()
    start.add_argument("--workers", type=int, default=defaults.workers, help="worker nodes (default 2)")
    start.add_argument("--cpus-per-worker", type=int, default=defaults.cpus_per_worker, help="CPUs per worker (default 1)")
    start.add_argument("--port", type=int, default=defaults.port, help=f"GCS port (default {defaults.port})")
    start.add_argument("--dashboard-port", type=int, default=defaults.dashboard_port,
                       help=f"dashboard port on 127.0.0.1 (default {defaults.dashboard_port})")
    start.add_argument("--client-port", type=int, default=defaults.client_port,
                       help=f"Ray Client port (default {defaults.client_port})")
    start.add_argument("--metrics-port", type=int, default=defaults.metrics_port,
                       help=f"the head's Prometheus metrics port (default {defaults.metrics_port})")
    start.add_argument("--temp-dir", default="", help="Ray temp dir of this cluster (default /tmp/ray_edgetune_PORT)")
    stop = verbs.add_parser("down", help="stop this cluster's processes (only them) and wait")
    stop.add_argument("--grace", type=float, default=10, help="seconds between SIGTERM and SIGKILL (default 10)")
    stop.add_argument("--keep-logs", action="store_true", help="keep the cluster's temp dir (Ray logs)")
    show = verbs.add_parser("status", help="print the recorded cluster and whether it is alive (JSON)")
    show.add_argument("--quiet", action="store_true", help="only the exit code: 0 up, 1 down")
    return p.parse_args(argv)


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.verb == "up":
        spec = LocalClusterSpec(workers=args.workers, cpus_per_worker=args.cpus_per_worker, port=args.port,
                                dashboard_port=args.dashboard_port, client_port=args.client_port,
                                metrics_port=args.metrics_port, temp_dir=args.temp_dir)
        print(attach_instructions(up(spec, args.state)))
    elif args.verb == "down":
        started = time.monotonic()
        count = down(args.state, grace_s=args.grace, keep_logs=args.keep_logs)
        print(f"stopped {count} processes in {time.monotonic() - started:.1f} s")
    else:
        info = status(args.state)
        if not args.quiet:
            print(json.dumps(info, indent=2))
        return 0 if info["up"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
