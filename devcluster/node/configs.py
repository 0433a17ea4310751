"""The real node's configuration files, rendered from its layout (pure).

What this machine needs, and why:
- its capability bounding set lacks CAP_SYS_RESOURCE, so a negative
  oom_score_adj is refused and every sandbox would fail in runc: containerd
  clamps (`restrict_oom_score_adj`) and the kubelet asks for 0 (`oomScoreAdj`);
- the cgroup v1 hierarchy: the kubelet runs on it only with `failCgroupV1: false`,
  and containerd 1.6 cannot report its cgroup driver, so `cgroupDriver` is set;
- nothing leaves the machine: no masquerading, pod routes only to the node's range,
  DNS answers `cluster.local` and forwards nothing, and a registry pull goes to a
  proxy that does not exist instead of resolving any host.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from devcluster.images.node_images import PAUSE_IMAGE
from devcluster.node.layout import (
    CGROUP_ROOT,
    CNI_BIN_DIR,
    CNI_NETWORK,
    KUBELET_HEALTHZ_PORT,
    KUBELET_PORT,
    NODE_IP,
    NODE_RANGE,
    POD_BRIDGE,
    POD_GATEWAY,
    POD_SUBNET,
    NodePaths,
)

# containerd's registry client honours these: a pull of an image that is not on
# the node fails at once (ErrImagePull) without a DNS lookup.
DEAD_PROXY = "http://127.0.0.1:9"
CONTAINERD_ENV = {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "NO_PROXY": ""}


def _toml(value: str | Path) -> str:
    return json.dumps(str(value))


def containerd_config(paths: NodePaths) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f"root = {_toml(paths.state / 'containerd')}",
            f"state = {_toml(paths.run / 'containerd')}",
            "",
            "[grpc]",
            f"  address = {_toml(paths.containerd_socket)}",
            "[ttrpc]",
            f"  address = {_toml(str(paths.containerd_socket) + '.ttrpc')}",
            "[debug]",
            f"  address = {_toml(paths.run / 'containerd-debug.sock')}",
            '  level = "info"',
            "",
            f"[{cri}]",
            f"  sandbox_image = {_toml(PAUSE_IMAGE)}",
            "  disable_apparmor = true",
            "  restrict_oom_score_adj = true",
            "  enable_unprivileged_ports = false",
            f"[{cri}.cni]",
            f"  bin_dir = {_toml(CNI_BIN_DIR)}",
            f"  conf_dir = {_toml(paths.cni_conf_dir)}",
            "  max_conf_num = 1",
            f"[{cri}.containerd]",
            '  default_runtime_name = "runc"',
            '  snapshotter = "overlayfs"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            "  SystemdCgroup = false",
            '  BinaryName = "/usr/sbin/runc"',
            f"  Root = {_toml(paths.run / 'runc')}",
            "",
        ]
    )


def cni_conflist(paths: NodePaths) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": POD_BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                    # Only the node's range is routed: a pod has no way off the machine.
                    "routes": [{"dst": NODE_RANGE}],
                    "dataDir": str(paths.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }


def kubelet_config(paths: NodePaths) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "oomScoreAdj": 0,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "address": NODE_IP,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": KUBELET_HEALTHZ_PORT,
        # Only the API server reaches this address (the node bridge has no ports).
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "registerNode": True,
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "failSwapOn": False,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "10s",
        "resolvConf": "",
        "clusterDNS": [NODE_IP],
        "clusterDomain": "cluster.local",
        "podLogsDir": str(paths.state / "pod-logs"),
        "volumePluginDir": str(paths.state / "volume-plugins"),
        "kubeAPIQPS": 50,
        "kubeAPIBurst": 100,
        "shutdownGracePeriod": "0s",
    }


def corefile(paths: NodePaths, context: str) -> str:
    """`cluster.local` only, answered from the API server; any other name is refused
    (no server block matches it): there is no `forward`."""
    return "\n".join(
        [
            "cluster.local:53 {",
            f"    bind {NODE_IP}",
            "    errors",
            "    kubernetes cluster.local {",
            f"        kubeconfig {paths.kubeconfig('admin')} {context}",
            "        pods insecure",
            "    }",
            "    cache 5",
            "}",
            "",
        ]
    )


def kubeconfig(server: str, ca_certificate: bytes, token: str, context: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_certificate).decode(),
                },
            }
        ],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }
