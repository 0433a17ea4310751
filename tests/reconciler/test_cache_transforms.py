"""The caches keep what the controller reads of each kind: whatever the builders make
still compares as unchanged after the transform (no write for a settled task), an
edit to any field they set is still seen, and what the status rules read is kept."""

from __future__ import annotations

import copy
from typing import Any

from builders import plan
from reconciler import cache_transforms as ct
from reconciler.drift import apply_needed, data_digest
from tests.builders import examples
from tests.builders.examples import ALICE_AND_BOB, make_app_image, make_task, party

FULL_CONTAINER = {
    "name": "main",
    "command": ["sh"],
    "args": ["-c", "run"],
    "workingDir": "/work",
    "ports": [{"name": "p", "port": 8080, "protocol": "HTTP", "scope": "Cluster"}],
    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"a": "b"}}}],
    "envFrom": [{"configMapRef": {"name": "x"}}],
    "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}},
    "readinessProbe": {"tcpSocket": {"port": 8080}},
    "livenessProbe": {"tcpSocket": {"port": 8080}},
    "startupProbe": {"tcpSocket": {"port": 8080}},
    "imagePullPolicy": "Always",
    "securityContext": {"runAsNonRoot": True},
    "configVolumeMounts": [{"mountPath": "conf/a.conf", "subPath": "a.conf"}],
}
AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}


def _every_builder_field() -> list[dict[str, Any]]:
    """The examples' objects, and a pod with every field builders.pod can set."""
    objects: list[dict[str, Any]] = []
    for image_name, task_name in examples.EXAMPLE_PAIRS:
        image = examples.app_image(image_name)
        made = plan(examples.task(task_name), {image_name: image}, ALICE_AND_BOB, held=True)
        objects += made.objects
    image = make_app_image(
        config_templates={"a.conf": "value {{.TASK_ID}}"},
        deploy_templates=[
            {
                "name": "d",
                "spec": {
                    "containers": [FULL_CONTAINER],
                    "affinity": AFFINITY,
                    "restartPolicy": "OnFailure",
                },
            }
        ],
    )
    made = plan(make_task([party("alice")]), {"img": image}, ALICE_AND_BOB, held=True, gangs=True)
    objects += made.objects
    return objects


def _as_stored(desired: dict[str, Any]) -> dict[str, Any]:
    """Roughly what the API server stores: the desired object plus defaults and status."""
    live = copy.deepcopy(desired)
    meta = live["metadata"]
    meta.update(uid="u-1", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z")
    meta["managedFields"] = [{"manager": "kuscia-reconciler", "fieldsV1": {"f:spec": {}}}]
    meta.setdefault("annotations", {})[ct.LAST_APPLIED] = '{"kind": "' + desired["kind"] + '"}'
    if desired["kind"] == "Pod":
        spec = live["spec"]
        spec.update(dnsPolicy="ClusterFirst", schedulerName="default-scheduler", priority=0)
        spec["tolerations"] = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]
        for container in spec["containers"]:
            container["terminationMessagePath"] = "/dev/termination-log"
        live["status"] = {"phase": "Pending", "qosClass": "BestEffort", "hostIP": "198.19.0.1"}
    if desired["kind"] == "Service":
        live["spec"].update(clusterIPs=["None"], ipFamilies=["IPv4"], sessionAffinity="None")
        live["status"] = {"loadBalancer": {}}
    return live


def _cached(desired: dict[str, Any]) -> dict[str, Any]:
    return ct.for_kind(desired["kind"])(_as_stored(desired))


def test_every_object_the_builders_make_needs_no_write_once_cached() -> None:
    objects = _every_builder_field()
    assert {o["kind"] for o in objects} >= {"Pod", "Service", "ConfigMap", "NetworkPolicy"}
    for desired in objects:
        assert not apply_needed(_cached(desired), desired), desired["metadata"]["name"]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _edited(obj: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    edited = copy.deepcopy(obj)
    target = edited
    for step in path[:-1]:
        target = target[step]
    old = target[path[-1]]
    target[path[-1]] = (not old) if isinstance(old, bool) else f"{old}-edited"
    return edited


def test_an_edit_to_any_field_the_builders_set_is_still_seen() -> None:
    for desired in _every_builder_field():
        stored = _as_stored(desired)
        for path in _leaves({k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}):
            cached = ct.for_kind(desired["kind"])(_edited(stored, path))
            assert apply_needed(cached, desired), (desired["kind"], path)


def test_a_config_map_keeps_digests_of_its_data_not_the_data() -> None:
    desired = next(o for o in _every_builder_field() if o["kind"] == "ConfigMap")
    cached = _cached(desired)
    for key, value in desired["data"].items():
        assert cached["data"][key] == data_digest(value) != value
    assert not apply_needed(cached, desired)
    changed = {**desired, "data": {k: v + " " for k, v in desired["data"].items()}}
    assert apply_needed(cached, changed)


def test_what_the_status_rules_read_of_a_pod_is_kept() -> None:
    running = {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "alice", "deletionTimestamp": "t"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
        "status": {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "m",
            "startTime": "t0",
            "podIP": "198.18.0.5",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": "t1",
                    "lastProbeTime": None,
                }
            ],
            "containerStatuses": [
                {
                    "name": "c",
                    "state": {"terminated": {"exitCode": 1, "message": "boom"}},
                    "lastState": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "image": "i",
                    "imageID": "sha256:x",
                    "restartCount": 3,
                }
            ],
            "initContainerStatuses": [{"name": "init", "state": {"waiting": {"reason": "X"}}}],
        },
    }
    cached = ct.pod(copy.deepcopy(running))
    assert cached["metadata"] == running["metadata"]
    assert cached["spec"]["nodeName"] == "n1"
    status = cached["status"]
    assert {k: status[k] for k in ("phase", "reason", "message", "startTime")} == {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "m",
        "startTime": "t0",
    }
    assert status["conditions"] == [{"type": "Ready", "status": "True", "lastTransitionTime": "t1"}]
    assert status["containerStatuses"] == [
        {
            "name": "c",
            "state": {"terminated": {"exitCode": 1, "message": "boom"}},
            "lastState": {"waiting": {"reason": "CrashLoopBackOff"}},
        }
    ]
    assert status["initContainerStatuses"] == running["status"]["initContainerStatuses"]
    assert "podIP" not in status


def test_every_kind_drops_managed_fields_and_kubectls_last_applied_copy() -> None:
    task = examples.raw("secretflow-task-psi")
    task["metadata"]["annotations"] = {ct.LAST_APPLIED: "{}", "keep": "me"}
    task["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    cached = ct.for_kind("KusciaTask")(copy.deepcopy(task))
    assert cached["metadata"]["annotations"] == {"keep": "me"}
    assert "managedFields" not in cached["metadata"]
    assert cached["spec"] == task["spec"]
    assert task["metadata"]["annotations"][ct.LAST_APPLIED] == "{}"  # the input is not changed
