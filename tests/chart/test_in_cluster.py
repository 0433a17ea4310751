"""The chart deployed for real: the controller's image built from the Dockerfile and
imported into the real node's containerd, `helm install` with the chart's defaults
and that image, and what a user then does (a task, /metrics, deleting the leader,
`helm upgrade`, `helm uninstall`). The cluster is the scheduled one (kube-scheduler,
kube-controller-manager with its token and EndpointSlice controllers, ServiceAccount
admission on) with the real node as its only node.

The tests run in order on one release (install ... uninstall). Where the machine
cannot build the image or run the node, they are skipped with the reason."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.assets import find_helm
from devcluster.cluster import REPO
from devcluster.images import controller as image
from devcluster.images.controller import Built, ImageUnavailable
from devcluster.node import host
from devcluster.node.host import NodeUnavailable
from devcluster.node.layout import NODE_NAME, TOLERATING_NAMESPACE_ANNOTATIONS
from devcluster.node.node import RealNode, access
from devcluster.release import INSTANCE_LABEL, Release
from devcluster.scheduled import NodePool, ScheduledCluster
from tests.conftest import register_plane
from tests.scheduled.node.conftest import result_line

PSI_DEMO = REPO / "examples" / "psi-demo"
DOMAIN_LABELS = {"kuscia.secretflow/domain": "true"}
# Another test run may hold the machine's one real node for a while.
LOCK_WAIT = 900.0
NEXT_TAG = image.default_tag() + "-next"
# The party pods wait for this file, so a task stays in flight as long as a test wants.
GATE = "/tmp/go"


def _wait(condition: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within}s")
        time.sleep(0.2)


@dataclass
class Deployed:
    plane: ScheduledCluster
    node: RealNode
    release: Release
    built: Built
    next_built: Built
    measured: dict[str, int]

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return self.plane.run_kubectl(*args, stdin=stdin, check=check).stdout

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl(
            "apply", "--server-side", "-f", "-", stdin="\n---\n".join(map(json.dumps, objects))
        )

    def task_status(self, namespace: str, name: str) -> dict[str, Any]:
        found = json.loads(self.kubectl("get", "kusciatask", name, "-n", namespace, "-o", "json"))
        return dict(found.get("status") or {})

    def phase(self, namespace: str, name: str) -> str:
        return str(self.task_status(namespace, name).get("phase", ""))

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        out = self.kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False)
        return json.loads(out) if out.strip() else {}

    def rss(self, pod: dict[str, Any]) -> int:
        """The controller container's resident memory in bytes, read on the node from
        /proc of the container's process (containerd's task pid)."""
        (status,) = pod["status"]["containerStatuses"]
        container_id = status["containerID"].removeprefix("containerd://")
        tasks = host.run(
            "ctr", f"--address={self.node.paths.containerd_socket}", "-n", "k8s.io", "tasks", "ls"
        ).stdout
        pid = next(line.split()[1] for line in tasks.splitlines() if line.startswith(container_id))
        text = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
        assert match, text
        return int(match.group(1)) * 1024


@dataclass
class DemoTask:
    namespace: str
    name: str
    parties: tuple[str, str]
    expected: list[str]


def _images(socket: Path) -> tuple[Built, Built]:
    """The image under the package's version and under NEXT_TAG, both imported."""
    builder = image.Builder()
    return builder.build(import_into=socket), builder.build(NEXT_TAG, import_into=socket)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    if os.environ.get("KUSCIA_REAL_NODE", "1") == "0":
        pytest.skip("no real node: KUSCIA_REAL_NODE=0")
    try:
        host.ensure_prerequisites()
    except NodeUnavailable as reason:
        pytest.skip(f"no real node on this machine: {reason}")
    try:
        image.ensure_tools()
    except ImageUnavailable as reason:
        pytest.skip(f"no controller image on this machine: {reason}")
    plane = ScheduledCluster(tmp_path_factory.mktemp("in-cluster"), nodes=NodePool(count=0))
    register_plane(plane, "deployed")
    node = RealNode(logs=tmp_path_factory.mktemp("in-cluster-node"), lock_wait=LOCK_WAIT)
    try:
        plane.start()
        try:
            node.start(access(plane))
        except NodeUnavailable as reason:
            pytest.skip(f"no real node on this machine: {reason}")
        built, next_built = _images(node.paths.containerd_socket)
        release = Release(plane.kubeconfig, find_helm(), plane.kubectl)
        yield Deployed(plane, node, release, built, next_built, {})
    finally:
        node.stop()
        plane.stop()


