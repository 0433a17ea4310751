"""Starts and stops the real node: containerd, CoreDNS, the kubelet and
kube-router's firewall, joined to a control plane.

One per machine: a lock (held by the node's own processes, so it outlives the
process that started a detached node) keeps a second one out. Before starting,
whatever an earlier run left is removed; stopping removes everything again.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devcluster.cluster import SERVICE_CIDR, ControlPlane
from devcluster.images.node_images import demo_image, pause_image
from devcluster.node import configs, host
from devcluster.node.host import NodeUnavailable, run
from devcluster.node.layout import (
    NODE_BRIDGE,
    NODE_IP,
    NODE_LABEL,
    NODE_NAME,
    NODE_TAINT,
    NodePaths,
)

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "build-node.sh"
CONTEXT = "devcluster"
START_TIMEOUT = float(os.environ.get("KUSCIA_NODE_START_TIMEOUT", "120"))
# stop order: the firewall and the kubelet before the runtime under them
PROCESSES = ("kube-router", "kubelet", "coredns", "api-forwarder", "containerd")


@dataclass(frozen=True)
class ClusterAccess:
    """What the node needs of the control plane. The node token must be in the API
    server's token file as user `system:node:{NODE_NAME}` in group `system:nodes`."""

    server: str
    ca_certificate: Path
    admin_token: str
    node_token: str
    service_cidr: str


