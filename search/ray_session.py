"""Start a local Ray, or attach to a cluster, with the dashboard kept private."""
from __future__ import annotations

import logging
import os
from typing import Optional

from core import folders
from core.errors import UserError
from core.schema import ConfigError

logger = logging.getLogger(__name__)

DASHBOARD_HOST = "127.0.0.1"
AUTH_MODE_ENV = "RAY_AUTH_MODE"


def start_ray(address: Optional[str] = None) -> int:
    """Attach to `address` (or $RAY_ADDRESS), else start a local Ray; returns the number of alive nodes.

    A local Ray runs with token authentication, turned on here rather than left to Ray's default (which
    RAY_AUTH_MODE=disabled in the environment turns off), and binds the dashboard to 127.0.0.1: the
    dashboard and job API run arbitrary code for whoever reaches them.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS")
    try:
        if address:
            context = ray.init(address=address, log_to_driver=False)
            where = f"attached to the Ray cluster at {address}"
        else:
            require_token_auth()
            context = ray.init(include_dashboard=True, dashboard_host=DASHBOARD_HOST, log_to_driver=False)
            folders.make_token_private()
            where = "started a local Ray"
    except Exception as err:  # Ray raises ConnectionError, RuntimeError, OSError, ...: all mean "no Ray"
        raise RayStartError(_start_failure(address, err)) from None
    url = context.dashboard_url or ""
    resources = ray.cluster_resources()
    logger.info("ray: %s (%g CPU, %g GPU)", where, resources.get("CPU", 0), resources.get("GPU", 0))
    if url:
        logger.info("dashboard: http://%s  (token authentication: `ray get-auth-token` prints the token; "
                    "for a remote cluster open it through `ray dashboard CLUSTER.yaml` or an SSH tunnel)", url)
    return sum(1 for node in ray.nodes() if node.get("Alive"))


class RayStartError(UserError):
    """Ray could not be started or reached; `str()` is the one-line message."""


def _start_failure(address: Optional[str], err: Exception) -> str:
    reason = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:300]}"
    if address:
        return (f"could not attach to the Ray cluster at {address} ({reason}): check --address / $RAY_ADDRESS "
                "and that the cluster is up (`ray status` on its head node)")
    return (f"could not start a local Ray ({reason}): check that $RAY_TMPDIR (else /tmp) is a writable folder "
            "with free space, or attach to a running cluster with --address")


def require_token_auth() -> None:
    """Token authentication for the local Ray about to start, and for every process it starts.

    Ray reads the mode from $RAY_AUTH_MODE (in this process and, inherited, in the GCS, raylet, dashboard
    and workers) and generates a token at ~/.ray/auth_token if none exists.
    """
    mode = os.environ.get(AUTH_MODE_ENV)
    if mode and mode.lower() != "token":
        logger.warning("warning: %s=%s ignored: a local sweep's Ray always runs with token authentication",
                       AUTH_MODE_ENV, mode)
    os.environ[AUTH_MODE_ENV] = "token"
    try:  # Ray caches its config at import; refresh it so this process sees the mode too (as Ray itself does)
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):  # another Ray version: its import reads the environment at init
        pass


def check_storage_reaches_every_node(storage_path: str, cache_dir: str, shared: bool, nodes: int) -> None:
    """On a multi-node cluster, results and the data cache must be where every node can reach them."""
    if nodes <= 1 or shared:
        return
    for field, value in (("storage.path", storage_path), ("data.cache_dir", cache_dir)):
        if "://" not in value:
            raise ConfigError(field, value, f"must be a URI every node reaches (s3://bucket/experiments) or a "
                              f"mount they all share (then set storage.shared: true): the cluster has {nodes} nodes")


def check_local_gpus(gpu: float) -> None:
    """Before a local Ray starts: refuse trials asking for more GPUs than this machine shows Ray.

    Counted as Ray counts them (CUDA_VISIBLE_DEVICES, else the NVIDIA devices), so a CPU-only machine hears
    how to fix the config in a second instead of after Ray's start; `check_resources_exist` checks again.
    """
    if gpu <= 0:
        return
    try:
        from ray._private.accelerators import get_accelerator_manager_for_resource
    except ImportError:  # moved in another Ray version: the check after the start still holds
        return
    manager = get_accelerator_manager_for_resource("GPU")
    visible = manager.get_current_process_visible_accelerator_ids()
    gpus = len(visible) if visible is not None else manager.get_current_node_num_accelerators()
    if gpu > gpus:
        raise _too_many_gpus(gpu, gpus, "this machine")


def check_resources_exist(cpu: float, gpu: float, attached: bool) -> None:
    """A trial asking for more than any node has would wait forever: refuse it on a local Ray.

    An attached cluster may autoscale, so there it only warns.
    """
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    most_gpu = max((n.get("GPU", 0) for n in nodes), default=0)
    most_cpu = max((n.get("CPU", 0) for n in nodes), default=0)
    problems = []
    if gpu > most_gpu:
        problems.append(_too_many_gpus(gpu, most_gpu, "any node of this Ray cluster"))
    if cpu > most_cpu:
        problems.append(ConfigError("resources.cpu", cpu, f"asks for more CPUs than any node of this Ray cluster has "
                                    f"({most_cpu:g}): lower resources.cpu"))
    for problem in problems:
        if not attached:
            raise problem
        logger.warning("warning: %s (waiting for the autoscaler)", problem)


def _too_many_gpus(gpu: float, available: float, where: str) -> ConfigError:
    return ConfigError("resources.gpu", gpu, f"asks for more GPU than {where} has ({available:g}): set "
                       "resources.gpu: 0 to train on the CPU, or attach to a GPU cluster with --address")
