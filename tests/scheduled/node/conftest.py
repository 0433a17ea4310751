"""Fixtures for the tests on the real node: the node joined to the scheduled cluster
for this package (skipped, with the reason, where the machine cannot run it), and
helpers to run a task on it and look inside its pods. Its pods are placed on it by
nodeAffinity (the simulated nodes do not have the images)."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from devcluster.cluster import REPO
from devcluster.images.node_images import DEMO_IMAGE_NAME, DEMO_IMAGE_TAG
from devcluster.node import host
from devcluster.node.host import NodeUnavailable
from devcluster.node.layout import NODE_LABEL, NODE_NAME, TOLERATING_NAMESPACE_ANNOTATIONS
from devcluster.node.node import RealNode, access
from devcluster.scheduled import ScheduledCluster
from tests.scheduled.conftest import DOMAIN_LABELS, ScheduledHelpers

PSI_DEMO = REPO / "examples" / "psi-demo"
ON_REAL_NODE = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": NODE_LABEL, "operator": "In", "values": ["true"]}]}
            ]
        }
    }
}
# Another engineer's test run may hold the machine's one real node for a while.
LOCK_WAIT = 900.0


@pytest.fixture(scope="package")
def real_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealNode]:
    """The scheduled cluster is asked for only once the machine can run the node."""
    if os.environ.get("KUSCIA_REAL_NODE", "1") == "0":
        pytest.skip("no real node: KUSCIA_REAL_NODE=0")
    try:
        host.ensure_prerequisites()
    except NodeUnavailable as reason:
        pytest.skip(f"no real node on this machine: {reason}")
    scheduled_cluster: ScheduledCluster = request.getfixturevalue("scheduled_cluster")
    node = RealNode(logs=tmp_path_factory.mktemp("real-node"), lock_wait=LOCK_WAIT)
    try:
        node.start(access(scheduled_cluster))
    except NodeUnavailable as reason:
        pytest.skip(f"no real node on this machine: {reason}")
    yield node
    problems = node.stop()
    remaining = host.leftovers(node.paths, node.host_record)
    assert not problems, f"stopping the node left {problems}"
    assert not remaining, f"the node left {remaining}"


def psi_demo(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PSI_DEMO / name).read_text())
    return loaded


def app_image(name: str, template: dict[str, Any], *more: dict[str, Any]) -> dict[str, Any]:
    """An AppImage of the demo image whose deploy templates run on the real node."""
    templates = []
    for deploy in (template, *more):
        deploy = copy.deepcopy(deploy)
        deploy.setdefault("spec", {})["affinity"] = ON_REAL_NODE
        templates.append(deploy)
    return {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "AppImage",
        "metadata": {"name": name},
        "spec": {
            "image": {"name": DEMO_IMAGE_NAME, "tag": DEMO_IMAGE_TAG},
            "deployTemplates": templates,
        },
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class NodeCluster:
    """Cluster helpers for pods that really run."""

    def __init__(self, base: ScheduledHelpers) -> None:
        self.cluster = base

    def domains(self, count: int) -> list[str]:
        """Namespaces labelled as Kuscia domains whose pods may run on the real node,
        ready for pods (their `default` ServiceAccount exists)."""
        names = [unique("d") for _ in range(count)]
        for name in names:
            metadata = {
                "name": name,
                "labels": DOMAIN_LABELS,
                "annotations": TOLERATING_NAMESPACE_ANNOTATIONS,
            }
            self.cluster.kubectl_apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
            )
            self.cluster.created.append(name)
        for name in names:
            self.cluster.plane.wait_for_service_account(name)
        return names

    def phase(self, namespace: str, task: str) -> str:
        found = self.cluster.get("kusciatask", task, namespace)
        return str(((found or {}).get("status") or {}).get("phase", ""))

    def status(self, namespace: str, task: str) -> dict[str, Any]:
        found = self.cluster.get("kusciatask", task, namespace) or {}
        return dict(found.get("status") or {})

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.cluster.get("pod", name, namespace) or {}

    def logs(self, namespace: str, pod: str) -> str:
        return self.cluster.kubectl("logs", "-n", namespace, pod)

    def exec(self, namespace: str, pod: str, script: str) -> str:
        result = self.cluster.plane.run_kubectl(
            "exec", "-n", namespace, pod, "--", "sh", "-c", script, check=False
        )
        return result.stdout + result.stderr

    def plain_pod(self, namespace: str, name: str, script: str) -> None:
        """A pod of no task on the real node (placed by name)."""
        self.cluster.kubectl_apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "nodeName": NODE_NAME,
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "main",
                            "image": f"{DEMO_IMAGE_NAME}:{DEMO_IMAGE_TAG}",
                            "imagePullPolicy": "Never",
                            "command": ["sh", "-c", script],
                        }
                    ],
                },
            }
        )

    def running(self, namespace: str, pod: str) -> bool:
        return self.pod(namespace, pod).get("status", {}).get("phase") == "Running"

    def ready(self, namespace: str, pod: str) -> bool:
        conditions = self.pod(namespace, pod).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture
def node_cluster(real_node: RealNode, scheduled: ScheduledHelpers) -> NodeCluster:
    return NodeCluster(scheduled)


def result_line(log: str, tag: str) -> dict[str, Any]:
    """The JSON after `tag` on the log's last line that starts with it."""
    lines = [line for line in log.splitlines() if line.startswith(tag + " ")]
    assert lines, f"no {tag} line in the log:\n{log}"
    parsed: dict[str, Any] = json.loads(lines[-1][len(tag) + 1 :])
    return parsed


def node_log_tails(node: RealNode) -> str:
    return "\n".join(f"--- {name}\n{node.log_tail(name, 15)}" for name in node.procs)
