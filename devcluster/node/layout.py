"""Where the real node lives: its fixed names, addresses and directories.

One real node per machine: the kubelet's port, DNS on the node address, the
bridges and the cgroup root are machine-wide, so the names are fixed and a lock
guards them. Every address is in NODE_RANGE, the upper half of 198.19.0.0/16
(198.18.0.0/15 is reserved for network tests; the simulated nodes and their pods
take their addresses from the rest of it), and exists only on the bridges made here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "real-node"
NODE_LABEL = "kuscia-reconciler/real-node"  # "true" on the real node, for nodeAffinity
# The node is tainted with NODE_LABEL=true:NoSchedule, so that pods meant for the
# simulated nodes (whose images it does not have) stay off it. An AppImage cannot
# give its pods tolerations; a namespace with this annotation gives them to every pod
# made in it (the API server's PodTolerationRestriction admission plugin).
NODE_TAINT = f"{NODE_LABEL}=true:NoSchedule"
TOLERATING_NAMESPACE_ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/defaultTolerations": (
        f'[{{"key": "{NODE_LABEL}", "operator": "Exists", "effect": "NoSchedule"}}]'
    )
}
NODE_RANGE = "198.19.128.0/17"
NODE_IP = "198.19.128.2"
NODE_BRIDGE = "kr-node0"  # holds NODE_IP; has no ports
POD_BRIDGE = "kr-pods0"  # the CNI bridge
POD_SUBNET = "198.19.129.0/24"
POD_GATEWAY = "198.19.129.1"
CNI_NETWORK = "kuscia-reconciler"
CGROUP_ROOT = "kuscia-reconciler-node"
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
ISOLATION_CHAIN = "KR-NODE-ISOLATE"
STATE_DIR = Path("/var/lib/kuscia-reconciler-node")
RUN_DIR = Path("/run/kuscia-reconciler-node")
LOCK_FILE = Path("/run/kuscia-reconciler-node.lock")
CNI_BIN_DIR = Path("/usr/lib/cni")
# Directories the kubelet and containerd use whatever their configuration says;
# removed on teardown when the node created them.
HOST_PATHS = (Path("/var/lib/kubelet"), Path("/run/containerd"))


@dataclass(frozen=True)
class NodePaths:
    """`logs` belongs to whoever starts the node (the logs outlive the node)."""

    logs: Path
    state: Path = STATE_DIR
    run: Path = RUN_DIR
    lock: Path = LOCK_FILE

    @property
    def containerd_config(self) -> Path:
        return self.state / "containerd.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.state / "cni" / "ipam"

    @property
    def kubelet_config(self) -> Path:
        return self.state / "kubelet.json"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def corefile(self) -> Path:
        return self.state / "Corefile"

    @property
    def images(self) -> Path:
        return self.state / "images"

    @property
    def owner(self) -> Path:
        return self.run / "owner.json"

    def kubeconfig(self, user: str) -> Path:
        return self.state / f"{user}.kubeconfig"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"
