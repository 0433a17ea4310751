"""A real local control plane: etcd and kube-apiserver on free loopback ports.

The bare plane of the tests that write Pod status themselves (nothing else does:
no scheduler, no nodes), of `bench/`, and the base of the scheduled cluster
(devcluster.scheduled) that `make up` starts. It installs the CRDs and the admission
policy that ships with them. The admin authenticates with a static bearer token; the
API server signs its own serving certificate, which the kubeconfig trusts.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devcluster import versions
from devcluster.assets import find_assets
from devcluster.node.layout import NODE_NAME

REPO = Path(__file__).resolve().parents[1]
CRD_DIR = REPO / "charts" / "kuscia-reconciler" / "crds"
DOMAIN_CRD = REPO / "tests" / "fixtures" / "kuscia-crds" / "domains.kuscia.secretflow.yaml"
# The admission policy that ships with the CRDs (the chart templates it in).
ADMISSION_POLICY = REPO / "charts" / "kuscia-reconciler" / "admission" / "kusciatask-parties.yaml"
# In the range reserved for network tests, beside the real node's (devcluster.node);
# nothing routes it (there is no kube-proxy).
SERVICE_CIDR = "198.19.130.0/24"
START_TIMEOUT = float(os.environ.get("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT", "60"))


def _ephemeral_ports() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


# Below the kernel's ephemeral range, so no outgoing connection (every client of the API
# server opens some) takes a port between its choice and the component binding it; and
# below the NodePort range.
_PORTS = range(20000, 30000)
_handed_out: set[int] = set()


def run_kubectl(
    kubectl: Path | str,
    kubeconfig: Path | str,
    *args: str,
    stdin: str | None = None,
    check: bool = True,
    timeout: float | None = 120,
) -> subprocess.CompletedProcess[str]:
    """`kubectl --kubeconfig=KUBECONFIG ARGS`, its output captured; with `check`, a
    RuntimeError naming the command and kubectl's own message when it fails."""
    result = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result


