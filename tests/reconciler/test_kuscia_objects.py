"""Kuscia's own objects, field for field, against the real API server with the controller
running: they apply with kubectl's strict validation, read back as given, bind and make
their objects; and each of Kuscia's rules this controller follows, end to end."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import EXAMPLES
from tests.reconciler.conftest import Cluster, RunController, example, wait_for

KUSCIA = EXAMPLES / "kuscia"
IGNORED = "PartyTemplateFieldIgnored"


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _strict_apply(cluster: Cluster, *objects: dict[str, Any]) -> None:
    """`kubectl apply` as a user types it: client-side, strict field validation."""
    docs = "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects)
    cluster.kubectl("apply", "--validate=strict", "-f", "-", stdin=docs)


def _missing(given: Any, got: Any, path: str = "") -> list[str]:
    """Every field of `given` that `got` lacks or carries with another value."""
    if isinstance(given, dict):
        if not isinstance(got, dict):
            return [f"{path}: {got!r}"]
        return [
            problem
            for key, value in given.items()
            for problem in (
                _missing(value, got[key], f"{path}.{key}") if key in got else [f"{path}.{key}"]
            )
        ]
    if isinstance(given, list):
        if not isinstance(got, list) or len(got) != len(given):
            return [f"{path}: {got!r}"]
        return [p for i, v in enumerate(given) for p in _missing(v, got[i], f"{path}[{i}]")]
    return [] if given == got else [f"{path}: {given!r} != {got!r}"]


def _events(cluster: Cluster, namespace: str, task: str) -> list[dict[str, Any]]:
    items = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]
    return [e for e in items if e["involvedObject"]["name"] == task]


def _status(cluster: Cluster, namespace: str, task: str) -> dict[str, Any]:
    status: dict[str, Any] = (cluster.get("kusciatask", task, namespace) or {}).get("status") or {}
    return status


class _Moved:
    """Kuscia's examples moved into this test's namespaces, their AppImages renamed so the
    shared control plane's other tests keep their own."""

    def __init__(self, home: str, alice: str, bob: str) -> None:
        self.home = home
        self.domains = {"alice": alice, "bob": bob}
        self.suffix = home

    def image(self, image: dict[str, Any]) -> dict[str, Any]:
        image = copy.deepcopy(image)
        image["metadata"]["name"] = f"{image['metadata']['name']}-{self.suffix}"
        return image

    def task(self, task: dict[str, Any]) -> dict[str, Any]:
        task = copy.deepcopy(task)
        task.pop("status", None)  # the API server drops it on create (status subresource)
        task["metadata"]["namespace"] = self.home
        spec = task["spec"]
        spec["initiator"] = self.domains[spec["initiator"]]
        for party in spec["parties"]:
            party["domainID"] = self.domains[party["domainID"]]
            party["appImageRef"] = f"{party['appImageRef']}-{self.suffix}"
            for limit in party.get("bandwidthLimits", []):
                limit["destinationID"] = self.domains[limit["destinationID"]]
        return task