@pytest.fixture(scope="module")
def installed(deployed: Deployed) -> Deployed:
    # The real node is tainted; a namespace so annotated gives its pods the toleration.
    deployed.release.create_namespace(TOLERATING_NAMESPACE_ANNOTATIONS)
    deployed.release.install(deployed.built.reference)
    deployed.release.rollout()
    return deployed


def _demo_task(deployed: Deployed) -> DemoTask:
    """The PSI demo's AppImage and task with parties of their own, whose pods wait for
    GATE before they run the protocol."""
    suffix = uuid.uuid4().hex[:6]
    home, alice, bob = (f"{role}-{suffix}" for role in ("cross", "alice", "bob"))
    for namespace in (home, alice, bob):
        deployed.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": namespace,
                    "labels": DOMAIN_LABELS,
                    "annotations": TOLERATING_NAMESPACE_ANNOTATIONS,
                },
            }
        )
        deployed.plane.wait_for_service_account(namespace)
    appimage: dict[str, Any] = yaml.safe_load((PSI_DEMO / "appimage.yaml").read_text())
    appimage = copy.deepcopy(appimage)
    appimage["metadata"]["name"] = f"psi-demo-{suffix}"
    (container,) = appimage["spec"]["deployTemplates"][0]["spec"]["containers"]
    script = container["command"][-1]
    container["command"][-1] = f"while [ ! -e {GATE} ]; do sleep 0.2; done; {script}"
    task: dict[str, Any] = yaml.safe_load((PSI_DEMO / "task.yaml").read_text())
    task["metadata"] = {"name": "psi-demo", "namespace": home}
    task["spec"]["initiator"] = alice
    task["spec"]["parties"] = [
        {"domainID": alice, "appImageRef": appimage["metadata"]["name"]},
        {"domainID": bob, "appImageRef": appimage["metadata"]["name"]},
    ]
    # The example's two sets, under this task's party names.
    first, second = json.loads(task["spec"]["taskInputConfig"])["psi_inputs"].values()
    task["spec"]["taskInputConfig"] = json.dumps({"psi_inputs": {alice: first, bob: second}})
    deployed.apply(appimage)
    deployed.apply(task)
    return DemoTask(home, "psi-demo", (alice, bob), sorted(set(first) & set(second)))


def _party_pods_running(deployed: Deployed, task: DemoTask) -> bool:
    return all(
        deployed.pod(party, "psi-demo-0").get("status", {}).get("phase") == "Running"
        for party in task.parties
    )


def _open_gate(deployed: Deployed, task: DemoTask) -> None:
    for party in task.parties:
        deployed.kubectl("exec", "-n", party, "psi-demo-0", "--", "touch", GATE)


def _finished(deployed: Deployed, task: DemoTask, within: float = 300) -> dict[str, Any]:
    _wait(
        lambda: deployed.phase(task.namespace, task.name) in ("Succeeded", "Failed"),
        within,
        f"task {task.namespace}/{task.name} finished",
    )
    return deployed.task_status(task.namespace, task.name)


