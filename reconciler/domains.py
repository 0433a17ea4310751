"""Which namespaces are Kuscia domains: from the cached namespaces (and Kuscia's Domain
objects, where that CRD is served), the `Cluster` the builders plan a task against.

A namespace is a local domain only when a cluster administrator designated it: the
label `kuscia.secretflow/domain=true` and, where Kuscia's Domain CRD is installed, a
Domain of the same name whose role is not partner. A partner is a namespace labelled
`kuscia.secretflow/role=partner`, or named by a partner Domain. Reserved namespaces
(the cluster's own and the controller's) are never either. A domain created after a
task runs none of that task's parties: the admission policy checked the task's author
when the task was written, against the domains of that moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from builders import RESERVED_NAMESPACES, Cluster
from builders.labels import DOMAIN_LABEL, DOMAIN_VALUE, PARTNER_LABEL, PARTNER_VALUE

PARTNER_ROLE = "partner"  # Kuscia's DomainRole for a partner's domain


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj["metadata"].get("labels") or {}


def _role(domain: Mapping[str, Any]) -> str:
    spec = domain.get("spec")
    return str(spec.get("role") or "") if isinstance(spec, Mapping) else ""


def reserved(own_namespace: str | None) -> frozenset[str]:
    return RESERVED_NAMESPACES | ({own_namespace} if own_namespace else set())


def cluster(
    namespaces: Iterable[Mapping[str, Any]],
    domains: Iterable[Mapping[str, Any]] | None,
    *,
    own_namespace: str | None = None,
    task_created: str | None = None,
) -> Cluster:
    """`domains`: Kuscia's Domain objects, or None where that CRD is not served;
    `task_created`: the task's creationTimestamp (namespaces made later are marked)."""
    listed = list(namespaces)
    existing = frozenset(str(ns["metadata"]["name"]) for ns in listed)
    partners = {
        str(ns["metadata"]["name"])
        for ns in listed
        if _labels(ns).get(PARTNER_LABEL) == PARTNER_VALUE
    }
    designated = {
        str(ns["metadata"]["name"])
        for ns in listed
        if _labels(ns).get(DOMAIN_LABEL) == DOMAIN_VALUE
    }
    if domains is not None:
        roles = {str(d["metadata"]["name"]): _role(d) for d in domains}
        partners |= {name for name, role in roles.items() if role == PARTNER_ROLE}
        designated &= {name for name, role in roles.items() if role != PARTNER_ROLE}
    created = _instant(task_created)
    newer = {
        str(ns["metadata"]["name"])
        for ns in listed
        if created is not None
        and (made := _instant(ns["metadata"].get("creationTimestamp"))) is not None
        and made > created
    }
    return Cluster(
        namespaces=existing,
        partners=frozenset(partners),
        domains=frozenset(designated - partners),
        reserved=reserved(own_namespace),
        newer_than_task=frozenset(newer & designated),
    )


def _instant(timestamp: str | None) -> datetime | None:
    """metav1.Time (whole seconds): a namespace made in the task's second counts as older."""
    if not timestamp:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
