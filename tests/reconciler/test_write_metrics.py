"""The write counter is labelled by resource and subresource only: a label that took
an object's name (a status write's path ends in `/<name>/status`) made a new series
per task, and the controller's memory grew with every task it ever saw."""

from __future__ import annotations

import pytest

from reconciler.kube import API_WRITES, APP_IMAGE, KUSCIA_TASK, NAMESPACE, POD, resource_of


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        (KUSCIA_TASK.path("ns", "task-1"), "kusciatasks"),
        (KUSCIA_TASK.path("ns", "task-1") + "/status", "kusciatasks/status"),
        (KUSCIA_TASK.path("ns"), "kusciatasks"),
        (APP_IMAGE.path(None, "img") + "/status", "appimages/status"),
        (POD.path("ns", "p") + "?fieldManager=x&force=true", "pods"),
        ("/api/v1/namespaces/ns/events", "events"),
        (NAMESPACE.path(None, "ns"), "namespaces"),
        (NAMESPACE.path(None, "ns") + "/finalize", "namespaces/finalize"),
        ("/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "leases"),
    ],
)
def test_the_label_names_the_resource_never_the_object(path: str, resource: str) -> None:
    assert resource_of(path) == resource


def test_status_writes_of_many_tasks_share_one_series() -> None:
    labels = {resource_of(KUSCIA_TASK.path("ns", f"t-{i}") + "/status") for i in range(1000)}
    labels |= {resource_of(f"/api/v1/namespaces/ns-{i}/events") for i in range(1000)}
    assert labels == {"kusciatasks/status", "events"}
    assert API_WRITES._labelnames == ("verb", "resource")