def _metrics(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _leader_gauge(text: str) -> float:
    """1 on the leader; 0, or no sample yet, on a replica that never led."""
    assert "# TYPE leader_election_master_status gauge" in text
    match = re.search(r"^leader_election_master_status\{[^}]*\} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _rss_by_role(deployed: Deployed, when: str) -> dict[str, int]:
    leader = deployed.release.leader_pod()
    return {
        f"{'leader' if p['metadata']['name'] == leader else 'standby'} {when}": deployed.rss(p)
        for p in deployed.release.pods()
    }


# --- the tests, in the order a user goes -------------------------------------------------


def test_image_is_built_from_the_dockerfile_and_imported_into_the_node(
    deployed: Deployed,
) -> None:
    with tarfile.open(deployed.built.archive) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        (entry,) = manifest
        assert entry["RepoTags"] == [deployed.built.reference]
        config = json.load(archive.extractfile(entry["Config"]))["config"]  # type: ignore[arg-type]
    assert config["Entrypoint"] == ["kuscia-reconciler", "run"]
    assert config["User"] == "65532:65532"
    assert any(e.startswith("PATH=/opt/kuscia-reconciler/bin:") for e in config["Env"])
    listed = host.run(
        "ctr",
        f"--address={deployed.node.paths.containerd_socket}",
        "-n",
        "k8s.io",
        "images",
        "ls",
        "-q",
    ).stdout.split()
    assert deployed.built.reference in listed
    assert deployed.next_built.reference in listed
    print(f"image {deployed.built.reference}: {deployed.built.size_bytes / 2**20:.1f} MiB")


def test_install_starts_both_replicas_ready_on_the_real_node_with_one_leader(
    installed: Deployed,
) -> None:
    release = installed.release
    pods = release.pods()
    assert len(pods) == 2
    names = [p["metadata"]["name"] for p in pods]
    for pod in pods:
        spec, status = pod["spec"], pod["status"]
        assert spec["nodeName"] == NODE_NAME
        assert spec["serviceAccountName"] == release.fullname
        # ServiceAccount admission mounted a projected token the kubelet requested.
        assert any(
            any("serviceAccountToken" in s for s in (v.get("projected") or {}).get("sources", []))
            for v in spec["volumes"]
        ), spec["volumes"]
        (container,) = status["containerStatuses"]
        assert container["ready"], container
        assert "running" in container["state"], container
        assert container["image"] == installed.built.reference
    # The kubelet applied the chart's securityContext: the user, a read-only root
    # filesystem with /tmp writable, no capabilities.
    inside = installed.kubectl(
        "exec", "-n", release.namespace, names[0], "--", "sh", "-c",
        "id -u; id -g; touch /probe 2>&1; touch /tmp/probe && echo tmp writable; "
        "grep CapEff /proc/self/status",
    )  # fmt: skip
    assert inside.splitlines()[:2] == ["65532", "65532"], inside
    assert "Read-only file system" in inside, inside
    assert "tmp writable" in inside, inside
    assert re.search(r"^CapEff:\s+0+$", inside, re.M), inside
    leader = release.wait_for_leader(names)
    gauges = {p["metadata"]["name"]: _leader_gauge(_metrics(f"{p['status']['podIP']}:8080"))
              for p in pods}  # fmt: skip
    assert gauges == {name: (1.0 if name == leader else 0.0) for name in names}
    # Liveness keeps passing: nothing restarts over two of its periods.
    time.sleep(2 * 20 + 5)
    for pod in release.pods():
        (container,) = pod["status"]["containerStatuses"]
        assert container["restartCount"] == 0, container
    installed.measured.update(_rss_by_role(installed, "idle"))


def test_metrics_are_reachable_through_the_metrics_service(installed: Deployed) -> None:
    release = installed.release
    service = f"{release.fullname}-metrics"
    # No kube-proxy here: the API server's service proxy picks an endpoint itself ...
    proxied = installed.kubectl(
        "get",
        "--raw",
        f"/api/v1/namespaces/{release.namespace}/services/http:{service}:metrics/proxy/metrics",
    )
    assert "leader_election_master_status" in proxied
    # ... and every address of the Service's EndpointSlices serves it.
    slices = json.loads(
        installed.kubectl(
            "get",
            "endpointslices",
            "-n",
            release.namespace,
            "-l",
            f"kubernetes.io/service-name={service}",
            "-o",
            "json",
        )
    )["items"]
    addresses = [a for s in slices for e in s["endpoints"] for a in e["addresses"]]
    assert sorted(addresses) == sorted(p["status"]["podIP"] for p in release.pods())
    ports = {p["name"]: p["port"] for s in slices for p in s["ports"]}
    for address in addresses:
        assert "kuscia_reconciler" in _metrics(f"{address}:{ports['metrics']}")


def test_the_demo_task_succeeds_under_the_installed_controller(installed: Deployed) -> None:
    task = _demo_task(installed)
    _wait(lambda: _party_pods_running(installed, task), 240, "party pods running")
    assert installed.phase(task.namespace, task.name) == "Running"
    installed.measured.update(_rss_by_role(installed, "with task"))
    for party in task.parties:
        assert installed.pod(party, "psi-demo-0")["spec"]["nodeName"] == NODE_NAME
    _open_gate(installed, task)
    status = _finished(installed, task)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    limit = 512 * 2**20  # the chart's memory limit
    print(
        "controller RSS (MiB): "
        + ", ".join(f"{k} {v / 2**20:.1f}" for k, v in installed.measured.items())
    )
    assert len(installed.measured) == 4
    assert all(0 < rss < limit for rss in installed.measured.values())


def test_deleting_the_leader_pod_hands_over_within_20s_and_the_task_converges(
    installed: Deployed,
) -> None:
    release = installed.release
    task = _demo_task(installed)
    _wait(lambda: _party_pods_running(installed, task), 240, "party pods running")
    names = [p["metadata"]["name"] for p in release.pods()]
    leader = release.wait_for_leader(names)
    (other,) = set(names) - {leader}
    # The leader's own account of its shutdown, kept in case the hand-over is late.
    shutdown_log = subprocess.Popen(
        [
            str(installed.plane.kubectl),
            f"--kubeconfig={installed.plane.kubeconfig}",
            *("logs", "-f", leader, "-n", release.namespace, "--since=1s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deleted = time.monotonic()
    installed.kubectl("delete", "pod", leader, "-n", release.namespace, "--wait=false")
    try:
        successor = release.wait_for_new_leader(leader, timeout=20)
    except TimeoutError as late:
        shutdown_log.terminate()
        told, _ = shutdown_log.communicate(timeout=30)
        standby = installed.kubectl("logs", other, "-n", release.namespace, "--tail=40")
        lease = installed.kubectl("get", "lease", "-n", release.namespace, "-o", "yaml")
        raise AssertionError(
            f"{late}\n--- the deleted leader's log ---\n{told}\n"
            f"--- the standby's log ---\n{standby}\n--- the lease ---\n{lease}"
        ) from late
    role = "the standby" if successor == other else "the replacement pod"
    print(f"{role} led {time.monotonic() - deleted:.1f}s after the delete")
    shutdown_log.terminate()
    shutdown_log.communicate(timeout=30)
    _open_gate(installed, task)
    status = _finished(installed, task)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    release.rollout()
    assert len(release.pods()) == 2


def test_upgrade_to_a_new_tag_rolls_the_deployment_without_losing_the_task_in_flight(
    installed: Deployed,
) -> None:
    release = installed.release
    task = _demo_task(installed)
    _wait(lambda: _party_pods_running(installed, task), 240, "party pods running")
    before = {p["metadata"]["name"] for p in release.pods()}
    # A new tag and a new value: finished pods are kept, so their logs can be read.
    release.upgrade(installed.next_built.reference, ["controller.keepFinished=true"])
    release.rollout()
    pods = release.pods()
    assert len(pods) == 2
    assert not before & {p["metadata"]["name"] for p in pods}
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"] == installed.next_built.reference
        assert "--keep-finished" in pod["spec"]["containers"][0]["args"]
    release.wait_for_leader([p["metadata"]["name"] for p in pods])
    _open_gate(installed, task)
    status = _finished(installed, task)
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    alice, bob = task.parties
    for party, peer in ((alice, bob), (bob, alice)):
        log = installed.kubectl("logs", "-n", party, "psi-demo-0")
        assert result_line(log, "PSI_RESULT") == {
            "party": party,
            "peer": peer,
            "intersection": task.expected,
        }


RELEASE_KINDS = (
    "deployments,replicasets,pods,services,endpointslices,serviceaccounts,roles,"
    "rolebindings,leases,configmaps,secrets,poddisruptionbudgets"
)


def test_uninstall_after_the_tasks_are_deleted_leaves_nothing_of_the_release(
    installed: Deployed,
) -> None:
    release = installed.release
    installed.kubectl("delete", "kusciatasks", "--all", "-A", "--wait", "--timeout=300s")
    release.uninstall()
    assert release.run_helm("list", "-A", "-q").split() == []
    instance = f"{INSTANCE_LABEL}={release.name}"

    def left(kinds: str, *scope: str) -> list[str]:
        found = json.loads(installed.kubectl("get", kinds, *scope, "-o", "json"))["items"]
        return sorted(f"{i['kind']}/{i['metadata']['name']}" for i in found)

    # helm returned after the foreground deletion: nothing is left to wait for.
    assert left(RELEASE_KINDS, "-A", "-l", instance) == []
    assert left("clusterroles,clusterrolebindings", "-l", instance) == []
    # In the release's namespace only what the cluster itself puts in every namespace.
    assert left(RELEASE_KINDS, "-n", release.namespace) == [
        "ConfigMap/kube-root-ca.crt",
        "ServiceAccount/default",
    ]
