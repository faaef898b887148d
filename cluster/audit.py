"""`python -m cluster.audit [FILE ...]`: check cluster definitions for the ways a Ray cluster gets opened to the world.

Ray's dashboard, job API and GCS run arbitrary code for whoever reaches them (ShadowRay, CVE-2023-48022).
Each check returns one line per problem, naming the file and where in it; no problems means nothing was
found, not that the cluster is safe. Run it on your edited copies before `ray up` / `kubectl apply`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import yaml

CLUSTER_DIR = Path(__file__).resolve().parent
OPEN_SERVICE_TYPES = {"LoadBalancer", "NodePort"}
ANYWHERE = ("0.0.0.0", "::/0")


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every YAML document in `path` (a launcher config has one, a Kubernetes manifest may have several)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def walk(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every leaf of a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}[{i}]")
    else:
        yield where, node


def check_nothing_open(doc: dict[str, Any]) -> list[str]:
    """No value anywhere binds to or admits every address, and no service is exposed outside the cluster."""
    problems = []
    for where, value in walk(doc):
        if isinstance(value, str) and any(a in value for a in ANYWHERE):
            problems.append(f"{where} is {value!r}: opens the cluster to every address")
        if where.split(".")[-1] in {"type", "serviceType"} and value in OPEN_SERVICE_TYPES:
            problems.append(f"{where} is {value}: exposes Ray outside the cluster (use ClusterIP + port-forward)")
    return problems


def check_launcher(doc: dict[str, Any]) -> list[str]:
    """A Ray cluster launcher config: token auth, private dashboard, CPU-less head, closed network."""
    problems = []
    head_type = doc.get("head_node_type")
    node_types = doc.get("available_node_types", {})
    if node_types.get(head_type, {}).get("resources", {}).get("CPU") != 0:
        problems.append(f"available_node_types.{head_type}.resources.CPU must be 0 (no trials on the head)")
    head = " ".join(doc.get("head_start_ray_commands", []))
    workers = " ".join(doc.get("worker_start_ray_commands", []))
    for name, text in (("head_start_ray_commands", head), ("worker_start_ray_commands", workers)):
        if "RAY_AUTH_MODE=token" not in text:
            problems.append(f"{name} must set RAY_AUTH_MODE=token before `ray start`")
    if "--num-cpus=0" not in head:
        problems.append("head_start_ray_commands must start the head with --num-cpus=0")
    if "--dashboard-host=127.0.0.1" not in head:
        problems.append("head_start_ray_commands must bind the dashboard with --dashboard-host=127.0.0.1")
    if "~/.ray/auth_token" not in doc.get("file_mounts", {}):
        problems.append("file_mounts must copy ~/.ray/auth_token to every node")
    provider = doc.get("provider", {}).get("type")
    for name, spec in node_types.items():
        config = spec.get("node_config", {})
        if provider == "aws" and not config.get("SecurityGroupIds"):
            problems.append(f"available_node_types.{name}.node_config needs SecurityGroupIds: "
                            "the group Ray creates itself opens SSH to 0.0.0.0/0")
        if provider == "gcp" and not all("subnetwork" in nic and "/networks/default" not in nic["subnetwork"]
                                         for nic in config.get("networkInterfaces", [{}])):
            problems.append(f"available_node_types.{name}.node_config.networkInterfaces must name your own "
                            "subnetwork: the default network allows SSH from 0.0.0.0/0")
    return problems


def check_ray_cluster_spec(spec: dict[str, Any], where: str) -> list[str]:
    """A KubeRay RayCluster spec: ClusterIP head, CPU-less head, token auth in every Ray container."""
    problems = []
    head = spec.get("headGroupSpec", {})
    if head.get("serviceType", "ClusterIP") != "ClusterIP":
        problems.append(f"{where}.headGroupSpec.serviceType must be ClusterIP")
    if str(head.get("rayStartParams", {}).get("num-cpus")) != "0":
        problems.append(f"{where}.headGroupSpec.rayStartParams.num-cpus must be \"0\"")
    groups = [("headGroupSpec", head)] + [(f"workerGroupSpecs[{i}]", g) for i, g in
                                          enumerate(spec.get("workerGroupSpecs", []))]
    for name, group in groups:
        for container in group.get("template", {}).get("spec", {}).get("containers", []):
            problems += check_container_auth(container, f"{where}.{name}")
    return problems


def check_container_auth(container: dict[str, Any], where: str) -> list[str]:
    """The container runs with RAY_AUTH_MODE=token and the token from a Secret (never inline)."""
    env = {e.get("name"): e for e in container.get("env", [])}
    problems = []
    if env.get("RAY_AUTH_MODE", {}).get("value") != "token":
        problems.append(f"{where} container {container.get('name')!r} must set RAY_AUTH_MODE=token")
    if "secretKeyRef" not in env.get("RAY_AUTH_TOKEN", {}).get("valueFrom", {}):
        problems.append(f"{where} container {container.get('name')!r} must read RAY_AUTH_TOKEN from a Secret")
    return problems


def check_kubernetes(doc: dict[str, Any]) -> list[str]:
    kind = doc.get("kind")
    if kind == "RayCluster":
        return check_ray_cluster_spec(doc.get("spec", {}), "spec")
    if kind == "RayJob":
        spec = doc.get("spec", {})
        problems = check_ray_cluster_spec(spec.get("rayClusterSpec", {}), "spec.rayClusterSpec")
        for container in spec.get("submitterPodTemplate", {}).get("spec", {}).get("containers", []):
            problems += check_container_auth(container, "spec.submitterPodTemplate")
        return problems
    return []


def audit(path: Path) -> list[str]:
    """Every problem found in one cluster definition file, each a line starting with the file name."""
    try:
        docs = load_documents(path)
    except (OSError, yaml.YAMLError) as err:
        return [f"{path}: cannot be read as YAML ({str(err).splitlines()[0]})"]
    problems = []
    for doc in docs:
        found = check_nothing_open(doc)
        found += check_kubernetes(doc) if "apiVersion" in doc else check_launcher(doc)
        problems += [f"{path}: {p}" for p in found]
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cluster.audit", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="YAML files (default: every YAML under cluster/)")
    args = p.parse_args(argv)
    files = args.files or sorted(CLUSTER_DIR.rglob("*.yaml"))
    problems = [line for path in files for line in audit(path)]
    for line in problems:
        print(line)
    print(f"{len(files)} files, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
