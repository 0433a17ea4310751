"""One Pod of a party (SPEC §3): a container per AppImage container, its ports, env and
config files.

Fields the AppImage keeps opaque (probes, envFrom, affinity, ...) are copied, never
shared, so a caller may change the returned dict freely. When env names repeat
(the party template appends env) the later value takes the earlier one's place,
as the kubelet would resolve it, because server-side apply refuses duplicate names.
A relative config `mountPath` (the seed's `./kuscia/task-config.conf`) is taken
relative to the container's workingDir, since container runtimes only mount at
absolute paths.
"""

from __future__ import annotations

import posixpath
from typing import Any

from builders import labels, naming
from builders.models import Container, EnvVar, KusciaTask, PullPolicy, RestartPolicy
from builders.party import PartyFacts, PodFacts

CONFIG_VOLUME = "config-template"
RESERVATION_GATE = labels.RESERVATION_GATE


def pod(
    task: KusciaTask,
    party: PartyFacts,
    pod: PodFacts,
    *,
    held: bool = False,
    pod_group: str | None = None,
) -> dict[str, Any]:
    """`held`: created behind the reservation's scheduling gate, so the scheduler
    leaves it alone until every local party's objects exist. `pod_group`: the
    party's gang (a PodGroup of that name), where the cluster serves them."""
    object_labels = labels.common_labels(task)
    object_labels[labels.POD_ROLE_LABEL] = party.role
    object_labels[labels.POD_IDENTITY_LABEL] = pod.identity
    spec = party.template.spec
    port_env = [
        {"name": naming.port_number_env(name), "value": str(number)}
        for name, number in pod.ports.items()
    ]
    containers = [_container(c, party, pod, port_env) for c in spec.containers]
    pod_spec: dict[str, Any] = {
        "restartPolicy": (spec.restart_policy or RestartPolicy.NEVER).value,
        "automountServiceAccountToken": False,
        "containers": containers,
    }
    if held:
        pod_spec["schedulingGates"] = [{"name": RESERVATION_GATE}]
    if pod_group is not None:
        pod_spec["schedulingGroup"] = {"podGroupName": pod_group}
    if spec.affinity is not None:
        pod_spec["affinity"] = _copy(spec.affinity)
    if pod.config_map is not None and any(c.get("volumeMounts") for c in containers):
        pod_spec["volumes"] = [{"name": CONFIG_VOLUME, "configMap": {"name": pod.config_map}}]
    annotations = labels.common_annotations(task, party.app_image.spec.image.id)
    for container in spec.containers:
        probe = container.metric_probe
        if probe is not None and probe.path and probe.port:
            # Kuscia's keys, for Prometheus' pod discovery (validation checks the port exists).
            annotations[labels.METRIC_SCRAPE_ANNOTATION] = "true"
            annotations[labels.METRIC_PATH_ANNOTATION] = probe.path
            annotations[labels.METRIC_PORT_ANNOTATION] = str(pod.ports[probe.port])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": party.domain_id,
            "labels": object_labels,
            "annotations": annotations,
        },
        "spec": pod_spec,
    }


def _container(
    container: Container, party: PartyFacts, pod: PodFacts, port_env: list[dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": container.name, "image": party.image}
    if container.command is not None:
        out["command"] = list(container.command)
    if container.args is not None:
        out["args"] = list(container.args)
    if container.working_dir:
        out["workingDir"] = container.working_dir
    if container.ports:
        out["ports"] = [
            {"name": port.name, "containerPort": pod.ports[port.name], "protocol": "TCP"}
            for port in container.ports
        ]
    out["env"] = _env(container.env, port_env)
    if container.env_from:
        out["envFrom"] = _copy(container.env_from)
    if container.resources is not None:
        resources = {
            key: dict(value)
            for key, value in (
                ("limits", container.resources.limits),
                ("requests", container.resources.requests),
            )
            if value
        }
        if container.resources.claims:
            resources["claims"] = _copy(container.resources.claims)
        if resources:
            out["resources"] = resources
    for key, probe in (
        ("readinessProbe", container.readiness_probe),
        ("livenessProbe", container.liveness_probe),
        ("startupProbe", container.startup_probe),
    ):
        if probe is not None:
            out[key] = _copy(probe)
    out["imagePullPolicy"] = (container.image_pull_policy or PullPolicy.IF_NOT_PRESENT).value
    if container.security_context is not None:
        out["securityContext"] = _copy(container.security_context)
    out["terminationMessagePolicy"] = "FallbackToLogsOnError"
    if pod.config_map is not None and container.config_volume_mounts:
        out["volumeMounts"] = [
            {
                "name": CONFIG_VOLUME,
                "mountPath": _absolute(mount.mount_path, container.working_dir),
                "subPath": mount.sub_path,
            }
            for mount in container.config_volume_mounts
        ]
    return out


def _env(env: list[EnvVar], port_env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for var in env:
        entry: dict[str, Any] = {"name": var.name}
        if var.value is not None:
            entry["value"] = var.value
        if var.model_extra:
            entry.update(_copy(var.model_extra))
        merged[var.name] = entry
    for entry in port_env:
        merged[entry["name"]] = dict(entry)
    return list(merged.values())


def _absolute(path: str, working_dir: str | None) -> str:
    if path.startswith("/"):
        return path
    return posixpath.normpath(posixpath.join("/", working_dir or "", path))


def _copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), much faster than copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    return value
