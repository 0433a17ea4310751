"""The real node of `make up` / `make down`: started detached beside the control
plane when the machine can run it (else one line says why and the cluster comes
up without it), stopped by the `make down` of the same directory.
KUSCIA_REAL_NODE=0 leaves it out."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from devcluster.cluster import SERVICE_CIDR
from devcluster.node.host import NodeUnavailable
from devcluster.node.layout import NODE_LABEL, NODE_NAME, NodePaths
from devcluster.node.node import ClusterAccess, RealNode, read_owner


def _logs(workdir: Path) -> Path:
    return workdir / "node"


def is_up(workdir: Path) -> bool:
    owner = read_owner(NodePaths(logs=_logs(workdir))) or {}
    pid = owner.get("pids", {}).get("kubelet")
    if owner.get("logs") != str(_logs(workdir)) or pid is None:
        return False
    try:
        os.kill(int(pid), 0)
    except OSError:
        return False
    return True


def recorded_access(workdir: Path) -> ClusterAccess:
    """What a node needs of the control plane `make up` left in `workdir`."""
    plane = workdir / "controlplane"
    server = json.loads((workdir / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
    with (plane / "tokens.csv").open() as tokens:
        users = {row[1]: row[0] for row in csv.reader(tokens)}
    return ClusterAccess(
        server=server,
        ca_certificate=plane / "certs" / "apiserver.crt",
        admin_token=users["admin"],
        node_token=users[f"system:node:{NODE_NAME}"],
        service_cidr=SERVICE_CIDR,
    )


def up(workdir: Path, cluster: ClusterAccess) -> bool:
    """Whether a real node runs for `workdir` afterwards."""
    if os.environ.get("KUSCIA_REAL_NODE", "1") == "0":
        print("no real node: KUSCIA_REAL_NODE=0")
        return False
    if is_up(workdir):
        print(f"real node {NODE_NAME} already up")
        return True
    node = RealNode(logs=_logs(workdir), detach=True)
    try:
        node.start(cluster)
    except NodeUnavailable as reason:
        print(f"no real node: {reason}")
        return False
    except RuntimeError as error:
        print(f"no real node: it did not start ({str(error).splitlines()[0]}); logs in {node.logs}")
        return False
    print(
        f"real node {NODE_NAME} up in {node.timings['ready']:.1f}s "
        f"(label {NODE_LABEL}=true; logs in {node.logs})"
    )
    return True


def down(workdir: Path) -> None:
    owner = read_owner(NodePaths(logs=_logs(workdir))) or {}
    if owner.get("logs") != str(_logs(workdir)):
        return  # none, or another directory's
    problems = RealNode(logs=_logs(workdir)).stop()
    for problem in problems:
        print(f"real node: {problem}")