def build_binaries() -> Path:
    """The directory with kubelet, coredns, kube-router, pause and psi-demo (built
    once per machine; minutes the first time)."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return Path(out.strip().splitlines()[-1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_owner(paths: NodePaths) -> dict[str, Any] | None:
    try:
        owner: dict[str, Any] = json.loads(paths.owner.read_text())
    except (OSError, ValueError):
        return None
    return owner


@dataclass
class RealNode:
    """`logs` receives the processes' logs and outlives the node. `detach`: the
    processes run in their own sessions and survive the caller (`make up`)."""

    logs: Path
    detach: bool = False
    lock_wait: float = 0.0
    paths: NodePaths = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cluster: ClusterAccess | None = None
    host_record: dict[str, Any] = field(default_factory=dict)
    _lock_fd: int | None = None

    def __post_init__(self) -> None:
        self.paths = NodePaths(logs=self.logs)

    # --- start -----------------------------------------------------------------------

    def start(self, cluster: ClusterAccess, binaries: Path | None = None) -> None:
        """Raises NodeUnavailable (one line: why) when the machine cannot run it."""
        host.ensure_prerequisites()
        binaries = binaries or build_binaries()
        self.cluster = cluster
        if self._lock_fd is None:
            self._lock()
        begin = time.monotonic()
        try:
            problems = host.cleanup(self.paths)
            if problems:
                raise NodeUnavailable("an earlier node run left " + "; ".join(problems))
            self._start(cluster, binaries, begin)
        except BaseException:
            self.stop()
            raise
        self.timings["ready"] = time.monotonic() - begin

    def _start(self, cluster: ClusterAccess, binaries: Path, begin: float) -> None:
        paths = self.paths
        for directory in (paths.state, paths.run, paths.logs, paths.images, paths.cni_conf_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.host_record = host.prepare(paths)
        self._write_configs(cluster)
        self._record_owner()
        self._spawn(
            "containerd",
            ["containerd", "--config", str(paths.containerd_config)],
            env={**os.environ, **configs.CONTAINERD_ENV},
        )
        self._wait("containerd", self._containerd_up)
        self._import_images(binaries)
        self.timings["containerd"] = time.monotonic() - begin
        self._forward_kubernetes_service(cluster)
        self._spawn("coredns", [str(binaries / "coredns"), "-conf", str(paths.corefile)])
        self._wait("coredns", _dns_answers)
        self._spawn(
            "kubelet",
            [
                str(binaries / "kubelet"),
                f"--config={paths.kubelet_config}",
                f"--kubeconfig={paths.kubeconfig('kubelet')}",
                f"--root-dir={paths.kubelet_root}",
                f"--cert-dir={paths.state / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--node-labels={NODE_LABEL}=true",
                f"--register-with-taints={NODE_TAINT}",
                "--v=1",
            ],
        )
        self._wait("kubelet", lambda: self._node_ready(cluster))
        self.timings["kubelet"] = time.monotonic() - begin
        self._spawn(
            "kube-router",
            [
                str(binaries / "kube-router"),
                f"--kubeconfig={paths.kubeconfig('admin')}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                f"--service-cluster-ip-range={cluster.service_cidr}",
                "--health-port=0",
                "--iptables-sync-period=1m",
                "--v=1",
            ],
        )
        self._wait("kube-router", _firewall_installed)
        self._record_owner()

    def _forward_kubernetes_service(self, cluster: ClusterAccess) -> None:
        """The `kubernetes` Service for the node's pods, as kube-proxy would give it
        (there is none): its ClusterIP, an address on the node bridge, port 443,
        forwarded to the API server on loopback. In-cluster clients (the chart's
        controller) then connect as in any cluster, and the API server's certificate
        names that IP."""
        service_ip = str(next(ipaddress.ip_network(cluster.service_cidr).hosts()))
        api = urllib.parse.urlsplit(cluster.server)
        run("ip", "addr", "add", f"{service_ip}/32", "dev", NODE_BRIDGE)
        self._spawn(
            "api-forwarder",
            [
                "socat",
                f"TCP-LISTEN:443,bind={service_ip},reuseaddr,fork",
                f"TCP:{api.hostname}:{api.port}",
            ],
        )
        self._wait("api-forwarder", lambda: _listening(service_ip, 443))

    def _write_configs(self, cluster: ClusterAccess) -> None:
        paths = self.paths
        ca = cluster.ca_certificate.read_bytes()
        for user, token in (("admin", cluster.admin_token), ("kubelet", cluster.node_token)):
            config = configs.kubeconfig(cluster.server, ca, token, CONTEXT)
            paths.kubeconfig(user).write_text(json.dumps(config, indent=2))
            paths.kubeconfig(user).chmod(0o600)
        paths.containerd_config.write_text(configs.containerd_config(paths))
        (paths.cni_conf_dir / "10-kuscia-reconciler.conflist").write_text(
            json.dumps(configs.cni_conflist(paths), indent=2)
        )
        paths.kubelet_config.write_text(json.dumps(configs.kubelet_config(paths), indent=2))
        paths.corefile.write_text(configs.corefile(paths, CONTEXT))

    def _import_images(self, binaries: Path) -> None:
        for name, archive in (
            ("pause", pause_image(binaries / "pause")),
            ("psi-demo", demo_image(binaries / "psi-demo")),
        ):
            target = self.paths.images / f"{name}.tar"
            target.write_bytes(archive)
            self._ctr("images", "import", str(target))

    def _ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            "ctr", f"--address={self.paths.containerd_socket}", "-n", "k8s.io", *args, check=check
        )

    def _containerd_up(self) -> bool:
        return self._ctr("version", check=False).returncode == 0

    def _node_ready(self, cluster: ClusterAccess) -> bool:
        node = api_get(cluster, f"/api/v1/nodes/{NODE_NAME}")
        if node is None:
            return False
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    # --- processes -------------------------------------------------------------------

    def _lock(self) -> None:
        """Takes the machine-wide lock. A lock held by the processes of a test session
        that died is taken over (its processes are stopped); a detached node stays
        until `make down` in its directory stops it."""
        lock = self.paths.lock
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                owner = read_owner(self.paths) or {}
                if owner and not owner.get("detached") and not _alive(int(owner.get("pid", 0))):
                    # Only its processes: the machine is cleaned by whoever takes the
                    # lock next (another waiter may be cleaning it already).
                    host.kill_lock_holders(owner.get("pids", {}).values(), lock)
                    time.sleep(0.1)
                    continue
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise NodeUnavailable(
                        "a real node already runs on this machine (started for "
                        f"{owner.get('logs', 'another directory')}, pid {owner.get('pid', '?')})"
                    ) from None
                time.sleep(1)
        os.set_inheritable(fd, True)
        self._lock_fd = fd

    def _record_owner(self) -> None:
        record = {
            "pid": os.getpid(),
            "detached": self.detach,
            "logs": str(self.logs),
            "pids": {name: proc.pid for name, proc in self.procs.items()},
            "cluster": None,
        }
        if self.cluster is not None:
            record["cluster"] = {
                **self.cluster.__dict__,
                "ca_certificate": str(self.cluster.ca_certificate),
            }
        self.paths.owner.touch(mode=0o600)
        self.paths.owner.write_text(json.dumps(record))

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.paths.log(name), "ab")  # noqa: SIM115 - owned by the child
        fds = (self._lock_fd,) if self._lock_fd is not None else ()
        self.procs[name] = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=self.detach,
            pass_fds=fds,
            env=env,
        )
        log.close()
        self._record_owner()

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        proc = self.procs[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {START_TIMEOUT}s:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            text = self.paths.log(name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- stop ------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stops the processes (this object's, or those a detached start recorded),
        removes the Node and everything on the machine; returns what remains."""
        owner = read_owner(self.paths) or {}
        pids = {name: proc.pid for name, proc in self.procs.items()} or owner.get("pids", {})
        if self.cluster is not None:
            api_delete(self.cluster, f"/api/v1/nodes/{NODE_NAME}")
        elif owner.get("cluster"):
            recorded = {
                **owner["cluster"],
                "ca_certificate": Path(owner["cluster"]["ca_certificate"]),
            }
            api_delete(ClusterAccess(**recorded), f"/api/v1/nodes/{NODE_NAME}")
        for name in PROCESSES:
            pid = pids.get(name)
            if pid is not None:
                _terminate(pid, self.procs.get(name))
        problems = host.cleanup(self.paths, pids.values())
        self.procs.clear()
        self.release_lock()
        return problems

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    if proc is not None:
        proc.wait()


