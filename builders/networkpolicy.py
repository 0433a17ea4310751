"""Who may connect to a party's pods (SPEC §5): the ingress rules and the NetworkPolicy.

Domain ports are open to any pod of the party's namespace. Cluster ports are open
to this task's pods in the namespaces of the parties allowed in, and always to
this task's pods in the party's own namespace (a party must reach its own
replicas; "open to no other party" leaves the party itself in). Local ports are
open to nobody. Rules are matched on the allocated port numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from builders import labels
from builders.models import ContainerPort, DeployTemplate, KusciaTask, Scope
from builders.party import PartyFacts

_SAME_NAMESPACE: tuple[str, ...] = ("",)  # group key: "any pod of the party's namespace"


def ingress_domains(
    parties: Sequence[tuple[str, str]], template: DeployTemplate, ports: Sequence[ContainerPort]
) -> dict[str, tuple[str, ...]]:
    """Cluster port name -> the domains allowed in, in task order. Without a networkPolicy
    every party of the task; with one, the parties whose role an ingress listing the port
    names; a Cluster port listed by no ingress admits no other party."""
    cluster_ports = [port.name for port in ports if port.scope is Scope.CLUSTER]
    every_domain = _unique(domain for domain, _ in parties)
    if template.network_policy is None:
        return dict.fromkeys(cluster_ports, every_domain)
    roles: dict[str, set[str]] = {port: set() for port in cluster_ports}
    for ingress in template.network_policy.ingresses:
        for port in ingress.ports:
            if port.port in roles:
                roles[port.port].update(ingress.from_.roles)
    return {
        port: _unique(domain for domain, role in parties if role in roles[port])
        for port in cluster_ports
    }


def network_policy(
    task: KusciaTask, party: PartyFacts, name: str, all_domains: Sequence[str]
) -> dict[str, Any]:
    """`all_domains`: every party's domain in task order (orders the peers of a rule)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for port in party.served_ports:
        if port.scope is Scope.DOMAIN:
            key = _SAME_NAMESPACE
        else:
            allowed = {party.domain_id, *party.access_domains.get(port.name, ())}
            key = tuple(domain for domain in all_domains if domain in allowed)
        numbers = groups.setdefault(key, [])
        for number in sorted({pod.ports[port.name] for pod in party.pods}):
            if number not in numbers:
                numbers.append(number)
    ingress = [
        {
            "from": _peers(task, domains),
            "ports": [{"protocol": "TCP", "port": number} for number in numbers],
        }
        for domains, numbers in groups.items()
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": party.domain_id,
            "labels": labels.common_labels(task),
            "annotations": labels.common_annotations(task, party.app_image.spec.image.id),
        },
        "spec": {
            "podSelector": {"matchLabels": party_selector(task, party.role)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def party_selector(task: KusciaTask, role: str) -> dict[str, str]:
    return {labels.TASK_UID_LABEL: task.metadata.uid, labels.POD_ROLE_LABEL: role}


def _peers(task: KusciaTask, domains: tuple[str, ...]) -> list[dict[str, Any]]:
    if domains == _SAME_NAMESPACE:
        return [{"podSelector": {}}]
    return [
        {
            "namespaceSelector": {"matchLabels": {labels.NAMESPACE_NAME_LABEL: domain}},
            "podSelector": {"matchLabels": {labels.TASK_UID_LABEL: task.metadata.uid}},
        }
        for domain in domains
    ]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