async def test_every_kuscia_example_applies_strictly_reads_back_binds_and_makes_its_objects(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    moved = _Moved(home, alice, bob)
    documents = [_load(path) for path in sorted(KUSCIA.glob("*.yaml"))]
    # Task 14 names the seed's app-template, which Kuscia's repository does not ship.
    images = [moved.image(d) for d in documents if d["kind"] == "AppImage"]
    images.append(moved.image(example("app-template.yaml")))
    no_id = moved.image(_load(KUSCIA / "04-appimage-psi.yaml"))
    no_id["metadata"]["name"] = f"psi-null-id-{home}"
    no_id["spec"]["image"]["id"] = None  # what Kuscia's clients write for an image without one
    tasks = [moved.task(d) for d in documents if d["kind"] == "KusciaTask"]
    assert len(images) == 5
    assert len(tasks) == 3

    _strict_apply(cluster, *images, no_id, *tasks)

    for given in images:
        got = cluster.get("appimage", given["metadata"]["name"])
        assert _missing(given["spec"], (got or {}).get("spec")) == [], given["metadata"]["name"]
    got_no_id = cluster.get("appimage", no_id["metadata"]["name"]) or {}
    assert "id" not in got_no_id["spec"]["image"]  # null is no id, not an error
    for given in tasks:
        name = given["metadata"]["name"]
        got = cluster.get("kusciatask", name, home) or {}
        assert _missing(given["spec"], got.get("spec")) == [], name
        for part in ("labels", "annotations"):
            given_part = given["metadata"].get(part, {})
            assert _missing(given_part, got["metadata"].get(part) or {}) == [], (name, part)

    for image in [*images, no_id]:
        name = image["metadata"]["name"]
        valid = await wait_for(
            lambda name=name: next(
                (
                    c
                    for c in ((cluster.get("appimage", name) or {}).get("status") or {}).get(
                        "conditions", []
                    )
                    if c["type"] == "Valid"
                ),
                None,
            ),
            within=60,
        )
        assert valid["status"] == "True", (name, valid)

    for task in tasks:
        name = task["metadata"]["name"]
        await wait_for(lambda name=name: cluster.objects_created(home, name), within=60)
        status = _status(cluster, home, name)
        assert status["phase"] == "Pending", (name, status)
        for namespace in (alice, bob):
            pods = cluster.list("pods", namespace, f"kuscia.secretflow/task-id={name}")
            assert len(pods) == 1, (name, namespace)

    # 15: Kuscia's gateway reads each party's bandwidth limits from its Services.
    bandwidth = "secretflow-task-20250520152520-single-psi"
    for namespace, peer in ((alice, bob), (bob, alice)):
        services = cluster.list("services", namespace, f"kuscia.secretflow/task-id={bandwidth}")
        assert len(services) == 4  # spu, fed, global, inference
        for service in services:
            annotations = service["metadata"]["annotations"]
            assert annotations[f"kuscia.secretflow/bandwidth-limit-{peer}"] == "100"

    # 14: the party template repeats fields Kuscia does not merge, with other values:
    # the task runs, and says so in Warning Events naming party, container and field.
    events = await wait_for(
        lambda: [e for e in _events(cluster, home, "task-template") if e["reason"] == IGNORED],
        within=30,
    )
    messages = "\n".join(e["message"] for e in events)
    for field in ("configVolumeMounts", "ports", "livenessProbe", "startupProbe"):
        assert f"spec.parties[0].template.spec.containers[0].{field} is ignored" in messages
    assert f"party {alice}/host" in messages
    assert "container 'app'" in messages
    [pod] = cluster.list("pods", alice, "kuscia.secretflow/task-id=task-template")
    [container] = pod["spec"]["containers"]
    assert container["ports"][0]["containerPort"] != 8080  # allocated, as the AppImage says
    assert container["livenessProbe"]["httpGet"]["port"] == "global"

    # Deleted while the controller runs, which removes their finalizers (kubectl must not
    # wait: it would block the event loop the controller runs in).
    for task in tasks:
        cluster.kubectl(
            "delete", "kusciatask", task["metadata"]["name"], "-n", home, "--wait=false"
        )
    for task in tasks:
        name = task["metadata"]["name"]
        await wait_for(lambda name=name: cluster.get("kusciatask", name, home) is None, within=60)


def test_kuscias_status_shape_is_accepted_strictly_and_reads_back(cluster: Cluster) -> None:
    """Task 14 as Kuscia's docs print it, status included, written through the status
    subresource (with no controller running, so nothing rewrites it)."""
    home = cluster.namespaces(1)[0]
    document = _load(KUSCIA / "14-task-template-reference-full.yaml")
    document["metadata"]["namespace"] = home
    status = document.pop("status")
    status["progress"] = 0.5
    _strict_apply(cluster, document)
    written = {
        "apiVersion": document["apiVersion"],
        "kind": document["kind"],
        "metadata": {"name": "task-template", "namespace": home},
        "status": status,
    }
    cluster.kubectl(
        "apply",
        "--server-side",
        "--subresource=status",
        "--validate=strict",
        "--field-manager=kuscia",
        "-f",
        "-",
        stdin=json.dumps(written),
    )
    got = _status(cluster, home, "task-template")
    assert _missing(status, got) == []
    assert got["podStatuses"]["alice/secretflow-task-psi-0"]["podPhase"] == "Succeeded"
    # With the controller never started, this task stays as written: remove it now.
    cluster.kubectl("delete", "kusciatask", "task-template", "-n", home, "--wait=false")


def _task(
    home: str, name: str, parties: list[dict[str, Any]], image: str, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "KusciaTask",
        "metadata": {"name": name, "namespace": home},
        "spec": {
            "initiator": parties[0]["domainID"],
            "taskInputConfig": "{}",
            "scheduleConfig": {"lifecycleSeconds": 3600},
            "parties": [{"appImageRef": image, **p} for p in parties],
            **spec,
        },
    }


def _image(name: str, container: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "AppImage",
        "metadata": {"name": name},
        "spec": {
            "image": {"name": "repo/app", "tag": "v1"},
            "deployTemplates": [
                {
                    "name": "app",
                    "spec": {
                        "containers": [
                            {
                                "name": "main",
                                "command": ["run"],
                                "workingDir": "/work",
                                "ports": [{"name": "fed", "protocol": "GRPC", "scope": "Cluster"}],
                                "securityContext": {"runAsNonRoot": True},
                                **(container or {}),
                            }
                        ]
                    },
                }
            ],
        },
    }


async def test_a_party_template_sets_the_restart_policy_and_gains_no_privilege(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice = cluster.namespaces(2)
    image = f"plain-{home}"
    template = {
        "restartPolicy": "OnFailure",  # beside spec, where Kuscia's own task reference puts it
        "spec": {
            "hostNetwork": True,
            "serviceAccountName": "cluster-admin-sa",
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [
                {
                    "name": "main",
                    "workingDir": "/tmp",
                    "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                    "env": [{"name": "EXTRA", "value": "1"}],
                }
            ],
        },
    }
    _strict_apply(cluster, _image(image))
    _strict_apply(cluster, _task(home, "widen", [{"domainID": alice, "template": template}], image))
    await wait_for(lambda: cluster.objects_created(home, "widen"), within=60)
    pod = cluster.get("pod", "widen-0", alice) or {}
    spec = pod["spec"]
    assert spec["restartPolicy"] == "OnFailure"
    assert spec.get("hostNetwork") is not True
    assert spec.get("serviceAccountName") != "cluster-admin-sa"
    assert all("hostPath" not in v for v in spec.get("volumes", []))
    [container] = spec["containers"]
    assert container["securityContext"] == {"runAsNonRoot": True}  # the AppImage's only
    assert container["workingDir"] == "/work"
    assert {"name": "EXTRA", "value": "1"} in container["env"]  # what Kuscia merges, merged
    events = await wait_for(
        lambda: [e for e in _events(cluster, home, "widen") if e["reason"] == IGNORED], within=30
    )
    assert {e["type"] for e in events} == {"Warning"}
    fields = sorted(e["message"].split(": ", 1)[1].split(" is ignored")[0] for e in events)
    assert fields == [
        "spec.parties[0].template.spec.containers[0].securityContext",
        "spec.parties[0].template.spec.containers[0].workingDir",
        "spec.parties[0].template.spec.hostNetwork",
        "spec.parties[0].template.spec.serviceAccountName",
        "spec.parties[0].template.spec.volumes",
    ]


def _set_status(cluster: Cluster, namespace: str, pod: str, status: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch",
        "pod",
        pod,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


async def test_status_reports_the_scheduler_and_a_crash_looping_pod_fails_the_task(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    image = f"plain-{home}"
    _strict_apply(cluster, _image(image))
    parties = [{"domainID": alice}, {"domainID": bob}]
    _strict_apply(cluster, _task(home, "crash", parties, image))
    await wait_for(lambda: cluster.objects_created(home, "crash"), within=60)

    unschedulable = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/1 nodes are available: 1 Insufficient cpu.",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    _set_status(cluster, bob, "crash-0", {"phase": "Pending", "conditions": [unschedulable]})
    entry = await wait_for(
        lambda: (
            _status(cluster, home, "crash")
            .get("podStatuses", {})
            .get(f"{bob}/crash-0", {})
            .get("reason")
            == "Unschedulable"
            and _status(cluster, home, "crash")["podStatuses"][f"{bob}/crash-0"]
        ),
        within=30,
    )
    assert entry["podPhase"] == "Pending"
    assert entry["message"] == "0/1 nodes are available: 1 Insufficient cpu."

    waiting = {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
    _set_status(
        cluster,
        alice,
        "crash-0",
        {
            "phase": "Running",
            "startTime": "2026-01-01T00:00:05Z",
            "conditions": [
                {
                    "type": "ContainersReady",
                    "status": "False",
                    "lastTransitionTime": "2026-01-01T00:00:06Z",
                }
            ],
            "containerStatuses": [
                {
                    "name": "main",
                    "image": "repo/app:v1",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 3,
                    "state": {"waiting": waiting},
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "message": "Traceback: boom",
                            "startedAt": "2026-01-01T00:00:05Z",
                            "finishedAt": "2026-01-01T00:00:06Z",
                        }
                    },
                }
            ],
        },
    )
    status = await wait_for(
        lambda: (s := _status(cluster, home, "crash")).get("phase") == "Failed" and s, within=30
    )
    assert status["reason"] == "PodFailed"
    assert "container main is waiting: CrashLoopBackOff" in status["message"]
    assert [p["phase"] for p in status["partyTaskStatus"]] == ["Failed", "Failed"]
    pods = status["podStatuses"]
    assert pods[f"{alice}/crash-0"]["terminationLog"] == (
        'container[main] last terminated state reason "Error", message: "Traceback: boom"'
    )
    assert pods[f"{bob}/crash-0"]["podPhase"] == "Failed"  # it was still Pending


async def test_a_task_whose_pod_names_pass_63_characters_runs(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice = cluster.namespaces(2)
    image = f"plain-{home}"
    name, role = "t" * 60, "r" * 40
    _strict_apply(cluster, _image(image))
    _strict_apply(cluster, _task(home, name, [{"domainID": alice, "role": role}], image))
    await wait_for(lambda: cluster.objects_created(home, name), within=60)
    pod = cluster.get("pod", f"{name}-{role}-0", alice)
    assert pod is not None
    [service] = cluster.list("services", alice, f"kuscia.secretflow/task-id={name}")
    assert len(service["metadata"]["name"]) == 63
    assert service["spec"]["selector"] == {
        "kuscia.secretflow/pod-identity": pod["metadata"]["labels"][
            "kuscia.secretflow/pod-identity"
        ]
    }


async def test_a_party_whose_kuscia_domain_is_a_partner_is_remote(
    cluster: Cluster, run_controller: RunController
) -> None:
    cluster.plane.install_kuscia_domain_crd()
    home, alice, bob = cluster.namespaces(3)
    partner = {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "Domain",
        "metadata": {"name": bob},
        "spec": {"role": "partner", "cert": "", "master": bob},
    }
    local = {**partner, "metadata": {"name": alice}, "spec": {"role": ""}}
    cluster.kubectl_apply(partner, local)
    await run_controller()
    image = f"plain-{home}"
    _strict_apply(cluster, _image(image))
    parties = [{"domainID": alice}, {"domainID": bob}]
    _strict_apply(cluster, _task(home, "remote", parties, image))
    await wait_for(lambda: cluster.objects_created(home, "remote"), within=60)
    assert len(cluster.list("pods", alice, "kuscia.secretflow/task-id=remote")) == 1
    assert cluster.list("pods", bob, "kuscia.secretflow/task-id=remote") == []
    status = _status(cluster, home, "remote")
    assert f"party {bob} runs in a partner domain" in [
        p.get("message") for p in status["partyTaskStatus"]
    ]
    for domain in (alice, bob):
        cluster.kubectl("delete", "domain", domain, "--wait=false")