def _api(cluster: ClusterAccess, method: str, path: str) -> dict[str, Any] | None:
    context = ssl.create_default_context(cafile=str(cluster.ca_certificate))
    context.check_hostname = False
    request = urllib.request.Request(cluster.server + path, method=method)
    request.add_header("Authorization", f"Bearer {cluster.admin_token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except (OSError, ValueError):
        return None


def api_get(cluster: ClusterAccess, path: str) -> dict[str, Any] | None:
    return _api(cluster, "GET", path)


def api_delete(cluster: ClusterAccess, path: str) -> None:
    _api(cluster, "DELETE", path)


NAME_LABELS = ("kubernetes", "default", "svc", "cluster", "local")


def _dns_answers() -> bool:
    """CoreDNS answers a query for the cluster's own name (any answer will do)."""
    query = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        + b"".join(
            bytes([len(p)]) + p.encode()
            for p in ["kubernetes", "default", "svc", "cluster", "local"]
        )
        + b"\x00\x00\x01\x00\x01"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.sendto(query, (NODE_IP, 53))
            reply = sock.recv(512)
        except OSError:
            return False
    return reply[:2] == b"\x12\x34"


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _firewall_installed() -> bool:
    return run("iptables", "-w", "-S", "KUBE-ROUTER-FORWARD", check=False).returncode == 0


def access(plane: ControlPlane) -> ClusterAccess:
    """What a node needs to join `plane`."""
    return ClusterAccess(
        server=plane.url,
        ca_certificate=plane.workdir / "certs" / "apiserver.crt",
        admin_token=plane.token,
        node_token=plane.node_token,
        service_cidr=SERVICE_CIDR,
    )
