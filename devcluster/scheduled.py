"""The scheduled cluster: the control plane plus kube-controller-manager, kube-scheduler
and KWOK, whose simulated nodes run the scheduler's pods through the stages in stages/.

What starts, and why each flag (the README's "The local cluster" says it for users):
kube-controller-manager runs every default controller (namespace deletion, garbage
collection, EndpointSlices, the `default` ServiceAccount and kube-root-ca.crt of each
namespace, node lifecycle) with the admin's credentials; kube-scheduler binds pods to
the nodes; KWOK manages only the nodes annotated `kwok.x-k8s.io/node=fake` and moves
their pods by the project's Stage objects alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from devcluster.assets import NAMES, SCHEDULING_NAMES, find_assets, find_kwok
from devcluster.cluster import START_TIMEOUT, ControlPlane, free_port

STAGES_DIR = Path(__file__).resolve().parent / "stages"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# Addresses are only written into status (nothing is routed), from the range reserved
# for testing: pods in one half, nodes in the other.
POD_CIDR = "198.18.0.0/16"
NODE_IP = "198.19.0.1"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
COMPONENTS = ("kube-controller-manager", "kube-scheduler", "kwok")
UNWANTED_CONTROLLERS = ("kube-apiserver-serving-clustertrustbundle-publisher-controller",)


def known_controllers(binary: Path) -> set[str]:
    """The controllers a kube-controller-manager binary knows, from its --help."""
    out = subprocess.run(
        [str(binary), "--help"], capture_output=True, text=True, check=False, timeout=60
    ).stdout
    match = re.search(r"All controllers: ([a-z0-9, -]+)", out)
    if not match:
        raise RuntimeError(f"{binary} --help lists no controllers")
    return {name.strip() for name in match.group(1).split(",") if name.strip()}


@dataclass(frozen=True)
class NodePool:
    """`count` simulated nodes named devcluster-node-<i>, each with this capacity."""

    count: int = 2
    cpu: str = "8"
    memory: str = "16Gi"
    pods: int = 110

    def names(self) -> list[str]:
        return [f"devcluster-node-{index}" for index in range(self.count)]

    def manifests(self) -> list[dict[str, Any]]:
        capacity = {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}
        return [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                "status": {
                    "capacity": dict(capacity),
                    "allocatable": dict(capacity),
                    "addresses": [
                        {
                            "type": "InternalIP",
                            "address": f"198.19.{index // 250}.{index % 250 + 1}",
                        },
                        {"type": "Hostname", "address": name},
                    ],
                },
            }
            for index, name in enumerate(self.names())
        ]


@dataclass
class ScheduledCluster(ControlPlane):
    """A control plane whose pods are scheduled onto KWOK nodes and live through stages."""

    nodes: NodePool = field(default_factory=NodePool)
    service_account_admission: bool = True
    controller_manager_port: int = field(default_factory=free_port)
    scheduler_port: int = field(default_factory=free_port)
    kwok_port: int = field(default_factory=free_port)
    kwok_stage_crd: Path | None = None

    def start(self) -> None:
        missing = tuple(n for n in NAMES + SCHEDULING_NAMES if n not in self.assets)
        if missing:
            self.assets.update(find_assets(missing))
        if self.kwok_stage_crd is None:
            self.assets["kwok"], self.kwok_stage_crd = find_kwok()
        super().start()
        certs = self.workdir / "certs"
        self._spawn(
            "kube-controller-manager",
            [
                str(self.assets["kube-controller-manager"]),
                *self._component_auth(),
                f"--secure-port={self.controller_manager_port}",
                self._controllers_flag(),
                # Token Secrets signed with the API server's own key, which it verifies
                # as it does the tokens it issues itself.
                f"--service-account-private-key-file={certs / 'sa.key'}",
                f"--root-ca-file={certs / 'apiserver.crt'}",
                "--use-service-account-credentials=false",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.assets["kube-scheduler"]),
                *self._component_auth(),
                f"--secure-port={self.scheduler_port}",
            ],
        )
        self.run_kubectl("apply", "--server-side", "-f", str(self.kwok_stage_crd))
        self.run_kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "-f", str(self.kwok_stage_crd)
        )
        self.run_kubectl("apply", "--server-side", "-f", str(STAGES_DIR))
        # KWOK reads ~/.kwok/kwok.yaml unless told otherwise; an empty file of our own
        # keeps a user's configuration out.
        (self.workdir / "kwok.yaml").write_text("")
        self._spawn(
            "kwok",
            [
                str(self.assets["kwok"]),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={self.workdir / 'kwok.yaml'}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--enable-crds=Stage",
                f"--cidr={POD_CIDR}",
                f"--node-ip={NODE_IP}",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{self.kwok_port}",
            ],
        )
        for name, url in (
            ("kube-controller-manager", f"https://127.0.0.1:{self.controller_manager_port}"),
            ("kube-scheduler", f"https://127.0.0.1:{self.scheduler_port}"),
            ("kwok", f"http://127.0.0.1:{self.kwok_port}"),
        ):
            self._wait(name, partial(self._http_ok, f"{url}/healthz", tls=url.startswith("https")))
        self.create_nodes()
        self._wait("kwok", self.nodes_ready)
        self._wait("kube-controller-manager", self._default_service_account)

    def _controllers_flag(self) -> str:
        """Every on-by-default controller but the serving-cert trust bundle's, where this
        release has it: the API server's self-signed certificate is no CA, so it could
        never publish (and naming a controller a release lacks stops it from starting)."""
        known = known_controllers(self.assets["kube-controller-manager"])
        unwanted = [name for name in UNWANTED_CONTROLLERS if name in known]
        return "--controllers=" + ",".join(["*", *(f"-{name}" for name in unwanted)])

    def _component_auth(self) -> list[str]:
        kubeconfig = str(self.kubeconfig)
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            # The API server has no front-proxy or client CA to publish in kube-system:
            # do not look for them (the bearer token is all this cluster uses).
            "--authentication-skip-lookup=true",
            "--bind-address=127.0.0.1",
            # One instance on a throwaway cluster: no Lease to wait for after a restart.
            "--leader-elect=false",
        ]

    def create_nodes(self) -> None:
        """Creates the pool's nodes with their capacity (a create keeps a Node's status)."""
        for node in self.nodes.manifests():
            name = node["metadata"]["name"]
            if self.run_kubectl("get", "node", name, "--ignore-not-found").stdout.strip():
                continue
            self.run_kubectl("create", "-f", "-", stdin=json.dumps(node))

    def nodes_ready(self) -> bool:
        """Every node of the pool Ready and free of the not-ready taint (the node lifecycle
        controller lifts it once it sees Ready), so the scheduler may use it."""
        items = json.loads(self.run_kubectl("get", "nodes", "-o", "json").stdout)["items"]
        ready = {
            node["metadata"]["name"]
            for node in items
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions", [])
            )
            and not any(
                t.get("key") == NOT_READY_TAINT for t in (node.get("spec") or {}).get("taints", [])
            )
        }
        return set(self.nodes.names()) <= ready

    def _default_service_account(self) -> bool:
        return bool(
            self.run_kubectl(
                "get", "serviceaccount", "default", "-n", "default", "--ignore-not-found"
            ).stdout.strip()
        )

    def wait_for_service_account(self, namespace: str, timeout: float = START_TIMEOUT) -> None:
        """Waits for the `default` ServiceAccount that admission requires of a namespace's
        Pods (kube-controller-manager creates it a moment after the namespace)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.run_kubectl(
                "get", "serviceaccount", "default", "-n", namespace, "--ignore-not-found"
            ).stdout
            if out.strip():
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"no ServiceAccount default in namespace {namespace} after {timeout}s; "
            f"see {self.log_path('kube-controller-manager')}"
        )

    def stop(self) -> None:
        for name in reversed(COMPONENTS):
            self._stop(name)
        super().stop()
