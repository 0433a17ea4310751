"""A party's gang (SPEC §6, where the cluster serves Kubernetes' Workload API): one
PodGroup per local party whose replicas the scheduler binds all together or not at
all, `minCount` being the party's minReservedPods."""

from __future__ import annotations

from typing import Any

from builders import labels, naming
from builders.models import KusciaTask
from builders.party import PartyFacts

API_VERSION = "scheduling.k8s.io/v1beta1"


def pod_group_name(task: KusciaTask, party: PartyFacts) -> str:
    """Named as the party's NetworkPolicy is: `{task}-{role}`, or `{task}`."""
    return naming.network_policy_name(task.metadata.name, party.role)


def pod_group(task: KusciaTask, party: PartyFacts) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "PodGroup",
        "metadata": {
            "name": pod_group_name(task, party),
            "namespace": party.domain_id,
            "labels": labels.common_labels(task),
            "annotations": labels.common_annotations(task, party.app_image.spec.image.id),
        },
        "spec": {"schedulingPolicy": {"gang": {"minCount": party.min_reserved_pods}}},
    }