def free_port() -> int:
    """A loopback port nothing listens on, never one this process handed out before."""
    ephemeral = _ephemeral_ports()
    candidates = [p for p in _PORTS if p not in ephemeral and p not in _handed_out]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_PORTS.start}-{_PORTS.stop - 1}")


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _write_sa_keys(private: Path, public: Path) -> None:
    """The key pair the API server signs and verifies service-account tokens with."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@dataclass
class ControlPlane:
    """etcd + kube-apiserver sharing one work directory; start() is idempotent per instance."""

    workdir: Path
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    # The real node's kubelet authenticates with it (devcluster.node).
    node_token: str = field(default_factory=lambda: secrets.token_hex(16))
    extra_apiserver_args: list[str] = field(default_factory=list)
    # Off on the bare plane: nothing there creates the `default` ServiceAccount that
    # the admission plugin requires of every Pod (kube-controller-manager does).
    service_account_admission: bool = False
    detach: bool = False
    assets: dict[str, Path] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # What the API server reports (e.g. "v1.31.14"), known once it has started.
    server_version: str = ""

    @property
    def server_minor(self) -> str:
        return versions.minor_of(self.server_version)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def kubectl(self) -> Path:
        return self.assets["kubectl"]

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.assets:
            self.assets = find_assets()
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        if not (certs / "sa.key").exists():
            _write_sa_keys(certs / "sa.key", certs / "sa.pub")
        (self.workdir / "tokens.csv").write_text(
            f'{self.token},admin,admin-uid,"system:masters"\n'
            f'{self.node_token},system:node:{NODE_NAME},node-uid,"system:nodes"\n'
        )
        self.start_etcd()
        self.start_apiserver()
        self._write_kubeconfig()
        self.check_versions()
        self.install_crds()

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=self.detach
        )
        log.close()
        (self.workdir / f"{name}.pid").write_text(str(self.procs[name].pid))

    def start_etcd(self) -> None:
        data = self.workdir / "etcd-data"
        self._spawn(
            "etcd",
            [
                str(self.assets["etcd"]),
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{self.etcd_peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait("etcd", lambda: self._http_ok(f"{self.etcd_url}/health"))

    def start_apiserver(self) -> None:
        certs = self.workdir / "certs"
        self._spawn(
            "kube-apiserver",
            [
                str(self.assets["kube-apiserver"]),
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                "--bind-address=127.0.0.1",
                f"--cert-dir={certs}",
                *(
                    []
                    if self.service_account_admission
                    else ["--disable-admission-plugins=ServiceAccount"]
                ),
                # PodTolerationRestriction: a namespace's annotation may give its pods
                # the toleration of the real node's taint (devcluster.node.layout).
                "--enable-admission-plugins=NodeRestriction,PodTolerationRestriction",
                # The node's name does not resolve: `kubectl logs` goes to its address.
                "--kubelet-preferred-address-types=InternalIP",
                f"--etcd-servers={self.etcd_url}",
                f"--secure-port={self.api_port}",
                f"--service-account-issuer={self.url}/",
                f"--service-account-key-file={certs / 'sa.pub'}",
                f"--service-account-signing-key-file={certs / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                *self.extra_apiserver_args,
            ],
        )
        self._wait("kube-apiserver", lambda: self._http_ok(f"{self.url}/readyz", tls=True))

    def check_versions(self) -> None:
        """The API server runs the minor KUBE_VERSION asks for, and kubectl is of its minor
        (binaries supplied from outside may be of any release)."""
        self.server_version = str(self._get_json("/version")["gitVersion"])
        pinned = versions.pinned()
        if pinned and self.server_minor != pinned:
            raise RuntimeError(
                f"{versions.ENV}={pinned}, but {self.assets['kube-apiserver']} is "
                f"{self.server_version}"
            )
        client = versions.kubectl_client_version(self.kubectl)
        if versions.minor_of(client) != self.server_minor:
            raise RuntimeError(
                f"kubectl {self.kubectl} is {client}, not of the API server's minor "
                f"({self.server_version}): tests drive the server with its own kubectl"
            )

    def _get_json(self, path: str) -> dict[str, object]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(self.url + path)
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            body: dict[str, object] = json.loads(response.read())
            return body

    def stop_apiserver(self) -> None:
        self._stop("kube-apiserver")

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()

    def stop(self) -> None:
        self._stop("kube-apiserver")
        self._stop("etcd")

    def _stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        proc = self.procs[name]
        log = self.log_path(name)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} while starting; its log is {log}:\n"
                    + _log_tail(log)
                )
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"{name} not ready after {START_TIMEOUT}s; its log is {log}:\n" + _log_tail(log)
        )

    def _http_ok(self, url: str, tls: bool = False) -> bool:
        context = None
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(url)
        if tls:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _write_kubeconfig(self) -> None:
        ca = (self.workdir / "certs" / "apiserver.crt").read_bytes()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(ca).decode(),
                    },
                }
            ],
            "users": [{"name": "envtest", "user": {"token": self.token}}],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": "envtest"}}],
            "current-context": "envtest",
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)

    def run_kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.kubectl, self.kubeconfig, *args, stdin=stdin, check=check)

    def install_crds(self) -> None:
        self.run_kubectl("apply", "--server-side", "-f", str(CRD_DIR))
        self.run_kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRD_DIR))
        self.run_kubectl("apply", "--server-side", "-f", str(ADMISSION_POLICY))

    @contextlib.contextmanager
    def kuscia_domain_crd(self) -> Iterator[None]:
        """Kuscia's Domain CRD (a stand-in with the fields the controller reads), as on a
        cluster where Kuscia is installed; removed (waited for) afterwards, since where it is
        served a namespace is a domain only with a Domain of its own."""
        self.run_kubectl("apply", "--server-side", "-f", str(DOMAIN_CRD))
        self.run_kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "-f", str(DOMAIN_CRD)
        )
        try:
            yield
        finally:
            self.run_kubectl("delete", "-f", str(DOMAIN_CRD), "--wait=true", "--timeout=120s")

    def etcd_revision(self) -> int:
        body = self._etcd_post("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})
        header = body["header"]
        assert isinstance(header, dict)
        return int(header["revision"])

    def compact_etcd(self) -> int:
        """Compacts etcd to its current revision, so older resourceVersions give 410."""
        revision = self.etcd_revision()
        self._etcd_post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def _etcd_post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(
            self.etcd_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, object] = json.loads(response.read())
            return result
