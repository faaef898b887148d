"""`python -m cluster.audit [FILE ...]`: check cluster definitions for the ways a Ray cluster gets opened to the world.

Ray's dashboard, job API and GCS run arbitrary code for whoever reaches them (ShadowRay, CVE-2023-48022).
Every YAML (or JSON) document of a file is parsed and checked field by field, never by matching text.
Each check returns one line per problem, naming the file and where in it; no problems means nothing was
found, not that the cluster is safe. Run it on your edited copies before `ray up` / `kubectl apply`.
"""
from __future__ import annotations

import argparse
import ipaddress
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import yaml

from core.cli import command

CLUSTER_DIR = Path(__file__).resolve().parent
OPEN_SERVICE_TYPES = {"LoadBalancer", "NodePort"}
RAY_PORTS = {6379, 8265, 10001}
"""GCS, dashboard (and job API), Ray Client: each runs code for whoever reaches it."""
RAY_PORT_NAMES = {"gcs", "gcs-server", "dashboard", "client"}
IMAGE_KEYS = {"image", "head_image", "worker_image"}
LOOPBACK_NAMES = {"localhost"}


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


def find_key(node: Any, key: str, where: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every mapping entry named `key`, at any depth."""
    if isinstance(node, dict):
        for name, value in node.items():
            path = f"{where}.{name}" if where else str(name)
            if name == key:
                yield path, value
            yield from find_key(value, key, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from find_key(value, key, f"{where}[{i}]")


def admits_everyone(text: str) -> bool:
    """Whether `text` names an address that binds to or admits every address (0.0.0.0, ::, [::], 0.0.0.0/0, ::/0).

    The text is cut into words (a shell command, `host:port`, `--flag=value`); each word is parsed as an
    address or a network, so 10.0.0.0/8 is not taken for 0.0.0.0 and `::` is not missed.
    """
    for word in re.split(r"[\s=,;'\"()]+", text):
        for candidate in _address_forms(word):
            try:
                if "/" in candidate:
                    if ipaddress.ip_network(candidate, strict=False).prefixlen == 0:
                        return True
                elif ipaddress.ip_address(candidate).is_unspecified:
                    return True
            except ValueError:
                continue
    return False


def _address_forms(word: str) -> list[str]:
    """A word as an address might be written: itself, without [brackets], without a :port."""
    forms = [word, word.strip("[]")]
    if word.startswith("[") and "]:" in word:
        forms.append(word[1:word.index("]:")])
    if word.count(":") == 1:
        forms.append(word.split(":")[0])
    return forms


def check_nothing_open(doc: dict[str, Any]) -> list[str]:
    """No value anywhere binds to or admits every address, and no service is exposed outside the cluster."""
    problems = []
    for where, value in walk(doc):
        if isinstance(value, str) and admits_everyone(value):
            problems.append(f"{where} is {value!r}: opens the cluster to every address")
        if where.split(".")[-1] in {"type", "serviceType"} and value in OPEN_SERVICE_TYPES:
            problems.append(f"{where} is {value}: exposes Ray outside the cluster (use ClusterIP + port-forward)")
    for where, value in find_key(doc, "hostNetwork"):
        if value is True:
            problems.append(f"{where} is true: the pod's Ray ports open on the node's own addresses")
    for where, value in find_key(doc, "hostPort"):
        problems.append(f"{where} is {value}: publishes a pod port on the node's address (remove hostPort)")
    for where, value in find_key(doc, "externalIPs"):
        if value:
            problems.append(f"{where} is {value}: a service reachable at external addresses (remove externalIPs)")
    for where, value in find_key(doc, "enableIngress"):
        if value is True:
            problems.append(f"{where} is true: KubeRay publishes the dashboard through an Ingress "
                            "(use kubectl port-forward)")
    return problems + check_images(doc)


def check_images(doc: dict[str, Any]) -> list[str]:
    """Every container image names a fixed version: a digest or a tag other than `latest` (none means latest)."""
    problems = []
    for key in IMAGE_KEYS:
        for where, image in find_key(doc, key):
            if isinstance(image, str) and not image_is_pinned(image):
                problems.append(f"{where} is {image!r}: pin the image to a version tag or an @sha256 digest, "
                                "not latest")
    return problems


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and name.rsplit(":", 1)[1] not in {"", "latest"}


def dashboard_host(commands: Sequence[str]) -> Optional[str]:
    """The last --dashboard-host given to `ray start --head` in `commands` (the one Ray uses), or None."""
    host = None
    for line in commands:
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        for i, word in enumerate(words):
            if word.startswith("--dashboard-host="):
                host = word.split("=", 1)[1]
            elif word == "--dashboard-host" and i + 1 < len(words):
                host = words[i + 1]
    return host


def is_loopback(host: str) -> bool:
    try:
        return host in LOOPBACK_NAMES or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    host = dashboard_host(doc.get("head_start_ray_commands", []))
    if host is None or not is_loopback(host):
        problems.append(f"head_start_ray_commands binds the dashboard to {host or 'the default (every address)'}: "
                        "start the head with --dashboard-host=127.0.0.1")
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


def check_ingress(doc: dict[str, Any]) -> list[str]:
    """An Ingress must not route to a Ray port (the dashboard and job API, the client, the GCS)."""
    spec = doc.get("spec", {})
    backends = [("spec.defaultBackend", spec.get("defaultBackend"))]
    for i, rule in enumerate(spec.get("rules", [])):
        for j, path in enumerate((rule.get("http") or {}).get("paths", [])):
            backends.append((f"spec.rules[{i}].http.paths[{j}].backend", path.get("backend")))
    problems = []
    for where, backend in backends:
        service = (backend or {}).get("service") or {}
        port = service.get("port") or {}
        if (port.get("number") in RAY_PORTS or port.get("name") in RAY_PORT_NAMES
                or str(service.get("name", "")).endswith("head-svc")):
            problems.append(f"{where} routes to {service.get('name')}:{port.get('number') or port.get('name')}: "
                            "never publish Ray's dashboard, job API, client or GCS through an Ingress")
    return problems


def ray_pod_groups(doc: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(where, labels) of each pod group of a RayCluster or RayJob, with the labels KubeRay adds itself."""
    if doc.get("kind") == "RayCluster":
        spec, where, cluster = doc.get("spec", {}), "spec", {"ray.io/cluster": doc.get("metadata", {}).get("name")}
    elif doc.get("kind") == "RayJob":
        spec, where, cluster = doc.get("spec", {}).get("rayClusterSpec", {}), "spec.rayClusterSpec", {}
    else:
        return []
    own = {"ray.io/is-ray-node": "yes", **cluster}
    groups = [(f"{where}.headGroupSpec", spec.get("headGroupSpec", {}), {"ray.io/node-type": "head"})]
    groups += [(f"{where}.workerGroupSpecs[{i}]", g, {"ray.io/node-type": "worker", "ray.io/group": g.get("groupName")})
               for i, g in enumerate(spec.get("workerGroupSpecs", []))]
    return [(name, {**own, **extra, **(group.get("template", {}).get("metadata", {}).get("labels") or {})})
            for name, group, extra in groups]


def policy_problems(policy: dict[str, Any]) -> list[str]:
    """Why a NetworkPolicy does not close its pods (empty when it does)."""
    spec = policy.get("spec", {})
    name = policy.get("metadata", {}).get("name")
    if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
        return [f"NetworkPolicy {name!r} does not restrict Ingress"]
    problems = []
    for i, rule in enumerate(spec.get("ingress", [])):
        peers = rule.get("from") or []
        if not peers:
            problems.append(f"NetworkPolicy {name!r} spec.ingress[{i}] has no `from`: it admits every address")
        for j, peer in enumerate(peers):
            if not peer or peer.get("namespaceSelector") == {} and not peer.get("podSelector"):
                problems.append(f"NetworkPolicy {name!r} spec.ingress[{i}].from[{j}] admits every pod of every "
                                "namespace: name the namespace")
    return problems


def check_network_policy(docs: list[dict[str, Any]]) -> list[str]:
    """Every pod group of a Ray cluster in the file is selected by a NetworkPolicy of the same file that closes it."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    problems = [p for policy in policies for p in policy_problems(policy)]
    for doc in docs:
        for where, labels in ray_pod_groups(doc):
            selecting = [p for p in policies if _selects(p, labels)]
            if not selecting:
                problems.append(f"{where}: no NetworkPolicy in this file selects its pods (labels {labels}): ship "
                                "one that admits only the cluster's own pods and the KubeRay operator")
    return problems


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy.get("spec", {}).get("podSelector", {})
    wanted = selector.get("matchLabels") or {}
    return not selector.get("matchExpressions") and all(labels.get(k) == v for k, v in wanted.items())


def check_iam_policy(doc: dict[str, Any]) -> list[str]:
    """An IAM policy grants named S3 actions on object keys under a prefix, never a wildcard or a whole bucket."""
    problems = []
    statements = doc.get("Statement", [])
    for i, st in enumerate(statements if isinstance(statements, list) else [statements]):
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        where = f"Statement[{i}]"
        if any("*" in a for a in actions):
            problems.append(f"{where}.Action is {actions}: name each action, no wildcard")
        for resource in resources:
            bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
            if "*" in bucket or not resource.startswith("arn:aws:s3:::"):
                problems.append(f"{where}.Resource {resource!r}: name the bucket")
            elif key in {"", "*"} and actions != ["s3:ListBucket"]:
                problems.append(f"{where}.Resource {resource!r}: grant objects under the experiment's prefix only "
                                "(arn:aws:s3:::BUCKET/PREFIX/*)")
            elif not key and "s3:prefix" not in str(st.get("Condition", {})):
                problems.append(f"{where}: s3:ListBucket needs a Condition on s3:prefix (the experiment's prefix)")
    return problems


def check_kubernetes(doc: dict[str, Any]) -> list[str]:
    kind = doc.get("kind")
    if kind == "Ingress":
        return check_ingress(doc)
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
    problems = [f"{path}: document {i + 1} is a {type(doc).__name__}, but must be a mapping"
                for i, doc in enumerate(docs) if not isinstance(doc, dict)]
    docs = [doc for doc in docs if isinstance(doc, dict)]
    for doc in docs:
        if "Statement" in doc:
            found = check_iam_policy(doc)
        else:
            found = check_nothing_open(doc)
            found += check_kubernetes(doc) if "apiVersion" in doc else check_launcher(doc)
        problems += [f"{path}: {p}" for p in found]
    return problems + [f"{path}: {p}" for p in check_network_policy(docs)]


def shipped_files() -> list[Path]:
    """The cluster definitions and the IAM policy this project ships."""
    return sorted([*CLUSTER_DIR.rglob("*.yaml"), *CLUSTER_DIR.rglob("*.json")])


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cluster.audit", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path,
                   help="YAML or JSON files (default: every YAML and JSON file under cluster/)")
    args = p.parse_args(argv)
    files = args.files or shipped_files()
    problems = [line for path in files for line in audit(path)]
    for line in problems:
        print(line)
    print(f"{len(files)} files, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
