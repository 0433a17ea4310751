"""The headless Service of one pod port of scope Cluster or Domain (SPEC §3), with the
party's bandwidth limits as Kuscia's gateway reads them."""

from __future__ import annotations

from typing import Any

from builders import labels
from builders.models import ContainerPort, KusciaTask, Scope
from builders.party import PartyFacts, PodFacts


def endpoint(service: str, domain_id: str, number: int) -> str:
    """How other pods reach the service: `{service}.{domain}.svc:{port}`."""
    return f"{service}.{domain_id}.svc:{number}"


def service(
    task: KusciaTask, party: PartyFacts, pod: PodFacts, port: ContainerPort
) -> dict[str, Any]:
    number = pod.ports[port.name]
    if port.scope is Scope.CLUSTER:
        access = party.access_domains.get(port.name, ())
    else:
        access = (party.domain_id,)
    object_labels = labels.common_labels(task)
    object_labels[labels.PORT_NAME_LABEL] = port.name
    object_labels[labels.PORT_SCOPE_LABEL] = port.scope.value
    annotations = labels.common_annotations(task, party.app_image.spec.image.id)
    annotations[labels.PROTOCOL_ANNOTATION] = port.protocol.value
    annotations[labels.ACCESS_DOMAIN_ANNOTATION] = ",".join(access)
    for limit in task.spec.parties[party.index].bandwidth_limits:
        annotations[labels.BANDWIDTH_LIMIT_PREFIX + limit.destination_id] = str(limit.limit_kbps)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": pod.services[port.name],
            "namespace": party.domain_id,
            "labels": object_labels,
            "annotations": annotations,
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {labels.POD_IDENTITY_LABEL: pod.identity},
            "ports": [
                {"name": port.name, "port": number, "targetPort": port.name, "protocol": "TCP"}
            ],
        },
    }
