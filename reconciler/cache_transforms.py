"""What the caches keep of each kind: the fields the controller reads, before an object
enters its informer's store. Children keep what the builders can make (the drift check
compares those) and what the status rules read; a ConfigMap keeps a digest of each data
value; every kind drops kubectl's copy of the last applied object and shares its
repeated strings (informers.compact)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from informers.compact import interned_object
from reconciler.drift import digested_data

Transform = Callable[[dict[str, Any]], dict[str, Any]]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Every key builders.pod can set in a Pod's spec and in a container, and nodeName (the
# scheduler's, read by the status and reservation rules). The rest of a live Pod's spec
# is the API server's defaults, which nothing here compares or reads.
POD_SPEC_KEYS = frozenset(
    {
        "restartPolicy",
        "automountServiceAccountToken",
        "containers",
        "schedulingGates",
        "schedulingGroup",
        "affinity",
        "volumes",
        "nodeName",
    }
)
CONTAINER_KEYS = frozenset(
    {
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "ports",
        "env",
        "envFrom",
        "resources",
        "readinessProbe",
        "livenessProbe",
        "startupProbe",
        "imagePullPolicy",
        "securityContext",
        "terminationMessagePolicy",
        "volumeMounts",
    }
)
# What reconciler.task_status and reconciler.reservation read of a Pod's status.
POD_STATUS_KEYS = frozenset({"phase", "reason", "message", "startTime", "conditions"})
CONTAINER_STATUS_KEYS = frozenset({"name", "state", "lastState"})
CONDITION_KEYS = frozenset({"type", "status", "reason", "message", "lastTransitionTime"})
# Every key builders.service sets in a Service's spec; nothing reads its status.
SERVICE_SPEC_KEYS = frozenset(
    {"type", "clusterIP", "publishNotReadyAddresses", "selector", "ports"}
)


def _metadata(obj: dict[str, Any]) -> None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}


def _only(value: Any, keys: frozenset[str]) -> Any:
    return {k: v for k, v in value.items() if k in keys} if isinstance(value, dict) else value


def _each_only(items: Any, keys: frozenset[str]) -> Any:
    return [_only(item, keys) for item in items] if isinstance(items, list) else items


def _object(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of any kind without managedFields and kubectl's last-applied annotation
    (the kinds' transforms intern what they keep)."""
    obj = dict(obj)
    if isinstance(obj.get("metadata"), dict):
        obj["metadata"] = dict(obj["metadata"])
        _metadata(obj)
    return obj


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    obj = _object(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = _only(spec, POD_SPEC_KEYS)
        spec["containers"] = _each_only(spec.get("containers"), CONTAINER_KEYS)
        if spec["containers"] is None:
            del spec["containers"]
        obj["spec"] = spec
    status = obj.get("status")
    if isinstance(status, dict):
        status = _only(status, POD_STATUS_KEYS)
        if "conditions" in status:
            status["conditions"] = _each_only(status["conditions"], CONDITION_KEYS)
        for key in ("initContainerStatuses", "containerStatuses"):
            if key in obj["status"]:
                status[key] = _each_only(obj["status"][key], CONTAINER_STATUS_KEYS)
        obj["status"] = status
    return interned_object(obj)


def service(obj: dict[str, Any]) -> dict[str, Any]:
    obj = _object(obj)
    obj.pop("status", None)
    if isinstance(obj.get("spec"), dict):
        obj["spec"] = _only(obj["spec"], SERVICE_SPEC_KEYS)
    return interned_object(obj)


def config_map(obj: dict[str, Any]) -> dict[str, Any]:
    obj = _object(obj)
    data = obj.get("data")
    if isinstance(data, dict):
        obj["data"] = digested_data(data)
    obj.pop("binaryData", None)  # builders make none; the drift check compares data only
    return interned_object(obj)


def whole(obj: dict[str, Any]) -> dict[str, Any]:
    """Kinds read in full (tasks, AppImages, NetworkPolicies, ...): only the common trim."""
    return interned_object(_object(obj))


BY_KIND: dict[str, Transform] = {"Pod": pod, "Service": service, "ConfigMap": config_map}


def for_kind(kind: str) -> Transform:
    return BY_KIND.get(kind, whole)
