"""The labels and annotations Kuscia puts on what a task produces (SPEC §3), in one place.

Tools built for Kuscia select by these keys, so they are Kuscia's own; only
`app.kubernetes.io/managed-by` says that this controller wrote the object.
"""

from __future__ import annotations

from builders.models import KusciaTask

CONTROLLER_LABEL = "kuscia.secretflow/controller"
CONTROLLER_VALUE = "kusciatask"
TASK_UID_LABEL = "kuscia.secretflow/task-uid"
TASK_ID_LABEL = "kuscia.secretflow/task-id"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "kuscia-reconciler"
POD_ROLE_LABEL = "kuscia.secretflow/pod-role"
POD_IDENTITY_LABEL = "kuscia.secretflow/pod-identity"
PORT_NAME_LABEL = "kuscia.secretflow/port-name"
PORT_SCOPE_LABEL = "kuscia.secretflow/port-scope"

INITIATOR_ANNOTATION = "kuscia.secretflow/initiator"
TASK_ID_ANNOTATION = "kuscia.secretflow/task-id"
IMAGE_ID_ANNOTATION = "kuscia.secretflow/image-id"
PROTOCOL_ANNOTATION = "kuscia.secretflow/protocol"
ACCESS_DOMAIN_ANNOTATION = "kuscia.secretflow/access-domain"
# On a Pod whose container has a metricProbe (Kuscia's keys, read by Prometheus' pod discovery).
METRIC_SCRAPE_ANNOTATION = "kuscia.secretflow/should_be_scraped"
METRIC_PATH_ANNOTATION = "kuscia.secretflow/metric_path"
METRIC_PORT_ANNOTATION = "kuscia.secretflow/metric_port"
# On a party's Services, one per `bandwidthLimits` entry: Kuscia's gateway reads the KBps there.
BANDWIDTH_LIMIT_PREFIX = "kuscia.secretflow/bandwidth-limit-"

# A Pod scheduling gate: the task's Pods wait behind it until every local party's
# objects exist, then are released together (the reservation, SPEC §6).
RESERVATION_GATE = "kuscia.secretflow/resource-reservation"

# On namespaces: a partner's domain exists here but its parties run elsewhere.
PARTNER_LABEL = "kuscia.secretflow/role"
PARTNER_VALUE = "partner"
# Set by the API server on every namespace; NetworkPolicies select namespaces by it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def common_labels(task: KusciaTask) -> dict[str, str]:
    """Labels every object of the task carries; the reconciler finds its children by them."""
    return {
        CONTROLLER_LABEL: CONTROLLER_VALUE,
        TASK_UID_LABEL: task.metadata.uid,
        TASK_ID_LABEL: task.metadata.name,
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
    }


def common_annotations(task: KusciaTask, image_id: str | None) -> dict[str, str]:
    annotations = {
        INITIATOR_ANNOTATION: task.spec.initiator,
        TASK_ID_ANNOTATION: task.metadata.name,
    }
    if image_id:
        annotations[IMAGE_ID_ANNOTATION] = image_id
    return annotations
