"""Every shipped cluster definition parses, validates and stays closed; opening any of them fails a test."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from cluster.audit import (
    CLUSTER_DIR,
    admits_everyone,
    audit,
    check_iam_policy,
    check_kubernetes,
    check_launcher,
    check_network_policy,
    check_nothing_open,
    image_is_pinned,
    load_documents,
    shipped_files,
)
from tests.conftest import ROOT, run_cli

DEFINITIONS = shipped_files()
LAUNCHERS = [CLUSTER_DIR / "aws.yaml", CLUSTER_DIR / "gcp.yaml"]
KUBERAY = [CLUSTER_DIR / "kuberay" / "raycluster.yaml", CLUSTER_DIR / "kuberay" / "rayjob.yaml"]
IAM_POLICY = CLUSTER_DIR / "aws-iam-policy.json"


def one(path: Path) -> dict:
    return load_documents(path)[0]


def test_every_definition_is_shipped():
    assert set(LAUNCHERS + KUBERAY + [IAM_POLICY]) <= set(DEFINITIONS)


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: str(p.relative_to(CLUSTER_DIR)))
def test_definition_has_no_security_problem(path):
    assert audit(path) == []


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.stem)
def test_launcher_config_matches_rays_schema(path):
    import jsonschema
    import ray

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(one(path), schema)


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.stem)
def test_launcher_config_has_gpu_workers_that_scale_to_zero_and_installs_the_project(path):
    doc = one(path)
    workers = {n: t for n, t in doc["available_node_types"].items() if n != doc["head_node_type"]}
    assert len(workers) >= 3 and all(t["resources"]["GPU"] >= 1 for t in workers.values())
    assert all(0 == t["min_workers"] <= t["max_workers"] <= doc["max_workers"] for t in workers.values())
    setup = " ".join(doc["setup_commands"])
    assert "git clone" in setup and "YOUR-ORG" in setup and "pip install" in setup and "-e ." in setup
    assert "chmod 600 ~/.ray/auth_token" in setup


@pytest.mark.parametrize("path", KUBERAY, ids=lambda p: p.stem)
def test_kuberay_head_is_clusterip_with_token_auth(path):
    docs = load_documents(path)
    ray_docs = [d for d in docs if d["kind"] in ("RayCluster", "RayJob")]
    assert ray_docs and all(check_kubernetes(d) == [] for d in ray_docs)
    assert not any(d.get("kind") == "Service" and d["spec"].get("type") in ("LoadBalancer", "NodePort") for d in docs)


@pytest.mark.parametrize("path", KUBERAY, ids=lambda p: p.stem)
def test_kuberay_ships_a_network_policy_selecting_every_ray_pod(path):
    docs = load_documents(path)
    assert "NetworkPolicy" in [d["kind"] for d in docs] and check_network_policy(docs) == []
    without = [d for d in docs if d["kind"] != "NetworkPolicy"]
    assert len(check_network_policy(without)) >= 2  # the head and the worker group each unprotected


def test_rayjob_runs_the_sweep_on_shared_storage():
    entry = one(CLUSTER_DIR / "kuberay" / "rayjob.yaml")["spec"]["entrypoint"]
    assert "python -m search.run --space configs/beit.yaml" in entry and "--storage s3://" in entry
    assert (ROOT / "configs" / "beit.yaml").is_file()


# ------------------------------------------------- opening any of them is caught

def opened_launchers():
    aws, gcp = one(CLUSTER_DIR / "aws.yaml"), one(CLUSTER_DIR / "gcp.yaml")

    def edit(doc, fn):
        doc = copy.deepcopy(doc)
        fn(doc)
        return doc

    head_cmd = lambda d, old, new: d.__setitem__(  # noqa: E731
        "head_start_ray_commands", [c.replace(old, new) for c in d["head_start_ray_commands"]])
    return {
        "dashboard on 0.0.0.0": edit(aws, lambda d: head_cmd(d, "--dashboard-host=127.0.0.1", "--dashboard-host=0.0.0.0")),
        "dashboard host default": edit(aws, lambda d: head_cmd(d, "--dashboard-host=127.0.0.1", "")),
        "no auth on head": edit(aws, lambda d: head_cmd(d, "export RAY_AUTH_MODE=token;", "")),
        "no auth on workers": edit(gcp, lambda d: d.__setitem__("worker_start_ray_commands", ["ray stop", "ray start --address=$RAY_HEAD_IP:6379"])),
        "head with cpus": edit(aws, lambda d: d["available_node_types"]["head"].__setitem__("resources", {"CPU": 8})),
        "token not copied": edit(gcp, lambda d: d.__setitem__("file_mounts", {})),
        "ray-made security group": edit(aws, lambda d: d["available_node_types"]["gpu_l4"]["node_config"].pop("SecurityGroupIds")),
        "ssh from anywhere": edit(aws, lambda d: d["provider"].__setitem__("security_group", {
            "GroupName": "x", "IpPermissions": [{"FromPort": 22, "ToPort": 22, "IpProtocol": "tcp",
                                                 "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]})),
        "gcp default network": edit(gcp, lambda d: d["available_node_types"]["head"]["node_config"].__setitem__(
            "networkInterfaces", [{"subnetwork": "projects/p/global/networks/default"}])),
    }


@pytest.mark.parametrize("name", list(opened_launchers()))
def test_opening_a_launcher_config_is_caught(name):
    doc = opened_launchers()[name]
    assert check_nothing_open(doc) + check_launcher(doc), name


def opened_kuberay():
    cluster = one(CLUSTER_DIR / "kuberay" / "raycluster.yaml")
    job = one(CLUSTER_DIR / "kuberay" / "rayjob.yaml")
    out = {}
    for name, doc, fn in [
        ("load balancer", cluster, lambda d: d["spec"]["headGroupSpec"].__setitem__("serviceType", "LoadBalancer")),
        ("node port", job, lambda d: d["spec"]["rayClusterSpec"]["headGroupSpec"].__setitem__("serviceType", "NodePort")),
        ("head cpus", cluster, lambda d: d["spec"]["headGroupSpec"]["rayStartParams"].__setitem__("num-cpus", "4")),
        ("dashboard 0.0.0.0", cluster, lambda d: d["spec"]["headGroupSpec"]["rayStartParams"].__setitem__("dashboard-host", "0.0.0.0")),
        ("worker without auth", cluster, lambda d: d["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0].__setitem__("env", [])),
        ("inline token", job, lambda d: d["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0].__setitem__(
            "env", [{"name": "RAY_AUTH_MODE", "value": "token"}, {"name": "RAY_AUTH_TOKEN", "value": "abc"}])),
        ("submitter without auth", job, lambda d: d["spec"]["submitterPodTemplate"]["spec"]["containers"][0].pop("env")),
    ]:
        doc = copy.deepcopy(doc)
        fn(doc)
        out[name] = doc
    return out


@pytest.mark.parametrize("name", list(opened_kuberay()))
def test_opening_a_kuberay_manifest_is_caught(name):
    doc = opened_kuberay()[name]
    assert check_nothing_open(doc) + check_kubernetes(doc), name


def test_a_public_service_document_is_caught(tmp_path):
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dash"},
                                    "spec": {"type": "LoadBalancer", "ports": [{"port": 8265}]}}))
    assert any("LoadBalancer" in p and str(path) in p for p in audit(path))


# ------------------------------------------------- hostile manifests, parsed not matched

def _kuberay(path: str, fn) -> list[dict]:
    docs = copy.deepcopy(load_documents(CLUSTER_DIR / "kuberay" / path))
    fn(docs)
    return docs


def _head(docs: list[dict]) -> dict:
    spec = docs[0]["spec"]
    return spec.get("rayClusterSpec", spec)["headGroupSpec"]


def _problems(docs: list[dict]) -> list[str]:
    return [p for d in docs for p in check_nothing_open(d) + check_kubernetes(d)] + check_network_policy(docs)


DASHBOARD_INGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "dash"},
                     "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                         "service": {"name": "edgetune-head-svc", "port": {"number": 8265}}}}]}}]}}
EXTERNAL_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ray"},
                    "spec": {"type": "ClusterIP", "externalIPs": ["203.0.113.7"], "ports": [{"port": 10001}]}}

HOSTILE_KUBERAY = {
    "dashboard on ::": ("raycluster.yaml", lambda d: _head(d)["rayStartParams"].__setitem__("dashboard-host", "::")),
    "dashboard on [::]": ("rayjob.yaml", lambda d: _head(d)["rayStartParams"].__setitem__("dashboard-host", "[::]")),
    "ingress to the dashboard": ("raycluster.yaml", lambda d: d.append(copy.deepcopy(DASHBOARD_INGRESS))),
    "kuberay ingress": ("rayjob.yaml", lambda d: _head(d).__setitem__("enableIngress", True)),
    "load balancer head service": ("raycluster.yaml", lambda d: _head(d).__setitem__(
        "headService", {"spec": {"type": "LoadBalancer"}})),
    "host network": ("rayjob.yaml", lambda d: _head(d)["template"]["spec"].__setitem__("hostNetwork", True)),
    "host port": ("raycluster.yaml", lambda d: _head(d)["template"]["spec"]["containers"][0]["ports"].append(
        {"containerPort": 8265, "hostPort": 8265})),
    "external ips": ("rayjob.yaml", lambda d: d.append(copy.deepcopy(EXTERNAL_SERVICE))),
    "no network policy": ("rayjob.yaml", lambda d: d.pop()),
    "policy for other pods": ("rayjob.yaml", lambda d: d[-1]["spec"]["podSelector"].__setitem__(
        "matchLabels", {"app": "other"})),
    "policy admitting everyone": ("raycluster.yaml", lambda d: d[-1]["spec"]["ingress"].append(
        {"ports": [{"port": 8265}]})),
    "policy admitting every namespace": ("rayjob.yaml", lambda d: d[-1]["spec"]["ingress"][0]["from"].append(
        {"namespaceSelector": {}})),
    "policy from 0.0.0.0/0": ("raycluster.yaml", lambda d: d[-1]["spec"]["ingress"][0]["from"].append(
        {"ipBlock": {"cidr": "0.0.0.0/0"}})),
    "image latest": ("raycluster.yaml", lambda d: _head(d)["template"]["spec"]["containers"][0].__setitem__(
        "image", "ghcr.io/org/edgetune:latest")),
    "image without tag": ("rayjob.yaml", lambda d: d[0]["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
                          .__setitem__("image", "rayproject/ray")),
}


@pytest.mark.parametrize("name", list(HOSTILE_KUBERAY))
def test_hostile_kuberay_manifest_is_caught(name):
    path, fn = HOSTILE_KUBERAY[name]
    assert _problems(_kuberay(path, fn)), name


def _aws_head(commands: list[str]) -> dict:
    doc = copy.deepcopy(one(CLUSTER_DIR / "aws.yaml"))
    doc["head_start_ray_commands"] = commands
    return doc


@pytest.mark.parametrize("command", [
    "export RAY_AUTH_MODE=token; ray start --head --num-cpus=0 --dashboard-host=::",
    "export RAY_AUTH_MODE=token; ray start --head --num-cpus=0 --dashboard-host '[::]'",
    "export RAY_AUTH_MODE=token; ray start --head --num-cpus=0 --dashboard-host=127.0.0.1 --dashboard-host=10.1.2.3",
    "export RAY_AUTH_MODE=token; ray start --head --num-cpus=0 --dashboard-host 0.0.0.0",
], ids=["colons", "brackets", "last-flag-wins", "space-separated"])
def test_launcher_dashboard_host_is_parsed_not_matched(command):
    assert check_launcher(_aws_head(["ray stop", command])), command


def test_private_networks_are_not_taken_for_every_address():
    """The old substring check took 10.0.0.0/8 for 0.0.0.0 and missed `::`."""
    assert not admits_everyone("10.0.0.0/8") and not admits_everyone("--node-ip-address=10.0.0.0")
    assert admits_everyone("::") and admits_everyone("[::]:8265") and admits_everyone("::/0")
    assert admits_everyone("0.0.0.0:8265") and admits_everyone("ray start --dashboard-host=0.0.0.0")
    doc = one(CLUSTER_DIR / "kuberay" / "raycluster.yaml")
    doc["spec"]["headGroupSpec"]["rayStartParams"]["node-ip-address"] = "10.0.0.0"
    assert check_nothing_open(doc) == []


@pytest.mark.parametrize("image, pinned", [
    ("ghcr.io/org/edgetune:0.1.0-ray2.60.0", True), ("rayproject/ray@sha256:" + "a" * 64, True),
    ("localhost:5000/edgetune:1.2", True), ("localhost:5000/edgetune", False), ("rayproject/ray", False),
    ("rayproject/ray:latest", False),
])
def test_image_must_name_a_version(image, pinned):
    assert image_is_pinned(image) is pinned


def test_shipped_iam_policy_grants_only_the_experiment_prefixes():
    policy = json.loads(IAM_POLICY.read_text())
    assert check_iam_policy(policy) == []
    resources = [r for st in policy["Statement"] for r in ([st["Resource"]] if isinstance(st["Resource"], str)
                                                          else st["Resource"])]
    assert all(r == "arn:aws:s3:::YOUR-BUCKET" or r.startswith("arn:aws:s3:::YOUR-BUCKET/edgetune") for r in resources)
    assert "edgetune/*" in json.dumps(policy["Statement"][0]["Condition"])


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::YOUR-BUCKET/edgetune/*"},
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::YOUR-BUCKET/*"},
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::YOUR-BUCKET"},
], ids=["wildcard-action", "whole-bucket", "every-resource", "list-without-prefix"])
def test_broad_iam_policy_is_caught(statement):
    assert check_iam_policy({"Version": "2012-10-17", "Statement": [statement]})


def test_every_document_of_a_file_is_checked(tmp_path):
    """A second document (a public Service after the closed RayCluster and its policy) and a document that is not a mapping."""
    path = tmp_path / "two.yaml"
    cluster = (CLUSTER_DIR / "kuberay" / "raycluster.yaml").read_text()
    path.write_text(cluster + "\n---\n" + yaml.safe_dump(EXTERNAL_SERVICE) + "---\n- just\n- a list\n")
    problems = audit(path)
    assert any("externalIPs" in p for p in problems) and any("document 4 is a list" in p for p in problems), problems


def test_audit_cli_passes_the_shipped_files_and_fails_an_open_one(tmp_path):
    ok = run_cli("-m", "cluster.audit")
    assert ok.returncode == 0 and "0 problems" in ok.stderr
    bad = tmp_path / "aws.yaml"
    bad.write_text((CLUSTER_DIR / "aws.yaml").read_text().replace("--dashboard-host=127.0.0.1", "--dashboard-host=0.0.0.0"))
    failed = run_cli("-m", "cluster.audit", str(bad))
    assert failed.returncode == 1 and "0.0.0.0" in failed.stdout and str(bad) in failed.stdout
    helped = run_cli("-m", "cluster.audit", "--help")
    assert helped.returncode == 0 and "files" in helped.stdout
